// Neighbour-list launchers: gk_neighbor_list_workspace_size, gk_neighbor_list_count (count, scan,
// read the verdict back: synchronises) and gk_neighbor_list_fill (fill, optional dst_perm; stream-
// ordered). Kernels: kernels/neighbor_list.cuh. No allocation on the device; the count copies
// graph_atom_ptr, the cells and the periodic flags to host memory to check them.
#include <cmath>
#include <cstdio>
#include <vector>

#include "gk_runtime.h"
#include "neighbor_list.cuh"
#include "validate.h"

namespace {

const char* const kCount = "gk_neighbor_list_count";
const char* const kFill = "gk_neighbor_list_fill";
const char* const kFillWs = "gk_neighbor_list_fill_ws";
const char* const kWs = "gk_neighbor_list_workspace_size";
constexpr double kMaxImages = 1000.0;

gk_status check_batch(const gk_nl_batch* b, const char* op) {
    if (b == nullptr) return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: batch is NULL", op);
    if (b->index_type != GK_INDEX_INT32 && b->index_type != GK_INDEX_INT64)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: batch->index_type = %d is not a gk_index_type (0 = int32, 1 = int64)",
                        op, b->index_type);
    if (b->reserved != 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: batch->reserved = %d, must be 0", op,
                        b->reserved);
    if (b->num_atoms < 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: batch->num_atoms = %lld is negative", op,
                        static_cast<long long>(b->num_atoms));
    if (b->num_graphs < 1)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: batch->num_graphs = %lld, needs at least 1", op,
                        static_cast<long long>(b->num_graphs));
    const int64_t big = int64_t{1} << 56;
    if (b->num_atoms > big || b->num_graphs > big)
        return gk::fail(GK_ERROR_INDEX_OVERFLOW,
                        "%s: batch sizes (num_atoms = %lld, num_graphs = %lld) overflow 64-bit "
                        "byte offsets",
                        op, static_cast<long long>(b->num_atoms),
                        static_cast<long long>(b->num_graphs));
    if (b->index_type == GK_INDEX_INT32 && (b->num_atoms >= INT32_MAX || b->num_graphs >= INT32_MAX))
        return gk::fail(GK_ERROR_INDEX_OVERFLOW,
                        "%s: batch->num_atoms = %lld does not fit int32 indices; use "
                        "GK_INDEX_INT64",
                        op, static_cast<long long>(b->num_atoms));
    const size_t isz = gk::index_size(b->index_type);
    if (b->graph_atom_ptr == nullptr)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: batch->graph_atom_ptr is NULL", op);
    if (!gk::aligned(b->graph_atom_ptr, isz))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: batch->graph_atom_ptr (%p) is not aligned to %zu bytes", op,
                        b->graph_atom_ptr, isz);
    if (b->num_atoms > 0 && b->positions == nullptr)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: batch->positions is NULL (num_atoms = %lld)",
                        op, static_cast<long long>(b->num_atoms));
    if (!gk::aligned(b->positions, 4) || !gk::aligned(b->cell, 4))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: batch->positions (%p) and batch->cell (%p) must be 4-byte aligned", op,
                        static_cast<const void*>(b->positions), static_cast<const void*>(b->cell));
    return GK_SUCCESS;
}

// %g of a double, with NaN written "NaN" whatever its sign bit (printf gives "-nan" or "nan").
struct Num {
    char text[32];
    explicit Num(double v) {
        if (std::isnan(v)) std::snprintf(text, sizeof text, "NaN");
        else std::snprintf(text, sizeof text, "%g", v);
    }
};

gk_status check_cutoff(double cutoff, const char* op) {
    if (!(cutoff > 0.0) || !std::isfinite(cutoff))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: cutoff = %s must be finite and > 0", op,
                        Num(cutoff).text);
    return GK_SUCCESS;
}

// (5 N + 14 B + 8) x 8 bytes (kernels/neighbor_list.cuh, "Workspace"); sizes are checked < 2^56.
size_t nl_workspace_bytes(const gk_nl_batch& b) {
    return static_cast<size_t>(gk::nl_ws_words(b.num_atoms, b.num_graphs)) * sizeof(unsigned long long);
}

unsigned grid_for(int64_t items) {
    const int64_t want = (items + gk::kNeighborBlockThreads - 1) / gk::kNeighborBlockThreads;
    return static_cast<unsigned>(want < 1 ? 1 : (want < 65535 ? want : 65535));
}

// Host checks of the batch contents (copied back): graph_atom_ptr and the periodic cells.
template <typename I>
gk_status check_contents(const gk_nl_batch& b, double cutoff, cudaStream_t stream) {
    const int64_t B = b.num_graphs;
    cudaError_t err = cudaStreamSynchronize(stream);  // inputs may be written on this stream
    if (err != cudaSuccess) return gk::fail_cuda(err, kCount);
    std::vector<I> gptr(static_cast<size_t>(B + 1));
    err = cudaMemcpy(gptr.data(), b.graph_atom_ptr, sizeof(I) * (B + 1), cudaMemcpyDeviceToHost);
    if (err != cudaSuccess) return gk::fail_cuda(err, kCount);
    if (gptr[0] != 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: batch->graph_atom_ptr[0] = %lld, must be 0",
                        kCount, static_cast<long long>(gptr[0]));
    for (int64_t g = 1; g <= B; ++g)
        if (gptr[g] < gptr[g - 1])
            return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                            "%s: batch->graph_atom_ptr[%lld] = %lld is less than "
                            "graph_atom_ptr[%lld] = %lld (must be non-decreasing)",
                            kCount, static_cast<long long>(g), static_cast<long long>(gptr[g]),
                            static_cast<long long>(g - 1), static_cast<long long>(gptr[g - 1]));
    if (static_cast<int64_t>(gptr[B]) != b.num_atoms)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: batch->graph_atom_ptr[%lld] = %lld (the last entry) must equal "
                        "num_atoms = %lld",
                        kCount, static_cast<long long>(B), static_cast<long long>(gptr[B]),
                        static_cast<long long>(b.num_atoms));
    std::vector<uint8_t> per(static_cast<size_t>(B), 1);
    if (b.periodic != nullptr) {
        err = cudaMemcpy(per.data(), b.periodic, static_cast<size_t>(B), cudaMemcpyDeviceToHost);
        if (err != cudaSuccess) return gk::fail_cuda(err, kCount);
    }
    bool any = false;
    for (int64_t g = 0; g < B; ++g) any = any || per[g] != 0;
    if (!any) return GK_SUCCESS;
    if (b.cell == nullptr)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: batch->cell is NULL but a structure is periodic (flag molecules 0 in "
                        "batch->periodic)",
                        kCount);
    std::vector<float> cell(static_cast<size_t>(B) * 9);
    err = cudaMemcpy(cell.data(), b.cell, sizeof(float) * 9 * B, cudaMemcpyDeviceToHost);
    if (err != cudaSuccess) return gk::fail_cuda(err, kCount);
    for (int64_t g = 0; g < B; ++g) {
        if (per[g] == 0) continue;
        const float* c = cell.data() + g * 9;
        for (int k = 0; k < 9; ++k)
            if (!std::isfinite(c[k]))
                return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                                "%s: batch->cell of graph %lld is not finite (cell[%lld][%d][%d] = "
                                "%s)",
                                kCount, static_cast<long long>(g), static_cast<long long>(g), k / 3,
                                k % 3, Num(c[k]).text);
        double m[9];
        for (int k = 0; k < 9; ++k) m[k] = c[k];
        const double c0 = m[4] * m[8] - m[5] * m[7], c1 = m[5] * m[6] - m[3] * m[8],
                     c2 = m[3] * m[7] - m[4] * m[6];
        const double det = m[0] * c0 + m[1] * c1 + m[2] * c2;
        const double la = std::sqrt(m[0] * m[0] + m[1] * m[1] + m[2] * m[2]);
        const double lb = std::sqrt(m[3] * m[3] + m[4] * m[4] + m[5] * m[5]);
        const double lc = std::sqrt(m[6] * m[6] + m[7] * m[7] + m[8] * m[8]);
        if (!(std::fabs(det) > 1e-12 * la * lb * lc))
            return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                            "%s: graph %lld is periodic but its cell has zero volume (det = %g); "
                            "flag it non-periodic in batch->periodic",
                            kCount, static_cast<long long>(g), det);
        // Interplanar spacing along lattice vector k: V / |a_l x a_m|.
        const double* v = m;
        const double cr[3][3] = {
            {v[4] * v[8] - v[5] * v[7], v[5] * v[6] - v[3] * v[8], v[3] * v[7] - v[4] * v[6]},
            {v[7] * v[2] - v[8] * v[1], v[8] * v[0] - v[6] * v[2], v[6] * v[1] - v[7] * v[0]},
            {v[1] * v[5] - v[2] * v[4], v[2] * v[3] - v[0] * v[5], v[0] * v[4] - v[1] * v[3]}};
        for (int k = 0; k < 3; ++k) {
            const double area =
                std::sqrt(cr[k][0] * cr[k][0] + cr[k][1] * cr[k][1] + cr[k][2] * cr[k][2]);
            const double images = cutoff * area / std::fabs(det);
            if (!(images <= kMaxImages))
                return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                                "%s: cutoff = %g spans %.0f images along lattice vector %d of graph "
                                "%lld (interplanar spacing %g); at most %.0f are supported",
                                kCount, cutoff, images, k, static_cast<long long>(g),
                                std::fabs(det) / area, kMaxImages);
        }
    }
    return GK_SUCCESS;
}

template <typename I>
gk_status count_typed(const gk_nl_batch& b, double cutoff, int64_t max_neighbors, I* src_ptr,
                      unsigned long long* ws, gk_nl_report* report, cudaStream_t stream) {
    gk_status s = check_contents<I>(b, cutoff, stream);
    if (s != GK_SUCCESS) return s;
    cudaError_t err = cudaMemsetAsync(ws, 0xff, sizeof(unsigned long long), stream);
    if (err == cudaSuccess)
        err = cudaMemsetAsync(ws + gk::kNlWsPairs, 0, 2 * sizeof(unsigned long long), stream);
    if (err != cudaSuccess) return gk::fail_cuda(err, kCount);
    const I* gptr = static_cast<const I*>(b.graph_atom_ptr);
    if (b.num_atoms > 0) {
        err = GK_LAUNCH((gk::neighbor_bin_kernel<I>), dim3(grid_for(b.num_graphs)),
                        dim3(gk::kNeighborBlockThreads), 0, stream, gptr, b.num_graphs,
                        b.num_atoms, b.positions, b.cell, b.periodic, cutoff, ws);
        if (err != cudaSuccess) return gk::fail_cuda(err, kCount);
        err = GK_LAUNCH((gk::neighbor_count_kernel<I>), dim3(grid_for(b.num_atoms)),
                        dim3(gk::kNeighborBlockThreads), 0, stream, gptr, b.num_graphs,
                        b.num_atoms, b.positions, b.cell, b.periodic, cutoff, max_neighbors, ws);
        if (err != cudaSuccess) return gk::fail_cuda(err, kCount);
    }
    const int64_t limit = gk::index_max(b.index_type);
    err = GK_LAUNCH((gk::neighbor_scan_kernel<I>), dim3(1), dim3(gk::kNeighborScanThreads), 0,
                    stream, b.num_atoms, limit, ws, src_ptr);
    if (err != cudaSuccess) return gk::fail_cuda(err, kCount);
    unsigned long long v[gk::kNlWsCounts] = {};
    err = cudaMemcpyAsync(v, ws, sizeof(unsigned long long) * 5, cudaMemcpyDeviceToHost, stream);
    if (err == cudaSuccess) err = cudaStreamSynchronize(stream);
    if (err != cudaSuccess) return gk::fail_cuda(err, kCount);
    gk_nl_report r{};
    r.num_edges = static_cast<int64_t>(v[gk::kNlWsTotal]);
    r.max_count = static_cast<int64_t>(v[gk::kNlWsMaxCount]);
    r.max_count_atom = static_cast<int64_t>(v[gk::kNlWsMaxAtom]);
    r.overflow_atom = -1;
    r.overflow_count = 0;
    if (v[gk::kNlWsBadAtom] != ~0ull) {
        const int64_t a = static_cast<int64_t>(v[gk::kNlWsBadAtom]);
        unsigned long long n = 0;
        err = cudaMemcpy(&n, ws + gk::kNlWsCounts + a, sizeof n, cudaMemcpyDeviceToHost);
        if (err != cudaSuccess) return gk::fail_cuda(err, kCount);
        I g[2] = {0, 0};
        std::vector<I> gp(static_cast<size_t>(b.num_graphs + 1));
        err = cudaMemcpy(gp.data(), b.graph_atom_ptr, sizeof(I) * (b.num_graphs + 1),
                         cudaMemcpyDeviceToHost);
        if (err != cudaSuccess) return gk::fail_cuda(err, kCount);
        const int64_t graph = gk::nl_graph_of(gp.data(), b.num_graphs, a);
        g[0] = gp[graph];
        r.overflow_atom = a;
        r.overflow_count = static_cast<int64_t>(n);
        if (report != nullptr) *report = r;
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: max_neighbors = %lld is exceeded: atom %lld (graph %lld, atom %lld of "
                        "that graph) has %lld neighbours within cutoff = %g",
                        kCount, static_cast<long long>(max_neighbors), static_cast<long long>(a),
                        static_cast<long long>(graph), static_cast<long long>(a - g[0]),
                        static_cast<long long>(n), cutoff);
    }
    if (v[gk::kNlWsOverflow] != 0)
        return gk::fail(GK_ERROR_INDEX_OVERFLOW,
                        "%s: the neighbour list has %llu edges, more than int32 indices hold; use "
                        "GK_INDEX_INT64",
                        kCount, v[gk::kNlWsTotal]);
    if (report != nullptr) *report = r;
    return GK_SUCCESS;
}

template <typename I>
gk_status fill_typed(const gk_nl_batch& b, double cutoff, const unsigned long long* ws,
                     const I* src_ptr, int64_t num_edges, I* edge_src, I* edge_dst,
                     int32_t* shifts, float* edge_vec, I* dst_perm, cudaStream_t stream) {
    const I* gptr = static_cast<const I*>(b.graph_atom_ptr);
    cudaError_t err = cudaSuccess;
    if (b.num_atoms > 0) {
        err = GK_LAUNCH((gk::neighbor_fill_kernel<I>), dim3(grid_for(b.num_atoms)),
                        dim3(gk::kNeighborBlockThreads), 0, stream, gptr, b.num_graphs,
                        b.num_atoms, b.positions, b.cell, b.periodic, cutoff, ws, src_ptr, edge_src,
                        edge_dst, shifts, edge_vec);
        if (err != cudaSuccess) return gk::fail_cuda(err, kFill);
    }
    if (dst_perm != nullptr && num_edges > 0) {
        err = GK_LAUNCH((gk::neighbor_dst_perm_kernel<I>), dim3(grid_for(num_edges)),
                        dim3(gk::kNeighborBlockThreads), 0, stream, num_edges, src_ptr, edge_src,
                        edge_dst, static_cast<const int32_t*>(shifts), dst_perm);
        if (err != cudaSuccess) return gk::fail_cuda(err, kFill);
    }
    return GK_SUCCESS;
}

// Both fills: workspace == nullptr with ws_required == false is gk_neighbor_list_fill (brute force).
gk_status fill_impl(const char* kFill, const gk_nl_batch* batch, double cutoff, const void* src_ptr,
                    const void* workspace, size_t workspace_bytes_given, bool ws_required,
                    int64_t num_edges, void* edge_src, void* edge_dst, int32_t* shifts,
                    float* edge_vec, void* dst_perm, void* stream) {
    gk_status s = check_batch(batch, kFill);
    if (s != GK_SUCCESS) return s;
    s = check_cutoff(cutoff, kFill);
    if (s != GK_SUCCESS) return s;
    if (num_edges < 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: num_edges = %lld is negative", kFill,
                        static_cast<long long>(num_edges));
    if (num_edges > (int64_t{1} << 56))
        return gk::fail(GK_ERROR_INDEX_OVERFLOW, "%s: num_edges = %lld overflows 64-bit byte offsets",
                        kFill, static_cast<long long>(num_edges));
    if (batch->index_type == GK_INDEX_INT32 && num_edges > INT32_MAX)
        return gk::fail(GK_ERROR_INDEX_OVERFLOW,
                        "%s: num_edges = %lld does not fit int32 indices; use GK_INDEX_INT64", kFill,
                        static_cast<long long>(num_edges));
    const size_t isz = gk::index_size(batch->index_type);
    if (src_ptr == nullptr)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: src_ptr is NULL", kFill);
    const size_t need = nl_workspace_bytes(*batch);
    if (ws_required) {
        if (workspace == nullptr)
            return gk::fail(GK_ERROR_WORKSPACE,
                            "%s: workspace is NULL (pass the workspace of gk_neighbor_list_count, "
                            "%zu bytes)", kFill, need);
        if (workspace_bytes_given < need)
            return gk::fail(GK_ERROR_WORKSPACE, "%s: workspace_bytes = %zu, needs %zu", kFill,
                            workspace_bytes_given, need);
        if (!gk::aligned(workspace, 8))
            return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: workspace (%p) must be 8-byte aligned",
                            kFill, workspace);
    }
    struct Arr { const char* name; const void* p; int64_t bytes; size_t align; bool required; };
    const Arr arrs[] = {
        {"src_ptr", src_ptr, (batch->num_atoms + 1) * static_cast<int64_t>(isz), isz, true},
        {"edge_src", edge_src, num_edges * static_cast<int64_t>(isz), isz, true},
        {"edge_dst", edge_dst, num_edges * static_cast<int64_t>(isz), isz, true},
        {"shifts", shifts, num_edges * 12, 4, true},
        {"edge_vec", edge_vec, num_edges * 12, 4, false},
        {"dst_perm", dst_perm, num_edges * static_cast<int64_t>(isz), isz, false}};
    for (const Arr& a : arrs) {
        if (a.p == nullptr && a.required && num_edges > 0)
            return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s is NULL (num_edges = %lld)", kFill,
                            a.name, static_cast<long long>(num_edges));
        if (a.p != nullptr && !gk::aligned(a.p, a.align))
            return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s (%p) is not aligned to %zu bytes",
                            kFill, a.name, a.p, a.align);
    }
    // Outputs must not overlap each other or the inputs.
    const Arr ins[] = {{"src_ptr", src_ptr, arrs[0].bytes, 0, false},
                       {"batch->positions", batch->positions, batch->num_atoms * 12, 0, false},
                       {"batch->graph_atom_ptr", batch->graph_atom_ptr,
                        (batch->num_graphs + 1) * static_cast<int64_t>(isz), 0, false},
                       {"workspace", workspace, ws_required ? static_cast<int64_t>(need) : 0, 0,
                        false}};
    for (int o = 1; o < 6; ++o) {
        for (int q = 1; q < o; ++q)
            if (gk::overlaps(arrs[o].p, arrs[o].bytes, arrs[q].p, arrs[q].bytes))
                return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s overlaps %s", kFill,
                                arrs[o].name, arrs[q].name);
        for (const Arr& in : ins)
            if (gk::overlaps(arrs[o].p, arrs[o].bytes, in.p, in.bytes))
                return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s overlaps %s", kFill,
                                arrs[o].name, in.name);
    }
    if (num_edges == 0) return GK_SUCCESS;
    const auto* ws = static_cast<const unsigned long long*>(ws_required ? workspace : nullptr);
    if (batch->index_type == GK_INDEX_INT32)
        return fill_typed<int32_t>(*batch, cutoff, ws, static_cast<const int32_t*>(src_ptr), num_edges,
                                   static_cast<int32_t*>(edge_src), static_cast<int32_t*>(edge_dst),
                                   shifts, edge_vec, static_cast<int32_t*>(dst_perm),
                                   gk::as_stream(stream));
    return fill_typed<int64_t>(*batch, cutoff, ws, static_cast<const int64_t*>(src_ptr), num_edges,
                               static_cast<int64_t*>(edge_src), static_cast<int64_t*>(edge_dst),
                               shifts, edge_vec, static_cast<int64_t*>(dst_perm),
                               gk::as_stream(stream));
}


}  // namespace

extern "C" {

GK_API gk_status gk_neighbor_list_workspace_size(const gk_nl_batch* batch, size_t* bytes) {
    GK_ABI_BEGIN
    gk_status s = check_batch(batch, kWs);
    if (s != GK_SUCCESS) return s;
    if (bytes == nullptr) return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: bytes is NULL", kWs);
    *bytes = nl_workspace_bytes(*batch);
    return GK_SUCCESS;
    GK_ABI_END
}

GK_API gk_status gk_neighbor_list_count(const gk_nl_batch* batch, double cutoff,
                                        int64_t max_neighbors, void* src_ptr, void* workspace,
                                        size_t workspace_bytes, gk_nl_report* report,
                                        void* stream) {
    GK_ABI_BEGIN
    gk_status s = check_batch(batch, kCount);
    if (s != GK_SUCCESS) return s;
    s = check_cutoff(cutoff, kCount);
    if (s != GK_SUCCESS) return s;
    if (max_neighbors < 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: max_neighbors = %lld is negative (0 = no limit)", kCount,
                        static_cast<long long>(max_neighbors));
    const size_t isz = gk::index_size(batch->index_type);
    if (src_ptr == nullptr)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: src_ptr is NULL (it has num_atoms + 1 = "
                        "%lld entries)", kCount, static_cast<long long>(batch->num_atoms + 1));
    if (!gk::aligned(src_ptr, isz))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: src_ptr (%p) is not aligned to %zu bytes",
                        kCount, src_ptr, isz);
    const size_t need = nl_workspace_bytes(*batch);
    if (workspace == nullptr)
        return gk::fail(GK_ERROR_WORKSPACE, "%s: workspace is NULL (needs %zu bytes)", kCount, need);
    if (workspace_bytes < need)
        return gk::fail(GK_ERROR_WORKSPACE, "%s: workspace_bytes = %zu, needs %zu", kCount,
                        workspace_bytes, need);
    if (!gk::aligned(workspace, 8))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: workspace (%p) must be 8-byte aligned",
                        kCount, workspace);
    const int64_t ibytes = (batch->num_atoms + 1) * static_cast<int64_t>(isz);
    if (gk::overlaps(src_ptr, ibytes, workspace, static_cast<int64_t>(need)))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: src_ptr overlaps workspace", kCount);
    auto* ws = static_cast<unsigned long long*>(workspace);
    if (batch->index_type == GK_INDEX_INT32)
        return count_typed<int32_t>(*batch, cutoff, max_neighbors, static_cast<int32_t*>(src_ptr),
                                    ws, report, gk::as_stream(stream));
    return count_typed<int64_t>(*batch, cutoff, max_neighbors, static_cast<int64_t*>(src_ptr), ws,
                                report, gk::as_stream(stream));
    GK_ABI_END
}

GK_API gk_status gk_neighbor_list_fill(const gk_nl_batch* batch, double cutoff,
                                       const void* src_ptr, int64_t num_edges, void* edge_src,
                                       void* edge_dst, int32_t* shifts, float* edge_vec,
                                       void* dst_perm, void* stream) {
    GK_ABI_BEGIN
    return fill_impl(kFill, batch, cutoff, src_ptr, nullptr, 0, false, num_edges, edge_src,
                     edge_dst, shifts, edge_vec, dst_perm, stream);
    GK_ABI_END
}

GK_API gk_status gk_neighbor_list_fill_ws(const gk_nl_batch* batch, double cutoff,
                                          const void* src_ptr, const void* workspace,
                                          size_t workspace_bytes, int64_t num_edges,
                                          void* edge_src, void* edge_dst, int32_t* shifts,
                                          float* edge_vec, void* dst_perm, void* stream) {
    GK_ABI_BEGIN
    return fill_impl(kFillWs, batch, cutoff, src_ptr, workspace, workspace_bytes, true, num_edges,
                     edge_src, edge_dst, shifts, edge_vec, dst_perm, stream);
    GK_ABI_END
}

}  // extern "C"
