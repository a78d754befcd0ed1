// Fuzzes the quantization C ABI: gk_quant_plan on a random descriptor (every field sometimes
// invalid, sizes up to the int64 limits), then, for a valid small plan, gk_quant_quantize and
// gk_quant_dequantize on random fp32/fp16/bf16 input with NaN/inf/-0 and wide magnitudes:
//   * plan: success iff the harness's rules (graphkernels.h) say valid; a failure's status is one
//     a violated rule allows, its message starts "gk_quant_plan: ", *layout keeps its poison;
//     on success every layout field equals the harness's own arithmetic (128-bit);
//   * quantize: outputs sized exactly as planned plus guard bytes that must keep their poison (no
//     write past packed_bytes / stats_bytes); per block: a non-finite element (or max - min
//     overflowing fp32) poisons it (zero = step = NaN, codes 0); otherwise zero is the minimum
//     (rounded down to bf16 for bf16 stats), zero + L * step covers the maximum with step no
//     larger than rounding allows, every code is one of the two levels bracketing the element
//     (t_k <= (x - zero) / step <= t_k+1), the minimum element gets code 0, padding codes are 0;
//   * determinism: the same (seed, offset) with another max_grid gives the same bytes;
//   * dequantize (fp32): y[r, c] == fma(step, t[code], zero) bit for bit (NaN for poisoned
//     blocks), padding columns and guard bytes untouched; fp16/bf16 output: guards and padding;
//   * one invalid argument (NULL, misaligned, overlapping, ld_out < cols, bad out_dtype): the call
//     fails with a message naming the op and every output byte keeps its poison.
// The corpus folder is named after this file (fuzz_quant_plan); it covers the whole quantization
// ABI, not only the plan.
#include <fuzzer/FuzzedDataProvider.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <vector>

#include "fuzz_common.h"

namespace {

constexpr unsigned char kPoison = 0xA7;
constexpr size_t kGuard = 64;

using i128 = __int128;
constexpr i128 kI64Max = std::numeric_limits<int64_t>::max();

float bits_to_float(uint32_t b) {
    float f;
    std::memcpy(&f, &b, 4);
    return f;
}
uint32_t float_bits(float f) {
    uint32_t b;
    std::memcpy(&b, &f, 4);
    return b;
}

// IEEE binary16 -> float, written out here (independent of the emulation's conversion).
float half_to_float(uint16_t h) {
    const int sign = (h >> 15) & 1, exp = (h >> 10) & 31, man = h & 1023;
    double v;
    if (exp == 0) v = std::ldexp(static_cast<double>(man), -24);
    else if (exp == 31) v = man ? std::numeric_limits<double>::quiet_NaN() : INFINITY;
    else v = std::ldexp(static_cast<double>(man + 1024), exp - 25);
    return static_cast<float>(sign ? -v : v);
}

bool same_float(float a, float b) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    return float_bits(a) == float_bits(b);
}

// A buffer of exactly `bytes` with kGuard poisoned bytes after it (and the whole thing poisoned),
// inside one malloc'ed block so that ASan also sees reads past the guard.
struct Guarded {
    Region r;
    size_t bytes = 0;
    explicit Guarded(size_t n, size_t misalign = 0) : r(n + kGuard, misalign), bytes(n) {
        std::memset(r.ptr, kPoison, n + kGuard);
    }
    unsigned char* p() { return r.ptr; }
    bool guard_intact() const {
        for (size_t k = 0; k < kGuard; ++k)
            if (r.ptr[bytes + k] != kPoison) return false;
        return true;
    }
};

struct Plan {
    std::set<int> fails;  // statuses a violated rule allows
    i128 n = 0, num_blocks = 0, wpb = 0, packed = 0, stats = 0, input = 0;
    int block = 0;
    float alpha = 0.0f;
    float table[256] = {};
    int L = 0;
};

double alpha_fit(int block) {
    double b = block < 4 ? 4.0 : (block > 2047 ? 2047.0 : block);
    return 0.83162565 + 0.02993653 * std::log(116.05528511 * b) + 1.225e-5 * b - 0.00171617 * std::sqrt(b);
}

// The rules of graphkernels.h for gk_quant_desc, independent of native/src/quantization.cu.
Plan reference_plan(const gk_quant_desc& d) {
    Plan p;
    auto bad = [&](int s) { p.fails.insert(s); };
    if (d.reserved != 0) bad(GK_ERROR_INVALID_ARGUMENT);
    if (d.rows < 0) bad(GK_ERROR_INVALID_ARGUMENT);
    if (d.cols < 0) bad(GK_ERROR_INVALID_ARGUMENT);
    const int64_t ld = d.ld == 0 ? d.cols : d.ld;
    if (ld < d.cols) bad(GK_ERROR_INVALID_ARGUMENT);
    const bool bits_ok = d.bits == 1 || d.bits == 2 || d.bits == 4 || d.bits == 8;
    if (!bits_ok) bad(GK_ERROR_INVALID_ARGUMENT);
    p.block = d.block == 0 ? 1024 : d.block;
    const bool block_ok = p.block >= 32 && p.block <= 8192 && p.block % 32 == 0;
    if (!block_ok) bad(GK_ERROR_INVALID_ARGUMENT);
    if (d.dtype == GK_DTYPE_F64) bad(GK_ERROR_UNSUPPORTED);
    else if (d.dtype != GK_DTYPE_F32 && d.dtype != GK_DTYPE_F16 && d.dtype != GK_DTYPE_BF16) bad(GK_ERROR_INVALID_ARGUMENT);
    if (d.stats_dtype != GK_DTYPE_F32 && d.stats_dtype != GK_DTYPE_BF16) bad(GK_ERROR_INVALID_ARGUMENT);
    if (d.max_grid < 0) bad(GK_ERROR_INVALID_ARGUMENT);
    p.L = bits_ok ? (1 << d.bits) - 1 : 0;
    switch (d.levels) {
        case GK_QUANT_LEVELS_UNIFORM:
            for (int k = 0; k <= p.L; ++k) p.table[k] = static_cast<float>(k);
            break;
        case GK_QUANT_LEVELS_CLIPNORM2:
            if (d.bits != 2) { bad(GK_ERROR_INVALID_ARGUMENT); break; }
            if (!(d.alpha < 1.5f)) { bad(GK_ERROR_INVALID_ARGUMENT); break; }   // NaN too
            p.alpha = d.alpha > 0.0f ? d.alpha : static_cast<float>(alpha_fit(p.block));
            p.table[0] = 0.0f; p.table[1] = p.alpha; p.table[2] = 3.0f - p.alpha; p.table[3] = 3.0f;
            break;
        case GK_QUANT_LEVELS_TABLE:
            if (!bits_ok) break;
            if (d.level_table == nullptr) { bad(GK_ERROR_INVALID_ARGUMENT); break; }
            for (int k = 0; k <= p.L; ++k) p.table[k] = d.level_table[k];
            if (p.table[0] != 0.0f || p.table[p.L] != static_cast<float>(p.L)) bad(GK_ERROR_INVALID_ARGUMENT);
            for (int k = 0; k < p.L; ++k)
                if (!(p.table[k + 1] > p.table[k])) bad(GK_ERROR_INVALID_ARGUMENT);
            break;
        default: bad(GK_ERROR_INVALID_ARGUMENT);
    }
    if (d.rows >= 0 && d.cols >= 0) {
        p.n = static_cast<i128>(d.rows) * d.cols;
        if (p.n > kI64Max) bad(GK_ERROR_INDEX_OVERFLOW);
        if (block_ok && bits_ok && p.n <= kI64Max) {
            p.num_blocks = p.n == 0 ? 0 : (p.n - 1) / p.block + 1;
            p.wpb = static_cast<i128>(p.block) * d.bits / 32;
            p.packed = p.num_blocks * p.wpb * 4;
            p.stats = p.num_blocks * (d.stats_dtype == GK_DTYPE_BF16 ? 2 : 4);
            const int esz = d.dtype == GK_DTYPE_F32 ? 4 : 2;
            p.input = p.n * esz;
            // Every layout field must be representable (int64).
            if (p.packed > kI64Max || p.packed + 2 * p.stats > kI64Max || p.input > kI64Max)
                bad(GK_ERROR_INDEX_OVERFLOW);
        }
    }
    return p;
}

int64_t pick_size(FuzzedDataProvider& in, int64_t small_max) {
    switch (in.ConsumeIntegralInRange<int>(0, 15)) {
        case 0: return -in.ConsumeIntegralInRange<int64_t>(1, 3);
        case 1: return int64_t{1} << in.ConsumeIntegralInRange<int>(31, 62);
        case 2: return std::numeric_limits<int64_t>::max() - in.ConsumeIntegralInRange<int64_t>(0, 2);
        case 3: return in.ConsumeIntegralInRange<int64_t>(0, std::numeric_limits<int64_t>::max());
        default: return in.ConsumeIntegralInRange<int64_t>(0, small_max);
    }
}

// One input value as float bits of the requested dtype: small dyadic values at a per-case scale,
// with ties, specials and raw bit patterns.
struct ValueGen {
    int scale_exp = 0;
    int special_rate = 0;   // 0 = none
    uint32_t next_f32(FuzzedDataProvider& in) {
        if (special_rate && in.ConsumeIntegralInRange<int>(0, special_rate) == 0) {
            switch (in.ConsumeIntegralInRange<int>(0, 6)) {
                case 0: return 0x7fc00000u;                 // NaN
                case 1: return 0x7f800000u;                 // +inf
                case 2: return 0xff800000u;                 // -inf
                case 3: return 0x80000000u;                 // -0
                case 4: return float_bits(FLT_MAX);
                case 5: return float_bits(-FLT_MAX);
                default: return in.ConsumeIntegral<uint32_t>();   // anything, incl. denormals
            }
        }
        const float m = static_cast<float>(in.ConsumeIntegralInRange<int>(-64, 64));
        return float_bits(std::ldexp(m, scale_exp));
    }
};

// The C ABI's view of a quantized tensor (reading zero/step as floats).
float stat_at(const unsigned char* p, int64_t j, bool bf16) {
    if (bf16) {
        uint16_t h;
        std::memcpy(&h, p + 2 * j, 2);
        return bits_to_float(static_cast<uint32_t>(h) << 16);
    }
    float f;
    std::memcpy(&f, p + 4 * j, 4);
    return f;
}

uint32_t code_at(const unsigned char* packed, int64_t wpb, int bits, int64_t j, int64_t e) {
    const int64_t word = j * wpb + (e * bits) / 32;
    uint32_t w;
    std::memcpy(&w, packed + 4 * word, 4);
    return (w >> ((e * bits) % 32)) & ((1u << bits) - 1u);
}

bool is_bf16(float f) { return (float_bits(f) & 0xffffu) == 0; }

void round_trip(FuzzedDataProvider& in, const gk_quant_desc& d, const Plan& p) {
    const int64_t rows = d.rows, cols = d.cols, ld = d.ld == 0 ? cols : d.ld;
    const int64_t n = rows * cols;
    const bool bf16 = d.stats_dtype == GK_DTYPE_BF16;
    const int esz = d.dtype == GK_DTYPE_F32 ? 4 : 2;
    const int64_t nb = static_cast<int64_t>(p.num_blocks), wpb = static_cast<int64_t>(p.wpb);
    const int L = p.L;

    // ---- input: rows x ld of dtype, padding NaN (a kernel reading padding would poison a block)
    ValueGen gen;
    gen.scale_exp = in.ConsumeBool() ? in.ConsumeIntegralInRange<int>(-8, 4) : in.ConsumeIntegralInRange<int>(-140, 120);
    gen.special_rate = in.ConsumeBool() ? 0 : in.ConsumeIntegralInRange<int>(2, 200);
    const int64_t x_elems = rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols;
    Region xr(static_cast<size_t>(x_elems) * esz);
    std::vector<float> xv(static_cast<size_t>(n));   // logical values as float
    for (int64_t r = 0; r < rows && cols > 0; ++r)
        for (int64_t c = 0; c < ld && r * ld + c < x_elems; ++c) {
            const bool pad = c >= cols;
            uint32_t fb = pad ? 0x7fc00000u : gen.next_f32(in);
            unsigned char* at = xr.ptr + (r * ld + c) * esz;
            float v;
            if (d.dtype == GK_DTYPE_F32) {
                std::memcpy(at, &fb, 4);
                v = bits_to_float(fb);
            } else if (d.dtype == GK_DTYPE_BF16) {
                const uint16_t h = static_cast<uint16_t>(fb >> 16);   // truncation: exact bf16
                std::memcpy(at, &h, 2);
                v = bits_to_float(static_cast<uint32_t>(h) << 16);
            } else {
                // fp16: raw half bits from the input (any exponent), NaN for padding.
                uint16_t h = pad ? 0x7e00 : static_cast<uint16_t>(fb ^ (fb >> 16));
                if (!pad && gen.special_rate == 0 && ((h >> 10) & 31) == 31) h &= 0xbfffu;   // keep finite
                std::memcpy(at, &h, 2);
                v = half_to_float(h);
            }
            if (!pad) xv[static_cast<size_t>(r * cols + c)] = v;
        }
    const std::vector<unsigned char> x_copy(xr.ptr, xr.ptr + xr.bytes);

    const uint64_t seed = in.ConsumeIntegral<uint64_t>(), offset = in.ConsumeIntegral<uint64_t>();
    Guarded packed(static_cast<size_t>(p.packed)), zero(static_cast<size_t>(p.stats)), step(static_cast<size_t>(p.stats));

    // ---- one invalid argument (sometimes): the call fails and nothing is written
    const int kind = in.ConsumeIntegralInRange<int>(0, 14);
    if (kind >= 1 && kind <= 7) {
        const void* xa = xr.ptr;
        uint32_t* pa = reinterpret_cast<uint32_t*>(packed.p());
        void* za = zero.p();
        void* sa = step.p();
        bool applies = false;
        switch (kind) {
            case 1: xa = nullptr; applies = n > 0; break;
            case 2: pa = nullptr; applies = nb > 0; break;
            case 3: za = nullptr; applies = nb > 0; break;
            case 4: sa = static_cast<unsigned char*>(sa) + 1; applies = nb > 0; break;
            case 5: pa = reinterpret_cast<uint32_t*>(packed.p() + 2); applies = nb > 0; break;
            case 6: sa = zero.p(); applies = nb > 0; break;                       // step overlaps zero
            case 7: pa = reinterpret_cast<uint32_t*>(xr.ptr); applies = nb > 0 && n > 0 && (reinterpret_cast<uintptr_t>(xr.ptr) % 4 == 0); break;
        }
        if (applies) {
            const gk_status s = gk_quant_quantize(&d, xa, pa, za, sa, seed, offset, nullptr);
            FUZZ_CHECK(s != GK_SUCCESS, "quantize accepted invalid argument kind %d", kind);
            FUZZ_CHECK(starts_with(gk_last_error_message(), "gk_quant_quantize: "), "message");
            for (size_t k = 0; k < packed.bytes + kGuard; ++k) FUZZ_CHECK(packed.p()[k] == kPoison, "packed written (kind %d)", kind);
            for (size_t k = 0; k < zero.bytes + kGuard; ++k) FUZZ_CHECK(zero.p()[k] == kPoison && step.p()[k] == kPoison, "stats written (kind %d)", kind);
            FUZZ_CHECK(same_bytes(xr.ptr, x_copy.data(), xr.bytes), "x written (kind %d)", kind);
            return;
        }
    }

    // ---- quantize
    gk_status s = gk_quant_quantize(&d, xr.ptr, reinterpret_cast<uint32_t*>(packed.p()), zero.p(), step.p(), seed, offset, nullptr);
    FUZZ_CHECK(s == GK_SUCCESS, "quantize of a valid plan failed (status %d)", s);
    FUZZ_CHECK(gk_last_error_message()[0] == '\0', "success left a message");
    FUZZ_CHECK(packed.guard_intact() && zero.guard_intact() && step.guard_intact(), "write past the planned sizes");
    FUZZ_CHECK(same_bytes(xr.ptr, x_copy.data(), xr.bytes), "x was written");

    for (int64_t j = 0; j < nb; ++j) {
        const int64_t start = j * p.block;
        const int64_t valid = std::min<int64_t>(p.block, n - start);
        float m = INFINITY, M = -INFINITY;
        bool nonfinite = false;
        int64_t argmin = -1;
        for (int64_t e = 0; e < valid; ++e) {
            const float v = xv[static_cast<size_t>(start + e)];
            if (!std::isfinite(v)) nonfinite = true;
            else {
                if (v < m) { m = v; argmin = e; }
                if (v > M) M = v;
            }
        }
        const float z = stat_at(zero.p(), j, bf16), st = stat_at(step.p(), j, bf16);
        for (int64_t e = valid; e < p.block; ++e)
            FUZZ_CHECK(code_at(packed.p(), wpb, d.bits, j, e) == 0, "padding code of block %lld, element %lld", (long long)j, (long long)e);
        const bool range_overflows = !nonfinite && !std::isfinite(M - m);
        // bf16 statistics may round past the largest bf16: allowed to poison only that close to FLT_MAX.
        const bool bf16_edge = bf16 && !nonfinite && (std::fabs(m) > 3.38e38f || (static_cast<double>(M) - m) / L > 3.38e38);
        const bool poisoned = std::isnan(z);
        if (nonfinite || range_overflows) {
            FUZZ_CHECK(std::isnan(z) && std::isnan(st), "block %lld with a non-finite element or range: zero %g step %g", (long long)j, z, st);
        } else if (!(poisoned && bf16_edge)) {
            FUZZ_CHECK(std::isfinite(z) && std::isfinite(st) && st >= 0.0f, "block %lld: zero %g step %g for finite data [%g, %g]", (long long)j, z, st, m, M);
            const float m0 = m + 0.0f;   // -0 -> +0
            if (bf16) {
                FUZZ_CHECK(is_bf16(z) && is_bf16(st), "block %lld: bf16 stats not bf16", (long long)j);
                FUZZ_CHECK(z <= m0 && (static_cast<double>(m0) - z) <= std::fabs(static_cast<double>(z)) * 0x1p-7 + 0x1p-133, "block %lld: zero %a for min %a", (long long)j, z, m0);
            } else {
                FUZZ_CHECK(same_float(z, m0), "block %lld: zero %a != min %a", (long long)j, z, m0);
            }
            const double need = (static_cast<double>(M) - z) / L;   // step must cover this
            FUZZ_CHECK(static_cast<double>(z) + L * static_cast<double>(st) >= static_cast<double>(M) - std::fabs(static_cast<double>(M)) * 0x1p-40,
                       "block %lld: zero %a + %d * step %a < max %a", (long long)j, z, L, st, M);
            // rounding up: fp32 (2 ulp of the double quotient) or bf16 (one bf16 ulp); absolute
            // granularity at the bottom of the range: the smallest denormal of the stats type.
            const double slack = bf16 ? 0x1p-6 : 0x1p-21;
            FUZZ_CHECK(st <= need * (1.0 + slack) + (bf16 ? 0x1p-133 : 0x1p-148),
                       "block %lld: step %a larger than needed %a", (long long)j, st, need);
            for (int64_t e = 0; e < valid; ++e) {
                const uint32_t c = code_at(packed.p(), wpb, d.bits, j, e);
                FUZZ_CHECK(c <= static_cast<uint32_t>(L), "code out of range");
                if (st == 0.0f) {
                    FUZZ_CHECK(c == 0, "block %lld: step 0 but code %u", (long long)j, c);
                    continue;
                }
                const float v = xv[static_cast<size_t>(start + e)];
                if (!bf16 && e == argmin) FUZZ_CHECK(c == 0, "block %lld: the minimum element got code %u", (long long)j, c);
                const double xs = (static_cast<double>(v) - z) / st;
                const double eps = 1e-3 + 2e-5 * L;
                // allowed codes: from the largest level <= xs - eps to the smallest level >= xs + eps
                int lo = 0, hi = L;
                for (int k = 0; k <= L; ++k) if (p.table[k] <= xs - eps) lo = k;
                for (int k = L; k >= 0; --k) if (p.table[k] >= xs + eps) hi = k;
                FUZZ_CHECK(static_cast<int>(c) >= lo && static_cast<int>(c) <= hi,
                           "block %lld element %lld = %a: code %u outside levels [%d, %d] (xs = %.9g)", (long long)j, (long long)e, v, c, lo, hi, xs);
            }
        }
        if (std::isnan(z))
            for (int64_t e = 0; e < valid; ++e)
                FUZZ_CHECK(code_at(packed.p(), wpb, d.bits, j, e) == 0, "poisoned block %lld has a nonzero code", (long long)j);
    }

    // ---- determinism: another grid, same (seed, offset), same bytes
    {
        gk_quant_desc d2 = d;
        d2.max_grid = in.ConsumeIntegralInRange<int32_t>(1, 3);
        Guarded p2(packed.bytes), z2(zero.bytes), s2(step.bytes);
        s = gk_quant_quantize(&d2, xr.ptr, reinterpret_cast<uint32_t*>(p2.p()), z2.p(), s2.p(), seed, offset, nullptr);
        FUZZ_CHECK(s == GK_SUCCESS, "quantize with max_grid %d failed", d2.max_grid);
        FUZZ_CHECK(same_bytes(p2.p(), packed.p(), packed.bytes) && same_bytes(z2.p(), zero.p(), zero.bytes) &&
                       same_bytes(s2.p(), step.p(), step.bytes),
                   "quantize bytes depend on max_grid (%d vs %d)", d.max_grid, d2.max_grid);
    }

    // ---- dequantize
    const int out_dtype = in.ConsumeIntegralInRange<int>(0, 3) == 0 ? in.ConsumeIntegralInRange<int>(1, 2) : GK_DTYPE_F32;
    const int osz = out_dtype == GK_DTYPE_F32 ? 4 : 2;
    const int64_t ldo = cols + (cols < (int64_t{1} << 40) ? in.ConsumeIntegralInRange<int64_t>(0, 3) : 0);   // no harness overflow
    const int64_t y_elems = rows == 0 || cols == 0 ? 0 : (rows - 1) * ldo + cols;
    Guarded y(static_cast<size_t>(y_elems) * osz);
    const std::vector<unsigned char> packed_copy(packed.p(), packed.p() + packed.bytes);
    const int dkind = in.ConsumeIntegralInRange<int>(0, 10);
    if (dkind >= 1 && dkind <= 4) {
        void* ya = y.p();
        int64_t ld_arg = ldo;
        int od = out_dtype;
        bool applies = false;
        switch (dkind) {
            case 1: ya = packed.p(); applies = nb > 0 && y_elems > 0; break;               // y overlaps packed
            case 2: ld_arg = cols - 1; applies = cols > 1; break;                          // ld_out < cols (0 means cols)
            case 3: od = in.ConsumeBool() ? GK_DTYPE_F64 : 7; applies = true; break;
            case 4: ya = nullptr; applies = y_elems > 0; break;
        }
        if (applies) {
            s = gk_quant_dequantize(&d, reinterpret_cast<uint32_t*>(packed.p()), zero.p(), step.p(), od, ya, ld_arg, nullptr);
            FUZZ_CHECK(s != GK_SUCCESS, "dequantize accepted invalid argument kind %d", dkind);
            FUZZ_CHECK(starts_with(gk_last_error_message(), "gk_quant_dequantize: "), "message");
            for (size_t k = 0; k < y.bytes + kGuard; ++k) FUZZ_CHECK(y.p()[k] == kPoison, "y written (kind %d)", dkind);
            FUZZ_CHECK(same_bytes(packed.p(), packed_copy.data(), packed.bytes), "packed written (kind %d)", dkind);
            return;
        }
    }
    s = gk_quant_dequantize(&d, reinterpret_cast<uint32_t*>(packed.p()), zero.p(), step.p(), out_dtype, y.p(), ldo, nullptr);
    FUZZ_CHECK(s == GK_SUCCESS, "dequantize of a valid tensor failed (status %d)", s);
    FUZZ_CHECK(y.guard_intact(), "dequantize wrote past y");
    FUZZ_CHECK(same_bytes(packed.p(), packed_copy.data(), packed.bytes), "dequantize wrote packed");
    for (int64_t r = 0; r < rows && cols > 0; ++r)
        for (int64_t c = 0; c < ldo && r * ldo + c < y_elems; ++c) {
            const unsigned char* at = y.p() + (r * ldo + c) * osz;
            if (c >= cols) {
                for (int k = 0; k < osz; ++k) FUZZ_CHECK(at[k] == kPoison, "padding y[%lld][%lld] written", (long long)r, (long long)c);
                continue;
            }
            if (out_dtype != GK_DTYPE_F32) continue;
            const int64_t i = r * cols + c, j = i / p.block, e = i % p.block;
            const uint32_t code = code_at(packed.p(), wpb, d.bits, j, e);
            const float want = std::fmaf(stat_at(step.p(), j, bf16), p.table[code], stat_at(zero.p(), j, bf16));
            float got;
            std::memcpy(&got, at, 4);
            FUZZ_CHECK(same_float(got, want), "y[%lld][%lld] = %a, want %a (code %u)", (long long)r, (long long)c, got, want, code);
        }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FuzzedDataProvider in(data, size);
    gk_quant_desc d;
    std::memset(&d, 0, sizeof d);
    const bool wild = in.ConsumeIntegralInRange<int>(0, 3) == 0;   // header fuzzing vs round trips
    d.rows = wild ? pick_size(in, 64) : in.ConsumeIntegralInRange<int64_t>(0, 40);
    d.cols = wild ? pick_size(in, 200) : in.ConsumeIntegralInRange<int64_t>(0, 150);
    d.ld = 0;
    if (d.cols >= 0 && d.cols < (int64_t{1} << 40) && in.ConsumeBool())
        d.ld = d.cols + (wild ? in.ConsumeIntegralInRange<int64_t>(-2, 5) : in.ConsumeIntegralInRange<int64_t>(0, 5));
    static const int32_t kBits[] = {1, 2, 4, 8};
    d.bits = wild && in.ConsumeBool() ? in.ConsumeIntegralInRange<int32_t>(-1, 9) : kBits[in.ConsumeIntegralInRange<int>(0, 3)];
    static const int32_t kBlocks[] = {0, 32, 64, 96, 128, 160, 256, 1024, 8192};
    d.block = wild && in.ConsumeBool() ? in.ConsumeIntegralInRange<int32_t>(-40, 8300) : kBlocks[in.ConsumeIntegralInRange<int>(0, 8)];
    d.dtype = wild && in.ConsumeBool() ? in.ConsumeIntegralInRange<int32_t>(-1, 5) : in.ConsumeIntegralInRange<int32_t>(0, 2);
    d.stats_dtype = wild && in.ConsumeBool() ? in.ConsumeIntegralInRange<int32_t>(-1, 4) : (in.ConsumeBool() ? GK_DTYPE_BF16 : GK_DTYPE_F32);
    d.levels = wild && in.ConsumeBool() ? in.ConsumeIntegralInRange<int32_t>(-1, 4) : in.ConsumeIntegralInRange<int32_t>(0, 2);
    if (d.levels == GK_QUANT_LEVELS_CLIPNORM2 && !wild) d.bits = 2;
    switch (in.ConsumeIntegralInRange<int>(0, 4)) {
        case 0: d.alpha = 0.0f; break;
        case 1: d.alpha = -1.0f; break;
        case 2: d.alpha = wild ? bits_to_float(in.ConsumeIntegral<uint32_t>()) : 1.0f; break;
        default: d.alpha = static_cast<float>(in.ConsumeIntegralInRange<int>(1, 1499)) / 1000.0f; break;
    }
    float table[256];
    const int L = (d.bits == 1 || d.bits == 2 || d.bits == 4 || d.bits == 8) ? (1 << d.bits) - 1 : 0;
    if (d.levels == GK_QUANT_LEVELS_TABLE && L > 0 && !(wild && in.ConsumeIntegralInRange<int>(0, 4) == 0)) {
        // strictly increasing 0 = t_0 < ... < t_L = L from random positive increments
        double acc[256];
        acc[0] = 0.0;
        for (int k = 1; k <= L; ++k) acc[k] = acc[k - 1] + 1.0 + in.ConsumeIntegralInRange<int>(0, 100);
        for (int k = 0; k <= L; ++k) table[k] = static_cast<float>(acc[k] / acc[L] * L);
        table[L] = static_cast<float>(L);
        if (wild && in.ConsumeBool()) {   // one broken entry
            const int k = in.ConsumeIntegralInRange<int>(0, L);
            table[k] = in.ConsumeBool() ? NAN : table[k > 0 ? k - 1 : 0];
        }
        d.level_table = table;
    } else if (d.levels == GK_QUANT_LEVELS_TABLE && in.ConsumeBool()) {
        d.level_table = nullptr;
    } else if (d.levels == GK_QUANT_LEVELS_TABLE) {
        for (int k = 0; k < 256; ++k) table[k] = static_cast<float>(k);
        d.level_table = table;
    }
    d.max_grid = wild && in.ConsumeIntegralInRange<int>(0, 5) == 0 ? -1 : in.ConsumeIntegralInRange<int32_t>(0, 3);
    d.reserved = wild && in.ConsumeIntegralInRange<int>(0, 7) == 0 ? 1 : 0;

    const Plan ref = reference_plan(d);
    gk_quant_layout layout;
    std::memset(&layout, kPoison, sizeof layout);
    gk_quant_layout poisoned;
    std::memcpy(&poisoned, &layout, sizeof layout);
    const gk_status s = gk_quant_plan(&d, &layout);
    if (!ref.fails.empty()) {
        FUZZ_CHECK(s != GK_SUCCESS, "plan accepted an invalid desc (rows %lld cols %lld ld %lld bits %d block %d dtype %d stats %d levels %d)",
                   (long long)d.rows, (long long)d.cols, (long long)d.ld, d.bits, d.block, d.dtype, d.stats_dtype, d.levels);
        FUZZ_CHECK(ref.fails.count(s) != 0, "plan status %d is not one a violated rule allows", s);
        FUZZ_CHECK(starts_with(gk_last_error_message(), "gk_quant_plan: "), "message prefix");
        FUZZ_CHECK(std::memcmp(&layout, &poisoned, sizeof layout) == 0, "a failed plan wrote *layout");
        return 0;
    }
    FUZZ_CHECK(s == GK_SUCCESS, "plan rejected a valid desc: status %d (rows %lld cols %lld ld %lld bits %d block %d)", s,
               (long long)d.rows, (long long)d.cols, (long long)d.ld, d.bits, d.block);
    FUZZ_CHECK(gk_last_error_message()[0] == '\0', "success left a message");
    FUZZ_CHECK(layout.num_blocks == ref.num_blocks && layout.words_per_block == ref.wpb && layout.packed_bytes == ref.packed &&
                   layout.stats_bytes == ref.stats && layout.total_bytes == ref.packed + 2 * ref.stats &&
                   layout.input_bytes == ref.input && layout.block == ref.block,
               "layout differs from the reference (blocks %lld vs %lld, packed %lld)", (long long)layout.num_blocks,
               (long long)ref.num_blocks, (long long)layout.packed_bytes);
    FUZZ_CHECK(same_float(layout.alpha, ref.alpha), "alpha %a, want %a", layout.alpha, ref.alpha);
    if (ref.n <= 6000 && ref.packed <= (1 << 16) && (d.rows == 0 || d.ld <= 200)) round_trip(in, d, ref);
    return 0;
}
