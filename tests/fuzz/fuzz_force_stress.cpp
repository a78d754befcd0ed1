// Fuzzes the force/stress C ABI on small random batches (0-4 structures of 0-6 atoms, periodic
// triclinic cells or molecules, random edges with image shifts, int32 or int64 indices):
//   * gk_force_stress_validate: the valid batch passes; after one random corruption (a pointer,
//     index or permutation entry, two swapped edges, a non-finite or flat cell, a zero cell made
//     periodic) the verdict equals the harness's own rules (graphkernels.h): success iff valid,
//     else INVALID_GRAPH (topology) / INVALID_ARGUMENT (cell) with a "gk_force_stress_validate: "
//     message; the topology arrays are never written;
//   * gk_force_stress_readout (every mode, geometry source, layout, VIRIAL/GPA/FAST flag, optional
//     stress and per-atom virial): forces, stress/virial and per-atom virial within fp32 bounds of
//     a double reference computed here; sum of F over each structure = 0 within the same bounds;
//     outputs allocated to their exact size (ASan) and the deterministic mode bitwise identical on
//     a second run;
//   * gk_force_stress_backward (random dL/dF and dL/d(stress output)): dL/dg (or dL/ds) and dL/dr
//     within fp32 bounds of the double chain rule written here; bitwise identical on a second run.
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "fuzz_common.h"

namespace {

struct Edge {
    int64_t src, dst;
    int s[3];
};

struct Batch {
    int64_t N = 0, B = 0;
    std::vector<int64_t> gp{0}, sp, dp, perm;
    std::vector<Edge> edges;
    std::vector<float> pos, cell;      // [N,3], [B,9]
    std::vector<uint8_t> periodic;     // [B]
    int64_t graph_of(int64_t a) const {
        int64_t b = 0;
        while (gp[b + 1] <= a) ++b;
        return b;
    }
};

float dyadic(FuzzedDataProvider& in, int range, int denom) {
    return static_cast<float>(in.ConsumeIntegralInRange<int>(-range, range)) / static_cast<float>(denom);
}

Batch make_batch(FuzzedDataProvider& in, bool no_zero_vectors) {
    Batch b;
    b.B = in.ConsumeIntegralInRange<int64_t>(0, 4);
    for (int64_t g = 0; g < b.B; ++g) {
        const int atoms = in.ConsumeIntegralInRange<int>(0, 6);
        const bool per = in.ConsumeBool();
        float L[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
        if (per || in.ConsumeBool()) {   // a random non-flat triclinic cell (quarter multiples)
            for (int k = 0; k < 9; ++k) L[k] = dyadic(in, 3, 4);   // off-diagonals <= 3/4 < diagonal / 2: det != 0
            for (int k = 0; k < 3; ++k) L[4 * k] = static_cast<float>(in.ConsumeIntegralInRange<int>(8, 20)) / 4.0f;
        }
        for (int k = 0; k < 9; ++k) b.cell.push_back(L[k]);
        b.periodic.push_back(per ? 1 : 0);
        const int64_t first = b.N;
        for (int a = 0; a < 3 * atoms; ++a) b.pos.push_back(static_cast<float>(in.ConsumeIntegralInRange<int>(0, 63)) / 16.0f);
        b.N += atoms;
        b.gp.push_back(b.N);
        const int ne = atoms == 0 ? 0 : in.ConsumeIntegralInRange<int>(0, 3 * atoms);
        for (int k = 0; k < ne; ++k) {
            Edge e{first + in.ConsumeIntegralInRange<int64_t>(0, atoms - 1), first + in.ConsumeIntegralInRange<int64_t>(0, atoms - 1), {0, 0, 0}};
            if (per)
                for (int c = 0; c < 3; ++c) e.s[c] = in.ConsumeIntegralInRange<int>(-1, 1);
            if (no_zero_vectors && e.src == e.dst && e.s[0] == 0 && e.s[1] == 0 && e.s[2] == 0) e.s[0] = 1;
            if (no_zero_vectors && e.src == e.dst && !per) continue;   // zero cell: r would be 0
            b.edges.push_back(e);
        }
    }
    // sort by source (stable), then the pointer arrays
    std::vector<Edge> sorted;
    for (int64_t i = 0; i < b.N; ++i)
        for (const Edge& e : b.edges)
            if (e.src == i) sorted.push_back(e);
    b.edges = sorted;
    const int64_t E = static_cast<int64_t>(b.edges.size());
    b.sp.assign(b.N + 1, 0);
    b.dp.assign(b.N + 1, 0);
    for (const Edge& e : b.edges) {
        ++b.sp[e.src + 1];
        ++b.dp[e.dst + 1];
    }
    for (int64_t i = 0; i < b.N; ++i) {
        b.sp[i + 1] += b.sp[i];
        b.dp[i + 1] += b.dp[i];
    }
    b.perm.assign(E, 0);
    std::vector<int64_t> fill(b.dp.begin(), b.dp.end() - 1);
    for (int64_t e = 0; e < E; ++e) b.perm[fill[b.edges[e].dst]++] = e;
    return b;
}

// The topology arrays in index type I, plus the gk_fs_topology pointing at them.
template <typename I>
struct Topo {
    std::vector<I> gp, sp, es, ed, dp, perm;
    gk_fs_topology t{};
    int64_t N, E, B;
    explicit Topo(const Batch& b) : N(b.N), E(static_cast<int64_t>(b.edges.size())), B(b.B) {
        for (int64_t v : b.gp) gp.push_back(static_cast<I>(v));
        for (int64_t v : b.sp) sp.push_back(static_cast<I>(v));
        for (int64_t v : b.dp) dp.push_back(static_cast<I>(v));
        for (int64_t v : b.perm) perm.push_back(static_cast<I>(v));
        for (const Edge& e : b.edges) {
            es.push_back(static_cast<I>(e.src));
            ed.push_back(static_cast<I>(e.dst));
        }
        t.num_atoms = N;
        t.num_edges = E;
        t.num_graphs = B;
        t.index_type = sizeof(I) == 4 ? GK_INDEX_INT32 : GK_INDEX_INT64;
        t.graph_atom_ptr = gp.data();
        t.src_ptr = sp.data();
        t.edge_src = es.data();
        t.edge_dst = ed.data();
        t.dst_ptr = dp.data();
        t.dst_perm = perm.data();
    }
};

double det3(const double* l) {
    return l[0] * (l[4] * l[8] - l[5] * l[7]) - l[1] * (l[3] * l[8] - l[5] * l[6]) + l[2] * (l[3] * l[7] - l[4] * l[6]);
}

// graphkernels.h's rules for a topology (+ cells), written out independently.
template <typename I>
int reference_verdict(const Topo<I>& t, const std::vector<float>& cell, const std::vector<uint8_t>& periodic) {
    auto ptr_ok = [](const std::vector<I>& v, int64_t n, int64_t total) {
        if (v[0] != 0 || static_cast<int64_t>(v[n]) != total) return false;
        for (int64_t k = 0; k <= n; ++k) {
            if (v[k] < 0 || static_cast<int64_t>(v[k]) > total) return false;
            if (k > 0 && v[k] < v[k - 1]) return false;
        }
        return true;
    };
    const bool gp_ok = ptr_ok(t.gp, t.B, t.N), sp_ok = ptr_ok(t.sp, t.N, t.E), dp_ok = ptr_ok(t.dp, t.N, t.E);
    int verdict = GK_SUCCESS;
    if (!gp_ok || !sp_ok || !dp_ok) verdict = GK_ERROR_INVALID_GRAPH;
    auto graph = [&](int64_t a) {
        int64_t b = 0;
        while (b < t.B && static_cast<int64_t>(t.gp[b + 1]) <= a) ++b;
        return b;
    };
    for (int64_t e = 0; e < t.E && verdict == GK_SUCCESS; ++e) {
        const int64_t s = t.es[e], d = t.ed[e];
        if (s < 0 || s >= t.N || d < 0 || d >= t.N) { verdict = GK_ERROR_INVALID_GRAPH; break; }
        if (e < t.sp[s] || e >= t.sp[s + 1]) verdict = GK_ERROR_INVALID_GRAPH;
        if (graph(s) != graph(d)) verdict = GK_ERROR_INVALID_GRAPH;
    }
    for (int64_t i = 0; i < t.N && verdict == GK_SUCCESS; ++i)
        for (int64_t k = t.dp[i]; k < t.dp[i + 1]; ++k) {
            const int64_t pe = t.perm[k];
            if (pe < 0 || pe >= t.E || static_cast<int64_t>(t.ed[pe]) != i || (k > t.dp[i] && !(t.perm[k - 1] < pe))) {
                verdict = GK_ERROR_INVALID_GRAPH;
                break;
            }
        }
    bool cell_bad = false;
    for (int64_t b = 0; b < t.B; ++b) {
        double l[9];
        bool finite = true;
        for (int k = 0; k < 9; ++k) {
            l[k] = cell[9 * b + k];
            finite = finite && std::isfinite(l[k]);
        }
        if (!finite) { cell_bad = true; continue; }
        if (periodic[b]) {
            const double n0 = std::sqrt(l[0] * l[0] + l[1] * l[1] + l[2] * l[2]);
            const double n1 = std::sqrt(l[3] * l[3] + l[4] * l[4] + l[5] * l[5]);
            const double n2 = std::sqrt(l[6] * l[6] + l[7] * l[7] + l[8] * l[8]);
            if (!(std::fabs(det3(l)) > 1e-12 * n0 * n1 * n2)) cell_bad = true;
        }
    }
    if (verdict == GK_SUCCESS && cell_bad) verdict = GK_ERROR_INVALID_ARGUMENT;
    return verdict;
}

template <typename I>
void fuzz_validate(FuzzedDataProvider& in, const Batch& b) {
    Topo<I> t(b);
    std::vector<float> cell = b.cell;
    std::vector<uint8_t> periodic = b.periodic;
    size_t wsb = 0;
    FUZZ_CHECK(gk_force_stress_validate_workspace_size(&wsb) == GK_SUCCESS, "validate workspace size");
    Region ws(wsb);
    const int what = in.ConsumeIntegralInRange<int>(0, 9);
    auto poke = [&](std::vector<I>& v, int64_t hi) {
        if (v.empty()) return;
        const size_t k = in.ConsumeIntegralInRange<size_t>(0, v.size() - 1);
        v[k] = static_cast<I>(in.ConsumeIntegralInRange<int64_t>(-1, hi + 1));
    };
    switch (what) {
        case 1: poke(t.gp, t.N); break;
        case 2: poke(t.sp, t.E); break;
        case 3: poke(t.es, t.N); break;
        case 4: poke(t.ed, t.N); break;
        case 5: poke(t.dp, t.E); break;
        case 6: poke(t.perm, t.E); break;
        case 7:
            if (t.E >= 2) {
                const size_t a = in.ConsumeIntegralInRange<size_t>(0, t.E - 1), c = in.ConsumeIntegralInRange<size_t>(0, t.E - 1);
                std::swap(t.ed[a], t.ed[c]);
            }
            break;
        case 8:
            if (t.B > 0) {
                const size_t g = in.ConsumeIntegralInRange<size_t>(0, t.B - 1);
                switch (in.ConsumeIntegralInRange<int>(0, 2)) {
                    case 0: cell[9 * g + in.ConsumeIntegralInRange<int>(0, 8)] = in.ConsumeBool() ? NAN : -INFINITY; break;
                    case 1: for (int k = 0; k < 3; ++k) cell[9 * g + 6 + k] = cell[9 * g + k] + cell[9 * g + 3 + k]; break;
                    default: periodic[g] = 1; break;
                }
            }
            break;
        default: break;
    }
    const std::vector<I> gp0 = t.gp, sp0 = t.sp, es0 = t.es, ed0 = t.ed, dp0 = t.dp, perm0 = t.perm;
    const int want = reference_verdict(t, cell, periodic);
    gk_fs_geometry geo{};
    geo.cell = cell.data();
    geo.periodic = periodic.data();
    geo.edge_vec = nullptr;
    const gk_status s = gk_force_stress_validate(&t.t, &geo, ws.ptr, wsb, nullptr);
    FUZZ_CHECK(s == want, "validate status %d, reference %d (corruption %d)", s, want, what);
    if (s != GK_SUCCESS)
        FUZZ_CHECK(starts_with(gk_last_error_message(), "gk_force_stress_validate: "), "message prefix");
    FUZZ_CHECK(t.gp == gp0 && t.sp == sp0 && t.es == es0 && t.ed == ed0 && t.dp == dp0 && t.perm == perm0, "validate wrote the topology");
}

void voigt(const double* t, int layout, double* out) {
    static const int order[4][6][2] = {
        {}, {{0, 0}, {1, 1}, {2, 2}, {1, 2}, {0, 2}, {0, 1}}, {{0, 0}, {1, 1}, {2, 2}, {0, 1}, {0, 2}, {1, 2}},
        {{0, 0}, {1, 1}, {2, 2}, {0, 1}, {1, 2}, {2, 0}}};
    if (layout == GK_FS_TENSOR) {
        for (int k = 0; k < 9; ++k) out[k] = t[k];
        return;
    }
    for (int k = 0; k < 6; ++k) {
        const int a = order[layout][k][0], c = order[layout][k][1];
        out[k] = 0.5 * (t[3 * a + c] + t[3 * c + a]);
    }
}
void voigt_abs(const double* t, int layout, double* out) {   // bound of |voigt(t)| from |t|
    double a[9];
    for (int k = 0; k < 9; ++k) a[k] = std::fabs(t[k]);
    voigt(a, layout, out);
}

template <typename I>
void fuzz_readout(FuzzedDataProvider& in, const Batch& b, int mode) {
    Topo<I> t(b);
    const int64_t N = b.N, E = t.E, B = b.B;
    const bool from_pos = in.ConsumeBool();
    const int layout = in.ConsumeIntegralInRange<int>(0, 3);
    const int width = layout == GK_FS_TENSOR ? 9 : 6;
    uint32_t flags = 0;
    const int unit = in.ConsumeIntegralInRange<int>(0, 2);
    if (unit == 1) flags |= GK_FS_VIRIAL;
    if (unit == 2) flags |= GK_FS_GPA;
    const bool fast = in.ConsumeIntegralInRange<int>(0, 3) == 0;
    if (fast) flags |= GK_FS_FAST;
    const bool want_stress = in.ConsumeIntegralInRange<int>(0, 4) != 0;
    const bool want_w = in.ConsumeBool();

    // inputs (fp32, dyadic so that r_e is exact in fp32 and in double)
    std::vector<float> shifts, ev, q;
    std::vector<double> r(3 * E), g(3 * E);
    for (int64_t e = 0; e < E; ++e) {
        const Edge& ed = b.edges[e];
        const float* L = &b.cell[9 * b.graph_of(ed.src)];
        for (int k = 0; k < 3; ++k) {
            shifts.push_back(static_cast<float>(ed.s[k]));
            const double v = static_cast<double>(b.pos[3 * ed.dst + k]) - b.pos[3 * ed.src + k] + ed.s[0] * static_cast<double>(L[k]) +
                             ed.s[1] * static_cast<double>(L[3 + k]) + ed.s[2] * static_cast<double>(L[6 + k]);
            r[3 * e + k] = v;
            ev.push_back(static_cast<float>(v));
        }
        if (mode == GK_FS_CONSERVATIVE) {
            for (int k = 0; k < 3; ++k) {
                q.push_back(dyadic(in, 128, 64));
                g[3 * e + k] = q.back();
            }
        } else {
            q.push_back(dyadic(in, 128, 64));
            const double n = std::sqrt(r[3 * e] * r[3 * e] + r[3 * e + 1] * r[3 * e + 1] + r[3 * e + 2] * r[3 * e + 2]);
            for (int k = 0; k < 3; ++k) g[3 * e + k] = n > 0 ? q.back() * r[3 * e + k] / n : 0.0;
        }
    }
    gk_fs_geometry geo{};
    if (from_pos) {
        geo.positions = b.pos.data();
        geo.shifts = shifts.data();
    } else {
        geo.edge_vec = ev.data();
    }
    geo.cell = b.cell.data();
    geo.periodic = b.periodic.data();

    // double reference: F, Sigma, per-atom W, and magnitude bounds for each
    std::vector<double> F(3 * N, 0.0), Fm(3 * N, 0.0), S(9 * B, 0.0), Sm(9 * B, 0.0), W(9 * N, 0.0), Wm(9 * N, 0.0);
    for (int64_t e = 0; e < E; ++e) {
        const Edge& ed = b.edges[e];
        const int64_t gb = b.graph_of(ed.src);
        for (int k = 0; k < 3; ++k) {
            F[3 * ed.src + k] += g[3 * e + k];
            F[3 * ed.dst + k] -= g[3 * e + k];
            Fm[3 * ed.src + k] += std::fabs(g[3 * e + k]);
            Fm[3 * ed.dst + k] += std::fabs(g[3 * e + k]);
        }
        for (int a = 0; a < 3; ++a)
            for (int c = 0; c < 3; ++c) {
                const double v = r[3 * e + a] * g[3 * e + c];
                S[9 * gb + 3 * a + c] += v;
                Sm[9 * gb + 3 * a + c] += std::fabs(v);
                W[9 * ed.src + 3 * a + c] -= 0.5 * v;
                W[9 * ed.dst + 3 * a + c] -= 0.5 * v;
                Wm[9 * ed.src + 3 * a + c] += 0.5 * std::fabs(v);
                Wm[9 * ed.dst + 3 * a + c] += 0.5 * std::fabs(v);
            }
    }
    // fp32 bound: g_e within 4 ulp (direct mode), each sum of fp32 terms within (terms + 1) ulp.
    const double u = 0x1p-23;
    int64_t maxdeg = 1;
    for (int64_t i = 0; i < N; ++i) maxdeg = std::max<int64_t>(maxdeg, (b.sp[i + 1] - b.sp[i]) + (b.dp[i + 1] - b.dp[i]));
    const double fk = (maxdeg + 8) * u;

    size_t wsb = 0;
    FUZZ_CHECK(gk_force_stress_workspace_size(&t.t, flags, &wsb) == GK_SUCCESS, "workspace size: %s", gk_last_error_message());
    Region ws(wsb), fo(4 * 3 * N), so(want_stress ? 4 * width * B : 0), wo(want_w ? 4 * width * N : 0);
    std::memset(fo.ptr, 0xA7, fo.bytes);
    std::memset(so.ptr, 0xA7, so.bytes);
    std::memset(wo.ptr, 0xA7, wo.bytes);
    float* Fo = reinterpret_cast<float*>(fo.ptr);
    float* So = want_stress ? reinterpret_cast<float*>(so.ptr) : nullptr;
    float* Wo = want_w ? reinterpret_cast<float*>(wo.ptr) : nullptr;
    gk_status s = gk_force_stress_readout(&t.t, &geo, mode, q.data(), layout, flags, Fo, So, Wo, want_stress ? ws.ptr : nullptr, wsb, nullptr);
    FUZZ_CHECK(s == GK_SUCCESS, "readout failed: mode %d pos %d layout %d flags %u", mode, from_pos, layout, flags);
    FUZZ_CHECK(gk_last_error_message()[0] == '\0', "success left a message");
    for (int64_t i = 0; i < 3 * N; ++i)
        FUZZ_CHECK(std::fabs(Fo[i] - F[i]) <= fk * Fm[i], "F[%lld] = %.9g, want %.9g (bound %.3g)", (long long)i, Fo[i], F[i], fk * Fm[i]);
    for (int64_t gb = 0; gb < B; ++gb)
        for (int k = 0; k < 3; ++k) {   // sum of F over a structure is 0 (each g_e enters twice with opposite signs)
            double sum = 0.0, bound = 0.0;
            for (int64_t i = b.gp[gb]; i < b.gp[gb + 1]; ++i) {
                sum += Fo[3 * i + k];
                bound += fk * Fm[3 * i + k];
            }
            FUZZ_CHECK(std::fabs(sum) <= bound, "structure %lld: sum F[%d] = %.9g (bound %.3g)", (long long)gb, k, sum, bound);
        }
    const bool virial = (flags & GK_FS_VIRIAL) != 0;
    const double scale = (flags & GK_FS_GPA) ? 160.21766208 : 1.0;
    const double sk = (8 + 4) * u;   // r exact, g within 4 ulp, fp64 sums, one division, one fp32 rounding
    if (want_stress)
        for (int64_t gb = 0; gb < B; ++gb) {
            double l[9];
            for (int k = 0; k < 9; ++k) l[k] = b.cell[9 * gb + k];
            const double V = std::fabs(det3(l));
            double tt[9], tm[9], want[9], wantm[9];
            for (int k = 0; k < 9; ++k) {
                const double f = virial ? -1.0 : (b.periodic[gb] ? scale / V : 0.0);
                tt[k] = f * S[9 * gb + k];
                tm[k] = std::fabs(f) * Sm[9 * gb + k];
            }
            voigt(tt, layout, want);
            voigt_abs(tm, layout, wantm);
            for (int k = 0; k < width; ++k)
                FUZZ_CHECK(std::fabs(So[width * gb + k] - want[k]) <= sk * wantm[k] + 1e-30, "stress[%lld][%d] = %.9g, want %.9g (flags %u layout %d)",
                           (long long)gb, k, So[width * gb + k], want[k], flags, layout);
        }
    if (want_w)
        for (int64_t i = 0; i < N; ++i) {
            double want[9], wantm[9];
            voigt(&W[9 * i], layout, want);
            voigt_abs(&Wm[9 * i], layout, wantm);
            for (int k = 0; k < width; ++k)
                FUZZ_CHECK(std::fabs(Wo[width * i + k] - want[k]) <= sk * wantm[k] + 1e-30, "atom_virial[%lld][%d] = %.9g, want %.9g", (long long)i, k,
                           Wo[width * i + k], want[k]);
        }
    if (!fast) {   // deterministic mode: a second run gives the same bits
        Region f2(fo.bytes), s2(so.bytes), w2(wo.bytes);
        s = gk_force_stress_readout(&t.t, &geo, mode, q.data(), layout, flags, reinterpret_cast<float*>(f2.ptr),
                                    want_stress ? reinterpret_cast<float*>(s2.ptr) : nullptr, want_w ? reinterpret_cast<float*>(w2.ptr) : nullptr,
                                    want_stress ? ws.ptr : nullptr, wsb, nullptr);
        FUZZ_CHECK(s == GK_SUCCESS && same_bytes(f2.ptr, fo.ptr, fo.bytes) && same_bytes(s2.ptr, so.ptr, so.bytes) && same_bytes(w2.ptr, wo.ptr, wo.bytes),
                   "deterministic readout differs run to run");
    }

    // ---- backward (FAST refused: its flags are those of the forward without FAST)
    const uint32_t bflags = flags & ~static_cast<uint32_t>(GK_FS_FAST);
    const bool give_g = in.ConsumeBool(), give_h = in.ConsumeIntegralInRange<int>(0, 3) != 0, want_dr = in.ConsumeBool();
    std::vector<float> G(3 * N), H(width * B);
    for (float& v : G) v = dyadic(in, 32, 16);
    for (float& v : H) v = dyadic(in, 32, 16);
    std::vector<double> K(9 * B, 0.0);
    for (int64_t gb = 0; gb < B && give_h; ++gb) {
        double l[9];
        for (int k = 0; k < 9; ++k) l[k] = b.cell[9 * gb + k];
        const double f = virial ? -1.0 : (b.periodic[gb] ? scale / std::fabs(det3(l)) : 0.0);
        if (width == 9) {
            for (int k = 0; k < 9; ++k) K[9 * gb + k] = f * H[9 * gb + k];
        } else {
            static const int order[4][6][2] = {
                {}, {{0, 0}, {1, 1}, {2, 2}, {1, 2}, {0, 2}, {0, 1}}, {{0, 0}, {1, 1}, {2, 2}, {0, 1}, {0, 2}, {1, 2}},
                {{0, 0}, {1, 1}, {2, 2}, {0, 1}, {1, 2}, {2, 0}}};
            for (int k = 0; k < 6; ++k) {
                const int a = order[layout][k][0], c = order[layout][k][1];
                const double h = f * H[6 * gb + k];
                if (a == c) K[9 * gb + 3 * a + a] += h;
                else {
                    K[9 * gb + 3 * a + c] += 0.5 * h;
                    K[9 * gb + 3 * c + a] += 0.5 * h;
                }
            }
        }
    }
    const int qw = mode == GK_FS_CONSERVATIVE ? 3 : 1;
    Region gq(4 * qw * E), gr(want_dr ? 4 * 3 * E : 0);
    std::memset(gq.ptr, 0xA7, gq.bytes);
    std::memset(gr.ptr, 0xA7, gr.bytes);
    float* GQ = reinterpret_cast<float*>(gq.ptr);
    float* GR = want_dr ? reinterpret_cast<float*>(gr.ptr) : nullptr;
    s = gk_force_stress_backward(&t.t, &geo, mode, q.data(), layout, bflags, give_g ? G.data() : nullptr, give_h ? H.data() : nullptr, GQ, GR, nullptr);
    FUZZ_CHECK(s == GK_SUCCESS, "backward failed: mode %d layout %d flags %u", mode, layout, bflags);
    for (int64_t e = 0; e < E; ++e) {
        const Edge& ed = b.edges[e];
        const double* Kb = &K[9 * b.graph_of(ed.src)];
        const double* re = &r[3 * e];
        const double* ge = &g[3 * e];
        double uu[3], um[3], kg[3], kgm[3];
        for (int c = 0; c < 3; ++c) {
            uu[c] = give_g ? static_cast<double>(G[3 * ed.src + c]) - G[3 * ed.dst + c] : 0.0;
            um[c] = give_g ? std::fabs(G[3 * ed.src + c]) + std::fabs(G[3 * ed.dst + c]) : 0.0;
            kg[c] = kgm[c] = 0.0;
            for (int a = 0; a < 3; ++a) {
                uu[c] += Kb[3 * a + c] * re[a];
                um[c] += std::fabs(Kb[3 * a + c] * re[a]);
                kg[c] += Kb[3 * c + a] * ge[a];
                kgm[c] += std::fabs(Kb[3 * c + a] * ge[a]);
            }
        }
        const double tol = 16 * u;
        if (mode == GK_FS_CONSERVATIVE) {
            for (int c = 0; c < 3; ++c)
                FUZZ_CHECK(std::fabs(GQ[3 * e + c] - uu[c]) <= tol * um[c] + 1e-30, "dL/dg[%lld][%d] = %.9g, want %.9g", (long long)e, c, GQ[3 * e + c], uu[c]);
        } else {
            const double n = std::sqrt(re[0] * re[0] + re[1] * re[1] + re[2] * re[2]);
            if (n == 0.0) continue;   // r_e = 0 (coincident atoms): g_e = 0 by definition, no derivative
            const double ds = (uu[0] * re[0] + uu[1] * re[1] + uu[2] * re[2]) / n;
            const double dsm = um[0] + um[1] + um[2];
            FUZZ_CHECK(std::fabs(GQ[e] - ds) <= tol * dsm + 1e-30, "dL/ds[%lld] = %.9g, want %.9g", (long long)e, GQ[e], ds);
            const double sv = q[e] / n;
            for (int c = 0; c < 3; ++c) {
                kg[c] += sv * (uu[c] - ds * re[c] / n);
                kgm[c] += std::fabs(sv) * 2 * dsm;
            }
        }
        if (want_dr)
            for (int c = 0; c < 3; ++c)
                FUZZ_CHECK(std::fabs(GR[3 * e + c] - kg[c]) <= tol * kgm[c] + 1e-30, "dL/dr[%lld][%d] = %.9g, want %.9g", (long long)e, c, GR[3 * e + c], kg[c]);
    }
    Region gq2(gq.bytes), gr2(gr.bytes);
    s = gk_force_stress_backward(&t.t, &geo, mode, q.data(), layout, bflags, give_g ? G.data() : nullptr, give_h ? H.data() : nullptr,
                                 reinterpret_cast<float*>(gq2.ptr), want_dr ? reinterpret_cast<float*>(gr2.ptr) : nullptr, nullptr);
    FUZZ_CHECK(s == GK_SUCCESS && same_bytes(gq.ptr, gq2.ptr, gq.bytes) && same_bytes(gr.ptr, gr2.ptr, gr.bytes), "backward differs run to run");
}

template <typename I>
void run(FuzzedDataProvider& in) {
    const int mode = in.ConsumeIntegralInRange<int>(0, 1);
    const Batch b = make_batch(in, mode == GK_FS_DIRECT);
    fuzz_validate<I>(in, b);
    fuzz_readout<I>(in, b, mode);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FuzzedDataProvider in(data, size);
    if (in.ConsumeBool()) run<int64_t>(in);
    else run<int32_t>(in);
    return 0;
}
