#!/bin/sh
# make_directions.sh - the recipe behind the motion directions of the bundled model (models/README.md, "Motion
# directions"): extracts the motion of every training clip with the model, fits the directions and the motion space
# (reenact directions), calibrates them on 48 UTKFace photos, and writes the model with its directions. The weights
# are unchanged (weights_sha256 stays the model's data_sha256), so motion files made before still work.
# The clips: ../shared/data/train-clips/*.mp4 and ../shared/data/examples/driving/*.mp4 except the held-out ones
# (fomm_04, lp_d0, sadtalker_aoc, lp_d13: tools/prepare_training_data.py), which the evaluation uses.
# Usage: sh tools/make_directions.sh [WORK_DIR=/tmp/reenact-directions] [OUT=models/reenact-seed64.safetensors]
# Environment: REENACT (build/reenact), MODEL (models/reenact-seed64.safetensors), SHARED (../shared), CALIB (48).
# On the 2-core development machine the fit and calibration take about 35 s; the extraction of the 86 clips a few
# minutes (not timed separately).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-/tmp/reenact-directions}
OUT=${2:-$ROOT/models/reenact-seed64.safetensors}
R=${REENACT:-$ROOT/build/reenact}
MODEL=${MODEL:-$ROOT/models/reenact-seed64.safetensors}
SHARED=${SHARED:-$ROOT/../shared}
CALIB=${CALIB:-48}
[ -x "$R" ] || { echo "make_directions: $R not built (cmake --build build)" >&2; exit 1; }
[ -d "$SHARED/data/train-clips" ] || { echo "make_directions: $SHARED/data/train-clips missing" >&2; exit 1; }
mkdir -p "$W/motion"
for f in "$SHARED"/data/train-clips/*.mp4 "$SHARED"/data/examples/driving/*.mp4; do
  b=$(basename "$f" .mp4)
  case $b in fomm_04|lp_d0|sadtalker_aoc|lp_d13) continue;; esac
  [ -f "$W/motion/$b.motion" ] && continue
  # a clip in which the detector finds no face (hellomeme_tndtc) is left out
  "$R" motion extract --model "$MODEL" --driving "$f" -o "$W/motion/$b.motion" --f32 --no-audio -q ||
    echo "make_directions: $b left out"
done
# the model is read before OUT is replaced (atomically), so OUT may be MODEL itself
"$R" directions --model "$MODEL" --motion "$W"/motion/*.motion --faces "$SHARED/data/faces/utkface" --calib "$CALIB" \
  -o "$OUT"
"$R" info "$OUT" | sed -n '/^directions/,/smile bias/p'
