#!/bin/bash
# test_options.sh - the option tables of every reenact command (cli/opt.h), seen from the outside
# (usage: test_options.sh PATH/TO/reenact, cwd = repo root). For every command and subcommand:
#   - --help exits 0 and lists options, each value option with its default in [brackets];
#   - an unknown option exits 2 naming it; a value option given last (no value) exits 2 with "--name needs a value";
#     a word for a number exits 2 ("is not a number" / "is not an integer"); a flag refuses a value (--flag=1);
#   - every option whose help shows a range, "(lo..hi)", "(>= lo)" or "(> lo, <= hi)", refuses a value above hi (or
#     below lo when there is no hi) with "is out of range"; every a|b|c option refuses another word ("is not a, b or
#     c"). Each check is a process, so the per-command ones use the command's first option of the kind (the parser
#     is one, tests/unit/test_cli_opt.c covers it per type);
#   - --strength's range is the library's (RE_ANIM_STRENGTH_MAX), and the usage errors come before any work (no model,
#     input or output is touched: the commands run in an empty directory without a model).
# Needs no model, no media and no python.
set -u
CLI=${1:?usage: test_options.sh PATH/TO/reenact}
CLI=$(cd "$(dirname "$CLI")" && pwd)/$(basename "$CLI")
TMP=$(mktemp -d "${TMPDIR:-/tmp}/re_test_options.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
mkdir "$TMP/work"
cd "$TMP/work" || exit 1
export REENACT_MODEL="$TMP/no-model.safetensors"   # a command that got past its options would fail on this
export REENACT_NO_REEXEC=1                           # ~900 runs: skip main()'s OpenMP re-exec
FAILS=0
CHECKS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }

# run WANT_RC PATTERN DESCRIPTION -- command...: exit status WANT_RC and stderr containing PATTERN (fixed string)
run() {
  local want=$1 pat=$2 what=$3; shift 4
  CHECKS=$((CHECKS + 1))
  "$@" >"$TMP/out.txt" 2>"$TMP/err.txt" </dev/null
  local rc=$?
  if [ "$rc" != "$want" ]; then
    fail "$what: exit $rc, want $want"; sed 's/^/  | /' "$TMP/err.txt" | tail -3 >&2; return 1
  fi
  if [ -n "$pat" ] && ! grep -qF -- "$pat" "$TMP/err.txt"; then
    fail "$what: stderr lacks '$pat'"; sed 's/^/  | /' "$TMP/err.txt" | tail -3 >&2; return 1
  fi
  return 0
}

# bigger/smaller than a bound, for integer and decimal bounds alike
above() { awk -v x="$1" 'BEGIN { printf "%.17g\n", x + 1 }'; }
below() { awk -v x="$1" 'BEGIN { printf "%.17g\n", x - 1 }'; }

# entries CMD...: the option entries of CMD's help, one a line (continuation lines joined): "HEAD<TAB>TEXT"
entries() {
  "$CLI" "$@" --help 2>/dev/null | awk '
    function flush() { if (head != "") print head "\t" text; head = ""; text = "" }
    /^  -/ {
      flush()
      line = substr($0, 3)
      i = index(line, "  ")
      if (i > 0) { head = substr(line, 1, i - 1); text = substr(line, i); sub(/^ +/, "", text) }
      else { head = line; text = "" }
      next
    }
    /^                        / && head != "" { t = $0; sub(/^ +/, "", t); text = text (text == "" ? "" : " ") t; next }
    { flush() }
    END { flush() }'
}

COMMANDS=("animate" "motion extract" "motion info" "demo" "edit" "eval" "reconstruct" "train" "dataset pack"
          "dataset info" "dataset verify" "dataset show" "dataset synth" "directions" "convert" "info")
if ! "$CLI" serve --help 2>&1 | grep -q "not available in this build"; then COMMANDS+=("serve"); fi

for cmdline in "${COMMANDS[@]}"; do
  read -r -a CMD <<<"$cmdline"
  run 0 "" "$cmdline --help" -- "$CLI" "${CMD[@]}" --help
  grep -q -- "-h, --help" "$TMP/out.txt" || fail "$cmdline --help does not list -h, --help"
  run 2 "unknown option '--no-such-option'" "$cmdline unknown option" -- "$CLI" "${CMD[@]}" --no-such-option
  n=0 flag_done=0 value_done=0 word_done=0
  while IFS=$'\t' read -r head text; do
    [ "$head" = "-h, --help" ] && continue
    name=$(printf '%s\n' "$head" | grep -o -- '--[a-z0-9-]*' | head -1)
    arg=${head#*"$name"}
    arg=${arg# }
    n=$((n + 1))
    if [ -z "$arg" ]; then   # a flag (one per command: each run costs a process)
      [ $flag_done = 1 ] || run 2 "$name takes no value" "$cmdline $name=1" -- "$CLI" "${CMD[@]}" "$name=1"
      flag_done=1
      continue
    fi
    CHECKS=$((CHECKS + 1))
    case "$text" in *"]") ;; *) fail "$cmdline: $name shows no [default] in its help: '$text'" ;; esac
    [ $value_done = 1 ] || run 2 "$name needs a value" "$cmdline $name without a value" -- "$CLI" "${CMD[@]}" "$name"
    value_done=1
    range=$(printf '%s\n' "$text" | grep -oE '\((-?[0-9.e+-]+\.\.-?[0-9.e+-]+|>= -?[0-9.e+-]+|> -?[0-9.e+-]+, <= -?[0-9.e+-]+)\) \[[^]]*\]$' | sed 's/) \[.*//; s/^(//')
    if [ -n "$range" ]; then
      case "$range" in
        ">= "*) lo=${range#>= }; hi= ;;
        "> "*) lo=${range#> }; lo=${lo%%,*}; hi=${range##*<= } ;;
        *) lo=${range%%..*}; hi=${range##*..} ;;
      esac
      # every option's range: above it (or below it when it has no upper bound); the first one both ways
      if [ -n "$hi" ]; then
        run 2 "$name: value '$(above "$hi")' is out of range" "$cmdline $name above $hi" -- "$CLI" "${CMD[@]}" "$name" "$(above "$hi")"
      fi
      if [ -z "$hi" ] || [ $word_done = 0 ]; then
        run 2 "$name: value '$(below "$lo")' is out of range" "$cmdline $name below $lo" -- "$CLI" "${CMD[@]}" "$name" "$(below "$lo")"
      fi
      [ $word_done = 1 ] || run 2 "$name: value 'abc' is not a" "$cmdline $name abc" -- "$CLI" "${CMD[@]}" "$name" abc
      word_done=1
    elif [[ "$arg" == *"|"* ]]; then
      run 2 "$name: value 'no-such-value' is not " "$cmdline $name no-such-value" -- "$CLI" "${CMD[@]}" "$name" no-such-value
      first=${arg%%|*}
      grep -qF -- "$first" "$TMP/err.txt" || fail "$cmdline $name: the error does not list the values ($(cat "$TMP/err.txt"))"
    fi
  done < <(entries "${CMD[@]}")
  [ "$n" -gt 0 ] || [ "$cmdline" = "motion info" ] || fail "$cmdline --help lists no options"
done

# --strength: the library's range (RE_ANIM_STRENGTH_MAX = 100), checked in one place
run 2 "--strength: value '100.5' is out of range [-100, 100]" "animate --strength 100.5" -- "$CLI" animate --strength 100.5
grep -q -- "--strength S .*(-100\.\.100) \[1\]" <("$CLI" animate --help) || fail "animate --help: --strength range and default"
# -h, --name=value, exclusive flags, lists, positional arguments
run 0 "" "-h" -- "$CLI" train -h
grep -q -- "--resume DIR" "$TMP/out.txt" || fail "train -h"
run 2 "--batch: value '1x' is not an integer" "--batch=1x" -- "$CLI" eval --batch=1x
run 2 "--lr: value '1x' is not a number" "--lr=1x" -- "$CLI" train --lr=1x
run 2 "choose one of --expression-only, --pose-only, --lips-only, --eyes-only" "two regions" -- "$CLI" animate --pose-only --lips-only
run 2 "--clips needs a value" "a list without values" -- "$CLI" eval --clips --faces .
run 2 "unexpected argument 'extra'" "a stray argument" -- "$CLI" animate extra
run 2 "only one model path expected" "info with two models" -- "$CLI" info a b
# an option's value may look like an option (a negative number)
run 2 "--yaw: value '-31' is out of range [-30, 30]" "a negative value" -- "$CLI" edit --yaw -31
# defaults follow the field: edit's attribute drive is off
grep -q -- "--attr-drive on|off .*\[off\]" <("$CLI" edit --help) || fail "edit --help: --attr-drive default off"
grep -q -- "--attr-drive on|off .*\[on\]" <("$CLI" animate --help) || fail "animate --help: --attr-drive default on"
[ -z "$(ls -A "$TMP/work")" ] || fail "usage errors left files: $(ls -A "$TMP/work")"

echo "test_options: $CHECKS checks, $FAILS failures"
[ "$FAILS" = 0 ]
