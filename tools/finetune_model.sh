#!/bin/sh
# finetune_model.sh - continue the bundled model's training on more data (models/README.md, "Fine-tuning with the
# training clips"): the split of tools/prepare_training_data.py, with ../shared/data/train-clips added unless
# TRAIN_CLIPS=0 (the control run: the same schedule on the bundled model's own data), packed as the recipe packs;
# then EPOCHS epochs of the VAE-GAN from the bundled weights (a fresh discriminator, learning rates LR and LR/2.5
# falling linearly over the last DECAY epochs to LR_FINAL of themselves), the 1,000-step sharpening stage of the
# recipe, the F16 export, the held-out evaluation (tools/eval_models.sh, once with animate's defaults and once for the
# raw model) and the motion directions of the result (tools/make_directions.sh). Resumable only stage by stage: a
# finished stage (its model.safetensors exists) is skipped.
# Usage: sh tools/finetune_model.sh [WORK_DIR=/tmp/reenact-finetune]
# Environment: TRAIN_CLIPS (1), EPOCHS (8), LR (0.00025), DECAY (6), LR_FINAL (0.2), PRECISION (f32), THREADS (0 =
# all cores), MODEL (models/reenact-seed64.safetensors), SHARED (../shared), REENACT (build/reenact).
# On the 2-core development machine (AMD EPYC, family 26), beside other jobs, the fine-tune took 27-28 min and the
# sharpening stage 8-10 min;
# the evaluations and directions about 15 min.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-/tmp/reenact-finetune}
R=${REENACT:-$ROOT/build/reenact}
MODEL=${MODEL:-$ROOT/models/reenact-seed64.safetensors}
SHARED=${SHARED:-$ROOT/../shared}
TRAIN_CLIPS=${TRAIN_CLIPS:-1}
EPOCHS=${EPOCHS:-8}
LR=${LR:-0.00025}
DECAY=${DECAY:-6}
LR_FINAL=${LR_FINAL:-0.2}
PREC=${PRECISION:-f32}
THREADS=${THREADS:-0}
[ -x "$R" ] || { echo "finetune_model: $R not built (cmake --build build)" >&2; exit 1; }
[ -f "$MODEL" ] || { echo "finetune_model: $MODEL missing" >&2; exit 1; }
mkdir -p "$W"
if [ "$TRAIN_CLIPS" = 1 ]; then
  python3 "$ROOT/tools/prepare_training_data.py" --train-clips "$SHARED/data" "$W/data"
  set -- "$W/data/train"
else
  python3 "$ROOT/tools/prepare_training_data.py" "$SHARED/data" "$W/data"
  set -- "$W"/data/train/utk_* "$W/data/train/clips"
fi
[ -f "$W/faces64.rds" ] || "$R" dataset pack "$@" --align --res 64 --video-every 2 --quiet -o "$W/faces64.rds"
LR_D=$(awk "BEGIN { print $LR / 2.5 }")
[ -f "$W/run_ft/model.safetensors" ] ||
  "$R" train --data "$W/faces64.rds" --init "$MODEL" --mode vaegan --lr "$LR" --lr-d "$LR_D" \
    --lr-decay-epochs "$DECAY" --lr-final "$LR_FINAL" --flip --epochs "$EPOCHS" --precision "$PREC" --w-kl 0.25 \
    --w-adv 400 --w-fm 100000 --threads "$THREADS" --ckpt-every 500 --sample-every 500 --keep 2 --out "$W/run_ft" --quiet
# the sharpening stage of the recipe (train_default_model.sh): 1,000 steps, w_adv 2000, the discriminator continues
[ -f "$W/run_s2/model.safetensors" ] ||
  "$R" train --data "$W/faces64.rds" --init "$W/run_ft/model.safetensors" --mode vaegan --lr 0.00005 --lr-d 0.00002 \
    --lr-decay-epochs 0 --max-steps 1000 --flip --precision "$PREC" --w-kl 0.25 --w-adv 2000 --w-fm 100000 \
    --threads "$THREADS" --ckpt-every 500 --sample-every 500 --out "$W/run_s2" --quiet
"$R" convert "$W/run_s2/model.safetensors" -o "$W/weights.safetensors" --drop-disc --storage f16
export REENACT="$R" HELDOUT_FACES="$W/data/heldout_faces" HELDOUT_CLIPS="$W/data/heldout_clips"
sh "$ROOT/tools/eval_models.sh" "$W/weights.safetensors" "$W/eval_raw.json" --render model --attr-drive off \
  --motion-space full > "$W/eval_raw.txt"
MODEL="$W/weights.safetensors" sh "$ROOT/tools/make_directions.sh" "$W/directions" "$W/model.safetensors"
sh "$ROOT/tools/eval_models.sh" "$W/model.safetensors" "$W/eval.json" > "$W/eval.txt"
echo "finetune_model: $W/model.safetensors (weights and directions); evaluations in $W/eval_raw.txt and $W/eval.txt"
