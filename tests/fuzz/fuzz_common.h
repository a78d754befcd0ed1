// Shared by the libFuzzer harnesses: a failed property prints what was expected and aborts, which
// libFuzzer reports as a crash and saves the input (crash-<sha1>) for replay.
#ifndef GK_FUZZ_COMMON_H
#define GK_FUZZ_COMMON_H

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "graphkernels.h"

#define FUZZ_CHECK(cond, ...)                                                          \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            std::fprintf(stderr, "FUZZ PROPERTY FAILED %s:%d: %s\n  ", __FILE__, __LINE__, \
                         #cond);                                                       \
            std::fprintf(stderr, __VA_ARGS__);                                         \
            std::fprintf(stderr, "\n  last error message: \"%s\"\n", gk_last_error_message()); \
            std::abort();                                                              \
        }                                                                              \
    } while (0)

inline bool starts_with(const char* s, const char* prefix) {
    return std::strncmp(s, prefix, std::strlen(prefix)) == 0;
}

inline bool contains(const char* s, const std::string& needle) {
    return std::strstr(s, needle.c_str()) != nullptr;
}

// memcmp that accepts empty ranges with NULL pointers (memcmp itself may not be given NULL).
inline bool same_bytes(const void* a, const void* b, size_t n) {
    return n == 0 || std::memcmp(a, b, n) == 0;
}

// An allocation of exactly `bytes` bytes starting `offset` bytes into a malloc'ed block, so that
// ASan reports a read or write even one byte past the end. offset != 0 misaligns the pointer.
struct Region {
    unsigned char* base = nullptr;
    unsigned char* ptr = nullptr;
    size_t bytes = 0, total = 0;
    Region() = default;
    Region(size_t n, size_t offset = 0) { reset(n, offset); }
    void reset(size_t n, size_t offset = 0) {
        std::free(base);
        total = n + offset;
        base = static_cast<unsigned char*>(std::malloc(total ? total : 1));
        ptr = base + offset;
        bytes = n;
    }
    ~Region() { std::free(base); }
    Region(const Region&) = delete;
    Region& operator=(const Region&) = delete;
};

#endif  // GK_FUZZ_COMMON_H
