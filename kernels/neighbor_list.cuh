// Radius graph with periodic boundaries (neighbour list) for a batch of atomic structures.
// docs/embedding.md ("Neighbour list") is the definition; native/src/neighbor_list.cu launches.
//
// Edge (i -> j, S) for every pair of atoms i, j of the same structure b and every integer image
// shift S (S = 0 only for a non-periodic structure) with |r| < cutoff, r = x_j - x_i + S . L_b
// (rows of L_b are the lattice vectors), except (i, i, S = 0). Edges are stored by source atom
// (global index order, hence by structure), then by destination j ascending, then by S
// lexicographically ascending (s0, then s1, then s2). The edge set is symmetric: (i, j, S) is an
// edge exactly when (j, i, -S) is, because r is formed as d + (s0 L0 + s1 L1 + s2 L2) in double
// with d = x_j - x_i, and both terms negate exactly when i, j and S are swapped/negated.
//
// Work split (all kernels one thread per item, grid-stride, no block or warp cooperation except the
// single-block scan):
//   neighbor_count_kernel  thread = source atom i: brute force over the atoms j of its structure
//                          and, per pair, the image shifts whose fractional box can reach the
//                          cutoff sphere; writes counts[i] (int64 workspace) and folds the lowest
//                          atom above max_neighbors into one word with atomicMin (order-free).
//   neighbor_scan_kernel   ONE block of kNeighborScanThreads threads: thread t owns a contiguous
//                          chunk of atoms, sums it, thread 0 scans the partials in order (fixed
//                          order, int64), then each thread writes src_ptr for its chunk. Writes
//                          nothing when an atom exceeded max_neighbors or the total overflows the
//                          index type (the host reads the verdict back).
//   neighbor_fill_kernel   thread = source atom i: the same walk as the count, writing its edges at
//                          [src_ptr[i], src_ptr[i+1]) in the documented order (one owner per edge).
//   neighbor_dst_perm_kernel thread = edge e = (i -> j, S): finds its reverse edge p = (j -> i, -S)
//                          by binary search in j's row and writes dst_perm[slot] = p, slot being
//                          e's mirror inside its run of edges to j (one owner per slot). With the
//                          symmetric edge set, dst_ptr = src_ptr.
//
// Cost: O(sum_b N_b^2 * images) pair tests (brute force per structure, no cell list), each ~30
// double flops. Bytes: the walk reads the 12 B of every atom of the structure per source atom
// (L1/L2 resident for small structures); the fill writes sizeof(I) * 2 + 12 + 12 bytes per edge
// (edge_src, edge_dst, shifts int32 x3, edge_vec fp32 x3); dst_perm reads one row per edge with
// O(log degree) probes and writes sizeof(I). No floating-point reduction anywhere: bitwise
// deterministic.
#ifndef GK_NEIGHBOR_LIST_CUH
#define GK_NEIGHBOR_LIST_CUH

#include "common/gk_device.cuh"

namespace gk {

constexpr int kNeighborBlockThreads = 128;
constexpr int kNeighborScanThreads = 256;

// Workspace words (unsigned long long) of the count/scan pair; counts follow at kNlWsCounts.
constexpr int kNlWsBadAtom = 0;    // lowest atom with more than max_neighbors (all-ones: none)
constexpr int kNlWsTotal = 1;      // total edges (int64)
constexpr int kNlWsOverflow = 2;   // 1 when the total does not fit the index type
constexpr int kNlWsMaxCount = 3;   // largest per-atom count
constexpr int kNlWsMaxAtom = 4;    // lowest atom with that count (-1 when N = 0)
constexpr int kNlWsCounts = 8;     // counts[N] start here

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
    double m[9];
#pragma unroll
    for (int k = 0; k < 9; ++k) m[k] = c.l[k];
    const double a00 = m[4] * m[8] - m[5] * m[7];
    const double a01 = m[2] * m[7] - m[1] * m[8];
    const double a02 = m[1] * m[5] - m[2] * m[4];
    const double a10 = m[5] * m[6] - m[3] * m[8];
    const double a11 = m[0] * m[8] - m[2] * m[6];
    const double a12 = m[2] * m[3] - m[0] * m[5];
    const double a20 = m[3] * m[7] - m[4] * m[6];
    const double a21 = m[1] * m[6] - m[0] * m[7];
    const double a22 = m[0] * m[4] - m[1] * m[3];
    const double det = m[0] * a00 + m[1] * a10 + m[2] * a20;
    const double r = 1.0 / det;
    c.inv[0] = static_cast<float>(a00 * r); c.inv[1] = static_cast<float>(a01 * r);
    c.inv[2] = static_cast<float>(a02 * r); c.inv[3] = static_cast<float>(a10 * r);
    c.inv[4] = static_cast<float>(a11 * r); c.inv[5] = static_cast<float>(a12 * r);
    c.inv[6] = static_cast<float>(a20 * r); c.inv[7] = static_cast<float>(a21 * r);
    c.inv[8] = static_cast<float>(a22 * r);
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

// The walk shared by count and fill: every neighbour of atom i in the documented order. With
// kFill it writes edge `out + k` for the k-th neighbour; it returns the number of neighbours.
template <typename I, bool kFill>
GK_D int64_t nl_walk(int64_t i, const I* __restrict__ gptr, int64_t num_graphs,
                     const float* __restrict__ pos, const float* __restrict__ cell,
                     const uint8_t* __restrict__ periodic, double cutoff, int64_t out,
                     I* __restrict__ edge_src, I* __restrict__ edge_dst,
                     int32_t* __restrict__ shifts, float* __restrict__ edge_vec) {
    const int64_t b = nl_graph_of(gptr, num_graphs, i);
    const int64_t lo = static_cast<int64_t>(gptr[b]), hi = static_cast<int64_t>(gptr[b + 1]);
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
                    const double a = s0, bb = s1, cc = s2;
                    const double rx = dx + (a * static_cast<double>(c.l[0]) + bb * static_cast<double>(c.l[3]) + cc * static_cast<double>(c.l[6]));
                    const double ry = dy + (a * static_cast<double>(c.l[1]) + bb * static_cast<double>(c.l[4]) + cc * static_cast<double>(c.l[7]));
                    const double rz = dz + (a * static_cast<double>(c.l[2]) + bb * static_cast<double>(c.l[5]) + cc * static_cast<double>(c.l[8]));
                    const double r2 = rx * rx + ry * ry + rz * rz;
                    if (!(r2 < rc2)) continue;
                    if (kFill) {
                        const int64_t e = out + count;
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
                    ++count;
                }
            }
        }
    }
    return count;
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
        const int64_t n = nl_walk<I, false>(i, gptr, num_graphs, pos, cell, periodic, cutoff, 0,
                                            nullptr, nullptr, nullptr, nullptr);
        ws[kNlWsCounts + i] = static_cast<unsigned long long>(n);
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
template <typename I>
__global__ void neighbor_fill_kernel(const I* __restrict__ gptr, int64_t num_graphs, int64_t num_atoms,
                     const float* __restrict__ pos, const float* __restrict__ cell,
                     const uint8_t* __restrict__ periodic, double cutoff,
                     const I* __restrict__ src_ptr, I* __restrict__ edge_src,
                     I* __restrict__ edge_dst, int32_t* __restrict__ shifts,
                     float* __restrict__ edge_vec) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < num_atoms;
         i += stride) {
        nl_walk<I, true>(i, gptr, num_graphs, pos, cell, periodic, cutoff,
                         static_cast<int64_t>(src_ptr[i]), edge_src, edge_dst, shifts, edge_vec);
    }
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
