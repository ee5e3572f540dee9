#!/bin/sh
# make_demo_frames.sh [OUT.png] - the README's picture of the demo's own output: runs `reenact demo` (the bundled
# model animating the bundled synthetic face with the bundled motion) and tiles every 44th frame of out/demo.mp4
# (8 frames, 128x128 each) into OUT.png [docs/demo_frames.png]. Only the project's synthetic face appears in it.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${BUILD:-$ROOT/build}
OUT=${1:-$ROOT/docs/demo_frames.png}
T=$(mktemp -d "${TMPDIR:-/tmp}/reenact-demo-frames.XXXXXX")
trap 'rm -rf "$T"' EXIT
"$B/reenact" demo -o "$T" >/dev/null 2>&1
ffmpeg -v error -y -i "$T/demo.mp4" -vf "select='not(mod(n\,44))',scale=128:128:flags=lanczos,tile=8x1" \
  -frames:v 1 -update 1 "$T/frames.png"
mv "$T/frames.png" "$OUT"
echo "make_demo_frames: wrote $OUT"
