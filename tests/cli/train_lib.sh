# train_lib.sh - setup and checks shared by the `reenact train` CLI tests (sourced; expects $R, the CLI).

# train_test_init NAME: sets T, a new folder /tmp/reenact_NAME.XXXXXX removed on exit.
train_test_init() {
    T=$(mktemp -d "/tmp/reenact_$1.XXXXXX")
    trap 'rm -rf "$T"' EXIT
}
# fail MESSAGE: the test fails at once.
fail() { echo "FAIL: $*" >&2; exit 1; }

# refuse_on_resume RUN PATTERN ARGS...: `train --resume RUN ARGS...` is a usage error (exit 2) whose message
# matches PATTERN.
refuse_on_resume() {
    local run=$1 pattern=$2
    shift 2
    "$R" train --resume "$run" "$@" >"$T/refuse.log" 2>&1
    [ $? -eq 2 ] || fail "'$*' on --resume should be a usage error"
    grep -q -- "$pattern" "$T/refuse.log" || { cat "$T/refuse.log"; fail "'$*' on --resume: message"; }
}

# refuse_values DATA "ARGS"...: each word-split ARGS given to a new run is a usage error and leaves no run folder.
refuse_values() {
    local data=$1 bad
    shift
    for bad in "$@"; do
        # shellcheck disable=SC2086
        "$R" train --data "$data" --out "$T/bad" $bad >"$T/bad.log" 2>&1
        [ $? -eq 2 ] || fail "'$bad' should be a usage error"
        [ -e "$T/bad" ] && fail "'$bad' left a run folder"
    done
}

# drop_config_keys RUN KEY...: removes KEYs from RUN's config.json and every checkpoint's, as a run folder written
# before those settings existed would have them.
drop_config_keys() {
    local run=$1 f
    shift
    for f in "$run"/config.json "$run"/ckpt/*/config.json; do
        python3 - "$f" "$@" <<'PY' || fail "drop_config_keys $f"
import json, sys
c = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    c.pop(k)
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
    done
}

# set_config FILE KEY=JSON...: sets keys of one config.json (to damage it).
set_config() {
    local f=$1
    shift
    python3 - "$f" "$@" <<'PY' || fail "set_config $f"
import json, sys
c = json.load(open(sys.argv[1]))
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    c[k] = json.loads(v)
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
}
