#!/usr/bin/env bash
# test_train_nan.sh - the NaN/Inf guard of `reenact train`: a NaN injected into the input of step 25
# (REENACT_TEST_NAN_STEP) makes the step fail with a message naming the loss or tensor; the run rolls back to the
# checkpoint of step 20, halves both learning rates, logs a "nonfinite" event and finishes (exit 0). With a NaN at
# every retry it gives up after --max-rollbacks rollbacks (exit 1) and leaves its newest checkpoint intact.
# Also checks the --export BF16 inference file of the finished runs.
# Usage: tests/cli/test_train_nan.sh path/to/reenact
set -u
R=${1:?usage: $0 path/to/reenact}
T=$(mktemp -d /tmp/reenact_nan.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$R" dataset synth -o "$T/d.rds" --count 400 --res 16 --groups 8 >/dev/null || fail "synth"
common=(--data "$T/d.rds" --model tiny --epochs 2 --batch 16 --ckpt-every 10 --sample-every 100 --threads 1 --quiet
        --lr-decay-epochs 0)   # constant rates: the halving after a rollback is what is checked

for mode in vae vaegan; do
    REENACT_TEST_NAN_STEP=25 "$R" train "${common[@]}" --mode $mode --lr 0.001 --lr-d 0.0004 --out "$T/$mode" \
        --export "$T/$mode.bf16.safetensors" \
        >"$T/out.log" 2>"$T/err.log"
    st=$?
    [ $st -eq 0 ] || { cat "$T/err.log"; fail "$mode: exit $st after one injected NaN, expected 0"; }
    grep -qE "warning: step 25: .*loss is -?nan" "$T/err.log" || { cat "$T/err.log"; fail "$mode: no message naming the loss"; }
    grep -q "rolling back to checkpoint step 20 and halving the learning rates (0.001 -> 0.0005; discriminator 0.0004 -> 0.0002)" \
        "$T/err.log" || { cat "$T/err.log"; fail "$mode: rollback message"; }
    python3 - "$T/$mode" <<'EOF' || fail "$mode: metrics/config after the rollback"
import json, sys, glob
run = sys.argv[1]
ev = [json.loads(l) for l in open(run + "/metrics.jsonl")]
nf = [e for e in ev if e["type"] == "nonfinite"]
assert len(nf) == 1 and nf[0]["step"] == 25 and nf[0]["rollback_to"] == 20, nf
assert "nan" in nf[0]["message"], nf
assert ev[-1]["type"] == "done", ev[-1]
st = json.load(open(run + "/config.json"))["state"]
last = sorted(glob.glob(run + "/ckpt/step_*"))[-1]
st = json.load(open(last + "/config.json"))["state"]
assert st["rollbacks"] == 1 and abs(st["lr_g"] - 0.0005) < 1e-15 and abs(st["lr_d"] - 0.0002) < 1e-15, st
# training after the rollback logged the halved rate
tr = [e for e in ev if e["type"] == "train" and e["step"] > 25]
assert tr and all(abs(e["lr_g"] - 0.0005) < 1e-15 for e in tr), tr[:2]
EOF
    [ -f "$T/$mode/model.safetensors" ] || fail "$mode: no final model"
    # The BF16 inference export loads and has no discriminator.
    "$R" info "$T/$mode.bf16.safetensors" >"$T/info.log" 2>&1 || { cat "$T/info.log"; fail "$mode: export does not load"; }
    grep -q "discriminator absent" "$T/info.log" || fail "$mode: export has a discriminator"
    [ "$(stat -c %s "$T/$mode.bf16.safetensors")" -lt "$(stat -c %s "$T/$mode/model.safetensors")" ] || fail "export not smaller"
    echo "ok: $mode: one NaN -> rollback to step 20, learning rates halved, run finished"
done

# NaN at every retry: give up after 2 rollbacks, exit 1, newest checkpoint intact.
REENACT_TEST_NAN_STEP=25:100 "$R" train "${common[@]}" --mode vae --max-rollbacks 2 --out "$T/giveup" \
    >"$T/out.log" 2>"$T/err.log"
st=$?
[ $st -eq 1 ] || { cat "$T/err.log"; fail "give-up: exit $st, expected 1"; }
grep -q "giving up: non-finite values again after 2 rollbacks" "$T/err.log" || { cat "$T/err.log"; fail "give-up message"; }
[ "$(grep -c 'rolling back' "$T/err.log")" -eq 2 ] || fail "expected exactly 2 rollbacks"
[ -f "$T/giveup/ckpt/step_0000020/DONE" ] || fail "newest checkpoint lost"
[ -f "$T/giveup/model.safetensors" ] && fail "a final model was written by a failed run"
echo "ok: gave up after 2 rollbacks: $(grep -m1 'giving up' "$T/err.log" | cut -c1-140)"
echo "ok: train nan guard"
