// Graph plan build: transpose (by-source CSR + edge permutation), degrees, row schedule.
//
// Four launches, all stream-ordered, in this order (native/src/graph_plan.cu):
//  1. plan_count_kernel: grid-stride over t < max(M, E). Thread t: for a destination row t, its
//     in-degree and its item count max(1, ceil(deg / chunk)) (into row_item_ptr[t]); for an edge t,
//     one integer atomicAdd on cnt[col_idx[t]] (integer: the counts are exact whatever the order).
//     Bytes per edge: sizeof(I) read + one 8-byte atomic; per row: 2 sizeof(I) read, sizeof(I) + 8 written.
//  2. plan_scan_kernel (one block of kPlanScanThreads, launched twice): an exclusive scan in a
//     fixed order. Thread j owns the contiguous segment [j * s, (j + 1) * s) (s = ceil(n / threads)),
//     sums it serially; thread 0 scans the per-thread totals serially in shared memory; each thread
//     then writes its segment's prefixes. Integer arithmetic, so exact. Used for the transposed
//     row_ptr (from cnt, also writing out_degree and resetting cnt to the row starts, the scatter
//     cursors) and in place for row_item_ptr.
//  3. plan_fill_kernel: grid-stride over destination rows v; thread v walks its edges in CSR order
//     and takes a slot in source row u = col_idx[e] by atomicAdd on cursor[u]: perm[slot] = e,
//     t_col_idx[slot] = v (slot order inside a source row depends on scheduling; step 4 fixes it).
//     It also writes item_row for the row's items and -1 for unused capacity.
//  4. plan_sort_kernel: grid-stride over source rows u; thread u sorts its segment of (perm,
//     t_col_idx) pairs by perm (keys are distinct CSR positions): insertion sort up to 32 entries,
//     heap sort beyond (O(d log d), in place, no scratch). The result is the unique stable order,
//     so the plan is bitwise identical every build.
// No shared memory except the scan's kPlanScanThreads int64 totals (8 KB); no floating point.
// Registers (ptxas 11.8, sm_90): count 18-20, scan 31-32, fill 32, sort 32-37; no spills.
// The single-block scan and the per-source serial sort are simple rather than fast: the plan is
// built once per graph (a hub source row of degree d costs one thread O(d log d)).
#ifndef GK_GRAPH_PLAN_CUH
#define GK_GRAPH_PLAN_CUH

#include "common/gk_device.cuh"

namespace gk {

constexpr int kPlanBlockThreads = 256;
constexpr int kPlanScanThreads = 1024;

template <typename I>
__global__ void plan_count_kernel(const I* __restrict__ row_ptr, const I* __restrict__ col_idx,
                                  int64_t num_rows, int64_t nnz, int64_t chunk,
                                  I* __restrict__ in_degree, int64_t* __restrict__ row_items,
                                  unsigned long long* __restrict__ cnt) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    const int64_t n = num_rows > nnz ? num_rows : nnz;
    for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
         t += stride) {
        if (t < num_rows) {
            const int64_t deg =
                static_cast<int64_t>(row_ptr[t + 1]) - static_cast<int64_t>(row_ptr[t]);
            in_degree[t] = static_cast<I>(deg);
            const int64_t items = (deg + chunk - 1) / chunk;
            row_items[t] = items > 0 ? items : 1;
        }
        if (t < nnz) atomicAdd(cnt + static_cast<int64_t>(col_idx[t]), 1ull);
    }
}

// Exclusive scan of n counts into out[0..n] (out[n] = total). C is the count type (read), O the
// output type. If degree != nullptr, degree[i] = count i. If cursor != nullptr, cursor[i] = out[i].
// in and out may alias (in place): each thread reads an element of its own segment before writing it.
template <typename C, typename O>
__global__ void plan_scan_kernel(const C* in, int64_t n, O* out, O* __restrict__ degree,
                                 unsigned long long* cursor) {
    GK_SHARED_ARRAY(long long, totals, kPlanScanThreads);
    const int64_t threads = blockDim.x;
    const int64_t seg = (n + threads - 1) / threads;
    const int64_t begin = static_cast<int64_t>(threadIdx.x) * seg;
    const int64_t end = begin + seg < n ? begin + seg : n;
    long long sum = 0;
    for (int64_t i = begin; i < end; ++i) sum += static_cast<long long>(in[i]);
    totals[threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.x == 0) {
        long long run = 0;
        for (int64_t j = 0; j < threads; ++j) {
            const long long v = totals[j];
            totals[j] = run;
            run += v;
        }
        out[n] = static_cast<O>(run);
    }
    __syncthreads();
    long long run = totals[threadIdx.x];
    for (int64_t i = begin; i < end; ++i) {
        const long long v = static_cast<long long>(in[i]);
        out[i] = static_cast<O>(run);
        if (degree != nullptr) degree[i] = static_cast<O>(v);
        if (cursor != nullptr) cursor[i] = static_cast<unsigned long long>(run);
        run += v;
    }
}

template <typename I>
__global__ void plan_fill_kernel(const I* __restrict__ row_ptr, const I* __restrict__ col_idx,
                                 int64_t num_rows, const int64_t* __restrict__ row_item_ptr,
                                 int64_t max_items, unsigned long long* __restrict__ cursor,
                                 I* __restrict__ perm, I* __restrict__ t_col_idx,
                                 int64_t* __restrict__ item_row) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    const int64_t used = row_item_ptr[num_rows];
    const int64_t n = num_rows > max_items ? num_rows : max_items;
    for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
         t += stride) {
        if (t < num_rows) {
            const int64_t start = static_cast<int64_t>(row_ptr[t]);
            const int64_t end = static_cast<int64_t>(row_ptr[t + 1]);
            for (int64_t e = start; e < end; ++e) {
                const int64_t u = static_cast<int64_t>(col_idx[e]);
                const int64_t slot = static_cast<int64_t>(atomicAdd(cursor + u, 1ull));
                perm[slot] = static_cast<I>(e);
                t_col_idx[slot] = static_cast<I>(t);
            }
            for (int64_t j = row_item_ptr[t]; j < row_item_ptr[t + 1]; ++j) item_row[j] = t;
        }
        if (t >= used && t < max_items) item_row[t] = -1;
    }
}

template <typename I>
GK_D void plan_sift_down(I* key, I* val, int64_t root, int64_t n) {
    while (true) {
        int64_t child = 2 * root + 1;
        if (child >= n) return;
        if (child + 1 < n && key[child + 1] > key[child]) ++child;
        if (!(key[child] > key[root])) return;
        const I tk = key[root], tv = val[root];
        key[root] = key[child];
        val[root] = val[child];
        key[child] = tk;
        val[child] = tv;
        root = child;
    }
}

template <typename I>
__global__ void plan_sort_kernel(const I* __restrict__ t_row_ptr, int64_t num_src,
                                 I* __restrict__ perm, I* __restrict__ t_col_idx) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t u = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; u < num_src;
         u += stride) {
        const int64_t start = static_cast<int64_t>(t_row_ptr[u]);
        const int64_t n = static_cast<int64_t>(t_row_ptr[u + 1]) - start;
        I* key = perm + start;
        I* val = t_col_idx + start;
        if (n <= 32) {
            for (int64_t i = 1; i < n; ++i) {
                const I k = key[i], v = val[i];
                int64_t j = i - 1;
                while (j >= 0 && key[j] > k) {
                    key[j + 1] = key[j];
                    val[j + 1] = val[j];
                    --j;
                }
                key[j + 1] = k;
                val[j + 1] = v;
            }
        } else {
            for (int64_t r = n / 2 - 1; r >= 0; --r) plan_sift_down(key, val, r, n);
            for (int64_t last = n - 1; last > 0; --last) {
                const I tk = key[0], tv = val[0];
                key[0] = key[last];
                val[0] = val[last];
                key[last] = tk;
                val[last] = tv;
                plan_sift_down(key, val, 0, last);
            }
        }
    }
}

}  // namespace gk

#endif  // GK_GRAPH_PLAN_CUH
