#!/bin/sh
# train_default_model.sh - the whole recipe behind models/reenact-seed64.safetensors (models/README.md), resumable:
#   1. the split (tools/prepare_training_data.py: symlinks into ../shared/data, nothing copied),
#   2. the packed, face-aligned 64x64 dataset (skipped when it exists),
#   3. the VAE-GAN, then the VAE, with the same data, seed, epochs and options (a run folder that already holds
#      checkpoints is continued with --resume, so rerunning this script after an interruption picks up where it
#      stopped, exactly),
#   4. the sharpening stage: each model continues for STEPS2 steps at a low constant learning rate from its
#      30-epoch weights (--init; the VAE-GAN keeps its discriminator), the VAE-GAN with a stronger adversarial
#      weight (W_ADV2); both models get the same extra steps, so they still see the same data,
#   5. the F16 exports of both models (encoder + decoder; the VAE-GAN's is the bundled model's file) and both
#      evaluations of those exports (tools/eval_models.sh).
# Usage: sh tools/train_default_model.sh [WORK_DIR=/tmp/reenact-train]
# Environment: EPOCHS (30), PRECISION (bf16), THREADS (0 = all cores), W_KL (KL weight, 0.25), W_ADV (VAE-GAN
# adversarial weight, 400), W_FM (VAE-GAN feature-matching weight, 100000), W_GDL (gradient difference loss
# weight, both modes, 0), DECAY (epochs of linear learning-rate
# decay at the end, 15), LR_FINAL (the rates at the end as a fraction of the initial ones, 0.1), STEPS2 (steps of
# the sharpening stage, 1000; 0 skips it), W_ADV2 (its adversarial weight, 2000), SHARED (../shared),
# REENACT (build/reenact).
# Run it in the background (nohup sh tools/train_default_model.sh > train.log 2>&1 &); on the 2-core development
# machine the four runs take about 2 h in bf16.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-/tmp/reenact-train}
R=${REENACT:-$ROOT/build/reenact}
SHARED=${SHARED:-$ROOT/../shared}
EPOCHS=${EPOCHS:-30}
PREC=${PRECISION:-bf16}
THREADS=${THREADS:-0}
W_KL=${W_KL:-0.25}
W_ADV=${W_ADV:-400}
W_FM=${W_FM:-100000}
W_GDL=${W_GDL:-0}
DECAY=${DECAY:-15}
LR_FINAL=${LR_FINAL:-0.1}
STEPS2=${STEPS2:-1000}
W_ADV2=${W_ADV2:-2000}
[ -x "$R" ] || { echo "train_default_model: $R not built (cmake --build build)" >&2; exit 1; }
[ -d "$SHARED/data/faces/utkface" ] || { echo "train_default_model: $SHARED/data/faces/utkface missing" >&2; exit 1; }
mkdir -p "$W"
python3 "$ROOT/tools/prepare_training_data.py" "$SHARED/data" "$W/data"
[ -f "$W/faces64.rds" ] || "$R" dataset pack "$W/data/train" --align --res 64 --video-every 2 --quiet -o "$W/faces64.rds"
for mode in vaegan vae; do
  run="$W/run_$mode"
  if [ -d "$run/ckpt" ]; then
    "$R" train --resume "$run" --epochs "$EPOCHS" --threads "$THREADS" --quiet
  else
    gan=""
    [ "$mode" = vaegan ] && gan="--w-adv $W_ADV --w-fm $W_FM"
    # shellcheck disable=SC2086
    "$R" train --data "$W/faces64.rds" --mode "$mode" --lr 0.0005 --lr-decay-epochs "$DECAY" --lr-final "$LR_FINAL" \
      --flip --epochs "$EPOCHS" --precision "$PREC" --w-kl "$W_KL" --w-gdl "$W_GDL" $gan \
      --threads "$THREADS" --ckpt-every 500 --sample-every 500 --keep 30 --out "$run" --quiet
  fi
done
# stage 2: 5e-5 / 2e-5 are the rates the decay ends at (5e-4 and 2e-4 times LR_FINAL 0.1)
final_vaegan="$W/run_vaegan/model.safetensors"
final_vae="$W/run_vae/model.safetensors"
if [ "$STEPS2" -gt 0 ]; then
  for mode in vaegan vae; do
    run="$W/run_${mode}_s2"
    if [ -d "$run/ckpt" ]; then
      "$R" train --resume "$run" --max-steps "$STEPS2" --threads "$THREADS" --quiet
    else
      gan=""
      [ "$mode" = vaegan ] && gan="--w-adv $W_ADV2 --w-fm $W_FM"
      # shellcheck disable=SC2086
      "$R" train --data "$W/faces64.rds" --init "$W/run_$mode/model.safetensors" --mode "$mode" --lr 0.00005 \
        --lr-d 0.00002 --lr-decay-epochs 0 --max-steps "$STEPS2" --flip --precision "$PREC" --w-kl "$W_KL" \
        --w-gdl "$W_GDL" $gan --threads "$THREADS" --ckpt-every 500 --sample-every 500 --out "$run" --quiet
    fi
  done
  final_vaegan="$W/run_vaegan_s2/model.safetensors"
  final_vae="$W/run_vae_s2/model.safetensors"
fi
"$R" convert "$final_vaegan" -o "$W/reenact-seed64.safetensors" --drop-disc --storage f16
"$R" convert "$final_vae" -o "$W/vae-f16.safetensors" --storage f16
for pair in reenact-seed64:vaegan vae-f16:vae; do
  HELDOUT_FACES="$W/data/heldout_faces" HELDOUT_CLIPS="$W/data/heldout_clips" REENACT="$R" \
    sh "$ROOT/tools/eval_models.sh" "$W/${pair%%:*}.safetensors" "$W/eval_${pair#*:}.json"
done
echo "train_default_model: model $W/reenact-seed64.safetensors (VAE: $W/vae-f16.safetensors); evaluations $W/eval_vaegan.json, $W/eval_vae.json"
