#!/bin/sh
# eval_models.sh MODEL OUT.json [EVAL OPTIONS...] - the evaluation behind models/README.md's table, on held-out data
# prepared as described there (held-out UTKFace photos in $HELDOUT_FACES, held-out clips in $HELDOUT_CLIPS). Options
# after OUT.json go to `reenact eval` (e.g. `--render model --attr-drive off --motion-space full` for the raw model).
set -eu
R=${REENACT:-build/reenact}
P=${PORTRAITS:-../shared/data/examples/portraits}
F=${HELDOUT_FACES:-/tmp/data/heldout_faces}
D=${HELDOUT_CLIPS:-/tmp/data/heldout_clips}
M=$1 J=$2
shift 2
exec "$R" eval --model "$M" --faces "$F" --max-images 300 \
  --clips "$D/fomm_04.mp4" "$D/lp_d0.mp4" "$D/sadtalker_aoc.mp4" "$D/lp_d13.mp4" \
  --cross "$P/fomm_01.png" "$P/lp_s1.jpg" "$P/sadtalker_happy.png" --drivers "$D/fomm_04.mp4" "$D/lp_d13.mp4" \
  --max-frames 100 --threads 1 --quiet --json "$J" "$@"
