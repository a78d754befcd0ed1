// Philox4x32-10 (Salmon et al., SC'11; Random123), bit-identical to Random123's philox4x32_R(10,...)
// and to PyTorch's portable aten/src/ATen/core/PhiloxRNGEngine.h: 10 rounds, the key bumped by
// (W0, W1) between rounds (9 bumps). A pure function of (counter, key): no state, so any thread can
// draw the numbers of any element without knowing the launch configuration.
//
// Device-only (it uses __umulhi); the C# test reference re-implements it independently and checks
// the Random123 known-answer vectors.
#ifndef GK_PHILOX_CUH
#define GK_PHILOX_CUH

#include "common/gk_device.cuh"

namespace gk {

struct Philox4 {
    uint32_t v[4];
};

GK_D Philox4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                           uint32_t k1) {
    const uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
    const uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
#pragma unroll
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            k0 += kW0;
            k1 += kW1;
        }
        const uint32_t hi0 = __umulhi(kM0, c0), lo0 = kM0 * c0;
        const uint32_t hi1 = __umulhi(kM1, c2), lo1 = kM1 * c2;
        const uint32_t n0 = hi1 ^ c1 ^ k0;
        const uint32_t n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
    }
    Philox4 r;
    r.v[0] = c0;
    r.v[1] = c1;
    r.v[2] = c2;
    r.v[3] = c3;
    return r;
}

// The GraphKernels stochastic-rounding stream (docs/quantization.md, "RNG"): element i of a call
// with (seed, offset) draws the 16-bit half (i & 1) of word ((i >> 1) & 3) of
// Philox4x32-10(counter = (lo(i >> 3), hi(i >> 3), lo(offset), hi(offset)), key = (lo(seed), hi(seed))).
// One Philox call serves 8 consecutive elements.
GK_D Philox4 philox_for_group(uint64_t seed, uint64_t offset, uint64_t group) {
    return philox4x32_10(static_cast<uint32_t>(group), static_cast<uint32_t>(group >> 32),
                         static_cast<uint32_t>(offset), static_cast<uint32_t>(offset >> 32),
                         static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// The 16-bit draw of element i (any i) from the Philox output of its group i >> 3.
GK_D uint32_t philox_half(const Philox4& r, uint32_t i) {
    const uint32_t w = (i >> 1) & 3u;
    const uint32_t word = w == 0 ? r.v[0] : (w == 1 ? r.v[1] : (w == 2 ? r.v[2] : r.v[3]));
    return (i & 1u) ? (word >> 16) : (word & 0xffffu);
}

}  // namespace gk

#endif  // GK_PHILOX_CUH
