// CSR validation on the device.
//
// Work split: a grid-stride loop where thread t checks row_ptr[t] (for t <= M) and col_idx[t]
// (for t < nnz); no block or warp cooperation. Each violation is folded into one of two 64-bit
// "first bad position" words with atomicMin, so the verdict names the lowest bad position
// whatever the order in which threads run: result[0] for row_ptr, result[1] for col_idx
// (UINT64_MAX = none). Bytes per element: sizeof(I) read once (row_ptr entries twice: t and
// t - 1, the second from L1). The host initialises result to all-ones before the launch.
#ifndef GK_CSR_CUH
#define GK_CSR_CUH

#include "common/gk_device.cuh"

namespace gk {

constexpr int kCsrValidateBlockThreads = 256;

template <typename I>
__global__ void __launch_bounds__(kCsrValidateBlockThreads)
csr_validate_kernel(const I* __restrict__ row_ptr, const I* __restrict__ col_idx,
                    int64_t num_rows, int64_t num_cols, int64_t nnz,
                    unsigned long long* __restrict__ result) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    const int64_t n = (num_rows + 1) > nnz ? (num_rows + 1) : nnz;
    for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
         t += stride) {
        if (t <= num_rows) {
            const int64_t v = static_cast<int64_t>(row_ptr[t]);
            bool bad = v < 0 || v > nnz;
            if (t == 0) bad = bad || v != 0;
            if (t > 0) bad = bad || v < static_cast<int64_t>(row_ptr[t - 1]);
            if (t == num_rows) bad = bad || v != nnz;
            if (bad) atomicMin(result, static_cast<unsigned long long>(t));
        }
        if (t < nnz) {
            const int64_t c = static_cast<int64_t>(col_idx[t]);
            if (c < 0 || c >= num_cols) atomicMin(result + 1, static_cast<unsigned long long>(t));
        }
    }
}

}  // namespace gk

#endif  // GK_CSR_CUH
