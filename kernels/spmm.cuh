// CSR SpMM: Y[v, f] = reduce_{e in row v} message(X[col[e], f], w[e]).
//
// Work split. A *group* of G lanes (G = 1, 2, 4, 8, 16 or 32, a power of two chosen by the
// launcher as the smallest that covers F / V lanes) owns one destination row at a time; a warp
// holds 32 / G groups, so narrow features put several rows in one warp and wide features give a
// row the whole warp. Each lane owns V consecutive features (V = 4, 2 or 1 floats: 16-, 8- or
// 4-byte vector loads, chosen by the launcher from the alignment of X, Y and the leading
// dimensions) and walks the row's edges G at a time: lane j loads col[e0 + j] and w[e0 + j] (one
// coalesced load per group), then the group broadcasts them with __shfl_sync (width G), so every
// lane reads each index once per G edges rather than once per edge. Rows are distributed over
// groups with a grid-stride loop; a block is 256 threads = 8 warps = 256 / G rows per sweep.
// Features beyond G * V are covered by further passes over the row (the indices come from L1/L2
// the second time). All lanes of a group run the same trip counts, so the group's shuffles are
// always complete; lanes whose features fall past F only skip the loads and stores.
//
// Bytes per output element: deg * (4 B of X + (sizeof(I) + 4 B) / (G * V) of index and weight)
// read, 4 B of Y written (+ sizeof(I) of arg for max/min with arg output). X rows of a power-law
// graph are reused across rows through L2; there is no shared memory and no atomics.
//
// Reduction order: each output element is owned by exactly one lane, which folds the messages in
// CSR order (position start, start + 1, ..., end - 1) in fp32. So the result is deterministic and
// bitwise reproducible run to run. Mean divides the fp32 sum by the degree once at the end. Max
// and min keep the first extreme in CSR order (ties go to the lowest position); a NaN message wins
// over any number and the first NaN is kept (NaN propagates, with its position as arg). Empty rows
// give 0 (and arg -1) for every reducer.
//
// Registers (ptxas 11.8, -Xptxas -v): 32-45 per thread, no spills, on sm_80 and sm_90. There is
// deliberately no __launch_bounds__(256): with it, ptxas spilled 8-32 bytes in the int64 max/min
// variants for sm_90 while using fewer registers than without it.
#ifndef GK_SPMM_CUH
#define GK_SPMM_CUH

#include "common/gk_device.cuh"

namespace gk {

enum SpmmMessage { kCopyU = 0, kUMulE = 1 };                     // = gk_message
enum SpmmReduce { kSum = 0, kMean = 1, kMax = 2, kMin = 3 };     // = gk_reduce

constexpr int kSpmmBlockThreads = 256;

template <typename I, int MSG, int RED, int V>
__global__ void
spmm_kernel(const I* __restrict__ row_ptr, const I* __restrict__ col_idx,
            const float* __restrict__ edge_weight, const float* __restrict__ x, int64_t ldx,
            float* __restrict__ y, int64_t ldy, I* __restrict__ arg, int64_t ld_arg,
            int64_t num_rows, int64_t feat, int group_log2) {
    const int group = 1 << group_log2;
    const int lane = static_cast<int>(threadIdx.x) & (kWarpSize - 1);
    const int glane = lane & (group - 1);
    const unsigned mask =
        group == kWarpSize ? kFullMask : (((1u << group) - 1u) << (lane & ~(group - 1)));
    const int64_t groups_per_grid =
        (static_cast<int64_t>(gridDim.x) * blockDim.x) >> group_log2;
    const int64_t first_group =
        (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> group_log2;
    constexpr bool kExtreme = RED == kMax || RED == kMin;

    for (int64_t row = first_group; row < num_rows; row += groups_per_grid) {
        const int64_t start = static_cast<int64_t>(row_ptr[row]);
        const int64_t end = static_cast<int64_t>(row_ptr[row + 1]);

        for (int64_t fbase = 0; fbase < feat; fbase += static_cast<int64_t>(group) * V) {
            const int64_t f0 = fbase + static_cast<int64_t>(glane) * V;
            const bool active = f0 < feat;  // feat % V == 0, so a lane is wholly in or out
            float acc[V];
            I best_pos[V];
#pragma unroll
            for (int k = 0; k < V; ++k) {
                acc[k] = 0.0f;
                best_pos[k] = static_cast<I>(-1);
            }

            for (int64_t e0 = start; e0 < end; e0 += group) {
                const int64_t my_e = e0 + glane;
                I my_col = 0;
                float my_w = 1.0f;
                if (my_e < end) {
                    my_col = __ldg(col_idx + my_e);
                    if (MSG == kUMulE) my_w = __ldg(edge_weight + my_e);
                }
                const int64_t rem = end - e0;
                const int n = rem < group ? static_cast<int>(rem) : group;
                for (int j = 0; j < n; ++j) {
                    const I c = __shfl_sync(mask, my_col, j, group);
                    float wt = 1.0f;
                    if (MSG == kUMulE) wt = __shfl_sync(mask, my_w, j, group);
                    if (!active) continue;
                    FloatVec<V> xv;
                    xv.load(x + offset2d(static_cast<int64_t>(c), ldx, f0));
#pragma unroll
                    for (int k = 0; k < V; ++k) {
                        const float m = MSG == kUMulE ? xv.v[k] * wt : xv.v[k];
                        if (RED == kSum || RED == kMean) {
                            acc[k] += m;
                        } else {
                            // First extreme in CSR order wins; a NaN beats any number; the
                            // first NaN is final.
                            const bool better = RED == kMax ? (m > acc[k]) : (m < acc[k]);
                            if (best_pos[k] < 0 || (!is_nan(acc[k]) && (is_nan(m) || better))) {
                                acc[k] = m;
                                best_pos[k] = static_cast<I>(e0 + j);
                            }
                        }
                    }
                }
            }

            if (!active) continue;
            FloatVec<V> out;
            const int64_t deg = end - start;
#pragma unroll
            for (int k = 0; k < V; ++k) {
                float r = acc[k];
                if (RED == kMean) r = deg > 0 ? r / static_cast<float>(deg) : 0.0f;
                if (kExtreme && deg == 0) r = 0.0f;
                out.v[k] = r;
            }
            out.store(y + offset2d(row, ldy, f0));
            if (kExtreme && arg != nullptr) {
                I* a = arg + offset2d(row, ld_arg, f0);
#pragma unroll
                for (int k = 0; k < V; ++k) a[k] = best_pos[k];
            }
        }
    }
}

}  // namespace gk

#endif  // GK_SPMM_CUH
