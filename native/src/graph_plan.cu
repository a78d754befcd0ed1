// Graph plan launchers: gk_plan_query (host only) and gk_plan_build (four launches of
// kernels/graph_plan.cuh on the caller's stream; no allocation, no synchronisation).
#include "graph_plan.cuh"
#include "gk_runtime.h"
#include "validate.h"

namespace {

constexpr int64_t kDefaultChunk = 256;

unsigned grid_for(int64_t n, int threads) {
    const int64_t want = (n + threads - 1) / threads;
    if (want < 1) return 1;
    return static_cast<unsigned>(want < 65536 ? want : 65536);
}

gk_status check_chunk(const char* op, int64_t chunk, int64_t* effective) {
    if (chunk < 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: chunk = %lld, must be 0 (= %lld) or >= 1",
                        op, static_cast<long long>(chunk), static_cast<long long>(kDefaultChunk));
    *effective = chunk == 0 ? kDefaultChunk : chunk;
    return GK_SUCCESS;
}

void fill_sizes(const gk_csr& csr, int64_t chunk, gk_plan_sizes* s) {
    const int64_t isz = static_cast<int64_t>(gk::index_size(csr.index_type));
    s->chunk = chunk;
    s->max_items = csr.num_rows + csr.nnz / chunk;
    s->t_row_ptr_bytes = (csr.num_cols + 1) * isz;
    s->t_col_idx_bytes = csr.nnz * isz;
    s->perm_bytes = csr.nnz * isz;
    s->in_degree_bytes = csr.num_rows * isz;
    s->out_degree_bytes = csr.num_cols * isz;
    s->row_item_ptr_bytes = (csr.num_rows + 1) * 8;
    s->item_row_bytes = s->max_items * 8;
    s->workspace_bytes = csr.num_cols * 8;
}

template <typename I>
gk_status build_typed(const gk_csr& csr, gk_plan& p, unsigned long long* cnt, cudaStream_t st) {
    const char* op = "gk_plan_build";
    const int64_t m = csr.num_rows, k = csr.num_cols, e = csr.nnz;
    const I* rp = static_cast<const I*>(csr.row_ptr);
    const I* ci = static_cast<const I*>(csr.col_idx);
    cudaError_t err = cudaSuccess;
    if (k > 0) err = cudaMemsetAsync(cnt, 0, static_cast<size_t>(k) * 8, st);
    if (err != cudaSuccess) return gk::fail_cuda(err, op);
    const int64_t n1 = m > e ? m : e;
    if (n1 > 0) {
        err = GK_LAUNCH((gk::plan_count_kernel<I>), dim3(grid_for(n1, gk::kPlanBlockThreads)),
                        dim3(gk::kPlanBlockThreads), 0, st, rp, ci, m, e, p.chunk,
                        static_cast<I*>(p.in_degree), p.row_item_ptr, cnt);
        if (err != cudaSuccess) return gk::fail_cuda(err, op);
    }
    // Transposed row_ptr from the counts; out_degree; cnt becomes the scatter cursors.
    err = GK_LAUNCH((gk::plan_scan_kernel<unsigned long long, I>), dim3(1),
                    dim3(gk::kPlanScanThreads), 0, st, static_cast<const unsigned long long*>(cnt),
                    k, static_cast<I*>(p.t_row_ptr), static_cast<I*>(p.out_degree), cnt);
    if (err != cudaSuccess) return gk::fail_cuda(err, op);
    // Item pointers, in place.
    err = GK_LAUNCH((gk::plan_scan_kernel<int64_t, int64_t>), dim3(1), dim3(gk::kPlanScanThreads),
                    0, st, static_cast<const int64_t*>(p.row_item_ptr), m, p.row_item_ptr,
                    static_cast<int64_t*>(nullptr), static_cast<unsigned long long*>(nullptr));
    if (err != cudaSuccess) return gk::fail_cuda(err, op);
    const int64_t n3 = m > p.max_items ? m : p.max_items;
    if (n3 > 0) {
        err = GK_LAUNCH((gk::plan_fill_kernel<I>), dim3(grid_for(n3, gk::kPlanBlockThreads)),
                        dim3(gk::kPlanBlockThreads), 0, st, rp, ci, m,
                        static_cast<const int64_t*>(p.row_item_ptr), p.max_items, cnt,
                        static_cast<I*>(p.perm), static_cast<I*>(p.t_col_idx), p.item_row);
        if (err != cudaSuccess) return gk::fail_cuda(err, op);
    }
    if (k > 0 && e > 0) {
        err = GK_LAUNCH((gk::plan_sort_kernel<I>), dim3(grid_for(k, gk::kPlanBlockThreads)),
                        dim3(gk::kPlanBlockThreads), 0, st, static_cast<const I*>(p.t_row_ptr), k,
                        static_cast<I*>(p.perm), static_cast<I*>(p.t_col_idx));
        if (err != cudaSuccess) return gk::fail_cuda(err, op);
    }
    return GK_SUCCESS;
}

}  // namespace

extern "C" {

GK_API gk_status gk_plan_query(const gk_csr* csr, int64_t chunk, gk_plan_sizes* sizes) {
    GK_ABI_BEGIN
    const char* op = "gk_plan_query";
    gk_status s = gk::check_csr_header(csr, op);
    if (s != GK_SUCCESS) return s;
    if (sizes == nullptr) return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: sizes is NULL", op);
    int64_t c = 0;
    s = check_chunk(op, chunk, &c);
    if (s != GK_SUCCESS) return s;
    fill_sizes(*csr, c, sizes);
    return GK_SUCCESS;
    GK_ABI_END
}

GK_API gk_status gk_plan_build(const gk_csr* csr, int64_t chunk, gk_plan* plan, void* workspace,
                               size_t workspace_bytes, void* stream) {
    GK_ABI_BEGIN
    const char* op = "gk_plan_build";
    gk_status s = gk::check_csr_header(csr, op);
    if (s != GK_SUCCESS) return s;
    if (plan == nullptr) return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: plan is NULL", op);
    int64_t c = 0;
    s = check_chunk(op, chunk, &c);
    if (s != GK_SUCCESS) return s;
    gk_plan_sizes z{};
    fill_sizes(*csr, c, &z);
    const size_t isz = gk::index_size(csr->index_type);
    struct Buf {
        const char* name;
        void* p;
        int64_t bytes;
        size_t align;
    };
    const Buf bufs[] = {
        {"plan->t_row_ptr", plan->t_row_ptr, z.t_row_ptr_bytes, isz},
        {"plan->t_col_idx", plan->t_col_idx, z.t_col_idx_bytes, isz},
        {"plan->perm", plan->perm, z.perm_bytes, isz},
        {"plan->in_degree", plan->in_degree, z.in_degree_bytes, isz},
        {"plan->out_degree", plan->out_degree, z.out_degree_bytes, isz},
        {"plan->row_item_ptr", plan->row_item_ptr, z.row_item_ptr_bytes, 8},
        {"plan->item_row", plan->item_row, z.item_row_bytes, 8},
    };
    for (const Buf& b : bufs) {
        if (b.bytes > 0 && b.p == nullptr)
            return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s is NULL (needs %lld bytes)", op,
                            b.name, static_cast<long long>(b.bytes));
        if (b.p != nullptr && !gk::aligned(b.p, b.align))
            return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s (%p) is not aligned to %zu bytes",
                            op, b.name, b.p, b.align);
    }
    if (z.workspace_bytes > 0) {
        if (workspace == nullptr)
            return gk::fail(GK_ERROR_WORKSPACE, "%s: workspace is NULL (needs %lld bytes)", op,
                            static_cast<long long>(z.workspace_bytes));
        if (workspace_bytes < static_cast<size_t>(z.workspace_bytes))
            return gk::fail(GK_ERROR_WORKSPACE, "%s: workspace_bytes = %zu, needs %lld", op,
                            workspace_bytes, static_cast<long long>(z.workspace_bytes));
        if (!gk::aligned(workspace, 8))
            return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: workspace (%p) must be 8-byte aligned",
                            op, workspace);
    }
    const Buf inputs[] = {
        {"csr->row_ptr", const_cast<void*>(csr->row_ptr), (csr->num_rows + 1) * static_cast<int64_t>(isz), 1},
        {"csr->col_idx", const_cast<void*>(csr->col_idx), csr->nnz * static_cast<int64_t>(isz), 1},
        {"workspace", workspace, z.workspace_bytes, 1},
    };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; ++i) {
        for (size_t j = i + 1; j < sizeof bufs / sizeof bufs[0]; ++j)
            if (gk::overlaps(bufs[i].p, bufs[i].bytes, bufs[j].p, bufs[j].bytes))
                return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s overlaps %s", op, bufs[i].name,
                                bufs[j].name);
        for (const Buf& in : inputs)
            if (gk::overlaps(bufs[i].p, bufs[i].bytes, in.p, in.bytes))
                return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s overlaps %s", op, bufs[i].name,
                                in.name);
    }

    plan->chunk = c;
    plan->max_items = z.max_items;
    plan->num_rows = csr->num_rows;
    plan->num_cols = csr->num_cols;
    plan->nnz = csr->nnz;
    plan->index_type = csr->index_type;
    plan->reserved = 0;
    plan->transpose.num_rows = csr->num_cols;
    plan->transpose.num_cols = csr->num_rows;
    plan->transpose.nnz = csr->nnz;
    plan->transpose.index_type = csr->index_type;
    plan->transpose.reserved = 0;
    plan->transpose.row_ptr = plan->t_row_ptr;
    plan->transpose.col_idx = plan->t_col_idx;

    auto* cnt = static_cast<unsigned long long*>(workspace);
    if (csr->index_type == GK_INDEX_INT32)
        return build_typed<int32_t>(*csr, *plan, cnt, gk::as_stream(stream));
    return build_typed<int64_t>(*csr, *plan, cnt, gk::as_stream(stream));
    GK_ABI_END
}

}  // extern "C"
