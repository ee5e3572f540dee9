#!/bin/bash
# test_serve.sh - HTTP test of `reenact serve` (usage: test_serve.sh PATH/TO/reenact, cwd = repo root).
# Starts the server on a free port (--port 0) with an untrained model and an 8-frame clip that the test writes itself
# (tests/test_anim, aligned mode, so no real face is needed) and checks, with curl on 127.0.0.1:
#   health, version, the embedded page (and that it loads nothing from elsewhere); a job from upload to done, its
#   progress over server-sent events, the result (MP4 magic, frame count with ffprobe when present, Range requests),
#   the storyboard, the job list, DELETE; the error paths: 400 for a truncated MP4 as the driver, 413 over the
#   per-request limit (--max-upload-mb, announced
#   and chunked) and over the per-file limit (--max-file-mb), 404 for
#   traversal attempts and unknown ids, 405, 415 for a text file as the photo or the driver, 400 for bad fields,
#   a missing driver and a corrupt image, and that the server still answers afterwards and left no upload behind;
#   50 concurrent requests; a restart on the same --data-dir lists the finished job again; SIGTERM exits 0 and removes
#   a temporary data dir; DELETE of a running job stops it (its event stream ends 'deleted', its directory goes with
#   nothing half-written, the worker takes the next job) and DELETE of a queued one; --job-ttl: a finished job expires
#   (files and state removed by the janitor, 404 afterwards, counted in health) and a restart removes jobs that
#   expired while it was down; with --token, 401 without it and 200 with the header or ?token=; a non-loopback --host
#   without --token is a usage error. Exit 77 (skipped) when the build has no `serve` or no test_anim.
set -u
CLI=${1:?usage: test_serve.sh PATH/TO/reenact}
. "$(dirname "$0")/lib.sh"
cli_test_init serve
TOOL=$(dirname "$CLI")/tests/test_anim
REQ_MAX_TIME=60 WAIT_STATE_S=60   # req and wait_state (lib.sh): the test model is quick

if ! command -v curl >/dev/null 2>&1; then echo "SKIP: curl not installed"; exit 77; fi
skip_without_serve
if [ ! -x "$TOOL" ]; then echo "SKIP: $TOOL not built (needed for the test model and clip)"; exit 77; fi

M=$TMP/model.safetensors
"$TOOL" --write-model "$M" 17 >/dev/null || { echo "FAIL: cannot write the test model" >&2; exit 1; }
"$TOOL" --write-clip "$TMP/clip.mp4" 8 >/dev/null || { echo "SKIP: cannot write the test clip (no FFmpeg?)"; exit 77; }
cp tests/fixtures/media/good.png "$TMP/photo.png"
printf 'this is a text file, not a portrait\n' >"$TMP/text.txt"
head -c $((3 * 1024 * 1024)) /dev/urandom >"$TMP/big.bin"     # over --max-upload-mb 2 below
head -c $((1536 * 1024)) /dev/urandom >"$TMP/file15.bin"        # under it, over --max-file-mb 1
head -c $((900 * 1024)) /dev/urandom >"$TMP/mid.bin"            # under --max-file-mb 1; three are over --max-upload-mb 2

uploads_left() { ls -A "$1" | grep -c '^\.up-'; }

DATA=$TMP/data
start_server "$TMP/log1" --model "$M" --data-dir "$DATA" --max-upload-mb 2 --max-file-mb 1

# ---- health, version, page
check '[ "$(req "$TMP/h.json" "$URL/api/health")" = 200 ] && grep -q "\"status\":\"ok\"" "$TMP/h.json"' "GET /api/health"
check '[ "$(req "$TMP/v.json" "$URL/api/version")" = 200 ] && grep -q "\"api\":1" "$TMP/v.json" && grep -q "\"name\":\"reenact\"" "$TMP/v.json"' "GET /api/version"
check 'grep -q "\"max_upload_bytes\":2097152" "$TMP/v.json" && grep -q "\"max_file_bytes\":1048576" "$TMP/v.json" && grep -q "\"job_ttl_s\":86400" "$TMP/v.json"' "version reports both upload limits and the default job TTL (24 h)"
check '[ "$(req "$TMP/page.html" "$URL/")" = 200 ] && grep -qi "<html" "$TMP/page.html"' "GET / serves the page"
check '! grep -Eiq "(src|href)=\"(https?:)?//" "$TMP/page.html"' "the page loads nothing from elsewhere"
check 'curl -s -D - -o /dev/null "$URL/" | grep -qi "^content-security-policy:"' "the page has a content security policy"

# ---- a job: upload, events, poll, result, storyboard
code=$(req "$TMP/post.json" -F "photo=@$TMP/photo.png" -F "driving=@$TMP/clip.mp4" -F aligned=1 -F max_frames=4 \
       -F strength=1.5 -F smooth=0 "$URL/api/jobs")
ID=$(jget "$TMP/post.json" id)
check '[ "$code" = 201 ] && [[ "$ID" =~ ^[0-9a-f]{32}$ ]]' "POST /api/jobs gives 201 and an id (got $code: $(cat "$TMP/post.json"))"
curl -s -N --max-time 60 "$URL/api/jobs/$ID/events" >"$TMP/events.txt"
check 'grep -q "^event: done" "$TMP/events.txt" && grep -q "^data: {.*\"state\":\"done\"" "$TMP/events.txt"' \
  "GET /api/jobs/ID/events streams until done ($(head -c 300 "$TMP/events.txt"))"
st=$(wait_state "$ID")
check '[ "$st" = done ]' "the job ends done (got '$st': $(cat "$TMP/job.json"))"
check '[ "$(jget "$TMP/job.json" frame)" = 4 ] && [ "$(jget "$TMP/job.json" frames)" = 4 ]' "frame = frames = 4"
[ $have_py -eq 1 ] && check '[ "$(json "$TMP/job.json" "round(d[\"expires\"] - d[\"finished\"])")" = 86400 ]' "a finished job expires 24 h after it finished by default"
check '[ "$(req "$TMP/result.mp4" "$URL/api/jobs/$ID/result")" = 200 ]' "GET /api/jobs/ID/result"
check '[ "$(head -c 8 "$TMP/result.mp4" | tail -c 4)" = ftyp ] && [ $(stat -c %s "$TMP/result.mp4") -gt 500 ]' "the result is an MP4"
check_frames "$TMP/result.mp4" 4
check '[ "$(req "$TMP/part.bin" -r 4-11 "$URL/api/jobs/$ID/result")" = 206 ] && [ "$(cat "$TMP/part.bin")" = ftypisom ]' "Range request gives 206 and the bytes asked for"
check '[ "$(req /dev/null -r 99999999- "$URL/api/jobs/$ID/result")" = 416 ]' "unsatisfiable Range gives 416"
check '[ "$(req "$TMP/sb.png" "$URL/api/jobs/$ID/storyboard")" = 200 ] && [ "$(head -c 4 "$TMP/sb.png" | tail -c 3)" = PNG ]' "GET /api/jobs/ID/storyboard is a PNG"
check '[ "$(req "$TMP/list.json" "$URL/api/jobs")" = 200 ] && grep -q "$ID" "$TMP/list.json"' "GET /api/jobs lists the job"

# ---- error paths (the server stays up through all of them)
expect() {   # expect CODE WHAT CURL-ARGS...
  local want=$1 what=$2; shift 2
  local got; got=$(req "$TMP/err.json" "$@")
  CHECKS=$((CHECKS + 1))
  if [ "$got" != "$want" ]; then fail "$what: HTTP $got, want $want ($(head -c 300 "$TMP/err.json"))"; return 1; fi
  case "$want" in 4*|5*) if ! grep -q '"error":"' "$TMP/err.json"; then fail "$what: no JSON error"; return 1; fi ;; esac
  return 0
}
expect 413 "upload over the per-request limit (Content-Length)" -F "photo=@$TMP/big.bin" -F "driving=@$TMP/clip.mp4" "$URL/api/jobs" &&
  check 'grep -q -- "--max-upload-mb" "$TMP/err.json"' "the 413 names --max-upload-mb"
expect 413 "three files each under the per-file limit, together over the per-request one (chunked)" -H "Transfer-Encoding: chunked" \
  -F "photo=@$TMP/mid.bin" -F "driving=@$TMP/mid.bin" -F "motion=@$TMP/mid.bin" "$URL/api/jobs" &&
  check 'grep -q -- "--max-upload-mb" "$TMP/err.json"' "the chunked 413 names --max-upload-mb ($(cat "$TMP/err.json"))"
expect 413 "a file over the per-file limit, the request under its limit" -F "photo=@$TMP/photo.png" -F "driving=@$TMP/file15.bin" "$URL/api/jobs" &&
  check 'grep -q -- "--max-file-mb" "$TMP/err.json" && grep -q "driving" "$TMP/err.json"' "the per-file 413 names the field and --max-file-mb ($(cat "$TMP/err.json"))"
expect 413 "a file over the per-file limit (chunked)" -H "Transfer-Encoding: chunked" -F "photo=@$TMP/file15.bin" -F "driving=@$TMP/clip.mp4" "$URL/api/jobs" &&
  check 'grep -q -- "--max-file-mb" "$TMP/err.json" && grep -q "photo" "$TMP/err.json"' "the chunked per-file 413 names the photo"
expect 415 "text file as the photo" -F "photo=@$TMP/text.txt" -F "driving=@$TMP/clip.mp4" "$URL/api/jobs" &&
  check 'grep -q "photo" "$TMP/err.json" && grep -q "text" "$TMP/err.json"' "the 415 names the field and what it got"
expect 415 "text file as the driver" -F "photo=@$TMP/photo.png" -F "driving=@$TMP/text.txt" "$URL/api/jobs"
expect 415 "a video as the motion file" -F "photo=@$TMP/photo.png" -F "motion=@$TMP/clip.mp4" "$URL/api/jobs"
expect 400 "truncated PNG as the photo" -F "photo=@tests/fixtures/media/truncated.png" -F "driving=@$TMP/clip.mp4" "$URL/api/jobs" &&
  check '! grep -q "$DATA" "$TMP/err.json" && ! grep -q "\.up-" "$TMP/err.json"' "error messages do not name server paths"
head -c $(( $(stat -c %s "$TMP/clip.mp4") / 2 )) "$TMP/clip.mp4" >"$TMP/trunc.mp4"
expect 400 "truncated MP4 as the driver" -F "photo=@$TMP/photo.png" -F "driving=@$TMP/trunc.mp4" "$URL/api/jobs" &&
  check 'grep -q "driving" "$TMP/err.json" && ! grep -q "$DATA" "$TMP/err.json"' "the 400 names the driver, not a server path ($(cat "$TMP/err.json"))"
expect 413 "photo over the pixel limit" -F "photo=@tests/fixtures/media/huge_dims.png" -F "driving=@$TMP/clip.mp4" "$URL/api/jobs"
expect 400 "bad option value" -F "photo=@$TMP/photo.png" -F "driving=@$TMP/clip.mp4" -F strength=lots "$URL/api/jobs" &&
  check 'grep -q "strength" "$TMP/err.json"' "the 400 names the field"
expect 400 "strength over the library's bound" -F "photo=@$TMP/photo.png" -F "driving=@$TMP/clip.mp4" -F strength=101 "$URL/api/jobs" &&
  check 'grep -qF "[-100,100]" "$TMP/err.json"' "the 400 gives the range of animate --strength ($(cat "$TMP/err.json"))"
expect 400 "eye_motion out of range" -F "photo=@$TMP/photo.png" -F "driving=@$TMP/clip.mp4" -F eye_motion=5 "$URL/api/jobs" &&
  check 'grep -q "eye_motion" "$TMP/err.json"' "the 400 names eye_motion ($(cat "$TMP/err.json"))"
expect 400 "unknown field" -F "photo=@$TMP/photo.png" -F "driving=@$TMP/clip.mp4" -F bogus=1 "$URL/api/jobs"
expect 400 "motion control out of range" -F "photo=@$TMP/photo.png" -F "driving=@$TMP/clip.mp4" -F lips=9 "$URL/api/jobs" &&
  check 'grep -q "lips" "$TMP/err.json"' "the 400 names the motion control"
expect 400 "unknown region" -F "photo=@$TMP/photo.png" -F "driving=@$TMP/clip.mp4" -F region=nose "$URL/api/jobs"
expect 400 "format png is not offered" -F "photo=@$TMP/photo.png" -F "driving=@$TMP/clip.mp4" -F format=png "$URL/api/jobs"
expect 400 "missing driver" -F "photo=@$TMP/photo.png" "$URL/api/jobs"
expect 400 "missing photo" -F "driving=@$TMP/clip.mp4" "$URL/api/jobs"
expect 400 "driving and motion both" -F "photo=@$TMP/photo.png" -F "driving=@$TMP/clip.mp4" -F "motion=@$TMP/clip.mp4" "$URL/api/jobs"
expect 400 "the photo twice" -F "photo=@$TMP/photo.png" -F "photo=@$TMP/photo.png" -F "driving=@$TMP/clip.mp4" "$URL/api/jobs"
expect 400 "ref=best with aligned" -F "photo=@$TMP/photo.png" -F "driving=@$TMP/clip.mp4" -F aligned=1 -F ref=best "$URL/api/jobs"
expect 415 "not multipart" -H "Content-Type: application/json" -d '{"photo":1}' "$URL/api/jobs"
expect 404 "traversal ../" --path-as-is "$URL/api/jobs/../../../etc/passwd"
expect 404 "traversal %2e%2e" --path-as-is "$URL/api/jobs/%2e%2e%2f%2e%2e%2fetc%2fpasswd"
expect 404 "traversal after an id" --path-as-is "$URL/api/jobs/$ID/../../../../etc/passwd"
expect 404 "traversal in a sub-resource" --path-as-is "$URL/api/jobs/$ID/..%2f..%2fjob.json"
expect 404 "a job's files by name" "$URL/api/jobs/$ID/photo"
expect 404 "unknown job id" "$URL/api/jobs/0123456789abcdef0123456789abcdef"
expect 404 "malformed job id" "$URL/api/jobs/0123456789ABCDEF0123456789ABCDEF"
expect 404 "unknown path" "$URL/etc/passwd"
expect 404 "delete an unknown job" -X DELETE "$URL/api/jobs/0123456789abcdef0123456789abcdef"
expect 405 "wrong method" -X PUT "$URL/api/health"
PORT=${URL##*:}
expect 403 "another host name (DNS rebinding)" -H "Host: evil.example:$PORT" "$URL/api/health"
expect 403 "a POST from another site" -H "Origin: http://evil.example" -F "photo=@$TMP/photo.png" -F "driving=@$TMP/clip.mp4" "$URL/api/jobs"
expect 403 "an opaque origin" -H "Origin: null" "$URL/api/jobs"
expect 200 "the server's own origin" -H "Origin: http://127.0.0.1:$PORT" "$URL/api/health"
expect 200 "localhost" -H "Host: localhost:$PORT" "$URL/api/health"
check '[ "$(uploads_left "$DATA")" = 0 ]' "no upload left behind by the failed requests"
check '[ "$(req /dev/null "$URL/api/health")" = 200 ]' "the server still answers after the bad requests"

# ---- 50 concurrent requests
seq 1 50 | xargs -P 50 -I{} curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 "$URL/api/jobs/$ID" >"$TMP/conc.txt"
check '[ "$(grep -c "^200$" "$TMP/conc.txt")" = 50 ]' "50 concurrent requests all answered 200 ($(sort "$TMP/conc.txt" | uniq -c | tr '\n' ' '))"

# ---- a second job, DELETE, restart on the same data dir
code=$(req "$TMP/post2.json" -F "photo=@$TMP/photo.png" -F "driving=@$TMP/clip.mp4" -F aligned=1 -F max_frames=2 \
       -F storyboard=0 -F format=webm "$URL/api/jobs")
ID2=$(jget "$TMP/post2.json" id)
check '[ "$code" = 201 ] && [ "$(wait_state "$ID2")" = done ]' "a second job (webm, no storyboard) ends done"
check '[ "$(req "$TMP/r2.webm" "$URL/api/jobs/$ID2/result")" = 200 ] && [ "$(od -An -tx1 -N4 "$TMP/r2.webm" | tr -d " ")" = 1a45dfa3 ]' "its result is WebM"
expect 409 "storyboard not asked for" "$URL/api/jobs/$ID2/storyboard"
check '[ "$(req /dev/null -X DELETE "$URL/api/jobs/$ID2")" = 200 ]' "DELETE /api/jobs/ID"
expect 404 "a deleted job" "$URL/api/jobs/$ID2"
check '[ ! -e "$DATA/$ID2" ]' "DELETE removed the job's files"
stop_server
check '[ "$STOP_RC" = 0 ]' "SIGTERM ends the server with status 0 (got $STOP_RC)"
start_server "$TMP/log2" --model "$M" --data-dir "$DATA"
check '[ "$(req "$TMP/job.json" "$URL/api/jobs/$ID")" = 200 ] && [ "$(jget "$TMP/job.json" state)" = done ]' "a restart lists the finished job again"
check '[ "$(req "$TMP/result2.mp4" "$URL/api/jobs/$ID/result")" = 200 ] && cmp -s "$TMP/result.mp4" "$TMP/result2.mp4"' "and serves the same result"
stop_server

# ---- temporary data dir: removed on exit
mkdir -p "$TMP/tmpdir"
TMPDIR=$TMP/tmpdir start_server "$TMP/log3" --model "$M"
code=$(req "$TMP/post3.json" -F "photo=@$TMP/photo.png" -F "driving=@$TMP/clip.mp4" -F aligned=1 -F max_frames=2 "$URL/api/jobs")
check '[ "$code" = 201 ] && [ "$(wait_state "$(jget "$TMP/post3.json" id)")" = done ]' "a job in the temporary data dir"
check '[ -n "$(ls -A "$TMP/tmpdir")" ]' "the temporary data dir exists while serving"
stop_server
check '[ -z "$(ls -A "$TMP/tmpdir")" ]' "the temporary data dir is removed on exit"

# ---- DELETE of a running job and of a queued one
"$TOOL" --write-clip "$TMP/long.mp4" 600 >/dev/null || fail "cannot write the long clip"
start_server "$TMP/log7" --model "$M" --data-dir "$TMP/data7"
code=$(req "$TMP/post7.json" -F "photo=@$TMP/photo.png" -F "driving=@$TMP/long.mp4" -F aligned=1 "$URL/api/jobs")
ID7=$(jget "$TMP/post7.json" id)
code2=$(req "$TMP/post7b.json" -F "photo=@$TMP/photo.png" -F "driving=@$TMP/clip.mp4" -F aligned=1 "$URL/api/jobs")
ID7B=$(jget "$TMP/post7b.json" id)
check '[ "$code" = 201 ] && [ "$code2" = 201 ]' "a long job and a second one behind it are accepted ($code, $code2)"
curl -s -N --max-time 120 "$URL/api/jobs/$ID7/events" >"$TMP/ev7.txt" &
EV_PID=$!
# the first progress event with a frame written (streamed: polling can lag behind on a loaded machine)
curl -s -N --max-time 60 "$URL/api/jobs/$ID7/events" | grep -m1 '"state":"running","frame":[1-9]' >"$TMP/ev7r.txt"
check '[ -s "$TMP/ev7r.txt" ]' "the long job runs"
req "$TMP/j7b.json" "$URL/api/jobs/$ID7B" >/dev/null
check '[ "$(jget "$TMP/j7b.json" state)" = queued ] && [ "$(req /dev/null -X DELETE "$URL/api/jobs/$ID7B")" = 200 ]' "DELETE of a queued job"
check '[ "$(req /dev/null "$URL/api/jobs/$ID7B")" = 404 ] && [ ! -e "$TMP/data7/$ID7B" ]' "the queued job is gone with its files at once"
check '[ "$(req "$TMP/del7.json" -X DELETE "$URL/api/jobs/$ID7")" = 200 ] && grep -q "\"deleted\":true" "$TMP/del7.json"' "DELETE of the running job: 200"
check '[ "$(req /dev/null "$URL/api/jobs/$ID7")" = 404 ] && [ "$(req /dev/null "$URL/api/jobs/$ID7/result")" = 404 ]' "the deleted job and its result are 404 at once"
wait $EV_PID
# the 'deleted' event shows the job running, or already stopped by the delete (failed, "deleted while running")
check 'grep -A1 "^event: deleted" "$TMP/ev7.txt" | grep -Eq "\"state\":\"running\".*\"deleted\":true|\"state\":\"failed\".*\"error\":\"deleted while running\".*\"deleted\":true"' \
  "its event stream ends with 'deleted', stopped while it ran ($(grep -A1 "^event: deleted" "$TMP/ev7.txt" | head -c 400))"
check '! grep -q "^event: done" "$TMP/ev7.txt"' "the deleted job never finished"
for _ in $(seq 1 150); do [ -e "$TMP/data7/$ID7" ] || break; sleep 0.2; done
check '[ ! -e "$TMP/data7/$ID7" ] && [ -z "$(ls -A "$TMP/data7")" ]' "the stopped job's directory is removed, nothing half-written is left (found: $(ls -A "$TMP/data7" "$TMP/data7/$ID7" 2>/dev/null | tr '\n' ' '))"
code=$(req "$TMP/post7c.json" -F "photo=@$TMP/photo.png" -F "driving=@$TMP/clip.mp4" -F aligned=1 -F max_frames=2 "$URL/api/jobs")
check '[ "$code" = 201 ] && [ "$(wait_state "$(jget "$TMP/post7c.json" id)")" = done ]' "the worker takes the next job after the cancel"
check '[ "$(req "$TMP/h7.json" "$URL/api/health")" = 200 ] && grep -q "\"queued\":0,\"running\":0,\"done\":1,\"failed\":0" "$TMP/h7.json"' "health: only the last job is left ($(cat "$TMP/h7.json" 2>/dev/null))"
expect 404 "DELETE of a job deleted while running" -X DELETE "$URL/api/jobs/$ID7"
stop_server
check '[ "$STOP_RC" = 0 ]' "the server stops cleanly after a cancel (got $STOP_RC)"

# ---- --job-ttl: a finished job expires (files and state), and is 404 afterwards
start_server "$TMP/log8" --model "$M" --data-dir "$TMP/data8" --job-ttl 0.1
check 'grep -q "jobs kept 0.1 min" "$TMP/log8"' "the start line says how long jobs are kept"
code=$(req "$TMP/post8.json" -F "photo=@$TMP/photo.png" -F "driving=@$TMP/clip.mp4" -F aligned=1 -F max_frames=2 "$URL/api/jobs")
ID8=$(jget "$TMP/post8.json" id)
check '[ "$code" = 201 ] && [ "$(wait_state "$ID8")" = done ]' "a job under --job-ttl 0.1 ends done"
[ $have_py -eq 1 ] && check '[ "$(json "$TMP/job.json" "round(d[\"expires\"] - d[\"finished\"])")" = 6 ]' "it says it expires 6 s after it finished"
check '[ -d "$TMP/data8/$ID8" ]' "its files are there until then"
# the janitor removes it without any request asking for it
for _ in $(seq 1 150); do [ -e "$TMP/data8/$ID8" ] || break; sleep 0.2; done
check '[ ! -e "$TMP/data8/$ID8" ] && [ -z "$(ls -A "$TMP/data8")" ]' "the expired job's files are removed (found: $(ls -A "$TMP/data8" | tr '\n' ' '))"
expect 404 "an expired job" "$URL/api/jobs/$ID8"
expect 404 "an expired job's result" "$URL/api/jobs/$ID8/result"
expect 404 "DELETE of an expired job" -X DELETE "$URL/api/jobs/$ID8"
check '[ "$(req "$TMP/l8.json" "$URL/api/jobs")" = 200 ] && ! grep -q "$ID8" "$TMP/l8.json"' "the list no longer shows it"
check '[ "$(req "$TMP/h8.json" "$URL/api/health")" = 200 ] && grep -q "\"expired\":1" "$TMP/h8.json" && grep -q "\"done\":0" "$TMP/h8.json"' "health counts the expiry ($(cat "$TMP/h8.json" 2>/dev/null))"
stop_server
# a restart removes jobs that expired while the server was down (the first job of this test finished long before)
start_server "$TMP/log9" --model "$M" --data-dir "$DATA" --job-ttl 0.001
check '[ "$(req /dev/null "$URL/api/jobs/$ID")" = 404 ] && [ ! -e "$DATA/$ID" ]' "a restart with a short --job-ttl removes the jobs that expired meanwhile"
stop_server
start_server "$TMP/log10" --model "$M" --data-dir "$TMP/data10" --job-ttl 0
code=$(req "$TMP/post10.json" -F "photo=@$TMP/photo.png" -F "driving=@$TMP/clip.mp4" -F aligned=1 -F max_frames=2 "$URL/api/jobs")
check '[ "$code" = 201 ] && [ "$(wait_state "$(jget "$TMP/post10.json" id)")" = done ] && grep -q "\"expires\":null" "$TMP/job.json"' "--job-ttl 0: jobs never expire (expires null)"
stop_server

# ---- a full queue, and SIGTERM while a job runs
start_server "$TMP/log5" --model "$M" --data-dir "$TMP/data5" --queue 0
code=$(req "$TMP/post5.json" -F "photo=@$TMP/photo.png" -F "driving=@$TMP/long.mp4" -F aligned=1 -F storyboard=0 "$URL/api/jobs")
ID5=$(jget "$TMP/post5.json" id)
check '[ "$code" = 201 ]' "a long job is accepted by an idle worker with --queue 0 (got $code)"
code=$(curl -s -D "$TMP/hdr.txt" -o "$TMP/err.json" -w '%{http_code}' -F "photo=@$TMP/photo.png" -F "driving=@$TMP/clip.mp4" -F aligned=1 "$URL/api/jobs")
check '[ "$code" = 503 ] && grep -qi "^retry-after:" "$TMP/hdr.txt"' "a second job while the worker is busy: 503 with Retry-After (got $code)"
stop_mid_job "$TMP/data5" "$ID5" 60
check 'grep -q "\"state\":\"failed\"" "$TMP/data5/$ID5/job.json" && grep -q "shut down" "$TMP/data5/$ID5/job.json"' "the stopped job is recorded as failed by the shutdown"
check '[ "$(uploads_left "$TMP/data5")" = 0 ]' "no upload left behind after the 503"

# ---- --max-disk-mb: the oldest finished job goes once the job files are over the limit
start_server "$TMP/log6" --model "$M" --data-dir "$TMP/data6" --max-disk-mb 0.008
ids=
for k in 1 2; do
  code=$(req "$TMP/post6.json" -F "photo=@$TMP/photo.png" -F "driving=@$TMP/clip.mp4" -F aligned=1 -F max_frames=2 -F storyboard=0 "$URL/api/jobs")
  id=$(jget "$TMP/post6.json" id); ids="$ids $id"
  check '[ "$code" = 201 ] && [ "$(wait_state "$id")" = done ]' "job $k under --max-disk-mb ends done"
done
read -r OLD NEW <<<"$ids"
check '[ "$(req /dev/null "$URL/api/jobs/$OLD")" = 404 ] && [ ! -e "$TMP/data6/$OLD" ]' "the older job was evicted past --max-disk-mb 0.008"
check '[ "$(req /dev/null "$URL/api/jobs/$NEW/result")" = 200 ]' "the newest job stays"
check '[ "$(req "$TMP/h6.json" "$URL/api/health")" = 200 ] && grep -q "\"evicted\":1" "$TMP/h6.json" && grep -q "\"disk_bytes\":" "$TMP/h6.json"' "health reports the eviction and the disk use"
stop_server

# ---- token
start_server "$TMP/log4" --model "$M" --data-dir "$TMP/data4" --token s3cret-token
expect 401 "no token" "$URL/api/health"
expect 401 "wrong token" -H "Authorization: Bearer s3cret-tokeN" "$URL/api/health"
expect 401 "no token on upload" -F "photo=@$TMP/photo.png" -F "driving=@$TMP/clip.mp4" "$URL/api/jobs"
expect 200 "bearer token" -H "Authorization: Bearer s3cret-token" "$URL/api/health"
expect 200 "token query argument" "$URL/api/health?token=s3cret-token"
expect 200 "the page itself needs no token" "$URL/"
stop_server

# ---- usage
"$CLI" serve --host 0.0.0.0 --port 0 --model "$M" >"$TMP/o.txt" 2>"$TMP/e.txt"; rc=$?
check '[ $rc = 2 ] && grep -q "token" "$TMP/e.txt"' "--host 0.0.0.0 without --token is a usage error (exit $rc)"
"$CLI" serve --bogus >/dev/null 2>&1; rc=$?
check '[ $rc = 2 ]' "unknown option exits 2"
"$CLI" serve --help >"$TMP/o.txt" 2>&1; rc=$?
check '[ $rc = 0 ] && grep -q -- "--max-upload-mb" "$TMP/o.txt" && grep -q -- "--max-file-mb" "$TMP/o.txt" && grep -q -- "--job-ttl" "$TMP/o.txt"' "serve --help"
"$CLI" serve --port 0 --model "$M" --max-file-mb 300 >/dev/null 2>"$TMP/e.txt"; rc=$?
check '[ $rc = 2 ] && grep -q -- "--max-upload-mb" "$TMP/e.txt"' "--max-file-mb over --max-upload-mb is a usage error (exit $rc)"
"$CLI" serve --port 0 --model "$M" --job-ttl -1 >/dev/null 2>&1; rc=$?
check '[ $rc = 2 ]' "a negative --job-ttl is a usage error (exit $rc)"

cli_test_end
