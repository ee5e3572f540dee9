#!/bin/bash
# test_serve_browser.sh - a real-browser test of `reenact serve` (usage: test_serve_browser.sh PATH/TO/reenact, cwd =
# repo root). Headless Debian chromium driven by npm playwright-core (tests/cli/serve_browser.js) uploads an example
# portrait and clip from ../shared through the page, waits for done, and checks the progress, the result video in the
# page (size, duration, playback), the storyboard and the download link. Then the Live tab with chromium's fake camera
# (--use-fake-device-for-media-stream, --use-file-for-fake-video-capture) playing a Y4M made with ffmpeg from an
# example driving clip of ../shared, or, without ../shared, from a clip the test animates from the bundled demo: the
# page starts the camera, animated frames arrive over /api/live and change, and the page's fps and median latency
# are recorded (BUILD/serve_browser/live.json). Screenshots are kept in BUILD/serve_browser/. Exit 77 (skipped)
# without chromium, node + playwright-core (`sh tools/install-deps.sh --browser`) or the bundled model; without
# ../shared the upload part is skipped (with a message) and the Live part runs on the generated clip; without
# ffmpeg the Live part is skipped. Labelled "slow".
set -u
CLI=${1:?usage: test_serve_browser.sh PATH/TO/reenact}
. "$(dirname "$0")/lib.sh"
cli_test_init serve_browser
HERE=$(cd "$(dirname "$0")" && pwd)
MODEL=models/reenact-seed64.safetensors
PHOTO=../shared/data/examples/portraits/fomm_01.png
CLIP=../shared/data/examples/driving/fomm_08.mp4
FRAMES=60
CHROMIUM=${CHROMIUM:-$(command -v chromium || true)}
[ -n "$CHROMIUM" ] || { echo "SKIP: chromium not installed (sh tools/install-deps.sh --browser)"; exit 77; }
command -v node >/dev/null 2>&1 || { echo "SKIP: node not installed (sh tools/install-deps.sh --browser)"; exit 77; }
PW=${PLAYWRIGHT_CORE:-}
if [ -z "$PW" ]; then
  for d in "$(npm root -g 2>/dev/null)" /usr/lib/node_modules /usr/local/lib/node_modules; do
    [ -n "$d" ] && [ -f "$d/playwright-core/package.json" ] && { PW=$d/playwright-core; break; }
  done
fi
[ -n "$PW" ] || { echo "SKIP: npm playwright-core not installed (sh tools/install-deps.sh --browser)"; exit 77; }
[ -r "$MODEL" ] || { echo "SKIP: $MODEL not found"; exit 77; }
skip_without_serve

OUT=$(dirname "$CLI")/serve_browser
mkdir -p "$OUT"
VIDEO_ARGS=("$(realpath "$PHOTO" 2>/dev/null)" "$(realpath "$CLIP" 2>/dev/null)" "$FRAMES")
if [ ! -r "$PHOTO" ] || [ ! -r "$CLIP" ]; then
  echo "note: $PHOTO or $CLIP not found (../shared absent): the upload part is skipped, the Live part runs"
  VIDEO_ARGS=(- - 0)
fi
# the fake camera's clip: an example driver from ../shared when present, else the demo photo animated by the demo
# motion; 6 s at 480x360 (chromium loops it)
LIVE_ARGS=()
LIVE_SRC=../shared/data/examples/driving/lp_d0.mp4
if command -v ffmpeg >/dev/null 2>&1; then
  if [ ! -r "$LIVE_SRC" ]; then
    LIVE_SRC=$TMP/demo_drive.mp4
    "$CLI" animate --source models/demo_photo.png --motion models/demo.motion --paste-back --size 480 \
      --max-frames 180 -q -o "$LIVE_SRC" >/dev/null 2>&1 || LIVE_SRC=
  fi
  if [ -n "$LIVE_SRC" ] && ffmpeg -loglevel error -i "$LIVE_SRC" -t 6 -r 30 \
       -vf "scale=480:360:force_original_aspect_ratio=decrease,pad=480:360:(ow-iw)/2:(oh-ih)/2" -pix_fmt yuv420p \
       "$TMP/camera.y4m"; then
    LIVE_ARGS=("$TMP/camera.y4m" 10)
    echo "fake camera: $LIVE_SRC (6 s, 480x360, looped)"
  fi
fi
[ ${#LIVE_ARGS[@]} -gt 0 ] || echo "note: the Live part is skipped (no ffmpeg, or no clip for the fake camera)"
if [ "${VIDEO_ARGS[0]}" = - ] && [ ${#LIVE_ARGS[@]} -eq 0 ]; then echo "SKIP: nothing to test in a browser here"; exit 77; fi
start_server "$TMP/log" --model "$MODEL" --data-dir "$TMP/data" -q
PLAYWRIGHT_CORE=$PW CHROMIUM=$CHROMIUM node "$HERE/serve_browser.js" "$URL" "${VIDEO_ARGS[@]}" "$OUT" "${LIVE_ARGS[@]}"
rc=$?
echo "screenshots: $OUT"
exit $rc
