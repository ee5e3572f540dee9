#!/usr/bin/env bash
# test_train_bf16.sh - `reenact train --precision bf16` (oneDNN bf16 convolutions, f32 master weights and Adam):
#   - the run records "precision": "bf16" in config.json and its config table says so;
#   - the bf16 path is really taken (a model with 16..32 channels, where the k4 s2 convolutions run in bf16): the
#     final weights differ from an f32 run with the same seed, yet the validation losses agree within 5%;
#   - an interrupted bf16 run resumed with --resume is byte-identical to an uninterrupted one (precision restored
#     from config.json, not from the command line);
#   - resuming with another --precision warns that the run will not be bit-identical;
#   - --precision bf16 with --backend ref is refused (exit 1, message names the backend); a bad value is a usage
#     error (exit 2).
# Skips (exit 77) when the build has no oneDNN or the CPU has no bf16 support.
# Usage: tests/cli/test_train_bf16.sh path/to/reenact
set -u
R=${1:?usage: $0 path/to/reenact}
T=$(mktemp -d /tmp/reenact_bf16.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cat >"$T/m.json" <<'JSON'
{"res": 16, "channels": 3, "latent": 16, "n_stages": 2, "enc_widths": [16, 32], "top_ch": 32, "fc_hidden": 32,
 "n_disc": 2, "disc_widths": [16, 32], "disc_fc": [32, 8], "lrelu_slope": 0.2, "bn_eps": 1e-05, "bn_momentum": 0.1}
JSON
"$R" dataset synth -o "$T/d.rds" --count 320 --res 16 --groups 8 >/dev/null || fail "synth"
common=(--data "$T/d.rds" --model "$T/m.json" --mode vaegan --batch 16 --lr 0.001 --ckpt-every 5 --sample-every 100
        --threads 1 --seed 3)

"$R" train "${common[@]}" --precision bf16 --max-steps 20 --out "$T/a" >"$T/a.log" 2>&1
st=$?
if [ $st -ne 0 ]; then
    if grep -qiE "no oneDNN|bf16 (kernels|support)|cannot run bf16|needs the oneDNN" "$T/a.log"; then
        echo "SKIP: bf16 training unavailable here: $(grep -m1 -iE 'oneDNN|bf16' "$T/a.log")"; exit 77
    fi
    cat "$T/a.log"; fail "bf16 run: exit $st"
fi
grep -q "precision bf16" "$T/a.log" || { cat "$T/a.log"; fail "config table does not say precision bf16"; }
python3 - "$T/a/config.json" <<'PY' || fail "config.json precision"
import json, sys
c = json.load(open(sys.argv[1]))
assert c["precision"] == "bf16", c.get("precision")
PY

"$R" train "${common[@]}" --max-steps 20 --out "$T/f" --quiet >"$T/f.log" 2>&1 || { cat "$T/f.log"; fail "f32 run"; }
grep -q '"precision": "f32"' "$T/f/config.json" || fail "f32 run does not record precision f32"
cmp -s "$T/a/model.safetensors" "$T/f/model.safetensors" && fail "bf16 and f32 runs gave identical weights: bf16 path not taken"
python3 - "$T/a/metrics.jsonl" "$T/f/metrics.jsonl" <<'PY' || fail "bf16 validation loss far from f32"
import json, sys
def last_val(p):
    v = [json.loads(l) for l in open(p)]
    return [e for e in v if e["type"] == "val"][-1]["loss"]
a, f = last_val(sys.argv[1]), last_val(sys.argv[2])
print("ok: validation loss after 20 steps: bf16 %.2f, f32 %.2f (%.2f%%)" % (a, f, 100 * abs(a - f) / f))
assert abs(a - f) <= 0.05 * f
PY

# Interrupted at step 10 (--max-steps), resumed to 20 without --precision: identical to the uninterrupted run.
"$R" train "${common[@]}" --precision bf16 --max-steps 10 --out "$T/b" --quiet >"$T/b.log" 2>&1 || { cat "$T/b.log"; fail "bf16 part 1"; }
"$R" train --resume "$T/b" --max-steps 20 --quiet >"$T/b2.log" 2>&1 || { cat "$T/b2.log"; fail "bf16 resume"; }
cmp -s "$T/a/model.safetensors" "$T/b/model.safetensors" || fail "resumed bf16 run differs from the uninterrupted one"
echo "ok: resumed bf16 run is byte-identical"

"$R" train --resume "$T/b" --max-steps 25 --precision f32 --quiet >"$T/b3.log" 2>&1 || { cat "$T/b3.log"; fail "resume with f32"; }
grep -q "warning: precision f32 instead of the run's bf16" "$T/b3.log" || { cat "$T/b3.log"; fail "no warning on a precision change"; }

"$R" train "${common[@]}" --precision bf16 --backend ref --max-steps 2 --out "$T/r" --quiet >"$T/r.log" 2>&1
st=$?
[ $st -eq 1 ] || { cat "$T/r.log"; fail "bf16 on the ref backend: exit $st, expected 1"; }
grep -qi "oneDNN" "$T/r.log" || { cat "$T/r.log"; fail "refusal does not name the backend"; }
"$R" train "${common[@]}" --precision fp8 --out "$T/x" >"$T/x.log" 2>&1
[ $? -eq 2 ] || fail "bad --precision: expected exit 2"
grep -q -- "--precision: value 'fp8' is not f32, bf16 or auto" "$T/x.log" || fail "bad --precision message"
echo "ok: train --precision bf16"
