#!/usr/bin/env bash
# The side-by-side benchmark run on a GPU machine: one command.
#
# Here (once, on the machine with the .NET SDK; the CUDA library must be built: `dotnet test` does it):
#   bash ../shared/gpu/bundle.sh bench/GraphKernels.Bench bench/GraphKernels.BenchReport
# On the GPU machine (carry .gpu), from the repo root:
#   bash bench/run-gpu.sh [--scale 1] [--features 32,128] [--datasets arxiv,reddit,reddit2,products,molecular]
#                         [--phase all|generate|ours|peers|report] [--out DIR]
# Steps: generate the shared inputs (bench/FORMAT.md) → check them from Python → our suites
# (BenchmarkDotNet; GK_BENCH_REQUIRE_GPU=1, so an emulated run fails) → the peers (PyTorch, PyG) →
# the report (one markdown table and one PNG per family, with the roofline floor). Output:
# $OUT/<date>-<device>/ (or --out), ready to copy to bench/results/<date>-<device>/ with meta.txt
# (device, driver, CUDA, versions, this exact command). Exits non-zero if any step or peer failed.
# --phase splits the run over several commands (the data and output folders are reused).
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -z "${GK_IN_GPU_RUN:-}" ] && ! command -v dotnet >/dev/null 2>&1 && [ -f .gpu/run.sh ]; then
  GK_IN_GPU_RUN=1 exec bash .gpu/run.sh bash "$0" "$@"   # sets up the bundled .NET runtime
fi
export GK_IN_GPU_RUN=1
command_line="bash bench/run-gpu.sh $*"
scale=1; features=32,128; datasets=arxiv,reddit,reddit2,products,molecular; phase=all; out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) scale=$2; shift 2;;
    --features) features=$2; shift 2;;
    --datasets) datasets=$2; shift 2;;
    --phase) phase=$2; shift 2;;
    --out) out=$2; shift 2;;
    *) echo "run-gpu.sh: unknown argument $1" >&2; exit 2;;
  esac
done
app=${GK_BENCH_APP:-.gpu/app}
bench_dll="$app/GraphKernels.Bench/GraphKernels.Bench.dll"
report_dll="$app/GraphKernels.BenchReport/GraphKernels.BenchReport.dll"
[ -f "$bench_dll" ] || { echo "run-gpu.sh: $bench_dll missing: run bash ../shared/gpu/bundle.sh bench/GraphKernels.Bench bench/GraphKernels.BenchReport first" >&2; exit 2; }
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
[ -n "$gpu" ] || { echo "run-gpu.sh: nvidia-smi shows no GPU: nothing to measure" >&2; exit 2; }
slug=$(echo "$gpu" | sed 's/^NVIDIA //; s/[^A-Za-z0-9]\+/-/g; s/-$//' | tr 'A-Z' 'a-z')
out=${out:-${OUT:-bench/out}/$(date -u +%Y-%m-%d)-$slug}
data=${GK_BENCH_DATA:-/tmp/gk-bench-data/scale-$scale}
fmax=$(echo "$features" | tr ',' '\n' | sort -n | tail -n 1)
mkdir -p "$out"
failed=()
step() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)"; }
want() { [ "$phase" = all ] || [ "$phase" = "$1" ]; }

if want generate || [ ! -f "$out/meta.txt" ]; then
  {
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "command: $command_line"
    echo "commit: $(git rev-parse HEAD 2>/dev/null || echo 'not a git checkout')"
    echo "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.memory --format=csv,noheader 2>/dev/null)"
    echo "cuda (driver): $(nvidia-smi 2>/dev/null | grep -o 'CUDA Version: [0-9.]*' | head -n 1)"
    echo "nvcc: $(nvcc --version 2>/dev/null | tail -n 1 || echo none)"
    echo "dotnet: $(dotnet --list-runtimes 2>/dev/null | head -n 1)"
    echo "python: $(python3 -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 | tail -n 1)"
    echo "torch_geometric: $(python3 -c 'import torch_geometric as g; print(g.__version__)' 2>&1 | tail -n 1)"
    echo "scale: $scale   features: $features   datasets: $datasets   data: $data"
  } > "$out/meta.txt"
  cat "$out/meta.txt"
fi

if want generate; then
  step "generate the shared inputs (scale $scale, F up to $fmax) into $data"
  if [ -f "$data/manifest.json" ] && grep -q "\"features\": $fmax" "$data/manifest.json"; then
    echo "reusing $data"
  else
    dotnet "$bench_dll" generate --out "$data" --scale "$scale" --features "$fmax" --presets "$datasets" || failed+=(generate)
  fi
  python3 bench/peers/gkbench.py check "$data" || failed+=(format-check)
fi

if want ours; then
  step "our suites (BenchmarkDotNet)"
  GK_BENCH_REQUIRE_GPU=1 GK_BENCH_DATA="$data" GK_BENCH_FEATURES="$features" GK_BENCH_DATASETS="$datasets" \
    dotnet "$bench_dll" --filter '*' --artifacts "$out/bdn" 2>&1 | tee "$out/bdn.log"
  [ "${PIPESTATUS[0]}" = 0 ] || failed+=(ours)
  grep -q '"emulated": false' "$out"/bdn/results/*SpmmBenchmark-report-gk.json 2>/dev/null || failed+=(ours-not-on-gpu)
fi

if want peers; then
  for peer in spmm_peers forcestress_peer quant_peer; do
    step "peer: $peer"
    python3 "bench/peers/$peer.py" --data "$data" --out "$out/peers" --features "$features" --datasets "$datasets" 2>&1 | tee "$out/$peer.log"
    [ "${PIPESTATUS[0]}" = 0 ] || failed+=("$peer")
  done
fi

if want report; then
  step "report"
  if [ -f "$report_dll" ]; then
    dotnet "$report_dll" report --results "$out" --out "$out/report" --data "$data" --device "$gpu" || failed+=(report)
  else
    echo "GraphKernels.BenchReport is not bundled: run on the development machine:"
    echo "  dotnet run -c Release --project bench/GraphKernels.BenchReport -- report --results $out --out $out/report --device \"$gpu\""
  fi
fi

step "summary"
echo "output: $out"
if [ ${#failed[@]} -gt 0 ]; then
  echo "run-gpu.sh: FAILED steps: ${failed[*]}"
  exit 1
fi
echo "run-gpu.sh: every step passed"
