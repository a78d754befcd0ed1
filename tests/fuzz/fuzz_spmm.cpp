// Fuzzes gk_spmm: a small random valid graph (int32 or int64) and random arguments, of which up to
// two are made invalid (bad enums, unsupported dtype, feat < 1, ld < feat, NULL or misaligned
// pointers, y overlapping x, arg_out overlapping y, sizes beyond the index type, 64-bit offset
// overflow, a stream handle the emulation cannot have created). The harness's own argument rules
// (graphkernels.h, in the order of native/src/validate.h) decide valid or not, and:
//   * the call succeeds iff the rules say valid; on failure the status is one that a violated
//     rule names and the message starts with "gk_spmm: ";
//   * on failure every output byte (y, arg_out, and the whole block when they overlap x) is
//     exactly as poisoned before the call;
//   * on success y and arg_out match an in-harness reference: exact for max/min (value bits and
//     arg, ties to the lowest CSR position, first NaN wins, empty row -> 0 and -1), within a
//     summation bound for sum/mean (double reference), and the padding columns ld > feat of every
//     output row are untouched.
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <vector>

#include "fuzz_common.h"

namespace {

constexpr unsigned char kPoison = 0xA7;

float pick_value(FuzzedDataProvider& in, bool specials) {
    if (specials) {
        switch (in.ConsumeIntegralInRange<int>(0, 15)) {
            case 0: return std::numeric_limits<float>::quiet_NaN();
            case 1: return std::numeric_limits<float>::infinity();
            case 2: return -std::numeric_limits<float>::infinity();
            case 3: return -0.0f;
            default: break;
        }
    }
    // Small dyadic values: ties are common (max/min tie-breaking), magnitudes stay far from overflow.
    return static_cast<float>(in.ConsumeIntegralInRange<int>(-64, 64)) / 8.0f;
}

bool same_float(float a, float b) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    uint32_t ua, ub;
    std::memcpy(&ua, &a, 4);
    std::memcpy(&ub, &b, 4);
    return ua == ub;
}

template <typename I>
void run(FuzzedDataProvider& in) {
    const size_t isz = sizeof(I);
    // ---- a valid graph
    const int64_t rows = in.ConsumeIntegralInRange<int64_t>(0, 24);
    const int64_t cols = in.ConsumeIntegralInRange<int64_t>(0, 12);
    const int max_deg = in.ConsumeIntegralInRange<int>(0, in.ConsumeBool() ? 40 : 5);
    std::vector<I> rp(1, 0), ci;
    for (int64_t r = 0; r < rows; ++r) {
        const int d = cols > 0 ? in.ConsumeIntegralInRange<int>(0, max_deg) : 0;
        for (int k = 0; k < d; ++k) ci.push_back(static_cast<I>(in.ConsumeIntegralInRange<int64_t>(0, cols - 1)));
        rp.push_back(static_cast<I>(ci.size()));
    }
    const int64_t nnz = static_cast<int64_t>(ci.size());

    // ---- arguments
    int32_t message = in.ConsumeIntegralInRange<int32_t>(0, 1);
    int32_t reduce = in.ConsumeIntegralInRange<int32_t>(0, 3);
    int32_t dtype = GK_DTYPE_F32;
    int64_t feat = in.ConsumeBool() ? in.ConsumeIntegralInRange<int64_t>(1, 9)
                                     : in.ConsumeIntegralInRange<int64_t>(1, 70);
    int64_t ldx = feat + in.ConsumeIntegralInRange<int64_t>(0, 3) * (in.ConsumeBool() ? 1 : 4);
    int64_t ldy = feat + in.ConsumeIntegralInRange<int64_t>(0, 3) * (in.ConsumeBool() ? 1 : 4);
    int64_t ld_arg = feat + in.ConsumeIntegralInRange<int64_t>(0, 3);
    const bool extreme0 = reduce >= GK_REDUCE_MAX;
    bool want_arg = extreme0 && in.ConsumeBool();
    const bool specials = in.ConsumeIntegralInRange<int>(0, 3) == 0;

    // Up to two invalid arguments; kind 0 = none.
    int kinds[2] = {0, 0};
    const int nbad = in.ConsumeIntegralInRange<int>(0, 2);
    for (int k = 0; k < nbad; ++k) kinds[k] = in.ConsumeIntegralInRange<int>(0, 30);
    auto has = [&](int kind) { return kinds[0] == kind || kinds[1] == kind; };

    if (has(1)) message = in.PickValueInArray({2, -1, 100});
    if (has(2)) reduce = in.PickValueInArray({4, -1, 17});
    if (has(3)) dtype = in.PickValueInArray({1, 2, 3});         // unsupported
    if (has(4)) dtype = in.PickValueInArray({4, -1});           // not a gk_dtype
    if (has(5)) feat = -in.ConsumeIntegralInRange<int64_t>(0, 3);
    if (has(6)) ldx = feat - in.ConsumeIntegralInRange<int64_t>(1, 3);
    if (has(7)) ldy = feat - in.ConsumeIntegralInRange<int64_t>(1, 3);
    if (has(8)) { want_arg = true; ld_arg = feat - 1; }
    if (has(9)) want_arg = true;                                // arg_out even for sum/mean
    if (has(10)) ldx = std::numeric_limits<int64_t>::max() / 2; // 64-bit byte offset overflow
    if (has(11)) ldy = std::numeric_limits<int64_t>::max() / 3;

    // ---- buffers (exact sizes, poisoned)
    const int64_t fx = feat > 0 ? feat : 1, fl = ldx > 0 && ldx < (int64_t{1} << 20) ? ldx : fx;
    const int64_t fy = ldy > 0 && ldy < (int64_t{1} << 20) ? ldy : fx;
    const int64_t fa = ld_arg > 0 ? ld_arg : fx;
    const size_t x_elems = cols > 0 ? static_cast<size_t>((cols - 1) * fl + fx) : 0;
    const size_t y_elems = rows > 0 ? static_cast<size_t>((rows - 1) * fy + fx) : 0;
    const size_t a_elems = rows > 0 ? static_cast<size_t>((rows - 1) * fa + fx) : 0;
    const size_t x_off = has(12) ? in.PickValueInArray({1, 2, 3}) : 0;
    const size_t y_off = has(13) ? in.PickValueInArray({1, 2, 3}) : 0;
    const size_t w_off = has(14) ? in.PickValueInArray({1, 2, 3}) : 0;
    const size_t a_off = has(15) ? in.PickValueInArray<size_t>({1, 2, 3, isz == 8 ? size_t{4} : size_t{1}}) : 0;
    const bool y_in_x = has(16) && x_elems > 0 && y_elems > 0;
    const bool a_in_y = has(17) && want_arg && y_elems > 0;

    // One block holds x, then y (or y inside x), then arg (or arg inside y), so overlaps are real.
    const size_t x_bytes = x_elems * 4, y_bytes = y_elems * 4, a_bytes = a_elems * isz;
    size_t y_at = x_off + x_bytes + y_off;
    if (y_in_x) y_at = x_off + 4 * in.ConsumeIntegralInRange<size_t>(0, x_elems - 1);
    size_t a_at = (y_at + y_bytes + 7) / 8 * 8 + a_off;
    if (a_in_y) a_at = y_at + 4 * in.ConsumeIntegralInRange<size_t>(0, y_elems - 1);
    const size_t total = std::max({x_off + x_bytes, y_at + y_bytes, a_at + (want_arg ? a_bytes : 0)});
    Region block(total);
    std::memset(block.ptr, kPoison, block.bytes);
    float* x = reinterpret_cast<float*>(block.ptr + x_off);
    float* y = reinterpret_cast<float*>(block.ptr + y_at);
    void* arg = want_arg ? static_cast<void*>(block.ptr + a_at) : nullptr;
    std::vector<float> xv(x_elems);
    for (size_t i = 0; i < x_elems; ++i) xv[i] = pick_value(in, specials);
    if (x_bytes) std::memcpy(x, xv.data(), x_bytes);
    const float* const x0 = x;

    Region wb(static_cast<size_t>(nnz) * 4, w_off);
    std::vector<float> wv(static_cast<size_t>(nnz));
    for (auto& v : wv) v = pick_value(in, specials);
    if (!wv.empty()) std::memcpy(wb.ptr, wv.data(), wv.size() * 4);
    const void* w = message == GK_MESSAGE_U_MUL_E ? wb.ptr : nullptr;
    if (has(18)) w = w ? nullptr : wb.ptr;  // missing weights for u_mul_e / weights for copy_u

    Region rpb(rp.size() * isz), cib(ci.size() * isz);
    std::memcpy(rpb.ptr, rp.data(), rpb.bytes);
    if (cib.bytes) std::memcpy(cib.ptr, ci.data(), cib.bytes);
    gk_csr csr{};
    csr.num_rows = rows;
    csr.num_cols = cols;
    csr.nnz = nnz;
    csr.index_type = isz == 4 ? GK_INDEX_INT32 : GK_INDEX_INT64;
    csr.row_ptr = rpb.ptr;
    csr.col_idx = nnz > 0 ? cib.ptr : nullptr;
    const gk_csr* csr_arg = &csr;
    if (has(19)) csr_arg = nullptr;
    if (has(20)) csr.index_type = in.PickValueInArray({2, -1});
    if (has(21)) csr.reserved = 1;
    if (has(22)) csr.num_rows = -1;
    if (has(23)) csr.nnz = -5;
    if (has(24)) csr.row_ptr = nullptr;
    if (has(25) && nnz > 0) csr.col_idx = nullptr;
    if (has(26)) csr.row_ptr = rpb.ptr + 2;
    if (has(27) && isz == 4) csr.num_cols = int64_t{1} << 31;  // beyond int32 (rejected first)
    void* stream = has(28) ? reinterpret_cast<void*>(uintptr_t{0x1000}) : nullptr;
    if (has(29)) x = nullptr;
    if (has(30)) y = nullptr;
    if (has(0) && in.ConsumeBool()) stream = reinterpret_cast<void*>(in.ConsumeIntegralInRange<uintptr_t>(0, 2));

    // ---- the argument rules: the set of statuses the violated rules allow
    std::set<int> allowed;
    auto bad = [&](gk_status s) { allowed.insert(s); };
    bool header_ok = true;
    auto mis = [](const void* p, size_t a) { return reinterpret_cast<uintptr_t>(p) % a != 0; };
    if (csr_arg == nullptr) { bad(GK_ERROR_INVALID_ARGUMENT); header_ok = false; }
    else {
        const int64_t lim = csr.index_type == GK_INDEX_INT32 ? INT32_MAX : INT64_MAX;
        if (csr.index_type != 0 && csr.index_type != 1) { bad(GK_ERROR_INVALID_ARGUMENT); header_ok = false; }
        if (csr.reserved != 0 || csr.num_rows < 0 || csr.num_cols < 0 || csr.nnz < 0) { bad(GK_ERROR_INVALID_ARGUMENT); header_ok = false; }
        if (csr.nnz > lim || csr.num_rows >= lim || csr.num_cols > lim) { bad(GK_ERROR_INDEX_OVERFLOW); header_ok = false; }
        if (csr.row_ptr == nullptr || (csr.col_idx == nullptr && csr.nnz > 0)) { bad(GK_ERROR_INVALID_ARGUMENT); header_ok = false; }
        if ((csr.row_ptr && mis(csr.row_ptr, isz)) || (csr.col_idx && mis(csr.col_idx, isz))) { bad(GK_ERROR_INVALID_ARGUMENT); header_ok = false; }
    }
    if (message != 0 && message != 1) bad(GK_ERROR_INVALID_ARGUMENT);
    if (reduce < 0 || reduce > 3) bad(GK_ERROR_INVALID_ARGUMENT);
    if (dtype < 0 || dtype > 3) bad(GK_ERROR_INVALID_ARGUMENT);
    else if (dtype != 0) bad(GK_ERROR_UNSUPPORTED);
    if (feat < 1) bad(GK_ERROR_INVALID_ARGUMENT);
    auto matrix = [&](const void* p, int64_t mrows, int64_t ld, size_t es) {
        if (ld < feat) { bad(GK_ERROR_INVALID_ARGUMENT); return; }
        if (mrows == 0) return;
        if (p == nullptr) { bad(GK_ERROR_INVALID_ARGUMENT); return; }
        int64_t last;
        if (__builtin_mul_overflow(mrows - 1, ld, &last) || __builtin_add_overflow(last, feat, &last) ||
            __builtin_mul_overflow(last, static_cast<int64_t>(es), &last)) { bad(GK_ERROR_INDEX_OVERFLOW); return; }
        if (mis(p, es)) bad(GK_ERROR_INVALID_ARGUMENT);
    };
    // (rows/cols/nnz as the descriptor states them; only meaningful when the header is sound)
    const int64_t hr = csr.num_rows, hc = csr.num_cols, hn = csr.nnz;
    const bool extreme = reduce == GK_REDUCE_MAX || reduce == GK_REDUCE_MIN;
    if (header_ok) {
        matrix(x, hn > 0 ? hc : 0, ldx, 4);
        matrix(y, hr, ldy, 4);
        if (message == GK_MESSAGE_COPY_U && w != nullptr) bad(GK_ERROR_INVALID_ARGUMENT);
        if (message == GK_MESSAGE_U_MUL_E && hn > 0 && (w == nullptr || mis(w, 4))) bad(GK_ERROR_INVALID_ARGUMENT);
        if (arg != nullptr) {
            if (!extreme) bad(GK_ERROR_INVALID_ARGUMENT);
            matrix(arg, hr, ld_arg, isz);
        }
        auto mb = [](int64_t r, int64_t wd, int64_t ld, int64_t es) { return r == 0 ? 0 : ((r - 1) * ld + wd) * es; };
        if (allowed.empty()) {
            auto ov = [](const void* a, int64_t ab, const void* b, int64_t bb) {
                if (!a || !b || ab <= 0 || bb <= 0) return false;
                auto a0 = reinterpret_cast<uintptr_t>(a), b0 = reinterpret_cast<uintptr_t>(b);
                return a0 < b0 + bb && b0 < a0 + ab;
            };
            const int64_t yb = mb(hr, feat, ldy, 4);
            if (ov(y, yb, x, mb(hn > 0 ? hc : 0, feat, ldx, 4))) bad(GK_ERROR_INVALID_ARGUMENT);
            if (arg && ov(arg, mb(hr, feat, ld_arg, isz), y, yb)) bad(GK_ERROR_INVALID_ARGUMENT);
        }
        if (allowed.empty() && hr > 0 && reinterpret_cast<uintptr_t>(stream) > 2) bad(GK_ERROR_CUDA);
    }
    const bool valid = allowed.empty();

    // ---- the call
    const std::vector<unsigned char> before(block.ptr, block.ptr + block.bytes);
    const gk_status got = gk_spmm(csr_arg, message, reduce, dtype, feat, x, ldx, w, y, ldy, arg, ld_arg, stream);
    const char* msg = gk_last_error_message();
    if (!valid) {
        FUZZ_CHECK(got != GK_SUCCESS, "invalid call accepted (kinds %d,%d; rows=%lld cols=%lld nnz=%lld feat=%lld)",
                   kinds[0], kinds[1], (long long)hr, (long long)hc, (long long)hn, (long long)feat);
        FUZZ_CHECK(allowed.count(got) == 1, "status %s is not one a violated rule allows (kinds %d,%d)",
                   gk_status_name(got), kinds[0], kinds[1]);
        FUZZ_CHECK(starts_with(msg, "gk_spmm: "), "message does not name the function");
        FUZZ_CHECK(same_bytes(before.data(), block.ptr, block.bytes),
                   "a failed call wrote to its outputs (kinds %d,%d)", kinds[0], kinds[1]);
        return;
    }
    FUZZ_CHECK(got == GK_SUCCESS, "valid call rejected with %s (rows=%lld cols=%lld nnz=%lld feat=%lld ldx=%lld ldy=%lld)",
               gk_status_name(got), (long long)rows, (long long)cols, (long long)nnz, (long long)feat,
               (long long)ldx, (long long)ldy);
    FUZZ_CHECK(msg[0] == '\0', "success left a message");
    // (with no edges x is not an input, so y may legitimately lie inside its block)
    FUZZ_CHECK(y_in_x || same_bytes(x0, xv.data(), x_bytes), "x was written");

    // ---- reference
    const unsigned char* yb = reinterpret_cast<const unsigned char*>(y);
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t s = rp[r], e = rp[r + 1], deg = e - s;
        for (int64_t f = 0; f < ldy && (r + 1 < rows || f < feat); ++f) {
            float got_v;
            std::memcpy(&got_v, yb + 4 * (r * ldy + f), 4);
            if (f >= feat) {  // padding column: untouched
                FUZZ_CHECK(std::memcmp(yb + 4 * (r * ldy + f), before.data() + y_at + 4 * (r * ldy + f), 4) == 0,
                           "y padding [%lld, %lld] was written", (long long)r, (long long)f);
                continue;
            }
            if (reduce == GK_REDUCE_SUM || reduce == GK_REDUCE_MEAN) {
                double acc = 0, mag = 0;
                float facc = 0;
                bool finite = true;
                for (int64_t p = s; p < e; ++p) {
                    const float m = xv[ci[p] * ldx + f] * (message == 1 ? wv[p] : 1.0f);
                    finite = finite && std::isfinite(m);
                    acc += m;
                    mag += std::fabs(static_cast<double>(m));
                    facc += m;
                }
                if (!finite) {  // non-finite messages: fp32 fold semantics (NaN / +-inf) must agree
                    float ref = facc;
                    if (reduce == GK_REDUCE_MEAN && deg > 0) ref = facc / static_cast<float>(deg);
                    FUZZ_CHECK(same_float(got_v, ref), "y[%lld,%lld] = %g, expected %g (non-finite)",
                               (long long)r, (long long)f, got_v, ref);
                    continue;
                }
                double ref = acc, tol = (deg + 1) * 1.2e-7 * mag;
                if (reduce == GK_REDUCE_MEAN) { ref = deg > 0 ? acc / deg : 0.0; tol = deg > 0 ? tol / deg + 1.2e-7 * std::fabs(ref) : 0.0; }
                FUZZ_CHECK(std::fabs(got_v - ref) <= tol, "y[%lld,%lld] = %.9g, reference %.9g (tol %.3g, deg %lld)",
                           (long long)r, (long long)f, got_v, ref, tol, (long long)deg);
                if (deg == 0) FUZZ_CHECK(same_float(got_v, 0.0f), "empty row gives %g", got_v);
            } else {
                float best = 0;
                int64_t pos = -1;
                for (int64_t p = s; p < e; ++p) {
                    const float m = xv[ci[p] * ldx + f] * (message == 1 ? wv[p] : 1.0f);
                    const bool better = reduce == GK_REDUCE_MAX ? m > best : m < best;
                    if (pos < 0 || (!std::isnan(best) && (std::isnan(m) || better))) { best = m; pos = p; }
                }
                if (pos < 0) best = 0.0f;
                FUZZ_CHECK(same_float(got_v, best), "y[%lld,%lld] = %g, expected %g (arg %lld)",
                           (long long)r, (long long)f, got_v, best, (long long)pos);
                if (arg) {
                    I a;
                    std::memcpy(&a, block.ptr + a_at + isz * (r * ld_arg + f), isz);
                    FUZZ_CHECK(static_cast<int64_t>(a) == pos, "arg[%lld,%lld] = %lld, expected %lld",
                               (long long)r, (long long)f, (long long)a, (long long)pos);
                }
            }
        }
        if (arg) {  // arg padding untouched
            for (int64_t f = feat; f < ld_arg && r + 1 < rows; ++f) {
                const size_t o = a_at + isz * (r * ld_arg + f);
                FUZZ_CHECK(std::memcmp(block.ptr + o, before.data() + o, isz) == 0, "arg padding written");
            }
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FuzzedDataProvider in(data, size);
    if (in.ConsumeBool()) run<int64_t>(in);
    else run<int32_t>(in);
    return 0;
}
