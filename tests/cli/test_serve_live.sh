#!/bin/bash
# test_serve_live.sh - test of `reenact serve`'s live channel, GET /api/live (WebSocket), on 127.0.0.1 (usage:
# test_serve_live.sh PATH/TO/reenact, cwd = repo root). The WebSocket client is tests/cli/serve_live_client.py
# (Python's standard library). Checks, with an untrained model and aligned input (no real face needed) on frames of
# a clip the test writes itself (tests/test_anim): the handshake (101 and the accept key; 426 without an upgrade or
# with another version, 400 for a bad key), options, a fragmented photo with a ping between its fragments, frames
# answered in order with timing, a reset, a burst of frames (older waiting frames skipped, the newest answered), and
# bad messages, each closing its session with a code and a reason that names the problem while the server stays up:
# text that is not JSON, unknown or job-only options, bad values, an unknown type, text or a corrupt PNG as the
# photo, a corrupt JPEG or a GIF as a frame, unmasked frames, reserved bits, a lone continuation, a 126-byte ping,
# messages over the limits (a 1 GiB photo announced, a frame over 4 MiB, 70 KiB of text), text that is not UTF-8.
# Then: --live 2 answers a third session with 503 and takes a new one once one ended; --token needs the token
# (?token=); SIGTERM closes an open session with 1001 and exits 0. With the bundled model and face detection: a real
# stream (the demo photo driven by frames of a clip animated from it) finds and tracks the faces, and a photo without
# a face closes with 1008. Exit 77 (skipped) without serve, test_anim, python3, curl or ffmpeg.
set -u
CLI=${1:?usage: test_serve_live.sh PATH/TO/reenact}
. "$(dirname "$0")/lib.sh"
cli_test_init serve_live
HERE=$(cd "$(dirname "$0")" && pwd)
CLIENT="$HERE/serve_live_client.py"
TOOL=$(dirname "$CLI")/tests/test_anim
ok() { echo "ok: $*"; }

for c in curl python3 ffmpeg; do
  command -v $c >/dev/null 2>&1 || { echo "SKIP: $c not installed"; exit 77; }
done
skip_without_serve
[ -x "$TOOL" ] || { echo "SKIP: $TOOL not built (needed for the test model and clip)"; exit 77; }

M=$TMP/model.safetensors
"$TOOL" --write-model "$M" 17 >/dev/null || { echo "FAIL: cannot write the test model" >&2; exit 1; }
"$TOOL" --write-clip "$TMP/clip.mp4" 8 >/dev/null || { echo "SKIP: cannot write the test clip (no FFmpeg?)"; exit 77; }
mkdir -p "$TMP/frames"
ffmpeg -loglevel error -i "$TMP/clip.mp4" -q:v 3 "$TMP/frames/f%03d.jpg" || { echo "FAIL: ffmpeg" >&2; exit 1; }
cp tests/fixtures/media/good.png "$TMP/photo.png"

code() { curl -s -o "$TMP/body" -w '%{http_code}' --max-time 20 "$@"; }
WSH=(-H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13')

# ---- the protocol, on aligned input with the test model
start_server "$TMP/log1" --model "$M" --live 2
c=$(code "$URL/api/live")
[ "$c" = 426 ] && grep -q 'WebSocket endpoint' "$TMP/body" && ok "GET /api/live without an upgrade: 426 naming WebSocket" \
  || fail "plain GET /api/live: $c $(cat "$TMP/body")"
c=$(curl -s -D "$TMP/hdr" -o /dev/null -w '%{http_code}' --max-time 20 -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
  -H 'Sec-WebSocket-Version: 8' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$URL/api/live")
[ "$c" = 426 ] && grep -qi '^Sec-WebSocket-Version: 13' "$TMP/hdr" && ok "another WebSocket version: 426 with version 13" \
  || fail "version 8: $c"
c=$(code "${WSH[@]}" -H 'Sec-WebSocket-Key: short' "$URL/api/live")
[ "$c" = 400 ] && ok "a bad Sec-WebSocket-Key: 400" || fail "bad key: $c"
c=$(code "${WSH[@]}" -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Origin: http://evil.example' "$URL/api/live")
[ "$c" = 403 ] && ok "a handshake from another site: 403" || fail "foreign origin: $c"
if python3 "$CLIENT" check "$URL" --photo "$TMP/photo.png" --frames "$TMP/frames" >"$TMP/check1" 2>&1; then
  ok "protocol checks ($(grep -c '^ok:' "$TMP/check1") passed)"
else
  cat "$TMP/check1" >&2; fail "protocol checks"
fi

# ---- at most --live sessions at a time
python3 "$CLIENT" hold "$URL" 4 >"$TMP/h1" 2>&1 &
H1=$!
python3 "$CLIENT" hold "$URL" 4 >"$TMP/h2" 2>&1 &
H2=$!
for _ in $(seq 1 50); do
  grep -q 'status 101' "$TMP/h1" 2>/dev/null && grep -q 'status 101' "$TMP/h2" 2>/dev/null && break
  sleep 0.1
done
c=$(code "${WSH[@]}" -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -D "$TMP/hdr" "$URL/api/live")
[ "$c" = 503 ] && grep -q 'too many live sessions' "$TMP/body" && grep -qi '^Retry-After' "$TMP/hdr" \
  && ok "a third session with --live 2: 503 with Retry-After" || fail "third session: $c $(cat "$TMP/body")"
wait $H1 $H2
sleep 0.3
python3 "$CLIENT" hold "$URL" 0.3 >"$TMP/h3" 2>&1
grep -q 'status 101' "$TMP/h3" && ok "a new session once the others ended" || fail "after the limit: $(cat "$TMP/h3")"
curl -s --max-time 10 "$URL/api/health" >"$TMP/health"
grep -q '"live":{"active":0,"max":2' "$TMP/health" && ok "health: no live session left ($(cat "$TMP/health"))" \
  || fail "health after the sessions: $(cat "$TMP/health")"

# ---- SIGTERM with an open session
python3 "$CLIENT" hold "$URL" 30 >"$TMP/h4" 2>&1 &
H4=$!
for _ in $(seq 1 50); do grep -q 'status 101' "$TMP/h4" 2>/dev/null && break; sleep 0.1; done
stop_server
wait $H4
[ "$STOP_RC" = 0 ] && grep -q 'closed 1001 the server is shutting down' "$TMP/h4" \
  && ok "SIGTERM: the open session is closed with 1001 and the server exits 0" \
  || fail "SIGTERM with a session: rc $STOP_RC, client: $(cat "$TMP/h4")"

# ---- --token
start_server "$TMP/log2" --model "$M" --token s3cret-token-1
python3 "$CLIENT" hold "$URL" 0.2 >"$TMP/h5" 2>&1
python3 "$CLIENT" hold "$URL" 0.2 --token s3cret-token-1 >"$TMP/h6" 2>&1
grep -q 'status 401' "$TMP/h5" && grep -q 'status 101' "$TMP/h6" && ok "--token: 401 without it, 101 with ?token=" \
  || fail "token: $(cat "$TMP/h5" "$TMP/h6")"
stop_server

# ---- real faces: the bundled model, the demo photo, frames of a clip animated from it
BUNDLED=models/reenact-seed64.safetensors
if [ -r "$BUNDLED" ] && [ -r models/demo_photo.png ] && [ -r models/demo.motion ] &&
   "$CLI" animate --source models/demo_photo.png --motion models/demo.motion --paste-back --size 480 \
     --max-frames 30 -q -o "$TMP/face.mp4" >/dev/null 2>&1; then
  mkdir -p "$TMP/faces"
  ffmpeg -loglevel error -i "$TMP/face.mp4" -q:v 3 "$TMP/faces/f%03d.jpg"
  ffmpeg -loglevel error -f lavfi -i color=c=gray:s=320x320 -vf noise=alls=90:allf=t -frames:v 1 "$TMP/noise.png"
  start_server "$TMP/log3" --model "$BUNDLED"
  if python3 "$CLIENT" check "$URL" --photo "$TMP/photo.png" --frames "$TMP/frames" --face-frames "$TMP/faces" \
       --noface "$TMP/noise.png" >"$TMP/check2" 2>&1; then
    ok "real faces: $(grep -E 'a real photo|tracked|without a face' "$TMP/check2" | sed 's/^ok: //' | paste -sd ';')"
    grep 'real-face stream' "$TMP/check2"
  else
    cat "$TMP/check2" >&2; fail "real-face checks"
  fi
  stop_server
else
  echo "note: real-face part skipped (no bundled model, or animate cannot run here: no face detection?)"
fi

if [ "$FAILS" -gt 0 ]; then echo "$FAILS live test(s) FAILED"; exit 1; fi
echo "all live tests passed"
