#!/usr/bin/env bash
# The managed test suite (NUnit) against an AddressSanitizer + UBSan build of the emulated library.
#
#   tests/run-managed-asan.sh [extra dotnet test args...]
#
# 1. builds libgraphkernels_emulated with -DGK_SANITIZE=address (-fsanitize=address,undefined
#    -fno-sanitize-recover=undefined, gcc's runtimes) into build/asan-managed/lib;
# 2. builds the test project normally (no sanitizer runtime in MSBuild itself);
# 3. runs `dotnet test --no-build` over everything that loads the emulated library (not the
#    NativeBuild/Nvrtc/Gpu categories), with the sanitizer runtimes preloaded into the test host
#    only (`dotnet test -e`), GRAPHKERNELS_NATIVE_DIR=build/asan-managed/lib (searched first by
#    the managed loader), and ASAN_OPTIONS a .NET host can live with (see docs/reliability.md).
# Passes iff every test passes, the loaded library really is the instrumented one (checked by
# the first test run, below), and no "AddressSanitizer"/"runtime error" line appears anywhere.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build="$root/build/asan-managed"
out="${ASAN_MANAGED_OUT:-$build/out}"
mkdir -p "$out"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

echo "=== building libgraphkernels_emulated with GK_SANITIZE=address in $build"
if ! cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGK_BUILD_CUDA=OFF \
       -DGK_BUILD_TESTS=OFF -DGK_SANITIZE=address >"$out/cmake.log" 2>&1 \
   || ! cmake --build "$build" --target graphkernels_emulated -j 2 >>"$out/cmake.log" 2>&1; then
  tail -n 40 "$out/cmake.log"; echo "run-managed-asan: native build failed"; exit 1
fi
lib="$build/lib/libgraphkernels_emulated.so"
# The runtimes the library was linked against (gcc's, as CMake's default compiler is gcc).
asan_rt=$(ldd "$lib" | awk '/libasan\.so/ {print $3}')
ubsan_rt=$(ldd "$lib" | awk '/libubsan\.so/ {print $3}')
[ -n "$asan_rt" ] || { echo "run-managed-asan: $lib is not linked against libasan"; exit 1; }
echo "ASan runtime: $asan_rt   UBSan runtime: ${ubsan_rt:-<none>}"

echo "=== building the test project"
dotnet build "$root/tests/GraphKernels.Tests" -c Release -v q -nologo >"$out/build.log" 2>&1 \
  || { tail -n 40 "$out/build.log"; echo "run-managed-asan: dotnet build failed"; exit 1; }

# handle_segv=0 / allow_user_segv_handler=1: the CLR turns SIGSEGV in managed code into
#   NullReferenceException through its own handler; ASan must not take the signal over.
# detect_leaks=1 with tests/lsan-dotnet.supp and malloc_context_size=4: LeakSanitizer runs when
#   the test host exits; the CLR's own never-freed allocations (made inside libcoreclr/libclrjit/
#   the host libraries) are suppressed, everything else (the emulated library, NativeMemory device
#   buffers never disposed) is reported. The canary below proves the suppressions hide nothing else.
# verify_asan_link_order=0: the host (dotnet) is not instrumented; the runtime is preloaded.
# abort_on_error=1 + halt_on_error: any report kills the test host, which fails the run.
asan_opts="handle_segv=0:allow_user_segv_handler=1:detect_leaks=${ASAN_MANAGED_LEAKS:-1}:malloc_context_size=4:verify_asan_link_order=0:abort_on_error=1:halt_on_error=1:detect_stack_use_after_return=0:print_summary=1:log_path=$out/asan"
lsan_opts="suppressions=$root/tests/lsan-dotnet.supp:print_suppressions=0"

# LSan canary: a library that leaks 4242 bytes when loaded, preloaded into a .NET host with exactly
# these options and suppressions, must be reported (else the leak check would be vacuous).
echo "=== LeakSanitizer canary in a .NET host"
printf '#include <stdlib.h>\nvoid* volatile gk_lsan_sink;\n__attribute__((noinline)) void gk_lsan_canary_leak(void) { gk_lsan_sink = malloc(4242); gk_lsan_sink = 0; }\n__attribute__((constructor)) static void gk_lsan_canary(void) { gk_lsan_canary_leak(); }\n' >"$out/lsan_canary.c"
rm -f "$out"/canary.*
if [ "${ASAN_MANAGED_LEAKS:-1}" != 0 ]; then
  gcc -shared -fPIC -O0 -g "$out/lsan_canary.c" -o "$out/liblsan_canary.so" || { echo "run-managed-asan: canary build failed"; exit 1; }
  # (the host aborts on the expected report: abort_on_error=1; the subshell keeps bash's notice quiet)
  ( LD_PRELOAD="$asan_rt $out/liblsan_canary.so" ASAN_OPTIONS="${asan_opts/log_path=$out\/asan/log_path=$out/canary}" \
    LSAN_OPTIONS="$lsan_opts" dotnet --version >/dev/null 2>&1; true ) 2>/dev/null
  if cat "$out"/canary.* 2>/dev/null | grep -q 'ERROR: LeakSanitizer' && cat "$out"/canary.* | grep -q '4242 byte' \
     && ! cat "$out"/canary.* | grep -q 'libcoreclr'; then
    echo "canary: LeakSanitizer reported the 4242-byte leak and nothing of the CLR (suppressions hold)"
  else
    echo "run-managed-asan: the LSan canary was not reported as expected:"; cat "$out"/canary.* 2>/dev/null | head -n 40; exit 1
  fi
fi
ubsan_opts="print_stacktrace=1:halt_on_error=1:log_path=$out/ubsan"
rm -f "$out"/asan.* "$out"/ubsan.*
# Large is left out by default: its 8.6 GB output plus ASan shadow and the slower instrumented
# kernel do not fit the CI time; it runs in the plain suite. ASAN_MANAGED_FILTER overrides.
filter="${ASAN_MANAGED_FILTER:-TestCategory!=NativeBuild&TestCategory!=Nvrtc&TestCategory!=Gpu&TestCategory!=Large}"

echo "=== dotnet test under ASan+UBSan (filter: $filter)"
dotnet test "$root/tests/GraphKernels.Tests" -c Release --no-build \
  --filter "$filter" \
  -e "LD_PRELOAD=$asan_rt${ubsan_rt:+ $ubsan_rt}" \
  -e "ASAN_OPTIONS=$asan_opts" -e "UBSAN_OPTIONS=$ubsan_opts" -e "LSAN_OPTIONS=$lsan_opts" \
  -e "GRAPHKERNELS_NATIVE_DIR=$build/lib" \
  -e "GK_EXPECT_SANITIZED_LIBRARY=$lib" \
  --logger "trx;LogFileName=asan.trx" --results-directory "$out/trx" "$@" 2>&1 | tee "$out/dotnet-test.log"
rc=${PIPESTATUS[0]}

reports=$(cat "$out"/asan.* "$out"/ubsan.* 2>/dev/null | grep -Ec 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' || true)
inlog=$(grep -Ec 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$out/dotnet-test.log" || true)
if [ "$reports" != 0 ] || [ "$inlog" != 0 ]; then
  echo "run-managed-asan: sanitizer reports:"; cat "$out"/asan.* "$out"/ubsan.* 2>/dev/null | head -n 80
  rc=1
fi
echo "run-managed-asan: dotnet test exit $rc, sanitizer reports: $((reports + inlog))"
exit $rc
