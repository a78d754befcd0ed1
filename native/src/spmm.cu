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
                        "%s: message = %d is not a gk_message gk_spmm takes (0 = copy_u, 1 = u_mul_e; gk_spmm_ex takes 2 .. 5)", kOp,
                        message);
    if (reduce < GK_REDUCE_SUM || reduce > GK_REDUCE_MIN)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: reduce = %d is not a gk_reduce gk_spmm takes (0 = sum, 1 = mean, 2 = max, 3 = min; gk_spmm_ex takes 4 = mul)",
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

// ================================================================== g-SpMM (gk_spmm_ex) ======
// Launchers of kernels/spmm_g.cuh: forward (unchunked, or chunked over the plan's schedule with a
// fixed-order second pass), and the backward (mul prefix/suffix, dX over the transpose, dE per
// edge). Every argument is validated before anything is launched; no allocation, no sync.
#include "spmm_g.cuh"

namespace {

const char* const kOpEx = "gk_spmm_ex";
const char* const kOpBwd = "gk_spmm_backward";

size_t dtype_size(int32_t dtype) { return dtype == GK_DTYPE_F32 ? 4 : 2; }

int group_log2_for(int64_t feat) {
    int g = 0;
    while (g < 5 && (int64_t{1} << g) < feat) ++g;
    return g;
}

unsigned blocks_for(int64_t units, int group_log2) {
    const int64_t per_block = gk::kGSpmmBlockThreads >> group_log2;
    const int64_t want = (units + per_block - 1) / per_block;
    if (want < 1) return 1;
    return static_cast<unsigned>(want < (int64_t{1} << 20) ? want : (int64_t{1} << 20));
}

int64_t edge_width(const gk_spmm_desc& d) {
    return d.edge_mode == GK_EDGE_SCALAR ? 1 : d.edge_mode == GK_EDGE_PER_HEAD ? d.heads : d.feat;
}

// Checks the descriptor; fills the effective leading dimensions.
struct Resolved {
    int64_t ldx, lde, ldy, ld_arg, width, head_width;
};

gk_status check_desc(const char* op, const gk_csr* csr, const gk_spmm_desc* d, Resolved* r) {
    gk_status s = gk::check_csr_header(csr, op);
    if (s != GK_SUCCESS) return s;
    if (d == nullptr) return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: desc is NULL", op);
    if (d->message < GK_MESSAGE_COPY_U || d->message > GK_MESSAGE_U_DIV_E)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: desc->message = %d is not a gk_message (0 .. 5)", op, d->message);
    if (d->reduce < GK_REDUCE_SUM || d->reduce > GK_REDUCE_MUL)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: desc->reduce = %d is not a gk_reduce (0 .. 4)", op, d->reduce);
    if (d->dtype != GK_DTYPE_F32 && d->dtype != GK_DTYPE_F16 && d->dtype != GK_DTYPE_BF16)
        return gk::fail(d->dtype == GK_DTYPE_F64 ? GK_ERROR_UNSUPPORTED : GK_ERROR_INVALID_ARGUMENT,
                        "%s: desc->dtype = %d is not supported (0 = F32, 1 = F16, 2 = BF16)", op,
                        d->dtype);
    if (d->edge_mode < GK_EDGE_NONE || d->edge_mode > GK_EDGE_FULL)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: desc->edge_mode = %d is not a gk_edge_operand (0 .. 3)", op,
                        d->edge_mode);
    if (d->message == GK_MESSAGE_COPY_U && d->edge_mode != GK_EDGE_NONE)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: desc->edge_mode = %d, must be GK_EDGE_NONE (0) for GK_MESSAGE_COPY_U",
                        op, d->edge_mode);
    if (d->message != GK_MESSAGE_COPY_U && d->edge_mode == GK_EDGE_NONE)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: desc->edge_mode = GK_EDGE_NONE but desc->message = %d reads an edge "
                        "operand",
                        op, d->message);
    if (d->feat < 1)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: desc->feat = %lld, must be >= 1", op,
                        static_cast<long long>(d->feat));
    if (d->edge_mode == GK_EDGE_PER_HEAD && (d->heads < 1 || d->feat % d->heads != 0))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: desc->heads = %lld must be >= 1 and divide desc->feat = %lld", op,
                        static_cast<long long>(d->heads), static_cast<long long>(d->feat));
    if (d->flags & ~7u)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: desc->flags = 0x%x has unknown bits", op,
                        d->flags);
    if (d->reserved != 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: desc->reserved = %d, must be 0", op,
                        d->reserved);
    struct Ld {
        const char* name;
        int64_t v;
        int64_t width;
        int64_t* out;
    };
    r->width = d->edge_mode == GK_EDGE_NONE ? 0 : edge_width(*d);
    r->head_width = d->edge_mode == GK_EDGE_PER_HEAD ? d->feat / d->heads : 1;
    const Ld lds[] = {{"desc->ldx", d->ldx, d->feat, &r->ldx},
                      {"desc->lde", d->lde, r->width, &r->lde},
                      {"desc->ldy", d->ldy, d->feat, &r->ldy},
                      {"desc->ld_arg", d->ld_arg, d->feat, &r->ld_arg}};
    for (const Ld& l : lds) {
        if (l.v != 0 && l.v < l.width)
            return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s = %lld is less than its width %lld",
                            op, l.name, static_cast<long long>(l.v),
                            static_cast<long long>(l.width));
        if (l.v < 0)
            return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s = %lld is negative", op, l.name,
                            static_cast<long long>(l.v));
        *l.out = l.v == 0 ? l.width : l.v;
    }
    if (r->lde == 0) r->lde = 1;
    return GK_SUCCESS;
}

gk_status check_plan(const char* op, const gk_csr* csr, const gk_plan* plan) {
    if (plan == nullptr) return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: plan is NULL", op);
    if (plan->num_rows != csr->num_rows || plan->num_cols != csr->num_cols ||
        plan->nnz != csr->nnz || plan->index_type != csr->index_type)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: plan was built for a %lld x %lld graph with %lld edges (index type "
                        "%d), not this csr (%lld x %lld, %lld edges, index type %d)",
                        op, static_cast<long long>(plan->num_rows),
                        static_cast<long long>(plan->num_cols), static_cast<long long>(plan->nnz),
                        plan->index_type, static_cast<long long>(csr->num_rows),
                        static_cast<long long>(csr->num_cols), static_cast<long long>(csr->nnz),
                        csr->index_type);
    if (plan->chunk < 1 || plan->max_items != csr->num_rows + csr->nnz / plan->chunk)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: plan->chunk = %lld / plan->max_items = %lld are not those of a built "
                        "plan",
                        op, static_cast<long long>(plan->chunk),
                        static_cast<long long>(plan->max_items));
    return GK_SUCCESS;
}

int64_t chunk_ws_bytes(const gk_spmm_desc& d, const gk_plan& p) {
    const bool extreme = d.reduce == GK_REDUCE_MAX || d.reduce == GK_REDUCE_MIN;
    const int64_t n = p.max_items * d.feat;
    return extreme ? (n * 4 + 7) / 8 * 8 + n * 8 : n * 4;
}

struct Extent {
    const char* name;
    const void* p;
    int64_t bytes;
};

gk_status check_overlaps(const char* op, const Extent* outs, size_t n_out, const Extent* ins,
                         size_t n_in) {
    for (size_t i = 0; i < n_out; ++i) {
        for (size_t j = 0; j < n_in; ++j)
            if (gk::overlaps(outs[i].p, outs[i].bytes, ins[j].p, ins[j].bytes))
                return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s overlaps %s", op, outs[i].name,
                                ins[j].name);
        for (size_t j = i + 1; j < n_out; ++j)
            if (gk::overlaps(outs[i].p, outs[i].bytes, outs[j].p, outs[j].bytes))
                return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s overlaps %s", op, outs[i].name,
                                outs[j].name);
    }
    return GK_SUCCESS;
}

// x (NULL exactly when the message does not read it) and the edge operand (NULL exactly for
// GK_EDGE_NONE): the input checks gk_spmm_ex and gk_spmm_multi share.
gk_status check_forward_inputs(const char* op, const gk_csr* csr, const gk_spmm_desc& d,
                               const Resolved& r, const void* x, const void* edge) {
    const size_t vsz = dtype_size(d.dtype);
    if (d.message == GK_MESSAGE_COPY_E && x != nullptr)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: x must be NULL for GK_MESSAGE_COPY_E", op);
    if (d.message != GK_MESSAGE_COPY_E) {
        const gk_status s = gk::check_matrix(op, "x", "desc->ldx", x,
                                             csr->nnz > 0 ? csr->num_cols : 0, d.feat, r.ldx, vsz);
        if (s != GK_SUCCESS) return s;
    }
    if (d.edge_mode == GK_EDGE_NONE && edge != nullptr)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: edge must be NULL for GK_MESSAGE_COPY_U",
                        op);
    if (d.edge_mode != GK_EDGE_NONE)
        return gk::check_matrix(op, "edge", "desc->lde", edge, csr->nnz, r.width, r.lde, vsz);
    return GK_SUCCESS;
}

// Appends what the kernels read of x / the edge operand (when has_x / has_e) and of the graph.
size_t add_read_extents(Extent* ins, size_t n, const gk_csr* csr, const gk_spmm_desc& d,
                        const Resolved& r, const void* x, const void* edge, bool has_x,
                        bool has_e) {
    const size_t vsz = dtype_size(d.dtype);
    const int64_t isz = static_cast<int64_t>(gk::index_size(csr->index_type));
    ins[n++] = {"x", x, has_x ? gk::matrix_bytes(csr->nnz > 0 ? csr->num_cols : 0, d.feat, r.ldx, vsz) : 0};
    ins[n++] = {"edge", edge, has_e ? gk::matrix_bytes(csr->nnz, r.width, r.lde, vsz) : 0};
    ins[n++] = {"csr->row_ptr", csr->row_ptr, (csr->num_rows + 1) * isz};
    ins[n++] = {"csr->col_idx", csr->col_idx, csr->nnz * isz};
    return n;
}

// The kernels' view of a forward (outputs and the chunk schedule are set by the caller).
gk::GSpmmArgs forward_args(const gk_csr* csr, const gk_spmm_desc& d, const Resolved& r,
                           const void* x, const void* edge) {
    gk::GSpmmArgs a{};
    a.row_ptr = csr->row_ptr;
    a.col_idx = csr->col_idx;
    a.x = x;
    a.ldx = r.ldx;
    a.e = edge;
    a.lde = r.lde;
    a.head_width = r.head_width;
    a.ldy = r.ldy;
    a.ld_arg = r.ld_arg;
    a.rows = csr->num_rows;
    a.feat = d.feat;
    a.message = d.message;
    a.reduce = d.reduce;
    a.edge_mode = d.edge_mode;
    a.flags = d.flags;
    a.group_log2 = group_log2_for(d.feat);
    return a;
}

// The upstream gradients of a backward, each [M, F] with leading dimension ld_gy: gk_spmm_backward's
// grad_y, or those of the statistics gk_spmm_multi_backward was given (names[k] NULL: no gradient).
struct Upstream {
    const void* g[gk::kMultiOutputs];
    const char* names[gk::kMultiOutputs];
};

// The checks both backward entry points share; fills *a. refold: the backward recomputes every
// message (mul reducer, multi-reducer), so it reads x and the edge operand whatever is wanted, and
// keeps dL/dm in the [E, F] fp32 workspace.
gk_status prepare_backward(const char* op, const gk_csr* csr, const gk_plan* plan,
                           const gk_spmm_desc& d, const Resolved& r, bool refold, const void* x,
                           const void* edge, const void* arg, const Upstream& up, int64_t ld_gy,
                           void* grad_x, int64_t ld_gx, void* grad_edge, int64_t ld_ge,
                           void* workspace, size_t workspace_bytes, gk::GSpmmBwdArgs* a) {
    const int64_t rows = csr->num_rows, cols = csr->num_cols, nnz = csr->nnz;
    const size_t vsz = dtype_size(d.dtype);
    const size_t isz = gk::index_size(csr->index_type);
    const bool extreme = d.reduce == GK_REDUCE_MAX || d.reduce == GK_REDUCE_MIN;
    gk_status s = GK_SUCCESS;
    if (d.message == GK_MESSAGE_COPY_E && grad_x != nullptr)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: grad_x must be NULL for GK_MESSAGE_COPY_E (the message does not read x)",
                        op);
    if (d.message == GK_MESSAGE_COPY_U && grad_edge != nullptr)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: grad_edge must be NULL for GK_MESSAGE_COPY_U (no edge operand)", op);
    if (ld_gy < 0 || ld_gx < 0 || ld_ge < 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: ld_gy = %lld, ld_gx = %lld, ld_ge = %lld: none may be negative", op,
                        static_cast<long long>(ld_gy), static_cast<long long>(ld_gx),
                        static_cast<long long>(ld_ge));
    const int64_t lgy = ld_gy == 0 ? d.feat : ld_gy;
    const int64_t lgx = ld_gx == 0 ? d.feat : ld_gx;
    const int64_t lge = ld_ge == 0 ? (r.width > 0 ? r.width : 1) : ld_ge;
    // What the kernels will read.
    const bool need_x = d.message != GK_MESSAGE_COPY_E &&
                        (refold || (grad_edge != nullptr && (d.message == GK_MESSAGE_U_MUL_E ||
                                                             d.message == GK_MESSAGE_U_DIV_E)));
    const bool need_e = d.edge_mode != GK_EDGE_NONE &&
                        (refold || grad_edge != nullptr ||
                         (grad_x != nullptr && (d.message == GK_MESSAGE_U_MUL_E ||
                                                d.message == GK_MESSAGE_U_DIV_E)));
    if (need_x) {
        s = gk::check_matrix(op, "x", "desc->ldx", x, nnz > 0 ? cols : 0, d.feat, r.ldx, vsz);
        if (s != GK_SUCCESS) return s;
    }
    if (need_e) {
        s = gk::check_matrix(op, "edge", "desc->lde", edge, nnz, r.width, r.lde, vsz);
        if (s != GK_SUCCESS) return s;
    }
    for (int k = 0; k < gk::kMultiOutputs; ++k) {
        if (up.names[k] == nullptr) continue;
        s = gk::check_matrix(op, up.names[k], "ld_gy", up.g[k], nnz > 0 ? rows : 0, d.feat, lgy, vsz);
        if (s != GK_SUCCESS) return s;
    }
    if (extreme && nnz > 0) {
        if (arg == nullptr)
            return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                            "%s: arg is NULL; the max/min backward needs the forward's arg_out", op);
        s = gk::check_matrix(op, "arg", "desc->ld_arg", arg, rows, d.feat, r.ld_arg, isz);
        if (s != GK_SUCCESS) return s;
    }
    if (grad_x != nullptr) {
        s = check_plan(op, csr, plan);
        if (s != GK_SUCCESS) return s;
        if (plan->t_row_ptr == nullptr || (nnz > 0 && (plan->t_col_idx == nullptr ||
                                                       plan->perm == nullptr)))
            return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                            "%s: plan->t_row_ptr, t_col_idx or perm is NULL", op);
        s = gk::check_matrix(op, "grad_x", "ld_gx", grad_x, cols, d.feat, lgx, vsz);
        if (s != GK_SUCCESS) return s;
    }
    if (grad_edge != nullptr) {
        s = gk::check_matrix(op, "grad_edge", "ld_ge", grad_edge, nnz, r.width, lge, vsz);
        if (s != GK_SUCCESS) return s;
    }
    const int64_t ws_need = refold ? nnz * d.feat * 4 : 0;
    if (ws_need > 0) {
        if (workspace == nullptr)
            return gk::fail(GK_ERROR_WORKSPACE, "%s: workspace is NULL (needs %lld bytes)", op,
                            static_cast<long long>(ws_need));
        if (workspace_bytes < static_cast<size_t>(ws_need))
            return gk::fail(GK_ERROR_WORKSPACE, "%s: workspace_bytes = %zu, needs %lld", op,
                            workspace_bytes, static_cast<long long>(ws_need));
        if (!gk::aligned(workspace, 4))
            return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: workspace (%p) must be 4-byte aligned",
                            op, workspace);
    }
    const int64_t isz64 = static_cast<int64_t>(isz);
    Extent ins[6 + gk::kMultiOutputs + 4];
    size_t n_in = add_read_extents(ins, 0, csr, d, r, x, edge, need_x, need_e);
    ins[n_in++] = {"arg", arg, extreme ? gk::matrix_bytes(rows, d.feat, r.ld_arg, isz) : 0};
    for (int k = 0; k < gk::kMultiOutputs; ++k)
        if (up.names[k] != nullptr)
            ins[n_in++] = {up.names[k], up.g[k], gk::matrix_bytes(nnz > 0 ? rows : 0, d.feat, lgy, vsz)};
    const bool tr = grad_x != nullptr;
    ins[n_in++] = {"plan->t_row_ptr", tr ? plan->t_row_ptr : nullptr, (cols + 1) * isz64};
    ins[n_in++] = {"plan->t_col_idx", tr ? plan->t_col_idx : nullptr, nnz * isz64};
    ins[n_in++] = {"plan->perm", tr ? plan->perm : nullptr, nnz * isz64};
    const Extent outs[] = {
        {"grad_x", grad_x, grad_x != nullptr ? gk::matrix_bytes(cols, d.feat, lgx, vsz) : 0},
        {"grad_edge", grad_edge, grad_edge != nullptr ? gk::matrix_bytes(nnz, r.width, lge, vsz) : 0},
        {"workspace", workspace, ws_need},
    };
    s = check_overlaps(op, outs, 3, ins, n_in);
    if (s != GK_SUCCESS) return s;

    *a = gk::GSpmmBwdArgs{};
    a->row_ptr = csr->row_ptr;
    a->col_idx = csr->col_idx;
    if (tr) {
        a->t_row_ptr = plan->t_row_ptr;
        a->t_col_idx = plan->t_col_idx;
        a->perm = plan->perm;
    }
    a->x = x;
    a->ldx = r.ldx;
    a->e = edge;
    a->lde = r.lde;
    a->head_width = r.head_width;
    a->heads = d.edge_mode == GK_EDGE_PER_HEAD ? d.heads : 1;
    a->arg = arg;
    a->ld_arg = r.ld_arg;
    a->gy = up.g[0];
    a->ld_gy = lgy;
    a->gx = grad_x;
    a->ld_gx = lgx;
    a->ge = grad_edge;
    a->ld_ge = lge;
    a->dm = static_cast<float*>(ws_need > 0 ? workspace : nullptr);
    a->rows = rows;
    a->cols = cols;
    a->nnz = nnz;
    a->feat = d.feat;
    a->message = d.message;
    a->reduce = d.reduce;
    a->edge_mode = d.edge_mode;
    a->group_log2 = group_log2_for(d.feat);
    return GK_SUCCESS;
}

// Forward variant by feature width (as dgSPARSE selects by the dense width): the 4-wide kernel
// whenever F % 4 == 0 and X (leading dimension and base) allows 4-value loads, with
// G = smallest power of two >= F / 4 lanes per row (one lane per row up to F = 4, a full warp from
// F = 128); otherwise the scalar kernel with G >= F. Both give bitwise the same result.
bool use_vec(const gk_spmm_desc& d, const Resolved& r, const void* x) {
    const size_t vsz = dtype_size(d.dtype);
    return d.feat % 4 == 0 &&
           (d.message == GK_MESSAGE_COPY_E || (r.ldx % 4 == 0 && gk::aligned(x, 4 * vsz)));
}

template <typename I, typename T>
cudaError_t launch_ex(const gk::GSpmmArgs& a, bool chunked, bool vec, cudaStream_t st) {
    if (!chunked && vec)
        return GK_LAUNCH((gk::gspmm_vec_kernel<I, T>), dim3(blocks_for(a.rows, a.group_log2)),
                         dim3(gk::kGSpmmBlockThreads), 0, st, a);
    if (!chunked)
        return GK_LAUNCH((gk::gspmm_kernel<I, T>), dim3(blocks_for(a.rows, a.group_log2)),
                         dim3(gk::kGSpmmBlockThreads), 0, st, a);
    cudaError_t err = cudaSuccess;
    if (a.max_items > 0)
        err = GK_LAUNCH((gk::gspmm_chunk_kernel<I, T>), dim3(blocks_for(a.max_items, a.group_log2)),
                        dim3(gk::kGSpmmBlockThreads), 0, st, a);
    if (err != cudaSuccess) return err;
    return GK_LAUNCH((gk::gspmm_combine_kernel<I, T>), dim3(blocks_for(a.rows, a.group_log2)),
                     dim3(gk::kGSpmmBlockThreads), 0, st, a);
}

template <typename I>
cudaError_t launch_ex_t(int32_t dtype, const gk::GSpmmArgs& a, bool chunked, bool vec,
                        cudaStream_t st) {
    if (dtype == GK_DTYPE_F16) return launch_ex<I, __half>(a, chunked, vec, st);
    if (dtype == GK_DTYPE_BF16) return launch_ex<I, __nv_bfloat16>(a, chunked, vec, st);
    return launch_ex<I, float>(a, chunked, vec, st);
}

template <typename I>
cudaError_t launch_multi_t(int32_t dtype, const gk::GSpmmArgs& a, const gk::GSpmmMultiOut& o,
                           cudaStream_t st) {
    const dim3 grid(blocks_for(a.rows, a.group_log2)), block(gk::kGSpmmBlockThreads);
    if (dtype == GK_DTYPE_F16) return GK_LAUNCH((gk::gspmm_multi_kernel<I, __half>), grid, block, 0, st, a, o);
    if (dtype == GK_DTYPE_BF16)
        return GK_LAUNCH((gk::gspmm_multi_kernel<I, __nv_bfloat16>), grid, block, 0, st, a, o);
    return GK_LAUNCH((gk::gspmm_multi_kernel<I, float>), grid, block, 0, st, a, o);
}

// Backward launches. multi (non-NULL: the multi-reducer's upstream gradients): pass 1 writes dL/dm
// per edge into the workspace, and the gradient passes then read it as they read the mul reducer's.
template <typename I, typename T>
cudaError_t launch_bwd(gk::GSpmmBwdArgs a, const gk::GSpmmMultiGrad* multi, cudaStream_t st) {
    cudaError_t err = cudaSuccess;
    if (multi != nullptr) {
        if (a.rows > 0 && a.nnz > 0)
            err = GK_LAUNCH((gk::gspmm_multi_bwd_kernel<I, T>),
                            dim3(blocks_for(a.rows, a.group_log2)), dim3(gk::kGSpmmBlockThreads), 0,
                            st, a, *multi);
        a.reduce = gk::kGMul;
    } else if (a.reduce == gk::kGMul && a.rows > 0) {
        err = GK_LAUNCH((gk::gspmm_bwd_mul_kernel<I, T>), dim3(blocks_for(a.rows, a.group_log2)),
                        dim3(gk::kGSpmmBlockThreads), 0, st, a);
    }
    if (err == cudaSuccess && a.gx != nullptr && a.cols > 0)
        err = GK_LAUNCH((gk::gspmm_bwd_x_kernel<I, T>), dim3(blocks_for(a.cols, a.group_log2)),
                        dim3(gk::kGSpmmBlockThreads), 0, st, a);
    if (err == cudaSuccess && a.ge != nullptr && a.nnz > 0)
        err = GK_LAUNCH((gk::gspmm_bwd_e_kernel<I, T>), dim3(blocks_for(a.nnz, 0)),
                        dim3(gk::kGSpmmBlockThreads), 0, st, a);
    return err;
}

template <typename I>
cudaError_t launch_bwd_t(int32_t dtype, const gk::GSpmmBwdArgs& a, const gk::GSpmmMultiGrad* multi,
                         cudaStream_t st) {
    if (dtype == GK_DTYPE_F16) return launch_bwd<I, __half>(a, multi, st);
    if (dtype == GK_DTYPE_BF16) return launch_bwd<I, __nv_bfloat16>(a, multi, st);
    return launch_bwd<I, float>(a, multi, st);
}

const char* const kMultiNames[gk::kMultiOutputs] = {"outputs[0] (sum)", "outputs[1] (mean)",
                                                    "outputs[2] (min)", "outputs[3] (max)",
                                                    "outputs[4] (var)", "outputs[5] (std)"};
const char* const kMultiGradNames[gk::kMultiOutputs] = {
    "grad_outputs[0] (sum)", "grad_outputs[1] (mean)", "grad_outputs[2] (min)",
    "grad_outputs[3] (max)", "grad_outputs[4] (var)",  "grad_outputs[5] (std)"};

// stats: a non-empty gk_multi_reduce mask, and p[k] non-NULL exactly for its bits.
gk_status check_stats(const char* op, uint32_t stats, const void* const* p, const char* what,
                      const char* const* names) {
    if (stats == 0 || (stats & ~63u) != 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: stats = 0x%x must be a non-empty gk_multi_reduce mask (bits 0..5)", op,
                        stats);
    if (p == nullptr) return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", op, what);
    for (int k = 0; k < gk::kMultiOutputs; ++k)
        if (((stats >> k) & 1u) == 0u && p[k] != nullptr)
            return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                            "%s: %s must be NULL: bit %d is not in stats = 0x%x", op, names[k], k,
                            stats);
    return GK_SUCCESS;
}

// The multi-reducer's entry checks: the descriptor (reduce and flags unused, must be 0), then the
// stats mask against the pointers p (outputs or upstream gradients).
gk_status check_multi_entry(const char* op, const gk_csr* csr, const gk_spmm_desc* desc,
                            uint32_t stats, const void* const* p, const char* what,
                            const char* const* names, Resolved* r) {
    gk_status s = check_desc(op, csr, desc, r);
    if (s != GK_SUCCESS) return s;
    if (desc->reduce != 0 || desc->flags != 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: desc->reduce = %d and desc->flags = 0x%x must both be 0 (the statistics "
                        "come from stats)",
                        op, desc->reduce, desc->flags);
    return p == nullptr && what == nullptr ? GK_SUCCESS : check_stats(op, stats, p, what, names);
}

}  // namespace

extern "C" {

GK_API gk_status gk_spmm_ex_workspace_size(const gk_csr* csr, const gk_spmm_desc* desc,
                                           const gk_plan* plan, size_t* bytes) {
    GK_ABI_BEGIN
    const char* op = "gk_spmm_ex_workspace_size";
    Resolved r{};
    gk_status s = check_desc(op, csr, desc, &r);
    if (s != GK_SUCCESS) return s;
    if (bytes == nullptr) return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: bytes is NULL", op);
    if ((desc->flags & GK_SPMM_CHUNKED) == 0u) {
        *bytes = 0;
        return GK_SUCCESS;
    }
    s = check_plan(op, csr, plan);
    if (s != GK_SUCCESS) return s;
    *bytes = static_cast<size_t>(chunk_ws_bytes(*desc, *plan));
    return GK_SUCCESS;
    GK_ABI_END
}

GK_API gk_status gk_spmm_ex(const gk_csr* csr, const gk_spmm_desc* desc, const void* x,
                            const void* edge, void* y, void* arg_out, const gk_plan* plan,
                            void* workspace, size_t workspace_bytes, void* stream) {
    GK_ABI_BEGIN
    const char* op = kOpEx;
    Resolved r{};
    gk_status s = check_desc(op, csr, desc, &r);
    if (s != GK_SUCCESS) return s;
    const gk_spmm_desc& d = *desc;
    const int64_t rows = csr->num_rows;
    const size_t vsz = dtype_size(d.dtype);
    const size_t isz = gk::index_size(csr->index_type);
    const bool extreme = d.reduce == GK_REDUCE_MAX || d.reduce == GK_REDUCE_MIN;
    s = check_forward_inputs(op, csr, d, r, x, edge);
    if (s != GK_SUCCESS) return s;
    s = gk::check_matrix(op, "y", "desc->ldy", y, rows, d.feat, r.ldy, vsz);
    if (s != GK_SUCCESS) return s;
    if (arg_out != nullptr) {
        if (!extreme)
            return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                            "%s: arg_out must be NULL for reduce = %d (only max and min have an arg)",
                            op, d.reduce);
        s = gk::check_matrix(op, "arg_out", "desc->ld_arg", arg_out, rows, d.feat, r.ld_arg, isz);
        if (s != GK_SUCCESS) return s;
    }
    const bool chunked = (d.flags & GK_SPMM_CHUNKED) != 0u;
    int64_t ws_need = 0;
    if (chunked) {
        s = check_plan(op, csr, plan);
        if (s != GK_SUCCESS) return s;
        ws_need = chunk_ws_bytes(d, *plan);
        if (ws_need > 0 && workspace == nullptr)
            return gk::fail(GK_ERROR_WORKSPACE, "%s: workspace is NULL (needs %lld bytes)", op,
                            static_cast<long long>(ws_need));
        if (workspace_bytes < static_cast<size_t>(ws_need))
            return gk::fail(GK_ERROR_WORKSPACE, "%s: workspace_bytes = %zu, needs %lld", op,
                            workspace_bytes, static_cast<long long>(ws_need));
        if (workspace != nullptr && !gk::aligned(workspace, 8))
            return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: workspace (%p) must be 8-byte aligned",
                            op, workspace);
    }
    Extent ins[4];
    add_read_extents(ins, 0, csr, d, r, x, edge, d.message != GK_MESSAGE_COPY_E,
                     d.edge_mode != GK_EDGE_NONE);
    const Extent outs[] = {
        {"y", y, gk::matrix_bytes(rows, d.feat, r.ldy, vsz)},
        {"arg_out", arg_out, arg_out != nullptr ? gk::matrix_bytes(rows, d.feat, r.ld_arg, isz) : 0},
        {"workspace", workspace, chunked ? ws_need : 0},
    };
    s = check_overlaps(op, outs, 3, ins, 4);
    if (s != GK_SUCCESS) return s;
    if (rows == 0) return GK_SUCCESS;

    gk::GSpmmArgs a = forward_args(csr, d, r, x, edge);
    a.y = y;
    a.arg = arg_out;
    if (chunked) {
        a.row_item_ptr = plan->row_item_ptr;
        a.item_row = plan->item_row;
        a.chunk = plan->chunk;
        a.max_items = plan->max_items;
        a.part = static_cast<float*>(workspace);
        a.part_arg = extreme ? reinterpret_cast<int64_t*>(static_cast<char*>(workspace) +
                                                          (plan->max_items * d.feat * 4 + 7) / 8 * 8)
                             : nullptr;
    }
    const bool vec = !chunked && use_vec(d, r, x);
    if (vec) {
        a.group_log2 = group_log2_for(d.feat / 4);
        a.vec_edge = d.edge_mode == GK_EDGE_FULL && r.lde % 4 == 0 &&
                     gk::aligned(edge, 4 * dtype_size(d.dtype));
    }
    const cudaStream_t st = gk::as_stream(stream);
    const cudaError_t err = csr->index_type == GK_INDEX_INT32
                                ? launch_ex_t<int32_t>(d.dtype, a, chunked, vec, st)
                                : launch_ex_t<int64_t>(d.dtype, a, chunked, vec, st);
    if (err != cudaSuccess) return gk::fail_cuda(err, op);
    return GK_SUCCESS;
    GK_ABI_END
}

GK_API gk_status gk_spmm_multi(const gk_csr* csr, const gk_spmm_desc* desc, uint32_t stats,
                               const void* x, const void* edge, void* const* outputs,
                               void* stream) {
    GK_ABI_BEGIN
    const char* op = "gk_spmm_multi";
    Resolved r{};
    gk_status s = check_multi_entry(op, csr, desc, stats, outputs, "outputs", kMultiNames, &r);
    if (s != GK_SUCCESS) return s;
    const gk_spmm_desc& d = *desc;
    const int64_t rows = csr->num_rows;
    const size_t vsz = dtype_size(d.dtype);
    s = check_forward_inputs(op, csr, d, r, x, edge);
    if (s != GK_SUCCESS) return s;
    gk::GSpmmMultiOut o{};
    Extent outs[gk::kMultiOutputs];
    for (int k = 0; k < gk::kMultiOutputs; ++k) {
        const bool want = (stats >> k) & 1u;
        if (want) {
            s = gk::check_matrix(op, kMultiNames[k], "desc->ldy", outputs[k], rows, d.feat, r.ldy, vsz);
            if (s != GK_SUCCESS) return s;
        }
        o.out[k] = want ? outputs[k] : nullptr;
        outs[k] = {kMultiNames[k], o.out[k], want ? gk::matrix_bytes(rows, d.feat, r.ldy, vsz) : 0};
    }
    Extent ins[4];
    add_read_extents(ins, 0, csr, d, r, x, edge, d.message != GK_MESSAGE_COPY_E,
                     d.edge_mode != GK_EDGE_NONE);
    s = check_overlaps(op, outs, gk::kMultiOutputs, ins, 4);
    if (s != GK_SUCCESS) return s;
    if (rows == 0) return GK_SUCCESS;
    const gk::GSpmmArgs a = forward_args(csr, d, r, x, edge);
    const cudaStream_t st = gk::as_stream(stream);
    const cudaError_t err = csr->index_type == GK_INDEX_INT32
                                ? launch_multi_t<int32_t>(d.dtype, a, o, st)
                                : launch_multi_t<int64_t>(d.dtype, a, o, st);
    if (err != cudaSuccess) return gk::fail_cuda(err, op);
    return GK_SUCCESS;
    GK_ABI_END
}

GK_API gk_status gk_spmm_backward_workspace_size(const gk_csr* csr, const gk_spmm_desc* desc,
                                                 size_t* bytes) {
    GK_ABI_BEGIN
    const char* op = "gk_spmm_backward_workspace_size";
    Resolved r{};
    gk_status s = check_desc(op, csr, desc, &r);
    if (s != GK_SUCCESS) return s;
    if (bytes == nullptr) return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: bytes is NULL", op);
    *bytes = desc->reduce == GK_REDUCE_MUL ? static_cast<size_t>(csr->nnz * desc->feat * 4) : 0;
    return GK_SUCCESS;
    GK_ABI_END
}

GK_API gk_status gk_spmm_backward(const gk_csr* csr, const gk_plan* plan,
                                  const gk_spmm_desc* desc, const void* x, const void* edge,
                                  const void* arg, const void* grad_y, int64_t ld_gy, void* grad_x,
                                  int64_t ld_gx, void* grad_edge, int64_t ld_ge, void* workspace,
                                  size_t workspace_bytes, void* stream) {
    GK_ABI_BEGIN
    const char* op = kOpBwd;
    Resolved r{};
    gk_status s = check_desc(op, csr, desc, &r);
    if (s != GK_SUCCESS) return s;
    const gk_spmm_desc& d = *desc;
    Upstream up{};
    up.g[0] = grad_y;
    up.names[0] = "grad_y";
    gk::GSpmmBwdArgs a{};
    s = prepare_backward(op, csr, plan, d, r, d.reduce == GK_REDUCE_MUL, x, edge, arg, up, ld_gy,
                         grad_x, ld_gx, grad_edge, ld_ge, workspace, workspace_bytes, &a);
    if (s != GK_SUCCESS) return s;
    const cudaStream_t st = gk::as_stream(stream);
    const cudaError_t err = csr->index_type == GK_INDEX_INT32
                                ? launch_bwd_t<int32_t>(d.dtype, a, nullptr, st)
                                : launch_bwd_t<int64_t>(d.dtype, a, nullptr, st);
    if (err != cudaSuccess) return gk::fail_cuda(err, op);
    return GK_SUCCESS;
    GK_ABI_END
}

GK_API gk_status gk_spmm_multi_backward_workspace_size(const gk_csr* csr,
                                                       const gk_spmm_desc* desc, size_t* bytes) {
    GK_ABI_BEGIN
    const char* op = "gk_spmm_multi_backward_workspace_size";
    Resolved r{};
    const gk_status s = check_multi_entry(op, csr, desc, 0, nullptr, nullptr, nullptr, &r);
    if (s != GK_SUCCESS) return s;
    if (bytes == nullptr) return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: bytes is NULL", op);
    *bytes = static_cast<size_t>(csr->nnz * desc->feat * 4);
    return GK_SUCCESS;
    GK_ABI_END
}

GK_API gk_status gk_spmm_multi_backward(const gk_csr* csr, const gk_plan* plan,
                                        const gk_spmm_desc* desc, uint32_t stats, const void* x,
                                        const void* edge, const void* const* grad_outputs,
                                        int64_t ld_gy, void* grad_x, int64_t ld_gx,
                                        void* grad_edge, int64_t ld_ge, void* workspace,
                                        size_t workspace_bytes, void* stream) {
    GK_ABI_BEGIN
    const char* op = "gk_spmm_multi_backward";
    Resolved r{};
    gk_status s = check_multi_entry(op, csr, desc, stats, grad_outputs, "grad_outputs",
                                    kMultiGradNames, &r);
    if (s != GK_SUCCESS) return s;
    const gk_spmm_desc& d = *desc;
    Upstream up{};
    gk::GSpmmMultiGrad mg{};
    for (int k = 0; k < gk::kMultiOutputs; ++k) {
        const bool want = (stats >> k) & 1u;
        up.g[k] = want ? grad_outputs[k] : nullptr;
        up.names[k] = want ? kMultiGradNames[k] : nullptr;
        mg.g[k] = up.g[k];
    }
    gk::GSpmmBwdArgs a{};
    s = prepare_backward(op, csr, plan, d, r, true, x, edge, nullptr, up, ld_gy, grad_x, ld_gx,
                         grad_edge, ld_ge, workspace, workspace_bytes, &a);
    if (s != GK_SUCCESS) return s;
    mg.ld = a.ld_gy;
    const cudaStream_t st = gk::as_stream(stream);
    const cudaError_t err = csr->index_type == GK_INDEX_INT32
                                ? launch_bwd_t<int32_t>(d.dtype, a, &mg, st)
                                : launch_bwd_t<int64_t>(d.dtype, a, &mg, st);
    if (err != cudaSuccess) return gk::fail_cuda(err, op);
    return GK_SUCCESS;
    GK_ABI_END
}

}  // extern "C"
