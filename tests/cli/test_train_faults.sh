#!/usr/bin/env bash
# test_train_faults.sh - bad input and failures in `reenact train`, each with a clear error and the previous
# checkpoint left intact:
#   missing / corrupt / truncated / wrong-resolution dataset, unwritable output folder, an existing run without
#   --resume, settings that may not change on --resume, a checkpoint from another architecture (resume and --init),
#   a write failure during a checkpoint (REENACT_FAULT_INJECT_WRITE: the file-size limit drops to 0, so the write
#   fails with EFBIG as on a full disk) for each of the four checkpoint files, and - when run as root where tmpfs can
#   be mounted - a really full disk (200 KiB tmpfs: room for about three checkpoints). After a failed checkpoint, resuming reproduces the uninterrupted
#   run bit for bit.
# Usage: tests/cli/test_train_faults.sh path/to/reenact
set -u
R=${1:?usage: $0 path/to/reenact}
T=$(mktemp -d /tmp/reenact_faults.XXXXXX)
MNT=""
cleanup() { [ -n "$MNT" ] && umount "$MNT" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# expect STATUS PATTERN cmd...: run cmd, check its exit status and that stderr matches PATTERN.
expect() {
    local want=$1 pat=$2
    shift 2
    "$@" >"$T/out.log" 2>"$T/err.log"
    local st=$?
    [ $st -eq "$want" ] || { cat "$T/err.log"; fail "'$*' exited $st, expected $want"; }
    grep -q -- "$pat" "$T/err.log" || { cat "$T/err.log"; fail "'$*': stderr lacks '$pat'"; }
    echo "ok: exit $st: $(grep -m1 -- "$pat" "$T/err.log" | cut -c1-150)"
}

"$R" dataset synth -o "$T/d.rds" --count 400 --res 16 --groups 8 --seed 5 >/dev/null || fail "synth"
"$R" dataset synth -o "$T/d64.rds" --count 80 --res 64 --groups 2 >/dev/null || fail "synth 64"
common=(--model tiny --mode vae --epochs 3 --batch 16 --ckpt-every 10 --sample-every 100 --threads 1 --quiet --seed 2)

# Dataset problems.
expect 1 "cannot open dataset" "$R" train --data "$T/none.rds" "${common[@]}" --out "$T/r0"
cp "$T/d.rds" "$T/bad.rds"
printf '\xff' | dd of="$T/bad.rds" bs=1 seek=5000 conv=notrunc status=none
expect 1 "data checksum mismatch" "$R" train --data "$T/bad.rds" "${common[@]}" --out "$T/r0"
head -c 30000 "$T/d.rds" >"$T/trunc.rds"
expect 1 "truncated" "$R" train --data "$T/trunc.rds" "${common[@]}" --out "$T/r0"
head -c 4096 /dev/urandom >"$T/junk.rds"
expect 1 "not a reenact dataset" "$R" train --data "$T/junk.rds" "${common[@]}" --out "$T/r0"
expect 1 "pack with --res 16" "$R" train --data "$T/d64.rds" "${common[@]}" --out "$T/r0"

# Output folder problems.
: >"$T/afile"
expect 1 "cannot create the output folder" "$R" train --data "$T/d.rds" "${common[@]}" --out "$T/afile/run"
expect 1 "cannot create the output folder" "$R" train --data "$T/d.rds" "${common[@]}" --out /proc/reenact-test-run

# Reference run, then misuse of its folder.
"$R" train --data "$T/d.rds" "${common[@]}" --out "$T/ref" >/dev/null 2>"$T/ref.err" || { cat "$T/ref.err"; fail "reference run"; }
expect 2 "already holds a run" "$R" train --data "$T/d.rds" "${common[@]}" --out "$T/ref"
expect 2 "cannot change when resuming" "$R" train --resume "$T/ref" --lr 0.5
expect 1 "is not a run folder" "$R" train --resume "$T/no_such_run"
mkdir -p "$T/empty/ckpt"
expect 1 "no complete checkpoint" "$R" train --resume "$T/empty"

# Checkpoint from another architecture: same preset name, different latent size.
cat >"$T/other.json" <<'EOF'
{"res":16,"channels":3,"latent":6,"n_stages":1,"enc_widths":[4],"top_ch":6,"fc_hidden":10,"n_disc":2,
 "disc_widths":[4,6],"disc_fc":[12,5]}
EOF
"$R" train --data "$T/d.rds" --model "$T/other.json" --mode vae --epochs 1 --batch 16 --threads 1 --quiet \
    --out "$T/other" >/dev/null 2>&1 || fail "run with a JSON model config"
expect 1 "another architecture" "$R" train --data "$T/d.rds" "${common[@]}" --init "$T/other/model.safetensors" --out "$T/r1"
cp -r "$T/ref" "$T/mixed"
latest=$(ls "$T/mixed/ckpt" | grep '^step_' | sort | tail -1)
cp "$T/other/model.safetensors" "$T/mixed/ckpt/$latest/model.safetensors"
expect 1 "checkpoint from another architecture" "$R" train --resume "$T/mixed"

# Injected write failure during the 3rd checkpoint (steps 0, 10, 20: it is step 20), for each file.
for f in 1 2 3 4; do
    rm -rf "$T/inj"
    REENACT_FAULT_INJECT_WRITE=3:$f expect 1 "checkpoint at step 20 failed" \
        "$R" train --data "$T/d.rds" "${common[@]}" --out "$T/inj"
    grep -q "step_0000010 is intact" "$T/err.log" || fail "error does not name the intact checkpoint"
    grep -q "File too large\|No space" "$T/err.log" || fail "error does not give the system's reason"
    [ -d "$T/inj/ckpt/step_0000020" ] && fail "file $f: a step_0000020 folder exists after the failed write"
    [ -f "$T/inj/ckpt/step_0000010/DONE" ] || fail "file $f: previous checkpoint lost"
    [ -z "$(ls -A "$T/inj/ckpt" | grep '^\.')" ] || fail "file $f: temporary folder left: $(ls -A "$T/inj/ckpt")"
    [ -z "$(find "$T/inj" -name '*.tmp.*')" ] || fail "file $f: temporary file left"
done
"$R" train --resume "$T/inj" --quiet >/dev/null 2>"$T/res.err" || { cat "$T/res.err"; fail "resume after a failed checkpoint"; }
cmp -s "$T/ref/model.safetensors" "$T/inj/model.safetensors" || fail "resume after a failed checkpoint is not bit-identical"
echo "ok: resumed after failed checkpoint writes, bit-identical"

# A really full disk, where a tmpfs can be mounted (root).
mkdir -p "$T/mnt"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=200k tmpfs "$T/mnt" 2>/dev/null; then
    MNT="$T/mnt"
    "$R" train --data "$T/d.rds" "${common[@]}" --epochs 50 --sample-every 1000000 --out "$T/mnt/run" \
        >/dev/null 2>"$T/full.err"
    st=$?
    [ $st -eq 1 ] || { cat "$T/full.err"; fail "full disk: exit $st, expected 1"; }
    grep -q "No space left" "$T/full.err" || { cat "$T/full.err"; fail "full disk: no 'No space left' in the error"; }
    echo "ok: full disk: $(grep -m1 'error' "$T/full.err" | cut -c1-160)"
    latest=$(ls "$T/mnt/run/ckpt" | grep '^step_' | sort | tail -1)
    [ -n "$latest" ] && [ -f "$T/mnt/run/ckpt/$latest/DONE" ] || fail "full disk: no intact checkpoint"
    cp -r "$T/mnt/run" "$T/fromfull"
    "$R" train --resume "$T/fromfull" --epochs 3 --quiet >/dev/null 2>"$T/ff.err" || { cat "$T/ff.err"; fail "resume after full disk"; }
    umount "$MNT" && MNT=""
else
    echo "SKIP: full-disk tmpfs part (needs root and tmpfs mounts)"
fi
echo "ok: train faults"
