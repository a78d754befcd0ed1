// CSR launchers: gk_csr_validate.
#include "csr.cuh"
#include "gk_runtime.h"
#include "validate.h"

namespace {

constexpr size_t kValidateWorkspace = 2 * sizeof(unsigned long long);

template <typename I>
gk_status validate_typed(const gk_csr& csr, unsigned long long* result, cudaStream_t stream) {
    const char* op = "gk_csr_validate";
    cudaError_t err = cudaMemsetAsync(result, 0xff, kValidateWorkspace, stream);
    if (err != cudaSuccess) return gk::fail_cuda(err, op);
    const int64_t n = (csr.num_rows + 1) > csr.nnz ? (csr.num_rows + 1) : csr.nnz;
    const int64_t want = (n + gk::kCsrValidateBlockThreads - 1) / gk::kCsrValidateBlockThreads;
    const unsigned blocks = static_cast<unsigned>(want < 4096 ? want : 4096);
    err = GK_LAUNCH((gk::csr_validate_kernel<I>), dim3(blocks), dim3(gk::kCsrValidateBlockThreads),
                    0, stream, static_cast<const I*>(csr.row_ptr),
                    static_cast<const I*>(csr.col_idx), csr.num_rows, csr.num_cols, csr.nnz,
                    result);
    if (err != cudaSuccess) return gk::fail_cuda(err, op);

    unsigned long long bad[2];
    err = cudaMemcpyAsync(bad, result, sizeof bad, cudaMemcpyDeviceToHost, stream);
    if (err == cudaSuccess) err = cudaStreamSynchronize(stream);
    if (err != cudaSuccess) return gk::fail_cuda(err, op);
    if (bad[0] == ~0ull && bad[1] == ~0ull) return GK_SUCCESS;

    // Read the offending entries back to name their values (small synchronous copies).
    if (bad[0] != ~0ull) {
        const int64_t i = static_cast<int64_t>(bad[0]);
        I v[2] = {0, 0};  // v[0] = row_ptr[i - 1], v[1] = row_ptr[i]
        const I* rp = static_cast<const I*>(csr.row_ptr);
        err = cudaMemcpy(&v[1], rp + i, sizeof(I), cudaMemcpyDeviceToHost);
        if (err == cudaSuccess && i > 0) err = cudaMemcpy(&v[0], rp + i - 1, sizeof(I), cudaMemcpyDeviceToHost);
        if (err != cudaSuccess) return gk::fail_cuda(err, op);
        const long long cur = static_cast<long long>(v[1]), prev = static_cast<long long>(v[0]);
        const long long nnz = static_cast<long long>(csr.nnz);
        if (i == 0 && cur != 0)
            return gk::fail(GK_ERROR_INVALID_GRAPH, "%s: row_ptr[0] = %lld, must be 0", op, cur);
        if (cur < 0 || cur > nnz)
            return gk::fail(GK_ERROR_INVALID_GRAPH,
                            "%s: row_ptr[%lld] = %lld is outside [0, nnz = %lld]", op,
                            static_cast<long long>(i), cur, nnz);
        if (i > 0 && cur < prev)
            return gk::fail(GK_ERROR_INVALID_GRAPH,
                            "%s: row_ptr[%lld] = %lld is less than row_ptr[%lld] = %lld "
                            "(row_ptr must be non-decreasing)",
                            op, static_cast<long long>(i), cur, static_cast<long long>(i - 1), prev);
        return gk::fail(GK_ERROR_INVALID_GRAPH,
                        "%s: row_ptr[%lld] = %lld (the last entry, num_rows = %lld) must equal "
                        "nnz = %lld",
                        op, static_cast<long long>(i), cur, static_cast<long long>(csr.num_rows),
                        nnz);
    }
    const int64_t e = static_cast<int64_t>(bad[1]);
    I c = 0;
    err = cudaMemcpy(&c, static_cast<const I*>(csr.col_idx) + e, sizeof(I), cudaMemcpyDeviceToHost);
    if (err != cudaSuccess) return gk::fail_cuda(err, op);
    return gk::fail(GK_ERROR_INVALID_GRAPH, "%s: col_idx[%lld] = %lld is outside [0, num_cols = %lld)",
                    op, static_cast<long long>(e), static_cast<long long>(c),
                    static_cast<long long>(csr.num_cols));
}

}  // namespace

extern "C" {

GK_API gk_status gk_csr_validate_workspace_size(size_t* bytes) {
    GK_ABI_BEGIN
    if (bytes == nullptr)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "gk_csr_validate_workspace_size: bytes is NULL");
    *bytes = kValidateWorkspace;
    return GK_SUCCESS;
    GK_ABI_END
}

GK_API gk_status gk_csr_validate(const gk_csr* csr, void* workspace, size_t workspace_bytes,
                                 void* stream) {
    GK_ABI_BEGIN
    const char* op = "gk_csr_validate";
    gk_status s = gk::check_csr_header(csr, op);
    if (s != GK_SUCCESS) return s;
    if (workspace == nullptr)
        return gk::fail(GK_ERROR_WORKSPACE, "%s: workspace is NULL (needs %zu bytes)", op,
                        kValidateWorkspace);
    if (workspace_bytes < kValidateWorkspace)
        return gk::fail(GK_ERROR_WORKSPACE, "%s: workspace_bytes = %zu, needs %zu", op,
                        workspace_bytes, kValidateWorkspace);
    if (!gk::aligned(workspace, 8))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: workspace (%p) must be 8-byte aligned", op,
                        workspace);
    auto* result = static_cast<unsigned long long*>(workspace);
    if (csr->index_type == GK_INDEX_INT32)
        return validate_typed<int32_t>(*csr, result, gk::as_stream(stream));
    return validate_typed<int64_t>(*csr, result, gk::as_stream(stream));
    GK_ABI_END
}

}  // extern "C"
