# lib.sh - what the server benchmarks (job.sh, live.sh) share; they source it after setting ROOT and their defaults
# (BUILD, $ROOT/build-bench, and JSON_OUT, none, are set here).
#   bench_args NAME OWN "$@"    the command line: the script's own options OWN, pairs "OPTION VARIABLE ..." (OPTION X
#                               sets VARIABLE to X), and the options both take: --threads N, --build-dir DIR,
#                               --json FILE and -h/--help (the script's header comment); any other option ends the
#                               script (exit 2)
#   bench_need NAME CMD...      every CMD on PATH, or the script ends (exit 2)
#   bench_build_cli NAME        MODEL (the bundled seed64 model, which must be there) and CLI ($BUILD/reenact, built
#                               Release when $BUILD is not configured yet)
#   bench_tmp NAME              TMP, a fresh folder removed on exit together with the server PID (when one runs)
#   bench_inputs CLIP ARG...    PHOTO and DRIVE: ../shared's example portrait fomm_01.png and driving clip CLIP when
#                               both are there, else the bundled demo photo and $TMP/demo_drive.mp4, a clip animated
#                               from it with models/demo.motion (ARG...: more options for that `reenact animate`)
#   bench_serve TRIES ARG...    `reenact serve --port 0 --model $MODEL ARG... -q` in the background (PID) and URL once
#                               it listens (TRIES tenths of a second at the most, else its stderr and exit 1);
#                               bench_serve_stop ends it

BUILD="$ROOT/build-bench"
JSON_OUT=""

bench_args() {
  name=$1
  own=$2
  shift 2
  while [ $# -gt 0 ]; do
    case "$1" in
      -h|--help) sed -n '2,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//'; exit 0 ;;
    esac
    var=$(bench_var "$1" $own --threads THREADS --build-dir BUILD --json JSON_OUT) ||
      { echo "$name: unknown option $1 (see --help)" >&2; exit 2; }
    eval "$var=\$2"
    shift 2
  done
}

# bench_var OPTION PAIRS...: prints the variable that the pairs "OPTION VARIABLE ..." give OPTION; non-zero for none
bench_var() {
  opt=$1
  shift
  while [ $# -ge 2 ]; do
    if [ "$1" = "$opt" ]; then echo "$2"; return 0; fi
    shift 2
  done
  return 1
}

bench_need() {
  name=$1
  shift
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || { echo "$name: $c is needed" >&2; exit 2; }
  done
}

bench_build_cli() {
  MODEL=$ROOT/models/reenact-seed64.safetensors
  [ -r "$MODEL" ] || { echo "$1: $MODEL not found" >&2; exit 2; }
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    echo "$1: configuring $BUILD (Release)" >&2
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DRE_BUILD_TESTS=OFF >/dev/null
  fi
  cmake --build "$BUILD" -j2 --target reenact_cli >/dev/null
  CLI=$BUILD/reenact
}

bench_tmp() {
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/reenact-$1-bench.XXXXXX")
  PID=
  trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$TMP"' EXIT
}

bench_inputs() {
  PHOTO=$ROOT/../shared/data/examples/portraits/fomm_01.png
  DRIVE=$ROOT/../shared/data/examples/driving/$1
  shift
  if [ ! -r "$PHOTO" ] || [ ! -r "$DRIVE" ]; then
    PHOTO=$ROOT/models/demo_photo.png
    DRIVE=$TMP/demo_drive.mp4
    "$CLI" animate --source "$PHOTO" --motion "$ROOT/models/demo.motion" --paste-back --size 480 "$@" -q -o "$DRIVE" \
      >/dev/null
  fi
}

bench_serve() {
  tries=$1
  shift
  "$CLI" serve --port 0 --model "$MODEL" "$@" -q >"$TMP/serve.log" 2>"$TMP/serve.err" &
  PID=$!
  URL=
  for _ in $(seq 1 "$tries"); do
    URL=$(sed -n 's|^reenact serve: listening on \(http://[^ ]*\)/$|\1|p' "$TMP/serve.log")
    [ -n "$URL" ] && break
    sleep 0.1
  done
  [ -n "$URL" ] || { cat "$TMP/serve.err" >&2; exit 1; }
}

bench_serve_stop() {
  kill $PID 2>/dev/null; wait $PID 2>/dev/null || true
  PID=
}
