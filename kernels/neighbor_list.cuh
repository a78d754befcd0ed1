// Radius graph with periodic boundaries (neighbour list) for a batch of atomic structures.
// docs/embedding.md ("Neighbour list") is the definition; native/src/neighbor_list.cu launches.
//
// Edge (i -> j, S) for every pair of atoms i, j of the same structure b and every integer image
// shift S (S = 0 only for a non-periodic structure) with |r| < cutoff, r = x_j - x_i + S . L_b
// (rows of L_b are the lattice vectors), except (i, i, S = 0). Edges are stored by source atom
// (global index order, hence by structure), then by destination j ascending, then by S
// lexicographically ascending (s0, then s1, then s2). The edge set is symmetric: (i, j, S) is an
// edge exactly when (j, i, -S) is, because r is formed as d + (s0 L0 + s1 L1 + s2 L2) in double
// with d = x_j - x_i, and both terms negate exactly when i, j and S are swapped/negated. Both
// searches below decide every candidate with that same test (nl_pair), so they give the same edges.
//
// Two searches, chosen per structure by neighbor_bin_kernel (the rule is nl_choose_grid):
//   brute force  per source atom, every atom j of the structure and, per pair, the image shifts
//                whose fractional box can reach the cutoff sphere (O(N_b^2 x images)).
//   cell list    atoms binned on a grid of n0 x n1 x n2 bins (n0 n1 n2 <= N_b): fractional
//                coordinates for a periodic cell (atom wrapped into [0,1)^3, its integer image
//                n_a kept, so positions outside the cell are fine), the bounding box for a
//                molecule. Bin width >= cutoff (x (1 + 1e-4)) where the cell allows; a source atom
//                scans the bins within +-m_k bins along direction k, m_k = floor(n_k reach_k
//                (1 + 1e-4) + 1e-8 n_k) + 1 (reach_k = cutoff / interplanar spacing k), which
//                for a cell smaller than twice the cutoff (n_k = 1, reach_k > 1/2) visits several
//                images of every bin, self images included. Candidate (j, S) with S = I + n_i - n_j
//                (I: the image of the visited bin); every (j, S) is visited at most once (distinct
//                bin offsets give distinct unwrapped bins) and every true neighbour is visited (the
//                bin distance is < n_k |df_k| + 1 <= n_k reach_k + 1, with 1e-4 relative slack for
//                the rounding of the double fractional coordinates). O(N_b x 27 x atoms per bin).
//   Rule (nl_choose_grid), per source atom: cell list when 2 x V x N_b / nbins < N_b x (1 +
//   prod_k 2 reach_k) (periodic) or < N_b (molecule), V = visited bins (prod (2 m_k + 1); for a
//   molecule prod min(3, n_k)). Left: candidates of the cell list, factor 2 for the binning, the
//   indirection and the row sort; right: the brute force's per-pair image range plus its expected
//   image tests. Never for N_b < 2, a non-finite position, or a fractional coordinate beyond 2^20.
//   In effect: the cell list from ~4 bins per direction (a cube of side >= 4 cutoffs with >= 64
//   atoms); a cell shorter than the cutoff along some direction only when very long along another
//   (e.g. 3.2 x 3.5 x 800 A at cutoff 5), where its repeated images make the bins expensive.
//
// Work split (all kernels one thread per item, grid-stride, no block or warp cooperation except the
// single-block scan):
//   neighbor_bin_kernel    thread = structure b: chooses the search, writes its grid record and,
//                          for a cell list, counting-sorts its atoms into bins (sequential, stable:
//                          atoms ascending inside a bin); O(N_b + nbins) per thread.
//   neighbor_count_kernel  thread = source atom i: the structure's search, counting; writes
//                          counts[i] (int64 workspace) and folds the lowest atom above max_neighbors
//                          into one word with atomicMin (order-free); adds its candidate count to a
//                          statistics word with an integer atomicAdd (order-free).
//   neighbor_scan_kernel   ONE block of kNeighborScanThreads threads: thread t owns a contiguous
//                          chunk of atoms, sums it, thread 0 scans the partials in order (fixed
//                          order, int64), then each thread writes src_ptr for its chunk. Writes
//                          nothing when an atom exceeded max_neighbors or the total overflows the
//                          index type (the host reads the verdict back).
//   neighbor_fill_kernel   thread = source atom i: the same search as the count, writing its edges at
//                          [src_ptr[i], src_ptr[i+1]) (one owner per edge); the cell list visits
//                          them in bin order, so the thread then heap-sorts its own row by
//                          (j, s0, s1, s2) (keys are unique: the result is the documented order
//                          whatever the visiting order). Without a workspace (gk_neighbor_list_fill)
//                          every structure is walked brute force; the edges are the same.
//   neighbor_dst_perm_kernel thread = edge e = (i -> j, S): finds its reverse edge p = (j -> i, -S)
//                          by binary search in j's row and writes dst_perm[slot] = p, slot being
//                          e's mirror inside its run of edges to j (one owner per slot). With the
//                          symmetric edge set, dst_ptr = src_ptr.
//
// Workspace (8-byte words, nl_ws_words): 8 header words, counts [N], order [N] (atoms sorted by
// bin), bin_ptr [N + B] (structure b's bins use slots gptr[b] + b ... gptr[b] + b + nbins_b, which
// fit because nbins_b <= N_b), grid records [B x kNlGridWords]: (3 N + 11 B + 8) x 8 bytes, i.e.
// 24 B per atom + 88 B per structure.
// Cost: pair tests ~30 double flops each; the cell list adds ~12 flops per candidate (the image of
// j). Bytes: a candidate reads 12 B of position (+ 8 B of order[]); the fill writes sizeof(I) * 2 +
// 12 + 12 bytes per edge (edge_src, edge_dst, shifts int32 x3, edge_vec fp32 x3) and the row sort
// rereads/rewrites each row O(log degree) times (L1/L2 resident); dst_perm reads one row per edge
// with O(log degree) probes and writes sizeof(I). No floating-point reduction anywhere: bitwise
// deterministic.
#ifndef GK_NEIGHBOR_LIST_CUH
#define GK_NEIGHBOR_LIST_CUH

#include "common/gk_device.cuh"

namespace gk {

constexpr int kNeighborBlockThreads = 128;
constexpr int kNeighborScanThreads = 256;

// Workspace words (unsigned long long) of the count/scan pair; per-atom arrays follow at kNlWsCounts.
constexpr int kNlWsBadAtom = 0;    // lowest atom with more than max_neighbors (all-ones: none)
constexpr int kNlWsTotal = 1;      // total edges (int64)
constexpr int kNlWsOverflow = 2;   // 1 when the total does not fit the index type
constexpr int kNlWsMaxCount = 3;   // largest per-atom count
constexpr int kNlWsMaxAtom = 4;    // lowest atom with that count (-1 when N = 0)
constexpr int kNlWsPairs = 5;      // statistics: pair tests of the count pass (integer atomicAdd)
constexpr int kNlWsCellGraphs = 6; // statistics: structures searched with the cell list
constexpr int kNlWsCounts = 8;     // counts[N] start here

// Grid record of structure b (kNlGridWords words): mode (0 brute force, 1 periodic cell list,
// 2 molecule cell list), n[3] bins, m[3] search half-widths in bins, and for a molecule the
// bounding-box origin o[3] and inverse bin widths ih[3] (doubles stored in the words).
constexpr int kNlGridWords = 13;
constexpr int kNlModeBrute = 0, kNlModePeriodic = 1, kNlModeMolecule = 2;
constexpr double kNlSlack = 1e-4;             // relative slack of the bin reach (see the header)
constexpr double kNlMaxFrac = 1048576.0;      // 2^20: |fractional coordinate| bound of the cell list
constexpr long long kNlImageBias = 1048576;   // images packed as 3 x 21 bits, biased by 2^20

// Workspace layout: counts [N], order [N] (atoms sorted by bin), atom_bin [N] (bin of atom a inside
// its structure), atom_img [N] (packed integer image of atom a), bin_ptr [N + B], grid [B x 13].
GK_HD int64_t nl_ws_order(int64_t n) { return kNlWsCounts + n; }
GK_HD int64_t nl_ws_atom_bin(int64_t n) { return kNlWsCounts + 2 * n; }
GK_HD int64_t nl_ws_atom_img(int64_t n) { return kNlWsCounts + 3 * n; }
GK_HD int64_t nl_ws_bin_ptr(int64_t n) { return kNlWsCounts + 4 * n; }
GK_HD int64_t nl_ws_grid(int64_t n, int64_t b) { return kNlWsCounts + 5 * n + b; }
GK_HD int64_t nl_ws_words(int64_t n, int64_t b) { return kNlWsCounts + 5 * n + b + kNlGridWords * b; }

// Structure of atom `atom`: the last b with graph_atom_ptr[b] <= atom (skips empty structures).
template <typename I>
GK_HD int64_t nl_graph_of(const I* __restrict__ gptr, int64_t num_graphs, int64_t atom) {
    int64_t lo = 0, hi = num_graphs;  // answer in [lo, hi)
    while (hi - lo > 1) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (static_cast<int64_t>(gptr[mid]) <= atom) lo = mid; else hi = mid;
    }
    return lo;
}

// Cofactors of the 3 x 3 matrix m (row-major): inv = adj(m) / det, f_k = sum_m x_m inv[m*3+k].
GK_D double nl_inverse(const double* m, double* inv) {
    inv[0] = m[4] * m[8] - m[5] * m[7];
    inv[1] = m[2] * m[7] - m[1] * m[8];
    inv[2] = m[1] * m[5] - m[2] * m[4];
    inv[3] = m[5] * m[6] - m[3] * m[8];
    inv[4] = m[0] * m[8] - m[2] * m[6];
    inv[5] = m[2] * m[3] - m[0] * m[5];
    inv[6] = m[3] * m[7] - m[4] * m[6];
    inv[7] = m[1] * m[6] - m[0] * m[7];
    inv[8] = m[0] * m[4] - m[1] * m[3];
    const double det = m[0] * inv[0] + m[1] * inv[3] + m[2] * inv[6];
    const double r = 1.0 / det;
#pragma unroll
    for (int k = 0; k < 9; ++k) inv[k] *= r;
    return det;
}

// Cell of structure b: the lattice rows as given (fp32, widened to double exactly where used), and
// per lattice direction k the columns of L^-1 and the fractional reach cutoff * |column k of L^-1|
// (= cutoff / interplanar spacing), in fp32: they only bound the candidate shifts, with slack, and
// every candidate is then decided by the exact double test, so their rounding cannot change the edges.
struct NlCell {
    float l[9];
    float inv[9];
    float reach[3];
    bool periodic;
};

GK_D void nl_load_cell(const float* __restrict__ cell, const uint8_t* __restrict__ periodic,
                       int64_t b, double cutoff, NlCell& c) {
    c.periodic = periodic == nullptr || periodic[b] != 0;
#pragma unroll
    for (int k = 0; k < 9; ++k) c.l[k] = 0.0f, c.inv[k] = 0.0f;
    c.reach[0] = c.reach[1] = c.reach[2] = 0.0f;
    if (!c.periodic) return;
#pragma unroll
    for (int k = 0; k < 9; ++k) c.l[k] = cell[b * 9 + k];
    double m[9], inv[9];
#pragma unroll
    for (int k = 0; k < 9; ++k) m[k] = c.l[k];
    nl_inverse(m, inv);
#pragma unroll
    for (int k = 0; k < 9; ++k) c.inv[k] = static_cast<float>(inv[k]);
#pragma unroll
    for (int k = 0; k < 3; ++k)
        c.reach[k] = static_cast<float>(
            cutoff * sqrt(static_cast<double>(c.inv[k]) * c.inv[k] +
                          static_cast<double>(c.inv[3 + k]) * c.inv[3 + k] +
                          static_cast<double>(c.inv[6 + k]) * c.inv[6 + k]));
}

// Candidate shift range [lo, hi] along one lattice direction for fractional offset f (slack 1e-4
// relative: fp32 inverse and reach are accurate to ~1e-7 relative, so no true neighbour is missed).
GK_D void nl_shift_range(double f, float reach, int& lo, int& hi) {
    const double slack = 1e-4 * (1.0 + fabs(f) + reach);
    lo = static_cast<int>(ceil(-f - reach - slack));
    hi = static_cast<int>(floor(-f + reach + slack));
}

// THE edge test, shared by both searches: r = d + (s0 L0 + s1 L1 + s2 L2) in double, |r| < cutoff.
GK_D bool nl_pair(double dx, double dy, double dz, int s0, int s1, int s2, const float* l,
                  double rc2, double& rx, double& ry, double& rz) {
    const double a = s0, bb = s1, cc = s2;
    rx = dx + (a * static_cast<double>(l[0]) + bb * static_cast<double>(l[3]) + cc * static_cast<double>(l[6]));
    ry = dy + (a * static_cast<double>(l[1]) + bb * static_cast<double>(l[4]) + cc * static_cast<double>(l[7]));
    rz = dz + (a * static_cast<double>(l[2]) + bb * static_cast<double>(l[5]) + cc * static_cast<double>(l[8]));
    const double r2 = rx * rx + ry * ry + rz * rz;
    return r2 < rc2;
}

template <typename I>
GK_D void nl_write_edge(int64_t e, int64_t i, int64_t j, int s0, int s1, int s2, double rx,
                        double ry, double rz, I* __restrict__ edge_src, I* __restrict__ edge_dst,
                        int32_t* __restrict__ shifts, float* __restrict__ edge_vec) {
    edge_src[e] = static_cast<I>(i);
    edge_dst[e] = static_cast<I>(j);
    shifts[e * 3 + 0] = s0;
    shifts[e * 3 + 1] = s1;
    shifts[e * 3 + 2] = s2;
    if (edge_vec != nullptr) {
        edge_vec[e * 3 + 0] = static_cast<float>(rx);
        edge_vec[e * 3 + 1] = static_cast<float>(ry);
        edge_vec[e * 3 + 2] = static_cast<float>(rz);
    }
}

// Brute-force search of atom i of structure b (atoms [lo, hi)): every neighbour in the documented
// order. With kFill it writes edge `out + k` for the k-th neighbour; it returns the number of
// neighbours and adds its pair tests to `tests`.
template <typename I, bool kFill>
GK_D int64_t nl_walk(int64_t i, int64_t b, int64_t lo, int64_t hi, const float* __restrict__ pos,
                     const float* __restrict__ cell, const uint8_t* __restrict__ periodic,
                     double cutoff, int64_t out, I* __restrict__ edge_src, I* __restrict__ edge_dst,
                     int32_t* __restrict__ shifts, float* __restrict__ edge_vec, int64_t& tests) {
    NlCell c;
    nl_load_cell(cell, periodic, b, cutoff, c);
    const double xi = pos[i * 3 + 0], yi = pos[i * 3 + 1], zi = pos[i * 3 + 2];
    const double rc2 = cutoff * cutoff;
    int64_t count = 0;
    for (int64_t j = lo; j < hi; ++j) {
        const double dx = static_cast<double>(pos[j * 3 + 0]) - xi;
        const double dy = static_cast<double>(pos[j * 3 + 1]) - yi;
        const double dz = static_cast<double>(pos[j * 3 + 2]) - zi;
        int lo0 = 0, hi0 = 0, lo1 = 0, hi1 = 0, lo2 = 0, hi2 = 0;
        if (c.periodic) {
            // Fractional coordinates of d; S_k must bring f_k + S_k within the reach.
            nl_shift_range(dx * c.inv[0] + dy * c.inv[3] + dz * c.inv[6], c.reach[0], lo0, hi0);
            nl_shift_range(dx * c.inv[1] + dy * c.inv[4] + dz * c.inv[7], c.reach[1], lo1, hi1);
            nl_shift_range(dx * c.inv[2] + dy * c.inv[5] + dz * c.inv[8], c.reach[2], lo2, hi2);
        }
        for (int s0 = lo0; s0 <= hi0; ++s0) {
            for (int s1 = lo1; s1 <= hi1; ++s1) {
                for (int s2 = lo2; s2 <= hi2; ++s2) {
                    if (j == i && s0 == 0 && s1 == 0 && s2 == 0) continue;
                    ++tests;
                    double rx, ry, rz;
                    if (!nl_pair(dx, dy, dz, s0, s1, s2, c.l, rc2, rx, ry, rz)) continue;
                    if (kFill)
                        nl_write_edge<I>(out + count, i, j, s0, s1, s2, rx, ry, rz, edge_src,
                                         edge_dst, shifts, edge_vec);
                    ++count;
                }
            }
        }
    }
    return count;
}

GK_D int nl_unpack_img(unsigned long long w, int k) {
    return static_cast<int>(static_cast<long long>((w >> (21 * k)) & 0x1FFFFFull) - kNlImageBias);
}

// Cell-list search of atom i of structure b (grid record `rec`, bins at slot base gptr[b] + b):
// every neighbour, in bin order (the fill sorts the row afterwards). Same edges as nl_walk.
template <typename I, bool kFill>
GK_D int64_t nl_cell_walk(int64_t i, int64_t b, int64_t slot_base, int64_t num_atoms,
                          const unsigned long long* __restrict__ ws,
                          const unsigned long long* __restrict__ rec, const float* __restrict__ pos,
                          const float* __restrict__ cell, double cutoff, int64_t out,
                          I* __restrict__ edge_src, I* __restrict__ edge_dst,
                          int32_t* __restrict__ shifts, float* __restrict__ edge_vec,
                          int64_t& tests) {
    const bool per = rec[0] == static_cast<unsigned long long>(kNlModePeriodic);
    const int64_t n0 = static_cast<int64_t>(rec[1]), n1 = static_cast<int64_t>(rec[2]),
                  n2 = static_cast<int64_t>(rec[3]);
    const int m0 = static_cast<int>(rec[4]), m1 = static_cast<int>(rec[5]),
              m2 = static_cast<int>(rec[6]);
    float l[9];
#pragma unroll
    for (int k = 0; k < 9; ++k) l[k] = per ? cell[b * 9 + k] : 0.0f;
    const unsigned long long* __restrict__ order = ws + nl_ws_order(num_atoms);
    const unsigned long long* __restrict__ aimg = ws + nl_ws_atom_img(num_atoms);
    const unsigned long long* __restrict__ bptr = ws + nl_ws_bin_ptr(num_atoms) + slot_base;
    const int64_t slot_i = static_cast<int64_t>(ws[nl_ws_atom_bin(num_atoms) + i]);
    const int64_t c2 = slot_i % n2, c1 = (slot_i / n2) % n1, c0 = slot_i / (n1 * n2);
    const unsigned long long wi = aimg[i];
    const int gi0 = nl_unpack_img(wi, 0), gi1 = nl_unpack_img(wi, 1), gi2 = nl_unpack_img(wi, 2);
    const double xi = pos[i * 3 + 0], yi = pos[i * 3 + 1], zi = pos[i * 3 + 2];
    const double rc2 = cutoff * cutoff;
    int64_t count = 0;
    for (int o0 = -m0; o0 <= m0; ++o0) {
        const int64_t t0 = c0 + o0;
        if (!per && (t0 < 0 || t0 >= n0)) continue;
        const int64_t q0 = t0 >= 0 ? t0 / n0 : -((-t0 + n0 - 1) / n0);  // image of the bin
        const int64_t w0 = t0 - q0 * n0;
        for (int o1 = -m1; o1 <= m1; ++o1) {
            const int64_t t1 = c1 + o1;
            if (!per && (t1 < 0 || t1 >= n1)) continue;
            const int64_t q1 = t1 >= 0 ? t1 / n1 : -((-t1 + n1 - 1) / n1);
            const int64_t w1 = t1 - q1 * n1;
            for (int o2 = -m2; o2 <= m2; ++o2) {
                const int64_t t2 = c2 + o2;
                if (!per && (t2 < 0 || t2 >= n2)) continue;
                const int64_t q2 = t2 >= 0 ? t2 / n2 : -((-t2 + n2 - 1) / n2);
                const int64_t w2 = t2 - q2 * n2;
                const int64_t slot = (w0 * n1 + w1) * n2 + w2;
                const int64_t qend = static_cast<int64_t>(bptr[slot + 1]);
                for (int64_t q = static_cast<int64_t>(bptr[slot]); q < qend; ++q) {
                    const int64_t j = static_cast<int64_t>(order[q]);
                    const unsigned long long wj = aimg[j];
                    const int s0 = static_cast<int>(q0) + gi0 - nl_unpack_img(wj, 0);
                    const int s1 = static_cast<int>(q1) + gi1 - nl_unpack_img(wj, 1);
                    const int s2 = static_cast<int>(q2) + gi2 - nl_unpack_img(wj, 2);
                    if (j == i && s0 == 0 && s1 == 0 && s2 == 0) continue;
                    ++tests;
                    const double dx = static_cast<double>(pos[j * 3 + 0]) - xi;
                    const double dy = static_cast<double>(pos[j * 3 + 1]) - yi;
                    const double dz = static_cast<double>(pos[j * 3 + 2]) - zi;
                    double rx, ry, rz;
                    if (!nl_pair(dx, dy, dz, s0, s1, s2, l, rc2, rx, ry, rz)) continue;
                    if (kFill)
                        nl_write_edge<I>(out + count, i, j, s0, s1, s2, rx, ry, rz, edge_src,
                                         edge_dst, shifts, edge_vec);
                    ++count;
                }
            }
        }
    }
    return count;
}

// Key order of a row: destination, then s0, s1, s2. Returns <0, 0, >0.
GK_D int nl_key_compare(int64_t d, const int32_t* s, int64_t kd, int k0, int k1, int k2) {
    if (d != kd) return d < kd ? -1 : 1;
    if (s[0] != k0) return s[0] < k0 ? -1 : 1;
    if (s[1] != k1) return s[1] < k1 ? -1 : 1;
    if (s[2] != k2) return s[2] < k2 ? -1 : 1;
    return 0;
}

template <typename I>
GK_D bool nl_row_less(int64_t a, int64_t c, const I* __restrict__ dst,
                      const int32_t* __restrict__ sh) {
    return nl_key_compare(static_cast<int64_t>(dst[a]), sh + a * 3, static_cast<int64_t>(dst[c]),
                          sh[c * 3 + 0], sh[c * 3 + 1], sh[c * 3 + 2]) < 0;
}

template <typename I>
GK_D void nl_row_swap(int64_t a, int64_t c, I* __restrict__ dst, int32_t* __restrict__ sh,
                      float* __restrict__ vec) {
    const I t = dst[a]; dst[a] = dst[c]; dst[c] = t;
#pragma unroll
    for (int k = 0; k < 3; ++k) {
        const int32_t u = sh[a * 3 + k]; sh[a * 3 + k] = sh[c * 3 + k]; sh[c * 3 + k] = u;
    }
    if (vec != nullptr) {
#pragma unroll
        for (int k = 0; k < 3; ++k) {
            const float u = vec[a * 3 + k]; vec[a * 3 + k] = vec[c * 3 + k]; vec[c * 3 + k] = u;
        }
    }
}

template <typename I>
GK_D void nl_sift(int64_t base, int64_t root, int64_t end, I* __restrict__ dst,
                  int32_t* __restrict__ sh, float* __restrict__ vec) {
    for (;;) {
        int64_t child = 2 * root + 1;
        if (child >= end) return;
        if (child + 1 < end && nl_row_less<I>(base + child, base + child + 1, dst, sh)) ++child;
        if (!nl_row_less<I>(base + root, base + child, dst, sh)) return;
        nl_row_swap<I>(base + root, base + child, dst, sh, vec);
        root = child;
    }
}

// In-place heap sort of the row [base, base + n) by (dst, s0, s1, s2); edge_src is constant in a row.
// Keys are unique, so the result is the one sorted order. O(n log n), no scratch memory.
template <typename I>
GK_D void nl_sort_row(int64_t base, int64_t n, I* __restrict__ dst, int32_t* __restrict__ sh,
                      float* __restrict__ vec) {
    for (int64_t start = n / 2 - 1; start >= 0; --start) nl_sift<I>(base, start, n, dst, sh, vec);
    for (int64_t end = n - 1; end > 0; --end) {
        nl_row_swap<I>(base, base + end, dst, sh, vec);
        nl_sift<I>(base, 0, end, dst, sh, vec);
    }
}

// Choice of the search of structure b (atoms [lo, hi), nb = hi - lo >= 2) and its grid; returns the
// mode. The rule is the header's.
GK_D int nl_choose_grid(bool per, const float* __restrict__ cell, int64_t b,
                        const float* __restrict__ pos, int64_t lo, int64_t hi, double cutoff,
                        int64_t* n, int* m, double* o, double* ih, double* inv) {
    const int64_t nb = hi - lo;
    const int64_t ncap = nb < (int64_t{1} << 20) ? nb : (int64_t{1} << 20);
    double want[3], reach[3];
    if (per) {
        double l[9];
#pragma unroll
        for (int k = 0; k < 9; ++k) l[k] = cell[b * 9 + k];
        nl_inverse(l, inv);
#pragma unroll
        for (int k = 0; k < 3; ++k) {
            reach[k] = cutoff * sqrt(inv[k] * inv[k] + inv[3 + k] * inv[3 + k] + inv[6 + k] * inv[6 + k]);
            want[k] = 1.0 / (reach[k] * (1.0 + kNlSlack));
        }
        for (int64_t a = lo; a < hi; ++a) {
            const double x = pos[a * 3 + 0], y = pos[a * 3 + 1], z = pos[a * 3 + 2];
#pragma unroll
            for (int k = 0; k < 3; ++k) {
                const double f = x * inv[k] + y * inv[3 + k] + z * inv[6 + k];
                if (!(fabs(f) < kNlMaxFrac)) return kNlModeBrute;  // also NaN / inf
            }
        }
    } else {
        double mn[3] = {0, 0, 0}, mx[3] = {0, 0, 0};
        for (int64_t a = lo; a < hi; ++a) {
#pragma unroll
            for (int k = 0; k < 3; ++k) {
                const double v = pos[a * 3 + k];
                if (!(fabs(v) <= 3.5e38)) return kNlModeBrute;  // NaN / inf
                if (a == lo || v < mn[k]) mn[k] = v;
                if (a == lo || v > mx[k]) mx[k] = v;
            }
        }
#pragma unroll
        for (int k = 0; k < 3; ++k) {
            o[k] = mn[k];
            ih[k] = mx[k] - mn[k];  // extent for now
            want[k] = ih[k] / (cutoff * (1.0 + kNlSlack));
            reach[k] = 0.0;
        }
    }
#pragma unroll
    for (int k = 0; k < 3; ++k)
        n[k] = !(want[k] >= 1.0) ? 1 : (want[k] >= static_cast<double>(ncap) ? ncap : static_cast<int64_t>(floor(want[k])));
    while (n[0] * n[1] * n[2] > nb) {  // halve the largest (lowest k on ties): nbins <= N_b
        // Constant indices only (a computed n[k] would put n on the stack).
        if (n[0] >= n[1] && n[0] >= n[2]) n[0] = n[0] / 2 > 0 ? n[0] / 2 : 1;
        else if (n[1] >= n[2]) n[1] = n[1] / 2 > 0 ? n[1] / 2 : 1;
        else n[2] = n[2] / 2 > 0 ? n[2] / 2 : 1;
    }
    double cells = 1.0, brute = 1.0;
#pragma unroll
    for (int k = 0; k < 3; ++k) {
        if (per) {
            m[k] = static_cast<int>(floor(static_cast<double>(n[k]) * (reach[k] * (1.0 + kNlSlack) + 1e-8))) + 1;
            cells *= 2.0 * m[k] + 1.0;
            brute *= 2.0 * reach[k];
        } else {
            m[k] = 1;
            cells *= n[k] < 3 ? static_cast<double>(n[k]) : 3.0;
            ih[k] = ih[k] > 0.0 ? static_cast<double>(n[k]) / ih[k] : 0.0;
        }
    }
    const double nbins = static_cast<double>(n[0] * n[1] * n[2]);
    // Per source atom: the cell list tests cells x N_b / nbins candidates; the brute force computes the
    // image range of N_b pairs and tests N_b x prod(2 reach_k) images on average (a molecule: N_b).
    if (per) brute = 1.0 + brute;
    if (!(2.0 * cells * static_cast<double>(nb) / nbins < brute * static_cast<double>(nb)))
        return kNlModeBrute;
    return per ? kNlModePeriodic : kNlModeMolecule;
}

// Bin (inside the structure's grid) and packed integer image of atom a (mode != brute).
GK_D int64_t nl_atom_bin(int mode, const double* __restrict__ pos3, const int64_t* n,
                         const double* o, const double* ih, const double* inv,
                         unsigned long long& img) {
    int64_t c[3];
    img = 0;
#pragma unroll
    for (int k = 0; k < 3; ++k) {
        double w;
        if (mode == kNlModePeriodic) {
            const double f = pos3[0] * inv[k] + pos3[1] * inv[3 + k] + pos3[2] * inv[6 + k];
            const double fl = floor(f);
            img |= static_cast<unsigned long long>(static_cast<long long>(fl) + kNlImageBias) << (21 * k);
            w = (f - fl) * static_cast<double>(n[k]);
        } else {
            w = (pos3[k] - o[k]) * ih[k];
        }
        int64_t ck = static_cast<int64_t>(floor(w));
        ck = ck < 0 ? 0 : (ck > n[k] - 1 ? n[k] - 1 : ck);
        c[k] = ck;
    }
    return (c[0] * n[1] + c[1]) * n[2] + c[2];
}

// thread = structure b: choose the search, write the grid record; for a cell list, counting-sort the
// atoms into bins (stable) and record every atom's bin and image.
template <typename I>
__global__ void __launch_bounds__(kNeighborBlockThreads)
neighbor_bin_kernel(const I* __restrict__ gptr, int64_t num_graphs, int64_t num_atoms,
                    const float* __restrict__ pos, const float* __restrict__ cell,
                    const uint8_t* __restrict__ periodic, double cutoff,
                    unsigned long long* __restrict__ ws) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; b < num_graphs;
         b += stride) {
        const int64_t lo = static_cast<int64_t>(gptr[b]), hi = static_cast<int64_t>(gptr[b + 1]);
        const bool per = periodic == nullptr || periodic[b] != 0;
        int64_t n[3] = {1, 1, 1};
        int m[3] = {0, 0, 0};
        double o[3] = {0, 0, 0}, ih[3] = {0, 0, 0}, inv[9];
#pragma unroll
        for (int k = 0; k < 9; ++k) inv[k] = 0.0;
        const int mode = hi - lo >= 2
                             ? nl_choose_grid(per, cell, b, pos, lo, hi, cutoff, n, m, o, ih, inv)
                             : kNlModeBrute;
        unsigned long long* rec = ws + nl_ws_grid(num_atoms, num_graphs) + b * kNlGridWords;
        rec[0] = static_cast<unsigned long long>(mode);
#pragma unroll
        for (int k = 0; k < 3; ++k) {
            rec[1 + k] = static_cast<unsigned long long>(n[k]);
            rec[4 + k] = static_cast<unsigned long long>(m[k]);
            reinterpret_cast<double*>(rec)[7 + k] = o[k];
            reinterpret_cast<double*>(rec)[10 + k] = ih[k];
        }
        if (mode == kNlModeBrute) continue;
        atomicAdd(ws + kNlWsCellGraphs, 1ull);
        const int64_t nbins = n[0] * n[1] * n[2];
        unsigned long long* bp = ws + nl_ws_bin_ptr(num_atoms) + lo + b;
        unsigned long long* abin = ws + nl_ws_atom_bin(num_atoms);
        unsigned long long* aimg = ws + nl_ws_atom_img(num_atoms);
        unsigned long long* order = ws + nl_ws_order(num_atoms);
        for (int64_t k = 0; k <= nbins; ++k) bp[k] = 0;
        for (int64_t a = lo; a < hi; ++a) {
            const double p3[3] = {pos[a * 3 + 0], pos[a * 3 + 1], pos[a * 3 + 2]};
            unsigned long long img;
            const int64_t s = nl_atom_bin(mode, p3, n, o, ih, inv, img);
            abin[a] = static_cast<unsigned long long>(s);
            aimg[a] = img;
            bp[s + 1] += 1;
        }
        bp[0] = static_cast<unsigned long long>(lo);
        for (int64_t k = 0; k < nbins; ++k) bp[k + 1] += bp[k];      // bp[k] = start of bin k
        for (int64_t a = lo; a < hi; ++a) order[bp[abin[a]]++] = a;  // stable: atoms ascending
        for (int64_t k = nbins; k > 0; --k) bp[k] = bp[k - 1];       // undo the cursor advance
        bp[0] = static_cast<unsigned long long>(lo);
    }
}

// One search of atom i, dispatched on its structure's grid record (ws == nullptr: brute force).
template <typename I, bool kFill>
GK_D int64_t nl_search(int64_t i, const I* __restrict__ gptr, int64_t num_graphs,
                       int64_t num_atoms, const float* __restrict__ pos,
                       const float* __restrict__ cell, const uint8_t* __restrict__ periodic,
                       double cutoff, const unsigned long long* __restrict__ ws, int64_t out,
                       I* __restrict__ edge_src, I* __restrict__ edge_dst,
                       int32_t* __restrict__ shifts, float* __restrict__ edge_vec,
                       int64_t& tests) {
    const int64_t b = nl_graph_of(gptr, num_graphs, i);
    const int64_t lo = static_cast<int64_t>(gptr[b]), hi = static_cast<int64_t>(gptr[b + 1]);
    const unsigned long long* rec =
        ws == nullptr ? nullptr : ws + nl_ws_grid(num_atoms, num_graphs) + b * kNlGridWords;
    if (rec == nullptr || rec[0] == static_cast<unsigned long long>(kNlModeBrute))
        return nl_walk<I, kFill>(i, b, lo, hi, pos, cell, periodic, cutoff, out, edge_src,
                                 edge_dst, shifts, edge_vec, tests);
    const int64_t n = nl_cell_walk<I, kFill>(i, b, lo + b, num_atoms, ws, rec, pos, cell, cutoff,
                                            out, edge_src, edge_dst, shifts, edge_vec, tests);
    if (kFill) nl_sort_row<I>(out, n, edge_dst, shifts, edge_vec);
    return n;
}

template <typename I>
__global__ void __launch_bounds__(kNeighborBlockThreads)
neighbor_count_kernel(const I* __restrict__ gptr, int64_t num_graphs, int64_t num_atoms,
                      const float* __restrict__ pos, const float* __restrict__ cell,
                      const uint8_t* __restrict__ periodic, double cutoff, int64_t max_neighbors,
                      unsigned long long* __restrict__ ws) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < num_atoms;
         i += stride) {
        int64_t tests = 0;
        const int64_t n = nl_search<I, false>(i, gptr, num_graphs, num_atoms, pos, cell, periodic,
                                              cutoff, ws, 0, nullptr, nullptr, nullptr, nullptr,
                                              tests);
        ws[kNlWsCounts + i] = static_cast<unsigned long long>(n);
        atomicAdd(ws + kNlWsPairs, static_cast<unsigned long long>(tests));
        if (max_neighbors > 0 && n > max_neighbors)
            atomicMin(ws + kNlWsBadAtom, static_cast<unsigned long long>(i));
    }
}

// One block. limit: the largest total the index type holds.
template <typename I>
__global__ void __launch_bounds__(kNeighborScanThreads)
neighbor_scan_kernel(int64_t num_atoms, int64_t limit, unsigned long long* __restrict__ ws,
                     I* __restrict__ src_ptr) {
    GK_SHARED_ARRAY(long long, part, kNeighborScanThreads);
    GK_SHARED_ARRAY(long long, pmax, kNeighborScanThreads);
    GK_SHARED_ARRAY(long long, pmaxat, kNeighborScanThreads);
    GK_SHARED_ARRAY(int, verdict, 1);
    const int t = threadIdx.x;
    const int64_t chunk = (num_atoms + kNeighborScanThreads - 1) / kNeighborScanThreads;
    const int64_t begin = t * chunk < num_atoms ? t * chunk : num_atoms;
    const int64_t end = begin + chunk < num_atoms ? begin + chunk : num_atoms;
    const long long* counts = reinterpret_cast<const long long*>(ws + kNlWsCounts);
    long long sum = 0, best = -1, bestat = -1;
    for (int64_t a = begin; a < end; ++a) {
        const long long n = counts[a];
        sum += n;
        if (n > best) best = n, bestat = a;
    }
    part[t] = sum;
    pmax[t] = best;
    pmaxat[t] = bestat;
    __syncthreads();
    if (t == 0) {
        long long run = 0, m = -1, mat = -1;
        for (int k = 0; k < kNeighborScanThreads; ++k) {
            const long long p = part[k];
            part[k] = run;  // exclusive prefix of chunk k
            run += p;
            if (pmax[k] > m) m = pmax[k], mat = pmaxat[k];
        }
        const bool over = run > limit;
        ws[kNlWsTotal] = static_cast<unsigned long long>(run);
        ws[kNlWsOverflow] = over ? 1ull : 0ull;
        ws[kNlWsMaxCount] = static_cast<unsigned long long>(m < 0 ? 0 : m);
        ws[kNlWsMaxAtom] = static_cast<unsigned long long>(mat);
        verdict[0] = (over || ws[kNlWsBadAtom] != ~0ull) ? 1 : 0;
    }
    __syncthreads();
    if (verdict[0] != 0) return;  // nothing written: the host reports the reason
    long long run = part[t];
    if (t == 0) src_ptr[0] = static_cast<I>(0);
    for (int64_t a = begin; a < end; ++a) {
        run += counts[a];
        src_ptr[a + 1] = static_cast<I>(run);
    }
}

// No __launch_bounds__: with it ptxas 11.8 caps this kernel at 96 registers and spills.
// ws: the count's workspace (bins and grid records), or nullptr = brute force for every structure.
template <typename I>
__global__ void neighbor_fill_kernel(const I* __restrict__ gptr, int64_t num_graphs, int64_t num_atoms,
                     const float* __restrict__ pos, const float* __restrict__ cell,
                     const uint8_t* __restrict__ periodic, double cutoff,
                     const unsigned long long* __restrict__ ws,
                     const I* __restrict__ src_ptr, I* __restrict__ edge_src,
                     I* __restrict__ edge_dst, int32_t* __restrict__ shifts,
                     float* __restrict__ edge_vec) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < num_atoms;
         i += stride) {
        int64_t tests = 0;
        nl_search<I, true>(i, gptr, num_graphs, num_atoms, pos, cell, periodic, cutoff, ws,
                           static_cast<int64_t>(src_ptr[i]), edge_src, edge_dst, shifts, edge_vec,
                           tests);
    }
}

template <typename I>
__global__ void __launch_bounds__(kNeighborBlockThreads)
neighbor_dst_perm_kernel(int64_t num_edges, const I* __restrict__ src_ptr,
                         const I* __restrict__ edge_src, const I* __restrict__ edge_dst,
                         const int32_t* __restrict__ shifts, I* __restrict__ dst_perm) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < num_edges;
         e += stride) {
        const int64_t i = static_cast<int64_t>(edge_src[e]);
        const int64_t j = static_cast<int64_t>(edge_dst[e]);
        const int s0 = shifts[e * 3 + 0], s1 = shifts[e * 3 + 1], s2 = shifts[e * 3 + 2];
        // Run of edges i -> j in i's row: [run_lo, run_hi).
        int64_t lo = static_cast<int64_t>(src_ptr[i]), hi = static_cast<int64_t>(src_ptr[i + 1]);
        int64_t a = lo, z = e;  // first position with dst >= j, in [lo, e]
        while (a < z) {
            const int64_t m = a + (z - a) / 2;
            if (static_cast<int64_t>(edge_dst[m]) < j) a = m + 1; else z = m;
        }
        const int64_t run_lo = a;
        a = e + 1; z = hi;      // first position with dst > j, in [e + 1, hi]
        while (a < z) {
            const int64_t m = a + (z - a) / 2;
            if (static_cast<int64_t>(edge_dst[m]) <= j) a = m + 1; else z = m;
        }
        const int64_t run_hi = a;
        // Reverse edge (j -> i, -S) in j's row (it exists: the edge set is symmetric).
        a = static_cast<int64_t>(src_ptr[j]);
        z = static_cast<int64_t>(src_ptr[j + 1]);
        while (a < z) {
            const int64_t m = a + (z - a) / 2;
            if (nl_key_compare(static_cast<int64_t>(edge_dst[m]), shifts + m * 3, i, -s0, -s1,
                               -s2) < 0)
                a = m + 1;
            else
                z = m;
        }
        // In-edges of i from j are in increasing position = increasing -S, the mirror of the out-run.
        dst_perm[run_lo + (run_hi - 1 - e)] = static_cast<I>(a);
    }
}

}  // namespace gk

#endif  // GK_NEIGHBOR_LIST_CUH
