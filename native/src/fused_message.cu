// Fused message launcher: validates every argument, picks the fixed-width variant when one exists
// (feat 16 or 64 for every built-in, also 32, 128 and 256 for copy_u and u_mul_e: the same
// template with F a compile-time constant) or the generic one, and
// launches gk::fused_message_kernel (kernels/fused_message.cuh) with a built-in message function
// on the caller's stream. No allocation, no synchronisation. User-defined message functions go
// through NVRTC from C# (managed/GraphKernels/FusedMessage.cs); this file is the ahead-of-time
// instantiation that the CPU emulation tests.
#include "fused_message.cuh"
#include "fused_message_backward.cuh"
#include "gk_runtime.h"
#include "validate.h"

namespace {

const char* const kOp = "gk_fused_message";

struct FusedArgs {
    const void* row_ptr;
    const void* col_idx;
    const float* x_src;
    int64_t ld_src;
    const float* x_dst;
    int64_t ld_dst;
    const float* edge;
    int64_t ld_edge;
    float* y;
    int64_t ldy;
    int64_t rows;
    int64_t feat;
    cudaStream_t stream;
};

template <typename I, typename MSG, int RED, int F>
cudaError_t launch(const FusedArgs& a) {
    constexpr int G = gk::FusedShape<F>::kGroup;
    const int64_t rows_per_block = gk::kFusedBlockThreads / G;
    const int64_t want = (a.rows + rows_per_block - 1) / rows_per_block;
    const unsigned blocks =
        static_cast<unsigned>(want < (int64_t{1} << 20) ? want : (int64_t{1} << 20));
    return GK_LAUNCH((gk::fused_message_kernel<I, MSG, RED, F>), dim3(blocks),
                     dim3(gk::kFusedBlockThreads), 0, a.stream,
                     static_cast<const I*>(a.row_ptr), static_cast<const I*>(a.col_idx), a.x_src,
                     a.ld_src, a.x_dst, a.ld_dst, a.edge, a.ld_edge, a.y, a.ldy, a.rows, a.feat);
}

// Every built-in has F = 16 and 64; copy_u and u_mul_e (the messages of gk_spmm, whose
// width-specialised variants the C# MessagePassing.SpMM picks on CUDA through NVRTC) also have
// F = 32, 128 and 256, so that the emulated device runs each specialised width the JIT compiles.
template <typename MSG>
struct FusedAllWidths {
    static constexpr bool value = false;
};
template <>
struct FusedAllWidths<gk::FusedCopyU> {
    static constexpr bool value = true;
};
template <>
struct FusedAllWidths<gk::FusedUMulE> {
    static constexpr bool value = true;
};

template <typename I, typename MSG, int RED, bool kAll>
struct WidthDispatch {
    static cudaError_t run(const FusedArgs& a) {
        switch (a.feat) {
            case 16: return launch<I, MSG, RED, 16>(a);
            case 64: return launch<I, MSG, RED, 64>(a);
            default: return launch<I, MSG, RED, 0>(a);
        }
    }
};
template <typename I, typename MSG, int RED>
struct WidthDispatch<I, MSG, RED, true> {
    static cudaError_t run(const FusedArgs& a) {
        switch (a.feat) {
            case 16: return launch<I, MSG, RED, 16>(a);
            case 32: return launch<I, MSG, RED, 32>(a);
            case 64: return launch<I, MSG, RED, 64>(a);
            case 128: return launch<I, MSG, RED, 128>(a);
            case 256: return launch<I, MSG, RED, 256>(a);
            default: return launch<I, MSG, RED, 0>(a);
        }
    }
};

template <typename I, typename MSG, int RED>
cudaError_t dispatch_width(const FusedArgs& a) {
    return WidthDispatch<I, MSG, RED, FusedAllWidths<MSG>::value>::run(a);
}

template <typename I, typename MSG>
cudaError_t dispatch_reduce(int reduce, const FusedArgs& a) {
    switch (reduce) {
        case GK_REDUCE_SUM: return dispatch_width<I, MSG, gk::kFusedSum>(a);
        case GK_REDUCE_MEAN: return dispatch_width<I, MSG, gk::kFusedMean>(a);
        case GK_REDUCE_MAX: return dispatch_width<I, MSG, gk::kFusedMax>(a);
        default: return dispatch_width<I, MSG, gk::kFusedMin>(a);
    }
}

template <typename I>
cudaError_t dispatch_builtin(int builtin, int reduce, const FusedArgs& a) {
    switch (builtin) {
        case GK_FUSED_COPY_U: return dispatch_reduce<I, gk::FusedCopyU>(reduce, a);
        case GK_FUSED_U_MUL_E: return dispatch_reduce<I, gk::FusedUMulE>(reduce, a);
        case GK_FUSED_U_ADD_V: return dispatch_reduce<I, gk::FusedUAddV>(reduce, a);
        default: return dispatch_reduce<I, gk::FusedUMulEFeat>(reduce, a);
    }
}

// ---- backward (sum and mean; kernels/fused_message_backward.cuh) --------------------------------

struct FusedBwdArgs {
    const void* row_ptr;
    const void* col_idx;
    const void* t_row_ptr;
    const void* t_col_idx;
    const void* perm;
    const float* x_src;
    int64_t ld_src;
    const float* x_dst;
    int64_t ld_dst;
    const float* edge;
    int64_t ld_edge;
    int64_t edge_width;
    const float* grad_y;
    int64_t ld_gy;
    float* grad_src;
    int64_t ld_gs;
    float* grad_dst;
    int64_t ld_gd;
    float* grad_edge;
    int64_t ld_ge;
    int64_t rows;
    int64_t cols;
    int64_t feat;
    cudaStream_t stream;
};

unsigned warp_blocks(int64_t items) {
    const int64_t per_block = gk::kFusedBlockThreads / gk::kWarpSize;
    const int64_t want = (items + per_block - 1) / per_block;
    return static_cast<unsigned>(want < (int64_t{1} << 20) ? want : (int64_t{1} << 20));
}

template <typename I, typename DMSG, int RED>
cudaError_t launch_bwd(const FusedBwdArgs& a) {
    const dim3 block(gk::kFusedBlockThreads);
    const I* rp = static_cast<const I*>(a.row_ptr);
    const I* ci = static_cast<const I*>(a.col_idx);
    if (a.grad_src != nullptr && a.cols > 0) {
        const cudaError_t e = GK_LAUNCH((gk::fused_message_grad_src_kernel<I, DMSG, RED>),
                                        dim3(warp_blocks(a.cols)), block, 0, a.stream, rp,
                                        static_cast<const I*>(a.t_row_ptr),
                                        static_cast<const I*>(a.t_col_idx),
                                        static_cast<const I*>(a.perm), a.x_src, a.ld_src, a.x_dst,
                                        a.ld_dst, a.edge, a.ld_edge, a.grad_y, a.ld_gy, a.grad_src,
                                        a.ld_gs, a.cols, a.feat);
        if (e != cudaSuccess) return e;
    }
    if (a.grad_dst != nullptr && a.rows > 0) {
        const cudaError_t e = GK_LAUNCH((gk::fused_message_grad_dst_kernel<I, DMSG, RED>),
                                        dim3(warp_blocks(a.rows)), block, 0, a.stream, rp, ci,
                                        a.x_src, a.ld_src, a.x_dst, a.ld_dst, a.edge, a.ld_edge,
                                        a.grad_y, a.ld_gy, a.grad_dst, a.ld_gd, a.rows, a.feat);
        if (e != cudaSuccess) return e;
    }
    if (a.grad_edge != nullptr && a.rows > 0) {
        const cudaError_t e = GK_LAUNCH((gk::fused_message_grad_edge_kernel<I, DMSG, RED>),
                                        dim3(warp_blocks(a.rows)), block, 0, a.stream, rp, ci,
                                        a.x_src, a.ld_src, a.x_dst, a.ld_dst, a.edge, a.ld_edge,
                                        a.grad_y, a.ld_gy, a.grad_edge, a.ld_ge, a.rows, a.feat,
                                        a.edge_width);
        if (e != cudaSuccess) return e;
    }
    return cudaSuccess;
}

template <typename I, typename DMSG>
cudaError_t dispatch_bwd_reduce(int reduce, const FusedBwdArgs& a) {
    return reduce == GK_REDUCE_MEAN ? launch_bwd<I, DMSG, gk::kFusedMean>(a)
                                    : launch_bwd<I, DMSG, gk::kFusedSum>(a);
}

template <typename I>
cudaError_t dispatch_bwd(int builtin, int reduce, const FusedBwdArgs& a) {
    switch (builtin) {
        case GK_FUSED_COPY_U: return dispatch_bwd_reduce<I, gk::FusedCopyUGrad>(reduce, a);
        case GK_FUSED_U_MUL_E: return dispatch_bwd_reduce<I, gk::FusedUMulEGrad>(reduce, a);
        case GK_FUSED_U_ADD_V: return dispatch_bwd_reduce<I, gk::FusedUAddVGrad>(reduce, a);
        default: return dispatch_bwd_reduce<I, gk::FusedUMulEFeatGrad>(reduce, a);
    }
}

}  // namespace

extern "C" {

GK_API gk_status gk_fused_message(const gk_csr* csr, int32_t builtin, int32_t reduce, int64_t feat,
                                  const void* x_src, int64_t ld_src, const void* x_dst,
                                  int64_t ld_dst, const void* edge, int64_t edge_width,
                                  int64_t ld_edge, void* y, int64_t ldy, void* stream) {
    GK_ABI_BEGIN
    gk_status s = gk::check_csr_header(csr, kOp);
    if (s != GK_SUCCESS) return s;
    if (builtin < GK_FUSED_COPY_U || builtin > GK_FUSED_U_MUL_E_FEAT)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: builtin = %d is not a gk_fused_builtin (0 = copy_u, 1 = u_mul_e, "
                        "2 = u_add_v, 3 = u_mul_e_feat)",
                        kOp, builtin);
    if (reduce < GK_REDUCE_SUM || reduce > GK_REDUCE_MIN)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: reduce = %d is not a gk_reduce (0 = sum, 1 = mean, 2 = max, 3 = min)",
                        kOp, reduce);
    if (feat < 1)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: feat = %lld, must be >= 1", kOp,
                        static_cast<long long>(feat));

    const int64_t rows = csr->num_rows, cols = csr->num_cols, nnz = csr->nnz;
    const bool uses_dst = builtin == GK_FUSED_U_ADD_V;
    const bool uses_edge = builtin == GK_FUSED_U_MUL_E || builtin == GK_FUSED_U_MUL_E_FEAT;
    const int64_t edge_need = builtin == GK_FUSED_U_MUL_E ? 1 : builtin == GK_FUSED_U_MUL_E_FEAT ? feat : 0;

    // x_src is read only through edges; with no edges it may be absent.
    s = gk::check_matrix(kOp, "x_src", "ld_src", x_src, nnz > 0 ? cols : 0, feat, ld_src,
                         sizeof(float));
    if (s != GK_SUCCESS) return s;
    if (uses_dst) {
        s = gk::check_matrix(kOp, "x_dst", "ld_dst", x_dst, nnz > 0 ? rows : 0, feat, ld_dst,
                             sizeof(float));
        if (s != GK_SUCCESS) return s;
    } else if (x_dst != nullptr) {
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: x_dst must be NULL for builtin = %d (only u_add_v reads it)", kOp,
                        builtin);
    }
    if (uses_edge) {
        if (edge_width < edge_need)
            return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                            "%s: edge_width = %lld, builtin = %d needs at least %lld", kOp,
                            static_cast<long long>(edge_width), builtin,
                            static_cast<long long>(edge_need));
        if (ld_edge < edge_width)
            return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: ld_edge = %lld is less than edge_width = %lld",
                            kOp, static_cast<long long>(ld_edge), static_cast<long long>(edge_width));
        s = gk::check_matrix(kOp, "edge", "ld_edge", edge, nnz, edge_width, ld_edge, sizeof(float));
        if (s != GK_SUCCESS) return s;
    } else if (edge != nullptr || edge_width != 0) {
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: edge must be NULL and edge_width 0 for builtin = %d (it reads no edge "
                        "data); edge_width = %lld",
                        kOp, builtin, static_cast<long long>(edge_width));
    }
    s = gk::check_matrix(kOp, "y", "ldy", y, rows, feat, ldy, sizeof(float));
    if (s != GK_SUCCESS) return s;

    struct Extent {
        const char* name;
        const void* p;
        int64_t bytes;
    };
    const int64_t isz = static_cast<int64_t>(gk::index_size(csr->index_type));
    const Extent inputs[] = {
        {"x_src", x_src, gk::matrix_bytes(nnz > 0 ? cols : 0, feat, ld_src, sizeof(float))},
        {"x_dst", x_dst, uses_dst ? gk::matrix_bytes(nnz > 0 ? rows : 0, feat, ld_dst, sizeof(float)) : 0},
        {"edge", edge, uses_edge ? gk::matrix_bytes(nnz, edge_width, ld_edge, sizeof(float)) : 0},
        {"csr->row_ptr", csr->row_ptr, (rows + 1) * isz},
        {"csr->col_idx", csr->col_idx, nnz * isz},
    };
    const int64_t y_bytes = gk::matrix_bytes(rows, feat, ldy, sizeof(float));
    for (const Extent& in : inputs)
        if (gk::overlaps(y, y_bytes, in.p, in.bytes))
            return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                            "%s: y overlaps %s; in-place fused message passing is not supported",
                            kOp, in.name);

    if (rows == 0) return GK_SUCCESS;

    FusedArgs a{};
    a.row_ptr = csr->row_ptr;
    a.col_idx = csr->col_idx;
    a.x_src = static_cast<const float*>(x_src);
    a.ld_src = ld_src;
    a.x_dst = uses_dst ? static_cast<const float*>(x_dst) : nullptr;
    a.ld_dst = ld_dst;
    a.edge = uses_edge ? static_cast<const float*>(edge) : nullptr;
    a.ld_edge = ld_edge;
    a.y = static_cast<float*>(y);
    a.ldy = ldy;
    a.rows = rows;
    a.feat = feat;
    a.stream = gk::as_stream(stream);
    const cudaError_t err = csr->index_type == GK_INDEX_INT32
                                ? dispatch_builtin<int32_t>(builtin, reduce, a)
                                : dispatch_builtin<int64_t>(builtin, reduce, a);
    if (err != cudaSuccess) return gk::fail_cuda(err, kOp);
    return GK_SUCCESS;
    GK_ABI_END
}

GK_API gk_status gk_fused_message_backward(
    const gk_csr* csr, const gk_plan* plan, int32_t builtin, int32_t reduce, int64_t feat,
    const void* x_src, int64_t ld_src, const void* x_dst, int64_t ld_dst, const void* edge,
    int64_t edge_width, int64_t ld_edge, const void* grad_y, int64_t ld_gy, void* grad_src,
    int64_t ld_gs, void* grad_dst, int64_t ld_gd, void* grad_edge, int64_t ld_ge, void* stream) {
    GK_ABI_BEGIN
    const char* const op = "gk_fused_message_backward";
    gk_status s = gk::check_csr_header(csr, op);
    if (s != GK_SUCCESS) return s;
    if (builtin < GK_FUSED_COPY_U || builtin > GK_FUSED_U_MUL_E_FEAT)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: builtin = %d is not a gk_fused_builtin (0 = copy_u, 1 = u_mul_e, "
                        "2 = u_add_v, 3 = u_mul_e_feat)",
                        op, builtin);
    if (reduce != GK_REDUCE_SUM && reduce != GK_REDUCE_MEAN)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: reduce = %d; the fused backward covers sum (0) and mean (1) only",
                        op, reduce);
    if (feat < 1)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: feat = %lld, must be >= 1", op,
                        static_cast<long long>(feat));
    if (grad_src == nullptr && grad_dst == nullptr && grad_edge == nullptr)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: grad_src, grad_dst and grad_edge are all NULL; ask for at least one",
                        op);

    const int64_t rows = csr->num_rows, cols = csr->num_cols, nnz = csr->nnz;
    const bool uses_dst = builtin == GK_FUSED_U_ADD_V;
    const bool uses_edge = builtin == GK_FUSED_U_MUL_E || builtin == GK_FUSED_U_MUL_E_FEAT;
    const int64_t edge_need = builtin == GK_FUSED_U_MUL_E ? 1 : builtin == GK_FUSED_U_MUL_E_FEAT ? feat : 0;
    const int64_t isz = static_cast<int64_t>(gk::index_size(csr->index_type));

    s = gk::check_matrix(op, "x_src", "ld_src", x_src, nnz > 0 ? cols : 0, feat, ld_src,
                         sizeof(float));
    if (s != GK_SUCCESS) return s;
    if (uses_dst) {
        s = gk::check_matrix(op, "x_dst", "ld_dst", x_dst, nnz > 0 ? rows : 0, feat, ld_dst,
                             sizeof(float));
        if (s != GK_SUCCESS) return s;
    } else if (x_dst != nullptr || grad_dst != nullptr) {
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: x_dst and grad_dst must be NULL for builtin = %d (only u_add_v reads "
                        "dst)",
                        op, builtin);
    }
    if (uses_edge) {
        if (edge_width < edge_need)
            return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                            "%s: edge_width = %lld, builtin = %d needs at least %lld", op,
                            static_cast<long long>(edge_width), builtin,
                            static_cast<long long>(edge_need));
        s = gk::check_matrix(op, "edge", "ld_edge", edge, nnz, edge_width, ld_edge, sizeof(float));
        if (s != GK_SUCCESS) return s;
    } else if (edge != nullptr || edge_width != 0 || grad_edge != nullptr) {
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: edge and grad_edge must be NULL and edge_width 0 for builtin = %d (it "
                        "reads no edge data); edge_width = %lld",
                        op, builtin, static_cast<long long>(edge_width));
    }
    s = gk::check_matrix(op, "grad_y", "ld_gy", grad_y, nnz > 0 ? rows : 0, feat, ld_gy,
                         sizeof(float));
    if (s != GK_SUCCESS) return s;
    if (grad_src != nullptr) {
        if (plan == nullptr)
            return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                            "%s: plan is NULL; grad_src needs the graph plan's transpose", op);
        if (plan->num_rows != rows || plan->num_cols != cols || plan->nnz != nnz ||
            plan->index_type != csr->index_type)
            return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                            "%s: plan (num_rows %lld, num_cols %lld, nnz %lld, index_type %d) was "
                            "not built for this csr (%lld, %lld, %lld, %d)",
                            op, static_cast<long long>(plan->num_rows),
                            static_cast<long long>(plan->num_cols),
                            static_cast<long long>(plan->nnz), plan->index_type,
                            static_cast<long long>(rows), static_cast<long long>(cols),
                            static_cast<long long>(nnz), csr->index_type);
        if (plan->t_row_ptr == nullptr ||
            (nnz > 0 && (plan->t_col_idx == nullptr || plan->perm == nullptr)))
            return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                            "%s: plan->t_row_ptr, t_col_idx or perm is NULL", op);
        s = gk::check_matrix(op, "grad_src", "ld_gs", grad_src, cols, feat, ld_gs, sizeof(float));
        if (s != GK_SUCCESS) return s;
    }
    if (grad_dst != nullptr) {
        s = gk::check_matrix(op, "grad_dst", "ld_gd", grad_dst, rows, feat, ld_gd, sizeof(float));
        if (s != GK_SUCCESS) return s;
    }
    if (grad_edge != nullptr) {
        s = gk::check_matrix(op, "grad_edge", "ld_ge", grad_edge, nnz, edge_width, ld_ge,
                             sizeof(float));
        if (s != GK_SUCCESS) return s;
    }

    struct Extent {
        const char* name;
        const void* p;
        int64_t bytes;
    };
    const Extent inputs[] = {
        {"x_src", x_src, gk::matrix_bytes(nnz > 0 ? cols : 0, feat, ld_src, sizeof(float))},
        {"x_dst", x_dst, uses_dst ? gk::matrix_bytes(nnz > 0 ? rows : 0, feat, ld_dst, sizeof(float)) : 0},
        {"edge", edge, uses_edge ? gk::matrix_bytes(nnz, edge_width, ld_edge, sizeof(float)) : 0},
        {"grad_y", grad_y, gk::matrix_bytes(nnz > 0 ? rows : 0, feat, ld_gy, sizeof(float))},
        {"csr->row_ptr", csr->row_ptr, (rows + 1) * isz},
        {"csr->col_idx", csr->col_idx, nnz * isz},
        {"plan->t_row_ptr", grad_src != nullptr ? plan->t_row_ptr : nullptr, (cols + 1) * isz},
        {"plan->t_col_idx", grad_src != nullptr ? plan->t_col_idx : nullptr, nnz * isz},
        {"plan->perm", grad_src != nullptr ? plan->perm : nullptr, nnz * isz},
    };
    const Extent outputs[] = {
        {"grad_src", grad_src, gk::matrix_bytes(cols, feat, ld_gs, sizeof(float))},
        {"grad_dst", grad_dst, gk::matrix_bytes(rows, feat, ld_gd, sizeof(float))},
        {"grad_edge", grad_edge, gk::matrix_bytes(nnz, edge_width, ld_ge, sizeof(float))},
    };
    for (int i = 0; i < 3; ++i) {
        for (const Extent& in : inputs)
            if (gk::overlaps(outputs[i].p, outputs[i].bytes, in.p, in.bytes))
                return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s overlaps %s", op,
                                outputs[i].name, in.name);
        for (int j = 0; j < i; ++j)
            if (gk::overlaps(outputs[i].p, outputs[i].bytes, outputs[j].p, outputs[j].bytes))
                return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s overlaps %s", op,
                                outputs[i].name, outputs[j].name);
    }

    FusedBwdArgs a{};
    a.row_ptr = csr->row_ptr;
    a.col_idx = csr->col_idx;
    a.t_row_ptr = grad_src != nullptr ? plan->t_row_ptr : nullptr;
    a.t_col_idx = grad_src != nullptr ? plan->t_col_idx : nullptr;
    a.perm = grad_src != nullptr ? plan->perm : nullptr;
    a.x_src = static_cast<const float*>(x_src);
    a.ld_src = ld_src;
    a.x_dst = uses_dst ? static_cast<const float*>(x_dst) : nullptr;
    a.ld_dst = ld_dst;
    a.edge = uses_edge ? static_cast<const float*>(edge) : nullptr;
    a.ld_edge = ld_edge;
    a.edge_width = uses_edge ? edge_width : 0;
    a.grad_y = static_cast<const float*>(grad_y);
    a.ld_gy = ld_gy;
    a.grad_src = static_cast<float*>(grad_src);
    a.ld_gs = ld_gs;
    a.grad_dst = static_cast<float*>(grad_dst);
    a.ld_gd = ld_gd;
    a.grad_edge = static_cast<float*>(grad_edge);
    a.ld_ge = ld_ge;
    a.rows = rows;
    a.cols = cols;
    a.feat = feat;
    a.stream = gk::as_stream(stream);
    const cudaError_t err = csr->index_type == GK_INDEX_INT32
                                ? dispatch_bwd<int32_t>(builtin, reduce, a)
                                : dispatch_bwd<int64_t>(builtin, reduce, a);
    if (err != cudaSuccess) return gk::fail_cuda(err, op);
    return GK_SUCCESS;
    GK_ABI_END
}

}  // extern "C"
