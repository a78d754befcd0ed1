// Fused message passing: Y[v, f] = reduce_{e in row v} MSG(src = X_src[col[e], :],
//                                                        dst = X_dst[v, :], edge = E[e, :], f)
// in ONE gather-apply-scatter kernel: the per-edge message is computed in registers and folded
// into the destination's accumulator at once; no [E, F] message tensor ever exists in memory.
//
// MSG is a type with one static member
//     static float apply(const float* src, const float* dst, const float* edge, int64_t f);
// src / dst point at the source / destination node's feature row, edge at the edge's row (CSR
// position e), f is the feature index. The built-ins below are instantiated ahead of time by
// native/src/fused_message.cu; user-defined message functions are generated as such a struct by
// managed/GraphKernels/FusedMessage.cs and compiled with NVRTC (docs/jit.md).
//
// Work split. A group of G lanes owns one destination row at a time (grid-stride over rows); a
// 256-thread block holds 256 / G groups. G = 32 (a warp) except for a fixed feature width F < 32,
// where G is the smallest power of two >= F, so narrow features put several rows in one warp. Each
// lane owns P features of a pass, strided by G (lane j: f = fbase + j, fbase + G + j, ...), so the
// G lanes read consecutive floats of each source row (coalesced). F = 0 is the generic kernel
// (feature width at run time, P = 4, passes of 128 features); F > 0 is the same code with F a
// template constant: P = ceil(F / G), one pass over the row's edges, fully unrolled.
// No shared memory, no shuffles, no atomics: every lane reads col[e] itself (a broadcast load
// served by L1), which keeps the group's lanes independent.
//
// Bytes per output element: deg * (4 B of src + the message's dst/edge reads, 4 B each when used
// per feature, + sizeof(I) / (G * P) of index) read, 4 B of Y written once.
//
// Reduction order: each output element is owned by exactly one lane, which folds the messages in
// CSR order (position start, ..., end - 1) in fp32, so the result is deterministic and bitwise
// reproducible run to run. Mean divides the fp32 sum by the degree once at the end. Max and min
// keep the first extreme in CSR order (ties go to the lowest position); a NaN message wins over
// any number and the first NaN is kept. Empty rows give 0 for every reducer (as gk_spmm).
//
// Registers (ptxas 11.8, -Xptxas -v, sm_90): 28-56 per thread for the built-ins at every width
// (F = 0, 16, 32, 64, 128, 256), no spills, no stack, no shared memory. User-defined messages add
// what their expression needs. No __launch_bounds__ (spmm.cuh's finding: it made ptxas spill).
#ifndef GK_FUSED_MESSAGE_CUH
#define GK_FUSED_MESSAGE_CUH

#include "common/gk_device.cuh"

namespace gk {

enum FusedReduce { kFusedSum = 0, kFusedMean = 1, kFusedMax = 2, kFusedMin = 3 };  // = gk_reduce

constexpr int kFusedBlockThreads = 256;

// G and P for a feature width F (0 = known only at run time).
template <int F>
struct FusedShape {
    static constexpr int kGroup =
        F <= 0 || F >= 32 ? 32 : F <= 1 ? 1 : F <= 2 ? 2 : F <= 4 ? 4 : F <= 8 ? 8 : F <= 16 ? 16 : 32;
    static constexpr int kPerLane = F > 0 ? (F + kGroup - 1) / kGroup : 4;
};

// ---- built-in message functions (= gk_fused_builtin) ------------------------------------------
// copy_u: src[f]
struct FusedCopyU {
    static GK_D float apply(const float* src, const float*, const float*, int64_t f) {
        return src[f];
    }
};
// u_mul_e: src[f] * edge[0] (one scalar weight per edge)
struct FusedUMulE {
    static GK_D float apply(const float* src, const float*, const float* edge, int64_t f) {
        return src[f] * edge[0];
    }
};
// u_add_v: src[f] + dst[f]
struct FusedUAddV {
    static GK_D float apply(const float* src, const float* dst, const float*, int64_t f) {
        return src[f] + dst[f];
    }
};
// u_mul_e_feat: src[f] * edge[f] (SchNet's continuous filter: one F-wide filter row per edge)
struct FusedUMulEFeat {
    static GK_D float apply(const float* src, const float*, const float* edge, int64_t f) {
        return src[f] * edge[f];
    }
};

template <typename I, typename MSG, int RED, int F>
__global__ void
fused_message_kernel(const I* __restrict__ row_ptr, const I* __restrict__ col_idx,
                     const float* __restrict__ x_src, int64_t ld_src,
                     const float* __restrict__ x_dst, int64_t ld_dst,
                     const float* __restrict__ edge, int64_t ld_edge,
                     float* __restrict__ y, int64_t ldy, int64_t num_rows, int64_t feat_arg) {
    constexpr int G = FusedShape<F>::kGroup;
    constexpr int P = FusedShape<F>::kPerLane;
    constexpr bool kExtreme = RED == kFusedMax || RED == kFusedMin;
    const int64_t feat = F > 0 ? static_cast<int64_t>(F) : feat_arg;
    const int glane = static_cast<int>(threadIdx.x) & (G - 1);
    const int64_t groups_per_grid = static_cast<int64_t>(gridDim.x) * (blockDim.x / G);
    const int64_t first_group =
        (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / G;

    for (int64_t row = first_group; row < num_rows; row += groups_per_grid) {
        const int64_t start = static_cast<int64_t>(row_ptr[row]);
        const int64_t end = static_cast<int64_t>(row_ptr[row + 1]);
        // An operand the message does not use may be NULL: never offset a null pointer.
        const float* dst_row = x_dst != nullptr ? x_dst + offset2d(row, ld_dst, 0) : x_dst;

        for (int64_t fbase = 0; fbase < feat; fbase += static_cast<int64_t>(G) * P) {
            float acc[P];
#pragma unroll
            for (int k = 0; k < P; ++k) acc[k] = 0.0f;

            for (int64_t e = start; e < end; ++e) {
                const int64_t c = static_cast<int64_t>(__ldg(col_idx + e));
                const float* src_row = x_src != nullptr ? x_src + offset2d(c, ld_src, 0) : x_src;
                const float* edge_row = edge != nullptr ? edge + offset2d(e, ld_edge, 0) : edge;
#pragma unroll
                for (int k = 0; k < P; ++k) {
                    const int64_t f = fbase + static_cast<int64_t>(k) * G + glane;
                    if (f < feat) {
                        const float m = MSG::apply(src_row, dst_row, edge_row, f);
                        if (!kExtreme) {
                            acc[k] += m;
                        } else {
                            // First extreme in CSR order wins; a NaN beats any number; the first
                            // NaN is final.
                            const bool better = RED == kFusedMax ? (m > acc[k]) : (m < acc[k]);
                            if (e == start || (!is_nan(acc[k]) && (is_nan(m) || better))) acc[k] = m;
                        }
                    }
                }
            }

            const int64_t deg = end - start;
#pragma unroll
            for (int k = 0; k < P; ++k) {
                const int64_t f = fbase + static_cast<int64_t>(k) * G + glane;
                if (f < feat) {
                    float r = acc[k];
                    if (RED == kFusedMean) r = deg > 0 ? r / static_cast<float>(deg) : 0.0f;
                    y[offset2d(row, ldy, f)] = r;
                }
            }
        }
    }
}

}  // namespace gk

#endif  // GK_FUSED_MESSAGE_CUH
