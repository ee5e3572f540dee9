#!/bin/sh
# fuzz_campaign.sh - long libFuzzer campaign over every fuzz target, then a minimized corpus to commit.
#
#   sh tools/fuzz_campaign.sh [BUILD_DIR [RUNS [SECONDS [TARGET...]]]]
#
# BUILD_DIR holds the libFuzzer binaries (configure with -DRE_FUZZ=ON and clang, as tools/test.sh does) [build-fuzz].
# Each target starts from its committed corpus tests/fuzz/corpus/<name>/ and runs until RUNS executions [10000000]
# or SECONDS seconds [7200], whichever comes first, with ASan+UBSan. Afterwards the inputs of the corpus it grew
# that add coverage beyond the committed seeds (-merge=1) join tests/fuzz/corpus/<name>/; the directory is replaced
# only when the merge succeeds. Crashers stop the campaign (exit 1) and are kept under BUILD_DIR/campaign/.
# TARGET names (e.g. image video_probe) restrict the campaign to those targets and append to the table.
# One markdown table row per target goes to BUILD_DIR/campaign/table.md (for docs/FUZZ.md): executions, seconds,
# executions per second, edge coverage ("cov") and features ("ft") at the end, corpus files before and after.
set -eu
B=${1:-build-fuzz}
RUNS=${2:-10000000}
SECS=${3:-7200}
[ $# -gt 3 ] && shift 3 || set --
OUT=$B/campaign
mkdir -p "$OUT"
[ $# -gt 0 ] || : >"$OUT/table.md"
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
fam=$(grep -m1 'cpu family' /proc/cpuinfo | sed 's/.*: //'); mod=$(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | sed 's/.*: //')
echo "CPU: $cpu (family $fam model $mod); runs $RUNS, at most $SECS s per target; $(date -u +%F)" >"$OUT/header.txt"
for f in "$B"/tests/fuzz_*_lf; do
  name=$(basename "$f" _lf); name=${name#fuzz_}
  if [ $# -gt 0 ]; then case " $* " in *" $name "*) ;; *) continue ;; esac; fi
  seed=tests/fuzz/corpus/$name
  work=$OUT/$name.work; rm -rf "$work"; mkdir -p "$work"
  cp "$seed"/* "$work"/ 2>/dev/null || true
  before=$(ls "$seed" 2>/dev/null | wc -l)
  echo "-- $name: from $before seed files"
  t0=$(date +%s)
  if ! "$f" -runs="$RUNS" -max_total_time="$SECS" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
       -artifact_prefix="$OUT/$name-" "$work" >"$OUT/$name.log" 2>&1; then
    tail -40 "$OUT/$name.log"
    echo "fuzz target $name FAILED (crasher under $OUT/)"
    exit 1
  fi
  t1=$(date +%s)
  runs=$(grep -oE 'stat::number_of_executed_(runs|units): *[0-9]*' "$OUT/$name.log" | grep -o '[0-9]*$' | tail -1)
  last=$(grep -E '^#[0-9]+.*cov: ' "$OUT/$name.log" | tail -1)
  cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p'); ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
  # the committed seeds stay (their names say what each one probes); of the grown corpus, only the inputs that add
  # coverage beyond them are merged in (-merge=1 into a copy, swapped in when the merge succeeds)
  min=$OUT/$name.min; rm -rf "$min"; mkdir -p "$min"
  cp "$seed"/* "$min"/ 2>/dev/null || true
  if "$f" -merge=1 -rss_limit_mb=2048 -max_len=65536 "$min" "$work" >"$OUT/$name.merge.log" 2>&1; then
    rm -rf "$seed"; mkdir -p "$seed"; cp "$min"/* "$seed"/
  else
    echo "merge failed for $name; corpus left as it was (see $OUT/$name.merge.log)"
  fi
  after=$(ls "$seed" | wc -l)
  secs=$((t1 - t0)); [ "$secs" -gt 0 ] || secs=1
  echo "| $name | $runs | $secs | $((runs / secs)) | $cov | $ft | $before | $after |" | tee -a "$OUT/table.md"
  rm -rf "$work" "$min"
done
echo "== campaign done: $OUT/table.md"
