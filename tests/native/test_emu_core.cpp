// test_emu_core.cpp — the CUDA execution model on the CPU (native/emulation): built-ins, barriers,
// shared memory, warp collectives, atomics, launch checks, failure reporting, concurrency, timing.
#include "emu_test_util.h"

#undef NDEBUG  // device-side assert is part of what is tested
#include <cstring>
#include <cassert>

#include <cmath>
#include <ctime>
#include <stdexcept>
#include <thread>

using emu_test::Case;
using gk_emu::Schedule;

namespace {

#if defined(GK_EMU_ASAN) || defined(GK_EMU_TSAN)
constexpr bool kSanitized = true;  // TSan's cost grows with the number of fibers: keep runs small
#else
constexpr bool kSanitized = false;
#endif

const Schedule kSchedules[] = {Schedule::Forward, Schedule::Reverse, Schedule::Shuffle};
const char* sched_name(Schedule s) { return s == Schedule::Forward ? "forward" : s == Schedule::Reverse ? "reverse" : "shuffle"; }

struct ScheduleGuard {
    Schedule saved = gk_emu::get_schedule();
    ~ScheduleGuard() { gk_emu::set_schedule(saved, 0); }
};

// ------------------------------------------------------------------ built-in indices ------------
__global__ void k_indices(unsigned* out) {
    unsigned bx = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    unsigned tx = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    unsigned g = bx * (blockDim.x * blockDim.y * blockDim.z) + tx;
    unsigned* o = out + 12 * g;
    o[0] = threadIdx.x; o[1] = threadIdx.y; o[2] = threadIdx.z;
    o[3] = blockIdx.x;  o[4] = blockIdx.y;  o[5] = blockIdx.z;
    o[6] = blockDim.x;  o[7] = blockDim.y;  o[8] = blockDim.z;
    o[9] = gridDim.x;   o[10] = gridDim.y;  o[11] = gridDim.z;
}

void test_indices_3d() {
    dim3 grid(3, 2, 2), block(4, 3, 2);
    const unsigned nthreads = 3 * 2 * 2 * 4 * 3 * 2;
    std::vector<unsigned> out(12 * nthreads, 0xdeadbeef);
    CHECK_CUDA(gk_emu::launch(k_indices, grid, block, 0, nullptr, out.data()), cudaSuccess);
    for (unsigned bz = 0; bz < 2; ++bz)
        for (unsigned by = 0; by < 2; ++by)
            for (unsigned bx = 0; bx < 3; ++bx)
                for (unsigned tz = 0; tz < 2; ++tz)
                    for (unsigned ty = 0; ty < 3; ++ty)
                        for (unsigned tx = 0; tx < 4; ++tx) {
                            unsigned b = bx + 3 * (by + 2 * bz), t = tx + 4 * (ty + 3 * tz);
                            const unsigned* o = &out[12 * (b * 24 + t)];
                            unsigned want[12] = {tx, ty, tz, bx, by, bz, 4, 3, 2, 3, 2, 2};
                            for (int i = 0; i < 12; ++i) CHECK(o[i] == want[i]);
                        }
}

// ------------------------------------------------------------------ reduction -------------------
template <bool kRacy>
__global__ void k_reduce(const long long* in, long long* out, int n) {
    EMU_SHARED(long long, s, 256);
    unsigned t = threadIdx.x;
    unsigned i = blockIdx.x * blockDim.x + t;
    s[t] = i < static_cast<unsigned>(n) ? in[i] : 0;
    if (!kRacy) __syncthreads();  // the racy variant forgets this barrier
    for (unsigned stride = blockDim.x / 2; stride > 0; stride >>= 1) {
        if (t < stride) s[t] += s[t + stride];
        __syncthreads();
    }
    if (t == 0) out[blockIdx.x] = s[0];
}

template <bool kRacy>
bool reduce_ok(int blocks) {
    const int n = blocks * 256;
    std::vector<long long> in(n), out(blocks, -7);
    for (int i = 0; i < n; ++i) in[i] = (i * 2654435761u) % 1000;
    if (gk_emu::launch(k_reduce<kRacy>, blocks, 256, 0, nullptr, in.data(), out.data(), n) != cudaSuccess) return false;
    for (int b = 0; b < blocks; ++b) {
        long long want = 0;
        for (int i = 0; i < 256; ++i) want += in[b * 256 + i];
        if (out[b] != want) return false;
    }
    return true;
}

void test_reduction() {
    ScheduleGuard g;
    for (Schedule s : kSchedules) {
        gk_emu::set_schedule(s, 42);
        CHECK(reduce_ok<false>(64));
    }
}

void test_missing_syncthreads_caught_by_schedule() {
#ifdef GK_EMU_TSAN
    std::printf("    skipped under TSan: the race is reported by the emu_tsan_missing_syncthreads test\n");
    return;
#endif
    ScheduleGuard g;
    int wrong = 0;
    for (Schedule s : kSchedules) {
        gk_emu::set_schedule(s, 42);
        bool ok = reduce_ok<true>(8);
        std::printf("    racy reduction under %s: %s\n", sched_name(s), ok ? "correct (race hidden)" : "WRONG (race exposed)");
        wrong += !ok;
    }
    CHECK(wrong >= 1);
}

// ------------------------------------------------------------------ shuffles --------------------
enum { OP_IDX, OP_UP, OP_DOWN, OP_XOR };

template <class T>
__global__ void k_shfl(T* out, int op, int param, int width) {
    T v = static_cast<T>(threadIdx.x * 7 + 1);
    T r;
    switch (op) {
    case OP_IDX: r = __shfl_sync(0xffffffffu, v, param, width); break;
    case OP_UP: r = __shfl_up_sync(0xffffffffu, v, static_cast<unsigned>(param), width); break;
    case OP_DOWN: r = __shfl_down_sync(0xffffffffu, v, static_cast<unsigned>(param), width); break;
    default: r = __shfl_xor_sync(0xffffffffu, v, param, width); break;
    }
    out[threadIdx.x] = r;
}

// CUDA semantics, written independently of the runtime: lanes form segments of `width`.
int expected_src(int op, int lane, int param, int width) {
    int seg = lane / width * width;
    switch (op) {
    case OP_IDX: return seg + ((param % width) + width) % width;
    case OP_UP: return lane - param >= seg ? lane - param : lane;
    case OP_DOWN: return lane + param < seg + width ? lane + param : lane;
    default: {
        int s = lane ^ param;
        return s < seg + width ? s : lane;
    }
    }
}

template <class T>
bool shfl_case(int op, int param, int width) {
    std::vector<T> out(64);
    if (gk_emu::launch(k_shfl<T>, 1, 64, 0, nullptr, out.data(), op, param, width) != cudaSuccess) {
        std::printf("    launch failed: %s\n", gk_emu::last_error_detail());
        return false;
    }
    for (int t = 0; t < 64; ++t) {
        int lane = t % 32, warp = t / 32;
        int src = warp * 32 + expected_src(op, lane, param, width);
        T want = static_cast<T>(src * 7 + 1);
        if (out[t] != want) {
            std::printf("    op %d param %d width %d thread %d: got %g want %g\n", op, param, width, t, static_cast<double>(out[t]),
                        static_cast<double>(want));
            return false;
        }
    }
    return true;
}

template <class T>
void shfl_all_widths() {
    const int params[] = {0, 1, 2, 3, 5, 7, 16, 31, -1, 33};
    for (int width = 1; width <= 32; width *= 2)
        for (int op = OP_IDX; op <= OP_XOR; ++op)
            for (int p : params) {
                if ((op == OP_UP || op == OP_DOWN) && p < 0) continue;
                if (op == OP_XOR && (p < 0 || p > 31)) continue;
                CHECK(shfl_case<T>(op, p, width));
            }
}

void test_shuffles() {
    shfl_all_widths<int>();
    shfl_all_widths<unsigned>();
    shfl_all_widths<float>();
    shfl_all_widths<double>();
    shfl_all_widths<long long>();
    shfl_all_widths<unsigned long long>();
}

// Sub-warp groups of G lanes shuffle independently, each group with its own trip count.
template <int G>
__global__ void k_subwarp(int* out) {
    int lane = threadIdx.x % 32;
    int group = lane / G;
    unsigned mask = (G == 32 ? 0xffffffffu : ((1u << G) - 1u)) << (group * G);
    int v = lane;
    int trips = group + 1;
    for (int it = 0; it < trips; ++it) {
        for (int off = G / 2; off > 0; off >>= 1) v += __shfl_xor_sync(mask, v, off, G);
        v = v % 1000 + it;
    }
    out[threadIdx.x] = v;
}

template <int G>
bool subwarp_ok() {
    std::vector<int> out(64, -1);
    if (gk_emu::launch(k_subwarp<G>, 1, 64, 0, nullptr, out.data()) != cudaSuccess) {
        std::printf("    %s\n", gk_emu::last_error_detail());
        return false;
    }
    for (int t = 0; t < 64; ++t) {
        int lane = t % 32, group = lane / G;
        std::vector<int> v(G);
        for (int j = 0; j < G; ++j) v[j] = group * G + j;
        for (int it = 0; it < group + 1; ++it) {
            for (int off = G / 2; off > 0; off >>= 1) {
                std::vector<int> n(G);
                for (int j = 0; j < G; ++j) n[j] = v[j] + v[j ^ off];
                v = n;
            }
            for (int j = 0; j < G; ++j) v[j] = v[j] % 1000 + it;
        }
        if (out[t] != v[lane % G]) return false;
    }
    return true;
}

void test_subwarp_groups() {
    ScheduleGuard g;
    for (Schedule s : kSchedules) {
        gk_emu::set_schedule(s, 7);
        CHECK(subwarp_ok<2>());
        CHECK(subwarp_ok<4>());
        CHECK(subwarp_ok<8>());
        CHECK(subwarp_ok<16>());
    }
}

// ------------------------------------------------------------------ votes -----------------------
__global__ void k_votes(unsigned* out) {
    unsigned lane = threadIdx.x % 32;
    int pred = (lane % 3) == 0;
    unsigned* o = out + 6 * threadIdx.x;
    o[0] = __ballot_sync(0xffffffffu, pred);
    o[1] = __any_sync(0xffffffffu, lane == 17);
    o[2] = __all_sync(0xffffffffu, lane < 32);
    // Two half-warps vote independently with their own masks.
    unsigned half = lane < 16 ? 0x0000ffffu : 0xffff0000u;
    o[3] = __ballot_sync(half, lane & 1);
    o[4] = __all_sync(half, lane < 16);
    o[5] = __any_sync(half, lane == 3);
}

void test_votes() {
    std::vector<unsigned> out(6 * 64);
    CHECK_CUDA(gk_emu::launch(k_votes, 1, 64, 0, nullptr, out.data()), cudaSuccess);
    unsigned every3 = 0;
    for (int l = 0; l < 32; l += 3) every3 |= 1u << l;
    for (int t = 0; t < 64; ++t) {
        unsigned lane = t % 32;
        const unsigned* o = &out[6 * t];
        CHECK(o[0] == every3);
        CHECK(o[1] == 1);
        CHECK(o[2] == 1);
        CHECK(o[3] == (lane < 16 ? 0x0000aaaau : 0xaaaa0000u));
        CHECK(o[4] == (lane < 16 ? 1u : 0u));
        CHECK(o[5] == (lane < 16 ? 1u : 0u));
    }
}

__global__ void k_syncthreads_reductions(int* out) {
    int t = threadIdx.x;
    out[3 * t + 0] = __syncthreads_count(t % 4 == 0);
    out[3 * t + 1] = __syncthreads_and(t < 1000);
    out[3 * t + 2] = __syncthreads_or(t == 77);
}

void test_syncthreads_count_and_or() {
    std::vector<int> out(3 * 96);
    CHECK_CUDA(gk_emu::launch(k_syncthreads_reductions, 1, 96, 0, nullptr, out.data()), cudaSuccess);
    for (int t = 0; t < 96; ++t) {
        CHECK(out[3 * t] == 24);
        CHECK(out[3 * t + 1] == 1);
        CHECK(out[3 * t + 2] == 1);
    }
}

// ------------------------------------------------------------------ partial last warp -----------
__global__ void k_partial(unsigned* out) {
    unsigned lane = threadIdx.x % 32;
    unsigned mask = __activemask();
    float v = static_cast<float>(threadIdx.x);
    // Warp 1 has 16 lanes: reduce over them with their exact mask.
    for (int off = 8; off > 0; off >>= 1) v += __shfl_down_sync(mask, v, off, 16);
    out[2 * threadIdx.x] = mask;
    out[2 * threadIdx.x + 1] = lane % 16 == 0 ? static_cast<unsigned>(v) : 0;
}

__global__ void k_partial_bad_mask(int* out) {
    out[threadIdx.x] = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x), 0);
}

void test_partial_last_warp() {
    std::vector<unsigned> out(2 * 48);
    CHECK_CUDA(gk_emu::launch(k_partial, 1, 48, 0, nullptr, out.data()), cudaSuccess);
    for (unsigned t = 0; t < 48; ++t) {
        CHECK(out[2 * t] == (t < 32 ? 0xffffffffu : 0x0000ffffu));
        if (t % 16 == 0) {
            unsigned want = 0;
            for (unsigned j = t; j < t + 16; ++j) want += j;
            CHECK(out[2 * t + 1] == want);
        }
    }
    std::vector<int> o(48);
    CHECK_CUDA(gk_emu::launch(k_partial_bad_mask, 1, 48, 0, nullptr, o.data()), cudaErrorLaunchFailure);
    CHECK_DETAIL("beyond blockDim");
    CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
    CHECK(cudaGetLastError() == cudaSuccess);
}

// ------------------------------------------------------------------ atomics ---------------------
struct AtomicOut {
    int i_add;
    unsigned u_add;
    long long ll_add;
    unsigned long long ull_add;
    float f_add;
    double d_add;
    int i_min, i_max;
    long long ll_min, ll_max;
    unsigned u_max;
    int cas_counter;
    unsigned or_bits, and_bits;
    int sub;
    unsigned exch_seen;
};

__global__ void k_atomics(AtomicOut* o) {
    int g = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
    atomicAdd(&o->i_add, 1);
    atomicAdd(&o->u_add, 2u);
    atomicAdd(&o->ll_add, static_cast<long long>(g));
    atomicAdd(&o->ull_add, 1ull << 33);
    atomicAdd(&o->f_add, 1.0f);
    atomicAdd(&o->d_add, 0.5);
    atomicMin(&o->i_min, 1000 - g);
    atomicMax(&o->i_max, g * 3);
    atomicMin(&o->ll_min, -static_cast<long long>(g) * 1000000000ll);
    atomicMax(&o->ll_max, static_cast<long long>(g) * 1000000000ll);
    atomicMax(&o->u_max, static_cast<unsigned>(g));
    int old = atomicAdd(&o->cas_counter, 0);
    while (true) {
        int seen = atomicCAS(&o->cas_counter, old, old + 1);
        if (seen == old) break;
        old = seen;
    }
    atomicOr(&o->or_bits, 1u << (g % 32));
    atomicAnd(&o->and_bits, ~(1u << (g % 16)));
    atomicSub(&o->sub, 3);
    atomicExch(&o->exch_seen, 1u);
}

void test_atomics() {
    const int blocks = 64, threads = 128, n = blocks * threads;
    AtomicOut o{};
    o.i_min = 1 << 30;
    o.i_max = -1;
    o.and_bits = 0xffffffffu;
    CHECK_CUDA(gk_emu::launch(k_atomics, blocks, threads, 0, nullptr, &o), cudaSuccess);
    CHECK(o.i_add == n);
    CHECK(o.u_add == 2u * n);
    CHECK(o.ll_add == static_cast<long long>(n) * (n - 1) / 2);
    CHECK(o.ull_add == static_cast<unsigned long long>(n) << 33);
    CHECK(o.f_add == static_cast<float>(n));
    CHECK(o.d_add == 0.5 * n);
    CHECK(o.i_min == 1000 - (n - 1));
    CHECK(o.i_max == 3 * (n - 1));
    CHECK(o.ll_min == -static_cast<long long>(n - 1) * 1000000000ll);
    CHECK(o.ll_max == static_cast<long long>(n - 1) * 1000000000ll);
    CHECK(o.u_max == static_cast<unsigned>(n - 1));
    CHECK(o.cas_counter == n);
    CHECK(o.or_bits == 0xffffffffu);
    CHECK(o.and_bits == 0xffff0000u);
    CHECK(o.sub == -3 * n);
    CHECK(o.exch_seen == 1u);
}

// ------------------------------------------------------------------ launch checks ---------------
__global__ void k_noop(int* p) {
    if (p && threadIdx.x == 0 && blockIdx.x == 0) *p = 1;
}

__global__ void k_dyn_fill(float* out) {
    float* s = gk_emu::shared_dynamic<float>();
    s[threadIdx.x] = static_cast<float>(threadIdx.x);
    __syncthreads();
    out[threadIdx.x] = s[(threadIdx.x + 1) % blockDim.x];
}

__global__ void k_static_big(int* out) {
    EMU_SHARED(char, big, 40 * 1024);
    big[threadIdx.x] = 1;
    __syncthreads();
    out[threadIdx.x] = big[0];
}

__global__ void k_static_too_big(int* out) {
    EMU_SHARED(char, huge, 48 * 1024 + 1);
    huge[threadIdx.x] = 1;
    out[0] = huge[0];
}

void test_launch_rejection() {
    int x = 0;
    CHECK_CUDA(gk_emu::launch(k_noop, 1, 1025, 0, nullptr, &x), cudaErrorInvalidConfiguration);
    CHECK(cudaPeekAtLastError() == cudaErrorInvalidConfiguration);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
    CHECK(cudaGetLastError() == cudaSuccess);
    CHECK_CUDA(gk_emu::launch(k_noop, 1, dim3(1, 1, 65), 0, nullptr, &x), cudaErrorInvalidConfiguration);
    CHECK_CUDA(gk_emu::launch(k_noop, 1, dim3(2048, 1, 1), 0, nullptr, &x), cudaErrorInvalidConfiguration);
    CHECK_CUDA(gk_emu::launch(k_noop, 1, 0, 0, nullptr, &x), cudaErrorInvalidConfiguration);
    CHECK_CUDA(gk_emu::launch(k_noop, 0, 32, 0, nullptr, &x), cudaErrorInvalidConfiguration);
    CHECK_CUDA(gk_emu::launch(k_noop, dim3(1, 65536, 1), 32, 0, nullptr, &x), cudaErrorInvalidConfiguration);
    CHECK_CUDA(gk_emu::launch(k_noop, 1, 32, 48 * 1024 + 1, nullptr, &x), cudaErrorInvalidValue);
    CHECK_DETAIL("cudaFuncSetAttribute");
    CHECK_CUDA(gk_emu::launch(k_noop, 1, 32, 0, reinterpret_cast<cudaStream_t>(0x1234), &x), cudaErrorInvalidResourceHandle);
    CHECK(x == 0);
    CHECK_CUDA(gk_emu::launch(k_noop, 1, 1024, 0, nullptr, &x), cudaSuccess);
    CHECK(x == 1);
    (void)cudaGetLastError();

    // Opt-in dynamic shared memory, as on sm_90.
    std::vector<float> out(256);
    CHECK_CUDA(gk_emu::launch(k_dyn_fill, 1, 256, 100000, nullptr, out.data()), cudaErrorInvalidValue);
    CHECK_CUDA(cudaFuncSetAttribute(k_dyn_fill, cudaFuncAttributeMaxDynamicSharedMemorySize, 232449), cudaErrorInvalidValue);
    CHECK_CUDA(cudaFuncSetAttribute(k_dyn_fill, cudaFuncAttributeMaxDynamicSharedMemorySize, 100000), cudaSuccess);
    CHECK_CUDA(gk_emu::launch(k_dyn_fill, 1, 256, 100000, nullptr, out.data()), cudaSuccess);
    for (int t = 0; t < 256; ++t) CHECK(out[t] == static_cast<float>((t + 1) % 256));

    // Static shared memory is discovered when the kernel runs.
    std::vector<int> o(64);
    CHECK_CUDA(gk_emu::launch(k_static_big, 1, 64, 0, nullptr, o.data()), cudaSuccess);
    CHECK_CUDA(gk_emu::launch(k_static_big, 1, 64, 10 * 1024, nullptr, o.data()), cudaErrorInvalidValue);
    CHECK_DETAIL("shared memory exceeds");
    CHECK_CUDA(gk_emu::launch(k_static_too_big, 1, 64, 0, nullptr, o.data()), cudaErrorInvalidValue);
    CHECK_DETAIL("48 KiB");
    (void)cudaGetLastError();
}

// ------------------------------------------------------------------ failures --------------------
__global__ void k_divergent_barrier(int* out) {
    if (threadIdx.x == 5) return;  // classic bug: early return before a barrier
    __syncthreads();
    out[blockIdx.x * blockDim.x + threadIdx.x] = 1;
}

__global__ void k_deadlock(int* out) {
    int v = static_cast<int>(threadIdx.x);
    if (threadIdx.x == 0) v = __shfl_sync(0x3u, v, 1);  // lane 1 never joins: it waits at the barrier
    else __syncthreads();
    out[blockIdx.x * blockDim.x + threadIdx.x] = v;
}

__global__ void k_shfl_exited_lane(int* out) {
    if (threadIdx.x % 32 == 5) return;
    out[threadIdx.x] = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x), 0);
}

__global__ void k_shfl_mask_mismatch(int* out) {
    unsigned lane = threadIdx.x % 32;
    unsigned mask = lane < 16 ? 0xffffffffu : 0xffff0000u;  // overlapping masks in flight
    out[threadIdx.x] = __shfl_sync(mask, static_cast<int>(lane), 0);
}

__global__ void k_shfl_caller_not_in_mask(int* out) {
    out[threadIdx.x] = __shfl_sync(0x1u, static_cast<int>(threadIdx.x), 0);
}

__global__ void k_trap(int* out) {
    if (blockIdx.x == 2 && threadIdx.x == 17) __trap();
    __syncthreads();
    out[blockIdx.x * blockDim.x + threadIdx.x] = 1;
}

__global__ void k_assert(int* out) {
    assert(threadIdx.x != 9);
    out[threadIdx.x] = 1;
}

__global__ void k_throws(int* out) {
    if (threadIdx.x == 3) throw std::runtime_error("boom");
    out[threadIdx.x] = 1;
}

void test_barrier_divergence() {
    std::vector<int> out(4 * 64, 0);
    CHECK_CUDA(gk_emu::launch(k_divergent_barrier, 4, 64, 0, nullptr, out.data()), cudaErrorLaunchFailure);
    CHECK_DETAIL("barrier divergence");
    std::printf("    detail: %s\n", gk_emu::last_error_detail());
    // Lenient mode lets exited threads count as arrived.
    gk_emu::set_strict_barriers(false);
    cudaError_t e = gk_emu::launch(k_divergent_barrier, 4, 64, 0, nullptr, out.data());
    gk_emu::set_strict_barriers(true);
    CHECK_CUDA(e, cudaSuccess);
    CHECK(out[4] == 1 && out[6] == 1);
    (void)cudaGetLastError();
}

void test_deadlock() {
    std::vector<int> out(2 * 64);
    CHECK_CUDA(gk_emu::launch(k_deadlock, 2, 64, 0, nullptr, out.data()), cudaErrorLaunchFailure);
    CHECK_DETAIL("deadlock");
    std::printf("    detail: %s\n", gk_emu::last_error_detail());
    // The process and the emulation carry on.
    CHECK(reduce_ok<false>(4));
    (void)cudaGetLastError();
}

void test_bad_shuffle_masks() {
    ScheduleGuard g;
    gk_emu::set_schedule(Schedule::Forward, 0);  // lanes 0-15 wait with the full mask when lane 16 arrives
    std::vector<int> out(64);
    CHECK_CUDA(gk_emu::launch(k_shfl_exited_lane, 1, 64, 0, nullptr, out.data()), cudaErrorLaunchFailure);
    CHECK_DETAIL("exited");
    std::printf("    detail: %s\n", gk_emu::last_error_detail());
    CHECK_CUDA(gk_emu::launch(k_shfl_mask_mismatch, 1, 32, 0, nullptr, out.data()), cudaErrorLaunchFailure);
    CHECK_DETAIL("overlapping");
    CHECK_CUDA(gk_emu::launch(k_shfl_caller_not_in_mask, 1, 32, 0, nullptr, out.data()), cudaErrorLaunchFailure);
    CHECK_DETAIL("does not include the calling lane");
    (void)cudaGetLastError();
}

void test_trap_assert_exception() {
    std::vector<int> out(4 * 64);
    CHECK_CUDA(gk_emu::launch(k_trap, 4, 64, 0, nullptr, out.data()), cudaErrorLaunchFailure);
    CHECK_DETAIL("block (2,0,0) thread (17,0,0): __trap()");
    CHECK_CUDA(gk_emu::launch(k_assert, 1, 32, 0, nullptr, out.data()), cudaErrorLaunchFailure);
    CHECK_DETAIL("device assert");
    std::printf("    detail: %s\n", gk_emu::last_error_detail());
    CHECK_CUDA(gk_emu::launch(k_throws, 1, 32, 0, nullptr, out.data()), cudaErrorLaunchFailure);
    CHECK_DETAIL("boom");
    CHECK_CUDA(gk_emu::launch_named("k_trap", k_trap, 4, 64, 0, nullptr, out.data()), cudaErrorLaunchFailure);
    CHECK_DETAIL("kernel k_trap: block (2,0,0)");
    // Fibers abandoned by the failures are rebuilt; everything still works.
    for (int i = 0; i < 3; ++i) CHECK(reduce_ok<false>(16));
    (void)cudaGetLastError();
}

// ------------------------------------------------------------------ shared memory ---------------
__global__ void k_shared_poison(unsigned* out, float* fout) {
    EMU_SHARED(unsigned, a, 64);
    EMU_SHARED(float, b, 64);
    unsigned never_written = a[threadIdx.x];  // poison
    float never_written_f = b[threadIdx.x];
    if (blockIdx.x == 0) {
        out[threadIdx.x] = never_written;
        fout[threadIdx.x] = never_written_f;
    }
    __syncthreads();
    a[threadIdx.x] = blockIdx.x;        // each block has its own storage
    __syncthreads();
    out[64 + threadIdx.x + 64 * blockIdx.x] = a[(threadIdx.x + 3) % 64];
}

__global__ void k_dyn_poison(float* out) {
    float* s = gk_emu::shared_dynamic<float>();
    out[threadIdx.x] = s[threadIdx.x];
    out[blockDim.x + threadIdx.x] = reinterpret_cast<std::uintptr_t>(s) % 16 == 0 ? 1.0f : 0.0f;
}

void test_shared_memory() {
    const int blocks = 8;
    std::vector<unsigned> out(64 + 64 * blocks);
    std::vector<float> fout(64);
    CHECK_CUDA(gk_emu::launch(k_shared_poison, blocks, 64, 0, nullptr, out.data(), fout.data()), cudaSuccess);
    for (int t = 0; t < 64; ++t) {
        CHECK(out[t] == 0xffffffffu);
        CHECK(std::isnan(fout[t]));
    }
    for (int b = 0; b < blocks; ++b)
        for (int t = 0; t < 64; ++t) CHECK(out[64 + t + 64 * b] == static_cast<unsigned>(b));
    std::vector<float> d(2 * 32);
    CHECK_CUDA(gk_emu::launch(k_dyn_poison, 1, 32, 32 * sizeof(float), nullptr, d.data()), cudaSuccess);
    for (int t = 0; t < 32; ++t) {
        CHECK(std::isnan(d[t]));
        CHECK(d[32 + t] == 1.0f);
    }
}

// __nanosleep yields: a spin-wait on another thread of the block makes progress.
__global__ void k_spin(int* out) {
    EMU_SHARED(int, flag, 1);
    if (threadIdx.x == 0) __atomic_store_n(flag, 0, __ATOMIC_SEQ_CST);
    __syncthreads();
    if (threadIdx.x == blockDim.x - 1) __atomic_store_n(flag, 42, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(flag, __ATOMIC_SEQ_CST) != 42) __nanosleep(100);
    out[threadIdx.x] = __atomic_load_n(flag, __ATOMIC_SEQ_CST);
}

void test_nanosleep_spin() {
    std::vector<int> out(64);
    CHECK_CUDA(gk_emu::launch(k_spin, 1, 64, 0, nullptr, out.data()), cudaSuccess);
    for (int v : out) CHECK(v == 42);
}

// A device intrinsic called from host code throws (the C ABI guard turns it into a status); the
// process carries on and kernels still run.
void test_intrinsic_outside_kernel_throws() {
    bool threw = false;
    try {
        __syncthreads();
    } catch (const std::logic_error& e) {
        threw = std::strstr(e.what(), "__syncthreads called outside a kernel launch") != nullptr;
    }
    CHECK(threw);
    std::vector<int> out(64);
    CHECK_CUDA(gk_emu::launch(k_spin, 1, 64, 0, nullptr, out.data()), cudaSuccess);
    for (int v : out) CHECK(v == 42);
}

// ------------------------------------------------------------------ concurrency -----------------
void test_concurrent_launches() {
    std::atomic<int> bad{0};
    std::vector<std::thread> hosts;
    for (int h = 0; h < 4; ++h)
        hosts.emplace_back([h, &bad] {
            for (int i = 0; i < (kSanitized ? 3 : 10); ++i) {
                if (!reduce_ok<false>(8 + h)) bad++;
                std::vector<int> out(2 * 32);
                if (gk_emu::launch(k_divergent_barrier, 2, 32, 0, nullptr, out.data()) != cudaErrorLaunchFailure) bad++;
                if (!std::strstr(gk_emu::last_error_detail(), "barrier divergence")) bad++;
            }
        });
    for (auto& t : hosts) t.join();
    CHECK(bad.load() == 0);
}

// ------------------------------------------------------------------ runtime shim ----------------
void test_runtime_shim() {
    void* p = nullptr;
    CHECK_CUDA(cudaMalloc(&p, 1000), cudaSuccess);
    CHECK(p != nullptr && reinterpret_cast<std::uintptr_t>(p) % 256 == 0);
    std::vector<char> h(1000, 7), back(1000, 0);
    CHECK_CUDA(cudaMemcpy(p, h.data(), 1000, cudaMemcpyHostToDevice), cudaSuccess);
    CHECK_CUDA(cudaMemsetAsync(p, 3, 10, nullptr), cudaSuccess);
    CHECK_CUDA(cudaMemcpyAsync(back.data(), p, 1000, cudaMemcpyDeviceToHost, nullptr), cudaSuccess);
    CHECK(back[0] == 3 && back[9] == 3 && back[10] == 7);
    CHECK_CUDA(cudaMemcpy(back.data(), p, 10, static_cast<cudaMemcpyKind>(5)), cudaErrorInvalidMemcpyDirection);
    CHECK_CUDA(cudaFree(p), cudaSuccess);
    CHECK_CUDA(cudaFree(h.data()), cudaErrorInvalidDevicePointer);
    cudaStream_t s = nullptr;
    CHECK_CUDA(cudaStreamCreate(&s), cudaSuccess);
    int x = 0;
    CHECK_CUDA(gk_emu::launch(k_noop, 1, 32, 0, s, &x), cudaSuccess);
    CHECK_CUDA(cudaStreamSynchronize(s), cudaSuccess);
    CHECK_CUDA(cudaStreamDestroy(s), cudaSuccess);
    CHECK(x == 1);
    int v = 0;
    CHECK_CUDA(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, 0), cudaSuccess);
    CHECK(v == 132);
    CHECK_CUDA(cudaDeviceGetAttribute(&v, cudaDevAttrComputeCapabilityMajor, 0), cudaSuccess);
    CHECK(v == 9);
    CHECK_CUDA(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0), cudaSuccess);
    CHECK(v == 232448);
    CHECK_CUDA(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlock, 0), cudaSuccess);
    CHECK(v == 49152);
    CHECK_CUDA(cudaDeviceGetAttribute(&v, cudaDevAttrMaxThreadsPerBlock, 1), cudaErrorInvalidDevice);
    CHECK(std::strcmp(cudaGetErrorName(cudaErrorLaunchFailure), "cudaErrorLaunchFailure") == 0);
    CHECK(std::strcmp(cudaGetErrorString(cudaSuccess), "no error") == 0);
    CHECK(cudaErrorInvalidValue == 1 && cudaErrorMemoryAllocation == 2 && cudaErrorInvalidConfiguration == 9 &&
          cudaErrorInvalidDevicePointer == 17 && cudaErrorLaunchFailure == 719 && cudaErrorNoDevice == 100 &&
          cudaErrorNotSupported == 801 && cudaErrorInvalidResourceHandle == 400);
    CHECK_CUDA(cudaRuntimeGetVersion(&v), cudaSuccess);
    (void)cudaGetLastError();
    CHECK(sizeof(float4) == 16 && alignof(float4) == 16 && alignof(int2) == 8 && alignof(double2) == 16 &&
          alignof(longlong2) == 16 && sizeof(float3) == 12);
    CHECK(__popc(0xf0f0u) == 8 && __ffs(0) == 0 && __ffs(8) == 4 && __clz(1) == 31 && __clz(0) == 32 && __popcll(~0ull) == 64);
    CHECK(__float_as_int(1.0f) == 0x3f800000 && __int_as_float(0x3f800000) == 1.0f && __brev(1u) == 0x80000000u);
    CHECK(min(3, 4) == 3 && max(2.5f, 1.0f) == 2.5f && min(static_cast<std::int64_t>(5), static_cast<std::int64_t>(-2)) == -2);
}

// ------------------------------------------------------------------ timing ----------------------
__global__ void k_reduce_f32(const float* in, float* out) {
    EMU_SHARED(float, s, 256);
    unsigned t = threadIdx.x;
    s[t] = in[blockIdx.x * blockDim.x + t];
    __syncthreads();
    for (unsigned stride = blockDim.x / 2; stride > 0; stride >>= 1) {
        if (t < stride) s[t] += s[t + stride];
        __syncthreads();
    }
    if (t == 0) out[blockIdx.x] = s[0];
}

__global__ void k_warp_shuffles(const float* in, float* out, int iters) {
    float v = in[blockIdx.x * blockDim.x + threadIdx.x];
    for (int it = 0; it < iters; ++it)
        for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off) * 0.5f;
    out[blockIdx.x * blockDim.x + threadIdx.x] = v;
}

double cpu_ms() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// Best wall time of `reps` runs, and the process CPU time of that run (the machine may be loaded).
template <class F>
double best_ms(F f, int reps, double* cpu = nullptr) {
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
        double c0 = cpu_ms();
        auto t0 = std::chrono::steady_clock::now();
        f();
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (ms < best) {
            best = ms;
            if (cpu) *cpu = cpu_ms() - c0;
        }
    }
    return best;
}

void test_timing() {
    const int blocks = kSanitized ? 32 : 256, n = blocks * 256;
    std::vector<float> in(n, 1.0f), out(blocks);
    bool ok = true;
    double cpu = 0, scpu = 0;
    double ms = best_ms([&] { ok &= gk_emu::launch(k_reduce_f32, blocks, 256, 0, nullptr, in.data(), out.data()) == cudaSuccess; }, kSanitized ? 1 : 5, &cpu);
    CHECK(ok);
    for (float v : out) CHECK(v == 256.0f);
    std::printf("    timing%s: shared-memory reduction, %d elements, %d blocks x 256 threads: %.2f ms wall, %.2f ms CPU (%d workers)\n",
                kSanitized ? " (sanitizer build)" : "", n, blocks, ms, cpu, gk_emu::worker_count());
    const int sblocks = kSanitized ? 8 : 64, iters = 40;
    std::vector<float> sin(sblocks * 256, 1.0f), sout(sblocks * 256);
    double sms = best_ms([&] { ok &= gk_emu::launch(k_warp_shuffles, sblocks, 256, 0, nullptr, sin.data(), sout.data(), iters) == cudaSuccess; }, kSanitized ? 1 : 3, &scpu);
    CHECK(ok);
    const long warp_ops = static_cast<long>(sblocks) * 8 * iters * 5;
    std::printf("    timing: %ld warp-wide __shfl_xor_sync (%ld lane-level): %.2f ms wall, %.2f ms CPU\n", warp_ops, warp_ops * 32, sms, scpu);
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<Case> cases = {
        {"emu_indices_3d", test_indices_3d},
        {"emu_reduction_all_schedules", test_reduction},
        {"emu_missing_syncthreads_wrong_in_some_schedule", test_missing_syncthreads_caught_by_schedule},
        {"emu_shuffles_idx_up_down_xor_widths_1_to_32", test_shuffles},
        {"emu_subwarp_groups_different_trip_counts", test_subwarp_groups},
        {"emu_ballot_any_all_masks", test_votes},
        {"emu_syncthreads_count_and_or", test_syncthreads_count_and_or},
        {"emu_partial_last_warp", test_partial_last_warp},
        {"emu_atomics_many_blocks", test_atomics},
        {"emu_launch_rejection", test_launch_rejection},
        {"emu_barrier_divergence", test_barrier_divergence},
        {"emu_deadlock", test_deadlock},
        {"emu_bad_shuffle_masks", test_bad_shuffle_masks},
        {"emu_trap_assert_exception", test_trap_assert_exception},
        {"emu_shared_memory_poison_and_per_block", test_shared_memory},
        {"emu_nanosleep_spin_wait", test_nanosleep_spin},
        {"emu_intrinsic_outside_kernel_throws", test_intrinsic_outside_kernel_throws},
        {"emu_concurrent_launches_4_host_threads", test_concurrent_launches},
        {"emu_runtime_shim", test_runtime_shim},
        {"emu_timing", test_timing},
    };
    return emu_test::run_all(cases, argc, argv);
}
