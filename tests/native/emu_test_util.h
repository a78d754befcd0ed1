// emu_test_util.h — a tiny harness for the emulation's C-level tests (no external framework).
#pragma once
#include "gk_emulation.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

// What the kernels' shared-memory macros expand to under emulation: one tag per declaration site.
#define EMU_SHARED(T, name, count)      \
    static const char name##_site = 0;  \
    T* name = ::gk_emu::shared_static<T>(&name##_site, (count))

namespace emu_test {

inline int& failures() {
    static int f = 0;
    return f;
}

#define CHECK(cond)                                                                         \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            std::printf("    CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);      \
            ++::emu_test::failures();                                                       \
            return;                                                                         \
        }                                                                                   \
    } while (0)

#define CHECK_CUDA(expr, want)                                                                          \
    do {                                                                                                \
        cudaError_t e_ = (expr);                                                                        \
        if (e_ != (want)) {                                                                             \
            std::printf("    %s:%d: %s returned %s, expected %s (detail: %s)\n", __FILE__, __LINE__,   \
                        #expr, cudaGetErrorName(e_), cudaGetErrorName(want), gk_emu::last_error_detail()); \
            ++::emu_test::failures();                                                                   \
            return;                                                                                     \
        }                                                                                               \
    } while (0)

#define CHECK_DETAIL(substr)                                                                            \
    do {                                                                                                \
        if (!std::strstr(gk_emu::last_error_detail(), (substr))) {                                      \
            std::printf("    %s:%d: detail \"%s\" lacks \"%s\"\n", __FILE__, __LINE__,                  \
                        gk_emu::last_error_detail(), (substr));                                          \
            ++::emu_test::failures();                                                                   \
            return;                                                                                     \
        }                                                                                               \
    } while (0)

struct Case {
    const char* name;
    void (*fn)();
};

inline int run_all(const std::vector<Case>& cases, int argc, char** argv) {
    int failed = 0;
    for (const Case& c : cases) {
        if (argc > 1 && !std::strstr(c.name, argv[1])) continue;
        int before = failures();
        auto t0 = std::chrono::steady_clock::now();
        c.fn();
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        bool ok = failures() == before;
        std::printf("[%s] %s (%.1f ms)\n", ok ? "PASS" : "FAIL", c.name, ms);
        std::fflush(stdout);
        if (!ok) ++failed;
    }
    std::printf("%d test(s) failed\n", failed);
    return failed ? 1 : 0;
}

}  // namespace emu_test
