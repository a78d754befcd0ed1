// Common device-side definitions for every GraphKernels kernel.
//
// This header is compiled three ways from the same text: by nvcc (the shipped fatbin), by NVRTC
// at run time, and by the host C++ compiler under native/emulation (GK_EMULATION defined). So it
// includes no standard-library header: NVRTC has none, and under nvcc the system <stdint.h> is
// already in scope, which is why the fixed-width integer types are declared only for NVRTC.
#ifndef GK_DEVICE_CUH
#define GK_DEVICE_CUH

#if defined(GK_EMULATION)
#  include "gk_emulation.h"
#  include <stdint.h>
#elif defined(__CUDACC_RTC__)
typedef signed char int8_t;
typedef unsigned char uint8_t;
typedef short int16_t;
typedef unsigned short uint16_t;
typedef int int32_t;
typedef unsigned int uint32_t;
typedef long long int64_t;
typedef unsigned long long uint64_t;
#endif

#define GK_HD __host__ __device__ __forceinline__
#define GK_D __device__ __forceinline__

// Shared memory goes through these two macros so the emulation can give every block its own
// exactly-sized allocation (AddressSanitizer redzones, no stale storage shared across
// concurrently running blocks). On a GPU they are plain __shared__ declarations.
#if defined(GK_EMULATION)
#  define GK_SHARED_ARRAY(T, name, count)                                                    \
     static const char name##_gk_site = 0;                                                   \
     T* name = ::gk_emu::shared_static<T>(&name##_gk_site, (count))
#  define GK_DYNAMIC_SHARED(T, name) T* name = ::gk_emu::shared_dynamic<T>()
#else
#  define GK_SHARED_ARRAY(T, name, count) __shared__ T name[count]
#  define GK_DYNAMIC_SHARED(T, name)                                                         \
     extern __shared__ __align__(16) unsigned char gk_dynamic_smem_[];                        \
     T* name = reinterpret_cast<T*>(gk_dynamic_smem_)
#endif

namespace gk {

constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kWarpSize = 32;

// Every offset that can exceed 2^31 (row * leading dimension, edge * feature) is formed here,
// in 64 bits, whatever the index type of the graph.
GK_HD int64_t offset2d(int64_t row, int64_t ld, int64_t col) { return row * ld + col; }

// Vector of V floats loaded/stored as one 4-, 8- or 16-byte transaction.
template <int V> struct FloatVec;
template <> struct FloatVec<1> {
    typedef float type;
    float v[1];
    GK_D void load(const float* p) { v[0] = __ldg(p); }
    GK_D void store(float* p) const { *p = v[0]; }
};
template <> struct FloatVec<2> {
    typedef float2 type;
    float v[2];
    GK_D void load(const float* p) {
        float2 t = __ldg(reinterpret_cast<const float2*>(p));
        v[0] = t.x; v[1] = t.y;
    }
    GK_D void store(float* p) const { *reinterpret_cast<float2*>(p) = make_float2(v[0], v[1]); }
};
template <> struct FloatVec<4> {
    typedef float4 type;
    float v[4];
    GK_D void load(const float* p) {
        float4 t = __ldg(reinterpret_cast<const float4*>(p));
        v[0] = t.x; v[1] = t.y; v[2] = t.z; v[3] = t.w;
    }
    GK_D void store(float* p) const {
        *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
    }
};

// Warp-level sum over the lanes of `mask` in segments of `width` lanes (butterfly order, fixed:
// xor 16, 8, 4, 2, 1 restricted to the width) — every lane ends with the same, deterministic sum.
template <typename T>
GK_D T warp_reduce_sum(T v, unsigned mask = kFullMask, int width = kWarpSize) {
    for (int o = width >> 1; o > 0; o >>= 1) v += __shfl_xor_sync(mask, v, o, width);
    return v;
}
template <typename T>
GK_D T warp_reduce_max(T v, unsigned mask = kFullMask, int width = kWarpSize) {
    for (int o = width >> 1; o > 0; o >>= 1) {
        T w = __shfl_xor_sync(mask, v, o, width);
        v = w > v ? w : v;
    }
    return v;
}
template <typename T>
GK_D T warp_reduce_min(T v, unsigned mask = kFullMask, int width = kWarpSize) {
    for (int o = width >> 1; o > 0; o >>= 1) {
        T w = __shfl_xor_sync(mask, v, o, width);
        v = w < v ? w : v;
    }
    return v;
}

GK_HD bool is_nan(float x) { return x != x; }

}  // namespace gk

#endif  // GK_DEVICE_CUH
