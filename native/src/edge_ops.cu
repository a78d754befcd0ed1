// Edge-op launchers (kernels/edge_ops.cuh): SDDMM and backward, edge softmax and backward,
// segment reduce / gather, COO -> CSR, degree. Each validates every argument (a sentence naming
// the argument and the value, outputs untouched), picks the group size and launches on the
// caller's stream. No allocation; only gk_coo_to_csr synchronises (documented).
#include "edge_ops.cuh"
#include "gk_runtime.h"
#include "validate.h"

namespace {

struct Extent {
    const char* name;
    const void* p;
    int64_t bytes;
};

// Outputs must not overlap inputs nor each other.
gk_status check_overlaps(const char* op, const Extent* in, int n_in, const Extent* out, int n_out) {
    for (int o = 0; o < n_out; ++o) {
        for (int i = 0; i < n_in; ++i)
            if (gk::overlaps(out[o].p, out[o].bytes, in[i].p, in[i].bytes))
                return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s overlaps %s; in-place is not supported",
                                op, out[o].name, in[i].name);
        for (int k = 0; k < o; ++k)
            if (gk::overlaps(out[o].p, out[o].bytes, out[k].p, out[k].bytes))
                return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s overlaps %s", op, out[o].name,
                                out[k].name);
    }
    return GK_SUCCESS;
}

gk_status check_dtype(const char* op, int32_t dtype) {
    if (dtype < GK_DTYPE_F32 || dtype > GK_DTYPE_F64)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: dtype = %d is not a gk_dtype", op, dtype);
    if (dtype == GK_DTYPE_F64)
        return gk::fail(GK_ERROR_UNSUPPORTED,
                        "%s: dtype = 3 (GK_DTYPE_F64) is not supported; use F32, F16 or BF16", op);
    return GK_SUCCESS;
}

size_t dtype_size(int32_t dtype) { return dtype == GK_DTYPE_F32 ? 4 : 2; }

gk_status check_index_type(const char* op, int32_t index_type) {
    if (index_type != GK_INDEX_INT32 && index_type != GK_INDEX_INT64)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: index_type = %d is not a gk_index_type (0 = int32, 1 = int64)", op,
                        index_type);
    return GK_SUCCESS;
}

gk_status check_feat(const char* op, int64_t feat) {
    if (feat < 1)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: feat = %lld, must be >= 1", op,
                        static_cast<long long>(feat));
    return GK_SUCCESS;
}

gk_status check_target(const char* op, const char* name, int32_t t) {
    if (t < GK_TARGET_SRC || t > GK_TARGET_EDGE)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: %s = %d is not a gk_target (0 = src, 1 = dst, 2 = edge)", op, name, t);
    return GK_SUCCESS;
}

int64_t target_rows(const gk_csr* csr, int32_t t) {
    return t == GK_TARGET_SRC ? csr->num_cols : (t == GK_TARGET_DST ? csr->num_rows : csr->nnz);
}

// Smallest power of two >= want, at most 32, as log2.
int group_log2_for(int64_t want) {
    int g = 0;
    while (g < 5 && (int64_t{1} << g) < want) ++g;
    return g;
}

unsigned blocks_for(int64_t rows, int group_log2) {
    const int64_t rows_per_block = gk::kEdgeOpsBlockThreads >> group_log2;
    int64_t want = (rows + rows_per_block - 1) / rows_per_block;
    if (want < 1) want = 1;
    return static_cast<unsigned>(want < (int64_t{1} << 20) ? want : (int64_t{1} << 20));
}

unsigned flat_blocks(int64_t n) {
    int64_t want = (n + gk::kEdgeOpsBlockThreads - 1) / gk::kEdgeOpsBlockThreads;
    if (want < 1) want = 1;
    return static_cast<unsigned>(want < 65536 ? want : 65536);
}

// Calls f.template run<T>() for the element type of dtype.
template <typename F>
cudaError_t by_dtype(int32_t dtype, F& f) {
    if (dtype == GK_DTYPE_F16) return f.template run<__half>();
    if (dtype == GK_DTYPE_BF16) return f.template run<__nv_bfloat16>();
    return f.template run<float>();
}

// ------------------------------------------------------------------------------------ SDDMM --

struct SddmmCommon {
    const gk_csr* csr;
    int32_t op, dtype;
    int64_t feat, heads;
    int32_t lt;
    const void* lhs;
    int64_t ld_lhs;
    int32_t rt;
    const void* rhs;
    int64_t ld_rhs;
};

gk_status check_sddmm_common(const char* op, const SddmmCommon& c) {
    gk_status s = gk::check_csr_header(c.csr, op);
    if (s != GK_SUCCESS) return s;
    if (c.op < GK_SDDMM_DOT || c.op > GK_SDDMM_DIV)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: op = %d is not a gk_sddmm_op (0 = dot, 1 = add, 2 = sub, 3 = mul, 4 = div)",
                        op, c.op);
    if ((s = check_dtype(op, c.dtype)) != GK_SUCCESS) return s;
    if ((s = check_feat(op, c.feat)) != GK_SUCCESS) return s;
    if (c.op == GK_SDDMM_DOT) {
        if (c.heads < 1 || c.feat % c.heads != 0)
            return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                            "%s: heads = %lld must be >= 1 and divide feat = %lld", op,
                            static_cast<long long>(c.heads), static_cast<long long>(c.feat));
    } else if (c.heads != 1) {
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: heads = %lld, must be 1 for an elementwise op (out is [nnz, feat])", op,
                        static_cast<long long>(c.heads));
    }
    if ((s = check_target(op, "lhs_target", c.lt)) != GK_SUCCESS) return s;
    if ((s = check_target(op, "rhs_target", c.rt)) != GK_SUCCESS) return s;
    const size_t es = dtype_size(c.dtype);
    const int64_t nnz = c.csr->nnz;
    // Operands are read only through edges; with no edges they may be absent.
    s = gk::check_matrix(op, "lhs", "ld_lhs", c.lhs, nnz > 0 ? target_rows(c.csr, c.lt) : 0, c.feat,
                         c.ld_lhs, es);
    if (s != GK_SUCCESS) return s;
    return gk::check_matrix(op, "rhs", "ld_rhs", c.rhs, nnz > 0 ? target_rows(c.csr, c.rt) : 0,
                            c.feat, c.ld_rhs, es);
}

struct SddmmLaunch {
    SddmmCommon c;
    void* out;
    int64_t ld_out;
    int64_t width;
    int group_log2;
    cudaStream_t stream;

    template <typename T, typename I, bool DOT>
    cudaError_t go() {
        return GK_LAUNCH((gk::sddmm_kernel<I, T, DOT>), dim3(blocks_for(c.csr->num_rows, group_log2)),
                         dim3(gk::kEdgeOpsBlockThreads), 0, stream,
                         static_cast<const I*>(c.csr->row_ptr), static_cast<const I*>(c.csr->col_idx),
                         c.csr->num_rows, static_cast<int>(c.op), static_cast<int>(c.lt),
                         static_cast<int>(c.rt), static_cast<const T*>(c.lhs), c.ld_lhs,
                         static_cast<const T*>(c.rhs), c.ld_rhs, static_cast<T*>(out), ld_out, width,
                         c.feat / c.heads, group_log2);
    }
    template <typename T>
    cudaError_t run() {
        const bool dot = c.op == GK_SDDMM_DOT;
        if (c.csr->index_type == GK_INDEX_INT32)
            return dot ? go<T, int32_t, true>() : go<T, int32_t, false>();
        return dot ? go<T, int64_t, true>() : go<T, int64_t, false>();
    }
};

struct SddmmBackwardLaunch {
    SddmmCommon c;
    const gk_csr* graph;  // csr, or the transpose for a source operand
    const void* perm;
    int side;
    int32_t self_target;
    const void* grad_out;
    int64_t ld_grad_out;
    void* grad;
    int64_t ld_grad;
    cudaStream_t stream;

    template <typename T, typename I, bool TRANS>
    cudaError_t go() {
        const int gl = group_log2_for(c.feat);
        return GK_LAUNCH((gk::sddmm_backward_kernel<I, T, TRANS>),
                         dim3(blocks_for(graph->num_rows, gl)), dim3(gk::kEdgeOpsBlockThreads), 0,
                         stream, static_cast<const I*>(graph->row_ptr),
                         static_cast<const I*>(graph->col_idx), static_cast<const I*>(perm),
                         graph->num_rows, static_cast<int>(c.op), side, static_cast<int>(self_target),
                         static_cast<int>(c.lt), static_cast<int>(c.rt),
                         static_cast<const T*>(c.lhs), c.ld_lhs, static_cast<const T*>(c.rhs),
                         c.ld_rhs, static_cast<const T*>(grad_out), ld_grad_out,
                         static_cast<T*>(grad), ld_grad, c.feat, c.feat / c.heads, gl);
    }
    template <typename T>
    cudaError_t run() {
        const bool trans = self_target == GK_TARGET_SRC;
        if (graph->index_type == GK_INDEX_INT32)
            return trans ? go<T, int32_t, true>() : go<T, int32_t, false>();
        return trans ? go<T, int64_t, true>() : go<T, int64_t, false>();
    }
};

// ------------------------------------------------------------------------------ edge softmax --

gk_status check_softmax_common(const char* op, const gk_csr* csr, int32_t dtype, int64_t heads) {
    gk_status s = gk::check_csr_header(csr, op);
    if (s != GK_SUCCESS) return s;
    if ((s = check_dtype(op, dtype)) != GK_SUCCESS) return s;
    if (heads < 1)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: heads = %lld, must be >= 1", op,
                        static_cast<long long>(heads));
    return GK_SUCCESS;
}

struct SoftmaxLaunch {
    const gk_csr* csr;
    int64_t heads;
    const void* a;  // scores (forward) or y (backward)
    int64_t ld_a;
    const void* b;  // grad_out (backward)
    int64_t ld_b;
    void* out;
    int64_t ld_out;
    float* row_max;
    float* row_sum;
    bool backward;
    cudaStream_t stream;

    template <typename T, typename I>
    cudaError_t go() {
        const int gl = group_log2_for(heads);
        const dim3 grid(blocks_for(csr->num_rows, gl));
        if (backward)
            return GK_LAUNCH((gk::edge_softmax_backward_kernel<I, T>), grid,
                             dim3(gk::kEdgeOpsBlockThreads), 0, stream,
                             static_cast<const I*>(csr->row_ptr), csr->num_rows, heads,
                             static_cast<const T*>(a), ld_a, static_cast<const T*>(b), ld_b,
                             static_cast<T*>(out), ld_out, gl);
        return GK_LAUNCH((gk::edge_softmax_kernel<I, T>), grid, dim3(gk::kEdgeOpsBlockThreads), 0,
                         stream, static_cast<const I*>(csr->row_ptr), csr->num_rows, heads,
                         static_cast<const T*>(a), ld_a, static_cast<T*>(out), ld_out, row_max,
                         row_sum, gl);
    }
    template <typename T>
    cudaError_t run() {
        return csr->index_type == GK_INDEX_INT32 ? go<T, int32_t>() : go<T, int64_t>();
    }
};

// ---------------------------------------------------------------------------------- segment --

gk_status check_segment_common(const char* op, int32_t index_type, int64_t num_segments,
                               const void* ptr, const void* perm, const char* rows_name,
                               int64_t rows, int32_t dtype, int64_t feat) {
    gk_status s = check_index_type(op, index_type);
    if (s != GK_SUCCESS) return s;
    if (num_segments < 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: num_segments = %lld is negative", op,
                        static_cast<long long>(num_segments));
    if (rows < 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s = %lld is negative", op, rows_name,
                        static_cast<long long>(rows));
    const int64_t lim = gk::index_max(index_type);
    if (num_segments >= lim || rows > lim)
        return gk::fail(GK_ERROR_INDEX_OVERFLOW,
                        "%s: sizes (num_segments = %lld, %s = %lld) do not fit int32 indices; use "
                        "GK_INDEX_INT64",
                        op, static_cast<long long>(num_segments), rows_name,
                        static_cast<long long>(rows));
    const size_t isz = gk::index_size(index_type);
    if (ptr == nullptr)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: ptr is NULL (it has num_segments + 1 = %lld entries)",
                        op, static_cast<long long>(num_segments + 1));
    if (!gk::aligned(ptr, isz) || (perm != nullptr && !gk::aligned(perm, isz)))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: ptr (%p) and perm (%p) must be aligned to %zu bytes", op, ptr, perm, isz);
    if ((s = check_dtype(op, dtype)) != GK_SUCCESS) return s;
    return check_feat(op, feat);
}

struct SegmentLaunch {
    int32_t index_type;
    int64_t num_segments;
    const void* ptr;
    const void* perm;
    int32_t reduce;  // gk_reduce (reduce) or gk_gather_mode (gather)
    bool gather;
    int64_t feat;
    const void* src;
    int64_t ld_src;
    void* out;
    int64_t ld_out;
    void* arg;  // arg_out (reduce) or arg input (gather)
    int64_t ld_arg;
    cudaStream_t stream;

    template <typename T, typename I, int RED>
    cudaError_t reduce_go(int gl) {
        return GK_LAUNCH((gk::segment_reduce_kernel<I, T, RED>), dim3(blocks_for(num_segments, gl)),
                         dim3(gk::kEdgeOpsBlockThreads), 0, stream, static_cast<const I*>(ptr),
                         num_segments, static_cast<const I*>(perm), feat,
                         static_cast<const T*>(src), ld_src, static_cast<T*>(out), ld_out,
                         static_cast<I*>(arg), ld_arg, gl);
    }
    template <typename T, typename I>
    cudaError_t go() {
        const int gl = group_log2_for(feat);
        if (gather)
            return GK_LAUNCH((gk::segment_gather_kernel<I, T>), dim3(blocks_for(num_segments, gl)),
                             dim3(gk::kEdgeOpsBlockThreads), 0, stream, static_cast<const I*>(ptr),
                             num_segments, static_cast<const I*>(perm), static_cast<int>(reduce),
                             feat, static_cast<const T*>(src), ld_src, static_cast<const I*>(arg),
                             ld_arg, static_cast<T*>(out), ld_out, gl);
        switch (reduce) {
            case GK_REDUCE_SUM: return reduce_go<T, I, gk::kSegSum>(gl);
            case GK_REDUCE_MEAN: return reduce_go<T, I, gk::kSegMean>(gl);
            case GK_REDUCE_MAX: return reduce_go<T, I, gk::kSegMax>(gl);
            default: return reduce_go<T, I, gk::kSegMin>(gl);
        }
    }
    template <typename T>
    cudaError_t run() {
        return index_type == GK_INDEX_INT32 ? go<T, int32_t>() : go<T, int64_t>();
    }
};

// ---------------------------------------------------------------------------------- COO ------

template <typename I>
gk_status coo_typed(int64_t nnz, const void* dst_v, const void* src_v, int64_t num_rows,
                    int64_t num_cols, void* row_ptr_v, void* col_v, void* perm_v,
                    unsigned long long* ws, cudaStream_t stream) {
    const char* op = "gk_coo_to_csr";
    const I* dst = static_cast<const I*>(dst_v);
    const I* src = static_cast<const I*>(src_v);
    unsigned long long* bad = ws;
    unsigned long long* count = ws + 2;
    cudaError_t err = cudaMemsetAsync(bad, 0xff, 2 * sizeof(unsigned long long), stream);
    if (err == cudaSuccess && num_rows > 0)
        err = cudaMemsetAsync(count, 0, static_cast<size_t>(num_rows) * sizeof(unsigned long long), stream);
    if (err != cudaSuccess) return gk::fail_cuda(err, op);
    if (nnz > 0) {
        err = GK_LAUNCH((gk::coo_count_kernel<I>), dim3(flat_blocks(nnz)),
                        dim3(gk::kEdgeOpsBlockThreads), 0, stream, dst, src, nnz, num_rows,
                        num_cols, bad, count);
        if (err != cudaSuccess) return gk::fail_cuda(err, op);
    }
    unsigned long long b[2];
    err = cudaMemcpyAsync(b, bad, sizeof b, cudaMemcpyDeviceToHost, stream);
    if (err == cudaSuccess) err = cudaStreamSynchronize(stream);
    if (err != cudaSuccess) return gk::fail_cuda(err, op);
    for (int k = 0; k < 2; ++k) {
        if (b[k] == ~0ull) continue;
        const int64_t i = static_cast<int64_t>(b[k]);
        I v = 0;
        err = cudaMemcpy(&v, (k == 0 ? dst : src) + i, sizeof(I), cudaMemcpyDeviceToHost);
        if (err != cudaSuccess) return gk::fail_cuda(err, op);
        return gk::fail(GK_ERROR_INVALID_GRAPH, "%s: %s[%lld] = %lld is outside [0, %s = %lld)", op,
                        k == 0 ? "dst" : "src", static_cast<long long>(i),
                        static_cast<long long>(v), k == 0 ? "num_rows" : "num_cols",
                        static_cast<long long>(k == 0 ? num_rows : num_cols));
    }
    I* row_ptr = static_cast<I*>(row_ptr_v);
    I* perm = static_cast<I*>(perm_v);
    err = GK_LAUNCH((gk::coo_scan_kernel<I>), dim3(1), dim3(gk::kCooScanThreads), 0, stream, count,
                    num_rows, row_ptr);
    if (err == cudaSuccess && nnz > 0)
        err = GK_LAUNCH((gk::coo_place_kernel<I>), dim3(flat_blocks(nnz)),
                        dim3(gk::kEdgeOpsBlockThreads), 0, stream, dst, nnz, count, perm);
    if (err == cudaSuccess && num_rows > 0)
        err = GK_LAUNCH((gk::coo_sort_kernel<I>), dim3(flat_blocks(num_rows)),
                        dim3(gk::kEdgeOpsBlockThreads), 0, stream,
                        static_cast<const I*>(row_ptr), num_rows, perm, src, static_cast<I*>(col_v));
    if (err != cudaSuccess) return gk::fail_cuda(err, op);
    return GK_SUCCESS;
}

}  // namespace

extern "C" {

GK_API gk_status gk_sddmm(const gk_csr* csr, int32_t op, int32_t dtype, int64_t feat,
                          int64_t heads, int32_t lhs_target, const void* lhs, int64_t ld_lhs,
                          int32_t rhs_target, const void* rhs, int64_t ld_rhs, void* out,
                          int64_t ld_out, void* stream) {
    GK_ABI_BEGIN
    const char* kOp = "gk_sddmm";
    const SddmmCommon cc{csr, op, dtype, feat, heads, lhs_target, lhs, ld_lhs, rhs_target, rhs, ld_rhs};
    gk_status s = check_sddmm_common(kOp, cc);
    if (s != GK_SUCCESS) return s;
    const int64_t width = op == GK_SDDMM_DOT ? heads : feat;
    const size_t es = dtype_size(dtype);
    if (ld_out < width)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: ld_out = %lld is less than the output width %lld (%s)",
                        kOp, static_cast<long long>(ld_out), static_cast<long long>(width),
                        op == GK_SDDMM_DOT ? "heads" : "feat");
    s = gk::check_matrix(kOp, "out", "ld_out", out, csr->nnz, width, ld_out, es);
    if (s != GK_SUCCESS) return s;
    const int64_t isz = static_cast<int64_t>(gk::index_size(csr->index_type));
    const int64_t nnz = csr->nnz;
    const Extent in[] = {
        {"lhs", lhs, gk::matrix_bytes(nnz > 0 ? target_rows(csr, lhs_target) : 0, feat, ld_lhs, es)},
        {"rhs", rhs, gk::matrix_bytes(nnz > 0 ? target_rows(csr, rhs_target) : 0, feat, ld_rhs, es)},
        {"csr->row_ptr", csr->row_ptr, (csr->num_rows + 1) * isz},
        {"csr->col_idx", csr->col_idx, nnz * isz},
    };
    const Extent o[] = {{"out", out, gk::matrix_bytes(nnz, width, ld_out, es)}};
    if ((s = check_overlaps(kOp, in, 4, o, 1)) != GK_SUCCESS) return s;
    if (nnz == 0) return GK_SUCCESS;
    SddmmLaunch l{cc, out, ld_out, width, 0, gk::as_stream(stream)};
    const int64_t avg = (nnz + csr->num_rows - 1) / (csr->num_rows > 0 ? csr->num_rows : 1);
    l.group_log2 = group_log2_for(width * avg);
    const cudaError_t err = by_dtype(dtype, l);
    if (err != cudaSuccess) return gk::fail_cuda(err, kOp);
    return GK_SUCCESS;
    GK_ABI_END
}

GK_API gk_status gk_sddmm_backward(const gk_csr* csr, const gk_csr* transpose, const void* perm,
                                   int32_t op, int32_t dtype, int64_t feat, int64_t heads,
                                   int32_t lhs_target, const void* lhs, int64_t ld_lhs,
                                   int32_t rhs_target, const void* rhs, int64_t ld_rhs,
                                   const void* grad_out, int64_t ld_grad_out, void* grad_lhs,
                                   int64_t ld_grad_lhs, void* grad_rhs, int64_t ld_grad_rhs,
                                   void* stream) {
    GK_ABI_BEGIN
    const char* kOp = "gk_sddmm_backward";
    const SddmmCommon c{csr, op, dtype, feat, heads, lhs_target, lhs, ld_lhs, rhs_target, rhs, ld_rhs};
    gk_status s = check_sddmm_common(kOp, c);
    if (s != GK_SUCCESS) return s;
    const int64_t width = op == GK_SDDMM_DOT ? heads : feat;
    const size_t es = dtype_size(dtype);
    const int64_t nnz = csr->nnz;
    if (ld_grad_out < width)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: ld_grad_out = %lld is less than the output width %lld", kOp,
                        static_cast<long long>(ld_grad_out), static_cast<long long>(width));
    s = gk::check_matrix(kOp, "grad_out", "ld_grad_out", grad_out, nnz, width, ld_grad_out, es);
    if (s != GK_SUCCESS) return s;
    const int64_t rows_l = target_rows(csr, lhs_target), rows_r = target_rows(csr, rhs_target);
    if (grad_lhs != nullptr &&
        (s = gk::check_matrix(kOp, "grad_lhs", "ld_grad_lhs", grad_lhs, rows_l, feat, ld_grad_lhs, es)) != GK_SUCCESS)
        return s;
    if (grad_rhs != nullptr &&
        (s = gk::check_matrix(kOp, "grad_rhs", "ld_grad_rhs", grad_rhs, rows_r, feat, ld_grad_rhs, es)) != GK_SUCCESS)
        return s;
    const bool need_t = (grad_lhs != nullptr && lhs_target == GK_TARGET_SRC) ||
                        (grad_rhs != nullptr && rhs_target == GK_TARGET_SRC);
    const int64_t isz = static_cast<int64_t>(gk::index_size(csr->index_type));
    if (need_t) {
        if ((s = gk::check_csr_header(transpose, kOp)) != GK_SUCCESS) return s;
        if (transpose->index_type != csr->index_type || transpose->num_rows != csr->num_cols ||
            transpose->num_cols != csr->num_rows || transpose->nnz != csr->nnz)
            return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                            "%s: transpose (num_rows = %lld, num_cols = %lld, nnz = %lld, index_type = %d) "
                            "is not the transpose of csr (%lld x %lld, nnz = %lld, index_type = %d)",
                            kOp, static_cast<long long>(transpose->num_rows),
                            static_cast<long long>(transpose->num_cols),
                            static_cast<long long>(transpose->nnz), transpose->index_type,
                            static_cast<long long>(csr->num_rows), static_cast<long long>(csr->num_cols),
                            static_cast<long long>(csr->nnz), csr->index_type);
        if (perm == nullptr && nnz > 0)
            return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                            "%s: perm is NULL; a source-target gradient needs the transpose's edge "
                            "permutation (nnz = %lld entries)",
                            kOp, static_cast<long long>(nnz));
        if (!gk::aligned(perm, static_cast<size_t>(isz)))
            return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: perm (%p) is not aligned to %lld bytes",
                            kOp, perm, static_cast<long long>(isz));
    }
    const bool have_t = need_t;
    const Extent in[] = {
        {"lhs", lhs, gk::matrix_bytes(nnz > 0 ? rows_l : 0, feat, ld_lhs, es)},
        {"rhs", rhs, gk::matrix_bytes(nnz > 0 ? rows_r : 0, feat, ld_rhs, es)},
        {"grad_out", grad_out, gk::matrix_bytes(nnz, width, ld_grad_out, es)},
        {"csr->row_ptr", csr->row_ptr, (csr->num_rows + 1) * isz},
        {"csr->col_idx", csr->col_idx, nnz * isz},
        {"transpose->row_ptr", have_t ? transpose->row_ptr : nullptr, have_t ? (transpose->num_rows + 1) * isz : 0},
        {"transpose->col_idx", have_t ? transpose->col_idx : nullptr, have_t ? nnz * isz : 0},
        {"perm", have_t ? perm : nullptr, have_t ? nnz * isz : 0},
    };
    const Extent o[] = {
        {"grad_lhs", grad_lhs, grad_lhs ? gk::matrix_bytes(rows_l, feat, ld_grad_lhs, es) : 0},
        {"grad_rhs", grad_rhs, grad_rhs ? gk::matrix_bytes(rows_r, feat, ld_grad_rhs, es) : 0},
    };
    if ((s = check_overlaps(kOp, in, 8, o, 2)) != GK_SUCCESS) return s;

    for (int side = 0; side < 2; ++side) {
        void* grad = side == 0 ? grad_lhs : grad_rhs;
        const int32_t self = side == 0 ? lhs_target : rhs_target;
        if (grad == nullptr) continue;
        const gk_csr* graph = self == GK_TARGET_SRC ? transpose : csr;
        if (graph->num_rows == 0) continue;
        SddmmBackwardLaunch l{c, graph, perm, side, self, grad_out, ld_grad_out, grad,
                              side == 0 ? ld_grad_lhs : ld_grad_rhs, gk::as_stream(stream)};
        const cudaError_t err = by_dtype(dtype, l);
        if (err != cudaSuccess) return gk::fail_cuda(err, kOp);
    }
    return GK_SUCCESS;
    GK_ABI_END
}

GK_API gk_status gk_edge_softmax(const gk_csr* csr, int32_t dtype, int64_t heads,
                                 const void* scores, int64_t ld_scores, void* out, int64_t ld_out,
                                 float* row_max, float* row_sum, void* stream) {
    GK_ABI_BEGIN
    const char* kOp = "gk_edge_softmax";
    gk_status s = check_softmax_common(kOp, csr, dtype, heads);
    if (s != GK_SUCCESS) return s;
    const size_t es = dtype_size(dtype);
    const int64_t nnz = csr->nnz, rows = csr->num_rows;
    if ((s = gk::check_matrix(kOp, "scores", "ld_scores", scores, nnz, heads, ld_scores, es)) != GK_SUCCESS) return s;
    if ((s = gk::check_matrix(kOp, "out", "ld_out", out, nnz, heads, ld_out, es)) != GK_SUCCESS) return s;
    if (row_max != nullptr && (s = gk::check_matrix(kOp, "row_max", "heads", row_max, rows, heads, heads, 4)) != GK_SUCCESS) return s;
    if (row_sum != nullptr && (s = gk::check_matrix(kOp, "row_sum", "heads", row_sum, rows, heads, heads, 4)) != GK_SUCCESS) return s;
    const int64_t isz = static_cast<int64_t>(gk::index_size(csr->index_type));
    const Extent in[] = {
        {"scores", scores, gk::matrix_bytes(nnz, heads, ld_scores, es)},
        {"csr->row_ptr", csr->row_ptr, (rows + 1) * isz},
    };
    const Extent o[] = {
        {"out", out, gk::matrix_bytes(nnz, heads, ld_out, es)},
        {"row_max", row_max, row_max ? rows * heads * 4 : 0},
        {"row_sum", row_sum, row_sum ? rows * heads * 4 : 0},
    };
    if ((s = check_overlaps(kOp, in, 2, o, 3)) != GK_SUCCESS) return s;
    if (rows == 0) return GK_SUCCESS;
    SoftmaxLaunch l{csr, heads, scores, ld_scores, nullptr, 0, out, ld_out, row_max, row_sum, false,
                    gk::as_stream(stream)};
    const cudaError_t err = by_dtype(dtype, l);
    if (err != cudaSuccess) return gk::fail_cuda(err, kOp);
    return GK_SUCCESS;
    GK_ABI_END
}

GK_API gk_status gk_edge_softmax_backward(const gk_csr* csr, int32_t dtype, int64_t heads,
                                          const void* y, int64_t ld_y, const void* grad_out,
                                          int64_t ld_grad_out, void* grad_scores,
                                          int64_t ld_grad_scores, void* stream) {
    GK_ABI_BEGIN
    const char* kOp = "gk_edge_softmax_backward";
    gk_status s = check_softmax_common(kOp, csr, dtype, heads);
    if (s != GK_SUCCESS) return s;
    const size_t es = dtype_size(dtype);
    const int64_t nnz = csr->nnz, rows = csr->num_rows;
    if ((s = gk::check_matrix(kOp, "y", "ld_y", y, nnz, heads, ld_y, es)) != GK_SUCCESS) return s;
    if ((s = gk::check_matrix(kOp, "grad_out", "ld_grad_out", grad_out, nnz, heads, ld_grad_out, es)) != GK_SUCCESS) return s;
    if ((s = gk::check_matrix(kOp, "grad_scores", "ld_grad_scores", grad_scores, nnz, heads, ld_grad_scores, es)) != GK_SUCCESS) return s;
    const int64_t isz = static_cast<int64_t>(gk::index_size(csr->index_type));
    const Extent in[] = {
        {"y", y, gk::matrix_bytes(nnz, heads, ld_y, es)},
        {"grad_out", grad_out, gk::matrix_bytes(nnz, heads, ld_grad_out, es)},
        {"csr->row_ptr", csr->row_ptr, (rows + 1) * isz},
    };
    const Extent o[] = {{"grad_scores", grad_scores, gk::matrix_bytes(nnz, heads, ld_grad_scores, es)}};
    if ((s = check_overlaps(kOp, in, 3, o, 1)) != GK_SUCCESS) return s;
    if (rows == 0 || nnz == 0) return GK_SUCCESS;
    SoftmaxLaunch l{csr, heads, y, ld_y, grad_out, ld_grad_out, grad_scores, ld_grad_scores,
                    nullptr, nullptr, true, gk::as_stream(stream)};
    const cudaError_t err = by_dtype(dtype, l);
    if (err != cudaSuccess) return gk::fail_cuda(err, kOp);
    return GK_SUCCESS;
    GK_ABI_END
}

GK_API gk_status gk_segment_reduce(int32_t index_type, int64_t num_segments, const void* ptr,
                                   const void* perm, int64_t num_src, int32_t reduce,
                                   int32_t dtype, int64_t feat, const void* src, int64_t ld_src,
                                   void* out, int64_t ld_out, void* arg_out, int64_t ld_arg,
                                   void* stream) {
    GK_ABI_BEGIN
    const char* kOp = "gk_segment_reduce";
    gk_status s = check_segment_common(kOp, index_type, num_segments, ptr, perm, "num_src", num_src,
                                       dtype, feat);
    if (s != GK_SUCCESS) return s;
    if (reduce == GK_REDUCE_MUL)
        return gk::fail(GK_ERROR_UNSUPPORTED,
                        "%s: reduce = %d (GK_REDUCE_MUL) is not supported by segment reduce; use 0 = sum, "
                        "1 = mean, 2 = max or 3 = min", kOp, reduce);
    if (reduce < GK_REDUCE_SUM || reduce > GK_REDUCE_MIN)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: reduce = %d is not a gk_reduce (0 = sum, 1 = mean, 2 = max, 3 = min)",
                        kOp, reduce);
    const size_t es = dtype_size(dtype), isz = gk::index_size(index_type);
    if ((s = gk::check_matrix(kOp, "src", "ld_src", src, num_src, feat, ld_src, es)) != GK_SUCCESS) return s;
    if ((s = gk::check_matrix(kOp, "out", "ld_out", out, num_segments, feat, ld_out, es)) != GK_SUCCESS) return s;
    if (arg_out != nullptr) {
        if (reduce != GK_REDUCE_MAX && reduce != GK_REDUCE_MIN)
            return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                            "%s: arg_out must be NULL for reduce = %d (only max and min have an arg)",
                            kOp, reduce);
        if ((s = gk::check_matrix(kOp, "arg_out", "ld_arg", arg_out, num_segments, feat, ld_arg, isz)) != GK_SUCCESS)
            return s;
    }
    const int64_t isz64 = static_cast<int64_t>(isz);
    const Extent in[] = {
        {"src", src, gk::matrix_bytes(num_src, feat, ld_src, es)},
        {"ptr", ptr, (num_segments + 1) * isz64},
        {"perm", perm, perm ? num_src * isz64 : 0},
    };
    const Extent o[] = {
        {"out", out, gk::matrix_bytes(num_segments, feat, ld_out, es)},
        {"arg_out", arg_out, arg_out ? gk::matrix_bytes(num_segments, feat, ld_arg, isz) : 0},
    };
    if ((s = check_overlaps(kOp, in, 3, o, 2)) != GK_SUCCESS) return s;
    if (num_segments == 0) return GK_SUCCESS;
    SegmentLaunch l{index_type, num_segments, ptr, perm, reduce, false, feat, src, ld_src, out,
                    ld_out, arg_out, ld_arg, gk::as_stream(stream)};
    const cudaError_t err = by_dtype(dtype, l);
    if (err != cudaSuccess) return gk::fail_cuda(err, kOp);
    return GK_SUCCESS;
    GK_ABI_END
}

GK_API gk_status gk_segment_gather(int32_t index_type, int64_t num_segments, const void* ptr,
                                   const void* perm, int64_t num_out, int32_t mode, int32_t dtype,
                                   int64_t feat, const void* src, int64_t ld_src, const void* arg,
                                   int64_t ld_arg, void* out, int64_t ld_out, void* stream) {
    GK_ABI_BEGIN
    const char* kOp = "gk_segment_gather";
    gk_status s = check_segment_common(kOp, index_type, num_segments, ptr, perm, "num_out", num_out,
                                       dtype, feat);
    if (s != GK_SUCCESS) return s;
    if (mode < GK_GATHER_COPY || mode > GK_GATHER_ARG)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: mode = %d is not a gk_gather_mode (0 = copy, 1 = mean, 2 = arg)", kOp, mode);
    const size_t es = dtype_size(dtype), isz = gk::index_size(index_type);
    if ((s = gk::check_matrix(kOp, "src", "ld_src", src, num_segments, feat, ld_src, es)) != GK_SUCCESS) return s;
    if ((s = gk::check_matrix(kOp, "out", "ld_out", out, num_out, feat, ld_out, es)) != GK_SUCCESS) return s;
    if (mode == GK_GATHER_ARG) {
        if (arg == nullptr && num_segments > 0)
            return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                            "%s: arg is NULL; mode = 2 (GK_GATHER_ARG) needs the forward's arg_out", kOp);
        if ((s = gk::check_matrix(kOp, "arg", "ld_arg", arg, num_segments, feat, ld_arg, isz)) != GK_SUCCESS)
            return s;
    } else if (arg != nullptr) {
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: arg must be NULL for mode = %d", kOp, mode);
    }
    const int64_t isz64 = static_cast<int64_t>(isz);
    const Extent in[] = {
        {"src", src, gk::matrix_bytes(num_segments, feat, ld_src, es)},
        {"ptr", ptr, (num_segments + 1) * isz64},
        {"perm", perm, perm ? num_out * isz64 : 0},
        {"arg", arg, arg ? gk::matrix_bytes(num_segments, feat, ld_arg, isz) : 0},
    };
    const Extent o[] = {{"out", out, gk::matrix_bytes(num_out, feat, ld_out, es)}};
    if ((s = check_overlaps(kOp, in, 4, o, 1)) != GK_SUCCESS) return s;
    if (num_segments == 0) return GK_SUCCESS;
    SegmentLaunch l{index_type, num_segments, ptr, perm, mode, true, feat, src, ld_src, out,
                    ld_out, const_cast<void*>(arg), ld_arg, gk::as_stream(stream)};
    const cudaError_t err = by_dtype(dtype, l);
    if (err != cudaSuccess) return gk::fail_cuda(err, kOp);
    return GK_SUCCESS;
    GK_ABI_END
}

GK_API gk_status gk_coo_to_csr_workspace_size(int64_t num_rows, size_t* bytes) {
    GK_ABI_BEGIN
    const char* kOp = "gk_coo_to_csr_workspace_size";
    if (bytes == nullptr) return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: bytes is NULL", kOp);
    if (num_rows < 0 || num_rows > (INT64_MAX / 8) - 2)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: num_rows = %lld is negative or too large",
                        kOp, static_cast<long long>(num_rows));
    *bytes = static_cast<size_t>(num_rows + 2) * 8;
    return GK_SUCCESS;
    GK_ABI_END
}

GK_API gk_status gk_coo_to_csr(int32_t index_type, int64_t nnz, const void* dst, const void* src,
                               int64_t num_rows, int64_t num_cols, void* row_ptr, void* col_idx,
                               void* perm, void* workspace, size_t workspace_bytes, void* stream) {
    GK_ABI_BEGIN
    const char* kOp = "gk_coo_to_csr";
    gk_status s = check_index_type(kOp, index_type);
    if (s != GK_SUCCESS) return s;
    if (nnz < 0 || num_rows < 0 || num_cols < 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: sizes must be non-negative (nnz = %lld, num_rows = %lld, num_cols = %lld)",
                        kOp, static_cast<long long>(nnz), static_cast<long long>(num_rows),
                        static_cast<long long>(num_cols));
    const int64_t lim = gk::index_max(index_type);
    if (nnz > lim || num_rows >= lim || num_cols > lim)
        return gk::fail(GK_ERROR_INDEX_OVERFLOW,
                        "%s: sizes (nnz = %lld, num_rows = %lld, num_cols = %lld) do not fit int32 "
                        "indices; use GK_INDEX_INT64",
                        kOp, static_cast<long long>(nnz), static_cast<long long>(num_rows),
                        static_cast<long long>(num_cols));
    const size_t isz = gk::index_size(index_type);
    const struct {
        const char* name;
        const void* p;
        bool needed;
    } ptrs[] = {{"dst", dst, nnz > 0}, {"row_ptr", row_ptr, true}, {"perm", perm, nnz > 0}};
    for (const auto& q : ptrs) {
        if (q.needed && q.p == nullptr)
            return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s is NULL (nnz = %lld)", kOp, q.name,
                            static_cast<long long>(nnz));
        if (q.p != nullptr && !gk::aligned(q.p, isz))
            return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s (%p) is not aligned to %zu bytes",
                            kOp, q.name, q.p, isz);
    }
    if ((src == nullptr) != (col_idx == nullptr) && nnz > 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: src and col_idx must both be given or both be NULL (src = %p, col_idx = %p)",
                        kOp, src, col_idx);
    if ((src != nullptr && !gk::aligned(src, isz)) || (col_idx != nullptr && !gk::aligned(col_idx, isz)))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: src (%p) and col_idx (%p) must be aligned to %zu bytes",
                        kOp, src, col_idx, isz);
    const size_t need = static_cast<size_t>(num_rows + 2) * 8;
    if (workspace == nullptr)
        return gk::fail(GK_ERROR_WORKSPACE, "%s: workspace is NULL (needs %zu bytes)", kOp, need);
    if (workspace_bytes < need)
        return gk::fail(GK_ERROR_WORKSPACE, "%s: workspace_bytes = %zu, needs %zu", kOp,
                        workspace_bytes, need);
    if (!gk::aligned(workspace, 8))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: workspace (%p) must be 8-byte aligned", kOp,
                        workspace);
    const int64_t i64 = static_cast<int64_t>(isz);
    const Extent in[] = {
        {"dst", dst, nnz * i64},
        {"src", src, src ? nnz * i64 : 0},
        {"workspace", workspace, static_cast<int64_t>(need)},
    };
    const Extent o[] = {
        {"row_ptr", row_ptr, (num_rows + 1) * i64},
        {"col_idx", col_idx, col_idx ? nnz * i64 : 0},
        {"perm", perm, nnz * i64},
    };
    if ((s = check_overlaps(kOp, in, 3, o, 3)) != GK_SUCCESS) return s;
    auto* ws = static_cast<unsigned long long*>(workspace);
    if (index_type == GK_INDEX_INT32)
        return coo_typed<int32_t>(nnz, dst, src, num_rows, num_cols, row_ptr, col_idx, perm, ws,
                                  gk::as_stream(stream));
    return coo_typed<int64_t>(nnz, dst, src, num_rows, num_cols, row_ptr, col_idx, perm, ws,
                              gk::as_stream(stream));
    GK_ABI_END
}

GK_API gk_status gk_degree(const gk_csr* csr, int32_t which, void* out, void* stream) {
    GK_ABI_BEGIN
    const char* kOp = "gk_degree";
    gk_status s = gk::check_csr_header(csr, kOp);
    if (s != GK_SUCCESS) return s;
    if (which != GK_DEGREE_IN && which != GK_DEGREE_OUT)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: which = %d is not a gk_degree_kind (0 = in, 1 = out)", kOp, which);
    const int64_t n = which == GK_DEGREE_IN ? csr->num_rows : csr->num_cols;
    const size_t isz = gk::index_size(csr->index_type);
    if ((s = gk::check_matrix(kOp, "out", "1", out, n, 1, 1, isz)) != GK_SUCCESS) return s;
    const int64_t i64 = static_cast<int64_t>(isz);
    const Extent in[] = {
        {"csr->row_ptr", csr->row_ptr, (csr->num_rows + 1) * i64},
        {"csr->col_idx", csr->col_idx, csr->nnz * i64},
    };
    const Extent o[] = {{"out", out, n * i64}};
    if ((s = check_overlaps(kOp, in, 2, o, 1)) != GK_SUCCESS) return s;
    if (n == 0) return GK_SUCCESS;
    cudaStream_t st = gk::as_stream(stream);
    cudaError_t err = cudaSuccess;
    if (which == GK_DEGREE_OUT) err = cudaMemsetAsync(out, 0, static_cast<size_t>(n) * isz, st);
    const int64_t work = which == GK_DEGREE_IN ? csr->num_rows : csr->nnz;
    if (err == cudaSuccess && work > 0) {
        if (csr->index_type == GK_INDEX_INT32)
            err = GK_LAUNCH((gk::degree_kernel<int32_t>), dim3(flat_blocks(work)),
                            dim3(gk::kEdgeOpsBlockThreads), 0, st,
                            static_cast<const int32_t*>(csr->row_ptr),
                            static_cast<const int32_t*>(csr->col_idx), csr->num_rows, csr->nnz,
                            static_cast<int>(which), static_cast<int32_t*>(out));
        else
            err = GK_LAUNCH((gk::degree_kernel<int64_t>), dim3(flat_blocks(work)),
                            dim3(gk::kEdgeOpsBlockThreads), 0, st,
                            static_cast<const int64_t*>(csr->row_ptr),
                            static_cast<const int64_t*>(csr->col_idx), csr->num_rows, csr->nnz,
                            static_cast<int>(which), static_cast<int64_t*>(out));
    }
    if (err != cudaSuccess) return gk::fail_cuda(err, kOp);
    return GK_SUCCESS;
    GK_ABI_END
}

}  // extern "C"
