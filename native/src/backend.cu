// What this build of the library is, and the CUDA-error translation (backend-specific).
#include <cstdio>

#include "gk_runtime.h"

namespace gk {

gk_status fail_cuda(cudaError_t err, const char* what) {
#if defined(GK_EMULATION)
    const char* detail = ::gk_emu::last_error_detail();
#else
    const char* detail = "";
#endif
    return fail(GK_ERROR_CUDA, "%s: %s (%s)%s%s", what, cudaGetErrorName(err),
                cudaGetErrorString(err), detail[0] ? ": " : "", detail);
}

}  // namespace gk

extern "C" {

GK_API int32_t gk_backend(void) {
#if defined(GK_EMULATION)
    return GK_BACKEND_EMULATED;
#else
    return GK_BACKEND_CUDA;
#endif
}

GK_API const char* gk_build_info(void) {
#if defined(GK_EMULATION)
    return "backend=emulated (CPU emulation of the CUDA execution model, not a GPU)";
#else
#  define GK_STR2(x) #x
#  define GK_STR(x) GK_STR2(x)
    return "backend=cuda cuda_runtime=" GK_STR(CUDART_VERSION)
           " (static) archs=sm_80,sm_86,sm_89,sm_90,compute_90";
#endif
}

}  // extern "C"
