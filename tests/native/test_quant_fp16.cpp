// The emulation's software __half / __nv_bfloat16 conversions (native/emulation/gk_emulation.h)
// against independent oracles: the compiler's _Float16 (libgcc's IEEE round-to-nearest-even) for
// fp16, and a nearest-by-distance definition for bf16. Every 16-bit pattern back to float, and a
// stride through all 2^32 float patterns forward (every pattern with GK_FP16_EXHAUSTIVE=1).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "gk_emulation.h"

static int g_failures = 0;

static float bits_f(uint32_t b) { float f; std::memcpy(&f, &b, 4); return f; }
static uint32_t f_bits(float f) { uint32_t b; std::memcpy(&b, &f, 4); return b; }

static uint16_t bf16_oracle(float x) {
    if (std::isnan(x)) return 0x7fff;
    const uint32_t b = f_bits(x), lo = b & 0xffff0000u, hi = lo + 0x10000u;
    if (lo == b) return uint16_t(b >> 16);
    const double dx = std::fabs(double(x)), dlo = std::fabs(double(bits_f(lo)));
    const double dhi = (hi & 0x7fffffffu) == 0x7f800000u ? std::ldexp(1.0, 128) : std::fabs(double(bits_f(hi)));
    const double a = dx - dlo, c = dhi - dx;
    if (a < c) return uint16_t(lo >> 16);
    if (c < a) return uint16_t(hi >> 16);
    return ((lo >> 16) & 1u) == 0 ? uint16_t(lo >> 16) : uint16_t(hi >> 16);
}

int main() {
    for (uint32_t h = 0; h < 65536; ++h) {
        _Float16 ref;
        const uint16_t hb = uint16_t(h);
        std::memcpy(&ref, &hb, 2);
        const float got = __half2float(__ushort_as_half(hb)), want = float(ref);
        if (!(std::isnan(got) && std::isnan(want)) && f_bits(got) != f_bits(want) && g_failures++ < 10)
            std::printf("half 0x%04x -> %a, expected %a\n", h, double(got), double(want));
        const float bg = __bfloat162float(__ushort_as_bfloat16(hb));
        if (f_bits(bg) != (h << 16) && g_failures++ < 10) std::printf("bf16 0x%04x widened wrong\n", h);
    }
    const uint64_t stride = std::getenv("GK_FP16_EXHAUSTIVE") ? 1 : 4099;
    uint64_t tested = 0;
    for (uint64_t b = 0; b < (uint64_t(1) << 32); b += stride) {
        const float x = bits_f(uint32_t(b));
        ++tested;
        const uint16_t got = __half_as_ushort(__float2half_rn(x));
        const _Float16 r = _Float16(x);
        uint16_t want;
        std::memcpy(&want, &r, 2);
        if (std::isnan(x)) want = 0x7fff;   // CUDA's canonical NaN
        if (got != want && g_failures++ < 10) std::printf("float %a -> half 0x%04x, expected 0x%04x\n", double(x), got, want);
        const uint16_t bgot = __bfloat16_as_ushort(__float2bfloat16_rn(x)), bwant = bf16_oracle(x);
        if (bgot != bwant && g_failures++ < 10) std::printf("float %a -> bf16 0x%04x, expected 0x%04x\n", double(x), bgot, bwant);
    }
    // Every half-way case of fp16 normals and subnormals (the ties), both signs.
    for (uint32_t h = 0; h < 0x7c00; ++h) {
        for (int s = 0; s < 2; ++s) {
            const uint16_t a = uint16_t(h | (s << 15));
            _Float16 ha, hb2;
            const uint16_t b2 = uint16_t(a + 1);
            std::memcpy(&ha, &a, 2);
            std::memcpy(&hb2, &b2, 2);
            const float mid = (float(ha) + float(hb2)) / 2;   // exact in float
            const _Float16 r = _Float16(mid);
            uint16_t want;
            std::memcpy(&want, &r, 2);
            const uint16_t got = __half_as_ushort(__float2half_rn(mid));
            ++tested;
            if (got != want && g_failures++ < 10) std::printf("tie %a -> 0x%04x, expected 0x%04x\n", double(mid), got, want);
        }
    }
    std::printf("%llu conversions checked, %d failures\n", (unsigned long long)tested, g_failures);
    return g_failures == 0 ? 0 : 1;
}
