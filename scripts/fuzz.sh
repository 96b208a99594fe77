#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang, ASan and UBSan in
# build-fuzz/, then runs every target for SECONDS (default 30), JOBS at a time
# (default 2), starting from its seed corpus in fuzz/corpus/<target>/.
# Exits non-zero if any target crashes, leaks, times out or breaks an
# invariant; the input that did it is left in build-fuzz/fuzz-work/<target>/.
#
#   scripts/fuzz.sh [SECONDS]          env: FUZZ_JOBS, FUZZ_BUILD_DIR, FUZZ_TARGETS
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-${FUZZ_SECONDS:-30}}
JOBS=${FUZZ_JOBS:-2}
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
start=$(date +%s)

mkdir -p "$BUILD"
CC=clang-14 CXX=clang++-14 cmake -S . -B "$BUILD" -DGNOMON_FUZZ=ON -DGNOMON_BUILD_TESTS=OFF \
  -DGNOMON_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo ${GNOMON_CMAKE_ARGS:-} >"$BUILD/configure.log" 2>&1 ||
  { cat "$BUILD/configure.log"; exit 1; }
cmake --build "$BUILD" --target fuzz_all -j"$JOBS"
built=$(date +%s)

targets=${FUZZ_TARGETS:-$(cd fuzz && ls fuzz_*.cpp | sed 's/\.cpp$//')}
work="$BUILD/fuzz-work"
rm -rf "$work"
mkdir -p "$work"

run_one() {
  local t=$1 dir="$work/$1"
  mkdir -p "$dir/corpus"
  local seeds="fuzz/corpus/$t"
  [ -d "$seeds" ] || seeds=""
  # New inputs go to $dir/corpus; the committed seeds are only read.
  if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     "$BUILD/fuzz/$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$dir/" "$dir/corpus" $seeds >"$dir/log" 2>&1; then
    local runs rate
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -1)
    printf 'fuzz: %-20s ok   %10s runs %8s exec/s\n' "$t" "${runs:-?}" "${rate:-?}"
  else
    printf 'fuzz: %-20s FAILED (log and crashing input in %s)\n' "$t" "$dir"
    grep -E "ERROR|invariant failed|SUMMARY|Test unit written" "$dir/log" | head -20
    return 1
  fi
}
export -f run_one
export BUILD SECS work

status=0
printf '%s\n' $targets | xargs -P "$JOBS" -I{} bash -c 'run_one {}' || status=1
echo "fuzz: build $((built - start)) s, runs $(( $(date +%s) - built )) s ($(echo $targets | wc -w) targets x ${SECS} s, ${JOBS} at a time)"
exit $status
