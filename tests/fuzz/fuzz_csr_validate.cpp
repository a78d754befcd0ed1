// Fuzzes gk_csr_validate: arbitrary bytes become a small CSR header plus row_ptr/col_idx contents
// (int32 or int64), mostly near-valid so that every rule is reached. The harness computes its own
// verdict from the documented rules (graphkernels.h) and checks the library's:
//   * header errors: the status, and the message naming the field;
//   * content errors: GK_ERROR_INVALID_GRAPH whose message names the first bad row_ptr position
//     with its value ("row_ptr[i] = v"), or, when row_ptr is clean, the first bad col_idx position
//     ("col_idx[e] = c");
//   * valid graphs: GK_SUCCESS and an empty message.
// Buffers are exact-sized heap blocks, so ASan reports any read past row_ptr[M] or col_idx[E-1].
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "fuzz_common.h"

namespace {

struct Expect {
    gk_status status = GK_SUCCESS;
    std::string needle;  // substring the message must contain
};

template <typename I>
int64_t special(FuzzedDataProvider& in, int64_t prev, int64_t nnz, int64_t cols) {
    switch (in.ConsumeIntegralInRange<int>(0, 9)) {
        case 0: return -1;
        case 1: return nnz;
        case 2: return nnz + 1;
        case 3: return static_cast<int64_t>(static_cast<uint64_t>(prev) - 1);  // wraps like the stored I
        case 4: return cols;
        case 5: return static_cast<int64_t>(std::numeric_limits<I>::max());
        case 6: return static_cast<int64_t>(std::numeric_limits<I>::min());
        case 7: return 0;
        case 8: return static_cast<int64_t>(static_cast<uint64_t>(prev) + 1);
        default: return static_cast<int64_t>(in.ConsumeIntegral<I>());
    }
}

template <typename I>
void run(FuzzedDataProvider& in) {
    gk_csr csr{};
    csr.index_type = sizeof(I) == 4 ? GK_INDEX_INT32 : GK_INDEX_INT64;
    const int64_t rows = in.ConsumeIntegralInRange<int64_t>(0, 40);
    int64_t cols = in.ConsumeIntegralInRange<int64_t>(0, 40);
    const int special_rate = in.ConsumeIntegralInRange<int>(0, 16);  // 0 = never

    std::vector<int64_t> rp(static_cast<size_t>(rows + 1));
    int64_t acc = 0;
    for (int64_t t = 0; t <= rows; ++t) {
        if (t > 0) acc += in.ConsumeIntegralInRange<int64_t>(0, 4);
        rp[t] = t == 0 ? 0 : acc;
    }
    int64_t nnz = rows >= 0 ? acc : 0;
    if (in.ConsumeIntegralInRange<int>(0, 15) == 0) nnz = in.ConsumeIntegralInRange<int64_t>(0, 200);
    for (int64_t t = 0; t <= rows; ++t)
        if (special_rate && in.ConsumeIntegralInRange<int>(0, special_rate * 4) == 0)
            rp[t] = special<I>(in, t > 0 ? rp[t - 1] : 0, nnz, cols);
    std::vector<int64_t> ci(static_cast<size_t>(nnz));
    for (int64_t e = 0; e < nnz; ++e) {
        ci[e] = cols > 0 ? in.ConsumeIntegralInRange<int64_t>(0, cols - 1) : 0;
        if (cols == 0 || (special_rate && in.ConsumeIntegralInRange<int>(0, special_rate * 4) == 0))
            ci[e] = special<I>(in, 0, nnz, cols);
    }
    // Values must be representable in I to be stored; the header rules see the int64 view.
    Region rpb(static_cast<size_t>(rows + 1) * sizeof(I));
    Region cib(static_cast<size_t>(nnz) * sizeof(I));
    I* rpi = reinterpret_cast<I*>(rpb.ptr);
    I* cii = reinterpret_cast<I*>(cib.ptr);
    for (int64_t t = 0; t <= rows; ++t) { rpi[t] = static_cast<I>(rp[t]); rp[t] = rpi[t]; }
    for (int64_t e = 0; e < nnz; ++e) { cii[e] = static_cast<I>(ci[e]); ci[e] = cii[e]; }

    csr.num_rows = rows;
    csr.num_cols = cols;
    csr.nnz = nnz;
    csr.row_ptr = rpi;
    csr.col_idx = nnz > 0 ? static_cast<const void*>(cii)
                          : (in.ConsumeBool() ? nullptr : static_cast<const void*>(cii));

    // Header mutations (the descriptor itself, checked on the host before any device work).
    std::vector<unsigned char> ws_store(64);
    void* ws = ws_store.data();
    size_t ws_bytes = 16;
    bool header_bad = false;
    switch (in.ConsumeIntegralInRange<int>(0, 30)) {
        case 1: csr.index_type = in.ConsumeBool() ? 2 : -1; header_bad = true; break;
        case 2: csr.reserved = in.ConsumeIntegralInRange<int32_t>(1, 1000); header_bad = true; break;
        case 3: csr.num_rows = -1 - in.ConsumeIntegralInRange<int64_t>(0, 5); header_bad = true; break;
        case 4: csr.num_cols = -1; header_bad = true; break;
        case 5: csr.nnz = std::numeric_limits<int64_t>::min(); header_bad = true; break;
        case 6: csr.row_ptr = nullptr; header_bad = true; break;
        case 7: if (nnz > 0) { csr.col_idx = nullptr; header_bad = true; } break;
        case 8: csr.row_ptr = rpb.ptr + 1; header_bad = true; break;
        case 9: if (nnz > 0) { csr.col_idx = cib.ptr + 2; header_bad = true; } break;
        case 10: ws = nullptr; header_bad = true; break;
        case 11: ws_bytes = in.ConsumeIntegralInRange<size_t>(0, 15); header_bad = true; break;
        case 12: ws = ws_store.data() + 4; header_bad = true; break;
        case 13:
            if (sizeof(I) == 4) {  // sizes beyond int32 (never dereferenced: rejected first)
                if (in.ConsumeBool()) csr.num_rows = int64_t{1} << 31; else csr.nnz = int64_t{1} << 33;
                header_bad = true;
            }
            break;
        case 14: csr.num_cols = in.ConsumeBool() ? std::numeric_limits<int64_t>::max() : cols; break;
        default: break;
    }
    if (csr.num_cols != cols) cols = csr.num_cols;

    // The reference verdict, in the order graphkernels.h and validate.h state the rules.
    Expect ex;
    const int64_t lim = sizeof(I) == 4 ? INT32_MAX : INT64_MAX;
    auto set = [&](gk_status s, std::string n) { if (ex.status == GK_SUCCESS) { ex.status = s; ex.needle = std::move(n); } };
    if (csr.index_type != GK_INDEX_INT32 && csr.index_type != GK_INDEX_INT64) set(GK_ERROR_INVALID_ARGUMENT, "index_type");
    else if (csr.reserved != 0) set(GK_ERROR_INVALID_ARGUMENT, "reserved");
    else if (csr.num_rows < 0) set(GK_ERROR_INVALID_ARGUMENT, "num_rows");
    else if (csr.num_cols < 0) set(GK_ERROR_INVALID_ARGUMENT, "num_cols");
    else if (csr.nnz < 0) set(GK_ERROR_INVALID_ARGUMENT, "nnz");
    else if (csr.nnz > lim || csr.num_rows >= lim || csr.num_cols > lim) set(GK_ERROR_INDEX_OVERFLOW, "GK_INDEX_INT64");
    else if (csr.row_ptr == nullptr) set(GK_ERROR_INVALID_ARGUMENT, "row_ptr is NULL");
    else if (csr.col_idx == nullptr && csr.nnz > 0) set(GK_ERROR_INVALID_ARGUMENT, "col_idx is NULL");
    else if (reinterpret_cast<uintptr_t>(csr.row_ptr) % sizeof(I) || reinterpret_cast<uintptr_t>(csr.col_idx) % sizeof(I))
        set(GK_ERROR_INVALID_ARGUMENT, "aligned");
    else if (ws == nullptr) set(GK_ERROR_WORKSPACE, "workspace is NULL");
    else if (ws_bytes < 16) set(GK_ERROR_WORKSPACE, "workspace_bytes");
    else if (reinterpret_cast<uintptr_t>(ws) % 8) set(GK_ERROR_INVALID_ARGUMENT, "8-byte aligned");
    if (ex.status == GK_SUCCESS) {
        // Contents: first bad row_ptr position wins over any col_idx position.
        for (int64_t t = 0; t <= rows && ex.status == GK_SUCCESS; ++t) {
            const int64_t v = rp[t];
            bool bad = v < 0 || v > nnz || (t == 0 && v != 0) || (t > 0 && v < rp[t - 1]) ||
                       (t == rows && v != nnz);
            if (bad) set(GK_ERROR_INVALID_GRAPH, "row_ptr[" + std::to_string(t) + "] = " + std::to_string(v));
        }
        for (int64_t e = 0; e < nnz && ex.status == GK_SUCCESS; ++e)
            if (ci[e] < 0 || ci[e] >= cols)
                set(GK_ERROR_INVALID_GRAPH, "col_idx[" + std::to_string(e) + "] = " + std::to_string(ci[e]));
    }
    (void)header_bad;

    const std::vector<unsigned char> rp_before(rpb.ptr, rpb.ptr + rpb.bytes);
    const std::vector<unsigned char> ci_before(cib.ptr, cib.ptr + cib.bytes);
    const gk_status got = gk_csr_validate(&csr, ws, ws_bytes, nullptr);
    const char* msg = gk_last_error_message();
    FUZZ_CHECK(got == ex.status, "status %s, expected %s (\"%s\"); rows=%lld cols=%lld nnz=%lld int%d",
               gk_status_name(got), gk_status_name(ex.status), ex.needle.c_str(), (long long)rows,
               (long long)cols, (long long)nnz, (int)sizeof(I) * 8);
    if (ex.status == GK_SUCCESS) {
        FUZZ_CHECK(msg[0] == '\0', "success left a message");
    } else {
        FUZZ_CHECK(starts_with(msg, "gk_csr_validate: "), "message does not name the function");
        FUZZ_CHECK(contains(msg, ex.needle), "message does not contain \"%s\"", ex.needle.c_str());
    }
    // The validator only reads the graph.
    FUZZ_CHECK(same_bytes(rp_before.data(), rpb.ptr, rpb.bytes), "row_ptr was written");
    FUZZ_CHECK(same_bytes(ci_before.data(), cib.ptr, cib.bytes), "col_idx was written");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FuzzedDataProvider in(data, size);
    if (in.ConsumeBool()) run<int64_t>(in);
    else run<int32_t>(in);
    return 0;
}
