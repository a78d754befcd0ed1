#!/usr/bin/env bash
# Packs what bench/run-gpu.sh needs on a GPU machine, under the 64 MiB carry limit:
# ../shared/gpu/bundle.sh of GraphKernels.Bench (the .NET runtime + the suites), with the CUDA
# library replaced by an sm_90-only build of the same sources and flags (the shipped 4-arch fatbin is
# ≈24 MB, too much next to the runtime and BenchmarkDotNet). The report runs here afterwards:
#   dotnet run -c Release --project bench/GraphKernels.BenchReport -- report --results RUN --out RUN/report
# Usage: bash bench/gpu-bundle.sh [--with-report]   (then carry .gpu; see bench/README.md)
set -euo pipefail
cd "$(dirname "$0")/.."
projects=(bench/GraphKernels.Bench)
[ "${1:-}" = "--with-report" ] && projects+=(bench/GraphKernels.BenchReport)
bash ../shared/gpu/bundle.sh "${projects[@]}"
out=build/cuda-sm90
mkdir -p "$out"
ccbin=(); [ -x /usr/bin/clang++-14 ] && ccbin=(-ccbin /usr/bin/clang++-14)
# The flags of the graphkernels target in CMakeLists.txt, for sm_90 only.
nvcc "${ccbin[@]}" -shared -O3 -std=c++17 --expt-relaxed-constexpr -lineinfo -Xptxas=-v \
  -gencode arch=compute_90,code=sm_90 -Xcompiler -fPIC,-fvisibility=hidden,-fvisibility-inlines-hidden \
  -DGK_BUILDING_LIBRARY=1 -Inative/include -Inative/src -Ikernels -cudart static \
  native/src/*.cu native/src/api.cpp -o "$out/libgraphkernels.so" 2>"$out/ptxas.log"
cp "$out/libgraphkernels.so" .gpu/app/GraphKernels.Bench/libgraphkernels.so
rm -f .gpu/app/GraphKernels.Bench/libgraphkernels_emulated.so.dbg
total=$(du -sm --exclude=.git --exclude=build --exclude=bin --exclude=obj --exclude='bench/data' . | cut -f1)
echo "carry size ≈ ${total} MiB (working tree + .gpu; the limit is 64)"
[ "$total" -lt 64 ] || { echo "gpu-bundle.sh: over the 64 MiB carry limit" >&2; exit 1; }
