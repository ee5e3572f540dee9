#!/bin/sh
# make_demo_frames.sh [OUT.png] - the README's pictures of the demo's own output: runs `reenact demo` (the bundled
# model animating the bundled photo, models/demo_photo.png, NASA's public-domain portrait of Eileen Collins, with
# the bundled motion) and tiles every 44th frame of out/demo.mp4, cropped around the face at full resolution
# (8 frames, 176x176 each), into OUT.png [docs/demo_frames.png]. It also writes docs/render_compare.png: the same
# frames rendered with --render model (the decoded 64x64 face pasted back, top) and the default --render photo
# (bottom), at the photo's own resolution. Only the public-domain demo photo appears in them.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${BUILD:-$ROOT/build}
OUT=${1:-$ROOT/docs/demo_frames.png}
CMP=$(dirname "$OUT")/render_compare.png
T=$(mktemp -d "${TMPDIR:-/tmp}/reenact-demo-frames.XXXXXX")
trap 'rm -rf "$T"' EXIT
CROP="crop=176:176:160:36"   # the face of models/demo_photo.png (512x512) at full resolution
"$B/reenact" demo -o "$T" >/dev/null 2>&1
ffmpeg -v error -y -i "$T/demo.mp4" -vf "select='not(mod(n\,44))',$CROP,tile=8x1" -frames:v 1 -update 1 "$T/frames.png"
mv "$T/frames.png" "$OUT"
echo "make_demo_frames: wrote $OUT"
"$B/reenact" animate --source "$ROOT/models/demo_photo.png" --motion "$ROOT/models/demo.motion" --paste-back \
  --render model -o "$T/model.mp4" -q
ffmpeg -v error -y -i "$T/model.mp4" -i "$T/demo.mp4" -filter_complex \
  "[0]select='not(mod(n\,88))',$CROP,tile=4x1[a];[1]select='not(mod(n\,88))',$CROP,tile=4x1[b];[a][b]vstack" \
  -frames:v 1 -update 1 "$T/cmp.png"
mv "$T/cmp.png" "$CMP"
echo "make_demo_frames: wrote $CMP"
