// The assertion harness of the C ABI tests (test_*_abi.cpp): CHECK counts every check, prints each
// failure with its location and a printf-style explanation, and check_summary() prints the totals
// and gives the process exit code.
#ifndef GK_ABI_CHECK_H
#define GK_ABI_CHECK_H

#include <cstdio>

inline int g_failures = 0;
inline int g_checks = 0;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        ++g_checks;                                                             \
        if (!(cond)) {                                                          \
            ++g_failures;                                                       \
            std::fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            std::fprintf(stderr, __VA_ARGS__);                                  \
            std::fprintf(stderr, "\n");                                         \
        }                                                                       \
    } while (0)

inline int check_summary() {
    std::printf("%d checks, %d failures\n", g_checks, g_failures);
    return g_failures == 0 ? 0 : 1;
}

#endif  // GK_ABI_CHECK_H
