// Every family's C ABI from many threads at once (issue 11, concurrency; the TSan substitute for
// the managed suite, which cannot run under TSan — docs/reliability.md section 2).
//
// Serial reference first: gk_csr_validate, gk_spmm (sum with weights, max with arg_out),
// gk_force_stress_validate / readout (deterministic mode, stress + per-atom virial) / backward,
// gk_quant_quantize / dequantize (fixed seed and offset), gk_quant_project. Then kThreads threads,
// each on its own stream handle (the emulated library accepts NULL, cudaStreamLegacy and
// cudaStreamPerThread), run every op kRounds times in a thread-specific order into their own output
// buffers, and require the serial bytes bit for bit. Each thread also makes an invalid call
// between ops: its status and gk_last_error_message are the thread's own (thread-local error
// state), and the refused call leaves its (poisoned) output untouched. Under -DGK_SANITIZE=thread
// any data race in the launchers, the emulation runtime or the kernels is a TSan report (the
// ctest FAIL_REGULAR_EXPRESSION catches it); under ASan, any overflow.
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "graphkernels.h"

#include "abi_check.h"

namespace {

constexpr int kThreads = 8;
constexpr int kRounds = 3;

using Bytes = std::vector<unsigned char>;

template <typename T>
Bytes bytes_of(const std::vector<T>& v) {
    Bytes b(v.size() * sizeof(T));
    if (!b.empty()) std::memcpy(b.data(), v.data(), b.size());
    return b;
}

// ------------------------------------------------------------------ SpMM + CSR validation
struct SpmmProblem {
    int64_t M = 60, K = 45, F = 9;
    std::vector<int32_t> rp, ci;
    std::vector<float> x, w;
    gk_csr csr{};
    SpmmProblem() {
        std::mt19937 rng(17);
        rp.push_back(0);
        for (int64_t r = 0; r < M; ++r) {
            const int d = static_cast<int>(rng() % 9);
            for (int k = 0; k < d; ++k) ci.push_back(static_cast<int32_t>(rng() % K));
            rp.push_back(static_cast<int32_t>(ci.size()));
        }
        std::uniform_real_distribution<float> u(-1.0f, 1.0f);
        for (int64_t k = 0; k < K * F; ++k) x.push_back(u(rng));
        for (size_t e = 0; e < ci.size(); ++e) w.push_back(u(rng));
        csr.num_rows = M;
        csr.num_cols = K;
        csr.nnz = static_cast<int64_t>(ci.size());
        csr.index_type = GK_INDEX_INT32;
        csr.row_ptr = rp.data();
        csr.col_idx = ci.data();
    }
    // Output bytes: y(sum, weighted) | y(max) | arg(max); or an error string.
    Bytes run(void* stream, std::string& err) const {
        std::vector<float> ys(M * F, NAN), ym(M * F, NAN);
        std::vector<int32_t> arg(M * F, -7);
        std::vector<unsigned long long> ws(4);
        size_t wsb = 0;
        if (gk_csr_validate_workspace_size(&wsb) != GK_SUCCESS || wsb > ws.size() * 8) { err = "csr ws size"; return {}; }
        if (gk_csr_validate(&csr, ws.data(), wsb, stream) != GK_SUCCESS) { err = gk_last_error_message(); return {}; }
        if (gk_spmm(&csr, GK_MESSAGE_U_MUL_E, GK_REDUCE_SUM, GK_DTYPE_F32, F, x.data(), F, w.data(), ys.data(), F, nullptr, 0, stream) != GK_SUCCESS ||
            gk_spmm(&csr, GK_MESSAGE_COPY_U, GK_REDUCE_MAX, GK_DTYPE_F32, F, x.data(), F, nullptr, ym.data(), F, arg.data(), F, stream) != GK_SUCCESS) {
            err = gk_last_error_message();
            return {};
        }
        Bytes out = bytes_of(ys), b2 = bytes_of(ym), b3 = bytes_of(arg);
        out.insert(out.end(), b2.begin(), b2.end());
        out.insert(out.end(), b3.begin(), b3.end());
        return out;
    }
};

// ------------------------------------------------------------------ force/stress
struct FsProblem {
    int64_t N = 0, B = 3;
    std::vector<int64_t> gp{0}, sp, es, ed, dp, perm;
    std::vector<float> pos, cell, shifts, q, G, H;
    std::vector<uint8_t> periodic{1, 0, 1};
    gk_fs_topology topo{};
    gk_fs_geometry geo{};
    FsProblem() {
        std::mt19937 rng(23);
        std::uniform_real_distribution<float> u(0.0f, 3.0f), v(-1.0f, 1.0f);
        const float cells[3][9] = {{3.1f, 0, 0, 0.4f, 2.9f, 0, -0.3f, 0.2f, 3.3f}, {0, 0, 0, 0, 0, 0, 0, 0, 0}, {4, 0, 0, 0, 4, 0, 0, 0, 4}};
        struct E { int64_t s, d; int sh[3]; };
        std::vector<E> edges;
        for (int64_t b = 0; b < B; ++b) {
            const int atoms = 5 + static_cast<int>(b);
            const int64_t first = N;
            for (int a = 0; a < 3 * atoms; ++a) pos.push_back(u(rng));
            N += atoms;
            gp.push_back(N);
            for (int k = 0; k < 9; ++k) cell.push_back(cells[b][k]);
            for (int k = 0; k < 4 * atoms; ++k) {
                E e{first + static_cast<int64_t>(rng() % atoms), first + static_cast<int64_t>(rng() % atoms), {0, 0, 0}};
                if (periodic[b]) for (int& s : e.sh) s = static_cast<int>(rng() % 3) - 1;
                if (e.s == e.d && e.sh[0] == 0 && e.sh[1] == 0 && e.sh[2] == 0) continue;
                edges.push_back(e);
            }
        }
        std::vector<E> sorted;
        for (int64_t i = 0; i < N; ++i)
            for (const E& e : edges)
                if (e.s == i) sorted.push_back(e);
        const int64_t nE = static_cast<int64_t>(sorted.size());
        sp.assign(N + 1, 0);
        dp.assign(N + 1, 0);
        for (const E& e : sorted) {
            ++sp[e.s + 1];
            ++dp[e.d + 1];
            es.push_back(e.s);
            ed.push_back(e.d);
            for (int s : e.sh) shifts.push_back(static_cast<float>(s));
            for (int k = 0; k < 3; ++k) q.push_back(v(rng));
        }
        for (int64_t i = 0; i < N; ++i) {
            sp[i + 1] += sp[i];
            dp[i + 1] += dp[i];
        }
        perm.assign(nE, 0);
        std::vector<int64_t> fill(dp.begin(), dp.end() - 1);
        for (int64_t e = 0; e < nE; ++e) perm[fill[ed[e]]++] = e;
        for (int64_t k = 0; k < 3 * N; ++k) G.push_back(v(rng));
        for (int64_t k = 0; k < 6 * B; ++k) H.push_back(v(rng));
        topo.num_atoms = N;
        topo.num_edges = nE;
        topo.num_graphs = B;
        topo.index_type = GK_INDEX_INT64;
        topo.graph_atom_ptr = gp.data();
        topo.src_ptr = sp.data();
        topo.edge_src = es.data();
        topo.edge_dst = ed.data();
        topo.dst_ptr = dp.data();
        topo.dst_perm = perm.data();
        geo.positions = pos.data();
        geo.shifts = shifts.data();
        geo.cell = cell.data();
        geo.periodic = periodic.data();
    }
    Bytes run(void* stream, std::string& err) const {
        const int64_t E = topo.num_edges;
        size_t vws = 0, ws = 0;
        if (gk_force_stress_validate_workspace_size(&vws) != GK_SUCCESS || gk_force_stress_workspace_size(&topo, 0, &ws) != GK_SUCCESS) {
            err = "fs ws size";
            return {};
        }
        std::vector<double> vw(vws / 8 + 1), w(ws / 8 + 1);
        std::vector<float> F(3 * N, NAN), S(6 * B, NAN), W(6 * N, NAN), gq(3 * E, NAN), gr(3 * E, NAN);
        if (gk_force_stress_validate(&topo, &geo, vw.data(), vws, stream) != GK_SUCCESS ||
            gk_force_stress_readout(&topo, &geo, GK_FS_CONSERVATIVE, q.data(), GK_FS_VOIGT_ASE, GK_FS_GPA, F.data(), S.data(), W.data(), w.data(), ws, stream) != GK_SUCCESS ||
            gk_force_stress_backward(&topo, &geo, GK_FS_CONSERVATIVE, q.data(), GK_FS_VOIGT_ASE, GK_FS_GPA, G.data(), H.data(), gq.data(), gr.data(), stream) != GK_SUCCESS) {
            err = gk_last_error_message();
            return {};
        }
        Bytes out = bytes_of(F);
        for (const auto* v : {&S, &W, &gq, &gr}) {
            const Bytes b = bytes_of(*v);
            out.insert(out.end(), b.begin(), b.end());
        }
        return out;
    }
};

// ------------------------------------------------------------------ quantization
struct QuantProblem {
    gk_quant_desc d{};
    gk_quant_layout l{};
    gk_quant_proj_desc pd{};
    std::vector<float> x;
    QuantProblem() {
        d.rows = 37;
        d.cols = 70;
        d.bits = 2;
        d.block = 64;
        d.dtype = GK_DTYPE_F32;
        d.levels = GK_QUANT_LEVELS_CLIPNORM2;
        d.max_grid = 2;   // several blocks per warp: the grid-stride loops run
        std::mt19937 rng(29);
        std::normal_distribution<float> g(0.0f, 1.0f);
        for (int64_t k = 0; k < d.rows * d.cols; ++k) x.push_back(g(rng));
        CHECK(gk_quant_plan(&d, &l) == GK_SUCCESS, "plan: %s", gk_last_error_message());
        pd.rows = d.rows;
        pd.dim = static_cast<int32_t>(d.cols);
        pd.proj_dim = 9;
        pd.seed = 0xC0FFEE;
    }
    Bytes run(void* stream, std::string& err) const {
        std::vector<uint32_t> packed(static_cast<size_t>(l.packed_bytes / 4), 0xDEADBEEFu);
        std::vector<float> zero(static_cast<size_t>(l.num_blocks), NAN), step(zero), y(x.size(), NAN), p(static_cast<size_t>(d.rows * pd.proj_dim), NAN);
        if (gk_quant_quantize(&d, x.data(), packed.data(), zero.data(), step.data(), 1234, 99, stream) != GK_SUCCESS ||
            gk_quant_dequantize(&d, packed.data(), zero.data(), step.data(), GK_DTYPE_F32, y.data(), 0, stream) != GK_SUCCESS ||
            gk_quant_project(&pd, x.data(), 0, p.data(), 0, stream) != GK_SUCCESS) {
            err = gk_last_error_message();
            return {};
        }
        Bytes out = bytes_of(packed);
        for (const auto* v : {&zero, &step, &y, &p}) {
            const Bytes b = bytes_of(*v);
            out.insert(out.end(), b.begin(), b.end());
        }
        return out;
    }
};

}  // namespace

int main() {
    const SpmmProblem spmm;
    const FsProblem fs;
    const QuantProblem qp;
    std::string err;
    const Bytes ref[3] = {spmm.run(nullptr, err), fs.run(nullptr, err), qp.run(nullptr, err)};
    CHECK(!ref[0].empty() && !ref[1].empty() && !ref[2].empty(), "serial reference failed: %s", err.c_str());
    if (g_failures) return check_summary();

    std::atomic<int> mismatches{0}, errors{0}, bad_refusals{0};
    std::vector<std::thread> threads;
    std::atomic<bool> go{false};
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            void* const stream = reinterpret_cast<void*>(static_cast<uintptr_t>(t % 3));   // NULL, legacy, per-thread
            while (!go.load()) std::this_thread::yield();
            for (int r = 0; r < kRounds; ++r)
                for (int k = 0; k < 3; ++k) {
                    const int op = (t + k + r) % 3;
                    std::string e;
                    const Bytes got = op == 0 ? spmm.run(stream, e) : op == 1 ? fs.run(stream, e) : qp.run(stream, e);
                    if (got.empty()) {
                        ++errors;
                        std::fprintf(stderr, "thread %d op %d failed: %s\n", t, op, e.c_str());
                    } else if (got != ref[op]) {
                        ++mismatches;
                        std::fprintf(stderr, "thread %d op %d round %d differs from the serial run\n", t, op, r);
                    }
                    // A refused call: this thread's own message, output untouched.
                    std::vector<float> y(8, 3.5f);
                    gk_quant_desc bad = qp.d;
                    bad.bits = 2 * t + 3;   // 3, 5, 7, ...: never a valid width
                    const gk_status s = gk_quant_dequantize(&bad, nullptr, nullptr, nullptr, GK_DTYPE_F32, y.data(), 0, stream);
                    const std::string want = "desc->bits = " + std::to_string(2 * t + 3);
                    if (s != GK_ERROR_INVALID_ARGUMENT || std::string(gk_last_error_message()).find(want) == std::string::npos ||
                        y != std::vector<float>(8, 3.5f)) {
                        ++bad_refusals;
                        std::fprintf(stderr, "thread %d: refused call gave status %d, message '%s'\n", t, s, gk_last_error_message());
                    }
                }
        });
    }
    go = true;
    for (auto& th : threads) th.join();
    CHECK(errors == 0, "%d concurrent calls failed", errors.load());
    CHECK(mismatches == 0, "%d concurrent results differ from the serial run", mismatches.load());
    CHECK(bad_refusals == 0, "%d refused calls did not report the thread's own error", bad_refusals.load());
    std::printf("%d threads x %d rounds x 3 families: %s\n", kThreads, kRounds, g_failures ? "FAILED" : "bitwise equal to serial");
    return check_summary();
}
