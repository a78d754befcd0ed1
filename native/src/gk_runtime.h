// Host-side runtime layer shared by every launcher: the CUDA runtime (nvcc build) or its CPU
// emulation (GK_EMULATION), one launch macro for both, and the error plumbing of the C ABI.
#ifndef GK_RUNTIME_H
#define GK_RUNTIME_H

#include <cstddef>
#include <cstdint>

#if defined(GK_EMULATION)
#  include "gk_emulation.h"
// Launch a __global__ function: returns the cudaError_t of the launch itself.
#  define GK_LAUNCH(kernel, grid, block, smem, stream, ...) \
     ::gk_emu::launch_named(#kernel, (kernel), (grid), (block), (smem), (stream), __VA_ARGS__)
#else
#  include <cuda_runtime.h>
#  define GK_LAUNCH(kernel, grid, block, smem, stream, ...) \
     ((kernel)<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__), cudaGetLastError())
#endif

#include "graphkernels.h"

namespace gk {

// Records the sentence for gk_last_error_message() on this thread and returns `status`.
gk_status fail(gk_status status, const char* format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
// Clears this thread's last error message (called at the start of every exported function).
void clear_error();
// Turns a CUDA (or emulated) runtime error into GK_ERROR_CUDA naming what failed.
gk_status fail_cuda(cudaError_t err, const char* what);

inline cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }

}  // namespace gk

// Every exported function body runs inside GK_ABI_GUARD: no C++ exception crosses the C ABI.
#define GK_ABI_BEGIN \
    ::gk::clear_error(); \
    try {
#define GK_ABI_END                                                                    \
    } catch (...) {                                                                   \
        return ::gk::fail(GK_ERROR_INTERNAL, "%s: unexpected C++ exception", __func__); \
    }

#endif  // GK_RUNTIME_H
