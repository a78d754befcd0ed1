// SpMM launcher: validates every argument, picks the vector width V and the group size G (lanes
// per row), and launches gk::spmm_kernel (kernels/spmm.cuh) on the caller's stream. No
// allocation, no synchronisation.
#include "gk_runtime.h"
#include "spmm.cuh"
#include "validate.h"

namespace {

const char* const kOp = "gk_spmm";

struct SpmmArgs {
    const void* row_ptr;
    const void* col_idx;
    const float* w;
    const float* x;
    int64_t ldx;
    float* y;
    int64_t ldy;
    void* arg;
    int64_t ld_arg;
    int64_t rows;
    int64_t feat;
    int group_log2;
    unsigned blocks;
    cudaStream_t stream;
};

template <typename I, int MSG, int RED, int V>
cudaError_t launch(const SpmmArgs& a) {
    return GK_LAUNCH((gk::spmm_kernel<I, MSG, RED, V>), dim3(a.blocks),
                     dim3(gk::kSpmmBlockThreads), 0, a.stream,
                     static_cast<const I*>(a.row_ptr), static_cast<const I*>(a.col_idx), a.w, a.x,
                     a.ldx, a.y, a.ldy, static_cast<I*>(a.arg), a.ld_arg, a.rows, a.feat,
                     a.group_log2);
}

template <typename I, int MSG, int RED>
cudaError_t dispatch_v(int v, const SpmmArgs& a) {
    switch (v) {
        case 4: return launch<I, MSG, RED, 4>(a);
        case 2: return launch<I, MSG, RED, 2>(a);
        default: return launch<I, MSG, RED, 1>(a);
    }
}

template <typename I, int MSG>
cudaError_t dispatch_reduce(int reduce, int v, const SpmmArgs& a) {
    switch (reduce) {
        case GK_REDUCE_SUM: return dispatch_v<I, MSG, gk::kSum>(v, a);
        case GK_REDUCE_MEAN: return dispatch_v<I, MSG, gk::kMean>(v, a);
        case GK_REDUCE_MAX: return dispatch_v<I, MSG, gk::kMax>(v, a);
        default: return dispatch_v<I, MSG, gk::kMin>(v, a);
    }
}

template <typename I>
cudaError_t dispatch_message(int message, int reduce, int v, const SpmmArgs& a) {
    if (message == GK_MESSAGE_U_MUL_E) return dispatch_reduce<I, gk::kUMulE>(reduce, v, a);
    return dispatch_reduce<I, gk::kCopyU>(reduce, v, a);
}

// Widest vector (4, 2 or 1 floats) that divides feat and both leading dimensions and that the
// base pointers are aligned for.
int pick_vector_width(int64_t feat, const void* x, int64_t ldx, const void* y, int64_t ldy) {
    for (int v = 4; v > 1; v /= 2) {
        if (feat % v == 0 && ldx % v == 0 && ldy % v == 0 && gk::aligned(x, 4 * v) &&
            gk::aligned(y, 4 * v))
            return v;
    }
    return 1;
}

}  // namespace

extern "C" {

GK_API gk_status gk_spmm(const gk_csr* csr, int32_t message, int32_t reduce, int32_t dtype,
                         int64_t feat, const void* x, int64_t ldx, const void* edge_weight,
                         void* y, int64_t ldy, void* arg_out, int64_t ld_arg, void* stream) {
    GK_ABI_BEGIN
    gk_status s = gk::check_csr_header(csr, kOp);
    if (s != GK_SUCCESS) return s;
    if (message != GK_MESSAGE_COPY_U && message != GK_MESSAGE_U_MUL_E)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: message = %d is not a gk_message (0 = copy_u, 1 = u_mul_e)", kOp,
                        message);
    if (reduce < GK_REDUCE_SUM || reduce > GK_REDUCE_MIN)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: reduce = %d is not a gk_reduce (0 = sum, 1 = mean, 2 = max, 3 = min)",
                        kOp, reduce);
    if (dtype < GK_DTYPE_F32 || dtype > GK_DTYPE_F64)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: dtype = %d is not a gk_dtype", kOp, dtype);
    if (dtype != GK_DTYPE_F32)
        return gk::fail(GK_ERROR_UNSUPPORTED,
                        "%s: dtype = %d is not supported yet; only GK_DTYPE_F32 (0)", kOp, dtype);
    if (feat < 1)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: feat = %lld, must be >= 1", kOp,
                        static_cast<long long>(feat));

    const int64_t rows = csr->num_rows, cols = csr->num_cols, nnz = csr->nnz;
    // x is read only through edges; with no edges it may be absent.
    s = gk::check_matrix(kOp, "x", "ldx", x, nnz > 0 ? cols : 0, feat, ldx, sizeof(float));
    if (s != GK_SUCCESS) return s;
    s = gk::check_matrix(kOp, "y", "ldy", y, rows, feat, ldy, sizeof(float));
    if (s != GK_SUCCESS) return s;

    if (message == GK_MESSAGE_COPY_U && edge_weight != nullptr)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: edge_weight must be NULL for GK_MESSAGE_COPY_U", kOp);
    if (message == GK_MESSAGE_U_MUL_E && nnz > 0) {
        if (edge_weight == nullptr)
            return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                            "%s: edge_weight is NULL; GK_MESSAGE_U_MUL_E needs one weight per edge",
                            kOp);
        if (!gk::aligned(edge_weight, sizeof(float)))
            return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: edge_weight (%p) is not 4-byte aligned",
                            kOp, edge_weight);
    }

    const bool extreme = reduce == GK_REDUCE_MAX || reduce == GK_REDUCE_MIN;
    const size_t isz = gk::index_size(csr->index_type);
    if (arg_out != nullptr) {
        if (!extreme)
            return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                            "%s: arg_out must be NULL for reduce = %d (only max and min have an arg)",
                            kOp, reduce);
        s = gk::check_matrix(kOp, "arg_out", "ld_arg", arg_out, rows, feat, ld_arg, isz);
        if (s != GK_SUCCESS) return s;
    }

    // Outputs must not overlap inputs (the kernel reads X, the weights and the graph while other
    // rows of Y are written) nor each other.
    struct Extent {
        const char* name;
        const void* p;
        int64_t bytes;
    };
    const int64_t isz64 = static_cast<int64_t>(isz);
    const Extent inputs[] = {
        {"x", x, gk::matrix_bytes(nnz > 0 ? cols : 0, feat, ldx, sizeof(float))},
        {"edge_weight", edge_weight, nnz * static_cast<int64_t>(sizeof(float))},
        {"csr->row_ptr", csr->row_ptr, (rows + 1) * isz64},
        {"csr->col_idx", csr->col_idx, nnz * isz64},
    };
    const Extent outputs[] = {
        {"y", y, gk::matrix_bytes(rows, feat, ldy, sizeof(float))},
        {"arg_out", arg_out, arg_out != nullptr ? gk::matrix_bytes(rows, feat, ld_arg, isz) : 0},
    };
    for (const Extent& out : outputs) {
        for (const Extent& in : inputs)
            if (gk::overlaps(out.p, out.bytes, in.p, in.bytes))
                return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                                "%s: %s overlaps %s; in-place SpMM is not supported", kOp, out.name,
                                in.name);
    }
    if (gk::overlaps(outputs[0].p, outputs[0].bytes, outputs[1].p, outputs[1].bytes))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: arg_out overlaps y", kOp);

    if (rows == 0) return GK_SUCCESS;

    SpmmArgs a{};
    a.row_ptr = csr->row_ptr;
    a.col_idx = csr->col_idx;
    a.w = static_cast<const float*>(edge_weight);
    a.x = static_cast<const float*>(x);
    a.ldx = ldx;
    a.y = static_cast<float*>(y);
    a.ldy = ldy;
    a.arg = arg_out;
    a.ld_arg = ld_arg;
    a.rows = rows;
    a.feat = feat;
    a.stream = gk::as_stream(stream);
    const int v = pick_vector_width(feat, x, ldx, y, ldy);
    const int64_t lanes = (feat + v - 1) / v;
    int g = 0;
    while (g < 5 && (int64_t{1} << g) < lanes) ++g;
    a.group_log2 = g;
    const int64_t rows_per_block = gk::kSpmmBlockThreads >> g;
    const int64_t want = (rows + rows_per_block - 1) / rows_per_block;
    a.blocks = static_cast<unsigned>(want < (int64_t{1} << 20) ? want : (int64_t{1} << 20));

    const cudaError_t err = csr->index_type == GK_INDEX_INT32
                                ? dispatch_message<int32_t>(message, reduce, v, a)
                                : dispatch_message<int64_t>(message, reduce, v, a);
    if (err != cudaSuccess) return gk::fail_cuda(err, kOp);
    return GK_SUCCESS;
    GK_ABI_END
}

}  // extern "C"
