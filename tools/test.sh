#!/bin/sh
# test.sh - the project's test command (README "Run the tests"): installs the Debian packages, builds, runs every
# test, then rebuilds with AddressSanitizer + UndefinedBehaviorSanitizer and runs the fast tests again, then gives
# each libFuzzer target a short run with clang. Exits non-zero on any failure.
#   tools/test.sh                 everything (what CI runs)
#   RE_TEST_QUICK=1 tools/test.sh only the Release build + ctest
#   RE_FUZZ_SECONDS=N             seconds per fuzz target [20]
set -eu
cd "$(dirname "$0")/.."
sh tools/install-deps.sh --torch --browser
JOBS=$(nproc)

echo "== Release build + all tests"
# RE_BUILD_TESTS=ON explicitly: tools/demo.sh configures the same build/ with tests off, and the cache keeps that
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DRE_BUILD_TESTS=ON >/dev/null
cmake --build build -j"$JOBS"
ctest --test-dir build --output-on-failure --no-tests=error -j"$JOBS"

[ "${RE_TEST_QUICK:-0}" = 1 ] && exit 0

echo "== ASan + UBSan build, tests labelled unit/ref/grad/fuzz/cli (slow ones excluded)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRE_SANITIZE=ON -DRE_BUILD_TESTS=ON -DRE_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j"$JOBS"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure --no-tests=error -j"$JOBS" -LE slow

echo "== libFuzzer pass (${RE_FUZZ_SECONDS:-20} s per target)"
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRE_FUZZ=ON -DRE_BUILD_BENCH=OFF \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build build-fuzz -j"$JOBS"
for f in build-fuzz/tests/fuzz_*_lf; do
  name=$(basename "$f" _lf); name=${name#fuzz_}
  work=$(mktemp -d)
  cp tests/fuzz/corpus/"$name"/* "$work"/ 2>/dev/null || true
  echo "-- $name"
  if ! "$f" -max_total_time="${RE_FUZZ_SECONDS:-20}" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
       -artifact_prefix=build-fuzz/ "$work" >build-fuzz/"$name".log 2>&1; then
    tail -40 build-fuzz/"$name".log
    echo "fuzz target $name FAILED (crasher saved under build-fuzz/)"
    exit 1
  fi
  grep -E 'stat::number_of_executed_runs|cov:' build-fuzz/"$name".log | tail -2
  rm -rf "$work"
done
echo "== all tests passed"
