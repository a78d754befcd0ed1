// Library-level C ABI: error messages, status names, version. Backend-independent.
#include <cstdarg>
#include <cstdio>

#include "graphkernels.h"

namespace gk {

namespace {
thread_local char g_last_error[1024] = "";
}

gk_status fail(gk_status status, const char* format, ...) {
    va_list args;
    va_start(args, format);
    std::vsnprintf(g_last_error, sizeof g_last_error, format, args);
    va_end(args);
    return status;
}

void clear_error() { g_last_error[0] = '\0'; }

}  // namespace gk

#define GK_STR2(x) #x
#define GK_STR(x) GK_STR2(x)

extern "C" {

GK_API const char* gk_last_error_message(void) { return gk::g_last_error; }

GK_API const char* gk_status_name(int32_t status) {
    switch (status) {
        case GK_SUCCESS: return "GK_SUCCESS";
        case GK_ERROR_INVALID_ARGUMENT: return "GK_ERROR_INVALID_ARGUMENT";
        case GK_ERROR_INVALID_GRAPH: return "GK_ERROR_INVALID_GRAPH";
        case GK_ERROR_UNSUPPORTED: return "GK_ERROR_UNSUPPORTED";
        case GK_ERROR_INDEX_OVERFLOW: return "GK_ERROR_INDEX_OVERFLOW";
        case GK_ERROR_WORKSPACE: return "GK_ERROR_WORKSPACE";
        case GK_ERROR_CUDA: return "GK_ERROR_CUDA";
        case GK_ERROR_INTERNAL: return "GK_ERROR_INTERNAL";
        default: return "GK_UNKNOWN_STATUS";
    }
}

GK_API const char* gk_version_string(void) {
    return GK_STR(GK_VERSION_MAJOR) "." GK_STR(GK_VERSION_MINOR) "." GK_STR(GK_VERSION_PATCH);
}

GK_API int32_t gk_version(void) {
    return GK_VERSION_MAJOR * 10000 + GK_VERSION_MINOR * 100 + GK_VERSION_PATCH;
}

}  // extern "C"
