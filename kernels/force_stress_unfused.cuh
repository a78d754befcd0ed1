// BENCHMARK BASELINE ONLY (issue 5): the force/stress readout as the unfused three-launch sequence
// a framework would run, so bench/GraphKernels.Bench/ForceStressBenchmark.cs compares the fused
// readout (force_stress.cuh) against equal work. Direct mode, edge vectors given, stress as a 3x3
// tensor in eV/A^3 with every structure periodic. Not a product path: gk_force_stress_readout is.
//
// Launch 1, force_stress_unfused_g_kernel: one thread per edge (grid-stride, 256-thread blocks),
// g_e = s_e r_e / |r_e| (fs_edge_g, the same ops as the fused kernel, so g has the same bits) and
// WRITES g [E,3] to memory. Bytes per edge: 12 B r + 4 B s read, 12 B g written.
// Launch 2, force_stress_unfused_scatter_kernel: one thread per edge, reads g back and does 6 fp32
// atomicAdd (F[src] += g, F[dst] -= g) into forces zeroed by the launcher (cudaMemsetAsync). Bytes
// per edge: 12 B g + 2 sizeof(I) read, 24 B of atomics (L2-resident forces).
// Launch 3, force_stress_unfused_stress_kernel: one 128-thread block per graph (grid-stride); the
// graph's edges are [src_ptr[graph_atom_ptr[b]], src_ptr[graph_atom_ptr[b + 1]]) (edges sorted by
// source, hence by graph); thread t sums r (x) g of edges t, t + 128, ... in fp64, warps fold with
// the xor butterfly, thread 0 adds the warp sums in order and writes Sigma / |det L| (9 values).
// Bytes per edge: 12 B r + 12 B g read back.
// Total ~ 12 + 4 + 12 + 12 + 2 sizeof(I) + 24 = 64 + 2 sizeof(I) B per edge plus the atomics, against
// the fused readout's 2 x (12 + 4) + sizeof(I) (docs/force_stress.md, "Benchmark").
// Forces are NOT bitwise reproducible (atomics); the stress is (fixed order per block).
//
// Registers (ptxas 11.8, -Xptxas -v, sm_90, 0 bytes stack, 0 spills): g kernel 22, scatter kernel
// 26, stress kernel 48 + 288 B shared (int32 and int64 alike).
#ifndef GK_FORCE_STRESS_UNFUSED_CUH
#define GK_FORCE_STRESS_UNFUSED_CUH

#include "force_stress.cuh"

namespace gk {

constexpr int kFsUnfusedEdgeThreads = 256;
constexpr int kFsUnfusedGraphThreads = 128;

__global__ void __launch_bounds__(kFsUnfusedEdgeThreads)
force_stress_unfused_g_kernel(const float* __restrict__ edge_vec, const float* __restrict__ s,
                              float* __restrict__ g_out, int64_t num_edges) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < num_edges;
         e += stride) {
        float r[3], g[3];
#pragma unroll
        for (int k = 0; k < 3; ++k) r[k] = __ldg(edge_vec + 3 * e + k);
        fs_edge_g<kFsDirect>(s, e, r, g);
#pragma unroll
        for (int k = 0; k < 3; ++k) g_out[3 * e + k] = g[k];
    }
}

template <typename I>
__global__ void __launch_bounds__(kFsUnfusedEdgeThreads)
force_stress_unfused_scatter_kernel(const I* __restrict__ edge_src, const I* __restrict__ edge_dst,
                                    const float* __restrict__ g, float* __restrict__ forces,
                                    int64_t num_edges) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < num_edges;
         e += stride) {
        const int64_t src = static_cast<int64_t>(__ldg(edge_src + e));
        const int64_t dst = static_cast<int64_t>(__ldg(edge_dst + e));
#pragma unroll
        for (int k = 0; k < 3; ++k) {
            const float gc = __ldg(g + 3 * e + k);
            atomicAdd(forces + 3 * src + k, gc);
            atomicAdd(forces + 3 * dst + k, -gc);
        }
    }
}

template <typename I>
__global__ void __launch_bounds__(kFsUnfusedGraphThreads)
force_stress_unfused_stress_kernel(const I* __restrict__ graph_atom_ptr,
                                   const I* __restrict__ src_ptr, int64_t num_graphs,
                                   const float* __restrict__ edge_vec, const float* __restrict__ g,
                                   const float* __restrict__ cell, float* __restrict__ stress) {
    GK_SHARED_ARRAY(double, warp_sums, (kFsUnfusedGraphThreads / kWarpSize) * 9);
    const int t = static_cast<int>(threadIdx.x);
    for (int64_t b = blockIdx.x; b < num_graphs; b += gridDim.x) {
        const int64_t e0 = static_cast<int64_t>(src_ptr[static_cast<int64_t>(graph_atom_ptr[b])]);
        const int64_t e1 =
            static_cast<int64_t>(src_ptr[static_cast<int64_t>(graph_atom_ptr[b + 1])]);
        double acc[9];
#pragma unroll
        for (int k = 0; k < 9; ++k) acc[k] = 0.0;
        for (int64_t e = e0 + t; e < e1; e += kFsUnfusedGraphThreads) {
            float r[3], gv[3];
#pragma unroll
            for (int k = 0; k < 3; ++k) {
                r[k] = __ldg(edge_vec + 3 * e + k);
                gv[k] = __ldg(g + 3 * e + k);
            }
            fs_accumulate<kFsConservative>(acc, r, gv, 0.0f);
        }
        fs_block_sum9<kFsUnfusedGraphThreads>(acc, warp_sums);  // the shared fixed-order reduction
        if (t == 0) fs_store_tensor(acc, 1.0 / fs_volume(cell + 9 * b), kFsTensor, stress + 9 * b);
        __syncthreads();  // warp_sums is reused by the next graph
    }
}

}  // namespace gk

#endif  // GK_FORCE_STRESS_UNFUSED_CUH
