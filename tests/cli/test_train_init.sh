#!/usr/bin/env bash
# test_train_init.sh - the lineage a run started with `reenact train --init W` records:
#   - config.json holds init_data_sha256 (W's data checksum) and init_steps (the training behind W);
#   - every model file the run writes (model.safetensors, checkpoints, and what `convert` makes of them) carries
#     train_step (this run's steps), train_steps_total (init_steps + train_step) and init_data_sha256; a run without
#     --init has train_steps_total = train_step and no init_data_sha256;
#   - it chains (a fine-tune of a fine-tune counts all three runs) and survives --resume;
#   - a config.json written before the fields existed resumes with no lineage; damaged fields are refused, naming
#     the field.
# Usage: tests/cli/test_train_init.sh path/to/reenact
set -u
R=${1:?usage: $0 path/to/reenact}
. "$(dirname "$0")/train_lib.sh"
train_test_init init

# meta FILE KEY: the value of metadata KEY of a model file as `reenact info` prints it ("" when absent)
meta() { "$R" info "$1" | awk -v k="$2" '$1 == k && $2 == "=" { print $3 }'; }
sha() { "$R" info "$1" | awk '$1 == "checksum:" { print $3 }'; }

"$R" dataset synth -o "$T/d.rds" --count 120 --res 16 --groups 4 >/dev/null || fail "synth"
common=(--data "$T/d.rds" --model tiny --batch 16 --sample-every 100 --threads 1 --seed 3 --quiet)
"$R" train "${common[@]}" --max-steps 6 --out "$T/a" >"$T/a.log" 2>&1 || { cat "$T/a.log"; fail "run a"; }
[ "$(meta "$T/a/model.safetensors" train_step)" = 6 ] || fail "a: train_step"
[ "$(meta "$T/a/model.safetensors" train_steps_total)" = 6 ] || fail "a: train_steps_total should equal train_step"
[ -z "$(meta "$T/a/model.safetensors" init_data_sha256)" ] || fail "a: init_data_sha256 without --init"
sha_a=$(sha "$T/a/model.safetensors")
[ ${#sha_a} = 64 ] || fail "a: checksum '$sha_a'"

"$R" train "${common[@]}" --init "$T/a/model.safetensors" --max-steps 4 --ckpt-every 2 --out "$T/b" >"$T/b.log" 2>&1 ||
    { cat "$T/b.log"; fail "run b"; }
python3 - "$T/b/config.json" "$sha_a" <<'PY' || fail "b: config.json lineage"
import json, sys
c = json.load(open(sys.argv[1]))
assert c["init_data_sha256"] == sys.argv[2] and c["init_steps"] == 6, (c["init_data_sha256"], c["init_steps"])
PY
[ "$(meta "$T/b/model.safetensors" train_step)" = 4 ] || fail "b: train_step"
[ "$(meta "$T/b/model.safetensors" train_steps_total)" = 10 ] || fail "b: train_steps_total, want 6 + 4"
[ "$(meta "$T/b/model.safetensors" init_data_sha256)" = "$sha_a" ] || fail "b: init_data_sha256"
[ "$(meta "$T/b/ckpt/step_0000002/model.safetensors" train_steps_total)" = 8 ] || fail "b: checkpoint lineage"
"$R" convert "$T/b/model.safetensors" -o "$T/b16.safetensors" --drop-disc --storage f16 >/dev/null || fail "convert"
[ "$(meta "$T/b16.safetensors" train_steps_total)" = 10 ] &&
    [ "$(meta "$T/b16.safetensors" init_data_sha256)" = "$sha_a" ] || fail "convert dropped the lineage"
echo "ok: --init records the starting weights' checksum and steps (6 + 4 = 10), in checkpoints and exports too"

# Resumed: the lineage stays; chained: a fine-tune of b counts a's and b's steps.
"$R" train --resume "$T/b" --max-steps 7 --quiet >"$T/b2.log" 2>&1 || { cat "$T/b2.log"; fail "resume b"; }
[ "$(meta "$T/b/model.safetensors" train_steps_total)" = 13 ] || fail "b resumed: train_steps_total, want 6 + 7"
[ "$(meta "$T/b/model.safetensors" init_data_sha256)" = "$sha_a" ] || fail "b resumed: init_data_sha256"
"$R" train "${common[@]}" --init "$T/b/model.safetensors" --max-steps 2 --out "$T/c" >"$T/c.log" 2>&1 ||
    { cat "$T/c.log"; fail "run c"; }
[ "$(meta "$T/c/model.safetensors" train_steps_total)" = 15 ] || fail "c: train_steps_total, want 13 + 2"
[ "$(meta "$T/c/model.safetensors" init_data_sha256)" = "$(sha "$T/b/model.safetensors")" ] || fail "c: init checksum"
echo "ok: lineage survives --resume and chains (6 + 7 + 2 = 15)"

# A run folder written before the fields existed resumes without lineage; damaged fields are refused.
drop_config_keys "$T/c" init_data_sha256 init_steps
"$R" train --resume "$T/c" --max-steps 3 --quiet >"$T/c2.log" 2>&1 || { cat "$T/c2.log"; fail "old-format resume"; }
[ "$(meta "$T/c/model.safetensors" train_steps_total)" = 3 ] || fail "old-format run: train_steps_total"
[ -z "$(meta "$T/c/model.safetensors" init_data_sha256)" ] || fail "old-format run: init_data_sha256"
newest=$(ls -d "$T"/b/ckpt/step_* | tail -1)
cp "$newest/config.json" "$T/good_config.json"
for bad in 'init_data_sha256="xyz"|init_data_sha256 is not empty or 64 hex' 'init_steps=-1|init_steps = -1 is outside' \
           'init_steps="7"|missing or malformed'; do
    cp "$T/good_config.json" "$newest/config.json"
    set_config "$newest/config.json" "${bad%%|*}"
    "$R" train --resume "$T/b" --max-steps 9 --quiet >"$T/bad.log" 2>&1 && fail "damaged ${bad%%|*} was accepted"
    grep -q -- "${bad#*|}" "$T/bad.log" || { cat "$T/bad.log"; fail "damaged ${bad%%|*}: message"; }
done
echo "ok: old run folders resume without lineage; damaged lineage fields are refused"
