#!/usr/bin/env bash
# CI's dry run of the .NET half of bench/run-gpu.sh, on the emulated device at tiny scale:
# build → generate (scale 0.0005) → check the files from Python (stdlib only) → every suite with
# GK_BENCH_JOB=dry → the report (tables + PNGs; --device "NVIDIA H200" exercises the roofline column).
# Checks that every table says "emulated, not a GPU figure". Ends with "bench-dry: N passed, N failed".
#   bash bench/run-dry.sh [OUT_DIR]        (default build/bench-dry)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/bench-dry}
rm -rf "$out"; mkdir -p "$out"
fail() { echo "bench-dry: $*" >&2; echo "bench-dry: 0 passed, 1 failed"; exit 1; }
start=$(date +%s)
dotnet build bench/GraphKernels.Bench -c Release -nologo -v quiet >"$out/build.log" 2>&1 || { tail -n 30 "$out/build.log"; fail "build of GraphKernels.Bench failed"; }
dotnet build bench/GraphKernels.BenchReport -c Release -nologo -v quiet >>"$out/build.log" 2>&1 || { tail -n 30 "$out/build.log"; fail "build of GraphKernels.BenchReport failed"; }
bench=bench/GraphKernels.Bench/bin/Release/net10.0/GraphKernels.Bench.dll
report=bench/GraphKernels.BenchReport/bin/Release/net10.0/GraphKernels.BenchReport.dll
dotnet "$bench" generate --out "$out/data" --scale 0.0005 --features 32 --presets arxiv,reddit2,molecular || fail "generate failed"
if command -v python3 >/dev/null 2>&1; then
  python3 bench/peers/gkbench.py check "$out/data" || fail "the Python reader rejected the generated files"
else
  fail "python3 not found: the format check of the peers' reader cannot run"
fi
GK_BENCH_DATA="$out/data" GK_BENCH_JOB=dry GK_BENCH_FEATURES=16 \
  dotnet "$bench" --filter '*' --artifacts "$out/bdn" >"$out/bdn.log" 2>&1 || { tail -n 60 "$out/bdn.log"; fail "the suites failed on the emulated device"; }
grep -q 'emulated, not a GPU figure' "$out/bdn.log" || fail "the BenchmarkDotNet tables do not say 'emulated, not a GPU figure'"
dotnet "$report" report --results "$out/bdn" --out "$out/report" --data "$out/data" --device "NVIDIA H200" || fail "report failed"
for f in index.md spmm.md spmm.png overhead.md; do [ -s "$out/report/$f" ] || fail "report/$f missing"; done
grep -q 'mulated, not a GPU figure' "$out/report/spmm.md" || fail "report/spmm.md does not say 'emulated, not a GPU figure'"
echo "bench-dry: report in $out/report ($(( $(date +%s) - start )) s)"
echo "bench-dry: 1 passed, 0 failed"
