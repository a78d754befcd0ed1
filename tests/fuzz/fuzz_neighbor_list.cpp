// Fuzzes the neighbour list (gk_neighbor_list_count / gk_neighbor_list_fill / _fill_ws) against a brute force
// in the harness: a batch of 1-3 structures of 0-5 atoms, int32/int64, each periodic or not
// (periodic given per structure, or NULL = all periodic), cells with diagonal 2..4 and
// off-diagonals |k/8| <= 0.5, positions k/8 in [0, 2), cutoff k/8 in (0, 2.5]. All of these are
// dyadic with few bits, so r = x_j - x_i + S.L and |r|^2 are exact in double (and r in fp32):
// the edge set has no rounding ambiguity and is compared exactly, in the documented order
// (source, destination, S lexicographic), with shifts, edge_vec and dst_perm; src_ptr and the
// report (E, max_count and its lowest atom) too. Image range of the brute force: Gershgorin gives
// |S.L| >= (2 - 2 * 0.5) |S|_inf = |S|_inf, and |x_j - x_i| < 2 sqrt(3) < 3.5, so every edge has
// |S_d| <= 2.5 + 3.5 = 6.
// Invalid calls (one in four): cutoff <= 0 / NaN / inf, max_neighbors below the largest count
// (INVALID_ARGUMENT naming it, report->overflow_atom = the lowest such atom), reserved != 0, bad
// index_type, NULL / short workspace, NULL src_ptr: a gk error status, the message prefix, src_ptr
// byte for byte as poisoned.
#include <fuzzer/FuzzedDataProvider.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "fuzz_common.h"

namespace {

constexpr unsigned char kPoison = 0xA7;

struct Edge {
    int64_t i, j;
    int s[3];
    double r[3];
};

template <typename I>
void run(FuzzedDataProvider& in) {
    const size_t isz = sizeof(I);
    const int64_t B = in.ConsumeIntegralInRange<int64_t>(1, 3);  // num_graphs = 0 is refused (needs >= 1)
    std::vector<I> gap(1, 0);
    for (int64_t b = 0; b < B; ++b) gap.push_back(static_cast<I>(gap.back() + in.ConsumeIntegralInRange<int>(0, 5)));
    const int64_t N = gap.back();
    std::vector<float> pos(static_cast<size_t>(N * 3)), cell(static_cast<size_t>(B * 9));
    for (auto& p : pos) p = in.ConsumeIntegralInRange<int>(0, 15) / 8.0f;
    for (int64_t b = 0; b < B; ++b)
        for (int r = 0; r < 3; ++r)
            for (int c = 0; c < 3; ++c)
                cell[b * 9 + r * 3 + c] = r == c ? in.ConsumeIntegralInRange<int>(16, 32) / 8.0f
                                                 : in.ConsumeIntegralInRange<int>(-4, 4) / 8.0f;
    const bool per_given = in.ConsumeBool();
    std::vector<uint8_t> per(static_cast<size_t>(B), 1);
    if (per_given) for (auto& p : per) p = in.ConsumeBool() ? 1 : 0;
    double cutoff = in.ConsumeIntegralInRange<int>(1, 20) / 8.0;

    Region gb(gap.size() * isz), pb(pos.size() * 4), cb(cell.size() * 4), fb(per.size());
    std::memcpy(gb.ptr, gap.data(), gb.bytes);
    if (pb.bytes) std::memcpy(pb.ptr, pos.data(), pb.bytes);
    if (cb.bytes) std::memcpy(cb.ptr, cell.data(), cb.bytes);
    if (fb.bytes) std::memcpy(fb.ptr, per.data(), fb.bytes);
    gk_nl_batch batch{};
    batch.num_atoms = N;
    batch.num_graphs = B;
    batch.index_type = isz == 4 ? GK_INDEX_INT32 : GK_INDEX_INT64;
    batch.graph_atom_ptr = gb.ptr;
    batch.positions = reinterpret_cast<const float*>(pb.ptr);
    batch.cell = reinterpret_cast<const float*>(cb.ptr);
    batch.periodic = per_given ? fb.ptr : nullptr;

    // ---- brute force, in the documented order
    std::vector<Edge> ref;
    std::vector<int64_t> count(static_cast<size_t>(N), 0);
    for (int64_t b = 0; b < B; ++b)
        for (int64_t i = gap[b]; i < gap[b + 1]; ++i)
            for (int64_t j = gap[b]; j < gap[b + 1]; ++j) {
                const int K = per[b] ? 6 : 0;
                for (int s0 = -K; s0 <= K; ++s0)
                    for (int s1 = -K; s1 <= K; ++s1)
                        for (int s2 = -K; s2 <= K; ++s2) {
                            if (i == j && s0 == 0 && s1 == 0 && s2 == 0) continue;
                            Edge e{i, j, {s0, s1, s2}, {}};
                            double r2 = 0;
                            for (int c = 0; c < 3; ++c) {
                                e.r[c] = double(pos[j * 3 + c]) - pos[i * 3 + c];
                                for (int k = 0; k < 3; ++k) e.r[c] += e.s[k] * double(cell[b * 9 + k * 3 + c]);
                                r2 += e.r[c] * e.r[c];
                            }
                            if (r2 < cutoff * cutoff) { ref.push_back(e); ++count[i]; }
                        }
            }
    int64_t max_count = 0, max_atom = N > 0 ? 0 : -1;
    for (int64_t i = 0; i < N; ++i) if (count[i] > max_count) max_count = count[i], max_atom = i;
    const int64_t E = static_cast<int64_t>(ref.size());

    // ---- count
    size_t wsn = 0;
    gk_status st = gk_neighbor_list_workspace_size(&batch, &wsn);
    FUZZ_CHECK(st == GK_SUCCESS && wsn == static_cast<size_t>(5 * N + 14 * B + 8) * 8, "workspace size %zu", wsn);
    Region ws(wsn), sp((N + 1) * isz);
    std::memset(sp.ptr, kPoison, sp.bytes);
    int64_t max_nb = 0;
    void* wsp = ws.ptr;
    size_t a_wsn = wsn;
    void* spp = sp.ptr;
    gk_nl_batch bb = batch;
    int kind = in.ConsumeIntegralInRange<int>(0, 3) == 0 ? in.ConsumeIntegralInRange<int>(1, 7) : 0;
    switch (kind) {
        case 1: cutoff = in.PickValueInArray({0.0, -1.0, (double)NAN, (double)INFINITY}); break;
        case 2: if (max_count > 1) max_nb = max_count - 1; else kind = 0; break;
        case 3: bb.reserved = 1; break;
        case 4: bb.index_type = in.PickValueInArray({2, -1}); break;
        case 5: if (in.ConsumeBool()) wsp = nullptr; else a_wsn = wsn - 1; break;
        case 6: spp = nullptr; break;
        case 7: max_nb = max_count + in.ConsumeIntegralInRange<int64_t>(0, 2); if (max_nb == 0) max_nb = 1; kind = 0; break;
        default: break;
    }
    const std::vector<unsigned char> sp0(sp.ptr, sp.ptr + sp.bytes);
    gk_nl_report rep{};
    st = gk_neighbor_list_count(&bb, cutoff, max_nb, spp, wsp, a_wsn, &rep, nullptr);
    const char* msg = gk_last_error_message();
    if (kind != 0) {
        FUZZ_CHECK(st == GK_ERROR_INVALID_ARGUMENT || st == GK_ERROR_WORKSPACE, "invalid count (kind %d) returned %s", kind, gk_status_name(st));
        FUZZ_CHECK(starts_with(msg, "gk_neighbor_list_count: "), "message does not name the function (kind %d)", kind);
        FUZZ_CHECK(same_bytes(sp0.data(), sp.ptr, sp.bytes), "a failed count (kind %d) wrote src_ptr", kind);
        if (kind == 2) {
            int64_t first = -1;
            for (int64_t i = 0; i < N && first < 0; ++i) if (count[i] > max_nb) first = i;
            FUZZ_CHECK(contains(msg, "max_neighbors") && rep.overflow_atom == first && rep.overflow_count == count[first],
                       "overflow report: atom %lld count %lld, expected %lld / %lld", (long long)rep.overflow_atom,
                       (long long)rep.overflow_count, (long long)first, (long long)count[first]);
        }
        return;
    }
    FUZZ_CHECK(st == GK_SUCCESS, "valid count rejected: %s", gk_status_name(st));
    FUZZ_CHECK(rep.num_edges == E && rep.max_count == max_count && rep.max_count_atom == max_atom && rep.overflow_atom == -1,
               "report E %lld max %lld@%lld, expected %lld, %lld@%lld", (long long)rep.num_edges, (long long)rep.max_count,
               (long long)rep.max_count_atom, (long long)E, (long long)max_count, (long long)max_atom);
    auto at = [&](const Region& r, int64_t k) { I v; std::memcpy(&v, r.ptr + k * isz, isz); return (int64_t)v; };
    int64_t acc = 0;
    for (int64_t i = 0; i <= N; ++i) {
        FUZZ_CHECK(at(sp, i) == acc, "src_ptr[%lld] = %lld, expected %lld", (long long)i, (long long)at(sp, i), (long long)acc);
        if (i < N) acc += count[i];
    }

    // ---- fill
    Region es(E * isz), ed(E * isz), sh(E * 12), ev(E * 12), dp(E * isz);
    const bool want_vec = in.ConsumeBool(), want_perm = in.ConsumeBool();
    for (Region* r : {&es, &ed, &sh, &ev, &dp}) if (r->bytes) std::memset(r->ptr, kPoison, r->bytes);
    // Both fills give the same output: with the count's workspace (cell list where chosen) or without.
    if (in.ConsumeBool())
        st = gk_neighbor_list_fill_ws(&batch, cutoff, sp.ptr, ws.ptr, wsn, E, es.ptr, ed.ptr, reinterpret_cast<int32_t*>(sh.ptr),
                                      want_vec ? reinterpret_cast<float*>(ev.ptr) : nullptr, want_perm ? dp.ptr : nullptr, nullptr);
    else
        st = gk_neighbor_list_fill(&batch, cutoff, sp.ptr, E, es.ptr, ed.ptr, reinterpret_cast<int32_t*>(sh.ptr),
                                   want_vec ? reinterpret_cast<float*>(ev.ptr) : nullptr, want_perm ? dp.ptr : nullptr, nullptr);
    FUZZ_CHECK(st == GK_SUCCESS, "valid fill rejected: %s", gk_status_name(st));
    for (int64_t k = 0; k < E; ++k) {
        const Edge& e = ref[k];
        int32_t s[3];
        std::memcpy(s, sh.ptr + 12 * k, 12);
        FUZZ_CHECK(at(es, k) == e.i && at(ed, k) == e.j && s[0] == e.s[0] && s[1] == e.s[1] && s[2] == e.s[2],
                   "edge %lld = (%lld -> %lld, %d %d %d), expected (%lld -> %lld, %d %d %d)", (long long)k, (long long)at(es, k),
                   (long long)at(ed, k), s[0], s[1], s[2], (long long)e.i, (long long)e.j, e.s[0], e.s[1], e.s[2]);
        if (want_vec) {
            float v[3];
            std::memcpy(v, ev.ptr + 12 * k, 12);
            for (int c = 0; c < 3; ++c) FUZZ_CHECK(double(v[c]) == e.r[c], "edge_vec[%lld][%d] = %g, expected %g", (long long)k, c, v[c], e.r[c]);
        }
    }
    if (want_perm) {  // edges with destination i in increasing position
        int64_t t = 0;
        for (int64_t i = 0; i < N; ++i)
            for (int64_t k = 0; k < E; ++k)
                if (ref[k].j == i) {
                    FUZZ_CHECK(at(dp, t) == k, "dst_perm[%lld] = %lld, expected %lld", (long long)t, (long long)at(dp, t), (long long)k);
                    ++t;
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
