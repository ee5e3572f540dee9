#!/usr/bin/env bash
# test_train_lr_decay.sh - `reenact train --lr-decay-epochs N --lr-final F` (linear learning-rate decay):
#   - the rates in metrics.jsonl stay at --lr / --lr-d until the last N epochs, then fall linearly and reach
#     F x the initial rates at the final step; config.json records the schedule;
#   - a run interrupted inside the decay (--max-steps) and resumed is byte-identical to an uninterrupted one;
#   - a NaN rollback inside the decay halves the base rates, and the schedule's factor still applies;
#   - the schedule cannot change on --resume (usage error, exit 2); bad values are usage errors;
#   - a config.json written before the schedule existed (no lr_decay_epochs/lr_final) still resumes, with
#     constant rates; a damaged one (lr_final outside (0,1]) is refused, naming the field.
# Usage: tests/cli/test_train_lr_decay.sh path/to/reenact
set -u
R=${1:?usage: $0 path/to/reenact}
. "$(dirname "$0")/train_lib.sh"
train_test_init lrdecay

"$R" dataset synth -o "$T/d.rds" --count 200 --res 16 --groups 5 >/dev/null || fail "synth"
# A few steps per epoch (the test reads the count back); 4 epochs, the rates decay over the last 2.
common=(--data "$T/d.rds" --model tiny --mode vaegan --batch 19 --lr 0.001 --lr-d 0.0004 --epochs 4
        --lr-decay-epochs 2 --lr-final 0.2 --ckpt-every 5 --sample-every 100 --log-every 1 --threads 1 --seed 5)
"$R" train "${common[@]}" --out "$T/a" >"$T/a.log" 2>&1 || { cat "$T/a.log"; fail "run a"; }
grep -q "lr decay .*last 2 epochs to 0.2" "$T/a.log" || { cat "$T/a.log"; fail "config table does not show the decay"; }
python3 - "$T/a" <<'PY' || fail "learning-rate schedule"
import json, sys
d = sys.argv[1]
c = json.load(open(d + "/config.json"))
assert c["lr_decay_epochs"] == 2 and abs(c["lr_final"] - 0.2) < 1e-12, c
ev = [json.loads(l) for l in open(d + "/metrics.jsonl")]
tr = {e["step"]: e for e in ev if e["type"] == "train"}
steps = sorted(tr)
n = steps[-1]
assert n % 4 == 0, n
bpe = n // 4
start = n - 2 * bpe
for s in steps:
    f = 1.0 if s <= start else 1.0 - 0.8 * (s - start) / (2 * bpe)
    for k, base in (("lr_g", 1e-3), ("lr_d", 4e-4)):
        assert abs(tr[s][k] - base * f) <= 1e-12 + 1e-9 * base, (s, k, tr[s][k], base * f)
assert abs(tr[n]["lr_g"] - 2e-4) < 1e-12 and tr[start]["lr_g"] == 1e-3 and tr[start + 1]["lr_g"] < 1e-3
print("ok: %d steps, %d per epoch; rates constant to step %d, then linear to 0.2x at step %d" % (n, bpe, start, n))
PY

# Interrupted inside the decay (step 25 of 32), resumed: byte-identical.
"$R" train "${common[@]}" --max-steps 25 --out "$T/b" --quiet >"$T/b.log" 2>&1 || { cat "$T/b.log"; fail "run b part 1"; }
"$R" train --resume "$T/b" --max-steps 0 --quiet >"$T/b2.log" 2>&1 || { cat "$T/b2.log"; fail "run b resume"; }
cmp -s "$T/a/model.safetensors" "$T/b/model.safetensors" || fail "resumed run with lr decay differs from the uninterrupted one"
echo "ok: resumed inside the decay, byte-identical"

# A NaN rollback inside the decay halves the base rates; the schedule's factor still applies on top.
REENACT_TEST_NAN_STEP=25 "$R" train "${common[@]}" --out "$T/n" --quiet >"$T/n.log" 2>&1 || { cat "$T/n.log"; fail "run n"; }
python3 - "$T/n/metrics.jsonl" "$T/a/metrics.jsonl" <<'PY' || fail "rates after a rollback inside the decay"
import json, sys
n = {e["step"]: e for e in map(json.loads, open(sys.argv[1])) if e["type"] == "train"}
a = {e["step"]: e for e in map(json.loads, open(sys.argv[2])) if e["type"] == "train"}
back = [s for s in n if s > 20]
assert back, n.keys()
for s in back:
    for k in ("lr_g", "lr_d"):
        assert abs(n[s][k] - 0.5 * a[s][k]) <= 1e-15, (s, k, n[s][k], a[s][k])
print("ok: after the rollback at step 25 the rates are half the schedule's (steps %d..%d)" % (min(back), max(back)))
PY

refuse_on_resume "$T/b" "lr-decay-epochs/--lr-final cannot change" --lr-final 0.5
refuse_values "$T/d.rds" "--lr-final 0" "--lr-final 1.5" "--lr-decay-epochs -1" "--lr-final x"
echo "ok: bad values and changes on resume refused"

# A run folder written before the schedule existed: no lr_decay_epochs / lr_final in config.json.
"$R" train --data "$T/d.rds" --model tiny --mode vae --batch 19 --epochs 2 --lr-decay-epochs 0 --ckpt-every 5 --threads 1 \
    --max-steps 10 --out "$T/o" --quiet >"$T/o.log" 2>&1 || { cat "$T/o.log"; fail "run o"; }
drop_config_keys "$T/o" lr_decay_epochs lr_final
"$R" train --resume "$T/o" --max-steps 20 --log-every 1 --quiet >"$T/o2.log" 2>&1 || { cat "$T/o2.log"; fail "old-format resume"; }
python3 - "$T/o/metrics.jsonl" <<'PY' || fail "old-format run should keep constant rates"
import json, sys
lr = {json.loads(l)["lr_g"] for l in open(sys.argv[1]) if '"train"' in l}
assert len(lr) == 1, lr
PY
newest=$(ls -d "$T"/o/ckpt/step_* | tail -1)
set_config "$newest/config.json" lr_decay_epochs=1 lr_final=7.5
"$R" train --resume "$T/o" --max-steps 30 --quiet >"$T/o3.log" 2>&1 && fail "a damaged lr_final was accepted"
grep -q "lr_final = 7.5 is outside" "$T/o3.log" || { cat "$T/o3.log"; fail "damaged lr_final: message"; }
echo "ok: old run folders resume with constant rates; a damaged schedule is refused"
