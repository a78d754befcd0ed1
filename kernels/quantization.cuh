// Block-wise activation quantization: fp32/fp16/bf16 [rows, cols] (leading dimension ld) to
// BITS-bit codes (1, 2, 4, 8) per block of B consecutive elements of the logical row-major order,
// with per-block zero and step, stochastic rounding from Philox, and the matching dequantization.
// The precise definition (layout, statistics, levels, RNG, arithmetic order) is in
// docs/quantization.md; the C# test reference reproduces it bit for bit.
//
// quantize_kernel — work split. One warp owns one quantization block at a time (grid-stride over
// blocks; a CTA holds 8192 / B warps, clamped to [1, 8]). Pass 1: lane l reads elements
// t = l, l + 32, ... of the block (coalesced 128-byte rows of the input; (row, col) is advanced
// incrementally, with one 64-bit division per block per lane and one more only when a row wraps),
// converts them to fp32, stages them in shared memory at t + t / 32 (conflict-free) and keeps a
// running min, max and a non-finite flag. Warp butterflies reduce min and max; every lane then
// derives the same zero and step (fp64 with directed corrections so that zero + L * step >= max).
// Pass 2: lane l builds the packed words w = l, l + 32, ... of the block: word w holds the codes of
// elements [w * 32 / BITS, (w + 1) * 32 / BITS), LSB-first; the swizzled staging makes those
// shared-memory reads conflict-free for every BITS, and the warp's word stores are coalesced. One
// Philox4x32-10 call per 8 elements supplies 16-bit uniforms. Lane 0 writes zero and step.
// Memory traffic per element: sizeof(T) read once, BITS / 8 written, plus 2 * stats bytes per
// block. Shared memory: (B + B / 32) * 4 bytes per warp, plus 2 KB of level table (TABLE mode).
//
// dequantize_kernel — one warp per block (grid-stride); lane l produces output elements
// t = l, l + 32, ... (coalesced stores), reading the word t / (32 / BITS) (BITS distinct words per
// warp instruction, served by L1), and computes y = fma(step, level[code], zero) in fp32, then
// rounds to the output type. Traffic per element: BITS / 8 read, sizeof(TO) written.
//
// Reduction order: min and max are order-independent (the sign of a zero minimum is canonicalised
// to +0), so every lane and every launch configuration gets the same statistics. Randomness depends
// only on (seed, offset, flat element index). Together: the output bytes are a function of the
// input and (seed, offset) alone, identical for any grid and CTA size.
//
// Registers (ptxas 11.8, sm_90, -Xptxas -v): quantize_kernel 36 (38 for TABLE levels at 1 and 2
// bits), dequantize_kernel 42-44; 0 bytes stack, 0 spills in all 36 instantiations. The level table
// is a __grid_constant__ parameter copied to shared memory (no local-memory copy of the 2 KB).
// projection_kernel<false> (project) and <true> (unproject): 32 registers each, 0 stack, 0 spills.
#ifndef GK_QUANTIZATION_CUH
#define GK_QUANTIZATION_CUH

#include "common/gk_device.cuh"
#include "common/philox.cuh"

#if !defined(GK_EMULATION)
#  include <cuda_fp16.h>
#  include <cuda_bf16.h>
#else
#  if !defined(__grid_constant__)
#    define __grid_constant__
#  endif
#endif

namespace gk {

constexpr int kQuantMaxBlock = 8192;   // largest B
constexpr int kQuantMaxLevels = 256;   // 2^8
constexpr int kQuantTableFloats = 2 * kQuantMaxLevels;

// Kernel parameters (passed by value as a __grid_constant__; 2 KB of level table included).
struct QuantParams {
    int64_t n;            // rows * cols
    int64_t cols;         // logical columns; = n when the input is contiguous (ld == cols)
    int64_t ld;           // leading dimension of the input (elements)
    int64_t num_blocks;   // ceil(n / block)
    const void* x;
    uint32_t* packed;     // num_blocks * words_per_block words
    void* zero;           // num_blocks, float or bf16 bits
    void* step;
    uint64_t seed;
    uint64_t offset;
    int32_t block;        // B, multiple of 32
    int32_t words_per_block;
    int32_t stats_bf16;   // 0: fp32 stats, 1: bf16 stats
    int32_t num_levels;   // 2^BITS
    float levels[kQuantMaxLevels];   // t_0 = 0 < t_1 < ... < t_L = L (TABLE mode)
    float rdelta[kQuantMaxLevels];   // 1 / (t_{k+1} - t_k), fp32
};

struct DequantParams {
    int64_t n;
    int64_t cols;         // = n when the output is contiguous (ld_out == cols)
    int64_t ld;           // leading dimension of the output
    int64_t num_blocks;
    const uint32_t* packed;
    const void* zero;
    const void* step;
    void* y;
    int32_t block;
    int32_t words_per_block;
    int32_t stats_bf16;
    int32_t num_levels;
    float levels[kQuantMaxLevels];   // t_0 .. t_L (uniform: t_k = k)
};

// ------------------------------------------------------------------ element conversions --------
GK_D float load_as_float(const float* p) { return __ldg(p); }
GK_D float load_as_float(const __half* p) {
    return __half2float(__ushort_as_half(__ldg(reinterpret_cast<const unsigned short*>(p))));
}
GK_D float load_as_float(const __nv_bfloat16* p) {
    return __bfloat162float(
        __ushort_as_bfloat16(__ldg(reinterpret_cast<const unsigned short*>(p))));
}
GK_D void store_from_float(float* p, float v) { *p = v; }
GK_D void store_from_float(__half* p, float v) { *p = __float2half_rn(v); }
GK_D void store_from_float(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }

GK_D bool is_finite_bits(float x) { return (__float_as_uint(x) & 0x7f800000u) != 0x7f800000u; }

// Directed rounding of a finite float to bf16 precision (returned as the float it represents).
GK_D float bf16_round_down(float f) {
    uint32_t b = __float_as_uint(f);
    if ((b & 0xffffu) == 0) return f;
    b &= 0xffff0000u;
    if (b & 0x80000000u) b += 0x10000u;   // negative: one ulp more negative (may reach -inf)
    return __uint_as_float(b);
}
GK_D float bf16_round_up(float f) {   // f >= 0
    uint32_t b = __float_as_uint(f);
    if ((b & 0xffffu) == 0) return f;
    return __uint_as_float((b & 0xffff0000u) + 0x10000u);   // may reach +inf
}

// Per-block statistics from the block's min m and max M (docs/quantization.md, "Statistics").
// Returns false when the block is poisoned (non-finite input, M - m overflows, or a stored
// statistic would not be finite). Every lane computes the same result.
GK_D bool block_stats(float m, float M, bool nonfinite, int L, bool stats_bf16, float* zero_out,
                      float* step_out) {
    if (nonfinite || !is_finite_bits(__fsub_rn(M, m))) return false;
    float zero = __fadd_rn(m, 0.0f);   // -0 -> +0
    if (stats_bf16) zero = bf16_round_down(zero);
    if (!is_finite_bits(zero)) return false;
    float step = 0.0f;
    if (M > zero) {
        // d >= M - zero exactly: RN difference, bumped one ulp up if the rounding error was positive.
        const double a = static_cast<double>(M), b = -static_cast<double>(zero);
        double d = a + b;
        const double bb = d - a;
        const double err = (a - (d - bb)) + (b - bb);
        if (err > 0.0) d = __longlong_as_double(__double_as_longlong(d) + 1);
        // q >= d / L: RN quotient, bumped if the exact remainder d - q * L is positive.
        const double Ld = static_cast<double>(L);
        double q = d / Ld;
        if (__fma_rn(-q, Ld, d) > 0.0) q = __longlong_as_double(__double_as_longlong(q) + 1);
        step = __double2float_rn(q);
        if (static_cast<double>(step) < q) step = __uint_as_float(__float_as_uint(step) + 1u);
        if (stats_bf16) step = bf16_round_up(step);
        if (!is_finite_bits(step)) return false;
    }
    *zero_out = zero;
    *step_out = step;
    return true;
}

GK_D float load_stat(const void* p, int64_t j, int32_t bf16) {
    if (bf16) {
        return __uint_as_float(
            static_cast<uint32_t>(__ldg(static_cast<const unsigned short*>(p) + j)) << 16);
    }
    return __ldg(static_cast<const float*>(p) + j);
}
GK_D void store_stat(void* p, int64_t j, int32_t bf16, float v) {
    if (bf16) {
        // v is exactly representable in bf16 (or NaN): keep the top half (NaN -> 0x7fc0 form).
        const uint32_t b = __float_as_uint(v);
        static_cast<unsigned short*>(p)[j] =
            static_cast<unsigned short>(is_nan(v) ? 0x7fffu : (b >> 16));
    } else {
        static_cast<float*>(p)[j] = v;
    }
}

// (row, col) of flat index i for a matrix of `cols` columns, advanced by `by` (a row may wrap).
GK_D void advance_rc(int64_t& r, int64_t& c, int64_t by, int64_t cols) {
    c += by;
    if (c >= cols) {
        const int64_t q = c / cols;
        r += q;
        c -= q * cols;
    }
}

// ------------------------------------------------------------------ quantize --------------------
template <typename T, int BITS, bool UNIFORM>
__global__ void quantize_kernel(const __grid_constant__ QuantParams p) {
    constexpr int L = (1 << BITS) - 1;
    constexpr int EPW = 32 / BITS;   // elements per 32-bit word
    GK_DYNAMIC_SHARED(float, smem);
    float* s_lv = smem;
    float* s_rd = smem + kQuantMaxLevels;
    if (!UNIFORM) {
        for (int k = static_cast<int>(threadIdx.x); k < p.num_levels; k += blockDim.x) {
            s_lv[k] = p.levels[k];
            s_rd[k] = p.rdelta[k];
        }
        __syncthreads();
    }

    const int lane = static_cast<int>(threadIdx.x) & (kWarpSize - 1);
    const int warp = static_cast<int>(threadIdx.x) >> 5;
    const int warps_per_cta = static_cast<int>(blockDim.x) >> 5;
    const int B = p.block;
    float* s_x = smem + (UNIFORM ? 0 : kQuantTableFloats) +
                 static_cast<int64_t>(warp) * (B + (B >> 5));
    const T* x = static_cast<const T*>(p.x);
    const int64_t total_warps = static_cast<int64_t>(gridDim.x) * warps_per_cta;

    for (int64_t j = static_cast<int64_t>(blockIdx.x) * warps_per_cta + warp; j < p.num_blocks;
         j += total_warps) {
        const int64_t start = j * B;
        const int64_t left = p.n - start;
        const int valid = left < B ? static_cast<int>(left) : B;

        // Pass 1: the block's only read of the input.
        int64_t r = (start + lane) / p.cols;
        int64_t c = (start + lane) - r * p.cols;
        float mn = __int_as_float(0x7f800000), mx = -__int_as_float(0x7f800000);
        bool nonfinite = false;
        for (int t = lane; t < valid; t += kWarpSize) {
            const float v = load_as_float(x + offset2d(r, p.ld, c));
            s_x[t + (t >> 5)] = v;
            nonfinite |= !is_finite_bits(v);
            mn = v < mn ? v : mn;
            mx = v > mx ? v : mx;
            advance_rc(r, c, kWarpSize, p.cols);
        }
        mn = warp_reduce_min(mn);
        mx = __fadd_rn(warp_reduce_max(mx), 0.0f);
        nonfinite = __any_sync(kFullMask, nonfinite) != 0;
        __syncwarp();   // staging writes of every lane before pass 2 reads them

        float zero = 0.0f, step = 0.0f;
        const bool ok = block_stats(mn, mx, nonfinite, L, p.stats_bf16 != 0, &zero, &step);
        if (!ok) {
            zero = __int_as_float(0x7fffffff);
            step = zero;
        }
        const bool coded = ok && step > 0.0f;
        // Tiny steps: scale both sides by 2^100 so 1 / step stays finite (exact power-of-two scaling).
        const float sc = step < 7.888609052210118e-31f ? 1.2676506002282294e30f : 1.0f;
        const float inv = coded ? __fdiv_rn(1.0f, __fmul_rn(step, sc)) : 0.0f;

        // Pass 2: one packed word per lane per iteration.
        uint32_t* out = p.packed + j * p.words_per_block;
        for (int w = lane; w < p.words_per_block; w += kWarpSize) {
            uint32_t word = 0;
            const int e0 = w * EPW;
            if (coded && e0 < valid) {
#pragma unroll
                for (int g = 0; g < EPW; g += 8) {
                    const uint64_t i0 = static_cast<uint64_t>(start + e0 + g);
                    const Philox4 rnd = philox_for_group(p.seed, p.offset, i0 >> 3);
#pragma unroll
                    for (int q = 0; q < (EPW < 8 ? EPW : 8); ++q) {
                        const int e = e0 + g + q;
                        if (e >= valid) break;
                        const float v = s_x[e + (e >> 5)];
                        float xs = __fmul_rn(__fmul_rn(__fsub_rn(v, zero), sc), inv);
                        xs = xs > 0.0f ? xs : 0.0f;
                        xs = xs < static_cast<float>(L) ? xs : static_cast<float>(L);
                        int k;
                        float prob;
                        if (UNIFORM) {
                            k = static_cast<int>(xs);
                            k = k < L - 1 ? k : L - 1;
                            prob = __fsub_rn(xs, static_cast<float>(k));
                        } else {
                            int lo = 0, hi = L - 1;   // largest k <= L - 1 with t_k <= xs
                            while (lo < hi) {
                                const int mid = (lo + hi + 1) >> 1;
                                if (s_lv[mid] <= xs) lo = mid; else hi = mid - 1;
                            }
                            k = lo;
                            prob = __fmul_rn(__fsub_rn(xs, s_lv[k]), s_rd[k]);
                        }
                        const uint32_t h = philox_half(rnd, static_cast<uint32_t>(i0) + q);
                        const float u = __fmul_rn(__fadd_rn(static_cast<float>(h), 0.5f),
                                                  1.52587890625e-05f);   // (h + 0.5) * 2^-16
                        const uint32_t code = static_cast<uint32_t>(k + (u < prob ? 1 : 0));
                        word |= code << ((e * BITS) & 31);
                    }
                }
            }
            out[w] = word;
        }
        if (lane == 0) {
            store_stat(p.zero, j, p.stats_bf16, zero);
            store_stat(p.step, j, p.stats_bf16, step);
        }
        __syncwarp();   // pass-2 reads finish before the next block's staging writes
    }
}

// ------------------------------------------------------------------ dequantize ------------------
template <typename TO, int BITS>
__global__ void dequantize_kernel(const __grid_constant__ DequantParams p) {
    constexpr uint32_t kMask = (1u << BITS) - 1u;
    constexpr int EPW = 32 / BITS;
    GK_SHARED_ARRAY(float, s_lv, kQuantMaxLevels);
    for (int k = static_cast<int>(threadIdx.x); k < p.num_levels; k += blockDim.x)
        s_lv[k] = p.levels[k];
    __syncthreads();

    const int lane = static_cast<int>(threadIdx.x) & (kWarpSize - 1);
    const int warps_per_cta = static_cast<int>(blockDim.x) >> 5;
    const int warp = static_cast<int>(threadIdx.x) >> 5;
    const int B = p.block;
    TO* y = static_cast<TO*>(p.y);
    const int64_t total_warps = static_cast<int64_t>(gridDim.x) * warps_per_cta;

    for (int64_t j = static_cast<int64_t>(blockIdx.x) * warps_per_cta + warp; j < p.num_blocks;
         j += total_warps) {
        const int64_t start = j * B;
        const int64_t left = p.n - start;
        const int valid = left < B ? static_cast<int>(left) : B;
        const float zero = load_stat(p.zero, j, p.stats_bf16);
        const float step = load_stat(p.step, j, p.stats_bf16);
        const uint32_t* words = p.packed + j * p.words_per_block;
        int64_t r = (start + lane) / p.cols;
        int64_t c = (start + lane) - r * p.cols;
        for (int t = lane; t < valid; t += kWarpSize) {
            const uint32_t code = (__ldg(words + t / EPW) >> ((t * BITS) & 31)) & kMask;
            store_from_float(y + offset2d(r, p.ld, c), __fmaf_rn(step, s_lv[code], zero));
            advance_rc(r, c, kWarpSize, p.cols);
        }
    }
}

// ------------------------------------------------------------------ random projection ----------
// EXACT's random projection (docs/quantization.md, "Random projection"): R in {+-1/sqrt(K)}^{D x K},
// entry (d, c) negative iff bit e = d * K + c of the sign stream is 1, where bit e is bit (e & 31) of
// word ((e >> 5) & 3) of Philox4x32-10(counter = (e >> 7, 0, kRpTag0, kRpTag1),
// key = (lo(seed), hi(seed))). R is never stored in global memory: each CTA regenerates the D * K
// sign bits into shared memory (D * K / 128 Philox calls) and then streams rows.
//   project:   out[r, c] = fl(scale * fl(sum_{d = 0..D-1} +-in[r, d]))      ([rows, D] -> [rows, K])
//   unproject: out[r, d] = fl(scale * fl(sum_{c = 0..K-1} +-in[r, c]))      ([rows, K] -> [rows, D])
// with scale = fp32(1 / sqrt(K)) and fp32 sums in ascending index order (one lane owns one output,
// so the order, and the bytes, do not depend on the launch configuration).
// Work split: one warp per row (grid-stride); lane l owns outputs o = l, l + 32, ...; the input
// row is read by broadcast loads (every lane the same address). The sign bits of one output are
// read 32 at a time (a 64-bit window of shared memory) when they are contiguous (unproject), one at
// a time otherwise (project: lanes read adjacent words, conflict-free).
constexpr uint32_t kRpTag0 = 0x52505247u;   // "GRPR": the projection's counter words 2 and 3,
constexpr uint32_t kRpTag1 = 0xFFFFFFFFu;   // a range quantization offsets (< 2^64 - 2^32) never reach
constexpr int kRpMaxSignBits = 1 << 18;     // D * K limit: 32 KB of sign bits per CTA

struct ProjParams {
    int64_t rows;
    int64_t ld_in;        // elements
    int64_t ld_out;
    const float* in;      // [rows, in_cols]
    float* out;           // [rows, out_cols]
    uint64_t seed;
    int32_t dim;          // D
    int32_t proj_dim;     // K
    int32_t sign_words;   // ceil(D * K / 32)
    float scale;          // fp32(1 / sqrt(K))
};

// Sign bits of R into s[0 .. sign_words] (one zero padding word after the last).
GK_D void rp_fill_signs(uint32_t* s, int sign_words, uint64_t seed) {
    const int groups = (sign_words + 3) >> 2;
    for (int g = static_cast<int>(threadIdx.x); g < groups; g += static_cast<int>(blockDim.x)) {
        const Philox4 r = philox4x32_10(static_cast<uint32_t>(g), 0u, kRpTag0, kRpTag1,
                                        static_cast<uint32_t>(seed),
                                        static_cast<uint32_t>(seed >> 32));
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            if (4 * g + q < sign_words) s[4 * g + q] = r.v[q];
        }
    }
    if (threadIdx.x == 0) s[sign_words] = 0u;
    __syncthreads();
}

template <bool UNPROJECT>
__global__ void projection_kernel(const __grid_constant__ ProjParams p) {
    GK_DYNAMIC_SHARED(uint32_t, s_sign);
    rp_fill_signs(s_sign, p.sign_words, p.seed);

    const int lane = static_cast<int>(threadIdx.x) & (kWarpSize - 1);
    const int warps_per_cta = static_cast<int>(blockDim.x) >> 5;
    const int warp = static_cast<int>(threadIdx.x) >> 5;
    const int K = p.proj_dim;
    const int in_cols = UNPROJECT ? K : p.dim;
    const int out_cols = UNPROJECT ? p.dim : K;
    const int64_t total_warps = static_cast<int64_t>(gridDim.x) * warps_per_cta;

    for (int64_t r = static_cast<int64_t>(blockIdx.x) * warps_per_cta + warp; r < p.rows;
         r += total_warps) {
        const float* in = p.in + r * p.ld_in;
        float* out = p.out + r * p.ld_out;
        for (int o = lane; o < out_cols; o += kWarpSize) {
            float acc = 0.0f;
            if (UNPROJECT) {
                // Output d = o: bits d * K + c, c = 0..K-1, contiguous.
                for (int c0 = 0; c0 < in_cols; c0 += 32) {
                    const int e0 = o * K + c0;
                    const uint64_t win = (static_cast<uint64_t>(s_sign[(e0 >> 5) + 1]) << 32) |
                                         s_sign[e0 >> 5];
                    const uint32_t bits = static_cast<uint32_t>(win >> (e0 & 31));
                    const int n = in_cols - c0 < 32 ? in_cols - c0 : 32;
                    for (int i = 0; i < n; ++i) {
                        const float v = __ldg(in + c0 + i);
                        acc = __fadd_rn(acc, ((bits >> i) & 1u) ? -v : v);
                    }
                }
            } else {
                // Output c = o: bits d * K + c, d = 0..D-1 (stride K).
                for (int d = 0; d < in_cols; ++d) {
                    const int e = d * K + o;
                    const float v = __ldg(in + d);
                    acc = __fadd_rn(acc, ((s_sign[e >> 5] >> (e & 31)) & 1u) ? -v : v);
                }
            }
            out[o] = __fmul_rn(acc, p.scale);
        }
    }
}

}  // namespace gk

#endif  // GK_QUANTIZATION_CUH
