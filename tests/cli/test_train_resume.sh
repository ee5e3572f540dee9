#!/usr/bin/env bash
# test_train_resume.sh - `reenact train` survives SIGKILL and SIGINT exactly: a tiny VAE-GAN run is killed with
# kill -9 at random moments after its first checkpoint (three times, so some kills land inside checkpoint writes),
# resumed each time, and interrupted once with SIGINT (exit 130 + checkpoint); its final model.safetensors must be
# byte-identical to the same run never interrupted (same thread count). Also checks --resume on a finished run,
# retention (keep K + best) and that no partial checkpoint directories remain.
# Usage: tests/cli/test_train_resume.sh path/to/reenact        (ctest runs it from the repo root)
set -u
R=${1:?usage: $0 path/to/reenact}
T=$(mktemp -d /tmp/reenact_resume.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$R" dataset synth -o "$T/d.rds" --count 1200 --res 16 --groups 12 --seed 3 >/dev/null || fail "synth dataset"
common=(--data "$T/d.rds" --model tiny --mode vaegan --epochs 8 --batch 16 --ckpt-every 10 --sample-every 40
        --keep 2 --threads 1 --quiet --flip --no-verify --seed 7)

# Reference: never interrupted.
"$R" train "${common[@]}" --out "$T/ref" >"$T/ref.log" 2>&1 || { cat "$T/ref.log"; fail "reference run"; }
[ -f "$T/ref/model.safetensors" ] || fail "reference run wrote no model"

# Interrupted run: start, wait for the first checkpoint after step 0, kill -9 at a random moment; resume; repeat.
wait_ckpt() {   # wait until a checkpoint step_* other than step_0000000 exists, or the process ends
    local pid=$1 dir=$2
    for _ in $(seq 1 3000); do
        ls "$dir"/ckpt 2>/dev/null | grep '^step_' | grep -qv '^step_0000000$' && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.01
    done
    return 1
}
kills=0
"$R" train "${common[@]}" --out "$T/run" >"$T/run.log" 2>&1 &
pid=$!
for round in 1 2 3; do
    if wait_ckpt $pid "$T/run"; then
        sleep "0.$(printf '%03d' $((RANDOM % 600)))"
        kill -9 $pid 2>/dev/null
        wait $pid 2>/dev/null
        st=$?
        if [ $st -eq 137 ]; then
            kills=$((kills + 1))
            latest=$(ls "$T/run/ckpt" | grep '^step_' | sort | tail -1)
            echo "round $round: killed with SIGKILL; newest complete checkpoint $latest; leftovers: $(ls -A "$T/run/ckpt" | grep -c '^\.')"
        else
            [ $st -eq 0 ] || { cat "$T/run.log"; fail "run ended with status $st before the kill (round $round)"; }
        fi
    else
        wait $pid || { cat "$T/run.log"; fail "run failed (round $round)"; }
    fi
    [ -f "$T/run/model.safetensors" ] && break
    "$R" train --resume "$T/run" --quiet >"$T/run.log" 2>&1 &
    pid=$!
done
if [ ! -f "$T/run/model.safetensors" ]; then
    # One more interruption, this time with SIGINT: a checkpoint is written and the exit status is 130.
    if wait_ckpt $pid "$T/run"; then
        sleep 0.2
        kill -INT $pid 2>/dev/null
    fi
    wait $pid
    st=$?
    if [ ! -f "$T/run/model.safetensors" ]; then
        [ $st -eq 130 ] || { cat "$T/run.log"; fail "SIGINT: exit status $st, expected 130"; }
        grep -q "interrupted (SIGINT)" "$T/run.log" || fail "SIGINT message missing"
        step=$(sed -n 's/.*interrupted (SIGINT) at step \([0-9]*\).*/\1/p' "$T/run.log")
        [ -f "$T/run/ckpt/$(printf 'step_%07d' "$step")/DONE" ] || fail "no checkpoint for SIGINT step $step"
        echo "SIGINT at step $step: exit 130, checkpoint written"
    fi
    "$R" train --resume "$T/run" --quiet >"$T/run.log" 2>&1 || { cat "$T/run.log"; fail "final resume"; }
fi
[ $kills -ge 1 ] || fail "no SIGKILL landed (the run was too fast?)"
cmp -s "$T/ref/model.safetensors" "$T/run/model.safetensors" ||
    fail "resumed run differs from the uninterrupted one after $kills kills"
echo "bit-identical final model after $kills SIGKILLs"

# No partial checkpoint folders; keep 2 + best.
[ -z "$(ls -A "$T/run/ckpt" | grep '^\.')" ] || fail "partial checkpoint folders left: $(ls -A "$T/run/ckpt")"
n=$(ls "$T/run/ckpt" | grep -c '^step_')
[ "$n" -ge 2 ] && [ "$n" -le 3 ] || fail "expected 2 or 3 checkpoints (keep 2 + best), found $n"
for d in "$T/run/ckpt"/step_*; do
    for f in model.safetensors optim.safetensors config.json DONE; do [ -f "$d/$f" ] || fail "$d lacks $f"; done
done
# Metrics: one JSON object per line, steps of "train" lines strictly increasing (the resume truncated the tail).
python3 - "$T/run/metrics.jsonl" <<'EOF' || fail "metrics.jsonl"
import json, sys
last = 0
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o["type"] == "train":
        assert o["step"] > last, (o["step"], last)
        last = o["step"]
assert last > 0
EOF
# Resuming a finished run is a no-op that succeeds and leaves the model unchanged.
"$R" train --resume "$T/run" --quiet >"$T/again.log" 2>&1 || { cat "$T/again.log"; fail "resume of a finished run"; }
cmp -s "$T/ref/model.safetensors" "$T/run/model.safetensors" || fail "model changed by resuming a finished run"
echo "ok: train resume"
