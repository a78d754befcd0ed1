// gk_emulation.cpp — the runtime behind gk_emulation.h: fibers, the block scheduler, warp
// rendezvous, shared memory, the worker pool and the CUDA runtime shim. Design: see the header.
#include <stdexcept>
#include <string>
#include "gk_emulation.h"

#include <sys/mman.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdarg>
#include <deque>
#include <unordered_map>
#include <unordered_set>

#if !defined(__x86_64__) || defined(GK_EMU_USE_UCONTEXT)
#include <ucontext.h>
#define GK_EMU_UCONTEXT 1
#endif
#ifdef GK_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef GK_EMU_TSAN
#include <sanitizer/tsan_interface.h>
extern "C" void __tsan_ignore_thread_begin(void);
extern "C" void __tsan_ignore_thread_end(void);
#endif

__thread gk_emu::ThreadCtx* gk_emu_tls_ctx = nullptr;

// ------------------------------------------------------------------ context switch ---------------
#ifndef GK_EMU_UCONTEXT
// void gk_emu_switch_context(void** save_sp, void* new_sp): saves the callee-saved state of the
// System V x86-64 ABI (rbx rbp r12-r15, MXCSR, x87 control word) on the current stack, stores rsp in
// *save_sp, switches to new_sp and restores the same layout from there.
// A fresh fiber's stack holds that layout with the return address = gk_emu_fiber_trampoline,
// r12 = the Fiber*, r13 = the entry function.
asm(R"(
    .text
    .p2align 4
    .globl gk_emu_switch_context
    .hidden gk_emu_switch_context
    .type gk_emu_switch_context,@function
gk_emu_switch_context:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size gk_emu_switch_context, .-gk_emu_switch_context

    .p2align 4
    .globl gk_emu_fiber_trampoline
    .hidden gk_emu_fiber_trampoline
    .type gk_emu_fiber_trampoline,@function
gk_emu_fiber_trampoline:
    movq %r12, %rdi
    callq *%r13
    ud2
    .size gk_emu_fiber_trampoline, .-gk_emu_fiber_trampoline
)");
extern "C" GK_EMU_HIDDEN void gk_emu_switch_context(void** save_sp, void* new_sp);
extern "C" GK_EMU_HIDDEN void gk_emu_fiber_trampoline();
#endif

namespace gk_emu {
namespace {

// ------------------------------------------------------------------ sanitizer helpers ------------
#ifdef GK_EMU_TSAN
inline void tsan_ignore_begin() { __tsan_ignore_thread_begin(); }
inline void tsan_ignore_end() { __tsan_ignore_thread_end(); }
inline void tsan_release(void* a) { __tsan_release(a); }
inline void tsan_acquire(void* a) { __tsan_acquire(a); }
#else
inline void tsan_ignore_begin() {}
inline void tsan_ignore_end() {}
inline void tsan_release(void*) {}
inline void tsan_acquire(void*) {}
#endif
// The runtime's own bookkeeping is touched by several fibers (TSan "threads") without
// happens-before between them; only the kernel's accesses are of interest.
struct IgnoreScope {
    IgnoreScope() { tsan_ignore_begin(); }
    ~IgnoreScope() { tsan_ignore_end(); }
    IgnoreScope(const IgnoreScope&) = delete;
    IgnoreScope& operator=(const IgnoreScope&) = delete;
};

// The same, in a fiber's context, counted so that an abandoned fiber's scopes can be closed.
template <class F> struct FiberIgnore {
    F& f;
    explicit FiberIgnore(F& fib) : f(fib) {
        tsan_ignore_begin();
        ++f.ignores;
    }
    ~FiberIgnore() {
        --f.ignores;
        tsan_ignore_end();
    }
    FiberIgnore(const FiberIgnore&) = delete;
    FiberIgnore& operator=(const FiberIgnore&) = delete;
};

constexpr std::size_t kStaticSharedMax = 48 * 1024;
constexpr std::size_t kSharedOptinMax = 227 * 1024;  // 232448 bytes, sm_90
constexpr unsigned char kPoison = 0xFF;
constexpr std::uint64_t kPoisonBits = ~0ull;

// ------------------------------------------------------------------ settings ---------------------
struct Settings {
    int workers = 2;
    std::size_t stack_bytes = 64 * 1024;
    std::atomic<int> schedule{0};
    std::atomic<std::uint64_t> seed{0};
    std::atomic<bool> strict{true};
    Settings() {
        unsigned hc = std::thread::hardware_concurrency();
        workers = static_cast<int>(std::max(2u, hc));
        if (const char* s = std::getenv("GK_EMU_WORKERS")) {
            int v = std::atoi(s);
            if (v >= 1 && v <= 1024) workers = v;
        }
#if defined(GK_EMU_ASAN) || defined(GK_EMU_TSAN)
        stack_bytes = 512 * 1024;
#endif
        if (const char* s = std::getenv("GK_EMU_STACK_KB")) {
            long v = std::atol(s);
            if (v >= 16 && v <= 64 * 1024) stack_bytes = static_cast<std::size_t>(v) * 1024;
        }
        if (const char* s = std::getenv("GK_EMU_SCHEDULE")) {
            if (!std::strcmp(s, "reverse")) schedule = 1;
            else if (!std::strcmp(s, "shuffle")) schedule = 2;
        }
        if (const char* s = std::getenv("GK_EMU_SEED")) seed = std::strtoull(s, nullptr, 0);
        if (const char* s = std::getenv("GK_EMU_BARRIER")) strict = std::strcmp(s, "lenient") != 0;
    }
};
Settings& settings() {
    static Settings s;
    return s;
}

// ------------------------------------------------------------------ per-thread error -------------
thread_local cudaError_t t_last_error = cudaSuccess;
thread_local std::string t_last_detail;

// ------------------------------------------------------------------ structures -------------------
enum class TState : std::uint8_t { Ready, Running, WaitBarrier, WaitWarp, Exited, Failed };

struct Worker;
struct Launch;

struct RawCtx {
#ifdef GK_EMU_UCONTEXT
    ucontext_t uc;
#else
    void* sp = nullptr;
#endif
};

struct Fiber {
    Worker* worker = nullptr;
    unsigned index = 0;
    char* map_base = nullptr;
    std::size_t map_size = 0;
    char* stack_lo = nullptr;
    std::size_t stack_size = 0;
    RawCtx rc;
    void* tsan_fiber = nullptr;
    void* asan_fake = nullptr;
    bool in_kernel = false;  // started a CUDA thread that has not exited
    bool started = false;    // has entered fiber_main (then it is parked inside the runtime)
    int ignores = 0;         // open TSan ignore scopes of this fiber's context
    TState state = TState::Ready;
    ThreadCtx ctx{};
    char name[32] = {0};
};

struct Group {
    unsigned mask;
    unsigned arrived;
    WarpOp op;
    int width;
};

struct Warp {
    unsigned exists = 0;
    unsigned exited = 0;
    int ngroups = 0;
    Group groups[32];
    std::uint64_t val[32];
    int param[32];
    std::uint64_t result[32];
};

struct Block {
    Launch* L = nullptr;
    Worker* w = nullptr;
    uint3 idx{0, 0, 0};
    dim3 bdim;
    unsigned n = 0;
    unsigned live = 0;
    unsigned exited = 0;
    int first_exited = -1;
    unsigned bar_arrived = 0;
    int bar_count = 0, bar_and = 1, bar_or = 0, bar_result = 0;
    BarrierOp bar_op = BarrierOp::Sync;
    std::vector<unsigned> ready, next;  // the batch being run (from ready_pos) and the next batch
    std::size_t ready_pos = 0;
    std::vector<Warp> warps;
    char* sync = nullptr;  // TSan sync objects: [0] the barrier, [1 + 32*w + lane] warp groups
    void* dyn = nullptr;
    std::size_t dyn_bytes = 0;
    struct Static {
        const void* key;
        void* ptr;
        std::size_t bytes;
    };
    std::vector<Static> statics;
    std::size_t static_bytes = 0;
    bool failed = false;
    cudaError_t err = cudaSuccess;
    char detail[1024] = {0};
    std::uint64_t rng = 0;
};

struct Worker {
    std::vector<std::unique_ptr<Fiber>> fibers;
    RawCtx sched;
    const void* sched_stack_bottom = nullptr;
    std::size_t sched_stack_size = 0;
    void* sched_fake = nullptr;
    bool from_sched = false;  // the running fiber was entered from the scheduler (ASan bounds)
    void* tsan_sched = nullptr;
    Block block;
    Worker() {
#ifdef GK_EMU_TSAN
        tsan_sched = __tsan_get_current_fiber();
#endif
    }
    ~Worker() {
        for (auto& f : fibers) {
#ifdef GK_EMU_TSAN
            // A parked fiber sits inside the runtime's ignore scope: close it in the fiber's own
            // context first (and touch no memory while in it).
            void* const fiber_ctx = f->tsan_fiber;
            void* const sched_ctx = tsan_sched;
            const int ignores = f->ignores;
            if (fiber_ctx) {
                __tsan_switch_to_fiber(fiber_ctx, __tsan_switch_to_fiber_no_sync);
                for (int i = 0; i < ignores; ++i) __tsan_ignore_thread_end();
                __tsan_switch_to_fiber(sched_ctx, __tsan_switch_to_fiber_no_sync);
                __tsan_destroy_fiber(fiber_ctx);
            }
#endif
#ifdef GK_EMU_ASAN
            if (f->stack_lo) __asan_unpoison_memory_region(f->stack_lo, f->stack_size);
#endif
            if (f->map_base) munmap(f->map_base, f->map_size);
        }
    }
};

struct Launch {
    LaunchDesc d;
    std::uint64_t nblocks = 0;
    bool attr_set = false;
    Schedule schedule = Schedule::Forward;
    std::uint64_t seed = 0;
    bool strict = true;
    std::atomic<std::uint64_t> next{0};
    std::atomic<bool> failed{false};
    std::mutex mu;
    std::condition_variable cv;
    int active = 0;
    cudaError_t err = cudaSuccess;
    std::string detail;
    char tsan_start = 0;
    char tsan_end = 0;
};

thread_local std::unique_ptr<Worker> t_worker;
Worker& this_worker() {
    if (!t_worker) t_worker = std::make_unique<Worker>();
    return *t_worker;
}

inline Fiber* current_fiber() {
    ThreadCtx* c = gk_emu_tls_ctx;
    return c ? static_cast<Fiber*>(c->fiber) : nullptr;
}

// A device intrinsic called from host code (a compile error under nvcc). It throws rather than
// ending the process: the C ABI's exception guard turns it into GK_ERROR_INTERNAL.
[[noreturn]] void host_misuse(const char* what) {
    throw std::logic_error(std::string("gk_emulation: ") + what + " called outside a kernel launch");
}

Fiber& need_fiber(const char* what) {
    Fiber* f = current_fiber();
    if (!f) host_misuse(what);
    return *f;
}

const char* op_name(WarpOp op) {
    switch (op) {
    case WarpOp::Sync: return "__syncwarp";
    case WarpOp::ShflIdx: return "__shfl_sync";
    case WarpOp::ShflUp: return "__shfl_up_sync";
    case WarpOp::ShflDown: return "__shfl_down_sync";
    case WarpOp::ShflXor: return "__shfl_xor_sync";
    case WarpOp::Ballot: return "__ballot_sync/__any_sync/__all_sync";
    }
    return "?";
}

std::string thread_str(const Block& b, unsigned tid) {
    char buf[64];
    unsigned x = tid % b.bdim.x, y = (tid / b.bdim.x) % b.bdim.y, z = tid / (b.bdim.x * b.bdim.y);
    std::snprintf(buf, sizeof buf, "(%u,%u,%u)", x, y, z);
    return buf;
}

// Records the block's first failure: "kernel K: block (x,y,z) thread (x,y,z): message".
void vset_failure(Block& b, int tid, cudaError_t code, const char* fmt, va_list ap) {
    if (b.failed) return;
    b.failed = true;
    b.err = code;
    int off = 0;
    if (b.L && b.L->d.name) off += std::snprintf(b.detail + off, sizeof b.detail - off, "kernel %s: ", b.L->d.name);
    off += std::snprintf(b.detail + off, sizeof b.detail - off, "block (%u,%u,%u)", b.idx.x, b.idx.y, b.idx.z);
    if (tid >= 0) off += std::snprintf(b.detail + off, sizeof b.detail - off, " thread %s", thread_str(b, tid).c_str());
    off += std::snprintf(b.detail + off, sizeof b.detail - off, ": ");
    if (off < static_cast<int>(sizeof b.detail)) std::vsnprintf(b.detail + off, sizeof b.detail - off, fmt, ap);
}
void set_failure(Block& b, int tid, cudaError_t code, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vset_failure(b, tid, code, fmt, ap);
    va_end(ap);
}

// ------------------------------------------------------------------ fibers -----------------------
void fiber_main(Fiber* f);

void raw_switch(RawCtx& from, RawCtx& to) {
#ifdef GK_EMU_UCONTEXT
    swapcontext(&from.uc, &to.uc);
#else
    gk_emu_switch_context(&from.sp, to.sp);
#endif
}

#ifdef GK_EMU_UCONTEXT
void uc_entry(unsigned hi, unsigned lo) {
    fiber_main(reinterpret_cast<Fiber*>((static_cast<std::uintptr_t>(hi) << 32) | lo));
}
#endif

void init_frame(Fiber& f) {
#ifdef GK_EMU_UCONTEXT
    getcontext(&f.rc.uc);
    f.rc.uc.uc_stack.ss_sp = f.stack_lo;
    f.rc.uc.uc_stack.ss_size = f.stack_size;
    f.rc.uc.uc_link = nullptr;
    auto p = reinterpret_cast<std::uintptr_t>(&f);
    makecontext(&f.rc.uc, reinterpret_cast<void (*)()>(&uc_entry), 2, static_cast<unsigned>(p >> 32),
                static_cast<unsigned>(p & 0xffffffffu));
#else
    // Stack tops are staggered by 64 bytes per fiber: otherwise the hot top lines of all the
    // fibers' stacks alias the same cache sets (they are a multiple of the page size apart).
    auto top = (reinterpret_cast<std::uintptr_t>(f.stack_lo) + f.stack_size - 64 * (f.index % 64)) & ~std::uintptr_t(15);
    auto* sp = reinterpret_cast<std::uint64_t*>(top);
    std::uint32_t mxcsr = 0;
    std::uint16_t fpucw = 0;
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(fpucw));
    sp[-1] = reinterpret_cast<std::uint64_t>(&gk_emu_fiber_trampoline);  // return address
    sp[-2] = 0;                                                         // rbp: ends frame chains
    sp[-3] = 0;                                                         // rbx
    sp[-4] = reinterpret_cast<std::uint64_t>(&f);                       // r12: argument
    sp[-5] = reinterpret_cast<std::uint64_t>(&fiber_main);              // r13: entry
    sp[-6] = 0;                                                         // r14
    sp[-7] = 0;                                                         // r15
    sp[-8] = mxcsr | (static_cast<std::uint64_t>(fpucw) << 32);
    f.rc.sp = &sp[-8];
#endif
}

std::unique_ptr<Fiber> make_fiber(Worker& w, unsigned index) {
    auto f = std::make_unique<Fiber>();
    f->worker = &w;
    f->index = index;
    std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    f->stack_size = (settings().stack_bytes + page - 1) / page * page;
    f->map_size = f->stack_size + page;
    void* m = mmap(nullptr, f->map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                   -1, 0);
    if (m == MAP_FAILED) throw std::bad_alloc();
    f->map_base = static_cast<char*>(m);
    mprotect(f->map_base, page, PROT_NONE);  // guard page: a stack overflow faults
    f->stack_lo = f->map_base + page;
#ifdef GK_EMU_ASAN
    // mmap may hand back addresses whose shadow still holds poison from an earlier user (a joined
    // thread's stack, an unmapped fiber stack): clear it, or the first frame write is reported.
    __asan_unpoison_memory_region(f->stack_lo, f->stack_size);
#endif
#ifdef GK_EMU_TSAN
    f->tsan_fiber = __tsan_create_fiber(0);
    std::snprintf(f->name, sizeof f->name, "gk_emu fiber %u", index);
    __tsan_set_fiber_name(f->tsan_fiber, f->name);
#endif
    init_frame(*f);
    return f;
}

// A fiber abandoned mid-kernel by a failed block gets a fresh stack frame and TSan context. Its
// kernel accesses still happen-before the launch returns (`launch_end`), like those of the others.
void rebuild_fiber(Fiber& f, void* launch_end, void* sched_ctx) {
#ifdef GK_EMU_ASAN
    __asan_unpoison_memory_region(f.stack_lo, f.stack_size);
    f.asan_fake = nullptr;
#endif
#ifdef GK_EMU_TSAN
    void* const fiber_ctx = f.tsan_fiber;
    const int ignores = f.ignores;
    __tsan_switch_to_fiber(fiber_ctx, __tsan_switch_to_fiber_no_sync);
    __tsan_release(launch_end);
    for (int i = 0; i < ignores; ++i) __tsan_ignore_thread_end();
    __tsan_switch_to_fiber(sched_ctx, __tsan_switch_to_fiber_no_sync);
    __tsan_destroy_fiber(fiber_ctx);
    f.tsan_fiber = __tsan_create_fiber(0);
    __tsan_set_fiber_name(f.tsan_fiber, f.name);
#endif
    (void)launch_end;
    (void)sched_ctx;
    init_frame(f);
    f.ignores = 0;
    f.started = false;
    f.in_kernel = false;
}

// scheduler -> fiber
void switch_in(Worker& w, Fiber& f) {
#ifdef GK_EMU_ASAN
    __sanitizer_start_switch_fiber(&w.sched_fake, f.stack_lo, f.stack_size);
    w.from_sched = true;
#endif
#ifdef GK_EMU_TSAN
    __tsan_switch_to_fiber(f.tsan_fiber, __tsan_switch_to_fiber_no_sync);
#endif
    raw_switch(w.sched, f.rc);
#ifdef GK_EMU_ASAN
    __sanitizer_finish_switch_fiber(w.sched_fake, nullptr, nullptr);
#endif
}

// fiber -> scheduler. `forever`: this fiber is abandoned and never resumed.
void switch_out(Worker& w, Fiber& f, bool forever) {
#ifdef GK_EMU_ASAN
    __sanitizer_start_switch_fiber(forever ? nullptr : &f.asan_fake, w.sched_stack_bottom, w.sched_stack_size);
#endif
#ifdef GK_EMU_TSAN
    __tsan_switch_to_fiber(w.tsan_sched, __tsan_switch_to_fiber_no_sync);
#endif
    raw_switch(f.rc, w.sched);
#ifdef GK_EMU_ASAN
    __sanitizer_finish_switch_fiber(f.asan_fake, nullptr, nullptr);
#endif
    (void)forever;
}

// fiber -> fiber, without going through the scheduler.
void switch_fiber(Worker& w, Fiber& from, Fiber& to) {
#ifdef GK_EMU_ASAN
    __sanitizer_start_switch_fiber(&from.asan_fake, to.stack_lo, to.stack_size);
    w.from_sched = false;
#endif
#ifdef GK_EMU_TSAN
    __tsan_switch_to_fiber(to.tsan_fiber, __tsan_switch_to_fiber_no_sync);
#endif
    raw_switch(from.rc, to.rc);
#ifdef GK_EMU_ASAN
    __sanitizer_finish_switch_fiber(from.asan_fake, nullptr, nullptr);
#endif
    (void)w;
}

void order_ready(Block& b);

// The next fiber to run in this block, in schedule order; null when none is runnable (the block
// is done, failed or deadlocked).
Fiber* pick_next(Block& b) {
    for (;;) {
        if (b.failed) return nullptr;
        if (b.ready_pos < b.ready.size()) return b.w->fibers[b.ready[b.ready_pos++]].get();
        if (b.next.empty()) return nullptr;
        std::swap(b.ready, b.next);
        b.next.clear();
        b.ready_pos = 0;
        order_ready(b);
    }
}

// The running fiber `f` stops (it waits, yields or has exited); run whatever is next. Returns when
// `f` is resumed.
void run_next(Worker& w, Fiber& f) {
    Fiber* n = pick_next(w.block);
    if (n == &f) {
        f.state = TState::Running;
        return;
    }
    if (n) {
        n->state = TState::Running;
        gk_emu_tls_ctx = &n->ctx;
        switch_fiber(w, f, *n);
    } else {
        gk_emu_tls_ctx = nullptr;
        switch_out(w, f, false);
    }
}

[[noreturn]] void vfail_current(cudaError_t code, const char* fmt, va_list ap) {
    Fiber& f = *current_fiber();
    if (f.ignores == 0) {  // called from kernel code (__trap, assert): the runtime's accesses follow
        tsan_ignore_begin();
        ++f.ignores;
    }
    Block& b = f.worker->block;
    vset_failure(b, static_cast<int>(f.ctx.tid), code, fmt, ap);
    f.state = TState::Failed;
    gk_emu_tls_ctx = nullptr;
    switch_out(*f.worker, f, true);
    __builtin_unreachable();  // a failed fiber is never resumed
}
[[noreturn]] void fail_current(cudaError_t code, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail_current(code, fmt, ap);
}

inline Fiber& fiber_of(Block& b, unsigned tid) { return *b.w->fibers[tid]; }

// The thread leaves the kernel: a lane named by a pending warp rendezvous, or a barrier others wait
// at, can now never complete.
void on_thread_exit(Block& b, Fiber& f) {
    unsigned tid = f.ctx.tid;
    b.live--;
    b.exited++;
    if (b.first_exited < 0) b.first_exited = static_cast<int>(tid);
    Warp& wp = b.warps[f.ctx.warp];
    unsigned bit = 1u << f.ctx.lane;
    wp.exited |= bit;
    for (int i = 0; i < wp.ngroups; ++i) {
        const Group& g = wp.groups[i];
        if (g.mask & bit)
            set_failure(b, static_cast<int>(tid), cudaErrorLaunchFailure,
                        "exited while lanes 0x%08x of warp %u wait in %s with mask 0x%08x, which names this lane (%u)",
                        g.arrived, f.ctx.warp, op_name(g.op), g.mask, f.ctx.lane);
    }
    if (b.bar_arrived > 0) {
        if (b.L->strict) {
            unsigned waiter = 0;
            for (unsigned t = 0; t < b.n; ++t)
                if (fiber_of(b, t).state == TState::WaitBarrier) { waiter = t; break; }
            set_failure(b, static_cast<int>(tid), cudaErrorLaunchFailure,
                        "barrier divergence: exited while %u of the block's %u threads wait at __syncthreads "
                        "(thread %s among them)",
                        b.bar_arrived, b.n, thread_str(b, waiter).c_str());
        } else if (b.bar_arrived == b.live) {
            b.bar_result = b.bar_op == BarrierOp::Count ? b.bar_count : b.bar_op == BarrierOp::And ? b.bar_and : b.bar_or;
            b.bar_arrived = 0;
            for (unsigned t = 0; t < b.n; ++t) {
                Fiber& o = fiber_of(b, t);
                if (o.state == TState::WaitBarrier) {
                    o.state = TState::Ready;
                    b.next.push_back(t);
                }
            }
        }
    }
}

void fiber_main(Fiber* f) {
#ifdef GK_EMU_ASAN
    {
        const void* bottom = nullptr;
        std::size_t size = 0;
        __sanitizer_finish_switch_fiber(nullptr, &bottom, &size);
        if (f->worker->from_sched) {
            f->worker->sched_stack_bottom = bottom;
            f->worker->sched_stack_size = size;
        }
    }
#endif
    tsan_ignore_begin();
    f->ignores = 1;
    f->started = true;
    for (;;) {
        Worker& w = *f->worker;
        Block& b = w.block;
        Launch& L = *b.L;
        auto thunk = L.d.thunk;
        const void* kernel = L.d.kernel;
        const void* args = L.d.args;
        f->in_kernel = true;
        tsan_acquire(&L.tsan_start);
        bool threw = false;
        char what[256] = {0};
        f->ignores = 0;
        tsan_ignore_end();
        try {
            thunk(kernel, args);
        } catch (const std::exception& e) {
            threw = true;
            std::snprintf(what, sizeof what, "%s", e.what());
        } catch (...) {
            threw = true;
            std::snprintf(what, sizeof what, "(not a std::exception)");
        }
        tsan_ignore_begin();
        f->ignores = 1;
        tsan_release(&L.tsan_end);
        f->in_kernel = false;
        if (threw) set_failure(b, static_cast<int>(f->ctx.tid), cudaErrorLaunchFailure, "kernel code threw an exception: %s", what);
        on_thread_exit(b, *f);
        f->state = TState::Exited;
        run_next(w, *f);
        // Resumed: the scheduler has given this fiber a new CUDA thread.
    }
}

// ------------------------------------------------------------------ the block scheduler ----------
std::uint64_t splitmix64(std::uint64_t& s) {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void order_ready(Block& b) {
    auto& r = b.ready;
    switch (b.L->schedule) {
    case Schedule::Forward:
        if (!std::is_sorted(r.begin(), r.end())) std::sort(r.begin(), r.end());
        break;
    case Schedule::Reverse:
        if (!std::is_sorted(r.begin(), r.end(), std::greater<unsigned>())) std::sort(r.begin(), r.end(), std::greater<unsigned>());
        break;
    case Schedule::Shuffle:
        for (std::size_t i = r.size(); i > 1; --i) std::swap(r[i - 1], r[splitmix64(b.rng) % i]);
        break;
    }
}

void describe_deadlock(Block& b) {
    std::string s = "deadlock: no thread can run;";
    unsigned at_bar = 0;
    int first_bar = -1;
    for (unsigned t = 0; t < b.n; ++t)
        if (fiber_of(b, t).state == TState::WaitBarrier) {
            if (first_bar < 0) first_bar = static_cast<int>(t);
            at_bar++;
        }
    char buf[256];
    if (at_bar) {
        std::snprintf(buf, sizeof buf, " %u threads wait at __syncthreads (thread %s among them);", at_bar,
                      thread_str(b, static_cast<unsigned>(first_bar)).c_str());
        s += buf;
    }
    int shown = 0;
    for (unsigned wi = 0; wi < b.warps.size() && shown < 4; ++wi) {
        const Warp& wp = b.warps[wi];
        for (int i = 0; i < wp.ngroups && shown < 4; ++i, ++shown) {
            const Group& g = wp.groups[i];
            std::snprintf(buf, sizeof buf, " warp %u: lanes 0x%08x wait in %s with mask 0x%08x (lanes 0x%08x missing);", wi,
                          g.arrived, op_name(g.op), g.mask, g.mask & ~g.arrived);
            s += buf;
        }
    }
    set_failure(b, -1, cudaErrorLaunchFailure, "%s", s.c_str());
}

void run_block(Worker& w, Launch& L, std::uint64_t linear) {
    Block& b = w.block;
    const dim3 bd = L.d.block, gd = L.d.grid;
    const unsigned n = bd.x * bd.y * bd.z;
    while (w.fibers.size() < n) w.fibers.push_back(make_fiber(w, static_cast<unsigned>(w.fibers.size())));

    b.L = &L;
    b.w = &w;
    b.idx = uint3{static_cast<unsigned>(linear % gd.x), static_cast<unsigned>((linear / gd.x) % gd.y),
                  static_cast<unsigned>(linear / (static_cast<std::uint64_t>(gd.x) * gd.y))};
    b.bdim = bd;
    b.n = n;
    b.live = n;
    b.exited = 0;
    b.first_exited = -1;
    b.bar_arrived = 0;
    b.failed = false;
    b.err = cudaSuccess;
    b.detail[0] = 0;
    b.rng = L.seed ^ (linear * 0xD1B54A32D192ED03ull);
    const unsigned nwarps = (n + 31) / 32;
    b.warps.assign(nwarps, Warp{});
    for (unsigned wi = 0; wi < nwarps; ++wi) {
        unsigned lanes = std::min(32u, n - wi * 32);
        b.warps[wi].exists = lanes == 32 ? 0xffffffffu : ((1u << lanes) - 1u);
    }
    b.sync = static_cast<char*>(std::malloc(1 + 32 * nwarps));
    b.dyn_bytes = L.d.dyn_smem;
    b.dyn = std::malloc(b.dyn_bytes);  // exact size (malloc(0) is a unique pointer): ASan redzones
    if (!b.sync || (!b.dyn && b.dyn_bytes)) {
        std::free(b.sync);
        std::free(b.dyn);
        throw std::bad_alloc();
    }
    std::memset(b.dyn, kPoison, b.dyn_bytes);
    b.statics.clear();
    b.static_bytes = 0;
    b.ready.clear();
    b.next.clear();
    b.ready.reserve(n);
    b.next.reserve(n);

    for (unsigned t = 0; t < n; ++t) {
        Fiber& f = fiber_of(b, t);
        f.ctx.thread_idx = uint3{t % bd.x, (t / bd.x) % bd.y, t / (bd.x * bd.y)};
        f.ctx.block_idx = b.idx;
        f.ctx.block_dim = bd;
        f.ctx.grid_dim = gd;
        f.ctx.tid = t;
        f.ctx.lane = t & 31u;
        f.ctx.warp = t >> 5;
        f.ctx.fiber = &f;
        f.state = TState::Ready;
        b.next.push_back(t);
    }

    b.ready_pos = 0;
    // Fibers switch among themselves; control comes back here when none is runnable.
    if (Fiber* first = pick_next(b)) {
        first->state = TState::Running;
        gk_emu_tls_ctx = &first->ctx;
        switch_in(w, *first);
        gk_emu_tls_ctx = nullptr;
    }
    if (!b.failed && b.live > 0) describe_deadlock(b);

    if (b.failed) {
        for (unsigned t = 0; t < n; ++t) {
            Fiber& f = fiber_of(b, t);
            if (f.in_kernel) rebuild_fiber(f, &L.tsan_end, w.tsan_sched);  // abandoned mid-kernel
        }
        std::lock_guard<std::mutex> lk(L.mu);
        if (!L.failed.load(std::memory_order_relaxed)) {
            L.err = b.err;
            L.detail = b.detail;
            L.failed.store(true, std::memory_order_relaxed);
        }
    }
    for (auto& s : b.statics) std::free(s.ptr);
    b.statics.clear();
    std::free(b.dyn);
    b.dyn = nullptr;
    std::free(b.sync);
    b.sync = nullptr;
}

void run_blocks(Launch& L) {
    Worker& w = this_worker();
    IgnoreScope ig;
    while (!L.failed.load(std::memory_order_relaxed)) {
        std::uint64_t blk = L.next.fetch_add(1, std::memory_order_relaxed);
        if (blk >= L.nblocks) break;
        try {
            run_block(w, L, blk);
        } catch (...) {
            std::lock_guard<std::mutex> lk(L.mu);
            if (!L.failed.load(std::memory_order_relaxed)) {
                L.err = cudaErrorMemoryAllocation;
                L.detail = "emulation: out of memory for fiber stacks or shared memory";
                L.failed.store(true, std::memory_order_relaxed);
            }
        }
    }
}

// ------------------------------------------------------------------ worker pool ------------------
struct Pool {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Launch*> queue;
    int nthreads = 0;

    void ensure_started() {
        int want = settings().workers - 1;
        std::lock_guard<std::mutex> lk(mu);
        while (nthreads < want) {
            std::thread([this] { loop(); }).detach();
            nthreads++;
        }
    }
    void remove(Launch* L) {  // caller holds mu
        auto it = std::find(queue.begin(), queue.end(), L);
        if (it != queue.end()) queue.erase(it);
    }
    void loop() {
        for (;;) {
            Launch* L;
            {
                std::unique_lock<std::mutex> lk(mu);
                cv.wait(lk, [this] { return !queue.empty(); });
                L = queue.front();
                queue.pop_front();
                queue.push_back(L);  // round robin among concurrent launches
                std::lock_guard<std::mutex> lk2(L->mu);
                L->active++;
            }
            run_blocks(*L);
            {
                std::lock_guard<std::mutex> lk(mu);
                remove(L);  // nothing left to claim
            }
            std::lock_guard<std::mutex> lk(L->mu);
            if (--L->active == 0) L->cv.notify_all();
        }
    }
};
Pool& pool() {
    static Pool* p = new Pool;  // deliberately never destroyed: detached workers use it until exit
    return *p;
}

// ------------------------------------------------------------------ host-side registries ---------
struct Registry {
    std::mutex mu;
    std::unordered_map<const void*, int> dyn_smem_attr;
    std::unordered_set<void*> allocations;
    std::unordered_set<void*> host_allocations;
    std::unordered_set<void*> streams;
    std::unordered_set<void*> events;
};
Registry& registry() {
    static Registry* r = new Registry;
    return *r;
}

bool valid_stream(cudaStream_t s) {
    if (s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread) return true;
    Registry& r = registry();
    std::lock_guard<std::mutex> lk(r.mu);
    return r.streams.count(s) != 0;
}

cudaError_t fail_host(cudaError_t e, const char* fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return record_error(e, buf);
}

}  // namespace

// ------------------------------------------------------------------ device-side entry points -----
int barrier(BarrierOp op, int pred) {
    Fiber& f = need_fiber("__syncthreads");
    FiberIgnore<Fiber> ig(f);
    Block& b = f.worker->block;
    if (b.L->strict && b.exited > 0)
        fail_current(cudaErrorLaunchFailure, "barrier divergence: reached __syncthreads after thread %s exited",
                     thread_str(b, static_cast<unsigned>(b.first_exited)).c_str());
    if (b.bar_arrived == 0) {
        b.bar_op = op;
        b.bar_count = 0;
        b.bar_and = 1;
        b.bar_or = 0;
    }
    b.bar_count += pred != 0;
    b.bar_and &= pred != 0;
    b.bar_or |= pred != 0;
    b.bar_arrived++;
    tsan_release(b.sync);
    f.state = TState::WaitBarrier;
    if (b.bar_arrived == b.live) {
        b.bar_result = op == BarrierOp::Count ? b.bar_count : op == BarrierOp::And ? b.bar_and : b.bar_or;
        b.bar_arrived = 0;
        for (unsigned t = 0; t < b.n; ++t) {
            Fiber& o = fiber_of(b, t);
            if (o.state == TState::WaitBarrier) {
                o.state = TState::Ready;
                b.next.push_back(t);
            }
        }
    }
    run_next(*f.worker, f);
    tsan_acquire(b.sync);
    return b.bar_result;
}

std::uint64_t warp_op(WarpOp op, unsigned mask, std::uint64_t value, int param, int width) {
    Fiber& f = need_fiber(op_name(op));
    FiberIgnore<Fiber> ig(f);
    Block& b = f.worker->block;
    Warp& wp = b.warps[f.ctx.warp];
    const unsigned lane = f.ctx.lane, bit = 1u << lane;
    const char* name = op_name(op);
    if (!(mask & bit)) fail_current(cudaErrorLaunchFailure, "%s mask 0x%08x does not include the calling lane %u", name, mask, lane);
    if (op != WarpOp::Sync && op != WarpOp::Ballot && (width < 1 || width > 32 || (width & (width - 1))))
        fail_current(cudaErrorLaunchFailure, "%s width %d is not a power of two in [1, 32]", name, width);
    if (unsigned bad = mask & ~wp.exists)
        fail_current(cudaErrorLaunchFailure, "%s mask 0x%08x names lane %d, beyond blockDim (warp %u has %d lanes)", name, mask,
                     __builtin_ctz(bad), f.ctx.warp, __builtin_popcount(wp.exists));
    if (unsigned bad = mask & wp.exited)
        fail_current(cudaErrorLaunchFailure, "%s mask 0x%08x names lane %d which has exited", name, mask, __builtin_ctz(bad));
    Group* g = nullptr;
    int gi = -1;
    for (int i = 0; i < wp.ngroups; ++i)
        if (wp.groups[i].mask & mask) {
            g = &wp.groups[i];
            gi = i;
            break;
        }
    if (g) {
        if (g->mask != mask)
            fail_current(cudaErrorLaunchFailure, "%s with mask 0x%08x while lanes 0x%08x of warp %u wait in %s with the overlapping mask 0x%08x",
                         name, mask, g->arrived, f.ctx.warp, op_name(g->op), g->mask);
        if (g->op != op || g->width != width)
            fail_current(cudaErrorLaunchFailure, "lanes of mask 0x%08x execute different warp intrinsics: %s (width %d) here, %s (width %d) in lanes 0x%08x",
                         mask, name, width, op_name(g->op), g->width, g->arrived);
    } else {
        gi = wp.ngroups++;
        g = &wp.groups[gi];
        *g = Group{mask, 0, op, width};
    }
    wp.val[lane] = value;
    wp.param[lane] = param;
    g->arrived |= bit;
    char* sync = b.sync + 1 + 32 * f.ctx.warp + __builtin_ctz(mask);
    tsan_release(sync);
    f.state = TState::WaitWarp;
    if (g->arrived == mask) {
        const unsigned w = static_cast<unsigned>(width);
        if (op == WarpOp::Ballot) {
            std::uint64_t r = 0;
            for (unsigned m = mask; m; m &= m - 1) {
                unsigned l = static_cast<unsigned>(__builtin_ctz(m));
                if (wp.val[l]) r |= 1ull << l;
            }
            for (unsigned m = mask; m; m &= m - 1) wp.result[__builtin_ctz(m)] = r;
        } else if (op != WarpOp::Sync) {
            for (unsigned m = mask; m; m &= m - 1) {
                const unsigned l = static_cast<unsigned>(__builtin_ctz(m));
                const unsigned base = l & ~(w - 1);
                unsigned src = l;
                switch (op) {
                case WarpOp::ShflIdx: src = base + (static_cast<unsigned>(wp.param[l]) & (w - 1)); break;
                case WarpOp::ShflUp: {
                    int s = static_cast<int>(l) - wp.param[l];
                    src = s < static_cast<int>(base) ? l : static_cast<unsigned>(s);
                    break;
                }
                case WarpOp::ShflDown: {
                    unsigned s = l + static_cast<unsigned>(wp.param[l]);
                    src = s >= base + w ? l : s;
                    break;
                }
                case WarpOp::ShflXor: {
                    unsigned s = l ^ static_cast<unsigned>(wp.param[l]);
                    src = s >= base + w ? l : s;
                    break;
                }
                default: break;
                }
                // A source lane outside the mask is undefined on a GPU: poison it.
                wp.result[l] = (src < 32 && ((mask >> src) & 1u)) ? wp.val[src] : kPoisonBits;
            }
        }
        const unsigned wbase = f.ctx.warp * 32;
        for (unsigned m = mask; m; m &= m - 1) {
            unsigned t = wbase + static_cast<unsigned>(__builtin_ctz(m));
            fiber_of(b, t).state = TState::Ready;
            b.next.push_back(t);
        }
        wp.groups[gi] = wp.groups[wp.ngroups - 1];
        wp.ngroups--;
    }
    run_next(*f.worker, f);
    tsan_acquire(sync);
    return wp.result[lane];
}

unsigned active_mask() {
    Fiber& f = need_fiber("__activemask");
    FiberIgnore<Fiber> ig(f);
    const Warp& wp = f.worker->block.warps[f.ctx.warp];
    return wp.exists & ~wp.exited;
}

void yield() {
    Fiber& f = need_fiber("__nanosleep");
    FiberIgnore<Fiber> ig(f);
    Block& b = f.worker->block;
    f.state = TState::Ready;
    b.next.push_back(f.ctx.tid);
    run_next(*f.worker, f);
}

void trap(const char* what) {
    if (!current_fiber()) host_misuse(what);
    fail_current(cudaErrorLaunchFailure, "%s", what);
}

void* shared_static_raw(const void* key, std::size_t bytes, std::size_t align) {
    Fiber& f = need_fiber("gk_emu::shared_static");
    FiberIgnore<Fiber> ig(f);
    Block& b = f.worker->block;
    for (auto& s : b.statics)
        if (s.key == key) {
            if (s.bytes != bytes)
                fail_current(cudaErrorLaunchFailure, "static shared array %p requested with %zu bytes, earlier with %zu", key, bytes, s.bytes);
            return s.ptr;
        }
    const std::size_t total_static = b.static_bytes + bytes;
    if (total_static > kStaticSharedMax)
        fail_current(cudaErrorInvalidValue, "static shared memory %zu bytes exceeds the 48 KiB (49152 bytes) limit", total_static);
    const std::size_t limit = b.L->attr_set ? kSharedOptinMax : kStaticSharedMax;
    if (total_static + b.dyn_bytes > limit)
        fail_current(cudaErrorInvalidValue, "static (%zu) + dynamic (%zu) shared memory exceeds the %zu-byte limit%s", total_static,
                     b.dyn_bytes, limit, b.L->attr_set ? "" : " (raise it with cudaFuncSetAttribute(MaxDynamicSharedMemorySize))");
    void* p = nullptr;
    if (align > 16) {
        if (posix_memalign(&p, align, bytes ? bytes : align) != 0) p = nullptr;
    } else {
        p = std::malloc(bytes);
    }
    if (!p && bytes) fail_current(cudaErrorMemoryAllocation, "out of memory for %zu bytes of shared memory", bytes);
    std::memset(p, kPoison, bytes);
    b.statics.push_back(Block::Static{key, p, bytes});
    b.static_bytes = total_static;
    return p;
}

void* shared_dynamic_raw() {
    Fiber& f = need_fiber("gk_emu::shared_dynamic");
    FiberIgnore<Fiber> ig(f);
    return f.worker->block.dyn;
}

void threadfence() {
#ifndef GK_EMU_TSAN
    __atomic_thread_fence(__ATOMIC_SEQ_CST);  // (TSan does not model fences; the atomics are seq_cst)
#endif
}

// ------------------------------------------------------------------ host-side API ----------------
const char* last_error_detail() { return t_last_detail.c_str(); }

void set_schedule(Schedule s, std::uint64_t seed) {
    settings().schedule.store(static_cast<int>(s));
    settings().seed.store(seed);
}
Schedule get_schedule() { return static_cast<Schedule>(settings().schedule.load()); }
void set_strict_barriers(bool strict) { settings().strict.store(strict); }
int worker_count() { return settings().workers; }

cudaError_t record_error(cudaError_t e, const char* detail) noexcept {
    t_last_error = e;
    try {
        t_last_detail = detail ? detail : "";
    } catch (...) {
    }
    return e;
}

cudaError_t func_set_attribute(const void* func, cudaFuncAttribute attr, int value) noexcept {
    if (!func) return fail_host(cudaErrorInvalidDeviceFunction, "cudaFuncSetAttribute: null function");
    if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
        if (value < 0 || static_cast<std::size_t>(value) > kSharedOptinMax)
            return fail_host(cudaErrorInvalidValue, "cudaFuncSetAttribute: MaxDynamicSharedMemorySize %d outside [0, %zu]", value,
                             kSharedOptinMax);
        try {
            Registry& r = registry();
            std::lock_guard<std::mutex> lk(r.mu);
            r.dyn_smem_attr[func] = value;
        } catch (...) {
            return fail_host(cudaErrorMemoryAllocation, "cudaFuncSetAttribute: out of memory");
        }
        return cudaSuccess;
    }
    if (attr == cudaFuncAttributePreferredSharedMemoryCarveout) {
        if (value < -1 || value > 100) return fail_host(cudaErrorInvalidValue, "cudaFuncSetAttribute: carveout %d outside [-1, 100]", value);
        return cudaSuccess;
    }
    return fail_host(cudaErrorInvalidValue, "cudaFuncSetAttribute: attribute %d is not supported by the emulation", static_cast<int>(attr));
}

cudaError_t launch_impl(const LaunchDesc& d) noexcept {
    try {
        if (gk_emu_tls_ctx)
            return fail_host(cudaErrorNotSupported, "launch from device code (dynamic parallelism) is not supported by the emulation");
        const dim3 bd = d.block, gd = d.grid;
        const unsigned long long threads = static_cast<unsigned long long>(bd.x) * bd.y * bd.z;
        if (threads == 0 || threads > 1024 || bd.x > 1024 || bd.y > 1024 || bd.z > 64)
            return fail_host(cudaErrorInvalidConfiguration,
                             "invalid block (%u,%u,%u): needs 1..1024 threads, x,y <= 1024, z <= 64", bd.x, bd.y, bd.z);
        if (gd.x == 0 || gd.y == 0 || gd.z == 0 || gd.x > 2147483647u || gd.y > 65535u || gd.z > 65535u)
            return fail_host(cudaErrorInvalidConfiguration, "invalid grid (%u,%u,%u): x in 1..2^31-1, y,z in 1..65535", gd.x, gd.y, gd.z);
        if (!valid_stream(d.stream)) return fail_host(cudaErrorInvalidResourceHandle, "launch: invalid stream %p", static_cast<void*>(d.stream));
        int attr = -1;
        {
            Registry& r = registry();
            std::lock_guard<std::mutex> lk(r.mu);
            auto it = r.dyn_smem_attr.find(d.func_key);
            if (it != r.dyn_smem_attr.end()) attr = it->second;
        }
        const std::size_t dyn_limit = attr >= 0 ? static_cast<std::size_t>(attr) : kStaticSharedMax;
        if (d.dyn_smem > dyn_limit)
            return fail_host(cudaErrorInvalidValue,
                             "dynamic shared memory %zu bytes exceeds the kernel's limit of %zu bytes%s", d.dyn_smem, dyn_limit,
                             attr >= 0 ? "" : " (48 KiB unless raised with cudaFuncSetAttribute(MaxDynamicSharedMemorySize))");

        auto L = std::make_unique<Launch>();
        L->d = d;
        L->nblocks = static_cast<std::uint64_t>(gd.x) * gd.y * gd.z;
        L->attr_set = attr >= 0;
        L->schedule = static_cast<Schedule>(settings().schedule.load());
        L->seed = settings().seed.load();
        L->strict = settings().strict.load();
        tsan_release(&L->tsan_start);

        Pool& p = pool();
        bool pooled = false;
        if (L->nblocks >= 2 && settings().workers > 1) {
            p.ensure_started();
            std::lock_guard<std::mutex> lk(p.mu);
            p.queue.push_back(L.get());
            pooled = true;
            const std::uint64_t helpers = std::min<std::uint64_t>(L->nblocks - 1, static_cast<std::uint64_t>(p.nthreads));
            for (std::uint64_t i = 0; i < helpers; ++i) p.cv.notify_one();
        }
        run_blocks(*L);
        if (pooled) {
            {
                std::lock_guard<std::mutex> lk(p.mu);
                p.remove(L.get());
            }
            std::unique_lock<std::mutex> lk(L->mu);
            L->cv.wait(lk, [&] { return L->active == 0; });
        }
        tsan_acquire(&L->tsan_end);
        if (L->failed.load()) return record_error(L->err, L->detail.c_str());
        return cudaSuccess;
    } catch (const std::bad_alloc&) {
        return record_error(cudaErrorMemoryAllocation, "launch: out of memory");
    } catch (...) {
        return record_error(cudaErrorUnknown, "launch: unexpected exception in the emulation");
    }
}

}  // namespace gk_emu

// ------------------------------------------------------------------ device-side assert -----------
// <cassert>'s assert calls __assert_fail; inside a kernel this fails the launch instead of aborting.
extern "C" void __assert_fail(const char* assertion, const char* file, unsigned int line, const char* function) noexcept {
    if (gk_emu_tls_ctx)
        gk_emu::fail_current(cudaErrorLaunchFailure, "device assert `%s' failed at %s:%u in %s", assertion, file, line, function);
    // Outside a kernel this is host code's own assert: keep its standard meaning (the library is
    // built with NDEBUG, so only test programs reach this).
    std::fprintf(stderr, "%s:%u: %s: Assertion `%s' failed.\n", file, line, function, assertion);
    std::abort();
}

// ------------------------------------------------------------------ CUDA runtime shim ------------
using gk_emu::fail_host;
using gk_emu::record_error;
using gk_emu::registry;

namespace {

// cudaMalloc and cudaMallocHost: 256-byte aligned memory remembered in `set`, so frees of
// pointers that did not come from the matching allocator are reported as CUDA does.
cudaError_t tracked_alloc(void** ptr, std::size_t size, std::unordered_set<void*> gk_emu::Registry::*set, const char* api) {
    if (!ptr) return fail_host(cudaErrorInvalidValue, "%s: null output pointer", api);
    *ptr = nullptr;
    if (size == 0) return cudaSuccess;
    void* p = nullptr;
    if (posix_memalign(&p, 256, size) != 0 || !p)
        return fail_host(cudaErrorMemoryAllocation, "%s: out of memory for %zu bytes", api, size);
    try {
        auto& r = registry();
        std::lock_guard<std::mutex> lk(r.mu);
        (r.*set).insert(p);
    } catch (...) {
        std::free(p);
        return fail_host(cudaErrorMemoryAllocation, "%s: out of memory", api);
    }
    *ptr = p;
    return cudaSuccess;
}

cudaError_t tracked_free(void* ptr, std::unordered_set<void*> gk_emu::Registry::*set, cudaError_t bad, const char* api,
                         const char* allocator) {
    if (!ptr) return cudaSuccess;
    {
        auto& r = registry();
        std::lock_guard<std::mutex> lk(r.mu);
        if (!(r.*set).erase(ptr)) return fail_host(bad, "%s: %p was not returned by %s", api, ptr, allocator);
    }
    std::free(ptr);
    return cudaSuccess;
}

}  // namespace

cudaError_t cudaMalloc(void** ptr, std::size_t size) {
    return tracked_alloc(ptr, size, &gk_emu::Registry::allocations, "cudaMalloc");
}

cudaError_t cudaFree(void* ptr) {
    return tracked_free(ptr, &gk_emu::Registry::allocations, cudaErrorInvalidDevicePointer, "cudaFree", "cudaMalloc");
}

cudaError_t cudaMallocHost(void** ptr, std::size_t size) {
    return tracked_alloc(ptr, size, &gk_emu::Registry::host_allocations, "cudaMallocHost");
}

cudaError_t cudaFreeHost(void* ptr) {
    return tracked_free(ptr, &gk_emu::Registry::host_allocations, cudaErrorInvalidValue, "cudaFreeHost", "cudaMallocHost");
}

cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t count, cudaMemcpyKind kind) {
    if (static_cast<int>(kind) < 0 || static_cast<int>(kind) > 4)
        return fail_host(cudaErrorInvalidMemcpyDirection, "cudaMemcpy: invalid kind %d", static_cast<int>(kind));
    if (count == 0) return cudaSuccess;
    if (!dst || !src) return fail_host(cudaErrorInvalidValue, "cudaMemcpy: null pointer (dst %p, src %p) for %zu bytes", dst, src, count);
    std::memcpy(dst, src, count);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t count, cudaMemcpyKind kind, cudaStream_t stream) {
    if (!gk_emu::valid_stream(stream)) return fail_host(cudaErrorInvalidResourceHandle, "cudaMemcpyAsync: invalid stream");
    return cudaMemcpy(dst, src, count, kind);
}

cudaError_t cudaMemset(void* ptr, int value, std::size_t count) {
    if (count == 0) return cudaSuccess;
    if (!ptr) return fail_host(cudaErrorInvalidValue, "cudaMemset: null pointer for %zu bytes", count);
    std::memset(ptr, value, count);
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* ptr, int value, std::size_t count, cudaStream_t stream) {
    if (!gk_emu::valid_stream(stream)) return fail_host(cudaErrorInvalidResourceHandle, "cudaMemsetAsync: invalid stream");
    return cudaMemset(ptr, value, count);
}

cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes) {
    if (!free_bytes || !total_bytes) return fail_host(cudaErrorInvalidValue, "cudaMemGetInfo: null pointer");
    long pages = sysconf(_SC_PHYS_PAGES), avail = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    *total_bytes = static_cast<std::size_t>(pages) * static_cast<std::size_t>(page);
    *free_bytes = static_cast<std::size_t>(avail) * static_cast<std::size_t>(page);
    return cudaSuccess;
}

struct CUstream_st {
    unsigned flags;
};
struct CUevent_st {
    std::chrono::steady_clock::time_point t;
    bool recorded;
};

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
    if (!stream) return fail_host(cudaErrorInvalidValue, "cudaStreamCreate: null output pointer");
    try {
        auto* s = new CUstream_st{flags};
        auto& r = registry();
        std::lock_guard<std::mutex> lk(r.mu);
        r.streams.insert(s);
        *stream = s;
    } catch (...) {
        return fail_host(cudaErrorMemoryAllocation, "cudaStreamCreate: out of memory");
    }
    return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
    {
        auto& r = registry();
        std::lock_guard<std::mutex> lk(r.mu);
        if (!stream || !r.streams.erase(stream)) return fail_host(cudaErrorInvalidResourceHandle, "cudaStreamDestroy: invalid stream");
    }
    delete stream;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
    if (!gk_emu::valid_stream(stream)) return fail_host(cudaErrorInvalidResourceHandle, "cudaStreamSynchronize: invalid stream");
    return cudaSuccess;
}
cudaError_t cudaStreamQuery(cudaStream_t stream) { return cudaStreamSynchronize(stream); }

cudaError_t cudaEventCreate(cudaEvent_t* event) {
    if (!event) return fail_host(cudaErrorInvalidValue, "cudaEventCreate: null output pointer");
    try {
        auto* e = new CUevent_st{std::chrono::steady_clock::now(), false};
        auto& r = registry();
        std::lock_guard<std::mutex> lk(r.mu);
        r.events.insert(e);
        *event = e;
    } catch (...) {
        return fail_host(cudaErrorMemoryAllocation, "cudaEventCreate: out of memory");
    }
    return cudaSuccess;
}
static bool valid_event(cudaEvent_t e) {
    auto& r = registry();
    std::lock_guard<std::mutex> lk(r.mu);
    return e && r.events.count(e);
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
    {
        auto& r = registry();
        std::lock_guard<std::mutex> lk(r.mu);
        if (!event || !r.events.erase(event)) return fail_host(cudaErrorInvalidResourceHandle, "cudaEventDestroy: invalid event");
    }
    delete event;
    return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
    if (!valid_event(event) || !gk_emu::valid_stream(stream)) return fail_host(cudaErrorInvalidResourceHandle, "cudaEventRecord: invalid handle");
    event->t = std::chrono::steady_clock::now();
    event->recorded = true;
    return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
    if (!valid_event(event)) return fail_host(cudaErrorInvalidResourceHandle, "cudaEventSynchronize: invalid event");
    return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
    if (!ms) return fail_host(cudaErrorInvalidValue, "cudaEventElapsedTime: null output pointer");
    if (!valid_event(start) || !valid_event(end)) return fail_host(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: invalid event");
    if (!start->recorded || !end->recorded) return fail_host(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: event not recorded");
    *ms = std::chrono::duration<float, std::milli>(end->t - start->t).count();
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }

cudaError_t cudaGetLastError() {
    cudaError_t e = gk_emu::t_last_error;
    gk_emu::t_last_error = cudaSuccess;
    return e;
}
cudaError_t cudaPeekAtLastError() { return gk_emu::t_last_error; }

namespace {
struct ErrInfo {
    cudaError_t e;
    const char* name;
    const char* text;
};
const ErrInfo kErrors[] = {
    {cudaSuccess, "cudaSuccess", "no error"},
    {cudaErrorInvalidValue, "cudaErrorInvalidValue", "invalid argument"},
    {cudaErrorMemoryAllocation, "cudaErrorMemoryAllocation", "out of memory"},
    {cudaErrorInitializationError, "cudaErrorInitializationError", "initialization error"},
    {cudaErrorInvalidConfiguration, "cudaErrorInvalidConfiguration", "invalid configuration argument"},
    {cudaErrorInvalidSymbol, "cudaErrorInvalidSymbol", "invalid device symbol"},
    {cudaErrorInvalidDevicePointer, "cudaErrorInvalidDevicePointer", "invalid device pointer"},
    {cudaErrorInvalidMemcpyDirection, "cudaErrorInvalidMemcpyDirection", "invalid copy direction for memcpy"},
    {cudaErrorInvalidDeviceFunction, "cudaErrorInvalidDeviceFunction", "invalid device function"},
    {cudaErrorNoDevice, "cudaErrorNoDevice", "no CUDA-capable device is detected"},
    {cudaErrorInvalidDevice, "cudaErrorInvalidDevice", "invalid device ordinal"},
    {cudaErrorInvalidResourceHandle, "cudaErrorInvalidResourceHandle", "invalid resource handle"},
    {cudaErrorNotReady, "cudaErrorNotReady", "device not ready"},
    {cudaErrorIllegalAddress, "cudaErrorIllegalAddress", "an illegal memory access was encountered"},
    {cudaErrorLaunchOutOfResources, "cudaErrorLaunchOutOfResources", "too many resources requested for launch"},
    {cudaErrorAssert, "cudaErrorAssert", "device-side assert triggered"},
    {cudaErrorLaunchFailure, "cudaErrorLaunchFailure", "unspecified launch failure"},
    {cudaErrorNotSupported, "cudaErrorNotSupported", "operation not supported"},
    {cudaErrorUnknown, "cudaErrorUnknown", "unknown error"},
};
}  // namespace

const char* cudaGetErrorString(cudaError_t error) {
    for (const auto& i : kErrors)
        if (i.e == error) return i.text;
    return "unrecognized error code";
}
const char* cudaGetErrorName(cudaError_t error) {
    for (const auto& i : kErrors)
        if (i.e == error) return i.name;
    return "cudaErrorUnknown";
}

cudaError_t cudaGetDevice(int* device) {
    if (!device) return fail_host(cudaErrorInvalidValue, "cudaGetDevice: null output pointer");
    *device = 0;
    return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
    if (device != 0) return fail_host(cudaErrorInvalidDevice, "cudaSetDevice: the emulation has one device (0), not %d", device);
    return cudaSuccess;
}
cudaError_t cudaGetDeviceCount(int* count) {
    if (!count) return fail_host(cudaErrorInvalidValue, "cudaGetDeviceCount: null output pointer");
    *count = 1;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
    if (!value) return fail_host(cudaErrorInvalidValue, "cudaDeviceGetAttribute: null output pointer");
    if (device != 0) return fail_host(cudaErrorInvalidDevice, "cudaDeviceGetAttribute: invalid device %d", device);
    int v;
    switch (attr) {  // an sm_90-like device (H100 SXM)
    case cudaDevAttrMaxThreadsPerBlock: v = 1024; break;
    case cudaDevAttrMaxBlockDimX: v = 1024; break;
    case cudaDevAttrMaxBlockDimY: v = 1024; break;
    case cudaDevAttrMaxBlockDimZ: v = 64; break;
    case cudaDevAttrMaxGridDimX: v = 2147483647; break;
    case cudaDevAttrMaxGridDimY: v = 65535; break;
    case cudaDevAttrMaxGridDimZ: v = 65535; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: v = 49152; break;
    case cudaDevAttrTotalConstantMemory: v = 65536; break;
    case cudaDevAttrWarpSize: v = 32; break;
    case cudaDevAttrMaxRegistersPerBlock: v = 65536; break;
    case cudaDevAttrClockRate: v = 1980000; break;
    case cudaDevAttrMultiProcessorCount: v = 132; break;
    case cudaDevAttrL2CacheSize: v = 50 * 1024 * 1024; break;
    case cudaDevAttrMaxThreadsPerMultiProcessor: v = 2048; break;
    case cudaDevAttrComputeCapabilityMajor: v = 9; break;
    case cudaDevAttrComputeCapabilityMinor: v = 0; break;
    case cudaDevAttrMaxSharedMemoryPerMultiprocessor: v = 233472; break;
    case cudaDevAttrMaxRegistersPerMultiprocessor: v = 65536; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: v = 232448; break;
    default: return fail_host(cudaErrorInvalidValue, "cudaDeviceGetAttribute: attribute %d is not emulated", static_cast<int>(attr));
    }
    *value = v;
    return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int* version) {
    if (!version) return fail_host(cudaErrorInvalidValue, "cudaRuntimeGetVersion: null output pointer");
    *version = 12040;
    return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* version) {
    if (!version) return fail_host(cudaErrorInvalidValue, "cudaDriverGetVersion: null output pointer");
    *version = 12040;
    return cudaSuccess;
}
