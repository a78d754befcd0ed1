#!/usr/bin/env bash
# Proves the harnesses can fail: builds them against a copy of native/ and kernels/ with one
# deliberately injected bug at a time (GK_FUZZ_SOURCE_ROOT), runs the harness that should catch
# it, and expects a reported failure within MUTANT_SECONDS (default 120). The checkout itself is
# never modified. Exit 0 iff every mutant was caught.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
seconds=${MUTANT_SECONDS:-120}
tmp=${MUTANT_DIR:-$root/build/fuzz-mutants}
mkdir -p "$tmp"
rm -rf "$tmp/src"; mkdir -p "$tmp/src"
# cp -p keeps timestamps, so only the mutated file (and the one restored from the previous
# mutant, touched below) is recompiled between mutants.
cp -rp "$root/native" "$root/kernels" "$tmp/src/"
prev=""

# name | harness | file (relative) | sed expression
mutants=(
  "rowptr_last_unchecked|fuzz_csr_validate|kernels/csr.cuh|s/if (t == num_rows) bad = bad || v != nnz;/\/\/ mutant/"
  "colidx_upper_bound_off_by_one|fuzz_csr_validate|kernels/csr.cuh|s/c >= num_cols/c > num_cols/"
  "max_ties_go_to_last|fuzz_spmm|kernels/spmm.cuh|s/(m > acc\[k\])/(m >= acc[k])/"
  "mean_divides_by_deg_plus_one|fuzz_spmm|kernels/spmm.cuh|s/r \/ static_cast<float>(deg)/r \/ static_cast<float>(deg + 1)/"
  "ld_below_width_accepted|fuzz_spmm|native/src/validate.h|s/if (ld < width)/if (ld < width \&\& false)/"
  "overlap_unchecked|fuzz_spmm|native/src/spmm.cu|s/if (gk::overlaps(y, y_bytes, x,/if (false \&\& gk::overlaps(y, y_bytes, x,/"
  "quant_packed_overrun|fuzz_quant_plan|kernels/quantization.cuh|s/for (int w = lane; w < p.words_per_block; w += kWarpSize)/for (int w = lane; w <= p.words_per_block; w += kWarpSize)/"
  "quant_block_multiple_unchecked|fuzz_quant_plan|native/src/quantization.cu|s/ r.block % 32 != 0)/ false)/"
  "fs_gpa_factor_off|fuzz_force_stress|native/src/force_stress.cu|s/kEvPerA3InGpa = 160.21766208/kEvPerA3InGpa = 160.2/"
  "fs_dst_perm_duplicates_accepted|fuzz_force_stress|kernels/force_stress.cuh|s/a.dst_perm\[t - 1\]) < pe;/a.dst_perm[t - 1]) <= pe;/"
  "gspmm_chunk_combine_drops_last_item|fuzz_spmm_ex|kernels/spmm_g.cuh|s/for (int64_t it = i0; it < i1; ++it)/for (int64_t it = i0; it + 1 < i1; ++it)/"
  "gspmm_div_edge_grad_missing_division|fuzz_spmm_ex|kernels/spmm_g.cuh|s/return -((c \* xv) \/ e) \/ e;/return -((c * xv) \/ e);/"
  "coo_sort_skips_last_swap|fuzz_edge_ops|kernels/edge_ops.cuh|s/for (int64_t k = n - 1; k > 0; --k) {/for (int64_t k = n - 1; k > 1; --k) {/"
  "nl_cutoff_inclusive|fuzz_neighbor_list|kernels/neighbor_list.cuh|s/    return r2 < rc2;/    return r2 <= rc2;/"
)
# Only some mutants: MUTANTS="name1 name2" (default: all).
if [ -n "${MUTANTS:-}" ]; then
  keep=()
  for m in "${mutants[@]}"; do case " $MUTANTS " in *" ${m%%|*} "*) keep+=("$m");; esac; done
  mutants=("${keep[@]}")
fi

caught=0; missed=0
for m in "${mutants[@]}"; do
  IFS='|' read -r name harness file expr <<<"$m"
  rm -rf "$tmp/src/native" "$tmp/src/kernels"
  cp -rp "$root/native" "$root/kernels" "$tmp/src/"
  [ -n "$prev" ] && touch "$tmp/src/$prev"
  sed -i "$expr" "$tmp/src/$file"
  prev=$file
  if cmp -s "$root/$file" "$tmp/src/$file"; then echo "$name: the mutation did not apply to $file"; missed=$((missed + 1)); continue; fi
  if ! cmake -S "$root/tests/fuzz" -B "$tmp/build" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14 \
         -DGK_FUZZ_SOURCE_ROOT="$tmp/src" >"$tmp/$name.build.log" 2>&1 \
     || ! cmake --build "$tmp/build" --target "$harness" -j 2 >>"$tmp/$name.build.log" 2>&1; then
    echo "$name: build failed (see $tmp/$name.build.log)"; missed=$((missed + 1)); continue
  fi
  rm -rf "$tmp/work" "$tmp/art"; mkdir -p "$tmp/work" "$tmp/art"
  ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=0 \
    "$tmp/build/fuzz/$harness" -max_total_time="$seconds" -artifact_prefix="$tmp/art/" \
    "$tmp/work" "$root/tests/fuzz/corpus/$harness" >"$tmp/$name.log" 2>&1
  rc=$?
  execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+|^#[0-9]+' "$tmp/$name.log" | tail -n 1 | grep -Eo '[0-9]+')
  if [ "$rc" != 0 ] && grep -q 'FUZZ PROPERTY FAILED\|ERROR: AddressSanitizer\|runtime error' "$tmp/$name.log"; then
    why=$(grep -m1 -A1 'FUZZ PROPERTY FAILED\|ERROR: AddressSanitizer\|runtime error' "$tmp/$name.log" | tail -n 1 | sed 's/^ *//')
    echo "$name: CAUGHT by $harness after ~${execs:-?} executions: $why"; caught=$((caught + 1))
  else
    echo "$name: NOT caught by $harness in $seconds s (exit $rc)"; missed=$((missed + 1))
  fi
done
echo "mutants: $caught caught, $missed not caught"
[ "$missed" = 0 ]
