// Fused force/stress readout for a batch of atomic structures (deterministic mode).
//
// Edge e = (src i, dst j), r_e = x_j - x_i + S_e . L (rows of L are lattice vectors). The per-edge
// quantity is g_e = dE/dr_e (conservative, [E,3]) or g_e = s_e r_e / |r_e| (direct, [E], g = 0 for
// r = 0), with s_e either given or (MODE kFsDirectHead) computed at every visit by the fused readout
// head s_e = w . h_e + b (fs_head_scalar: + 4 C B of h per visit instead of 4 B of s; never written).
// Then F_i = sum_{src=i} g_e - sum_{dst=i} g_e and Sigma_b = sum_{e in b} r_e (x) g_e.
//
// force_stress_atom_kernel. Work split: a *group* of G lanes (G = 1..32, a power of two chosen by
// the launcher from the mean degree E / N) owns one atom i at a time, grid-stride over atoms; a
// block is 256 threads = 256 / G atoms per sweep. Lane j of the group walks the atom's out-edges
// (by-source CSR: positions src_ptr[i] + j, + j + G, ...) and then its in-edges (positions
// dst_ptr[i] + j, ... of dst_perm, which maps them to edge ids), recomputing r_e and g_e on each
// visit, so neither is ever written. Each lane folds its edges in that order (fp32 for the force,
// fp64 for r (x) g of the out-edges, and of the in-edges when the per-atom virial is requested),
// then the group combines its lanes with the fixed xor butterfly of warp_reduce_sum, and lane 0
// writes F_i (12 B, one owner, no atomics) and the atom's 9 fp64 partial sums Sigma_i =
// sum_{src=i} r (x) g into the workspace (component-major [9][N], so the graph pass reads them
// coalesced). Every edge is an out-edge of exactly one atom, so sum_i Sigma_i over the atoms of a
// graph is its Sigma_b.
// Bytes per edge (each edge is visited twice, once from each end): edge_vec mode reads
// 2 x (12 B r + 12 B g, or 4 B s) + sizeof(I) of dst_perm; positions mode reads instead 2 x 12 B
// of shifts and 12 B of the far atom's position (L2-resident) + sizeof(I) of the far atom's index
// per visit. Per atom: 2 x 2 x sizeof(I) of CSR pointers, 12 B of forces and 72 B of partials
// written (+ 36 or 24 B of per-atom virial).
//
// force_stress_graph_kernel. Work split: one block of 128 threads per graph (grid-stride over
// graphs). Thread t sums the partials of atoms start + t, start + t + 128, ... in that order in
// fp64, then each warp folds its lanes with the xor butterfly and thread 0 adds the 4 warp sums in
// warp order. So Sigma_b is the same bits on every run. Thread 0 then computes V = |det L| in fp64
// and writes stress = scale Sigma / V (0 for a structure flagged non-periodic) or virial
// W = -Sigma, as 9 values (row-major 3x3) or 6 Voigt values (off-diagonals (t_ab + t_ba) / 2).
// Bytes per atom: 72 B of partials read.
//
// force_stress_validate_kernel: grid-stride, thread t checks entry t of every array (CSR pointers,
// edge endpoints, the destination permutation, cells), folding the lowest bad position of each
// check into one 64-bit word with atomicMin, as gk::csr_validate_kernel does.
//
// Determinism: no atomics in the readout; every sum has one owner and a fixed order that depends
// only on the inputs and G, so results are bitwise identical run to run.
//
// Registers (ptxas 11.8, -Xptxas -v, 0 bytes stack, 0 spills in every variant): atom kernel 48-66
// per thread on sm_90 (50-69 on sm_80) without the per-atom virial, 64-84 (68-86) with it; graph
// kernel 56 (+ 288 B shared); validate kernel 38; backward kernel 42-48 on sm_90 and sm_80
// (__launch_bounds__(256, 4): without the min-blocks hint ptxas capped it at 40 and spilled 8 B);
// fast kernel 64-68 on sm_90 + 592 B shared; fast finalize kernel 48. Fused head (MODE 2): atom
// kernel 50-64 (72-96 with the per-atom virial), fast kernel 64, head backward 64 (+ 1 KB shared,
// __launch_bounds__(256, 4)), head reduce 32 (sm_90, 0 spills).
#ifndef GK_FORCE_STRESS_CUH
#define GK_FORCE_STRESS_CUH

#include "common/gk_device.cuh"

namespace gk {

// kFsConservative and kFsDirect are gk_fs_mode; kFsDirectHead (internal) is direct mode with the
// fused readout head s_e = w . h_e + b (gk_force_stress_readout_head / _backward_head).
enum FsMode { kFsConservative = 0, kFsDirect = 1, kFsDirectHead = 2 };
enum FsGeometry { kFsEdgeVec = 0, kFsPositions = 1 };   // edge_vec given / computed in the kernel
enum FsLayout { kFsTensor = 0, kFsVoigtAse = 1, kFsVoigtLammps = 2, kFsVoigtSevenNet = 3 };

constexpr int kFsAtomBlockThreads = 256;
constexpr int kFsGraphBlockThreads = 128;
constexpr int kFsValidateBlockThreads = 256;
constexpr int kFsValidateSlots = 9;

// The fused readout head (gk_fs_head): s_e = sum_c h[e][c] w[c] + b, from edge features h [E, ld].
struct FsHead {
    const float* h;       // [E, ld], row e at h + e * ld (64-bit offset)
    const float* w;       // [C]
    const float* bias;    // [1] or null (b = 0)
    int64_t channels;     // C >= 1
    int64_t ld;           // >= C
};

template <typename I>
struct FsAtomArgs {
    const I* graph_atom_ptr;  // [B + 1]
    const I* src_ptr;         // [N + 1]
    const I* edge_src;        // [E]
    const I* edge_dst;        // [E]
    const I* dst_ptr;         // [N + 1]
    const I* dst_perm;        // [E]
    const float* edge_vec;    // [E, 3]        (kFsEdgeVec)
    const float* positions;   // [N, 3]        (kFsPositions)
    const float* shifts;      // [E, 3]        (kFsPositions)
    const float* cell;        // [B, 3, 3]     (kFsPositions)
    const float* quantity;    // [E, 3] g or [E] s (null with kFsDirectHead)
    FsHead head;              // kFsDirectHead only
    float* forces;            // [N, 3]
    double* partial;          // [9, N] or null (no stress requested)
    float* atom_virial;       // [N, 9 | 6] or null
    int64_t num_atoms;
    int64_t num_graphs;
    int layout;
    int group_log2;
};

// Largest b with graph_atom_ptr[b] <= atom (the graph of a valid atom; bounded for any contents).
template <typename I>
GK_D int64_t fs_graph_of(const I* graph_atom_ptr, int64_t num_graphs, int64_t atom) {
    int64_t lo = 0, hi = num_graphs;
    while (hi - lo > 1) {
        const int64_t mid = lo + ((hi - lo) >> 1);
        if (static_cast<int64_t>(__ldg(graph_atom_ptr + mid)) <= atom) lo = mid;
        else hi = mid;
    }
    return lo;
}

// r_e = (x_dst - x_src) + S_e . L, with the shift product as explicit FMAs so both visits of an
// edge (from its source and from its destination) get the same bits whatever the compiler
// contracts.
GK_D void fs_edge_vector_pos(const float* __restrict__ positions, const float* __restrict__ shifts,
                             const float (&L)[9], int64_t src, int64_t dst, int64_t e, float (&r)[3]) {
    const float s0 = __ldg(shifts + 3 * e), s1 = __ldg(shifts + 3 * e + 1),
                s2 = __ldg(shifts + 3 * e + 2);
#pragma unroll
    for (int k = 0; k < 3; ++k) {
        const float sh = __fmaf_rn(s2, L[6 + k], __fmaf_rn(s1, L[3 + k], s0 * L[k]));
        r[k] = (__ldg(positions + 3 * dst + k) - __ldg(positions + 3 * src + k)) + sh;
    }
}

// s_e of the fused head: fp32 FMAs over the channels in increasing order from 0, then + b. Every
// visit of an edge (from its source, from its destination, in the backward) gets the same bits.
GK_D float fs_head_scalar(const FsHead& hd, int64_t e) {
    const float* __restrict__ row = hd.h + offset2d(e, hd.ld, 0);
    float s = 0.0f;
    for (int64_t c = 0; c < hd.channels; ++c) s = __fmaf_rn(__ldg(row + c), __ldg(hd.w + c), s);
    return hd.bias != nullptr ? s + __ldg(hd.bias) : s;
}

// g_e from the edge quantity. Returns c = s / |r| in direct mode (unused in conservative mode).
template <int MODE>
GK_D float fs_edge_g(const float* __restrict__ quantity, const FsHead& head, int64_t e,
                     const float (&r)[3], float (&g)[3]) {
    if (MODE == kFsConservative) {
#pragma unroll
        for (int k = 0; k < 3; ++k) g[k] = __ldg(quantity + 3 * e + k);
        return 0.0f;
    }
    const float s = MODE == kFsDirectHead ? fs_head_scalar(head, e) : __ldg(quantity + e);
    const float rr = __fmaf_rn(r[2], r[2], __fmaf_rn(r[1], r[1], r[0] * r[0]));
    const float c = rr > 0.0f ? s / sqrtf(rr) : 0.0f;
#pragma unroll
    for (int k = 0; k < 3; ++k) g[k] = c * r[k];
    return c;
}

template <int MODE>
GK_D float fs_edge_g(const float* __restrict__ quantity, int64_t e, const float (&r)[3],
                     float (&g)[3]) {
    const FsHead none = {nullptr, nullptr, nullptr, 0, 0};
    return fs_edge_g<MODE>(quantity, none, e, r, g);
}

// acc += r (x) g in fp64. In direct mode the product is formed as c * (r_a * r_b), with r_a * r_b
// exact in fp64, so the accumulated tensor is exactly symmetric.
template <int MODE>
GK_D void fs_accumulate(double (&acc)[9], const float (&r)[3], const float (&g)[3], float c) {
#pragma unroll
    for (int a = 0; a < 3; ++a)
#pragma unroll
        for (int b = 0; b < 3; ++b) {
            if (MODE == kFsConservative)
                acc[3 * a + b] += static_cast<double>(r[a]) * static_cast<double>(g[b]);
            else
                acc[3 * a + b] += static_cast<double>(c) *
                                  (static_cast<double>(r[a]) * static_cast<double>(r[b]));
        }
}

// Writes a 3x3 tensor (times `scale`) as 9 row-major values or 6 Voigt values in `layout` order.
GK_D void fs_store_tensor(const double (&t)[9], double scale, int layout, float* out) {
    if (layout == kFsTensor) {
#pragma unroll
        for (int k = 0; k < 9; ++k) out[k] = static_cast<float>(scale * t[k]);
        return;
    }
    const double xy = 0.5 * (t[1] + t[3]), xz = 0.5 * (t[2] + t[6]), yz = 0.5 * (t[5] + t[7]);
    out[0] = static_cast<float>(scale * t[0]);
    out[1] = static_cast<float>(scale * t[4]);
    out[2] = static_cast<float>(scale * t[8]);
    if (layout == kFsVoigtAse) {          // xx yy zz yz xz xy
        out[3] = static_cast<float>(scale * yz);
        out[4] = static_cast<float>(scale * xz);
        out[5] = static_cast<float>(scale * xy);
    } else if (layout == kFsVoigtLammps) {  // xx yy zz xy xz yz
        out[3] = static_cast<float>(scale * xy);
        out[4] = static_cast<float>(scale * xz);
        out[5] = static_cast<float>(scale * yz);
    } else {                              // SevenNet: xx yy zz xy yz zx
        out[3] = static_cast<float>(scale * xy);
        out[4] = static_cast<float>(scale * yz);
        out[5] = static_cast<float>(scale * xz);
    }
}

// The one fixed-order block reduction of 9 fp64 components (the graph pass, the fast kernel's
// segmented stress, and the unfused baseline's stress launch): each warp folds its lanes with the
// xor butterfly of warp_reduce_sum, lane 0 of each warp stores its 9 sums in warp_sums
// [THREADS / 32][9] (shared), and thread 0 adds them in warp order 0, 1, ... into v. On return only
// thread 0's v holds the block sum; every thread of the block must call it, and the caller must
// __syncthreads() after thread 0 has used the sum and before warp_sums is written again (keeping
// that barrier after the consumer keeps the sum out of registers across it: no spills).
template <int THREADS>
GK_D void fs_block_sum9(double (&v)[9], double* warp_sums) {
    const int t = static_cast<int>(threadIdx.x);
    const int lane = t & (kWarpSize - 1), warp = t >> 5;
#pragma unroll
    for (int k = 0; k < 9; ++k) v[k] = warp_reduce_sum(v[k]);
    if (lane == 0) {
#pragma unroll
        for (int k = 0; k < 9; ++k) warp_sums[warp * 9 + k] = v[k];
    }
    __syncthreads();
    if (t == 0) {
#pragma unroll
        for (int k = 0; k < 9; ++k) {
            double x = warp_sums[k];
            for (int w = 1; w < THREADS / kWarpSize; ++w) x += warp_sums[w * 9 + k];
            v[k] = x;
        }
    }
}

template <typename I, int MODE, int GEOM, bool ATOM_VIRIAL>
__global__ void force_stress_atom_kernel(FsAtomArgs<I> p) {
    const int group = 1 << p.group_log2;
    const int lane = static_cast<int>(threadIdx.x) & (kWarpSize - 1);
    const int glane = lane & (group - 1);
    const unsigned mask =
        group == kWarpSize ? kFullMask : (((1u << group) - 1u) << (lane & ~(group - 1)));
    const int64_t groups_per_grid =
        (static_cast<int64_t>(gridDim.x) * blockDim.x) >> p.group_log2;
    const int64_t first =
        (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> p.group_log2;
    const bool want_partial = p.partial != nullptr;

    for (int64_t atom = first; atom < p.num_atoms; atom += groups_per_grid) {
        float L[9];
        if (GEOM == kFsPositions) {
            const int64_t b = fs_graph_of(p.graph_atom_ptr, p.num_graphs, atom);
#pragma unroll
            for (int k = 0; k < 9; ++k) L[k] = __ldg(p.cell + 9 * b + k);
        }
        float f[3] = {0.0f, 0.0f, 0.0f};
        double vs[9], vd[9];
#pragma unroll
        for (int k = 0; k < 9; ++k) {
            vs[k] = 0.0;
            vd[k] = 0.0;
        }

        // Out-edges: g enters with +.
        const int64_t s0 = static_cast<int64_t>(__ldg(p.src_ptr + atom));
        const int64_t s1 = static_cast<int64_t>(__ldg(p.src_ptr + atom + 1));
        for (int64_t e = s0 + glane; e < s1; e += group) {
            float r[3], g[3];
            if (GEOM == kFsPositions) {
                fs_edge_vector_pos(p.positions, p.shifts, L, atom,
                                   static_cast<int64_t>(__ldg(p.edge_dst + e)), e, r);
            } else {
#pragma unroll
                for (int k = 0; k < 3; ++k) r[k] = __ldg(p.edge_vec + 3 * e + k);
            }
            const float c = fs_edge_g<MODE>(p.quantity, p.head, e, r, g);
            if (want_partial || ATOM_VIRIAL) fs_accumulate<MODE>(vs, r, g, c);
#pragma unroll
            for (int k = 0; k < 3; ++k) f[k] += g[k];
        }

        // In-edges, through the destination permutation: g enters with -.
        const int64_t d0 = static_cast<int64_t>(__ldg(p.dst_ptr + atom));
        const int64_t d1 = static_cast<int64_t>(__ldg(p.dst_ptr + atom + 1));
        for (int64_t k0 = d0 + glane; k0 < d1; k0 += group) {
            const int64_t e = static_cast<int64_t>(__ldg(p.dst_perm + k0));
            float r[3], g[3];
            if (GEOM == kFsPositions) {
                fs_edge_vector_pos(p.positions, p.shifts, L,
                                   static_cast<int64_t>(__ldg(p.edge_src + e)), atom, e, r);
            } else {
#pragma unroll
                for (int k = 0; k < 3; ++k) r[k] = __ldg(p.edge_vec + 3 * e + k);
            }
            const float c = fs_edge_g<MODE>(p.quantity, p.head, e, r, g);
            if (ATOM_VIRIAL) fs_accumulate<MODE>(vd, r, g, c);
#pragma unroll
            for (int k = 0; k < 3; ++k) f[k] -= g[k];
        }

#pragma unroll
        for (int k = 0; k < 3; ++k) f[k] = warp_reduce_sum(f[k], mask, group);
        if (want_partial || ATOM_VIRIAL) {
#pragma unroll
            for (int k = 0; k < 9; ++k) vs[k] = warp_reduce_sum(vs[k], mask, group);
        }
        if (ATOM_VIRIAL) {
#pragma unroll
            for (int k = 0; k < 9; ++k) vd[k] = warp_reduce_sum(vd[k], mask, group);
        }
        if (glane == 0) {
#pragma unroll
            for (int k = 0; k < 3; ++k) p.forces[3 * atom + k] = f[k];
            if (want_partial) {
#pragma unroll
                for (int k = 0; k < 9; ++k) p.partial[k * p.num_atoms + atom] = vs[k];
            }
            if (ATOM_VIRIAL) {
                // LAMMPS per-atom virial: W_e = -r (x) g, half to each end of the edge.
                double w[9];
#pragma unroll
                for (int k = 0; k < 9; ++k) w[k] = vs[k] + vd[k];
                const int width = p.layout == kFsTensor ? 9 : 6;
                fs_store_tensor(w, -0.5, p.layout, p.atom_virial + width * atom);
            }
        }
    }
}

// out_kind: 0 = stress (scale Sigma / V, 0 when not periodic), 1 = virial (-Sigma).
template <typename I>
__global__ void __launch_bounds__(kFsGraphBlockThreads)
force_stress_graph_kernel(const I* __restrict__ graph_atom_ptr, int64_t num_graphs,
                          const double* __restrict__ partial, int64_t num_atoms,
                          const float* __restrict__ cell, const unsigned char* __restrict__ periodic,
                          float* __restrict__ out, int layout, int out_kind, double scale) {
    GK_SHARED_ARRAY(double, warp_sums, (kFsGraphBlockThreads / kWarpSize) * 9);
    const int t = static_cast<int>(threadIdx.x);
    const int width = layout == kFsTensor ? 9 : 6;
    for (int64_t b = blockIdx.x; b < num_graphs; b += gridDim.x) {
        const int64_t a0 = static_cast<int64_t>(graph_atom_ptr[b]);
        const int64_t a1 = static_cast<int64_t>(graph_atom_ptr[b + 1]);
        double acc[9];
#pragma unroll
        for (int k = 0; k < 9; ++k) acc[k] = 0.0;
        for (int64_t a = a0 + t; a < a1; a += kFsGraphBlockThreads) {
#pragma unroll
            for (int k = 0; k < 9; ++k) acc[k] += partial[k * num_atoms + a];
        }
        fs_block_sum9<kFsGraphBlockThreads>(acc, warp_sums);
        if (t == 0) {
            const double(&s)[9] = acc;
            float* o = out + width * b;
            if (out_kind == 1) {
                fs_store_tensor(s, -scale, layout, o);
            } else if (periodic != nullptr && periodic[b] == 0) {
                for (int k = 0; k < width; ++k) o[k] = 0.0f;
            } else {
                const float* L = cell + 9 * b;
                const double l0 = L[0], l1 = L[1], l2 = L[2], l3 = L[3], l4 = L[4], l5 = L[5],
                             l6 = L[6], l7 = L[7], l8 = L[8];
                double v = l0 * (l4 * l8 - l5 * l7) - l1 * (l3 * l8 - l5 * l6) +
                           l2 * (l3 * l7 - l4 * l6);
                v = v < 0.0 ? -v : v;
                fs_store_tensor(s, scale / v, layout, o);
            }
        }
        __syncthreads();  // warp_sums is reused by the next graph
    }
}

template <typename I>
struct FsValidateArgs {
    const I* graph_atom_ptr;
    const I* src_ptr;
    const I* edge_src;
    const I* edge_dst;
    const I* dst_ptr;
    const I* dst_perm;
    const float* cell;                // may be null
    const unsigned char* periodic;    // may be null (all periodic)
    int64_t num_atoms, num_edges, num_graphs;
};

// Slots of the validation result (lowest bad position of each check).
enum FsValidateSlot {
    kFsBadGraphPtr = 0, kFsBadSrcPtr = 1, kFsBadDstPtr = 2, kFsBadEdgeSrc = 3, kFsBadEdgeDst = 4,
    kFsBadDstPerm = 5, kFsBadCrossing = 6, kFsBadCell = 7, kFsBadVolume = 8
};

// Is v[t] a valid entry of a pointer array of n + 1 entries ending at total?
template <typename I>
GK_D bool fs_ptr_entry_ok(const I* v, int64_t t, int64_t n, int64_t total) {
    const int64_t x = static_cast<int64_t>(v[t]);
    bool ok = x >= 0 && x <= total;
    if (t == 0) ok = ok && x == 0;
    if (t > 0) ok = ok && x >= static_cast<int64_t>(v[t - 1]);
    if (t == n) ok = ok && x == total;
    return ok;
}

GK_D bool fs_finite(double x) { return x - x == 0.0; }

template <typename I>
__global__ void __launch_bounds__(kFsValidateBlockThreads)
force_stress_validate_kernel(FsValidateArgs<I> a, unsigned long long* __restrict__ result) {
    const int64_t N = a.num_atoms, E = a.num_edges, B = a.num_graphs;
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    int64_t n = N + 1 > E ? N + 1 : E;
    n = n > B + 1 ? n : B + 1;
    for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
         t += stride) {
        const unsigned long long ut = static_cast<unsigned long long>(t);
        if (t <= B && !fs_ptr_entry_ok(a.graph_atom_ptr, t, B, N)) atomicMin(result + kFsBadGraphPtr, ut);
        if (t <= N && !fs_ptr_entry_ok(a.src_ptr, t, N, E)) atomicMin(result + kFsBadSrcPtr, ut);
        if (t <= N && !fs_ptr_entry_ok(a.dst_ptr, t, N, E)) atomicMin(result + kFsBadDstPtr, ut);
        if (t < E) {
            const int64_t s = static_cast<int64_t>(a.edge_src[t]);
            const int64_t d = static_cast<int64_t>(a.edge_dst[t]);
            const bool s_in = s >= 0 && s < N, d_in = d >= 0 && d < N;
            if (!s_in || t < static_cast<int64_t>(a.src_ptr[s]) ||
                t >= static_cast<int64_t>(a.src_ptr[s + 1]))
                atomicMin(result + kFsBadEdgeSrc, ut);
            if (!d_in) atomicMin(result + kFsBadEdgeDst, ut);
            if (s_in && d_in &&
                fs_graph_of(a.graph_atom_ptr, B, s) != fs_graph_of(a.graph_atom_ptr, B, d))
                atomicMin(result + kFsBadCrossing, ut);
            // dst_perm[t] must be an edge whose destination is the row holding position t, and
            // rows must list their edges in increasing order (so dst_perm is a permutation).
            const int64_t row = fs_graph_of(a.dst_ptr, N, t);  // largest row with dst_ptr[row] <= t
            const int64_t pe = static_cast<int64_t>(a.dst_perm[t]);
            bool ok = pe >= 0 && pe < E;
            if (ok) ok = static_cast<int64_t>(a.edge_dst[pe]) == row;
            // (t > 0: a corrupt negative dst_ptr[row] must not make t - 1 = -1 an index)
            if (ok && t > 0 && t > static_cast<int64_t>(a.dst_ptr[row]))
                ok = static_cast<int64_t>(a.dst_perm[t - 1]) < pe;
            if (!ok) atomicMin(result + kFsBadDstPerm, ut);
        }
        if (t < B && a.cell != nullptr) {
            const float* L = a.cell + 9 * t;
            bool finite = true;
            double l[9];
            for (int k = 0; k < 9; ++k) {
                l[k] = L[k];
                finite = finite && fs_finite(l[k]);
            }
            if (!finite) {
                atomicMin(result + kFsBadCell, ut);
            } else if (a.periodic == nullptr || a.periodic[t] != 0) {
                double v = l[0] * (l[4] * l[8] - l[5] * l[7]) - l[1] * (l[3] * l[8] - l[5] * l[6]) +
                           l[2] * (l[3] * l[7] - l[4] * l[6]);
                v = v < 0.0 ? -v : v;
                const double n0 = sqrt(l[0] * l[0] + l[1] * l[1] + l[2] * l[2]);
                const double n1 = sqrt(l[3] * l[3] + l[4] * l[4] + l[5] * l[5]);
                const double n2 = sqrt(l[6] * l[6] + l[7] * l[7] + l[8] * l[8]);
                if (!(v > 1e-12 * n0 * n1 * n2)) atomicMin(result + kFsBadVolume, ut);
            }
        }
    }
}


// ------------------------------------------------------------------------------------------------
// Backward (research notes §5.5). Given G = dL/dF [N,3] and H = dL/d(out) [B, 9|6] (the gradient of
// the per-structure output exactly as the forward wrote it: layout, stress/virial, eV/A^3 or GPa),
// with c_b the forward's factor from Sigma_b to the output (scale / V_b for stress, 0 for a
// structure flagged non-periodic, -1 for the virial) and K_b = c_b H_b expanded to 3x3 (a Voigt
// off-diagonal slot was (t_ab + t_ba) / 2, so H/2 goes to both (a,b) and (b,a)):
//   u_e   = dL/dg_e = G[src] - G[dst] + K_b^T r_e
//   dL/dr_e = K_b g_e                                         (conservative)
//   dL/ds_e = u_e . r^_e ;  dL/dr_e = K_b g_e + (s_e/|r_e|)(u_e - (u_e . r^_e) r^_e)   (direct)
// force_stress_backward_kernel. Work split: one thread per edge, grid-stride, 256-thread blocks.
// A pure gather: each thread reads G of the edge's two atoms (L2-resident), the 6 or 9 values of
// H of its graph (found by binary search of graph_atom_ptr), r_e (or shifts + positions + cell)
// and, when dL/dr is requested or in direct mode, g_e / s_e, and writes its own outputs once. No
// atomics, no reduction: bitwise reproducible. K_b^T r and K_b g are formed in fp64.
// Bytes per edge: 2 sizeof(I) (src, dst) + 12 B r_e (or 12 B shifts + 24 B positions) + 24 B G
// (L2) + [12 B g | 4 B s] + 12 B u or 4 B dL/ds written + 12 B dL/dr written when requested.
//
// force_stress_fast_kernel (GK_FS_FAST, research §5.4 A). Work split: one thread per edge, tiles
// of 256 consecutive edges per block, grid-stride over tiles. Forces: 6 fp32 atomicAdd per edge
// (F[src] += g, F[dst] -= g) into forces zeroed by the launcher. Stress: edges are sorted by graph,
// so a tile spans graphs [b_first, b_last]; for each of them the block sums r (x) g of its edges
// of that graph (warp xor butterfly, then thread 0 over the 8 warps, all fp64) and thread 0 does 9
// fp64 atomicAdd into acc[b][9] (zeroed by the launcher): one atomic per block, graph and
// component. Per-atom virial: 2 x width fp32 atomics per edge. The order in which atomics land
// varies run to run, so results are NOT bitwise reproducible (documented). Cost per tile: one
// block reduction per graph spanned (graphs with no edge in the tile included).
// force_stress_fast_finalize_kernel: one thread per graph, acc -> stress / virial in the layout.
// ------------------------------------------------------------------------------------------------

constexpr int kFsEdgeBlockThreads = 256;

// The gradient of a per-structure output in `layout`, expanded to the 3x3 tensor the forward
// accumulated (a Voigt off-diagonal was the mean of (a,b) and (b,a)).
GK_D void fs_expand_grad(const float* __restrict__ h, int layout, double (&H)[9]) {
    if (layout == kFsTensor) {
#pragma unroll
        for (int k = 0; k < 9; ++k) H[k] = static_cast<double>(__ldg(h + k));
        return;
    }
    H[0] = __ldg(h);
    H[4] = __ldg(h + 1);
    H[8] = __ldg(h + 2);
    double xy, xz, yz;
    if (layout == kFsVoigtAse) {  // xx yy zz yz xz xy
        yz = __ldg(h + 3); xz = __ldg(h + 4); xy = __ldg(h + 5);
    } else if (layout == kFsVoigtLammps) {  // xx yy zz xy xz yz
        xy = __ldg(h + 3); xz = __ldg(h + 4); yz = __ldg(h + 5);
    } else {  // SevenNet: xx yy zz xy yz zx
        xy = __ldg(h + 3); yz = __ldg(h + 4); xz = __ldg(h + 5);
    }
    H[1] = H[3] = 0.5 * xy;
    H[2] = H[6] = 0.5 * xz;
    H[5] = H[7] = 0.5 * yz;
}

// |det L| of a cell row-major [9] in fp64 (the forward's graph pass computes it the same way).
GK_D double fs_volume(const float* __restrict__ L) {
    const double l0 = __ldg(L), l1 = __ldg(L + 1), l2 = __ldg(L + 2), l3 = __ldg(L + 3),
                 l4 = __ldg(L + 4), l5 = __ldg(L + 5), l6 = __ldg(L + 6), l7 = __ldg(L + 7),
                 l8 = __ldg(L + 8);
    const double v = l0 * (l4 * l8 - l5 * l7) - l1 * (l3 * l8 - l5 * l6) + l2 * (l3 * l7 - l4 * l6);
    return v < 0.0 ? -v : v;
}

template <typename I>
struct FsBackwardArgs {
    const I* graph_atom_ptr;          // [B + 1]
    const I* edge_src;                // [E]
    const I* edge_dst;                // [E]
    const float* edge_vec;            // [E, 3]  (kFsEdgeVec)
    const float* positions;           // [N, 3]  (kFsPositions)
    const float* shifts;              // [E, 3]  (kFsPositions)
    const float* cell;                // [B, 3, 3] or null (only the virial's gradient, edge_vec)
    const unsigned char* periodic;    // [B] or null
    const float* quantity;            // [E, 3] g or [E] s (null with kFsDirectHead)
    FsHead head;                      // kFsDirectHead only
    const float* grad_forces;         // [N, 3] or null (G = 0)
    const float* grad_out;            // [B, 9 | 6] or null (H = 0)
    float* grad_quantity;             // [E, 3] dL/dg or [E] dL/ds (may be null with kFsDirectHead)
    float* grad_edge_vec;             // [E, 3] or null
    float* grad_h;                    // kFsDirectHead: [E, grad_ld] dL/dh or null
    int64_t grad_ld;
    double* head_partial;             // kFsDirectHead: [gridDim.x, C + 1] or null (no dL/dw, dL/db)
    int64_t num_edges;
    int64_t num_graphs;
    int layout;
    int out_kind;                     // 0 stress (scale / V, 0 if not periodic), 1 virial (-1)
    double scale;
};

// One edge of the backward (the body shared by force_stress_backward_kernel and
// force_stress_head_backward_kernel). Writes the edge's dL/dq and dL/dr; returns dL/ds_e (direct
// modes; 0 in conservative mode).
template <typename I, int MODE, int GEOM>
GK_D float fs_backward_edge(const FsBackwardArgs<I>& p, int64_t e) {
    const int width = p.layout == kFsTensor ? 9 : 6;
    const int64_t src = static_cast<int64_t>(__ldg(p.edge_src + e));
    const int64_t dst = static_cast<int64_t>(__ldg(p.edge_dst + e));
    const int64_t b = fs_graph_of(p.graph_atom_ptr, p.num_graphs, src);
    float r[3];
    if (GEOM == kFsPositions) {
        float L[9];
#pragma unroll
        for (int k = 0; k < 9; ++k) L[k] = __ldg(p.cell + 9 * b + k);
        fs_edge_vector_pos(p.positions, p.shifts, L, src, dst, e, r);
    } else {
#pragma unroll
        for (int k = 0; k < 3; ++k) r[k] = __ldg(p.edge_vec + 3 * e + k);
    }
    float u[3] = {0.0f, 0.0f, 0.0f};
    if (p.grad_forces != nullptr) {
#pragma unroll
        for (int k = 0; k < 3; ++k)
            u[k] = __ldg(p.grad_forces + 3 * src + k) - __ldg(p.grad_forces + 3 * dst + k);
    }
    // K_b = c_b H_b.
    double K[9];
#pragma unroll
    for (int k = 0; k < 9; ++k) K[k] = 0.0;
    if (p.grad_out != nullptr) {
        double c = -p.scale;
        if (p.out_kind == 0) {
            const bool periodic = p.periodic == nullptr || p.periodic[b] != 0;
            c = periodic ? p.scale / fs_volume(p.cell + 9 * b) : 0.0;
        }
        fs_expand_grad(p.grad_out + width * b, p.layout, K);
#pragma unroll
        for (int k = 0; k < 9; ++k) K[k] *= c;
    }
    {
#pragma unroll
        for (int k = 0; k < 3; ++k) {
            const double kr = K[k] * r[0] + K[3 + k] * r[1] + K[6 + k] * r[2];  // (K^T r)_k
            u[k] = static_cast<float>(static_cast<double>(u[k]) + kr);
        }
    }
    float g[3];
    float cdir = 0.0f;
    const bool want_dr = p.grad_edge_vec != nullptr;
    if (MODE == kFsDirect || want_dr) cdir = fs_edge_g<MODE>(p.quantity, p.head, e, r, g);
    if (MODE == kFsConservative) {
#pragma unroll
        for (int k = 0; k < 3; ++k) p.grad_quantity[3 * e + k] = u[k];
    }
    float ur = 0.0f;   // u . r^
    float rh[3] = {0.0f, 0.0f, 0.0f};
    if (MODE != kFsConservative) {
        const float rr = __fmaf_rn(r[2], r[2], __fmaf_rn(r[1], r[1], r[0] * r[0]));
        if (rr > 0.0f) {
            const float inv = 1.0f / sqrtf(rr);
#pragma unroll
            for (int k = 0; k < 3; ++k) rh[k] = r[k] * inv;
            ur = __fmaf_rn(u[2], rh[2], __fmaf_rn(u[1], rh[1], u[0] * rh[0]));
        }
        if (MODE == kFsDirect || p.grad_quantity != nullptr) p.grad_quantity[e] = ur;
    }
    if (want_dr) {
        float dr[3];
#pragma unroll
        for (int k = 0; k < 3; ++k) {
            const double kg = K[3 * k] * g[0] + K[3 * k + 1] * g[1] + K[3 * k + 2] * g[2];  // (K g)_k
            float v = static_cast<float>(kg);
            if (MODE != kFsConservative) v += cdir * (u[k] - ur * rh[k]);
            dr[k] = v;
        }
#pragma unroll
        for (int k = 0; k < 3; ++k) p.grad_edge_vec[3 * e + k] = dr[k];
    }
    return ur;
}

template <typename I, int MODE, int GEOM>
__global__ void __launch_bounds__(kFsEdgeBlockThreads, 4)
force_stress_backward_kernel(FsBackwardArgs<I> p) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < p.num_edges;
         e += stride)
        fs_backward_edge<I, MODE, GEOM>(p, e);
}

// ------------------------------------------------------------------------------------------------
// Backward of the fused readout head (gk_force_stress_backward_head). s_e = w . h_e + b, so with
// d_e = dL/ds_e = u_e . r^_e (as in direct mode):
//   dL/dh_e[c] = d_e w[c]            (a pure per-edge gather)
//   dL/dw[c]   = sum_e d_e h_e[c],   dL/db = sum_e d_e       (two-phase, deterministic)
//   dL/dr_e    = K_b g_e + (s_e/|r_e|)(u_e - (u_e . r^_e) r^_e) with the head's s_e
// force_stress_head_backward_kernel. Work split: a block of 256 threads owns tiles of 256
// consecutive edges (tile k of block p is edges [(p + k P) 256, +256), P = gridDim.x =
// fs_head_blocks(E), a function of E only). Phase 1: thread t runs fs_backward_edge for edge
// base + t (dL/ds, dL/dr as in direct mode) and puts d_e in shared memory; then thread t owns
// the channels c = t, t + 256, ... <= C (c = C is the bias): for each edge j of the tile in
// increasing order it writes dL/dh[base + j][c] = d_j w[c] (coalesced over c) and adds d_j h[j][c]
// (the fp32 x fp32 product is exact in fp64) to its fp64 running sum, which it keeps in
// partial[p][c] of the workspace [P, C + 1] across its block's tiles (one owner, no atomics).
// force_stress_head_reduce_kernel (phase 2): thread c sums partial[0..P-1][c] in block order in
// fp64 and writes dL/dw[c] (c < C) or dL/db (c = C) as fp32. Both phases have fixed orders that
// depend only on E and C: bitwise identical run to run and across devices.
// Bytes per edge: those of the direct-mode backward (without s_e) + 4 C of h read (+ 4 C again
// in the forward-recompute of s_e when dL/dr is requested) + 4 C of dL/dh written; w is read
// from L1/L2. Workspace 8 (C + 1) P bytes, read once by phase 2.
// ------------------------------------------------------------------------------------------------

constexpr int64_t kFsHeadMaxBlocks = 1024;

// Blocks of the head backward (and rows of its workspace): a function of E only.
GK_HD int64_t fs_head_blocks(int64_t num_edges) {
    const int64_t tiles = (num_edges + kFsEdgeBlockThreads - 1) / kFsEdgeBlockThreads;
    return tiles < kFsHeadMaxBlocks ? tiles : kFsHeadMaxBlocks;
}

template <typename I, int GEOM>
__global__ void __launch_bounds__(kFsEdgeBlockThreads, 4)
force_stress_head_backward_kernel(FsBackwardArgs<I> p) {
    GK_SHARED_ARRAY(float, tile_d, kFsEdgeBlockThreads);
    const int t = static_cast<int>(threadIdx.x);
    const int64_t C = p.head.channels;
    const int64_t tile_stride = static_cast<int64_t>(gridDim.x) * kFsEdgeBlockThreads;
    double* part = p.head_partial != nullptr
                       ? p.head_partial + offset2d(static_cast<int64_t>(blockIdx.x), C + 1, 0)
                       : nullptr;
    const bool channel_pass = part != nullptr || p.grad_h != nullptr;  // uniform over the block
    bool first = true;
    for (int64_t base = static_cast<int64_t>(blockIdx.x) * kFsEdgeBlockThreads; base < p.num_edges;
         base += tile_stride) {
        const int64_t e = base + t;
        float d = 0.0f;
        if (e < p.num_edges) d = fs_backward_edge<I, kFsDirectHead, GEOM>(p, e);
        if (!channel_pass) continue;
        tile_d[t] = d;
        __syncthreads();
        const int64_t rem = p.num_edges - base;
        const int n = rem < kFsEdgeBlockThreads ? static_cast<int>(rem) : kFsEdgeBlockThreads;
        for (int64_t c = t; c <= C; c += kFsEdgeBlockThreads) {
            if (c < C) {
                const float wc = __ldg(p.head.w + c);
                if (p.grad_h != nullptr) {
                    for (int j = 0; j < n; ++j)
                        p.grad_h[offset2d(base + j, p.grad_ld, c)] = tile_d[j] * wc;
                }
                if (part != nullptr) {
                    double acc = first ? 0.0 : part[c];
                    for (int j = 0; j < n; ++j)
                        acc += static_cast<double>(tile_d[j]) *
                               static_cast<double>(__ldg(p.head.h + offset2d(base + j, p.head.ld, c)));
                    part[c] = acc;
                }
            } else if (part != nullptr) {
                double acc = first ? 0.0 : part[c];
                for (int j = 0; j < n; ++j) acc += static_cast<double>(tile_d[j]);
                part[c] = acc;
            }
        }
        first = false;
        __syncthreads();  // tile_d is rewritten by the next tile
    }
}

__global__ void __launch_bounds__(kFsEdgeBlockThreads)
force_stress_head_reduce_kernel(const double* __restrict__ partial, int64_t blocks,
                                int64_t channels, float* __restrict__ grad_w,
                                float* __restrict__ grad_bias) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c <= channels;
         c += stride) {
        double s = 0.0;
        for (int64_t q = 0; q < blocks; ++q) s += partial[offset2d(q, channels + 1, c)];
        if (c < channels) {
            if (grad_w != nullptr) grad_w[c] = static_cast<float>(s);
        } else if (grad_bias != nullptr) {
            *grad_bias = static_cast<float>(s);
        }
    }
}

template <typename I>
struct FsFastArgs {
    const I* graph_atom_ptr;  // [B + 1]
    const I* edge_src;        // [E]
    const I* edge_dst;        // [E]
    const float* edge_vec;    // [E, 3]        (kFsEdgeVec)
    const float* positions;   // [N, 3]        (kFsPositions)
    const float* shifts;      // [E, 3]        (kFsPositions)
    const float* cell;        // [B, 3, 3]     (kFsPositions)
    const float* quantity;    // [E, 3] g or [E] s (null with kFsDirectHead)
    FsHead head;              // kFsDirectHead only
    float* forces;            // [N, 3], zeroed
    double* acc;              // [B, 9], zeroed, or null (no stress requested)
    float* atom_virial;       // [N, 9 | 6], zeroed, or null
    int64_t num_edges;
    int64_t num_graphs;
    int layout;
};

template <typename I, int MODE, int GEOM, bool ATOM_VIRIAL>
__global__ void __launch_bounds__(kFsEdgeBlockThreads)
force_stress_fast_kernel(FsFastArgs<I> p) {
    GK_SHARED_ARRAY(double, warp_sums, (kFsEdgeBlockThreads / kWarpSize) * 9);
    GK_SHARED_ARRAY(long long, span, 2);
    const int t = static_cast<int>(threadIdx.x);
    const int64_t tile_stride = static_cast<int64_t>(gridDim.x) * kFsEdgeBlockThreads;
    for (int64_t base = static_cast<int64_t>(blockIdx.x) * kFsEdgeBlockThreads; base < p.num_edges;
         base += tile_stride) {
        const int64_t e = base + t;
        const bool valid = e < p.num_edges;
        int64_t b = -1;
        double v[9];
#pragma unroll
        for (int k = 0; k < 9; ++k) v[k] = 0.0;
        if (valid) {
            const int64_t src = static_cast<int64_t>(__ldg(p.edge_src + e));
            const int64_t dst = static_cast<int64_t>(__ldg(p.edge_dst + e));
            b = fs_graph_of(p.graph_atom_ptr, p.num_graphs, src);
            float r[3], g[3];
            if (GEOM == kFsPositions) {
                float L[9];
#pragma unroll
                for (int k = 0; k < 9; ++k) L[k] = __ldg(p.cell + 9 * b + k);
                fs_edge_vector_pos(p.positions, p.shifts, L, src, dst, e, r);
            } else {
#pragma unroll
                for (int k = 0; k < 3; ++k) r[k] = __ldg(p.edge_vec + 3 * e + k);
            }
            const float c = fs_edge_g<MODE>(p.quantity, p.head, e, r, g);
#pragma unroll
            for (int k = 0; k < 3; ++k) {
                atomicAdd(p.forces + 3 * src + k, g[k]);
                atomicAdd(p.forces + 3 * dst + k, -g[k]);
            }
            if (p.acc != nullptr || ATOM_VIRIAL) fs_accumulate<MODE>(v, r, g, c);
            if (ATOM_VIRIAL) {
                float w[9];
                fs_store_tensor(v, -0.5, p.layout, w);
                const int width = p.layout == kFsTensor ? 9 : 6;
#pragma unroll
                for (int k = 0; k < 9; ++k) {  // static indices into w (no local memory)
                    if (k < width) {
                        atomicAdd(p.atom_virial + width * src + k, w[k]);
                        atomicAdd(p.atom_virial + width * dst + k, w[k]);
                    }
                }
            }
            if (t == 0) span[0] = b;
            if (e + 1 == p.num_edges || t == kFsEdgeBlockThreads - 1) span[1] = b;
        }
        if (p.acc == nullptr) continue;  // uniform: no block reduction without a stress output
        __syncthreads();
        const int64_t b_first = span[0], b_last = span[1];
        for (int64_t gb = b_first; gb <= b_last; ++gb) {
            double x[9];
#pragma unroll
            for (int k = 0; k < 9; ++k) x[k] = b == gb ? v[k] : 0.0;
            fs_block_sum9<kFsEdgeBlockThreads>(x, warp_sums);
            if (t == 0) {
#pragma unroll
                for (int k = 0; k < 9; ++k) atomicAdd(p.acc + 9 * gb + k, x[k]);
            }
            __syncthreads();  // warp_sums is reused by the next graph
        }
    }
}

// out_kind: 0 = stress (scale Sigma / V, 0 when not periodic), 1 = virial (-Sigma).
template <typename I>
__global__ void __launch_bounds__(kFsEdgeBlockThreads)
force_stress_fast_finalize_kernel(const double* __restrict__ acc, int64_t num_graphs,
                                  const float* __restrict__ cell,
                                  const unsigned char* __restrict__ periodic,
                                  float* __restrict__ out, int layout, int out_kind, double scale) {
    const int width = layout == kFsTensor ? 9 : 6;
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; b < num_graphs;
         b += stride) {
        double s[9];
#pragma unroll
        for (int k = 0; k < 9; ++k) s[k] = acc[9 * b + k];
        float* o = out + width * b;
        if (out_kind == 1) {
            fs_store_tensor(s, -scale, layout, o);
        } else if (periodic != nullptr && periodic[b] == 0) {
            for (int k = 0; k < width; ++k) o[k] = 0.0f;
        } else {
            fs_store_tensor(s, scale / fs_volume(cell + 9 * b), layout, o);
        }
    }
}

}  // namespace gk

#endif  // GK_FORCE_STRESS_CUH
