# lib.sh - helpers shared by the CLI tests (sourced): the test's temp folder and its cleanup, counted checks,
# exit-code checks, PNG and JSON readers, and a `reenact serve` started in the background with its HTTP helpers.

# cli_test_init NAME: makes $CLI absolute and sets TMP (a new folder re_test_NAME.XXXXXX, removed on exit together
# with a server start_server left running), FAILS and CHECKS.
cli_test_init() {
  CLI=$(cd "$(dirname "$CLI")" && pwd)/$(basename "$CLI")
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/re_test_$1.XXXXXX")
  SERVER_PID=
  FAILS=0
  CHECKS=0
  trap cli_test_cleanup EXIT
}
cli_test_cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  chmod -R u+w "$TMP" 2>/dev/null   # a test may leave a read-only folder behind
  rm -rf "$TMP"
}
# cli_test_end: prints the tally and exits 1 when a check failed, else 0.
cli_test_end() {
  [ "$FAILS" -eq 0 ] || { echo "$FAILS of $CHECKS checks FAILED" >&2; exit 1; }
  echo "ok: $CHECKS checks"
  exit 0
}

have_py=0; command -v python3 >/dev/null 2>&1 && have_py=1

fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
# check SHELL-CONDITION DESCRIPTION
check() { CHECKS=$((CHECKS + 1)); if ! eval "$1"; then fail "$2"; fi; }
# expect_rc WANT DESCRIPTION -- command...: runs the command (stdout in $TMP/out.txt, stderr in $TMP/err.txt) and
# checks its exit status; returns 1 when it differs.
expect_rc() {
  local want=$1 what=$2; shift 3
  CHECKS=$((CHECKS + 1))
  "$@" >"$TMP/out.txt" 2>"$TMP/err.txt"
  local rc=$?
  if [ "$rc" != "$want" ]; then
    fail "$what: exit $rc, want $want"; sed 's/^/  | /' "$TMP/err.txt" | tail -5 >&2
    return 1
  fi
  return 0
}
# png_size FILE [SEP]: PNG width and height from the IHDR chunk, joined by SEP (default a space)
png_size() {
  od -An -tu1 -j16 -N8 "$1" |
    awk -v s="${2:- }" '{printf "%d%s%d\n", $1*16777216+$2*65536+$3*256+$4, s, $5*16777216+$6*65536+$7*256+$8}'
}
# frames VIDEO: the number of video frames ffprobe decodes
frames() { ffprobe -v quiet -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$1"; }
# check_frames VIDEO N: with ffprobe present, checks that VIDEO decodes to N frames
check_frames() {
  command -v ffprobe >/dev/null 2>&1 || return 0
  local got want=$2
  got=$(frames "$1")
  check '[ "$got" = "$want" ]' "$(basename "$1") decodes to $want frames (got '$got')"
}
# json_get FILE EXPR: prints python expression EXPR evaluated with j = the parsed file
json_get() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

# skip_without_serve: exits 77 (skipped) when this build has no `reenact serve`.
skip_without_serve() {
  if "$CLI" serve --help 2>&1 | grep -q "not available in this build"; then
    echo "SKIP: this build has no 'reenact serve' (libmicrohttpd not found)"; exit 77
  fi
}
# start_server LOG ARGS...: starts `reenact serve --port 0 ARGS...` in the background, sets SERVER_PID and URL (the
# address it listens on); the test fails at once when it does not start within 20 s.
start_server() {
  local log=$1; shift
  "$CLI" serve --port 0 "$@" >"$log" 2>"$log.err" &
  SERVER_PID=$!
  URL=
  for _ in $(seq 1 200); do
    URL=$(sed -n 's|^reenact serve: listening on \(http://[^ ]*\)/$|\1|p' "$log")
    [ -n "$URL" ] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "FAIL: the server did not start:" >&2; cat "$log" "$log.err" >&2
  exit 1
}
# stop_server: SIGTERM; sets STOP_RC
stop_server() { kill -TERM "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID"; STOP_RC=$?; SERVER_PID=; }
# stop_mid_job DATA ID MAX_S: waits (up to MAX_S s) for job ID's first progress event with a frame written
# (streamed: polling can lag behind the job on a loaded machine), then stops the server with SIGTERM during the job;
# checks that the job ran, that the server exits 0 and that the job's folder DATA/ID holds no result or temp file.
stop_mid_job() {
  local data=$1 id=$2 left
  curl -s -N --max-time "$3" "$URL/api/jobs/$id/events" | grep -m1 '"state":"running","frame":[1-9]' >"$TMP/ev.txt"
  check '[ -s "$TMP/ev.txt" ]' "the long job runs (a progress event with a frame)"
  stop_server
  check '[ "$STOP_RC" = 0 ]' "SIGTERM during a job exits 0 (got $STOP_RC)"
  left=$(ls -A "$data/$id" | tr '\n' ' ')
  check '[ "$left" = "driving job.json photo " ]' "the stopped job left no result or temp file (found: $left)"
}
# req OUTFILE CURL-ARGS...: prints the HTTP status (curl gives up after $REQ_MAX_TIME s, default 120)
req() { local out=$1; shift; curl -s -o "$out" -w '%{http_code}' --max-time "${REQ_MAX_TIME:-120}" "$@"; }
# json FILE EXPR: prints python expression EXPR evaluated with d = the parsed file (nothing when it fails)
json() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null; }
# jget FILE KEY: the value of a top-level key (python3 if present, else sed)
jget() {
  if [ $have_py -eq 1 ]; then json "$1" "d.get('$2')"; else sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\).*/\1/p" "$1"; fi
}
# wait_state ID [STATES]: polls job ID (up to $WAIT_STATE_S s, default 300) until its state matches the regex STATES
# (default done|failed), prints the state; the last answer stays in $TMP/job.json.
wait_state() {
  local st= want=${2:-done|failed}
  for _ in $(seq 1 $((${WAIT_STATE_S:-300} * 5))); do
    req "$TMP/job.json" "$URL/api/jobs/$1" >/dev/null
    st=$(jget "$TMP/job.json" state)
    [[ "$st" =~ ^($want)$ ]] && break
    sleep 0.2
  done
  echo "$st"
}
