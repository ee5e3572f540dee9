#!/usr/bin/env bash
# test_dataset_pack.sh - `reenact dataset pack/info/verify/show/synth` on a folder tree built from the committed
# media fixtures: good images are packed (groups = folders), unreadable / truncated / non-image / oversized files are
# skipped with a warning and counted, hidden files ignored, a non-square image is center-cropped, the output does not
# depend on the thread count, and damage is caught by `verify`. With ../shared present it also packs UTKFace chips
# (plain and --align) and every 10th frame of a driving video; without it those parts print SKIP.
# Usage: tests/cli/test_dataset_pack.sh path/to/reenact       (run from the repo root)
set -u
R=${1:?usage: $0 path/to/reenact}
FX=tests/fixtures/media
T=$(mktemp -d /tmp/reenact_pack.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -f "$FX/good.png" ] || fail "run from the repository root ($FX/good.png not found)"

mkdir -p "$T/faces/alice" "$T/faces/bob/sub" "$T/faces/wide" "$T/empty" "$T/allbad"
cp "$FX/good.png" "$T/faces/alice/good.png"
cp "$FX/good.png" "$T/faces/alice/copy2.png"
cp "$FX/truncated.png" "$FX/not_an_image.png" "$T/faces/alice/"
cp "$FX/good.png" "$T/faces/bob/good.png"
cp "$FX/bad_crc.png" "$FX/huge_dims.png" "$T/faces/bob/"
cp "$FX/good.png" "$T/faces/bob/.hidden.png"
cp "$FX/good.png" "$T/faces/bob/sub/good.png"
cp "$FX/not_an_image.png" "$T/allbad/x.png"
# A 48x16 image: red | green | blue squares. Center-cropped it is pure green.
python3 - "$T/faces/wide/w.png" <<'EOF'
import struct, sys, zlib
w, h = 48, 16
rows = b"".join(b"\0" + bytes(sum(([255, 0, 0] if x < 16 else [0, 255, 0] if x < 32 else [0, 0, 255]
                                   for x in range(w)), [])) for _ in range(h))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + \
      chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
EOF

"$R" dataset pack "$T/faces" -o "$T/f.rds" --res 16 --threads 2 >"$T/out.log" 2>"$T/err.log" ||
    { cat "$T/err.log"; fail "pack exited $?"; }
cat "$T/out.log"
grep -q "packed 5 images (4 groups)" "$T/out.log" || fail "expected 5 images in 4 groups"
grep -q "skipped: 4 unreadable or not an image" "$T/out.log" || fail "expected 4 skipped files"
grep -q "1 hidden" "$T/out.log" || fail "hidden file not counted"
[ "$(grep -c 'warning: skipping' "$T/err.log")" -eq 4 ] || { cat "$T/err.log"; fail "expected 4 warnings"; }
grep -q "not_an_image.png" "$T/err.log" || fail "warning does not name the file"
"$R" dataset info "$T/f.rds" --groups >"$T/info.log" || fail "info"
for g in faces/alice faces/bob faces/bob/sub faces/wide; do grep -q " $g\$" "$T/info.log" || fail "group $g missing"; done
"$R" dataset verify "$T/f.rds" >/dev/null || fail "verify of a good file"
# Same bytes with one thread.
"$R" dataset pack "$T/faces" -o "$T/f1.rds" --res 16 --threads 1 --quiet >/dev/null 2>&1 || fail "pack --threads 1"
cmp -s "$T/f.rds" "$T/f1.rds" || fail "output depends on the thread count"
# Record 4 is faces/wide/w.png (groups and paths are sorted): center-cropped, it is green.
python3 - "$T/f.rds" <<'EOF' || fail "center crop"
import sys
b = open(sys.argv[1], "rb").read()
rec = b[4096 + 4 * 768: 4096 + 5 * 768]
r, g, bl = (sum(rec[i::3]) / 256 for i in range(3))
assert g > 240 and r < 15 and bl < 15, (r, g, bl)
EOF
"$R" dataset show "$T/f.rds" -o "$T/grid.png" --scale 2 >/dev/null || fail "show"
[ -s "$T/grid.png" ] || fail "show wrote nothing"
# Damage is caught.
cp "$T/f.rds" "$T/bad.rds"
printf '\x00' | dd of="$T/bad.rds" bs=1 seek=4200 conv=notrunc status=none
"$R" dataset verify "$T/bad.rds" >/dev/null 2>"$T/v.err" && fail "verify accepted a damaged file"
grep -q "data checksum mismatch" "$T/v.err" || fail "verify message"
# Nothing usable / nothing there / usage.
"$R" dataset pack "$T/empty" -o "$T/e.rds" 2>"$T/e.err" && fail "empty folder packed"
grep -q "no files found" "$T/e.err" || fail "empty folder message"
"$R" dataset pack "$T/allbad" -o "$T/b.rds" --quiet 2>"$T/b.err" && fail "folder of bad files packed"
grep -q "no usable image" "$T/b.err" || fail "no usable image message"
[ -e "$T/b.rds" ] && fail "a dataset was written although nothing was usable"
"$R" dataset pack "$T/faces" >/dev/null 2>&1; [ $? -eq 2 ] || fail "missing -o is not a usage error"
"$R" dataset pack "$T/nope" -o "$T/n.rds" 2>/dev/null; [ $? -eq 1 ] || fail "missing input is not exit 1"
"$R" dataset synth -o "$T/s.rds" --count 50 --res 32 --groups 5 >/dev/null || fail "synth"
"$R" dataset info "$T/s.rds" | grep -q "records:     50 of 32x32" || fail "synth info"
echo "ok: fixtures"

S=../shared/data
if [ ! -d "$S/faces/utkface" ]; then
    echo "SKIP: ../shared not found: UTKFace / video packing not tested"
    echo "ok: dataset pack"
    exit 0
fi
mkdir -p "$T/utk/utkface"
ls "$S/faces/utkface" | sort | head -300 | while read -r f; do ln -s "$PWD/$S/faces/utkface/$f" "$T/utk/utkface/$f"; done
"$R" dataset pack "$T/utk" -o "$T/u.rds" --res 64 --quiet >"$T/u.log" || fail "utkface pack"
grep -q "packed 300 images (1 groups) at 64x64" "$T/u.log" || { cat "$T/u.log"; fail "utkface: 300 images"; }
"$R" dataset verify "$T/u.rds" >/dev/null || fail "utkface verify"
if [ -f /usr/share/dlib/shape_predictor_68_face_landmarks.dat ] || [ -n "${REENACT_DLIB_MODEL:-}" ]; then
    mkdir -p "$T/utk50/utkface"
    ls "$S/faces/utkface" | sort | head -50 | while read -r f; do ln -s "$PWD/$S/faces/utkface/$f" "$T/utk50/utkface/$f"; done
    "$R" dataset pack "$T/utk50" -o "$T/a.rds" --res 64 --align --quiet >"$T/a.log" 2>"$T/a.err" ||
        { cat "$T/a.err"; fail "pack --align"; }
    n=$(sed -n 's/^packed \([0-9]*\) images.*/\1/p' "$T/a.log")
    [ "$n" -ge 40 ] || { cat "$T/a.log"; fail "--align found faces in only $n of 50 UTKFace chips"; }
    "$R" dataset info "$T/a.rds" | grep -q "face-aligned" || fail "aligned flag not set"
    echo "ok: --align: $(head -2 "$T/a.log" | tr '\n' ' ')"
else
    echo "SKIP: no dlib landmark model: --align not tested"
fi
V=$(ls "$S/examples/driving/"*.mp4 2>/dev/null | head -1)
if [ -n "$V" ]; then
    mkdir -p "$T/vid"
    ln -s "$PWD/$V" "$T/vid/clip.mp4"
    "$R" dataset pack "$T/vid" -o "$T/v.rds" --res 64 --video-every 10 --quiet >"$T/v.log" 2>&1 ||
        { cat "$T/v.log"; fail "video pack"; }
    grep -q "video frames: [1-9]" "$T/v.log" || { cat "$T/v.log"; fail "no video frames packed"; }
    "$R" dataset info "$T/v.rds" --groups | grep -q "clip.mp4" || fail "video group name"
    "$R" dataset pack "$T/vid" -o "$T/v0.rds" --quiet >"$T/v0.log" 2>&1 && fail "video without --video-every was packed"
    grep -q "videos were skipped" "$T/v0.log" || { cat "$T/v0.log"; fail "video skip message"; }
    echo "ok: video: $(grep 'video frames' "$T/v.log")"
fi
echo "ok: dataset pack"
