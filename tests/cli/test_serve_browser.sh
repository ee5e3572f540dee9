#!/bin/bash
# test_serve_browser.sh - a real-browser test of `reenact serve` (usage: test_serve_browser.sh PATH/TO/reenact, cwd =
# repo root). Headless Debian chromium driven by npm playwright-core (tests/cli/serve_browser.js) uploads an example
# portrait and clip from ../shared through the page, waits for done, and checks the progress, the result video in the
# page (size, duration, playback), the storyboard and the download link. Screenshots are kept in
# BUILD/serve_browser/. Exit 77 (skipped) without chromium, node + playwright-core (`sh tools/install-deps.sh
# --browser`), the bundled model or ../shared. Labelled "slow".
set -u
CLI=${1:?usage: test_serve_browser.sh PATH/TO/reenact}
CLI=$(cd "$(dirname "$CLI")" && pwd)/$(basename "$CLI")
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
for f in "$PHOTO" "$CLIP" "$MODEL"; do [ -r "$f" ] || { echo "SKIP: $f not found"; exit 77; }; done
if "$CLI" serve --help 2>&1 | grep -q "not available in this build"; then echo "SKIP: no 'reenact serve' in this build"; exit 77; fi

OUT=$(dirname "$CLI")/serve_browser
mkdir -p "$OUT"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/re_test_serve_browser.XXXXXX")
"$CLI" serve --port 0 --model "$MODEL" --data-dir "$TMP/data" -q >"$TMP/log" 2>"$TMP/log.err" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$TMP"' EXIT
URL=
for _ in $(seq 1 200); do
  URL=$(sed -n 's|^reenact serve: listening on \(http://[^ ]*\)/$|\1|p' "$TMP/log")
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "$URL" ] || { echo "FAIL: the server did not start" >&2; cat "$TMP/log.err" >&2; exit 1; }
PLAYWRIGHT_CORE=$PW CHROMIUM=$CHROMIUM node "$HERE/serve_browser.js" "$URL" "$(realpath "$PHOTO")" "$(realpath "$CLIP")" \
  "$FRAMES" "$OUT"
rc=$?
echo "screenshots: $OUT"
exit $rc
