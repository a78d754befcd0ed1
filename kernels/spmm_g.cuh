// Generalized SpMM (g-SpMM) forward and backward, fp32/fp16/bf16 values with fp32 accumulation.
//
//   Y[v, f] = reduce_{e in row v, CSR order} msg(X[col[e], f], E(e, f))
//   msg in {copy_u, u_mul_e, copy_e, u_add_e, u_sub_e, u_div_e}; E(e, f) = E[e] (scalar),
//   E[e, f / (F/H)] (per head) or E[e, f] (full); reduce in {sum, mean, max, min, mul}.
//
// Template arguments are only the index type I and the value type T (float, __half,
// __nv_bfloat16): message, edge mode and reducer are uniform runtime switches (one branch per
// edge that every lane of a warp takes the same way), which keeps the instantiation count at
// 2 x 3 per kernel.
//
// ---- gspmm_kernel (forward, unchunked) ----
// Work split: a group of G = 2^group_log2 lanes (G = smallest power of two >= F, at most 32)
// owns one destination row at a time (grid-stride over rows); lane j of the group owns features
// f = j, j + G, j + 2G, ... (one pass over the row's edges per G features). Every lane of a group
// reads the same col[e] (one broadcast transaction) and its own X[col[e], f] (consecutive lanes,
// consecutive features: coalesced). No shared memory, no atomics, no shuffles.
// Bytes per output element: deg * (sizeof(T) of X + sizeof(T) of E when the message reads it, and
// (sizeof(I) + sizeof(T) for a scalar edge value) / G of index/edge broadcast) read; sizeof(T) of Y
// written (+ read with GK_SPMM_ACCUMULATE) and sizeof(I) of arg.
// Bytes per edge of a row: sizeof(I) (col, one broadcast per group) + F * sizeof(T) of X gathered
// (+ sizeof(T), H * sizeof(T) or F * sizeof(T) of E); per row: 2 sizeof(I) of row_ptr, F * sizeof(T)
// of Y written (+ F * sizeof(I) arg).
// ---- gspmm_vec_kernel (forward, unchunked, F % 4 == 0 and X aligned: chosen by the launcher) ----
// As gspmm_kernel with lane j owning the 4 consecutive features 4j .. 4j+3 (+ 4G, ...), G = smallest
// power of two >= F / 4 (at most 32): X is gathered with one 16-byte (fp32) or 8-byte (fp16/bf16)
// load per lane and edge, a [E, F] edge operand too when lde and its base allow (vec_edge). Same
// bytes per edge and row as above, in a quarter of the load instructions. Each element's fold is
// gspmm_kernel's (same messages, CSR order, fp32), so the two are bitwise equal.
// Reduction order: the owning lane folds the messages in CSR order in fp32 and rounds once to T.
// Bitwise reproducible. Max/min: first extreme in CSR order wins, a NaN wins over numbers and the
// first NaN is final. Mean divides the fp32 sum by the degree once. Empty rows: count = 0.
//
// ---- gspmm_chunk_kernel + gspmm_combine_kernel (forward, GK_SPMM_CHUNKED) ----
// Pass 1: a group owns one schedule item (at most `chunk` consecutive edges of one row, from the
// graph plan) and writes the item's fp32 partial (and arg) to the workspace [max_items, F].
// Pass 2: a group owns one row and combines its items' partials in item order (sum: +, mul: x,
// max/min: the same first-wins rule, so max/min and single-item rows are bitwise equal to the
// unchunked kernel). Bytes: 4 (+8 for max/min) per item and feature written then read once more.
//
// ---- backward ----
// gspmm_bwd_mul_kernel (reduce = mul only): group per row as the forward; lane (row, f) walks the
//   row forward storing prefix products prod_{e'<e} m_e' in dm[e, f] (workspace [E, F] fp32), then
//   backward multiplying by the suffix product and gY: dm[e, f] = (prefix * suffix) * gY[v, f].
//   Exact for zero messages (no division by the message).
// gspmm_bwd_x_kernel: group per SOURCE node u over the plan's transpose (t_row_ptr, t_col, perm),
//   lane per feature as the forward; gX[u, f] = sum over transposed entries t in transposed order
//   (ascending CSR position) of coef(v = t_col[t], e = perm[t], f) * dmsg/dx. coef: sum gY[v, f];
//   mean gY[v, f] / deg(v); max/min gY[v, f] if arg[v, f] == e else 0; mul dm[e, f]. One owner per
//   element, no atomics. Bytes per element: deg_out * (sizeof(T) gY + sizeof(I) arg for max/min
//   + sizeof(T) E) read, sizeof(T) written.
// gspmm_bwd_e_kernel: one thread per edge e (grid-stride); finds its row v by binary search in
//   row_ptr (log2 M reads), then gE[e, k] = sum over the features f that read E(e, k), in feature
//   order, of coef(v, e, f) * dmsg/dE. Bytes per edge: F * (sizeof(T) of gY and X) read, width *
//   sizeof(T) written. Deterministic (serial per edge).
//
// Registers (ptxas 11.8, sm_90, from the NativeBuild gate): gspmm_kernel 48-50, vec 68, chunk 56,
// combine 40-44, multi 54-56, multi_bwd 57-66, bwd_mul 55-56, bwd_x 42, bwd_e 36-39; no spills, no
// stack, no shared memory, no __launch_bounds__. Not measured on a GPU. The chunked passes and the
// backward kernels load scalars.
#ifndef GK_SPMM_G_CUH
#define GK_SPMM_G_CUH

#include "common/gk_device.cuh"

#if !defined(GK_EMULATION)
#  include <cuda_fp16.h>
#  include <cuda_bf16.h>
#endif

namespace gk {

// = gk_message / gk_reduce / gk_edge_operand / gk_spmm_flags values.
enum GSpmmMessage { kGCopyU = 0, kGUMulE = 1, kGCopyE = 2, kGUAddE = 3, kGUSubE = 4, kGUDivE = 5 };
enum GSpmmReduce { kGSum = 0, kGMean = 1, kGMax = 2, kGMin = 3, kGMul = 4 };
enum GSpmmEdge { kGEdgeNone = 0, kGEdgeScalar = 1, kGEdgeHead = 2, kGEdgeFull = 3 };
constexpr unsigned kGSpmmAccumulate = 1u;
constexpr unsigned kGSpmmEmptyInf = 2u;

constexpr int kGSpmmBlockThreads = 256;

GK_D float gs_ld(const float* p, int64_t i) { return __ldg(p + i); }
GK_D float gs_ld(const __half* p, int64_t i) {
    return __half2float(__ushort_as_half(__ldg(reinterpret_cast<const unsigned short*>(p) + i)));
}
GK_D float gs_ld(const __nv_bfloat16* p, int64_t i) {
    return __bfloat162float(
        __ushort_as_bfloat16(__ldg(reinterpret_cast<const unsigned short*>(p) + i)));
}
// Plain (non-__ldg) load for buffers that may be written by the same launch's other threads
// (Y with accumulate is only read by its owner, but keep it out of the read-only path).
GK_D float gs_ld_rw(const float* p, int64_t i) { return p[i]; }
GK_D float gs_ld_rw(const __half* p, int64_t i) { return __half2float(p[i]); }
GK_D float gs_ld_rw(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }
GK_D void gs_st(float* p, int64_t i, float v) { p[i] = v; }
GK_D void gs_st(__half* p, int64_t i, float v) { p[i] = __float2half_rn(v); }
GK_D void gs_st(__nv_bfloat16* p, int64_t i, float v) { p[i] = __float2bfloat16_rn(v); }

// Four consecutive values p[i .. i+3] in one load: 16 bytes for fp32, 8 for fp16/bf16. The launcher
// guarantees the alignment (p 4-element aligned, i a multiple of 4).
GK_D void gs_ld4(const float* p, int64_t i, float (&v)[4]) {
    const float4 t = __ldg(reinterpret_cast<const float4*>(p + i));
    v[0] = t.x; v[1] = t.y; v[2] = t.z; v[3] = t.w;
}
GK_D float gs_lo_half(unsigned w, const __half*) { return __half2float(__ushort_as_half(static_cast<unsigned short>(w & 0xffffu))); }
GK_D float gs_lo_half(unsigned w, const __nv_bfloat16*) {
    return __bfloat162float(__ushort_as_bfloat16(static_cast<unsigned short>(w & 0xffffu)));
}
template <typename T>
GK_D void gs_ld4(const T* p, int64_t i, float (&v)[4]) {
    const uint2 t = __ldg(reinterpret_cast<const uint2*>(p + i));  // little endian: element 0 low
    v[0] = gs_lo_half(t.x, p); v[1] = gs_lo_half(t.x >> 16, p);
    v[2] = gs_lo_half(t.y, p); v[3] = gs_lo_half(t.y >> 16, p);
}

struct GSpmmArgs {
    const void* row_ptr;   // [M + 1] I
    const void* col_idx;   // [E] I
    const void* x;         // [K, ldx] T (NULL for copy_e)
    int64_t ldx;
    const void* e;         // [E, lde] T, per edge_mode (NULL for copy_u)
    int64_t lde;
    int64_t head_width;    // F / H for per-head edges (1 otherwise)
    void* y;               // [M, ldy] T
    int64_t ldy;
    void* arg;             // [M, ld_arg] I or NULL
    int64_t ld_arg;
    int64_t rows;          // M
    int64_t feat;          // F
    int32_t message;
    int32_t reduce;
    int32_t edge_mode;
    uint32_t flags;
    int32_t group_log2;
    int32_t vec_edge;  // gspmm_vec_kernel: the [E, F] edge operand is read 4 values at a time
    // GK_SPMM_CHUNKED only (graph plan schedule and the workspace partials)
    const int64_t* row_item_ptr;  // [M + 1]
    const int64_t* item_row;      // [max_items]
    int64_t chunk;
    int64_t max_items;
    float* part;                  // [max_items, F]
    int64_t* part_arg;            // [max_items, F] (max/min)
};

template <typename T>
GK_D float gs_edge(const T* e, int mode, int64_t pos, int64_t lde, int64_t hw, int64_t f) {
    if (mode == kGEdgeScalar) return gs_ld(e, pos * lde);
    if (mode == kGEdgeHead) return gs_ld(e, pos * lde + f / hw);
    return gs_ld(e, pos * lde + f);
}

GK_D float gs_message(int msg, float xv, float ev) {
    switch (msg) {
        case kGUMulE: return xv * ev;
        case kGCopyE: return ev;
        case kGUAddE: return xv + ev;
        case kGUSubE: return xv - ev;
        case kGUDivE: return xv / ev;
        default: return xv;
    }
}

GK_D float gs_identity(int reduce) { return reduce == kGMul ? 1.0f : 0.0f; }

// Folds message m at CSR position pos into (acc, best). best < 0 means "nothing folded yet".
GK_D void gs_fold(int reduce, float m, int64_t pos, float& acc, int64_t& best) {
    if (reduce == kGSum || reduce == kGMean) {
        acc += m;
    } else if (reduce == kGMul) {
        acc *= m;
    } else {
        const bool better = reduce == kGMax ? (m > acc) : (m < acc);
        if (best < 0 || (!is_nan(acc) && (is_nan(m) || better))) {
            acc = m;
            best = pos;
        }
    }
}

// The lanes of a group: G = 2^group_log2 lanes own one unit (row, item or source node) at a time,
// grid-stride over units; lane glane of the group owns features glane, glane + G, ...
struct GsGroups {
    int group;
    int glane;
    int64_t first;
    int64_t stride;
    GK_D explicit GsGroups(int group_log2)
        : group(1 << group_log2),
          glane(static_cast<int>(threadIdx.x) & ((1 << group_log2) - 1)),
          first((static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> group_log2),
          stride((static_cast<int64_t>(gridDim.x) * blockDim.x) >> group_log2) {}
};

// The message of CSR position p at feature f (A: GSpmmArgs or GSpmmBwdArgs, the same field names).
template <typename I, typename T, typename A>
GK_D float gs_msg_at(const A& a, int64_t p, int64_t f) {
    float xv = 0.0f, e = 0.0f;
    if (a.message != kGCopyE)
        xv = gs_ld(static_cast<const T*>(a.x),
                   offset2d(static_cast<int64_t>(__ldg(static_cast<const I*>(a.col_idx) + p)), a.ldx, f));
    if (a.message != kGCopyU)
        e = gs_edge(static_cast<const T*>(a.e), a.edge_mode, p, a.lde, a.head_width, f);
    return gs_message(a.message, xv, e);
}

// Folds the CSR positions [start, end) of one row into (acc, best) for feature f.
template <typename I, typename T>
GK_D void gs_fold_range(const GSpmmArgs& a, int64_t start, int64_t end, int64_t f, float& acc,
                        int64_t& best) {
    for (int64_t p = start; p < end; ++p) gs_fold(a.reduce, gs_msg_at<I, T>(a, p, f), p, acc, best);
}

// Finalises and writes Y[row, f] (and arg) from the fp32 fold over deg edges.
template <typename I, typename T>
GK_D void gs_write(const GSpmmArgs& a, int64_t row, int64_t f, float acc, int64_t best,
                   int64_t deg) {
    const bool extreme = a.reduce == kGMax || a.reduce == kGMin;
    float r = acc;
    if (deg == 0) {
        r = gs_identity(a.reduce);
        if (extreme && (a.flags & kGSpmmEmptyInf) != 0u)
            r = a.reduce == kGMax ? -__int_as_float(0x7f800000) : __int_as_float(0x7f800000);
        best = -1;
    } else if (a.reduce == kGMean) {
        r = acc / static_cast<float>(deg);
    }
    T* y = static_cast<T*>(a.y);
    const int64_t yo = offset2d(row, a.ldy, f);
    if ((a.flags & kGSpmmAccumulate) != 0u) r = gs_ld_rw(y, yo) + r;
    gs_st(y, yo, r);
    if (extreme && a.arg != nullptr)
        static_cast<I*>(a.arg)[offset2d(row, a.ld_arg, f)] = static_cast<I>(best);
}

template <typename I, typename T>
__global__ void gspmm_kernel(const GSpmmArgs a) {
    const GsGroups g(a.group_log2);
    const I* rp = static_cast<const I*>(a.row_ptr);
    for (int64_t row = g.first; row < a.rows; row += g.stride) {
        const int64_t start = static_cast<int64_t>(rp[row]);
        const int64_t end = static_cast<int64_t>(rp[row + 1]);
        for (int64_t f = g.glane; f < a.feat; f += g.group) {
            float acc = gs_identity(a.reduce);
            int64_t best = -1;
            gs_fold_range<I, T>(a, start, end, f, acc, best);
            gs_write<I, T>(a, row, f, acc, best, end - start);
        }
    }
}

// Four features per lane (GK_SPMM_VEC: F % 4 == 0, X and a full edge operand aligned for 4-value
// loads; the launcher checks and otherwise runs gspmm_kernel). Each of the lane's four elements is
// folded exactly as gspmm_kernel folds it (same messages, CSR order, fp32), so the result is bitwise
// the scalar kernel's; only the loads are wider.
template <typename I, typename T>
__global__ void gspmm_vec_kernel(const GSpmmArgs a) {
    const GsGroups g(a.group_log2);
    const I* rp = static_cast<const I*>(a.row_ptr);
    const I* col = static_cast<const I*>(a.col_idx);
    const T* x = static_cast<const T*>(a.x);
    const T* ev = static_cast<const T*>(a.e);
    for (int64_t row = g.first; row < a.rows; row += g.stride) {
        const int64_t start = static_cast<int64_t>(rp[row]);
        const int64_t end = static_cast<int64_t>(rp[row + 1]);
        for (int64_t f = 4 * static_cast<int64_t>(g.glane); f < a.feat; f += 4 * g.group) {
            float acc[4];
            int64_t best[4];
#pragma unroll
            for (int k = 0; k < 4; ++k) {
                acc[k] = gs_identity(a.reduce);
                best[k] = -1;
            }
            for (int64_t p = start; p < end; ++p) {
                float xv[4] = {0.0f, 0.0f, 0.0f, 0.0f}, e[4] = {0.0f, 0.0f, 0.0f, 0.0f};
                if (a.message != kGCopyE)
                    gs_ld4(x, offset2d(static_cast<int64_t>(__ldg(col + p)), a.ldx, f), xv);
                if (a.message != kGCopyU) {
                    if (a.vec_edge != 0) {
                        gs_ld4(ev, offset2d(p, a.lde, f), e);
                    } else {
#pragma unroll
                        for (int k = 0; k < 4; ++k)
                            e[k] = gs_edge(ev, a.edge_mode, p, a.lde, a.head_width, f + k);
                    }
                }
#pragma unroll
                for (int k = 0; k < 4; ++k)
                    gs_fold(a.reduce, gs_message(a.message, xv[k], e[k]), p, acc[k], best[k]);
            }
#pragma unroll
            for (int k = 0; k < 4; ++k) gs_write<I, T>(a, row, f + k, acc[k], best[k], end - start);
        }
    }
}

// Pass 1 of the chunked path: one group per schedule item.
template <typename I, typename T>
__global__ void gspmm_chunk_kernel(const GSpmmArgs a) {
    const GsGroups g(a.group_log2);
    const I* rp = static_cast<const I*>(a.row_ptr);
    for (int64_t item = g.first; item < a.max_items; item += g.stride) {
        const int64_t row = a.item_row[item];
        if (row < 0) continue;
        const int64_t rstart = static_cast<int64_t>(rp[row]);
        const int64_t rend = static_cast<int64_t>(rp[row + 1]);
        const int64_t start = rstart + (item - a.row_item_ptr[row]) * a.chunk;
        const int64_t end = start + a.chunk < rend ? start + a.chunk : rend;
        for (int64_t f = g.glane; f < a.feat; f += g.group) {
            float acc = gs_identity(a.reduce);
            int64_t best = -1;
            gs_fold_range<I, T>(a, start, end, f, acc, best);
            a.part[offset2d(item, a.feat, f)] = acc;
            if (a.reduce == kGMax || a.reduce == kGMin) a.part_arg[offset2d(item, a.feat, f)] = best;
        }
    }
}

// Pass 2 of the chunked path: one group per row combines its items in item order.
template <typename I, typename T>
__global__ void gspmm_combine_kernel(const GSpmmArgs a) {
    const GsGroups g(a.group_log2);
    const I* rp = static_cast<const I*>(a.row_ptr);
    for (int64_t row = g.first; row < a.rows; row += g.stride) {
        const int64_t deg = static_cast<int64_t>(rp[row + 1]) - static_cast<int64_t>(rp[row]);
        const int64_t i0 = a.row_item_ptr[row], i1 = a.row_item_ptr[row + 1];
        for (int64_t f = g.glane; f < a.feat; f += g.group) {
            float acc = gs_identity(a.reduce);
            int64_t best = -1;
            if (deg > 0) {
                for (int64_t it = i0; it < i1; ++it) {
                    const float p = a.part[offset2d(it, a.feat, f)];
                    if (a.reduce == kGMax || a.reduce == kGMin)
                        gs_fold(a.reduce, p, a.part_arg[offset2d(it, a.feat, f)], acc, best);
                    else
                        gs_fold(a.reduce, p, it, acc, best);
                }
            }
            gs_write<I, T>(a, row, f, acc, best, deg);
        }
    }
}

// ------------------------------------------------------------------ multi-reducer ----------
// gspmm_multi_kernel: the forward's work split and edge order (group per row, lane per feature,
// CSR order); in one pass over the edges each lane keeps the fp32 sum (the same sequence of
// additions as the sum reducer, so bitwise equal to it), min and max (the same first-wins/NaN
// rule), and Welford's running (n, mean, M2): d = m - mean; mean += d / n; M2 += d * (m - mean).
// var = M2 / deg (population), std = sqrt(var); empty rows give 0 for every statistic. Bytes per
// output element as the forward, times the number of outputs written.
constexpr int kMultiOutputs = 6;  // sum, mean, min, max, var, std (= gk_multi_reduce bit order)

struct GSpmmMultiOut {
    void* out[kMultiOutputs];
};

// The running statistics of one (row, feature): the multi-reducer forward and its backward fold
// the same messages through this one function, so the backward sees the forward's exact fp32
// mean, M2 and winners.
struct GsMultiAcc {
    float sum = 0.0f, n = 0.0f, mean = 0.0f, m2 = 0.0f, mn = 0.0f, mx = 0.0f;
    int64_t bmin = -1, bmax = -1;
    GK_D void fold(float m, int64_t p) {
        sum += m;
        gs_fold(kGMin, m, p, mn, bmin);
        gs_fold(kGMax, m, p, mx, bmax);
        n += 1.0f;
        const float d = m - mean;
        mean += d / n;
        m2 += d * (m - mean);
    }
};

template <typename I, typename T>
__global__ void gspmm_multi_kernel(const GSpmmArgs a, const GSpmmMultiOut o) {
    const GsGroups g(a.group_log2);
    const I* rp = static_cast<const I*>(a.row_ptr);
    for (int64_t row = g.first; row < a.rows; row += g.stride) {
        const int64_t start = static_cast<int64_t>(rp[row]);
        const int64_t end = static_cast<int64_t>(rp[row + 1]);
        const int64_t deg = end - start;
        for (int64_t f = g.glane; f < a.feat; f += g.group) {
            GsMultiAcc s;
            for (int64_t p = start; p < end; ++p) s.fold(gs_msg_at<I, T>(a, p, f), p);
            float r[kMultiOutputs];
            const float var = deg > 0 ? s.m2 / static_cast<float>(deg) : 0.0f;
            r[0] = s.sum;
            r[1] = deg > 0 ? s.sum / static_cast<float>(deg) : 0.0f;
            r[2] = deg > 0 ? s.mn : 0.0f;
            r[3] = deg > 0 ? s.mx : 0.0f;
            r[4] = var;
            r[5] = sqrtf(var);
            const int64_t yo = offset2d(row, a.ldy, f);
#pragma unroll
            for (int k = 0; k < kMultiOutputs; ++k)
                if (o.out[k] != nullptr) gs_st(static_cast<T*>(o.out[k]), yo, r[k]);
        }
    }
}

// ------------------------------------------------------------------------ backward ----------

struct GSpmmBwdArgs {
    const void* row_ptr;    // forward CSR [M + 1]
    const void* col_idx;    // [E]
    const void* t_row_ptr;  // transpose [K + 1]
    const void* t_col_idx;  // [E] destination of each transposed entry
    const void* perm;       // [E] CSR position of each transposed entry
    const void* x;          // [K, ldx] T
    int64_t ldx;
    const void* e;          // edge operand
    int64_t lde;
    int64_t head_width;
    int64_t heads;          // width of the per-head operand
    const void* arg;        // [M, ld_arg] I (max/min)
    int64_t ld_arg;
    const void* gy;         // [M, ld_gy] T
    int64_t ld_gy;
    void* gx;               // [K, ld_gx] T
    int64_t ld_gx;
    void* ge;               // [E, ld_ge] T
    int64_t ld_ge;
    float* dm;              // [E, F] fp32 (mul reducer)
    int64_t rows;           // M
    int64_t cols;           // K
    int64_t nnz;            // E
    int64_t feat;
    int32_t message;
    int32_t reduce;
    int32_t edge_mode;
    int32_t group_log2;
};

// dL/dm for the message of edge pos (row v) at feature f.
template <typename I, typename T>
GK_D float gs_coef(const GSpmmBwdArgs& a, int64_t v, int64_t pos, int64_t f) {
    if (a.reduce == kGMul) return a.dm[offset2d(pos, a.feat, f)];
    const float g = gs_ld(static_cast<const T*>(a.gy), offset2d(v, a.ld_gy, f));
    if (a.reduce == kGSum) return g;
    if (a.reduce == kGMean) {
        const I* rp = static_cast<const I*>(a.row_ptr);
        const int64_t deg = static_cast<int64_t>(rp[v + 1]) - static_cast<int64_t>(rp[v]);
        return g / static_cast<float>(deg);
    }
    const I w = __ldg(static_cast<const I*>(a.arg) + offset2d(v, a.ld_arg, f));
    return static_cast<int64_t>(w) == pos ? g : 0.0f;
}


template <typename I, typename T>
__global__ void gspmm_bwd_mul_kernel(const GSpmmBwdArgs a) {
    const int group = 1 << a.group_log2;
    const int glane = static_cast<int>(threadIdx.x) & (group - 1);
    const int64_t groups_per_grid =
        (static_cast<int64_t>(gridDim.x) * blockDim.x) >> a.group_log2;
    const int64_t first =
        (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> a.group_log2;
    const I* rp = static_cast<const I*>(a.row_ptr);
    const I* col = static_cast<const I*>(a.col_idx);
    const T* x = static_cast<const T*>(a.x);
    const T* ev = static_cast<const T*>(a.e);
    const bool reads_x = a.message != kGCopyE;
    const bool reads_e = a.message != kGCopyU;
    for (int64_t row = first; row < a.rows; row += groups_per_grid) {
        const int64_t start = static_cast<int64_t>(rp[row]);
        const int64_t end = static_cast<int64_t>(rp[row + 1]);
        for (int64_t f = glane; f < a.feat; f += group) {
            float p = 1.0f;
            for (int64_t q = start; q < end; ++q) {
                float xv = 0.0f, e = 0.0f;
                if (reads_x) xv = gs_ld(x, offset2d(static_cast<int64_t>(__ldg(col + q)), a.ldx, f));
                if (reads_e) e = gs_edge(ev, a.edge_mode, q, a.lde, a.head_width, f);
                a.dm[offset2d(q, a.feat, f)] = p;
                p *= gs_message(a.message, xv, e);
            }
            const float g = end > start
                                ? gs_ld(static_cast<const T*>(a.gy), offset2d(row, a.ld_gy, f))
                                : 0.0f;
            float s = 1.0f;
            for (int64_t q = end - 1; q >= start; --q) {
                float xv = 0.0f, e = 0.0f;
                if (reads_x) xv = gs_ld(x, offset2d(static_cast<int64_t>(__ldg(col + q)), a.ldx, f));
                if (reads_e) e = gs_edge(ev, a.edge_mode, q, a.lde, a.head_width, f);
                const int64_t o = offset2d(q, a.feat, f);
                a.dm[o] = (a.dm[o] * s) * g;
                s *= gs_message(a.message, xv, e);
            }
        }
    }
}

// ---- gspmm_multi_bwd_kernel (backward of the multi-reducer, pass 1 of 2-3) ----
// Group per row, lane per feature, as the forward. The lane refolds the row's messages through
// GsMultiAcc (the forward's exact fp32 mean, M2 and first-wins winners: nothing of the forward has
// to be saved, and no statistic rounded to T is reused), then walks the row again writing
// dL/dm[e, f] = (gS + gMean / deg) + (2 gVar / deg + gStd / (deg std)) * (m_e - mean)
//               (+ gMin if e is the min's winner) (+ gMax if e is the max's winner)
// into the workspace [E, F] fp32, in that order of additions. std = 0 (all messages equal, e.g.
// deg = 1; M2 is then exactly 0): the std term is 0. std is not differentiable there, but it is
// convex (a scaled norm of the centred messages) and minimal, so 0 is a subgradient; elsewhere
// |d std / d m_e| <= 1/sqrt(deg), so no epsilon is needed (PyTorch's sqrt backward gives NaN/inf at
// 0; PyG's StdAggregation clamps var at 1e-5 and zeroes std below sqrt(1e-5)). Then gspmm_bwd_x_kernel and
// gspmm_bwd_e_kernel run with reduce = mul, which reads dL/dm from the workspace. Bytes per (edge,
// feature): 2 message reads (2 sizeof(T) + index/edge broadcasts), 4 written (+ read once more by
// each of the gradient passes); per (row, feature) up to 6 sizeof(T) of upstream gradients read.
struct GSpmmMultiGrad {
    const void* g[kMultiOutputs];  // dL/d statistic [M, ld] T, NULL for a statistic without one
    int64_t ld;
};

template <typename I, typename T>
__global__ void gspmm_multi_bwd_kernel(const GSpmmBwdArgs a, const GSpmmMultiGrad gr) {
    const GsGroups g(a.group_log2);
    const I* rp = static_cast<const I*>(a.row_ptr);
    for (int64_t row = g.first; row < a.rows; row += g.stride) {
        const int64_t start = static_cast<int64_t>(rp[row]);
        const int64_t end = static_cast<int64_t>(rp[row + 1]);
        if (end == start) continue;
        const float deg = static_cast<float>(end - start);
        for (int64_t f = g.glane; f < a.feat; f += g.group) {
            GsMultiAcc s;
            for (int64_t p = start; p < end; ++p) s.fold(gs_msg_at<I, T>(a, p, f), p);
            float up[kMultiOutputs];
#pragma unroll
            for (int k = 0; k < kMultiOutputs; ++k)
                up[k] = gr.g[k] != nullptr
                            ? gs_ld(static_cast<const T*>(gr.g[k]), offset2d(row, gr.ld, f))
                            : 0.0f;
            const float sd = sqrtf(s.m2 / deg);
            const float c0 = up[0] + up[1] / deg;
            const float c1 = 2.0f * up[4] / deg + (sd > 0.0f ? up[5] / (deg * sd) : 0.0f);
            for (int64_t p = start; p < end; ++p) {
                float c = c0 + c1 * (gs_msg_at<I, T>(a, p, f) - s.mean);
                if (p == s.bmin) c += up[2];
                if (p == s.bmax) c += up[3];
                a.dm[offset2d(p, a.feat, f)] = c;
            }
        }
    }
}

template <typename I, typename T>
__global__ void gspmm_bwd_x_kernel(const GSpmmBwdArgs a) {
    const GsGroups g(a.group_log2);
    const I* trp = static_cast<const I*>(a.t_row_ptr);
    const I* tcol = static_cast<const I*>(a.t_col_idx);
    const I* perm = static_cast<const I*>(a.perm);
    const T* ev = static_cast<const T*>(a.e);
    const bool reads_e = a.message == kGUMulE || a.message == kGUDivE;
    for (int64_t u = g.first; u < a.cols; u += g.stride) {
        const int64_t start = static_cast<int64_t>(trp[u]);
        const int64_t end = static_cast<int64_t>(trp[u + 1]);
        for (int64_t f = g.glane; f < a.feat; f += g.group) {
            float acc = 0.0f;
            for (int64_t t = start; t < end; ++t) {
                const int64_t v = static_cast<int64_t>(__ldg(tcol + t));
                const int64_t pos = static_cast<int64_t>(__ldg(perm + t));
                float c = gs_coef<I, T>(a, v, pos, f);
                if (reads_e) {
                    const float e = gs_edge(ev, a.edge_mode, pos, a.lde, a.head_width, f);
                    c = a.message == kGUMulE ? c * e : c / e;
                }
                acc += c;
            }
            gs_st(static_cast<T*>(a.gx), offset2d(u, a.ld_gx, f), acc);
        }
    }
}

GK_D float gs_dmsg_de(int msg, float c, float xv, float e) {
    switch (msg) {
        case kGUSubE: return -c;
        case kGUMulE: return c * xv;
        case kGUDivE: return -((c * xv) / e) / e;
        default: return c;  // copy_e, u_add_e
    }
}

template <typename I, typename T>
__global__ void gspmm_bwd_e_kernel(const GSpmmBwdArgs a) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    const I* rp = static_cast<const I*>(a.row_ptr);
    const I* col = static_cast<const I*>(a.col_idx);
    const T* x = static_cast<const T*>(a.x);
    const T* ev = static_cast<const T*>(a.e);
    T* ge = static_cast<T*>(a.ge);
    const bool reads_x = a.message == kGUMulE || a.message == kGUDivE;
    for (int64_t pos = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; pos < a.nnz;
         pos += stride) {
        // Row v with row_ptr[v] <= pos < row_ptr[v + 1] (row_ptr[M] = E > pos).
        int64_t lo = 0, hi = a.rows;
        while (hi - lo > 1) {
            const int64_t mid = lo + (hi - lo) / 2;
            if (static_cast<int64_t>(rp[mid]) <= pos) lo = mid; else hi = mid;
        }
        const int64_t v = lo;
        const int64_t u = static_cast<int64_t>(__ldg(col + pos));
        const int64_t width = a.edge_mode == kGEdgeScalar ? 1 : a.edge_mode == kGEdgeHead ? a.heads : a.feat;
        const int64_t per = a.edge_mode == kGEdgeScalar ? a.feat : a.edge_mode == kGEdgeHead ? a.head_width : 1;
        for (int64_t k = 0; k < width; ++k) {
            const float e = gs_ld(ev, pos * a.lde + k);
            float s = 0.0f;
            for (int64_t f = k * per; f < (k + 1) * per; ++f) {
                const float c = gs_coef<I, T>(a, v, pos, f);
                const float xv = reads_x ? gs_ld(x, offset2d(u, a.ldx, f)) : 0.0f;
                s += gs_dmsg_de(a.message, c, xv, e);
            }
            gs_st(ge, offset2d(pos, a.ld_ge, k), s);
        }
    }
}

}  // namespace gk

#endif  // GK_SPMM_G_CUH
