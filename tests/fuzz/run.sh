#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang++-14, -fsanitize=fuzzer,address,undefined) and runs each
# for a bounded time from the seed corpus in tests/fuzz/corpus/<harness>/.
#   FUZZ_SECONDS   seconds per harness (default 60)
#   FUZZ_BUILD     build folder (default build/fuzz)
#   CXX            clang++ to use (default clang++-14)
# Prints "<harness>: N executions in S s, 0 crashes" per harness; exits nonzero on a build failure,
# any crash, sanitizer report, leak, timeout or property failure (the crashing input is kept in
# $FUZZ_BUILD/artifacts/<harness>/ for replay: build/fuzz/fuzz/<harness> <file>).
# New corpus units go to $FUZZ_BUILD/work/<harness>/; the committed corpus is only read.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
seconds=${FUZZ_SECONDS:-60}
build=${FUZZ_BUILD:-$root/build/fuzz}
cxx=${CXX:-clang++-14}
cc=${CC:-clang-14}
command -v "$cxx" >/dev/null || { echo "run.sh: $cxx not found (apt-get install clang-14 libclang-rt-14-dev)"; exit 2; }

echo "=== building fuzzers in $build"
if ! cmake -S "$root/tests/fuzz" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" \
       -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build.cmake.log" 2>&1 \
   || ! cmake --build "$build" -j "${FUZZ_JOBS:-2}" >>"$build.cmake.log" 2>&1; then
  tail -n 40 "$build.cmake.log"; echo "run.sh: fuzzer build failed"; exit 1
fi

# ASan: leaks are reported (libFuzzer runs LSan after each input that grew the heap);
# UBSan: every report aborts (-fno-sanitize-recover in the build, halt_on_error here).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
total_execs=0
for bin in "$build"/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  work="$build/work/$name"; art="$build/artifacts/$name"
  mkdir -p "$work" "$art"
  seeds="$root/tests/fuzz/corpus/$name"; [ -d "$seeds" ] || seeds=""
  log="$build/$name.log"
  "$bin" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
         -artifact_prefix="$art/" "$work" $seeds >"$log" 2>&1
  rc=$?
  execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -n 1)
  crashes=$(find "$art" -type f | wc -l)
  reports=$(grep -Ec 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|FUZZ PROPERTY FAILED' "$log" || true)
  echo "$name: ${execs:-0} executions in ${seconds} s, exit $rc, $crashes crash files, $reports reports"
  total_execs=$((total_execs + ${execs:-0}))
  if [ "$rc" != 0 ] || [ "$crashes" != 0 ] || [ "$reports" != 0 ]; then
    status=1
    grep -E -A 30 'ERROR:|runtime error:|FUZZ PROPERTY FAILED' "$log" | head -n 60
    echo "replay: $bin $art/<file>"
  fi
done
echo "fuzzing: $total_execs executions in total, $( [ $status = 0 ] && echo "0 crashes" || echo "FAILURES")"
exit $status
