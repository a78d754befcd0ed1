// C-level tests of the force/stress readout against libgraphkernels_emulated: a small batch (a
// triclinic periodic cell smaller than twice the cutoff, so self-image edges exist, plus two
// molecules) against a double-precision reference written here, through every mode, geometry
// source, index type and layout; gk_force_stress_validate verdicts; argument errors leaving the
// outputs untouched. Kept small: CI runs it under ASan+UBSan and TSan.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "graphkernels.h"

#include "abi_check.h"

struct Edge {
    int64_t src, dst;
    int sx, sy, sz;
};

// A batch on the host, edges sorted by source (stable), with the CSR arrays the ABI wants.
struct Batch {
    int64_t N = 0, B = 0;
    std::vector<int64_t> graph_ptr{0};
    std::vector<double> pos;      // [N,3]
    std::vector<double> cell;     // [B,9]
    std::vector<uint8_t> periodic;
    std::vector<Edge> edges;
    std::vector<int64_t> src_ptr, dst_ptr, dst_perm;
    int64_t graph_of(int64_t a) const {
        int64_t b = 0;
        while (graph_ptr[b + 1] <= a) ++b;
        return b;
    }
    void r(const Edge& e, double out[3]) const {
        const double* L = &cell[9 * graph_of(e.src)];
        for (int k = 0; k < 3; ++k)
            out[k] = pos[3 * e.dst + k] - pos[3 * e.src + k] + e.sx * L[k] + e.sy * L[3 + k] +
                     e.sz * L[6 + k];
    }
    void finish() {
        std::stable_sort(edges.begin(), edges.end(),
                         [](const Edge& a, const Edge& b) { return a.src < b.src; });
        const int64_t E = static_cast<int64_t>(edges.size());
        src_ptr.assign(N + 1, 0);
        dst_ptr.assign(N + 1, 0);
        for (const Edge& e : edges) {
            ++src_ptr[e.src + 1];
            ++dst_ptr[e.dst + 1];
        }
        for (int64_t i = 0; i < N; ++i) {
            src_ptr[i + 1] += src_ptr[i];
            dst_ptr[i + 1] += dst_ptr[i];
        }
        dst_perm.assign(E, 0);
        std::vector<int64_t> fill(dst_ptr.begin(), dst_ptr.end() - 1);
        for (int64_t e = 0; e < E; ++e) dst_perm[fill[edges[e].dst]++] = e;
    }
};

static void add_structure(Batch& b, std::mt19937_64& rng, int atoms, const double L[9],
                          bool periodic, double cutoff) {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const int64_t first = b.N;
    for (int a = 0; a < atoms; ++a) {
        const double f[3] = {u(rng), u(rng), u(rng)};
        for (int k = 0; k < 3; ++k) {
            double x = periodic ? f[0] * L[k] + f[1] * L[3 + k] + f[2] * L[6 + k] : 2.5 * f[k];
            b.pos.push_back(x);
        }
    }
    b.N += atoms;
    b.B += 1;
    b.graph_ptr.push_back(b.N);
    for (int k = 0; k < 9; ++k) b.cell.push_back(periodic ? L[k] : 0.0);
    b.periodic.push_back(periodic ? 1 : 0);
    const int span = periodic ? 2 : 0;
    for (int64_t i = first; i < b.N; ++i)
        for (int64_t j = first; j < b.N; ++j)
            for (int sx = -span; sx <= span; ++sx)
                for (int sy = -span; sy <= span; ++sy)
                    for (int sz = -span; sz <= span; ++sz) {
                        if (i == j && sx == 0 && sy == 0 && sz == 0) continue;
                        Edge e{i, j, sx, sy, sz};
                        double r[3];
                        b.r(e, r);
                        const double d = std::sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
                        if (d < cutoff) b.edges.push_back(e);
                    }
}

static Batch make_batch(uint64_t seed) {
    std::mt19937_64 rng(seed);
    Batch b;
    const double L[9] = {2.9, 0.0, 0.0, 0.7, 2.6, 0.0, -0.4, 0.5, 2.8};  // triclinic, < 2 r_c
    const double Z[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
    add_structure(b, rng, 3, Z, false, 3.0);
    add_structure(b, rng, 3, L, true, 3.2);
    add_structure(b, rng, 4, Z, false, 3.0);
    b.finish();
    return b;
}

template <typename I>
struct Dev {
    std::vector<I> gp, sp, es, ed, dp, perm;
    gk_fs_topology topo{};
    explicit Dev(const Batch& b) {
        for (int64_t v : b.graph_ptr) gp.push_back(static_cast<I>(v));
        for (int64_t v : b.src_ptr) sp.push_back(static_cast<I>(v));
        for (int64_t v : b.dst_ptr) dp.push_back(static_cast<I>(v));
        for (int64_t v : b.dst_perm) perm.push_back(static_cast<I>(v));
        for (const Edge& e : b.edges) {
            es.push_back(static_cast<I>(e.src));
            ed.push_back(static_cast<I>(e.dst));
        }
        rebind(b);
    }
    void rebind(const Batch& b) {
        topo.num_atoms = b.N;
        topo.num_edges = static_cast<int64_t>(b.edges.size());
        topo.num_graphs = b.B;
        topo.index_type = sizeof(I) == 4 ? GK_INDEX_INT32 : GK_INDEX_INT64;
        topo.reserved = 0;
        topo.graph_atom_ptr = gp.data();
        topo.src_ptr = sp.data();
        topo.edge_src = es.data();
        topo.edge_dst = ed.data();
        topo.dst_ptr = dp.data();
        topo.dst_perm = perm.data();
    }
};

struct Inputs {
    std::vector<float> pos, shifts, cell, edge_vec, grad, scalar;
    std::vector<uint8_t> periodic;
};

static Inputs make_inputs(const Batch& b, std::mt19937_64& rng) {
    Inputs in;
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    for (double v : b.pos) in.pos.push_back(static_cast<float>(v));
    for (double v : b.cell) in.cell.push_back(static_cast<float>(v));
    in.periodic = b.periodic;
    for (const Edge& e : b.edges) {
        in.shifts.push_back(static_cast<float>(e.sx));
        in.shifts.push_back(static_cast<float>(e.sy));
        in.shifts.push_back(static_cast<float>(e.sz));
        // r_e exactly as the kernel forms it from fp32 data, so both geometry paths agree.
        const float* L = &in.cell[9 * b.graph_of(e.src)];
        for (int k = 0; k < 3; ++k) {
            const float sh = std::fmaf(float(e.sz), L[6 + k], std::fmaf(float(e.sy), L[3 + k], float(e.sx) * L[k]));
            in.edge_vec.push_back((in.pos[3 * e.dst + k] - in.pos[3 * e.src + k]) + sh);
        }
        for (int k = 0; k < 3; ++k) in.grad.push_back(u(rng));
        in.scalar.push_back(u(rng));
    }
    return in;
}

// Independent double reference (from the fp32 inputs).
struct Ref {
    std::vector<double> F, sigma, atomw, fbound;  // sigma [B,9] (sum r (x) g), atomw [N,9]
};

static Ref reference(const Batch& b, const Inputs& in, int mode) {
    Ref ref;
    ref.F.assign(3 * b.N, 0.0);
    ref.fbound.assign(3 * b.N, 0.0);
    ref.sigma.assign(9 * b.B, 0.0);
    ref.atomw.assign(9 * b.N, 0.0);
    for (size_t e = 0; e < b.edges.size(); ++e) {
        const Edge& ed = b.edges[e];
        double r[3], g[3];
        for (int k = 0; k < 3; ++k) r[k] = in.edge_vec[3 * e + k];
        if (mode == GK_FS_DIRECT) {
            const double n = std::sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
            for (int k = 0; k < 3; ++k) g[k] = in.scalar[e] * r[k] / n;
        } else {
            for (int k = 0; k < 3; ++k) g[k] = in.grad[3 * e + k];
        }
        for (int k = 0; k < 3; ++k) {
            ref.F[3 * ed.src + k] += g[k];
            ref.F[3 * ed.dst + k] -= g[k];
            ref.fbound[3 * ed.src + k] += std::fabs(g[k]);
            ref.fbound[3 * ed.dst + k] += std::fabs(g[k]);
        }
        const int64_t gb = b.graph_of(ed.src);
        for (int a = 0; a < 3; ++a)
            for (int c = 0; c < 3; ++c) {
                ref.sigma[9 * gb + 3 * a + c] += r[a] * g[c];
                ref.atomw[9 * ed.src + 3 * a + c] -= 0.5 * r[a] * g[c];
                ref.atomw[9 * ed.dst + 3 * a + c] -= 0.5 * r[a] * g[c];
            }
    }
    return ref;
}

static double det3(const double* L) {
    return L[0] * (L[4] * L[8] - L[5] * L[7]) - L[1] * (L[3] * L[8] - L[5] * L[6]) +
           L[2] * (L[3] * L[7] - L[4] * L[6]);
}

// The 6 Voigt values of a 3x3 tensor in the given order, written out independently.
static void voigt(const double* t, int layout, double out[6]) {
    static const int order[4][6][2] = {
        {},
        {{0, 0}, {1, 1}, {2, 2}, {1, 2}, {0, 2}, {0, 1}},  // ASE
        {{0, 0}, {1, 1}, {2, 2}, {0, 1}, {0, 2}, {1, 2}},  // LAMMPS
        {{0, 0}, {1, 1}, {2, 2}, {0, 1}, {1, 2}, {2, 0}},  // SevenNet
    };
    for (int k = 0; k < 6; ++k) {
        const int a = order[layout][k][0], c = order[layout][k][1];
        out[k] = 0.5 * (t[3 * a + c] + t[3 * c + a]);
    }
}

template <typename I>
static void run_case(const Batch& b, const Inputs& in, int mode, bool from_pos, int layout,
                     uint32_t flags, bool atom_virial) {
    Dev<I> d(b);
    gk_fs_geometry geo{};
    if (from_pos) {
        geo.positions = in.pos.data();
        geo.shifts = in.shifts.data();
    } else {
        geo.edge_vec = in.edge_vec.data();
    }
    geo.cell = in.cell.data();
    geo.periodic = in.periodic.data();
    const int width = layout == GK_FS_TENSOR ? 9 : 6;
    std::vector<float> F(3 * b.N, -7.f), S(width * b.B, -7.f), W(width * b.N, -7.f);
    size_t ws_bytes = 0;
    CHECK(gk_force_stress_workspace_size(&d.topo, flags, &ws_bytes) == GK_SUCCESS, "ws size");
    std::vector<double> ws(ws_bytes / 8 + 1);
    const float* q = mode == GK_FS_DIRECT ? in.scalar.data() : in.grad.data();
    gk_status s = gk_force_stress_readout(&d.topo, &geo, mode, q, layout, flags, F.data(), S.data(),
                                          atom_virial ? W.data() : nullptr, ws.data(), ws_bytes,
                                          nullptr);
    CHECK(s == GK_SUCCESS, "readout failed: %s", gk_last_error_message());
    if (s != GK_SUCCESS) return;
    const Ref ref = reference(b, in, mode);
    int bad = 0;
    for (int64_t i = 0; i < 3 * b.N; ++i) {
        const double tol = 1e-5 * ref.fbound[i] + 1e-6;
        if (!(std::fabs(F[i] - ref.F[i]) <= tol) && bad++ < 3)
            CHECK(false, "F[%lld] = %.9g, want %.9g (mode %d pos %d)", (long long)i, F[i], ref.F[i],
                  mode, from_pos);
    }
    const bool virial = (flags & GK_FS_VIRIAL) != 0;
    const double scale = (flags & GK_FS_GPA) ? 160.21766208 : 1.0;
    for (int64_t g = 0; g < b.B; ++g) {
        double t[9];
        const double V = std::fabs(det3(&b.cell[9 * g]));
        for (int k = 0; k < 9; ++k) {
            const double sg = ref.sigma[9 * g + k];
            t[k] = virial ? -sg : (b.periodic[g] ? scale * sg / V : 0.0);
        }
        double want[9];
        if (width == 9) std::memcpy(want, t, sizeof t);
        else voigt(t, layout, want);
        for (int k = 0; k < width; ++k) {
            const double tol = 2e-5 * (std::fabs(want[k]) + (virial ? 1.0 : scale)) ;
            if (!(std::fabs(S[width * g + k] - want[k]) <= tol) && bad++ < 3)
                CHECK(false, "stress[%lld][%d] = %.9g, want %.9g (mode %d layout %d flags %u)",
                      (long long)g, k, S[width * g + k], want[k], mode, layout, flags);
        }
    }
    if (atom_virial) {
        for (int64_t i = 0; i < b.N; ++i) {
            double want[9];
            if (width == 9) std::memcpy(want, &ref.atomw[9 * i], sizeof want);
            else voigt(&ref.atomw[9 * i], layout, want);
            for (int k = 0; k < width; ++k)
                if (!(std::fabs(W[width * i + k] - want[k]) <= 2e-5 * (std::fabs(want[k]) + 1.0)) &&
                    bad++ < 3)
                    CHECK(false, "atom_virial[%lld][%d] = %.9g, want %.9g", (long long)i, k,
                          W[width * i + k], want[k]);
        }
    }
    // A second run gives the same bits.
    std::vector<float> F2(F.size()), S2(S.size());
    s = gk_force_stress_readout(&d.topo, &geo, mode, q, layout, flags, F2.data(), S2.data(),
                                nullptr, ws.data(), ws_bytes, nullptr);
    CHECK(s == GK_SUCCESS && std::memcmp(F.data(), F2.data(), F.size() * 4) == 0 &&
              std::memcmp(S.data(), S2.data(), S.size() * 4) == 0,
          "rerun differs (mode %d)", mode);
}

static void test_matrix() {
    const Batch b = make_batch(7);
    int self_images = 0;
    for (const Edge& e : b.edges) self_images += e.src == e.dst;
    CHECK(self_images > 0, "the periodic cell must produce self-image edges");
    std::mt19937_64 rng(11);
    const Inputs in = make_inputs(b, rng);
    for (int mode = 0; mode < 2; ++mode)
        for (int pos = 0; pos < 2; ++pos) {
            run_case<int32_t>(b, in, mode, pos != 0, GK_FS_TENSOR, 0, pos == 0);
            run_case<int64_t>(b, in, mode, pos != 0, GK_FS_VOIGT_ASE, GK_FS_GPA, pos != 0);
        }
    run_case<int32_t>(b, in, GK_FS_CONSERVATIVE, false, GK_FS_VOIGT_LAMMPS, GK_FS_VIRIAL, true);
    run_case<int32_t>(b, in, GK_FS_DIRECT, true, GK_FS_VOIGT_SEVENNET, 0, true);
}

static void test_validate() {
    const Batch b = make_batch(3);
    std::mt19937_64 rng(5);
    Inputs in = make_inputs(b, rng);
    size_t ws_bytes = 0;
    CHECK(gk_force_stress_validate_workspace_size(&ws_bytes) == GK_SUCCESS, "validate ws");
    std::vector<unsigned long long> ws(ws_bytes / 8 + 1);
    gk_fs_geometry geo{};
    geo.edge_vec = in.edge_vec.data();
    geo.cell = in.cell.data();
    geo.periodic = in.periodic.data();
    {
        Dev<int32_t> d(b);
        CHECK(gk_force_stress_validate(&d.topo, &geo, ws.data(), ws_bytes, nullptr) == GK_SUCCESS,
              "valid batch rejected: %s", gk_last_error_message());
    }
    struct Case {
        const char* expect;
        gk_status status;
        void (*poke)(Dev<int32_t>&, Inputs&);
    } cases[] = {
        {"graph_atom_ptr[0] = 1", GK_ERROR_INVALID_GRAPH, [](Dev<int32_t>& d, Inputs&) { d.gp[0] = 1; }},
        {"src_ptr[3] = 0 is less than", GK_ERROR_INVALID_GRAPH, [](Dev<int32_t>& d, Inputs&) { d.sp[3] = 0; }},
        {"edges are not sorted by source", GK_ERROR_INVALID_GRAPH,
         [](Dev<int32_t>& d, Inputs&) { std::swap(d.es[0], d.es.back()); }},
        {"edge_dst[1] = 99 is outside", GK_ERROR_INVALID_GRAPH, [](Dev<int32_t>& d, Inputs&) { d.ed[1] = 99; }},
        {"joins two different graphs", GK_ERROR_INVALID_GRAPH, [](Dev<int32_t>& d, Inputs&) { d.ed[0] = 5; }},
        {"dst_perm[1] = 2 does not fit dst_ptr", GK_ERROR_INVALID_GRAPH,
         [](Dev<int32_t>& d, Inputs&) { std::swap(d.perm[0], d.perm[1]); }},
        {"dst_perm[2] = -4 is outside", GK_ERROR_INVALID_GRAPH, [](Dev<int32_t>& d, Inputs&) { d.perm[2] = -4; }},
        {"cell of graph 1 is not finite (cell[1][2][1]", GK_ERROR_INVALID_ARGUMENT,
         [](Dev<int32_t>&, Inputs& i) { i.cell[9 + 7] = NAN; }},
        {"graph 1 is periodic but its cell has zero volume", GK_ERROR_INVALID_ARGUMENT,
         [](Dev<int32_t>&, Inputs& i) { for (int k = 0; k < 3; ++k) i.cell[9 + 6 + k] = i.cell[9 + 3 + k]; }},
        {"graph 0 is periodic but its cell has zero volume", GK_ERROR_INVALID_ARGUMENT,
         [](Dev<int32_t>&, Inputs& i) { i.periodic[0] = 1; }},
    };
    for (const Case& c : cases) {
        Dev<int32_t> d(b);
        Inputs mod = in;
        c.poke(d, mod);
        gk_fs_geometry g2 = geo;
        g2.cell = mod.cell.data();
        g2.periodic = mod.periodic.data();
        const gk_status s = gk_force_stress_validate(&d.topo, &g2, ws.data(), ws_bytes, nullptr);
        CHECK(s == c.status, "status %d for '%s' (%s)", s, c.expect, gk_last_error_message());
        CHECK(std::strstr(gk_last_error_message(), c.expect) != nullptr, "message '%s' lacks '%s'",
              gk_last_error_message(), c.expect);
    }
}

static void test_bad_arguments() {
    const Batch b = make_batch(9);
    std::mt19937_64 rng(2);
    Inputs in = make_inputs(b, rng);
    Dev<int32_t> d(b);
    gk_fs_geometry geo{};
    geo.edge_vec = in.edge_vec.data();
    geo.cell = in.cell.data();
    geo.periodic = in.periodic.data();
    std::vector<float> F(3 * b.N, 1.25f), S(9 * b.B, 2.5f);
    std::vector<double> ws(9 * b.N);
    const size_t wsb = ws.size() * 8;
    auto call = [&](const char* what, gk_status want, const gk_fs_topology* t, const gk_fs_geometry* g,
                    int mode, const float* q, int layout, uint32_t flags, float* f, float* s,
                    void* w, size_t wb) {
        const std::vector<float> F0 = F, S0 = S;
        const gk_status st = gk_force_stress_readout(t, g, mode, q, layout, flags, f, s, nullptr, w, wb, nullptr);
        CHECK(st == want, "%s: status %d, want %d (%s)", what, st, want, gk_last_error_message());
        CHECK(std::strstr(gk_last_error_message(), what) != nullptr, "message '%s' does not name '%s'",
              gk_last_error_message(), what);
        CHECK(F == F0 && S == S0, "%s: an output was written", what);
    };
    const float* q = in.grad.data();
    call("topology is NULL", GK_ERROR_INVALID_ARGUMENT, nullptr, &geo, 0, q, 0, 0, F.data(), S.data(), ws.data(), wsb);
    call("geometry is NULL", GK_ERROR_INVALID_ARGUMENT, &d.topo, nullptr, 0, q, 0, 0, F.data(), S.data(), ws.data(), wsb);
    call("mode = 4", GK_ERROR_INVALID_ARGUMENT, &d.topo, &geo, 4, q, 0, 0, F.data(), S.data(), ws.data(), wsb);
    call("layout = 9", GK_ERROR_INVALID_ARGUMENT, &d.topo, &geo, 0, q, 9, 0, F.data(), S.data(), ws.data(), wsb);
    call("unknown bits 0x10", GK_ERROR_INVALID_ARGUMENT, &d.topo, &geo, 0, q, 0, 0x10, F.data(), S.data(), ws.data(), wsb);
    // GK_FS_FAST is built: it needs 9 * num_graphs doubles of workspace with a stress output.
    call("workspace is NULL", GK_ERROR_WORKSPACE, &d.topo, &geo, 0, q, 0, GK_FS_FAST, F.data(), S.data(), nullptr, 0);
    call("combines GK_FS_VIRIAL and GK_FS_GPA", GK_ERROR_INVALID_ARGUMENT, &d.topo, &geo, 0, q, 0, 3, F.data(), S.data(), ws.data(), wsb);
    call("edge_quantity is NULL", GK_ERROR_INVALID_ARGUMENT, &d.topo, &geo, 0, nullptr, 0, 0, F.data(), S.data(), ws.data(), wsb);
    call("forces is NULL", GK_ERROR_INVALID_ARGUMENT, &d.topo, &geo, 0, q, 0, 0, nullptr, S.data(), ws.data(), wsb);
    call("workspace is NULL", GK_ERROR_WORKSPACE, &d.topo, &geo, 0, q, 0, 0, F.data(), S.data(), nullptr, 0);
    call("workspace_bytes = 8", GK_ERROR_WORKSPACE, &d.topo, &geo, 0, q, 0, 0, F.data(), S.data(), ws.data(), 8);
    call("forces overlaps edge_quantity", GK_ERROR_INVALID_ARGUMENT, &d.topo, &geo, 0, q, 0, 0,
         const_cast<float*>(q) + 1, S.data(), ws.data(), wsb);
    call("forces overlaps stress", GK_ERROR_INVALID_ARGUMENT, &d.topo, &geo, 0, q, 0, 0, F.data(), F.data() + 2, ws.data(), wsb);
    gk_fs_geometry g2 = geo;
    g2.cell = nullptr;
    call("geometry->cell is NULL", GK_ERROR_INVALID_ARGUMENT, &d.topo, &g2, 0, q, 0, 0, F.data(), S.data(), ws.data(), wsb);
    g2 = geo;
    g2.positions = in.pos.data();
    call("must be NULL (give r_e one way)", GK_ERROR_INVALID_ARGUMENT, &d.topo, &g2, 0, q, 0, 0, F.data(), S.data(), ws.data(), wsb);
    g2 = geo;
    g2.edge_vec = nullptr;
    g2.positions = in.pos.data();
    call("geometry->shifts is NULL", GK_ERROR_INVALID_ARGUMENT, &d.topo, &g2, 0, q, 0, 0, F.data(), S.data(), ws.data(), wsb);
    gk_fs_topology t2 = d.topo;
    t2.index_type = 3;
    call("topology->index_type = 3", GK_ERROR_INVALID_ARGUMENT, &t2, &geo, 0, q, 0, 0, F.data(), S.data(), ws.data(), wsb);
    t2 = d.topo;
    t2.num_edges = int64_t{1} << 33;
    call("use GK_INDEX_INT64", GK_ERROR_INDEX_OVERFLOW, &t2, &geo, 0, q, 0, 0, F.data(), S.data(), ws.data(), wsb);
    t2 = d.topo;
    t2.dst_perm = nullptr;
    call("topology->dst_perm is NULL", GK_ERROR_INVALID_ARGUMENT, &t2, &geo, 0, q, 0, 0, F.data(), S.data(), ws.data(), wsb);
    t2 = d.topo;
    t2.num_graphs = -2;
    call("num_graphs = -2", GK_ERROR_INVALID_ARGUMENT, &t2, &geo, 0, q, 0, 0, F.data(), S.data(), ws.data(), wsb);
    // Virial output needs no cell; forces-only needs no workspace; success clears the message.
    g2 = geo;
    g2.cell = nullptr;
    CHECK(gk_force_stress_readout(&d.topo, &g2, 0, q, 0, GK_FS_VIRIAL, F.data(), S.data(), nullptr,
                                  ws.data(), wsb, nullptr) == GK_SUCCESS,
          "virial without cell: %s", gk_last_error_message());
    CHECK(gk_force_stress_readout(&d.topo, &geo, 0, q, 0, 0, F.data(), nullptr, nullptr, nullptr, 0,
                                  nullptr) == GK_SUCCESS,
          "forces only: %s", gk_last_error_message());
    CHECK(gk_last_error_message()[0] == '\0', "message not cleared: %s", gk_last_error_message());

    // The backward: argument errors leave grad_quantity / grad_edge_vec untouched.
    std::vector<float> GF(3 * b.N, 0.5f), GS(9 * b.B, 0.25f), GQ(3 * static_cast<int64_t>(b.edges.size()), 9.f), GR(3 * static_cast<int64_t>(b.edges.size()), 9.f);
    auto bwd = [&](const char* what, gk_status want, int mode, uint32_t flags, const float* gf,
                   const float* gs, float* gq, float* gr, const gk_fs_geometry* g) {
        const std::vector<float> Q0 = GQ, R0 = GR;
        const gk_status st = gk_force_stress_backward(&d.topo, g, mode, q, 0, flags, gf, gs, gq, gr, nullptr);
        CHECK(st == want, "backward %s: status %d, want %d (%s)", what, st, want, gk_last_error_message());
        CHECK(std::strstr(gk_last_error_message(), what) != nullptr, "message '%s' does not name '%s'",
              gk_last_error_message(), what);
        CHECK(GQ == Q0 && GR == R0, "backward %s: an output was written", what);
    };
    bwd("grad_quantity is NULL", GK_ERROR_INVALID_ARGUMENT, 0, 0, GF.data(), GS.data(), nullptr, GR.data(), &geo);
    bwd("has GK_FS_FAST", GK_ERROR_INVALID_ARGUMENT, 0, GK_FS_FAST, GF.data(), GS.data(), GQ.data(), GR.data(), &geo);
    bwd("mode = 4", GK_ERROR_INVALID_ARGUMENT, 4, 0, GF.data(), GS.data(), GQ.data(), GR.data(), &geo);
    bwd("grad_quantity overlaps grad_forces", GK_ERROR_INVALID_ARGUMENT, 0, 0, GF.data(), GS.data(), GF.data(), GR.data(), &geo);
    bwd("grad_quantity overlaps grad_edge_vec", GK_ERROR_INVALID_ARGUMENT, 0, 0, GF.data(), GS.data(), GQ.data(), GQ.data() + 1, &geo);
    g2 = geo;
    g2.cell = nullptr;
    bwd("geometry->cell is NULL", GK_ERROR_INVALID_ARGUMENT, 0, 0, GF.data(), GS.data(), GQ.data(), GR.data(), &g2);
    // Forces-only gradient: dL/dg_e = G[src] - G[dst] = 0 for a uniform G, exactly.
    CHECK(gk_force_stress_backward(&d.topo, &g2, 0, q, 0, 0, GF.data(), nullptr, GQ.data(), nullptr, nullptr) == GK_SUCCESS,
          "backward forces only: %s", gk_last_error_message());
    CHECK(std::all_of(GQ.begin(), GQ.end(), [](float v) { return v == 0.0f; }), "backward: uniform G must give dL/dg = 0");
}

// The fused readout head: s_e = w . h_e + b in the kernel. Against plain direct mode fed s_e formed
// here by the documented fp32 order (FMAs over c ascending, then + b): bitwise equal outputs and
// gradients; dL/dh = dL/ds w exactly; dL/dw, dL/db against double sums; argument errors.
static void test_head() {
    const Batch b = make_batch(13);
    std::mt19937_64 rng(17);
    const Inputs in = make_inputs(b, rng);
    const int64_t E = static_cast<int64_t>(b.edges.size());
    const int64_t C = 5, LD = 7;
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    std::vector<float> h(E * LD), w(C), bias{0.375f};
    for (int64_t e = 0; e < E; ++e)
        for (int64_t c = 0; c < LD; ++c) h[e * LD + c] = c < C ? u(rng) : NAN;
    for (float& x : w) x = u(rng);
    std::vector<float> s(E);
    for (int64_t e = 0; e < E; ++e) {
        float acc = 0.f;
        for (int64_t c = 0; c < C; ++c) acc = std::fmaf(h[e * LD + c], w[c], acc);
        s[e] = acc + bias[0];
    }
    gk_fs_head head{h.data(), w.data(), bias.data(), C, LD};
    for (int idx = 0; idx < 2; ++idx)
        for (int pos = 0; pos < 2; ++pos)
            for (uint32_t flags : {0u, static_cast<uint32_t>(GK_FS_FAST)}) {
                Dev<int32_t> d32(b);
                Dev<int64_t> d64(b);
                const gk_fs_topology* t = idx == 0 ? &d32.topo : &d64.topo;
                gk_fs_geometry geo{};
                if (pos) {
                    geo.positions = in.pos.data();
                    geo.shifts = in.shifts.data();
                } else {
                    geo.edge_vec = in.edge_vec.data();
                }
                geo.cell = in.cell.data();
                geo.periodic = in.periodic.data();
                size_t wsb = 0;
                CHECK(gk_force_stress_workspace_size(t, flags, &wsb) == GK_SUCCESS, "ws");
                std::vector<double> ws(wsb / 8 + 1);
                std::vector<float> F1(3 * b.N, -1.f), S1(6 * b.B, -1.f), W1(6 * b.N, -1.f);
                std::vector<float> F2 = F1, S2 = S1, W2 = W1;
                CHECK(gk_force_stress_readout_head(t, &geo, &head, GK_FS_VOIGT_ASE, flags, F1.data(),
                                                   S1.data(), W1.data(), ws.data(), wsb,
                                                   nullptr) == GK_SUCCESS,
                      "readout_head: %s", gk_last_error_message());
                CHECK(gk_force_stress_readout(t, &geo, GK_FS_DIRECT, s.data(), GK_FS_VOIGT_ASE, flags,
                                              F2.data(), S2.data(), W2.data(), ws.data(), wsb,
                                              nullptr) == GK_SUCCESS,
                      "readout: %s", gk_last_error_message());
                if (flags == 0) {
                    CHECK(std::memcmp(F1.data(), F2.data(), F1.size() * 4) == 0 &&
                              std::memcmp(S1.data(), S2.data(), S1.size() * 4) == 0 &&
                              std::memcmp(W1.data(), W2.data(), W1.size() * 4) == 0,
                          "head != direct fed the same s_e (index %d pos %d)", idx, pos);
                } else {
                    // GK_FS_FAST: atomics, the order may differ; the sum of the same terms.
                    bool ok = true;
                    for (size_t i = 0; i < F1.size(); ++i) ok = ok && std::fabs(F1[i] - F2[i]) <= 1e-5f;
                    CHECK(ok, "fast head forces differ from fast direct (index %d pos %d)", idx, pos);
                }
                if (flags != 0) continue;
                // Backward.
                std::vector<float> GF(3 * b.N), GS(6 * b.B);
                for (float& x : GF) x = u(rng);
                for (float& x : GS) x = u(rng);
                std::vector<float> gs1(E, -3.f), gr1(3 * E, -3.f), gh(E * LD, -9.f), gw(C, -3.f), gb(1, -3.f);
                std::vector<float> gs2(E, -4.f), gr2(3 * E, -4.f);
                size_t hwsb = 0;
                CHECK(gk_force_stress_backward_head_workspace_size(t, &head, &hwsb) == GK_SUCCESS, "head ws");
                const int64_t blocks = std::min<int64_t>((E + 255) / 256, 1024);
                CHECK(hwsb == static_cast<size_t>(blocks * (C + 1) * 8), "head ws = %zu", hwsb);
                std::vector<double> hws(hwsb / 8 + 1);
                gk_fs_head_grad grads{gs1.data(), gh.data(), LD, gw.data(), gb.data()};
                CHECK(gk_force_stress_backward_head(t, &geo, &head, GK_FS_VOIGT_ASE, 0, GF.data(), GS.data(),
                                                    &grads, gr1.data(), hws.data(), hwsb,
                                                    nullptr) == GK_SUCCESS,
                      "backward_head: %s", gk_last_error_message());
                CHECK(gk_force_stress_backward(t, &geo, GK_FS_DIRECT, s.data(), GK_FS_VOIGT_ASE, 0, GF.data(),
                                               GS.data(), gs2.data(), gr2.data(), nullptr) == GK_SUCCESS,
                      "backward: %s", gk_last_error_message());
                CHECK(std::memcmp(gs1.data(), gs2.data(), gs1.size() * 4) == 0 &&
                          std::memcmp(gr1.data(), gr2.data(), gr1.size() * 4) == 0,
                      "head backward dL/ds, dL/dr != direct backward with the same s_e");
                bool ok = true;
                double sb = 0, sbabs = 0;
                std::vector<double> sw(C, 0.0), swabs(C, 0.0);
                for (int64_t e = 0; e < E; ++e) {
                    for (int64_t c = 0; c < LD; ++c) {
                        const float want = c < C ? gs2[e] * w[c] : -9.f;  // padding untouched
                        ok = ok && std::memcmp(&gh[e * LD + c], &want, 4) == 0;
                        if (c < C) {
                            sw[c] += double(gs2[e]) * h[e * LD + c];
                            swabs[c] += std::fabs(double(gs2[e]) * h[e * LD + c]);
                        }
                    }
                    sb += gs2[e];
                    sbabs += std::fabs(gs2[e]);
                }
                CHECK(ok, "dL/dh != dL/ds * w (or a padding column was written)");
                // fp64 sums of the same exact products, one fp32 rounding: 1e-7 relative to the sum of |.|.
                for (int64_t c = 0; c < C; ++c)
                    CHECK(std::fabs(gw[c] - sw[c]) <= 1e-7 * swabs[c] + 1e-30, "dL/dw[%lld] = %.9g, want %.9g",
                          (long long)c, gw[c], sw[c]);
                CHECK(std::fabs(gb[0] - sb) <= 1e-7 * sbabs, "dL/db = %.9g, want %.9g", gb[0], sb);
            }

    // Argument errors: outputs untouched, the message names the argument.
    Dev<int32_t> d(b);
    gk_fs_geometry geo{};
    geo.edge_vec = in.edge_vec.data();
    geo.cell = in.cell.data();
    geo.periodic = in.periodic.data();
    std::vector<float> F(3 * b.N, 1.25f), S(9 * b.B, 2.5f);
    std::vector<double> ws(9 * b.N);
    const size_t wsb = ws.size() * 8;
    auto call = [&](const char* what, gk_status want, const gk_fs_head* hd, float* f) {
        const std::vector<float> F0 = F, S0 = S;
        const gk_status st = gk_force_stress_readout_head(&d.topo, &geo, hd, 0, 0, f, S.data(), nullptr,
                                                          ws.data(), wsb, nullptr);
        CHECK(st == want, "head %s: status %d, want %d (%s)", what, st, want, gk_last_error_message());
        CHECK(std::strstr(gk_last_error_message(), what) != nullptr, "message '%s' does not name '%s'",
              gk_last_error_message(), what);
        CHECK(F == F0 && S == S0, "head %s: an output was written", what);
    };
    gk_fs_head hb = head;
    call("head is NULL", GK_ERROR_INVALID_ARGUMENT, nullptr, F.data());
    hb.weight = nullptr;
    call("head->weight is NULL", GK_ERROR_INVALID_ARGUMENT, &hb, F.data());
    hb = head;
    hb.channels = 0;
    call("head->channels = 0, must be >= 1", GK_ERROR_INVALID_ARGUMENT, &hb, F.data());
    hb = head;
    hb.ld = C - 1;
    call("head->ld = 4 is less than head->channels = 5", GK_ERROR_INVALID_ARGUMENT, &hb, F.data());
    hb = head;
    hb.features = nullptr;
    call("head->features is NULL", GK_ERROR_INVALID_ARGUMENT, &hb, F.data());
    hb = head;
    hb.features = reinterpret_cast<const float*>(reinterpret_cast<const char*>(h.data()) + 2);
    call("head->features", GK_ERROR_INVALID_ARGUMENT, &hb, F.data());
    CHECK(std::strstr(gk_last_error_message(), "is not 4-byte aligned") != nullptr, "misaligned: %s", gk_last_error_message());
    hb = head;
    hb.bias = reinterpret_cast<const float*>(reinterpret_cast<const char*>(bias.data()) + 1);
    call("head->bias", GK_ERROR_INVALID_ARGUMENT, &hb, F.data());
    hb = head;
    hb.ld = int64_t{1} << 57;
    call("overflows 64-bit byte offsets", GK_ERROR_INDEX_OVERFLOW, &hb, F.data());
    std::vector<float> big(E * LD + 3 * b.N, 0.5f);
    hb = head;
    hb.features = big.data();
    {
        const std::vector<float> B0 = big;
        CHECK(gk_force_stress_readout_head(&d.topo, &geo, &hb, 0, 0, big.data() + 1, S.data(), nullptr,
                                           ws.data(), wsb, nullptr) == GK_ERROR_INVALID_ARGUMENT &&
                  std::strstr(gk_last_error_message(), "forces overlaps head->features") != nullptr,
              "overlap: %s", gk_last_error_message());
        CHECK(big == B0, "overlap: an output was written");
    }
    // Backward argument errors.
    std::vector<float> GF(3 * b.N, 0.5f), gs(E, 7.f), gh(E * C, 7.f), gw(C, 7.f), gb(1, 7.f);
    size_t hwsb = 0;
    CHECK(gk_force_stress_backward_head_workspace_size(&d.topo, &head, &hwsb) == GK_SUCCESS, "ws");
    std::vector<double> hws(hwsb / 8 + 1);
    auto bwd = [&](const char* what, gk_status want, const gk_fs_head_grad* g, void* w, size_t wb, uint32_t flags) {
        const std::vector<float> a = gs, bb = gh, c = gw, dd = gb;
        const gk_status st = gk_force_stress_backward_head(&d.topo, &geo, &head, 0, flags, GF.data(), nullptr, g,
                                                           nullptr, w, wb, nullptr);
        CHECK(st == want, "backward_head %s: status %d, want %d (%s)", what, st, want, gk_last_error_message());
        CHECK(std::strstr(gk_last_error_message(), what) != nullptr, "message '%s' does not name '%s'",
              gk_last_error_message(), what);
        CHECK(gs == a && gh == bb && gw == c && gb == dd, "backward_head %s: an output was written", what);
    };
    gk_fs_head_grad g0{gs.data(), gh.data(), C, gw.data(), gb.data()};
    bwd("grads is NULL", GK_ERROR_INVALID_ARGUMENT, nullptr, hws.data(), hwsb, 0);
    bwd("has GK_FS_FAST", GK_ERROR_INVALID_ARGUMENT, &g0, hws.data(), hwsb, GK_FS_FAST);
    gk_fs_head_grad g1 = g0;
    g1.grad_ld = C - 1;
    bwd("grads->grad_ld = 4 is less than head->channels = 5", GK_ERROR_INVALID_ARGUMENT, &g1, hws.data(), hwsb, 0);
    bwd("workspace is NULL", GK_ERROR_WORKSPACE, &g0, nullptr, 0, 0);
    bwd("workspace_bytes = 8, needs", GK_ERROR_WORKSPACE, &g0, hws.data(), 8, 0);
    g1 = g0;
    g1.grad_weight = reinterpret_cast<float*>(reinterpret_cast<char*>(gw.data()) + 2);
    bwd("grads->grad_weight", GK_ERROR_INVALID_ARGUMENT, &g1, hws.data(), hwsb, 0);
    g1 = g0;
    g1.grad_weight = gs.data() + 1;
    bwd("grads->grad_scalar overlaps grads->grad_weight", GK_ERROR_INVALID_ARGUMENT, &g1, hws.data(), hwsb, 0);
    g1 = g0;
    g1.grad_features = const_cast<float*>(h.data());
    g1.grad_ld = LD;
    bwd("grads->grad_features overlaps head->features", GK_ERROR_INVALID_ARGUMENT, &g1, hws.data(), hwsb, 0);
    bwd("grads->grad_features overlaps workspace", GK_ERROR_INVALID_ARGUMENT, &g0, gh.data(), hwsb, 0);
    // No edge needs no workspace read, and gives dL/dw = 0, dL/db = 0.
    gk_fs_topology t0 = d.topo;
    t0.num_edges = 0;
    t0.num_atoms = 0;
    t0.num_graphs = 0;
    size_t zb = 1;
    CHECK(gk_force_stress_backward_head_workspace_size(&t0, &head, &zb) == GK_SUCCESS && zb == 0, "E = 0 ws %zu", zb);
    CHECK(gk_force_stress_backward_head(&t0, &geo, &head, 0, 0, nullptr, nullptr, &g0, nullptr, nullptr, 0,
                                        nullptr) == GK_SUCCESS,
          "E = 0: %s", gk_last_error_message());
    CHECK(std::all_of(gw.begin(), gw.end(), [](float v) { return v == 0.0f; }) && gb[0] == 0.0f, "E = 0: dL/dw, dL/db must be 0");
}

int main() {
    test_head();
    test_bad_arguments();
    test_validate();
    test_matrix();
    return check_summary();
}
