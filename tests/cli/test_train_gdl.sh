#!/usr/bin/env bash
# test_train_gdl.sh - `reenact train --w-gdl X` (gradient difference loss on the reconstruction):
#   - config.json records w_gdl; metrics.jsonl logs the unweighted "gdl" term, and the logged total "g" is
#     rec + w_kl*kl + w_gdl*gdl (VAE) — the term really enters the objective; without --w-gdl there is no "gdl";
#   - the term changes training (different weights than the same run without it);
#   - a run with it, interrupted and resumed, is byte-identical to an uninterrupted one;
#   - --w-gdl cannot change on --resume; bad values are usage errors;
#   - a config.json written before the option existed (no w_gdl) resumes with the term off; a damaged w_gdl is
#     refused, naming the field.
# Usage: tests/cli/test_train_gdl.sh path/to/reenact
set -u
R=${1:?usage: $0 path/to/reenact}
. "$(dirname "$0")/train_lib.sh"
train_test_init gdl

"$R" dataset synth -o "$T/d.rds" --count 120 --res 16 --groups 4 >/dev/null || fail "synth"
common=(--data "$T/d.rds" --model tiny --mode vae --batch 16 --epochs 3 --w-kl 0.5 --ckpt-every 4 --sample-every 100
        --log-every 1 --threads 1 --seed 3)
"$R" train "${common[@]}" --w-gdl 0.75 --out "$T/a" >"$T/a.log" 2>&1 || { cat "$T/a.log"; fail "run a"; }
grep -q "w_gdl 0.75" "$T/a.log" || { cat "$T/a.log"; fail "config table does not show w_gdl"; }
"$R" train "${common[@]}" --out "$T/z" --quiet >"$T/z.log" 2>&1 || { cat "$T/z.log"; fail "run z"; }
python3 - "$T/a" "$T/z" <<'PY' || fail "gdl term in the objective"
import json, sys
a, z = sys.argv[1], sys.argv[2]
ca, cz = json.load(open(a + "/config.json")), json.load(open(z + "/config.json"))
assert ca["w_gdl"] == 0.75 and cz["w_gdl"] == 0, (ca["w_gdl"], cz["w_gdl"])
tr = [e for e in map(json.loads, open(a + "/metrics.jsonl")) if e["type"] == "train"]
assert tr and all(e["gdl"] > 0 for e in tr), tr[:2]
for e in tr:
    want = e["rec"] + 0.5 * e["kl"] + 0.75 * e["gdl"]
    assert abs(e["g"] - want) <= 1e-6 * abs(want), (e["step"], e["g"], want)
assert not any("gdl" in e for e in map(json.loads, open(z + "/metrics.jsonl")) if e["type"] == "train")
print("ok: %d steps log gdl (%.1f -> %.1f) and g = rec + 0.5 kl + 0.75 gdl" % (len(tr), tr[0]["gdl"], tr[-1]["gdl"]))
PY
cmp -s "$T/a/model.safetensors" "$T/z/model.safetensors" && fail "--w-gdl 0.75 trained the same weights as no term"

# Interrupted at step 10, resumed: byte-identical.
"$R" train "${common[@]}" --w-gdl 0.75 --max-steps 10 --out "$T/b" --quiet >"$T/b.log" 2>&1 || { cat "$T/b.log"; fail "run b"; }
"$R" train --resume "$T/b" --max-steps 0 --quiet >"$T/b2.log" 2>&1 || { cat "$T/b2.log"; fail "run b resume"; }
cmp -s "$T/a/model.safetensors" "$T/b/model.safetensors" || fail "resumed run with --w-gdl differs from the uninterrupted one"
echo "ok: resumed with the gdl term, byte-identical"

refuse_on_resume "$T/b" "w-gdl cannot change" --w-gdl 2
refuse_values "$T/d.rds" "--w-gdl -1" "--w-gdl 2e6" "--w-gdl nan" "--w-gdl x"
echo "ok: bad values and changes on resume refused"

# A run folder written before the option existed: no w_gdl in config.json -> the term stays off.
"$R" train "${common[@]}" --max-steps 8 --out "$T/o" --quiet >"$T/o.log" 2>&1 || { cat "$T/o.log"; fail "run o"; }
drop_config_keys "$T/o" w_gdl
"$R" train --resume "$T/o" --max-steps 12 --quiet >"$T/o2.log" 2>&1 || { cat "$T/o2.log"; fail "old-format resume"; }
python3 - "$T/o/metrics.jsonl" <<'PY' || fail "old-format run should train without the gdl term"
import json, sys
tr = [e for e in map(json.loads, open(sys.argv[1])) if e["type"] == "train"]
assert tr[-1]["step"] == 12 and not any("gdl" in e for e in tr), tr[-1]
PY
newest=$(ls -d "$T"/o/ckpt/step_* | tail -1)
set_config "$newest/config.json" w_gdl=-3
"$R" train --resume "$T/o" --max-steps 16 --quiet >"$T/o3.log" 2>&1 && fail "a damaged w_gdl was accepted"
grep -q "w_gdl = -3 is outside" "$T/o3.log" || { cat "$T/o3.log"; fail "damaged w_gdl: message"; }
echo "ok: old run folders resume without the term; a damaged w_gdl is refused"
