// Edge ops: SDDMM and its backward, edge softmax and its backward, segment reduce / gather
// (segment_csr / gather_csr semantics) and their backward, COO -> CSR with the edge permutation,
// degrees. docs/message_passing.md ("Edge ops") is the full definition.
//
// Element type T of every feature/edge tensor: float, __half or __nv_bfloat16; every value is
// converted to fp32 on load, all arithmetic and accumulation is fp32, and the result is rounded
// to T once on store. Index type I: int32_t or int64_t; every offset (row * ld + col) is 64-bit.
//
// Work split of the row kernels (sddmm, sddmm_backward, edge_softmax[_backward], segment_*): a
// *group* of G lanes (G = 1..32, a power of two chosen by the launcher, see each kernel) owns one
// row of a CSR (a destination node, a source node of the transposed CSR, or a segment) at a time;
// rows are distributed over groups by a grid-stride loop; blocks are 256 threads. There are no
// shuffles, no shared memory and no atomics in them: every output element is written by exactly one
// lane, which folds its terms in CSR order (ascending position) in fp32, so every result is
// bitwise reproducible run to run. Hub rows are not split (load imbalance on power-law graphs is
// accepted here; not measured on a GPU).
//
// Reduction order and bytes moved are stated per kernel below.
//
// Registers (ptxas 11.8, sm_90, -Xptxas -v), no spills and no stack in any instantiation:
// sddmm 34-48, sddmm_backward 36-40, edge_softmax 46-61, edge_softmax_backward 40-48,
// segment_reduce 31-40, segment_gather 38-40, coo_count 13-15, coo_scan 32 (+2 KB shared),
// coo_place 14, coo_sort 32, degree 32. No __launch_bounds__.
#ifndef GK_EDGE_OPS_CUH
#define GK_EDGE_OPS_CUH

#include "common/gk_device.cuh"

#if !defined(GK_EMULATION)
#  include <cuda_fp16.h>
#  include <cuda_bf16.h>
#endif

namespace gk {

enum SddmmOp { kSddmmDot = 0, kSddmmAdd = 1, kSddmmSub = 2, kSddmmMul = 3, kSddmmDiv = 4 };  // = gk_sddmm_op
enum EdgeTarget { kTargetSrc = 0, kTargetDst = 1, kTargetEdge = 2 };                        // = gk_target
enum SegReduce { kSegSum = 0, kSegMean = 1, kSegMax = 2, kSegMin = 3 };                     // = gk_reduce
enum GatherMode { kGatherCopy = 0, kGatherMean = 1, kGatherArg = 2 };                       // = gk_gather_mode

constexpr int kEdgeOpsBlockThreads = 256;
constexpr int kCooScanThreads = 256;

GK_D float eo_load(const float* p) { return __ldg(p); }
GK_D float eo_load(const __half* p) {
    return __half2float(__ushort_as_half(__ldg(reinterpret_cast<const unsigned short*>(p))));
}
GK_D float eo_load(const __nv_bfloat16* p) {
    return __bfloat162float(
        __ushort_as_bfloat16(__ldg(reinterpret_cast<const unsigned short*>(p))));
}
GK_D void eo_store(float* p, float v) { *p = v; }
GK_D void eo_store(__half* p, float v) { *p = __float2half_rn(v); }
GK_D void eo_store(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }

GK_D int64_t eo_pick(int target, int64_t u, int64_t v, int64_t e) {
    return target == kTargetSrc ? u : (target == kTargetDst ? v : e);
}

struct GroupIndex {
    int64_t first;   // first row of this group
    int64_t stride;  // groups in the grid
    int glane;       // lane within the group
    int group;       // G
};

GK_D GroupIndex group_index(int group_log2) {
    GroupIndex g;
    g.group = 1 << group_log2;
    const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    g.glane = static_cast<int>(tid & (g.group - 1));
    g.first = tid >> group_log2;
    g.stride = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> group_log2;
    return g;
}

// ---------------------------------------------------------------------------------------------
// SDDMM forward. out[e, c] for CSR position e of row v (u = col_idx[e]):
//   DOT:  c = head h in [0, H): sum_{d < D} A[a(e), h*D + d] * B[b(e), h*D + d]   (D = F / H)
//   else: c = feature f in [0, F): A[a(e), f] op B[b(e), f]
// where a(e), b(e) pick u, v or e by target. A group owns a destination row and covers the row's
// deg * W outputs (W = H or F) flattened, lane j taking items j, j + G, ...; so narrow outputs
// still spread the row's edges over the lanes. G: smallest power of two >= W * average degree,
// at most 32. DOT sums its D products sequentially (d ascending) in fp32 in one lane.
// Bytes per output element: 2 * D * sizeof(T) (DOT) or 2 * sizeof(T) read + sizeof(T) written,
// plus sizeof(I) of col_idx per item (L1 hits for the W items of one edge).
template <typename I, typename T, bool DOT>
__global__ void sddmm_kernel(const I* __restrict__ row_ptr, const I* __restrict__ col_idx,
                             int64_t num_rows, int op, int lhs_target, int rhs_target,
                             const T* __restrict__ lhs, int64_t ld_lhs, const T* __restrict__ rhs,
                             int64_t ld_rhs, T* __restrict__ out, int64_t ld_out, int64_t width,
                             int64_t head_dim, int group_log2) {
    const GroupIndex g = group_index(group_log2);
    for (int64_t row = g.first; row < num_rows; row += g.stride) {
        const int64_t start = static_cast<int64_t>(row_ptr[row]);
        const int64_t total = (static_cast<int64_t>(row_ptr[row + 1]) - start) * width;
        for (int64_t t = g.glane; t < total; t += g.group) {
            const int64_t e = start + t / width;
            const int64_t c = t - (e - start) * width;
            const int64_t u = static_cast<int64_t>(__ldg(col_idx + e));
            const int64_t ra = eo_pick(lhs_target, u, row, e);
            const int64_t rb = eo_pick(rhs_target, u, row, e);
            float r;
            if (DOT) {
                const T* pa = lhs + offset2d(ra, ld_lhs, c * head_dim);
                const T* pb = rhs + offset2d(rb, ld_rhs, c * head_dim);
                r = 0.0f;
                for (int64_t d = 0; d < head_dim; ++d) r += eo_load(pa + d) * eo_load(pb + d);
            } else {
                const float a = eo_load(lhs + offset2d(ra, ld_lhs, c));
                const float b = eo_load(rhs + offset2d(rb, ld_rhs, c));
                r = op == kSddmmAdd ? a + b
                    : op == kSddmmSub ? a - b
                    : op == kSddmmMul ? a * b
                                      : a / b;
            }
            eo_store(out + offset2d(e, ld_out, c), r);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SDDMM backward: the gradient of ONE operand (side 0 = lhs A, 1 = rhs B) of feature width F.
// Per edge e and feature f the term is, with g = grad_out[e, f / D] (DOT) or grad_out[e, f]:
//   DOT: g * other[f]   ADD: g   SUB: +-g   MUL: g * other[f]
//   DIV: lhs g / B[f], rhs -g * A[f] / (B[f] * B[f])
// The operand's target decides the owner of the result:
//   edge:        grad[e, f] = term (one owner per edge, no reduction);
//   destination: grad[v, f] = sum over the CSR row v, positions ascending;
//   source:      grad[u, f] = sum over row u of the transposed CSR (TRANS = true: row_ptr/col_idx
//                are the by-source CSR, col_idx = destination, perm[t] = original position), in t
//                order, i.e. ascending original position (the transpose is stable).
// A group owns a row; lane j owns features j, j + G, ... and walks the whole row for each (the
// row's indices come from L1 after the first feature pass). G: smallest power of two >= F, <= 32.
// Bytes per gradient element: deg * (2 sizeof(T) (+ sizeof(T) for DIV rhs)) read, sizeof(T)
// written; sizeof(I) (2 with perm) of index per edge per feature pass.
template <typename I, typename T, bool TRANS>
__global__ void sddmm_backward_kernel(const I* __restrict__ row_ptr, const I* __restrict__ col_idx,
                                      const I* __restrict__ perm, int64_t num_rows, int op,
                                      int side, int self_target, int lhs_target, int rhs_target,
                                      const T* __restrict__ lhs, int64_t ld_lhs,
                                      const T* __restrict__ rhs, int64_t ld_rhs,
                                      const T* __restrict__ grad_out, int64_t ld_grad_out,
                                      T* __restrict__ grad, int64_t ld_grad, int64_t feat,
                                      int64_t head_dim, int group_log2) {
    const GroupIndex g = group_index(group_log2);
    const bool per_edge = self_target == kTargetEdge;
    for (int64_t row = g.first; row < num_rows; row += g.stride) {
        const int64_t start = static_cast<int64_t>(row_ptr[row]);
        const int64_t end = static_cast<int64_t>(row_ptr[row + 1]);
        for (int64_t f = g.glane; f < feat; f += g.group) {
            const int64_t gcol = op == kSddmmDot ? f / head_dim : f;
            float acc = 0.0f;
            for (int64_t p = start; p < end; ++p) {
                const int64_t e = TRANS ? static_cast<int64_t>(__ldg(perm + p)) : p;
                const int64_t n = static_cast<int64_t>(__ldg(col_idx + p));
                const int64_t u = TRANS ? row : n;
                const int64_t v = TRANS ? n : row;
                const float go = eo_load(grad_out + offset2d(e, ld_grad_out, gcol));
                float term;
                if (op == kSddmmAdd) {
                    term = go;
                } else if (op == kSddmmSub) {
                    term = side == 0 ? go : -go;
                } else if (op == kSddmmDiv) {
                    const float b = eo_load(rhs + offset2d(eo_pick(rhs_target, u, v, e), ld_rhs, f));
                    if (side == 0) {
                        term = go / b;
                    } else {
                        const float a =
                            eo_load(lhs + offset2d(eo_pick(lhs_target, u, v, e), ld_lhs, f));
                        term = -go * a / (b * b);
                    }
                } else {  // DOT, MUL: g * the other operand
                    const float o =
                        side == 0
                            ? eo_load(rhs + offset2d(eo_pick(rhs_target, u, v, e), ld_rhs, f))
                            : eo_load(lhs + offset2d(eo_pick(lhs_target, u, v, e), ld_lhs, f));
                    term = go * o;
                }
                if (per_edge)
                    eo_store(grad + offset2d(e, ld_grad, f), term);
                else
                    acc += term;
            }
            if (!per_edge) eo_store(grad + offset2d(row, ld_grad, f), acc);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Edge softmax per destination row and head: out[e, h] = exp(s[e, h] - m) / (sum + 1e-16) with
// m = max over the row (NaN propagates; a row whose max is -inf uses m = 0, so all -inf scores
// give 0 instead of NaN), sum = sum over the row of exp(s - m). A group owns a row, lane j owns
// heads j, j + G, ... (G: smallest power of two >= H, <= 32) and makes three passes over the
// row's scores in CSR order (max, sum, write); the second and third reads come from L1/L2.
// Bytes per edge and head: 3 sizeof(T) read (1 from DRAM), sizeof(T) written; row_max/row_sum
// (fp32, [M, H], optional) get the m and sum used (0 and 0 for an empty row).
template <typename I, typename T>
__global__ void edge_softmax_kernel(const I* __restrict__ row_ptr, int64_t num_rows, int64_t heads,
                                    const T* __restrict__ scores, int64_t ld_scores,
                                    T* __restrict__ out, int64_t ld_out, float* __restrict__ row_max,
                                    float* __restrict__ row_sum, int group_log2) {
    const GroupIndex g = group_index(group_log2);
    for (int64_t row = g.first; row < num_rows; row += g.stride) {
        const int64_t start = static_cast<int64_t>(row_ptr[row]);
        const int64_t end = static_cast<int64_t>(row_ptr[row + 1]);
        for (int64_t h = g.glane; h < heads; h += g.group) {
            float m = -__int_as_float(0x7f800000);  // -inf
            for (int64_t e = start; e < end; ++e) {
                const float s = eo_load(scores + offset2d(e, ld_scores, h));
                if (s > m || is_nan(s)) {
                    if (!is_nan(m)) m = s;
                }
            }
            if (m == -__int_as_float(0x7f800000) || end == start) m = 0.0f;
            float sum = 0.0f;
            for (int64_t e = start; e < end; ++e)
                sum += expf(eo_load(scores + offset2d(e, ld_scores, h)) - m);
            const float denom = sum + 1e-16f;
            for (int64_t e = start; e < end; ++e) {
                const float s = eo_load(scores + offset2d(e, ld_scores, h));
                eo_store(out + offset2d(e, ld_out, h), expf(s - m) / denom);
            }
            if (row_max != nullptr) row_max[offset2d(row, heads, h)] = m;
            if (row_sum != nullptr) row_sum[offset2d(row, heads, h)] = sum;
        }
    }
}

// Edge softmax backward: grad_s[e, h] = y[e, h] * (g[e, h] - sum_row y * g), row-local. Same
// split as the forward; two passes over the row (sum in CSR order, then write).
// Bytes per edge and head: 4 sizeof(T) read (2 from DRAM), sizeof(T) written.
template <typename I, typename T>
__global__ void edge_softmax_backward_kernel(const I* __restrict__ row_ptr, int64_t num_rows,
                                             int64_t heads, const T* __restrict__ y, int64_t ld_y,
                                             const T* __restrict__ grad_out, int64_t ld_grad_out,
                                             T* __restrict__ grad_scores, int64_t ld_grad_scores,
                                             int group_log2) {
    const GroupIndex g = group_index(group_log2);
    for (int64_t row = g.first; row < num_rows; row += g.stride) {
        const int64_t start = static_cast<int64_t>(row_ptr[row]);
        const int64_t end = static_cast<int64_t>(row_ptr[row + 1]);
        for (int64_t h = g.glane; h < heads; h += g.group) {
            float dot = 0.0f;
            for (int64_t e = start; e < end; ++e)
                dot += eo_load(y + offset2d(e, ld_y, h)) *
                       eo_load(grad_out + offset2d(e, ld_grad_out, h));
            for (int64_t e = start; e < end; ++e) {
                const float yy = eo_load(y + offset2d(e, ld_y, h));
                const float gg = eo_load(grad_out + offset2d(e, ld_grad_out, h));
                eo_store(grad_scores + offset2d(e, ld_grad_scores, h), yy * (gg - dot));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Segment reduce (torch_scatter segment_csr): out[s, f] = reduce over p in [ptr[s], ptr[s+1]) of
// src[i(p), f], i(p) = perm[p] (scatter through a COO->CSR permutation) or p. A group owns a
// segment, lane j owns features j, j + G, ... (G: smallest power of two >= F, <= 32) and folds in
// position order in fp32. Mean = sum / count. Max/min keep the first extreme in position order
// (ties -> lowest position), a NaN wins over any number and the first NaN is final; arg = i(p) of
// the winner. Empty segment: 0 for every reducer, arg -1 (decided by count).
// Bytes per output element: count * sizeof(T) read (+ sizeof(I) of perm per row pass),
// sizeof(T) (+ sizeof(I) arg) written.
template <typename I, typename T, int RED>
__global__ void segment_reduce_kernel(const I* __restrict__ ptr, int64_t num_segments,
                                      const I* __restrict__ perm, int64_t feat,
                                      const T* __restrict__ src, int64_t ld_src,
                                      T* __restrict__ out, int64_t ld_out, I* __restrict__ arg,
                                      int64_t ld_arg, int group_log2) {
    const GroupIndex g = group_index(group_log2);
    constexpr bool kExtreme = RED == kSegMax || RED == kSegMin;
    for (int64_t s = g.first; s < num_segments; s += g.stride) {
        const int64_t start = static_cast<int64_t>(ptr[s]);
        const int64_t end = static_cast<int64_t>(ptr[s + 1]);
        for (int64_t f = g.glane; f < feat; f += g.group) {
            float acc = 0.0f;
            int64_t best = -1;
            for (int64_t p = start; p < end; ++p) {
                const int64_t i = perm != nullptr ? static_cast<int64_t>(__ldg(perm + p)) : p;
                const float x = eo_load(src + offset2d(i, ld_src, f));
                if (!kExtreme) {
                    acc += x;
                } else {
                    const bool better = RED == kSegMax ? (x > acc) : (x < acc);
                    if (best < 0 || (!is_nan(acc) && (is_nan(x) || better))) {
                        acc = x;
                        best = i;
                    }
                }
            }
            const int64_t count = end - start;
            if (RED == kSegMean && count > 0) acc = acc / static_cast<float>(count);
            if (count == 0) acc = 0.0f;
            eo_store(out + offset2d(s, ld_out, f), acc);
            if (kExtreme && arg != nullptr) arg[offset2d(s, ld_arg, f)] = static_cast<I>(best);
        }
    }
}

// Gather (torch_scatter gather_csr) and the backward of segment reduce, one kernel:
//   out[i(p), f] = v                 COPY (gather_csr; backward of sum)
//                = v / count         MEAN (backward of mean)
//                = arg[s,f] == i(p) ? v : 0   ARG (backward of max/min: one writer per element)
// with v = src[s, f] for every position p of segment s, i(p) = perm[p] or p. Each out row is
// written by the one group that owns its segment (perm is a permutation), so no atomics. Rows of
// out covered by no segment are not written. Split as segment_reduce_kernel.
// Bytes per out element: sizeof(T) written, sizeof(T) (+ sizeof(I) for ARG) read from L1/L2.
template <typename I, typename T>
__global__ void segment_gather_kernel(const I* __restrict__ ptr, int64_t num_segments,
                                      const I* __restrict__ perm, int mode, int64_t feat,
                                      const T* __restrict__ src, int64_t ld_src,
                                      const I* __restrict__ arg, int64_t ld_arg,
                                      T* __restrict__ out, int64_t ld_out, int group_log2) {
    const GroupIndex g = group_index(group_log2);
    for (int64_t s = g.first; s < num_segments; s += g.stride) {
        const int64_t start = static_cast<int64_t>(ptr[s]);
        const int64_t end = static_cast<int64_t>(ptr[s + 1]);
        for (int64_t f = g.glane; f < feat; f += g.group) {
            float v = eo_load(src + offset2d(s, ld_src, f));
            if (mode == kGatherMean && end > start) v = v / static_cast<float>(end - start);
            const int64_t a = mode == kGatherArg ? static_cast<int64_t>(arg[offset2d(s, ld_arg, f)]) : -1;
            for (int64_t p = start; p < end; ++p) {
                const int64_t i = perm != nullptr ? static_cast<int64_t>(__ldg(perm + p)) : p;
                const float w = mode == kGatherArg ? (a == i ? v : 0.0f) : v;
                eo_store(out + offset2d(i, ld_out, f), w);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// COO -> CSR, four launches (native/src/edge_ops.cu):
// 1. coo_count_kernel: grid-stride over edges; an edge with dst outside [0, M) or src outside
//    [0, K) folds its position into bad[0] / bad[1] with atomicMin (lowest bad position, whatever
//    the thread order); a good edge adds 1 to count[dst] (integer atomics: the counts do not depend
//    on the order). 2 sizeof(I) read per edge.
// 2. coo_scan_kernel: one block of 256 threads; thread t owns a contiguous chunk of rows, sums
//    it, thread 0 scans the 256 partial sums sequentially in shared memory, then every thread
//    writes row_ptr (exclusive prefix, I) and the cursor (same prefix, over the counts).
// 3. coo_place_kernel: grid-stride over edges: perm[atomicAdd(cursor[dst], 1)] = edge. The order
//    inside a row depends on thread timing here ...
// 4. coo_sort_kernel: ... so one thread per row heap-sorts the row's perm entries ascending (they
//    are distinct edge ids, so the sorted result is unique: the output is deterministic and the
//    permutation stable), then writes col_idx[t] = src[perm[t]]. O(d log d) per row in one thread
//    (hub rows are slow; not measured on a GPU).
template <typename I>
__global__ void coo_count_kernel(const I* __restrict__ dst, const I* __restrict__ src, int64_t nnz,
                                 int64_t num_rows, int64_t num_cols,
                                 unsigned long long* __restrict__ bad,
                                 unsigned long long* __restrict__ count) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < nnz;
         i += stride) {
        const int64_t d = static_cast<int64_t>(dst[i]);
        bool ok = true;
        if (d < 0 || d >= num_rows) {
            atomicMin(bad, static_cast<unsigned long long>(i));
            ok = false;
        }
        if (src != nullptr) {
            const int64_t c = static_cast<int64_t>(src[i]);
            if (c < 0 || c >= num_cols) {
                atomicMin(bad + 1, static_cast<unsigned long long>(i));
                ok = false;
            }
        }
        if (ok) atomicAdd(count + d, 1ull);
    }
}

template <typename I>
__global__ void coo_scan_kernel(unsigned long long* __restrict__ count, int64_t num_rows,
                                I* __restrict__ row_ptr) {
    GK_SHARED_ARRAY(unsigned long long, part, kCooScanThreads);
    const int t = static_cast<int>(threadIdx.x);
    const int64_t chunk = (num_rows + kCooScanThreads - 1) / kCooScanThreads;
    const int64_t r0 = chunk * t < num_rows ? chunk * t : num_rows;
    const int64_t r1 = r0 + chunk < num_rows ? r0 + chunk : num_rows;
    unsigned long long local = 0;
    for (int64_t r = r0; r < r1; ++r) local += count[r];
    part[t] = local;
    __syncthreads();
    if (t == 0) {
        unsigned long long run = 0;
        for (int k = 0; k < kCooScanThreads; ++k) {
            const unsigned long long c = part[k];
            part[k] = run;
            run += c;
        }
        row_ptr[num_rows] = static_cast<I>(run);
    }
    __syncthreads();
    unsigned long long run = part[t];
    for (int64_t r = r0; r < r1; ++r) {
        const unsigned long long c = count[r];
        row_ptr[r] = static_cast<I>(run);
        count[r] = run;  // becomes the placement cursor
        run += c;
    }
}

template <typename I>
__global__ void coo_place_kernel(const I* __restrict__ dst, int64_t nnz,
                                 unsigned long long* __restrict__ cursor, I* __restrict__ perm) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < nnz;
         i += stride) {
        const unsigned long long p = atomicAdd(cursor + static_cast<int64_t>(dst[i]), 1ull);
        perm[p] = static_cast<I>(i);
    }
}

template <typename I>
GK_D void eo_sift_down(I* a, int64_t root, int64_t n) {
    for (;;) {
        int64_t child = 2 * root + 1;
        if (child >= n) return;
        if (child + 1 < n && a[child + 1] > a[child]) ++child;
        if (!(a[child] > a[root])) return;
        const I t = a[child];
        a[child] = a[root];
        a[root] = t;
        root = child;
    }
}

template <typename I>
__global__ void coo_sort_kernel(const I* __restrict__ row_ptr, int64_t num_rows,
                                I* __restrict__ perm, const I* __restrict__ src,
                                I* __restrict__ col_idx) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < num_rows;
         r += stride) {
        const int64_t start = static_cast<int64_t>(row_ptr[r]);
        const int64_t n = static_cast<int64_t>(row_ptr[r + 1]) - start;
        I* a = perm + start;
        for (int64_t k = n / 2 - 1; k >= 0; --k) eo_sift_down(a, k, n);
        for (int64_t k = n - 1; k > 0; --k) {
            const I t = a[0];
            a[0] = a[k];
            a[k] = t;
            eo_sift_down(a, int64_t{0}, k);
        }
        if (src != nullptr && col_idx != nullptr)
            for (int64_t k = 0; k < n; ++k) col_idx[start + k] = src[static_cast<int64_t>(a[k])];
    }
}

// Degrees. IN (which = 0): thread per row, out[r] = row_ptr[r+1] - row_ptr[r], one writer.
// OUT (which = 1): out[c] = number of CSR positions with col_idx = c: out is zeroed by the
// launcher, then grid-stride over edges with integer atomicAdd (exact: the count does not depend
// on the order). 2 sizeof(I) (IN) or sizeof(I) (OUT) read per row/edge.
template <typename I>
__global__ void degree_kernel(const I* __restrict__ row_ptr, const I* __restrict__ col_idx,
                              int64_t num_rows, int64_t nnz, int which, I* __restrict__ out) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (which == 0) {
        for (int64_t r = first; r < num_rows; r += stride)
            out[r] = static_cast<I>(static_cast<int64_t>(row_ptr[r + 1]) -
                                    static_cast<int64_t>(row_ptr[r]));
    } else {
        for (int64_t e = first; e < nnz; e += stride) {
            I* p = out + static_cast<int64_t>(col_idx[e]);
            if (sizeof(I) == 4)
                atomicAdd(reinterpret_cast<unsigned int*>(p), 1u);
            else
                atomicAdd(reinterpret_cast<unsigned long long*>(p), 1ull);
        }
    }
}

}  // namespace gk

#endif  // GK_EDGE_OPS_CUH
