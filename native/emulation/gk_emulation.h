/*
 * gk_emulation.h — the CUDA execution model on the CPU (C++20, host compiler, -DGK_EMULATION=1).
 *
 * The CUDA C++ of kernels/ and native/src/ is compiled by g++/clang++ against this header instead of
 * <cuda_runtime.h>; the result runs real kernels with real block/warp semantics, fast enough for a
 * test suite of thousands of launches, and instrumentable by ASan/UBSan and TSan.
 *
 * Design
 * - Fibers. Every CUDA thread of a block is a fiber (a user-mode context with its own mmap'ed stack
 *   and a guard page: 64 KiB, 512 KiB under sanitizers, GK_EMU_STACK_KB overrides). A whole block
 *   runs on one OS worker thread. On x86-64 the switch is a dozen instructions of assembly (callee-
 *   saved registers, rsp, MXCSR and the x87 control word; no syscall); elsewhere ucontext is used.
 *   Fiber stacks belong to the worker and are reused across blocks and launches.
 * - Built-ins. threadIdx/blockIdx/blockDim/gridDim are macros reading the *current fiber's* context
 *   (a per-OS-thread pointer that the scheduler repoints on every switch). Do not name host
 *   variables threadIdx, blockIdx, blockDim, gridDim or warpSize.
 * - Scheduling. A fiber runs until it reaches a rendezvous (__syncthreads*, __syncwarp, a shuffle or
 *   vote) or exits, then switches directly to the next runnable fiber of its block (control goes
 *   back to the worker only when none is runnable: block done, failed or deadlocked). The last
 *   arriver of a rendezvous releases all its participants into the next batch of runnable fibers. The order in which
 *   runnable fibers resume is GK_EMU_SCHEDULE=forward|reverse|shuffle (default forward; shuffle is
 *   seeded by GK_EMU_SEED, per block, so it is reproducible) or gk_emu::set_schedule(). Running a
 *   racy kernel under several schedules makes order-dependent bugs give wrong results.
 * - Warp collectives. A shuffle/vote/__syncwarp with mask M is a rendezvous of exactly the lanes of
 *   M; disjoint masks may be in flight in one warp at once (sub-warp groups with their own trip
 *   counts). Errors that fail the launch: calling lane not in M, M naming a lane that has exited or
 *   lies beyond blockDim (partial last warp), overlapping masks in flight, lanes of M executing
 *   different intrinsics or widths, a width that is not a power of two in [1,32]. A shuffle reading a
 *   lane outside M (undefined on a GPU) returns a poison value (all bits set: NaN, -1).
 * - Barriers. __syncthreads is strict by default: reaching it after a thread of the block exited,
 *   or exiting while others wait at it, is "barrier divergence" and fails the launch (the CUDA spec
 *   calls it undefined). GK_EMU_BARRIER=lenient (or set_strict_barriers(false)) lets exited threads
 *   count as arrived. No runnable fiber while some wait = deadlock, which fails the launch.
 * - Shared memory. Kernels get it through gk_emu::shared_static<T>(key, count) (one per declaration
 *   site, keyed by the address of a unique tag) and gk_emu::shared_dynamic<T>(). Each block gets its
 *   own exact-size heap allocations (ASan redzones catch overflows), filled with 0xFF bytes at block
 *   start (floats read NaN, ints -1) so uninitialised reads show up. Static+dynamic per block above
 *   48 KiB (or the cudaFuncAttributeMaxDynamicSharedMemorySize opt-in, max 227 KiB) fails the
 *   launch with cudaErrorInvalidValue. `__shared__` is defined as thread_local for convenience only.
 * - Grid. Blocks are spread over a process-wide pool of OS workers (GK_EMU_WORKERS threads in all,
 *   default max(2, cores)); the launching thread is one of them, so several blocks are in flight at
 *   once and TSan sees inter-block races. Several host threads may launch concurrently; every launch
 *   is independent. Launches are synchronous: each call is complete when it returns.
 * - Failures never abort the process and no exception escapes: the launch returns an error (also
 *   the calling thread's last error, cudaGetLastError resets it) and gk_emu::last_error_detail()
 *   says which block/thread did what. __trap(), a device-side assert (when NDEBUG is not defined) and
 *   an exception thrown by kernel code fail the launch with cudaErrorLaunchFailure.
 * - Sanitizers. Every switch is annotated for ASan (__sanitizer_start/finish_switch_fiber) and TSan
 *   (each fiber slot is a TSan fiber, switched with __tsan_switch_to_fiber_no_sync, so fibers are
 *   separate "threads" and intra-block races are reported). Each rendezvous is modelled as
 *   happens-before (__tsan_release by every arriver, __tsan_acquire by every leaver); the host's
 *   writes before a launch happen-before the kernel, the kernel happens-before the return. The
 *   runtime's own bookkeeping runs under __tsan_ignore_thread_begin. Under TSan each fiber slot is a
 *   TSan thread context, and gcc 12's TSan (v2 vector clocks) makes every barrier cost grow with
 *   the number of contexts: ~1-4 us per fiber switch (blocks of 32..512 threads) instead of ~25 ns.
 *   Keep TSan launches small. A fiber slot is reused for the same thread index of later blocks on
 *   the same worker, so TSan sees those as ordered; races between blocks on different workers (or
 *   different thread indices) are reported.
 * - Launch: gk_emu::launch(kernel, grid, block, dyn_smem, stream, args...) converts the arguments
 *   to the kernel's parameter types and runs the grid; gk_emu::launch_named(name, ...) does the same
 *   and puts the kernel's name in failure details.
 *
 * What cannot be emulated: inline PTX/SASS, cp.async/TMA/wgmma, cooperative-groups grid sync,
 * textures/surfaces, dynamic parallelism (a launch from a kernel returns cudaErrorNotSupported),
 * warp-synchronous code relying on lock-step without __syncwarp (it is a race, and TSan says so),
 * spin-waits on other blocks (may hang: a block is not preempted; __nanosleep yields within a block),
 * FP results bit-identical to a GPU (FMA contraction, fast intrinsics). __CUDA_ARCH__ is not
 * defined: code must take its portable path.
 */
#ifndef GK_EMULATION_H
#define GK_EMULATION_H

// Standard headers first: some libstdc++ headers spell __attribute__((__noinline__)), which the
// CUDA keyword macro below would break if they were included after it.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cassert>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <math.h>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#ifndef GK_EMULATION
#define GK_EMULATION 1
#endif

#if defined(__GNUC__) || defined(__clang__)
#define GK_EMU_HIDDEN __attribute__((visibility("hidden")))
#else
#define GK_EMU_HIDDEN
#endif

#if defined(__SANITIZE_THREAD__)
#define GK_EMU_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GK_EMU_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define GK_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GK_EMU_ASAN 1
#endif
#endif

// ------------------------------------------------------------------ keywords ----------------------
#define __global__
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ thread_local   // convenience only; GraphKernels' kernels use gk_emu::shared_*
// __restrict__ is already a GNU keyword.

// ------------------------------------------------------------------ vector types ------------------
struct uint3 { unsigned int x, y, z; };
struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
    constexpr operator uint3() const { return uint3{x, y, z}; }
};
inline constexpr uint3 make_uint3(unsigned int x, unsigned int y, unsigned int z) { return uint3{x, y, z}; }

#define GK_EMU_VEC1(T, N, A) \
    struct __attribute__((aligned(A))) N { T x; }; \
    inline constexpr N make_##N(T x) { return N{x}; }
#define GK_EMU_VEC2(T, N, A) \
    struct __attribute__((aligned(A))) N { T x, y; }; \
    inline constexpr N make_##N(T x, T y) { return N{x, y}; }
#define GK_EMU_VEC3(T, N) \
    struct N { T x, y, z; }; \
    inline constexpr N make_##N(T x, T y, T z) { return N{x, y, z}; }
#define GK_EMU_VEC4(T, N, A) \
    struct __attribute__((aligned(A))) N { T x, y, z, w; }; \
    inline constexpr N make_##N(T x, T y, T z, T w) { return N{x, y, z, w}; }

GK_EMU_VEC2(signed char, char2, 2)
GK_EMU_VEC2(unsigned char, uchar2, 2)
GK_EMU_VEC4(signed char, char4, 4)
GK_EMU_VEC4(unsigned char, uchar4, 4)
GK_EMU_VEC2(short, short2, 4)
GK_EMU_VEC2(unsigned short, ushort2, 4)
GK_EMU_VEC4(short, short4, 8)
GK_EMU_VEC4(unsigned short, ushort4, 8)
GK_EMU_VEC1(int, int1, 4)
GK_EMU_VEC2(int, int2, 8)
GK_EMU_VEC3(int, int3)
GK_EMU_VEC4(int, int4, 16)
GK_EMU_VEC2(unsigned int, uint2, 8)
GK_EMU_VEC4(unsigned int, uint4, 16)
GK_EMU_VEC1(float, float1, 4)
GK_EMU_VEC2(float, float2, 8)
GK_EMU_VEC3(float, float3)
GK_EMU_VEC4(float, float4, 16)
GK_EMU_VEC1(double, double1, 8)
GK_EMU_VEC2(double, double2, 16)
GK_EMU_VEC2(long long, longlong2, 16)
GK_EMU_VEC2(unsigned long long, ulonglong2, 16)
#undef GK_EMU_VEC1
#undef GK_EMU_VEC2
#undef GK_EMU_VEC3
#undef GK_EMU_VEC4

static_assert(sizeof(float4) == 16 && alignof(float4) == 16, "float4 layout");
static_assert(sizeof(float2) == 8 && alignof(float2) == 8, "float2 layout");
static_assert(sizeof(float3) == 12 && alignof(float3) == 4, "float3 layout");
static_assert(sizeof(double2) == 16 && alignof(double2) == 16, "double2 layout");

// ------------------------------------------------------------------ runtime types -----------------
enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInitializationError = 3,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidSymbol = 13,
    cudaErrorInvalidDevicePointer = 17,
    cudaErrorInvalidMemcpyDirection = 21,
    cudaErrorInvalidDeviceFunction = 98,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidDevice = 101,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorNotReady = 600,
    cudaErrorIllegalAddress = 700,
    cudaErrorLaunchOutOfResources = 701,
    cudaErrorAssert = 710,
    cudaErrorLaunchFailure = 719,
    cudaErrorNotSupported = 801,
    cudaErrorUnknown = 999
};
typedef enum cudaError cudaError_t;

struct CUstream_st;
typedef struct CUstream_st* cudaStream_t;
struct CUevent_st;
typedef struct CUevent_st* cudaEvent_t;
#define cudaStreamLegacy ((cudaStream_t)0x1)
#define cudaStreamPerThread ((cudaStream_t)0x2)
#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4
};

enum cudaDeviceAttr {
    cudaDevAttrMaxThreadsPerBlock = 1,
    cudaDevAttrMaxBlockDimX = 2,
    cudaDevAttrMaxBlockDimY = 3,
    cudaDevAttrMaxBlockDimZ = 4,
    cudaDevAttrMaxGridDimX = 5,
    cudaDevAttrMaxGridDimY = 6,
    cudaDevAttrMaxGridDimZ = 7,
    cudaDevAttrMaxSharedMemoryPerBlock = 8,
    cudaDevAttrTotalConstantMemory = 9,
    cudaDevAttrWarpSize = 10,
    cudaDevAttrMaxRegistersPerBlock = 12,
    cudaDevAttrClockRate = 13,
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrL2CacheSize = 38,
    cudaDevAttrMaxThreadsPerMultiProcessor = 39,
    cudaDevAttrComputeCapabilityMajor = 75,
    cudaDevAttrComputeCapabilityMinor = 76,
    cudaDevAttrMaxSharedMemoryPerMultiprocessor = 81,
    cudaDevAttrMaxRegistersPerMultiprocessor = 82,
    cudaDevAttrMaxSharedMemoryPerBlockOptin = 97
};

enum cudaFuncAttribute {
    cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
    cudaFuncAttributePreferredSharedMemoryCarveout = 9
};

// ------------------------------------------------------------------ gk_emu core -------------------
namespace gk_emu {

struct ThreadCtx {
    uint3 thread_idx;
    uint3 block_idx;
    dim3 block_dim;
    dim3 grid_dim;
    unsigned int tid;   // linear thread index within the block
    unsigned int lane;  // tid % 32
    unsigned int warp;  // tid / 32
    void* fiber;        // runtime-private
};

enum class Schedule : int { Forward = 0, Reverse = 1, Shuffle = 2 };

enum class WarpOp : int { Sync = 0, ShflIdx, ShflUp, ShflDown, ShflXor, Ballot };
enum class BarrierOp : int { Sync = 0, Count, And, Or };

}  // namespace gk_emu

// The running fiber's context. One OS thread runs one fiber at a time and a block never migrates
// between OS threads, so a per-OS-thread pointer repointed on every switch is per-fiber.
extern __thread ::gk_emu::ThreadCtx* gk_emu_tls_ctx GK_EMU_HIDDEN;

namespace gk_emu {

inline ThreadCtx& ctx() noexcept { return *gk_emu_tls_ctx; }

// Runtime entry points (gk_emulation.cpp).
GK_EMU_HIDDEN int barrier(BarrierOp op, int pred);
GK_EMU_HIDDEN std::uint64_t warp_op(WarpOp op, unsigned mask, std::uint64_t value, int param, int width);
GK_EMU_HIDDEN unsigned active_mask();
GK_EMU_HIDDEN void yield();
[[noreturn]] GK_EMU_HIDDEN void trap(const char* what);
GK_EMU_HIDDEN void* shared_static_raw(const void* key, std::size_t bytes, std::size_t align);
GK_EMU_HIDDEN void* shared_dynamic_raw();
GK_EMU_HIDDEN void threadfence();

/// The block's static shared array for declaration site `key` (address of a unique tag).
template <class T> inline T* shared_static(const void* key, std::size_t count) {
    return static_cast<T*>(shared_static_raw(key, count * sizeof(T), alignof(T)));
}
/// The block's dynamic shared memory (size given at launch; 16-byte aligned).
template <class T> inline T* shared_dynamic() { return static_cast<T*>(shared_dynamic_raw()); }

/// Human-readable detail of the calling host thread's last failed launch/runtime call ("" if none).
GK_EMU_HIDDEN const char* last_error_detail();
/// Run-order of runnable fibers for subsequent launches (process-wide). Default from the environment.
GK_EMU_HIDDEN void set_schedule(Schedule s, std::uint64_t seed = 0);
GK_EMU_HIDDEN Schedule get_schedule();
/// Strict barrier divergence checking (default on; GK_EMU_BARRIER=lenient turns it off).
GK_EMU_HIDDEN void set_strict_barriers(bool strict);
/// Number of OS threads that run blocks (including the launching thread).
GK_EMU_HIDDEN int worker_count();

struct LaunchDesc {
    void (*thunk)(const void* kernel, const void* args);
    const void* kernel;     // points at the stored kernel function pointer
    const void* args;       // points at the tuple of converted arguments
    const void* func_key;   // the kernel's address (attributes)
    const char* name;       // for messages; may be null
    dim3 grid;
    dim3 block;
    std::size_t dyn_smem;
    cudaStream_t stream;
};
GK_EMU_HIDDEN cudaError_t launch_impl(const LaunchDesc& d) noexcept;
GK_EMU_HIDDEN cudaError_t record_error(cudaError_t e, const char* detail) noexcept;
GK_EMU_HIDDEN cudaError_t func_set_attribute(const void* func, cudaFuncAttribute attr, int value) noexcept;

template <class... P, class... A>
cudaError_t launch_named(const char* name, void (*kernel)(P...), dim3 grid, dim3 block, std::size_t dyn_smem,
                         cudaStream_t stream, A&&... args) noexcept {
    static_assert(sizeof...(P) == sizeof...(A), "kernel launched with the wrong number of arguments");
    using K = void (*)(P...);
    using Tuple = std::tuple<std::decay_t<P>...>;
    struct Thunk {
        static void run(const void* k, const void* a) {
            std::apply(*static_cast<const K*>(k), *static_cast<const Tuple*>(a));
        }
    };
    try {
        Tuple tup(std::forward<A>(args)...);
        K k = kernel;
        LaunchDesc d{&Thunk::run, &k, &tup, reinterpret_cast<const void*>(kernel), name,
                     grid, block, dyn_smem, stream};
        return launch_impl(d);
    } catch (...) {
        return record_error(cudaErrorLaunchFailure, "launch: converting the kernel arguments threw");
    }
}

/// Runs the whole grid; returns when done. Rejects what CUDA rejects.
template <class... P, class... A>
cudaError_t launch(void (*kernel)(P...), dim3 grid, dim3 block, std::size_t dyn_smem, cudaStream_t stream,
                   A&&... args) noexcept {
    return launch_named(nullptr, kernel, grid, block, dyn_smem, stream, std::forward<A>(args)...);
}

template <class T> inline std::uint64_t to_bits(T v) noexcept {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "warp shuffles move at most 8 bytes");
    std::uint64_t b = 0;
    std::memcpy(&b, &v, sizeof(T));
    return b;
}
template <class T> inline T from_bits(std::uint64_t b) noexcept {
    T v;
    std::memcpy(&v, &b, sizeof(T));
    return v;
}

}  // namespace gk_emu

// ------------------------------------------------------------------ built-ins ---------------------
#define threadIdx (::gk_emu::ctx().thread_idx)
#define blockIdx (::gk_emu::ctx().block_idx)
#define blockDim (::gk_emu::ctx().block_dim)
#define gridDim (::gk_emu::ctx().grid_dim)
constexpr int warpSize = 32;

// ------------------------------------------------------------------ synchronisation ---------------
inline void __syncthreads() { ::gk_emu::barrier(::gk_emu::BarrierOp::Sync, 0); }
inline int __syncthreads_count(int pred) { return ::gk_emu::barrier(::gk_emu::BarrierOp::Count, pred); }
inline int __syncthreads_and(int pred) { return ::gk_emu::barrier(::gk_emu::BarrierOp::And, pred); }
inline int __syncthreads_or(int pred) { return ::gk_emu::barrier(::gk_emu::BarrierOp::Or, pred); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::gk_emu::warp_op(::gk_emu::WarpOp::Sync, mask, 0, 0, 32); }
inline unsigned __activemask() { return ::gk_emu::active_mask(); }
inline void __threadfence() { ::gk_emu::threadfence(); }
inline void __threadfence_block() { ::gk_emu::threadfence(); }
inline void __threadfence_system() { ::gk_emu::threadfence(); }
inline void __nanosleep(unsigned) { ::gk_emu::yield(); }
[[noreturn]] inline void __trap() { ::gk_emu::trap("__trap()"); }
[[noreturn]] inline void __brkpt() { ::gk_emu::trap("__brkpt()"); }

template <class T> inline T __shfl_sync(unsigned mask, T var, int srcLane, int width = warpSize) {
    return ::gk_emu::from_bits<T>(::gk_emu::warp_op(::gk_emu::WarpOp::ShflIdx, mask, ::gk_emu::to_bits(var), srcLane, width));
}
template <class T> inline T __shfl_up_sync(unsigned mask, T var, unsigned int delta, int width = warpSize) {
    return ::gk_emu::from_bits<T>(::gk_emu::warp_op(::gk_emu::WarpOp::ShflUp, mask, ::gk_emu::to_bits(var),
                                                    static_cast<int>(delta > 64u ? 64u : delta), width));
}
template <class T> inline T __shfl_down_sync(unsigned mask, T var, unsigned int delta, int width = warpSize) {
    return ::gk_emu::from_bits<T>(::gk_emu::warp_op(::gk_emu::WarpOp::ShflDown, mask, ::gk_emu::to_bits(var),
                                                    static_cast<int>(delta > 64u ? 64u : delta), width));
}
template <class T> inline T __shfl_xor_sync(unsigned mask, T var, int laneMask, int width = warpSize) {
    return ::gk_emu::from_bits<T>(::gk_emu::warp_op(::gk_emu::WarpOp::ShflXor, mask, ::gk_emu::to_bits(var), laneMask, width));
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
    return static_cast<unsigned>(::gk_emu::warp_op(::gk_emu::WarpOp::Ballot, mask, pred != 0, 0, 32));
}
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == mask; }

// ------------------------------------------------------------------ bit manipulation --------------
inline int __popc(unsigned int x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll(static_cast<unsigned long long>(x)); }
inline unsigned int __brev(unsigned int x) {
    x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
    x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
    x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
    return __builtin_bswap32(x);
}
inline unsigned long long __brevll(unsigned long long x) {
    return (static_cast<unsigned long long>(__brev(static_cast<unsigned>(x))) << 32) | __brev(static_cast<unsigned>(x >> 32));
}
inline int __mul24(int a, int b) { return ((a << 8) >> 8) * ((b << 8) >> 8); }
inline unsigned __umul24(unsigned a, unsigned b) { return (a & 0xffffffu) * (b & 0xffffffu); }
inline int __mulhi(int a, int b) { return static_cast<int>((static_cast<long long>(a) * b) >> 32); }
inline unsigned __umulhi(unsigned a, unsigned b) { return static_cast<unsigned>((static_cast<unsigned long long>(a) * b) >> 32); }
inline long long __mul64hi(long long a, long long b) { return static_cast<long long>((static_cast<__int128>(a) * b) >> 64); }
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
    return static_cast<unsigned long long>((static_cast<unsigned __int128>(a) * b) >> 64);
}

// ------------------------------------------------------------------ reinterpretation & math -------
inline int __float_as_int(float x) { int r; std::memcpy(&r, &x, 4); return r; }
inline unsigned int __float_as_uint(float x) { unsigned r; std::memcpy(&r, &x, 4); return r; }
inline float __int_as_float(int x) { float r; std::memcpy(&r, &x, 4); return r; }
inline float __uint_as_float(unsigned int x) { float r; std::memcpy(&r, &x, 4); return r; }
inline long long __double_as_longlong(double x) { long long r; std::memcpy(&r, &x, 8); return r; }
inline double __longlong_as_double(long long x) { double r; std::memcpy(&r, &x, 8); return r; }

inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float rcbrtf(float x) { return 1.0f / cbrtf(x); }
inline float __expf(float x) { return expf(x); }
inline float __exp10f(float x) { return powf(10.0f, x); }
inline float __logf(float x) { return logf(x); }
inline float __log2f(float x) { return log2f(x); }
inline float __log10f(float x) { return log10f(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __tanf(float x) { return tanf(x); }
inline void __sincosf(float x, float* s, float* c) { *s = sinf(x); *c = cosf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __frsqrt_rn(float x) { return 1.0f / sqrtf(x); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline float __saturatef(float x) { return x != x ? 0.0f : (x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x)); }
inline int __float2int_rn(float x) { return static_cast<int>(nearbyintf(x)); }
inline int __float2int_rz(float x) { return static_cast<int>(x); }
inline int __float2int_rd(float x) { return static_cast<int>(floorf(x)); }
inline int __float2int_ru(float x) { return static_cast<int>(ceilf(x)); }
inline unsigned __float2uint_rn(float x) { return static_cast<unsigned>(nearbyintf(x)); }
inline unsigned __float2uint_rz(float x) { return static_cast<unsigned>(x); }
inline long long __float2ll_rn(float x) { return static_cast<long long>(nearbyintf(x)); }
inline long long __float2ll_rz(float x) { return static_cast<long long>(x); }
inline float __int2float_rn(int x) { return static_cast<float>(x); }
inline float __uint2float_rn(unsigned x) { return static_cast<float>(x); }
inline float __ll2float_rn(long long x) { return static_cast<float>(x); }
inline float __double2float_rn(double x) { return static_cast<float>(x); }
inline int __double2int_rn(double x) { return static_cast<int>(std::nearbyint(x)); }
inline int __double2int_rz(double x) { return static_cast<int>(x); }

// CUDA's global min/max overloads (device math library).
#define GK_EMU_MINMAX(T) \
    inline T min(T a, T b) { return b < a ? b : a; } \
    inline T max(T a, T b) { return a < b ? b : a; }
GK_EMU_MINMAX(int)
GK_EMU_MINMAX(unsigned int)
GK_EMU_MINMAX(long)
GK_EMU_MINMAX(unsigned long)
GK_EMU_MINMAX(long long)
GK_EMU_MINMAX(unsigned long long)
#undef GK_EMU_MINMAX
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }
// Mixed signedness picks the unsigned overload, as in CUDA's math library.
inline unsigned int min(int a, unsigned int b) { return min(static_cast<unsigned>(a), b); }
inline unsigned int min(unsigned int a, int b) { return min(a, static_cast<unsigned>(b)); }
inline unsigned int max(int a, unsigned int b) { return max(static_cast<unsigned>(a), b); }
inline unsigned int max(unsigned int a, int b) { return max(a, static_cast<unsigned>(b)); }
inline unsigned long long min(long long a, unsigned long long b) { return min(static_cast<unsigned long long>(a), b); }
inline unsigned long long min(unsigned long long a, long long b) { return min(a, static_cast<unsigned long long>(b)); }
inline unsigned long long max(long long a, unsigned long long b) { return max(static_cast<unsigned long long>(a), b); }
inline unsigned long long max(unsigned long long a, long long b) { return max(a, static_cast<unsigned long long>(b)); }
inline double min(float a, double b) { return std::fmin(a, b); }
inline double min(double a, float b) { return std::fmin(a, b); }
inline double max(float a, double b) { return std::fmax(a, b); }
inline double max(double a, float b) { return std::fmax(a, b); }

// ================================================================== fp16 / bf16 (quantization) ====
// Software __half and __nv_bfloat16 with the CUDA conversion intrinsics GraphKernels uses, so the
// same kernel text compiles here. Conversions are bit-exact with the hardware cvt instructions:
// float -> half/bf16 rounds to nearest, ties to even, keeps subnormals (no flush), overflows to
// +-inf, and turns any NaN into the canonical 0x7FFF (as cvt.rn.f16.f32 / cvt.rn.bf16.f32 do);
// half/bf16 -> float is exact. Arithmetic operators are deliberately absent: kernels convert to
// float, compute in float and convert back, which is also what they do on the GPU.
struct __half { unsigned short __x; };
struct __nv_bfloat16 { unsigned short __x; };
static_assert(sizeof(__half) == 2 && sizeof(__nv_bfloat16) == 2, "16-bit float layout");

namespace gk_emu {
inline unsigned short f32_to_f16_bits_rn(float f) {
    std::uint32_t x;
    std::memcpy(&x, &f, 4);
    const unsigned short sign = static_cast<unsigned short>((x >> 16) & 0x8000u);
    const std::uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return 0x7fffu;                          // NaN -> canonical
    if (ax >= 0x477ff000u) return static_cast<unsigned short>(sign | 0x7c00u);  // >= 65520 -> inf
    if (ax <= 0x33000000u) return sign;                            // <= 2^-25 -> +-0 (tie to even)
    std::uint32_t q, rem, half;
    if (ax < 0x38800000u) {                                        // half subnormal: units of 2^-24
        const int shift = 126 - static_cast<int>(ax >> 23);        // 14..24
        const std::uint32_t m = (ax & 0x7fffffu) | 0x800000u;
        q = m >> shift;
        rem = m & ((1u << shift) - 1u);
        half = 1u << (shift - 1);
    } else {                                                       // normal: rebias 127 -> 15
        const std::uint32_t r = ax - 0x38000000u;
        q = r >> 13;
        rem = r & 0x1fffu;
        half = 0x1000u;
    }
    if (rem > half || (rem == half && (q & 1u))) ++q;              // carries into the exponent
    return static_cast<unsigned short>(sign | q);
}
inline float f16_bits_to_f32(unsigned short h) {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    std::uint32_t bits;
    if (e == 31) {
        bits = sign | 0x7f800000u | (m << 13);
    } else if (e == 0) {
        const float v = static_cast<float>(m) * 5.9604644775390625e-8f;  // m * 2^-24, exact
        std::memcpy(&bits, &v, 4);
        bits |= sign;
    } else {
        bits = sign | ((e + 112u) << 23) | (m << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}
inline unsigned short f32_to_bf16_bits_rn(float f) {
    std::uint32_t x;
    std::memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return 0x7fffu;           // NaN -> canonical
    return static_cast<unsigned short>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}
inline float bf16_bits_to_f32(unsigned short b) {
    const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}
}  // namespace gk_emu

inline __half __float2half_rn(float f) { return __half{::gk_emu::f32_to_f16_bits_rn(f)}; }
inline __half __float2half(float f) { return __float2half_rn(f); }
inline float __half2float(__half h) { return ::gk_emu::f16_bits_to_f32(h.__x); }
inline unsigned short __half_as_ushort(__half h) { return h.__x; }
inline __half __ushort_as_half(unsigned short u) { return __half{u}; }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16{::gk_emu::f32_to_bf16_bits_rn(f)}; }
inline __nv_bfloat16 __float2bfloat16(float f) { return __float2bfloat16_rn(f); }
inline float __bfloat162float(__nv_bfloat16 b) { return ::gk_emu::bf16_bits_to_f32(b.__x); }
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 b) { return b.__x; }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short u) { return __nv_bfloat16{u}; }
// ================================================================== end of fp16 / bf16 ============

// ------------------------------------------------------------------ loads & stores ----------------
template <class T> inline T __ldg(const T* p) { return *p; }
template <class T> inline T __ldca(const T* p) { return *p; }
template <class T> inline T __ldcg(const T* p) { return *p; }
template <class T> inline T __ldcs(const T* p) { return *p; }
template <class T> inline T __ldlu(const T* p) { return *p; }
template <class T> inline T __ldcv(const T* p) { return *p; }
template <class T> inline void __stwb(T* p, T v) { *p = v; }
template <class T> inline void __stcg(T* p, T v) { *p = v; }
template <class T> inline void __stcs(T* p, T v) { *p = v; }
template <class T> inline void __stwt(T* p, T v) { *p = v; }
inline long long clock64() {
    return static_cast<long long>(std::chrono::steady_clock::now().time_since_epoch().count());
}

// ------------------------------------------------------------------ atomics -----------------------
// Device atomics are relaxed on a GPU; seq_cst here keeps TSan free of fence false positives.
#define GK_EMU_ATOMIC_INT(T) \
    inline T atomicAdd(T* a, T v) { return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST); } \
    inline T atomicSub(T* a, T v) { return __atomic_fetch_sub(a, v, __ATOMIC_SEQ_CST); } \
    inline T atomicExch(T* a, T v) { return __atomic_exchange_n(a, v, __ATOMIC_SEQ_CST); } \
    inline T atomicAnd(T* a, T v) { return __atomic_fetch_and(a, v, __ATOMIC_SEQ_CST); } \
    inline T atomicOr(T* a, T v) { return __atomic_fetch_or(a, v, __ATOMIC_SEQ_CST); } \
    inline T atomicXor(T* a, T v) { return __atomic_fetch_xor(a, v, __ATOMIC_SEQ_CST); } \
    inline T atomicCAS(T* a, T cmp, T v) { \
        __atomic_compare_exchange_n(a, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); \
        return cmp; \
    } \
    inline T atomicMin(T* a, T v) { \
        T old = __atomic_load_n(a, __ATOMIC_RELAXED); \
        while (v < old && !__atomic_compare_exchange_n(a, &old, v, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {} \
        return old; \
    } \
    inline T atomicMax(T* a, T v) { \
        T old = __atomic_load_n(a, __ATOMIC_RELAXED); \
        while (old < v && !__atomic_compare_exchange_n(a, &old, v, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {} \
        return old; \
    }
GK_EMU_ATOMIC_INT(int)
GK_EMU_ATOMIC_INT(unsigned int)
GK_EMU_ATOMIC_INT(long long)
GK_EMU_ATOMIC_INT(unsigned long long)
#undef GK_EMU_ATOMIC_INT

namespace gk_emu {
template <class F, class U, class Op> inline F atomic_float_rmw(F* a, Op op) {
    static_assert(sizeof(F) == sizeof(U));
    U* p = reinterpret_cast<U*>(a);
    U old = __atomic_load_n(p, __ATOMIC_RELAXED);
    for (;;) {
        F f;
        std::memcpy(&f, &old, sizeof(F));
        F nf = op(f);
        U nu;
        std::memcpy(&nu, &nf, sizeof(F));
        if (__atomic_compare_exchange_n(p, &old, nu, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) return f;
    }
}
}  // namespace gk_emu
inline float atomicAdd(float* a, float v) {
    return ::gk_emu::atomic_float_rmw<float, unsigned int>(a, [v](float x) { return x + v; });
}
inline double atomicAdd(double* a, double v) {
    return ::gk_emu::atomic_float_rmw<double, unsigned long long>(a, [v](double x) { return x + v; });
}
inline float atomicExch(float* a, float v) {
    return __uint_as_float(__atomic_exchange_n(reinterpret_cast<unsigned*>(a), __float_as_uint(v), __ATOMIC_SEQ_CST));
}
inline unsigned int atomicInc(unsigned int* a, unsigned int limit) {
    unsigned old = __atomic_load_n(a, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(a, &old, old >= limit ? 0u : old + 1u, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {}
    return old;
}
inline unsigned int atomicDec(unsigned int* a, unsigned int limit) {
    unsigned old = __atomic_load_n(a, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(a, &old, (old == 0u || old > limit) ? limit : old - 1u, true, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED)) {}
    return old;
}
// The _block/_system scopes are the same thing here.
#define atomicAdd_block atomicAdd
#define atomicAdd_system atomicAdd
#define atomicCAS_block atomicCAS
#define atomicExch_block atomicExch

// ------------------------------------------------------------------ CUDA runtime shim -------------
GK_EMU_HIDDEN cudaError_t cudaMalloc(void** ptr, std::size_t size);
template <class T> inline cudaError_t cudaMalloc(T** ptr, std::size_t size) {
    return cudaMalloc(reinterpret_cast<void**>(ptr), size);
}
GK_EMU_HIDDEN cudaError_t cudaFree(void* ptr);
GK_EMU_HIDDEN cudaError_t cudaMallocHost(void** ptr, std::size_t size);
GK_EMU_HIDDEN cudaError_t cudaFreeHost(void* ptr);
GK_EMU_HIDDEN cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t count, cudaMemcpyKind kind);
GK_EMU_HIDDEN cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t count, cudaMemcpyKind kind,
                                          cudaStream_t stream = nullptr);
GK_EMU_HIDDEN cudaError_t cudaMemset(void* ptr, int value, std::size_t count);
GK_EMU_HIDDEN cudaError_t cudaMemsetAsync(void* ptr, int value, std::size_t count, cudaStream_t stream = nullptr);
GK_EMU_HIDDEN cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes);
GK_EMU_HIDDEN cudaError_t cudaStreamCreate(cudaStream_t* stream);
GK_EMU_HIDDEN cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags);
GK_EMU_HIDDEN cudaError_t cudaStreamDestroy(cudaStream_t stream);
GK_EMU_HIDDEN cudaError_t cudaStreamSynchronize(cudaStream_t stream);
GK_EMU_HIDDEN cudaError_t cudaStreamQuery(cudaStream_t stream);
GK_EMU_HIDDEN cudaError_t cudaEventCreate(cudaEvent_t* event);
GK_EMU_HIDDEN cudaError_t cudaEventDestroy(cudaEvent_t event);
GK_EMU_HIDDEN cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
GK_EMU_HIDDEN cudaError_t cudaEventSynchronize(cudaEvent_t event);
GK_EMU_HIDDEN cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);
GK_EMU_HIDDEN cudaError_t cudaDeviceSynchronize();
GK_EMU_HIDDEN cudaError_t cudaGetLastError();
GK_EMU_HIDDEN cudaError_t cudaPeekAtLastError();
GK_EMU_HIDDEN const char* cudaGetErrorString(cudaError_t error);
GK_EMU_HIDDEN const char* cudaGetErrorName(cudaError_t error);
GK_EMU_HIDDEN cudaError_t cudaGetDevice(int* device);
GK_EMU_HIDDEN cudaError_t cudaSetDevice(int device);
GK_EMU_HIDDEN cudaError_t cudaGetDeviceCount(int* count);
GK_EMU_HIDDEN cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
GK_EMU_HIDDEN cudaError_t cudaRuntimeGetVersion(int* version);
GK_EMU_HIDDEN cudaError_t cudaDriverGetVersion(int* version);
template <class F> inline cudaError_t cudaFuncSetAttribute(F* func, cudaFuncAttribute attr, int value) {
    return ::gk_emu::func_set_attribute(reinterpret_cast<const void*>(func), attr, value);
}
template <class T>
inline cudaError_t cudaMemcpyToSymbol(T& symbol, const void* src, std::size_t count, std::size_t offset = 0,
                                      cudaMemcpyKind kind = cudaMemcpyHostToDevice) {
    if (offset + count > sizeof(T)) return ::gk_emu::record_error(cudaErrorInvalidValue, "cudaMemcpyToSymbol: out of range");
    return cudaMemcpy(reinterpret_cast<char*>(&symbol) + offset, src, count, kind);
}

#endif  // GK_EMULATION_H
