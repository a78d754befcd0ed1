// Force/stress readout launchers: gk_force_stress_workspace_size, gk_force_stress_validate and
// gk_force_stress_readout. They validate every argument on the host, pick the group size, and
// launch the kernels of kernels/force_stress.cuh on the caller's stream. No allocation; only
// gk_force_stress_validate synchronises (it reads its verdict back).
#include <cstdio>

#include "force_stress.cuh"
#include "force_stress_unfused.cuh"
#include "gk_runtime.h"
#include "validate.h"

namespace {

const char* const kReadout = "gk_force_stress_readout";
const char* const kValidate = "gk_force_stress_validate";
const char* const kWsSize = "gk_force_stress_workspace_size";
const char* const kBackward = "gk_force_stress_backward";
const char* const kUnfused = "gk_force_stress_unfused_baseline";
const char* const kReadoutHead = "gk_force_stress_readout_head";
const char* const kBackwardHead = "gk_force_stress_backward_head";
const char* const kHeadWsSize = "gk_force_stress_backward_head_workspace_size";

constexpr size_t kValidateWorkspace = gk::kFsValidateSlots * sizeof(unsigned long long);
constexpr uint32_t kKnownFlags = GK_FS_VIRIAL | GK_FS_GPA | GK_FS_FAST;
constexpr double kEvPerA3InGpa = 160.21766208;

gk_status check_index_array(const char* op, const char* name, const void* p, int64_t count,
                            size_t isz) {
    if (count == 0) return GK_SUCCESS;
    if (p == nullptr)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s is NULL (it has %lld entries)", op, name,
                        static_cast<long long>(count));
    if (!gk::aligned(p, isz))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s (%p) is not aligned to %zu bytes", op,
                        name, p, isz);
    return GK_SUCCESS;
}

gk_status check_float_array(const char* op, const char* name, const void* p, int64_t count,
                            const char* why) {
    if (count == 0) return GK_SUCCESS;
    if (p == nullptr)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s is NULL (%s)", op, name, why);
    if (!gk::aligned(p, sizeof(float)))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s (%p) is not 4-byte aligned", op, name, p);
    return GK_SUCCESS;
}

// The topology descriptor itself (its contents are gk_force_stress_validate's job).
gk_status check_topology(const gk_fs_topology* t, const char* op) {
    if (t == nullptr) return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: topology is NULL", op);
    if (t->index_type != GK_INDEX_INT32 && t->index_type != GK_INDEX_INT64)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: topology->index_type = %d is not a gk_index_type (0 = int32, 1 = int64)",
                        op, t->index_type);
    if (t->reserved != 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: topology->reserved = %d, must be 0", op,
                        t->reserved);
    if (t->num_atoms < 0 || t->num_edges < 0 || t->num_graphs < 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: topology sizes (num_atoms = %lld, num_edges = %lld, num_graphs = %lld) "
                        "must not be negative",
                        op, static_cast<long long>(t->num_atoms), static_cast<long long>(t->num_edges),
                        static_cast<long long>(t->num_graphs));
    // [E,3] float offsets and 9 * N doubles must fit int64 bytes comfortably.
    const int64_t big = int64_t{1} << 58;
    if (t->num_atoms > big || t->num_edges > big || t->num_graphs > big)
        return gk::fail(GK_ERROR_INDEX_OVERFLOW,
                        "%s: topology sizes (num_atoms = %lld, num_edges = %lld, num_graphs = %lld) "
                        "overflow 64-bit byte offsets",
                        op, static_cast<long long>(t->num_atoms), static_cast<long long>(t->num_edges),
                        static_cast<long long>(t->num_graphs));
    const int64_t lim = gk::index_max(t->index_type);
    if (t->num_atoms >= lim || t->num_edges > lim || t->num_graphs >= lim)
        return gk::fail(GK_ERROR_INDEX_OVERFLOW,
                        "%s: topology sizes (num_atoms = %lld, num_edges = %lld, num_graphs = %lld) "
                        "do not fit int32 indices; use GK_INDEX_INT64",
                        op, static_cast<long long>(t->num_atoms), static_cast<long long>(t->num_edges),
                        static_cast<long long>(t->num_graphs));
    if (t->num_edges > 0 && t->num_atoms == 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: topology->num_edges = %lld but num_atoms = 0", op,
                        static_cast<long long>(t->num_edges));
    if (t->num_atoms > 0 && t->num_graphs == 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: topology->num_atoms = %lld but num_graphs = 0 (every atom belongs to a "
                        "graph)",
                        op, static_cast<long long>(t->num_atoms));
    const size_t isz = gk::index_size(t->index_type);
    const int64_t N = t->num_atoms, E = t->num_edges, B = t->num_graphs;
    gk_status s = check_index_array(op, "topology->graph_atom_ptr", t->graph_atom_ptr, B + 1, isz);
    if (s == GK_SUCCESS) s = check_index_array(op, "topology->src_ptr", t->src_ptr, N + 1, isz);
    if (s == GK_SUCCESS) s = check_index_array(op, "topology->dst_ptr", t->dst_ptr, N + 1, isz);
    if (s == GK_SUCCESS) s = check_index_array(op, "topology->edge_src", t->edge_src, E, isz);
    if (s == GK_SUCCESS) s = check_index_array(op, "topology->edge_dst", t->edge_dst, E, isz);
    if (s == GK_SUCCESS) s = check_index_array(op, "topology->dst_perm", t->dst_perm, E, isz);
    return s;
}

// The geometry descriptor: either edge_vec, or positions + shifts + cell. `need_cell` when the
// cell is needed for a volume.
gk_status check_geometry(const gk_fs_geometry* g, const gk_fs_topology& t, bool need_cell,
                         const char* op) {
    if (g == nullptr) return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: geometry is NULL", op);
    const int64_t N = t.num_atoms, E = t.num_edges, B = t.num_graphs;
    const bool from_pos = g->edge_vec == nullptr;
    if (!from_pos) {
        if (g->positions != nullptr || g->shifts != nullptr)
            return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                            "%s: geometry->edge_vec is given, so geometry->positions and "
                            "geometry->shifts must be NULL (give r_e one way)",
                            op);
        gk_status s = check_float_array(op, "geometry->edge_vec", g->edge_vec, 3 * E, "");
        if (s != GK_SUCCESS) return s;
    } else if (E > 0) {
        gk_status s = check_float_array(op, "geometry->positions", g->positions, 3 * N,
                                        "give geometry->edge_vec or positions + shifts + cell");
        if (s == GK_SUCCESS)
            s = check_float_array(op, "geometry->shifts", g->shifts, 3 * E,
                                  "r_e = x_dst - x_src + shift . cell needs one shift per edge; "
                                  "use zeros for non-periodic structures");
        if (s != GK_SUCCESS) return s;
        need_cell = true;
    }
    if (need_cell) {
        gk_status s = check_float_array(op, "geometry->cell", g->cell, 9 * B,
                                        "[num_graphs, 3, 3] lattice vectors as rows; needed for "
                                        "the volume and for r_e from positions");
        if (s != GK_SUCCESS) return s;
    } else if (g->cell != nullptr && !gk::aligned(g->cell, sizeof(float))) {
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: geometry->cell (%p) is not 4-byte aligned",
                        op, static_cast<const void*>(g->cell));
    }
    return GK_SUCCESS;
}

int64_t bytes_of(int64_t count, int64_t elem) { return count * elem; }

// Workspace of the head backward's dL/dw, dL/db: fs_head_blocks(E) rows of C + 1 doubles.
size_t head_workspace_bytes(int64_t num_edges, int64_t channels) {
    return static_cast<size_t>(gk::fs_head_blocks(num_edges)) * static_cast<size_t>(channels + 1) *
           sizeof(double);
}

// The fused head descriptor (its values are not checked). Fills `out` and the bytes the features
// span, (E - 1) ld + C floats.
gk_status check_head(const char* op, const gk_fs_head* head, int64_t E, gk::FsHead* out,
                     int64_t* feature_bytes) {
    if (head == nullptr)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: head is NULL (it gives s_e = w . h_e + b; use "
                        "gk_force_stress_readout to pass s_e directly)",
                        op);
    const long long C = static_cast<long long>(head->channels);
    const long long ld = static_cast<long long>(head->ld);
    if (head->channels < 1)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: head->channels = %lld, must be >= 1 (the width C of h_e and w)", op, C);
    if (head->ld < head->channels)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: head->ld = %lld is less than head->channels = %lld (row e of h starts "
                        "at features + e * ld)",
                        op, ld, C);
    const int64_t big = int64_t{1} << 58;
    if (head->ld > big || (E > 0 && head->ld > big / E))
        return gk::fail(GK_ERROR_INDEX_OVERFLOW,
                        "%s: head->ld = %lld x num_edges = %lld overflows 64-bit byte offsets", op,
                        ld, static_cast<long long>(E));
    if (head->weight == nullptr)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: head->weight is NULL (w, [channels = %lld])", op, C);
    if (!gk::aligned(head->weight, sizeof(float)))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: head->weight (%p) is not 4-byte aligned",
                        op, static_cast<const void*>(head->weight));
    if (E > 0 && head->features == nullptr)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: head->features is NULL (h, [num_edges = %lld, ld = %lld])", op,
                        static_cast<long long>(E), ld);
    if (head->features != nullptr && !gk::aligned(head->features, sizeof(float)))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: head->features (%p) is not 4-byte aligned",
                        op, static_cast<const void*>(head->features));
    if (head->bias != nullptr && !gk::aligned(head->bias, sizeof(float)))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: head->bias (%p) is not 4-byte aligned", op,
                        static_cast<const void*>(head->bias));
    out->h = head->features;
    out->w = head->weight;
    out->bias = head->bias;
    out->channels = head->channels;
    out->ld = head->ld;
    *feature_bytes = E > 0 ? ((E - 1) * head->ld + head->channels) * 4 : 0;
    return GK_SUCCESS;
}

struct Launch {
    int mode;
    bool from_pos;
    bool atom_virial;
    int index_type;
    unsigned blocks;
    cudaStream_t stream;
};

template <typename I, int MODE, int GEOM, bool AV>
cudaError_t launch_atoms(const gk::FsAtomArgs<I>& a, const Launch& l) {
    return GK_LAUNCH((gk::force_stress_atom_kernel<I, MODE, GEOM, AV>), dim3(l.blocks),
                     dim3(gk::kFsAtomBlockThreads), 0, l.stream, a);
}

template <typename I, int MODE, int GEOM>
cudaError_t dispatch_av(const gk::FsAtomArgs<I>& a, const Launch& l) {
    return l.atom_virial ? launch_atoms<I, MODE, GEOM, true>(a, l)
                         : launch_atoms<I, MODE, GEOM, false>(a, l);
}

template <typename I, int MODE>
cudaError_t dispatch_geom(const gk::FsAtomArgs<I>& a, const Launch& l) {
    return l.from_pos ? dispatch_av<I, MODE, gk::kFsPositions>(a, l)
                      : dispatch_av<I, MODE, gk::kFsEdgeVec>(a, l);
}

// Launch::mode: GK_FS_CONSERVATIVE, GK_FS_DIRECT, or kModeHead (direct mode with the fused head).
constexpr int kModeHead = gk::kFsDirectHead;

template <typename I>
cudaError_t run_readout(const gk_fs_topology& t, const gk_fs_geometry& g, const float* quantity,
                        const gk::FsHead& head, int32_t layout, uint32_t flags, float* forces,
                        float* stress, float* atom_virial, double* partial, const Launch& l) {
    gk::FsAtomArgs<I> a{};
    a.head = head;
    a.graph_atom_ptr = static_cast<const I*>(t.graph_atom_ptr);
    a.src_ptr = static_cast<const I*>(t.src_ptr);
    a.edge_src = static_cast<const I*>(t.edge_src);
    a.edge_dst = static_cast<const I*>(t.edge_dst);
    a.dst_ptr = static_cast<const I*>(t.dst_ptr);
    a.dst_perm = static_cast<const I*>(t.dst_perm);
    a.edge_vec = g.edge_vec;
    a.positions = g.positions;
    a.shifts = g.shifts;
    a.cell = g.cell;
    a.quantity = quantity;
    a.forces = forces;
    a.partial = stress != nullptr ? partial : nullptr;
    a.atom_virial = atom_virial;
    a.num_atoms = t.num_atoms;
    a.num_graphs = t.num_graphs;
    a.layout = layout;
    // Group size: the smallest power of two covering the mean number of out-edges per atom.
    const int64_t mean_deg = t.num_atoms > 0 ? (t.num_edges + t.num_atoms - 1) / t.num_atoms : 1;
    int gl = 0;
    while (gl < 5 && (int64_t{1} << gl) < mean_deg) ++gl;
    a.group_log2 = gl;

    cudaError_t err = cudaSuccess;
    if (t.num_atoms > 0) {
        const int64_t per_block = gk::kFsAtomBlockThreads >> gl;
        const int64_t want = (t.num_atoms + per_block - 1) / per_block;
        Launch la = l;
        la.blocks = static_cast<unsigned>(want < (int64_t{1} << 20) ? want : (int64_t{1} << 20));
        err = l.mode == kModeHead      ? dispatch_geom<I, gk::kFsDirectHead>(a, la)
              : l.mode == GK_FS_DIRECT ? dispatch_geom<I, gk::kFsDirect>(a, la)
                                       : dispatch_geom<I, gk::kFsConservative>(a, la);
        if (err != cudaSuccess) return err;
    }
    if (stress != nullptr && t.num_graphs > 0) {
        const bool virial = (flags & GK_FS_VIRIAL) != 0;
        const double scale = (flags & GK_FS_GPA) != 0 ? kEvPerA3InGpa : 1.0;
        const int64_t want = t.num_graphs;
        const unsigned blocks = static_cast<unsigned>(want < 65536 ? want : 65536);
        err = GK_LAUNCH((gk::force_stress_graph_kernel<I>), dim3(blocks),
                        dim3(gk::kFsGraphBlockThreads), 0, l.stream, a.graph_atom_ptr,
                        t.num_graphs, static_cast<const double*>(partial), t.num_atoms, g.cell,
                        g.periodic, stress, layout, virial ? 1 : 0, scale);
    }
    return err;
}

// GK_FS_FAST: zero the outputs and the fp64 accumulator, one atomics pass over the edges, then
// one thread per graph turns the accumulator into the stress / virial.
template <typename I, int MODE, int GEOM, bool AV>
cudaError_t launch_fast(const gk::FsFastArgs<I>& a, const Launch& l) {
    return GK_LAUNCH((gk::force_stress_fast_kernel<I, MODE, GEOM, AV>), dim3(l.blocks),
                     dim3(gk::kFsEdgeBlockThreads), 0, l.stream, a);
}

template <typename I, int MODE>
cudaError_t dispatch_fast(const gk::FsFastArgs<I>& a, const Launch& l) {
    if (l.from_pos)
        return l.atom_virial ? launch_fast<I, MODE, gk::kFsPositions, true>(a, l)
                             : launch_fast<I, MODE, gk::kFsPositions, false>(a, l);
    return l.atom_virial ? launch_fast<I, MODE, gk::kFsEdgeVec, true>(a, l)
                         : launch_fast<I, MODE, gk::kFsEdgeVec, false>(a, l);
}

unsigned edge_blocks(int64_t count) {
    const int64_t want = (count + gk::kFsEdgeBlockThreads - 1) / gk::kFsEdgeBlockThreads;
    return static_cast<unsigned>(want < (int64_t{1} << 20) ? want : (int64_t{1} << 20));
}

template <typename I>
cudaError_t run_fast(const gk_fs_topology& t, const gk_fs_geometry& g, const float* quantity,
                     const gk::FsHead& head, int32_t layout, uint32_t flags, float* forces,
                     float* stress, float* atom_virial, double* acc, const Launch& l) {
    const int width = layout == GK_FS_TENSOR ? 9 : 6;
    cudaError_t err = cudaSuccess;
    if (t.num_atoms > 0) err = cudaMemsetAsync(forces, 0, sizeof(float) * 3 * t.num_atoms, l.stream);
    if (err == cudaSuccess && atom_virial != nullptr && t.num_atoms > 0)
        err = cudaMemsetAsync(atom_virial, 0, sizeof(float) * width * t.num_atoms, l.stream);
    if (err == cudaSuccess && stress != nullptr && t.num_graphs > 0)
        err = cudaMemsetAsync(acc, 0, sizeof(double) * 9 * t.num_graphs, l.stream);
    if (err != cudaSuccess) return err;
    gk::FsFastArgs<I> a{};
    a.head = head;
    a.graph_atom_ptr = static_cast<const I*>(t.graph_atom_ptr);
    a.edge_src = static_cast<const I*>(t.edge_src);
    a.edge_dst = static_cast<const I*>(t.edge_dst);
    a.edge_vec = g.edge_vec;
    a.positions = g.positions;
    a.shifts = g.shifts;
    a.cell = g.cell;
    a.quantity = quantity;
    a.forces = forces;
    a.acc = stress != nullptr ? acc : nullptr;
    a.atom_virial = atom_virial;
    a.num_edges = t.num_edges;
    a.num_graphs = t.num_graphs;
    a.layout = layout;
    if (t.num_edges > 0) {
        Launch la = l;
        la.blocks = edge_blocks(t.num_edges);
        err = l.mode == kModeHead      ? dispatch_fast<I, gk::kFsDirectHead>(a, la)
              : l.mode == GK_FS_DIRECT ? dispatch_fast<I, gk::kFsDirect>(a, la)
                                       : dispatch_fast<I, gk::kFsConservative>(a, la);
        if (err != cudaSuccess) return err;
    }
    if (stress != nullptr && t.num_graphs > 0) {
        const bool virial = (flags & GK_FS_VIRIAL) != 0;
        const double scale = (flags & GK_FS_GPA) != 0 ? kEvPerA3InGpa : 1.0;
        err = GK_LAUNCH((gk::force_stress_fast_finalize_kernel<I>), dim3(edge_blocks(t.num_graphs)),
                        dim3(gk::kFsEdgeBlockThreads), 0, l.stream,
                        static_cast<const double*>(acc), t.num_graphs, g.cell, g.periodic, stress,
                        layout, virial ? 1 : 0, scale);
    }
    return err;
}

template <typename I, int MODE, int GEOM>
cudaError_t launch_backward(const gk::FsBackwardArgs<I>& a, const Launch& l) {
    return GK_LAUNCH((gk::force_stress_backward_kernel<I, MODE, GEOM>), dim3(l.blocks),
                     dim3(gk::kFsEdgeBlockThreads), 0, l.stream, a);
}

// The head's outputs of the backward (kModeHead only).
struct HeadGrads {
    float* grad_h;
    int64_t grad_ld;
    float* grad_w;
    float* grad_bias;
    double* partial;  // workspace, null when neither grad_w nor grad_bias is requested
};

template <typename I, int GEOM>
cudaError_t launch_head_backward(const gk::FsBackwardArgs<I>& a, const Launch& l) {
    return GK_LAUNCH((gk::force_stress_head_backward_kernel<I, GEOM>), dim3(l.blocks),
                     dim3(gk::kFsEdgeBlockThreads), 0, l.stream, a);
}

template <typename I>
cudaError_t run_backward(const gk_fs_topology& t, const gk_fs_geometry& g, const float* quantity,
                         const gk::FsHead& head, const HeadGrads& hg, int32_t layout,
                         uint32_t flags, const float* grad_forces, const float* grad_stress,
                         float* grad_quantity, float* grad_edge_vec, const Launch& l) {
    if (l.mode == kModeHead && (hg.grad_w != nullptr || hg.grad_bias != nullptr) &&
        t.num_edges == 0) {
        // No edges: dL/dw = 0 and dL/db = 0 (phase 2 over zero partial rows).
        return GK_LAUNCH((gk::force_stress_head_reduce_kernel), dim3(edge_blocks(head.channels + 1)),
                         dim3(gk::kFsEdgeBlockThreads), 0, l.stream,
                         static_cast<const double*>(hg.partial), int64_t{0}, head.channels,
                         hg.grad_w, hg.grad_bias);
    }
    if (t.num_edges == 0) return cudaSuccess;
    gk::FsBackwardArgs<I> a{};
    a.head = head;
    a.grad_h = hg.grad_h;
    a.grad_ld = hg.grad_ld;
    a.head_partial = hg.partial;
    a.graph_atom_ptr = static_cast<const I*>(t.graph_atom_ptr);
    a.edge_src = static_cast<const I*>(t.edge_src);
    a.edge_dst = static_cast<const I*>(t.edge_dst);
    a.edge_vec = g.edge_vec;
    a.positions = g.positions;
    a.shifts = g.shifts;
    a.cell = g.cell;
    a.periodic = g.periodic;
    a.quantity = quantity;
    a.grad_forces = grad_forces;
    a.grad_out = grad_stress;
    a.grad_quantity = grad_quantity;
    a.grad_edge_vec = grad_edge_vec;
    a.num_edges = t.num_edges;
    a.num_graphs = t.num_graphs;
    a.layout = layout;
    a.out_kind = (flags & GK_FS_VIRIAL) != 0 ? 1 : 0;
    a.scale = (flags & GK_FS_GPA) != 0 ? kEvPerA3InGpa : 1.0;
    Launch la = l;
    if (l.mode == kModeHead) {
        const int64_t blocks = gk::fs_head_blocks(t.num_edges);
        la.blocks = static_cast<unsigned>(blocks);
        cudaError_t err = l.from_pos ? launch_head_backward<I, gk::kFsPositions>(a, la)
                                     : launch_head_backward<I, gk::kFsEdgeVec>(a, la);
        if (err != cudaSuccess || hg.partial == nullptr) return err;
        return GK_LAUNCH((gk::force_stress_head_reduce_kernel), dim3(edge_blocks(head.channels + 1)),
                         dim3(gk::kFsEdgeBlockThreads), 0, l.stream,
                         static_cast<const double*>(hg.partial), blocks, head.channels, hg.grad_w,
                         hg.grad_bias);
    }
    la.blocks = edge_blocks(t.num_edges);
    if (l.mode == GK_FS_DIRECT)
        return l.from_pos ? launch_backward<I, gk::kFsDirect, gk::kFsPositions>(a, la)
                          : launch_backward<I, gk::kFsDirect, gk::kFsEdgeVec>(a, la);
    return l.from_pos ? launch_backward<I, gk::kFsConservative, gk::kFsPositions>(a, la)
                      : launch_backward<I, gk::kFsConservative, gk::kFsEdgeVec>(a, la);
}

template <typename I>
gk_status validate_typed(const gk_fs_topology& t, const gk_fs_geometry* g,
                         unsigned long long* result, cudaStream_t stream) {
    const char* op = kValidate;
    cudaError_t err = cudaMemsetAsync(result, 0xff, kValidateWorkspace, stream);
    if (err != cudaSuccess) return gk::fail_cuda(err, op);
    gk::FsValidateArgs<I> a{};
    a.graph_atom_ptr = static_cast<const I*>(t.graph_atom_ptr);
    a.src_ptr = static_cast<const I*>(t.src_ptr);
    a.edge_src = static_cast<const I*>(t.edge_src);
    a.edge_dst = static_cast<const I*>(t.edge_dst);
    a.dst_ptr = static_cast<const I*>(t.dst_ptr);
    a.dst_perm = static_cast<const I*>(t.dst_perm);
    a.cell = g != nullptr ? g->cell : nullptr;
    a.periodic = g != nullptr ? g->periodic : nullptr;
    a.num_atoms = t.num_atoms;
    a.num_edges = t.num_edges;
    a.num_graphs = t.num_graphs;
    int64_t n = t.num_atoms + 1 > t.num_edges ? t.num_atoms + 1 : t.num_edges;
    n = n > t.num_graphs + 1 ? n : t.num_graphs + 1;
    const int64_t want = (n + gk::kFsValidateBlockThreads - 1) / gk::kFsValidateBlockThreads;
    const unsigned blocks = static_cast<unsigned>(want < 4096 ? want : 4096);
    err = GK_LAUNCH((gk::force_stress_validate_kernel<I>), dim3(blocks),
                    dim3(gk::kFsValidateBlockThreads), 0, stream, a, result);
    if (err != cudaSuccess) return gk::fail_cuda(err, op);
    unsigned long long bad[gk::kFsValidateSlots];
    err = cudaMemcpyAsync(bad, result, sizeof bad, cudaMemcpyDeviceToHost, stream);
    if (err == cudaSuccess) err = cudaStreamSynchronize(stream);
    if (err != cudaSuccess) return gk::fail_cuda(err, op);

    // Small synchronous reads to name the offending values.
    auto read = [&](const void* base, int64_t i, long long* out) -> cudaError_t {
        I v = 0;
        cudaError_t e = cudaMemcpy(&v, static_cast<const I*>(base) + i, sizeof(I),
                                   cudaMemcpyDeviceToHost);
        *out = static_cast<long long>(v);
        return e;
    };
    struct PtrArray {
        int slot;
        const char* name;
        const void* p;
        int64_t n;
        int64_t total;
        const char* total_name;
    } ptrs[] = {
        {gk::kFsBadGraphPtr, "graph_atom_ptr", t.graph_atom_ptr, t.num_graphs, t.num_atoms,
         "num_atoms"},
        {gk::kFsBadSrcPtr, "src_ptr", t.src_ptr, t.num_atoms, t.num_edges, "num_edges"},
        {gk::kFsBadDstPtr, "dst_ptr", t.dst_ptr, t.num_atoms, t.num_edges, "num_edges"},
    };
    for (const PtrArray& pa : ptrs) {
        if (bad[pa.slot] == ~0ull) continue;
        const int64_t i = static_cast<int64_t>(bad[pa.slot]);
        long long cur = 0, prev = 0;
        err = read(pa.p, i, &cur);
        if (err == cudaSuccess && i > 0) err = read(pa.p, i - 1, &prev);
        if (err != cudaSuccess) return gk::fail_cuda(err, op);
        if (i == 0 && cur != 0)
            return gk::fail(GK_ERROR_INVALID_GRAPH, "%s: topology->%s[0] = %lld, must be 0", op,
                            pa.name, cur);
        if (cur < 0 || cur > pa.total)
            return gk::fail(GK_ERROR_INVALID_GRAPH,
                            "%s: topology->%s[%lld] = %lld is outside [0, %s = %lld]", op, pa.name,
                            static_cast<long long>(i), cur, pa.total_name,
                            static_cast<long long>(pa.total));
        if (i > 0 && cur < prev)
            return gk::fail(GK_ERROR_INVALID_GRAPH,
                            "%s: topology->%s[%lld] = %lld is less than %s[%lld] = %lld (it must "
                            "be non-decreasing)",
                            op, pa.name, static_cast<long long>(i), cur, pa.name,
                            static_cast<long long>(i - 1), prev);
        return gk::fail(GK_ERROR_INVALID_GRAPH,
                        "%s: topology->%s[%lld] = %lld (the last entry) must equal %s = %lld", op,
                        pa.name, static_cast<long long>(i), cur, pa.total_name,
                        static_cast<long long>(pa.total));
    }
    if (bad[gk::kFsBadEdgeSrc] != ~0ull) {
        const int64_t e = static_cast<int64_t>(bad[gk::kFsBadEdgeSrc]);
        long long s = 0;
        if ((err = read(t.edge_src, e, &s)) != cudaSuccess) return gk::fail_cuda(err, op);
        if (s < 0 || s >= t.num_atoms)
            return gk::fail(GK_ERROR_INVALID_GRAPH,
                            "%s: topology->edge_src[%lld] = %lld is outside [0, num_atoms = %lld)",
                            op, static_cast<long long>(e), s, static_cast<long long>(t.num_atoms));
        long long lo = 0, hi = 0;
        err = read(t.src_ptr, s, &lo);
        if (err == cudaSuccess) err = read(t.src_ptr, s + 1, &hi);
        if (err != cudaSuccess) return gk::fail_cuda(err, op);
        return gk::fail(GK_ERROR_INVALID_GRAPH,
                        "%s: edges are not sorted by source: topology->edge_src[%lld] = %lld but "
                        "src_ptr gives atom %lld the edges [%lld, %lld)",
                        op, static_cast<long long>(e), s, s, lo, hi);
    }
    if (bad[gk::kFsBadEdgeDst] != ~0ull) {
        const int64_t e = static_cast<int64_t>(bad[gk::kFsBadEdgeDst]);
        long long d = 0;
        if ((err = read(t.edge_dst, e, &d)) != cudaSuccess) return gk::fail_cuda(err, op);
        return gk::fail(GK_ERROR_INVALID_GRAPH,
                        "%s: topology->edge_dst[%lld] = %lld is outside [0, num_atoms = %lld)", op,
                        static_cast<long long>(e), d, static_cast<long long>(t.num_atoms));
    }
    if (bad[gk::kFsBadCrossing] != ~0ull) {
        const int64_t e = static_cast<int64_t>(bad[gk::kFsBadCrossing]);
        long long s = 0, d = 0;
        err = read(t.edge_src, e, &s);
        if (err == cudaSuccess) err = read(t.edge_dst, e, &d);
        if (err != cudaSuccess) return gk::fail_cuda(err, op);
        return gk::fail(GK_ERROR_INVALID_GRAPH,
                        "%s: edge %lld (src %lld, dst %lld) joins two different graphs of "
                        "graph_atom_ptr; edges must stay within their structure (sorted by graph)",
                        op, static_cast<long long>(e), s, d);
    }
    if (bad[gk::kFsBadDstPerm] != ~0ull) {
        const int64_t k = static_cast<int64_t>(bad[gk::kFsBadDstPerm]);
        long long pe = 0;
        if ((err = read(t.dst_perm, k, &pe)) != cudaSuccess) return gk::fail_cuda(err, op);
        if (pe < 0 || pe >= t.num_edges)
            return gk::fail(GK_ERROR_INVALID_GRAPH,
                            "%s: topology->dst_perm[%lld] = %lld is outside [0, num_edges = %lld)",
                            op, static_cast<long long>(k), pe, static_cast<long long>(t.num_edges));
        return gk::fail(GK_ERROR_INVALID_GRAPH,
                        "%s: topology->dst_perm[%lld] = %lld does not fit dst_ptr: each row i of "
                        "dst_ptr must list, in increasing order, exactly the edges with "
                        "edge_dst = i",
                        op, static_cast<long long>(k), pe);
    }
    if (bad[gk::kFsBadCell] != ~0ull) {
        const int64_t b = static_cast<int64_t>(bad[gk::kFsBadCell]);
        float L[9];
        err = cudaMemcpy(L, g->cell + 9 * b, sizeof L, cudaMemcpyDeviceToHost);
        if (err != cudaSuccess) return gk::fail_cuda(err, op);
        int k = 0;
        while (k < 8 && L[k] - L[k] == 0.0f) ++k;
        const float v = L[k];
        char text[32];
        if (v != v) std::snprintf(text, sizeof text, "NaN");
        else std::snprintf(text, sizeof text, "%sinf", v < 0 ? "-" : "");
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: geometry->cell of graph %lld is not finite (cell[%lld][%d][%d] = %s)",
                        op, static_cast<long long>(b), static_cast<long long>(b), k / 3, k % 3, text);
    }
    if (bad[gk::kFsBadVolume] != ~0ull) {
        const int64_t b = static_cast<int64_t>(bad[gk::kFsBadVolume]);
        float L[9];
        err = cudaMemcpy(L, g->cell + 9 * b, sizeof L, cudaMemcpyDeviceToHost);
        if (err != cudaSuccess) return gk::fail_cuda(err, op);
        const double det = double(L[0]) * (double(L[4]) * L[8] - double(L[5]) * L[7]) -
                           double(L[1]) * (double(L[3]) * L[8] - double(L[5]) * L[6]) +
                           double(L[2]) * (double(L[3]) * L[7] - double(L[4]) * L[6]);
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: graph %lld is periodic but its cell has zero volume (det = %g); flag "
                        "it non-periodic in geometry->periodic or fix the cell",
                        op, static_cast<long long>(b), det);
    }
    return GK_SUCCESS;
}

// Benchmark baseline (kernels/force_stress_unfused.cuh): g written, atomics scatter, graph reduce.
template <typename I>
cudaError_t run_unfused(const gk_fs_topology& t, const float* edge_vec, const float* cell,
                        const float* s, float* g, float* forces, float* stress,
                        cudaStream_t stream) {
    cudaError_t err = cudaSuccess;
    if (t.num_atoms > 0) err = cudaMemsetAsync(forces, 0, sizeof(float) * 3 * t.num_atoms, stream);
    if (err != cudaSuccess) return err;
    if (t.num_edges > 0) {
        const unsigned blocks = edge_blocks(t.num_edges);
        err = GK_LAUNCH((gk::force_stress_unfused_g_kernel), dim3(blocks),
                        dim3(gk::kFsUnfusedEdgeThreads), 0, stream, edge_vec, s, g, t.num_edges);
        if (err != cudaSuccess) return err;
        err = GK_LAUNCH((gk::force_stress_unfused_scatter_kernel<I>), dim3(blocks),
                        dim3(gk::kFsUnfusedEdgeThreads), 0, stream,
                        static_cast<const I*>(t.edge_src), static_cast<const I*>(t.edge_dst),
                        static_cast<const float*>(g), forces, t.num_edges);
        if (err != cudaSuccess) return err;
    }
    if (t.num_graphs > 0) {
        const unsigned blocks =
            static_cast<unsigned>(t.num_graphs < 65536 ? t.num_graphs : int64_t{65536});
        err = GK_LAUNCH((gk::force_stress_unfused_stress_kernel<I>), dim3(blocks),
                        dim3(gk::kFsUnfusedGraphThreads), 0, stream,
                        static_cast<const I*>(t.graph_atom_ptr), static_cast<const I*>(t.src_ptr),
                        t.num_graphs, edge_vec, static_cast<const float*>(g), cell, stress);
    }
    return err;
}

}  // namespace

namespace {

// The enum arguments the readout and its backward share.
gk_status check_mode_layout_flags(const char* op, int32_t mode, int32_t layout, uint32_t flags) {
    if (mode != GK_FS_CONSERVATIVE && mode != GK_FS_DIRECT)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: mode = %d is not a gk_fs_mode (0 = conservative, 1 = direct)", op, mode);
    if (layout < GK_FS_TENSOR || layout > GK_FS_VOIGT_SEVENNET)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: layout = %d is not a gk_fs_layout (0 = 3x3, 1 = Voigt ASE, 2 = Voigt "
                        "LAMMPS, 3 = Voigt SevenNet)",
                        op, layout);
    if ((flags & ~kKnownFlags) != 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: flags = 0x%x has unknown bits 0x%x", op,
                        flags, flags & ~kKnownFlags);
    return GK_SUCCESS;
}

}  // namespace

extern "C" {

GK_API gk_status gk_force_stress_workspace_size(const gk_fs_topology* topology, uint32_t flags,
                                                size_t* bytes) {
    GK_ABI_BEGIN
    if (bytes == nullptr) return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: bytes is NULL", kWsSize);
    gk_status s = check_topology(topology, kWsSize);
    if (s != GK_SUCCESS) return s;
    if ((flags & ~kKnownFlags) != 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: flags = 0x%x has unknown bits 0x%x",
                        kWsSize, flags, flags & ~kKnownFlags);
    const int64_t rows = (flags & GK_FS_FAST) != 0 ? topology->num_graphs : topology->num_atoms;
    *bytes = static_cast<size_t>(9 * rows) * sizeof(double);
    return GK_SUCCESS;
    GK_ABI_END
}

GK_API gk_status gk_force_stress_validate_workspace_size(size_t* bytes) {
    GK_ABI_BEGIN
    if (bytes == nullptr)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "gk_force_stress_validate_workspace_size: bytes is NULL");
    *bytes = kValidateWorkspace;
    return GK_SUCCESS;
    GK_ABI_END
}

GK_API gk_status gk_force_stress_validate(const gk_fs_topology* topology,
                                          const gk_fs_geometry* geometry, void* workspace,
                                          size_t workspace_bytes, void* stream) {
    GK_ABI_BEGIN
    gk_status s = check_topology(topology, kValidate);
    if (s != GK_SUCCESS) return s;
    if (geometry != nullptr && geometry->cell != nullptr &&
        !gk::aligned(geometry->cell, sizeof(float)))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: geometry->cell (%p) is not 4-byte aligned",
                        kValidate, static_cast<const void*>(geometry->cell));
    if (workspace == nullptr)
        return gk::fail(GK_ERROR_WORKSPACE, "%s: workspace is NULL (needs %zu bytes)", kValidate,
                        kValidateWorkspace);
    if (workspace_bytes < kValidateWorkspace)
        return gk::fail(GK_ERROR_WORKSPACE, "%s: workspace_bytes = %zu, needs %zu", kValidate,
                        workspace_bytes, kValidateWorkspace);
    if (!gk::aligned(workspace, 8))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: workspace (%p) must be 8-byte aligned",
                        kValidate, workspace);
    auto* result = static_cast<unsigned long long*>(workspace);
    if (topology->index_type == GK_INDEX_INT32)
        return validate_typed<int32_t>(*topology, geometry, result, gk::as_stream(stream));
    return validate_typed<int64_t>(*topology, geometry, result, gk::as_stream(stream));
    GK_ABI_END
}

}  // extern "C"

namespace {

// gk_force_stress_readout (head == NULL) and gk_force_stress_readout_head (mode = GK_FS_DIRECT,
// edge_quantity = NULL, s_e from the head).
gk_status readout_impl(const char* op, const gk_fs_topology* topology,
                       const gk_fs_geometry* geometry, int32_t mode, const float* edge_quantity,
                       const gk_fs_head* head, int32_t layout, uint32_t flags, float* forces,
                       float* stress, float* atom_virial, void* workspace, size_t workspace_bytes,
                       void* stream) {
    gk_status s = check_topology(topology, op);
    if (s != GK_SUCCESS) return s;
    const gk_fs_topology& t = *topology;
    const int64_t N = t.num_atoms, E = t.num_edges, B = t.num_graphs;
    s = check_mode_layout_flags(op, mode, layout, flags);
    if (s != GK_SUCCESS) return s;
    const bool with_head = op == kReadoutHead;
    gk::FsHead hd{};
    int64_t head_bytes = 0;
    if (with_head) {
        s = check_head(op, head, E, &hd, &head_bytes);
        if (s != GK_SUCCESS) return s;
    }
    if ((flags & GK_FS_VIRIAL) != 0 && (flags & GK_FS_GPA) != 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: flags = 0x%x combines GK_FS_VIRIAL and GK_FS_GPA; the virial is in eV, "
                        "only stress has a GPa scale",
                        op, flags);
    const bool virial = (flags & GK_FS_VIRIAL) != 0;
    if (!with_head)
        s = check_float_array(op, "edge_quantity", edge_quantity,
                              mode == GK_FS_DIRECT ? E : 3 * E,
                              mode == GK_FS_DIRECT ? "direct mode needs s_e, [num_edges]"
                                                   : "conservative mode needs g_e, [num_edges, 3]");
    if (s != GK_SUCCESS) return s;
    // Stress needs the cell for the volume; the virial does not.
    s = check_geometry(geometry, t, stress != nullptr && !virial, op);
    if (s != GK_SUCCESS) return s;
    const gk_fs_geometry& g = *geometry;
    s = check_float_array(op, "forces", forces, 3 * N, "[num_atoms, 3] output");
    if (s != GK_SUCCESS) return s;
    const int width = layout == GK_FS_TENSOR ? 9 : 6;
    if (stress != nullptr && !gk::aligned(stress, sizeof(float)))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: stress (%p) is not 4-byte aligned", op,
                        static_cast<void*>(stress));
    if (atom_virial != nullptr && !gk::aligned(atom_virial, sizeof(float)))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: atom_virial (%p) is not 4-byte aligned", op,
                        static_cast<void*>(atom_virial));

    const bool fast = (flags & GK_FS_FAST) != 0;
    const size_t need =
        stress != nullptr ? static_cast<size_t>(9 * (fast ? B : N)) * sizeof(double) : 0;
    if (need > 0) {
        if (workspace == nullptr)
            return gk::fail(GK_ERROR_WORKSPACE,
                            "%s: workspace is NULL (stress needs %zu bytes; see "
                            "gk_force_stress_workspace_size)",
                            op, need);
        if (workspace_bytes < need)
            return gk::fail(GK_ERROR_WORKSPACE, "%s: workspace_bytes = %zu, needs %zu", op,
                            workspace_bytes, need);
        if (!gk::aligned(workspace, 8))
            return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: workspace (%p) must be 8-byte aligned",
                            op, workspace);
    }

    // Outputs must not overlap each other or any input (a kernel reads inputs while writing).
    const size_t isz = gk::index_size(t.index_type);
    struct Region {
        const char* name;
        const void* p;
        int64_t bytes;
    } inputs[] = {
        {"edge_quantity", with_head ? nullptr : edge_quantity,
         bytes_of(mode == GK_FS_DIRECT ? E : 3 * E, 4)},
        {"head->features", hd.h, head_bytes},
        {"head->weight", hd.w, bytes_of(hd.channels, 4)},
        {"head->bias", hd.bias, 4},
        {"geometry->edge_vec", g.edge_vec, bytes_of(3 * E, 4)},
        {"geometry->positions", g.positions, bytes_of(3 * N, 4)},
        {"geometry->shifts", g.shifts, bytes_of(3 * E, 4)},
        {"geometry->cell", g.cell, bytes_of(9 * B, 4)},
        {"geometry->periodic", g.periodic, B},
        {"topology->graph_atom_ptr", t.graph_atom_ptr, bytes_of(B + 1, isz)},
        {"topology->src_ptr", t.src_ptr, bytes_of(N + 1, isz)},
        {"topology->dst_ptr", t.dst_ptr, bytes_of(N + 1, isz)},
        {"topology->edge_src", t.edge_src, bytes_of(E, isz)},
        {"topology->edge_dst", t.edge_dst, bytes_of(E, isz)},
        {"topology->dst_perm", t.dst_perm, bytes_of(E, isz)},
    };
    const Region outputs[] = {
        {"forces", forces, bytes_of(3 * N, 4)},
        {"stress", stress, bytes_of(width * B, 4)},
        {"atom_virial", atom_virial, bytes_of(width * N, 4)},
        {"workspace", need > 0 ? workspace : nullptr, static_cast<int64_t>(need)},
    };
    for (size_t o = 0; o < sizeof outputs / sizeof outputs[0]; ++o) {
        for (const Region& in : inputs)
            if (gk::overlaps(outputs[o].p, outputs[o].bytes, in.p, in.bytes))
                return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s overlaps %s", op,
                                outputs[o].name, in.name);
        for (size_t q = o + 1; q < sizeof outputs / sizeof outputs[0]; ++q)
            if (gk::overlaps(outputs[o].p, outputs[o].bytes, outputs[q].p, outputs[q].bytes))
                return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s overlaps %s", op,
                                outputs[o].name, outputs[q].name);
    }

    Launch l{};
    l.mode = with_head ? kModeHead : mode;
    l.from_pos = g.edge_vec == nullptr;
    l.atom_virial = atom_virial != nullptr;
    l.index_type = t.index_type;
    l.stream = gk::as_stream(stream);
    double* partial = static_cast<double*>(workspace);
    const float* q = with_head ? nullptr : edge_quantity;
    const cudaError_t err =
        fast ? (t.index_type == GK_INDEX_INT32
                    ? run_fast<int32_t>(t, g, q, hd, layout, flags, forces, stress, atom_virial,
                                        partial, l)
                    : run_fast<int64_t>(t, g, q, hd, layout, flags, forces, stress, atom_virial,
                                        partial, l))
        : t.index_type == GK_INDEX_INT32
            ? run_readout<int32_t>(t, g, q, hd, layout, flags, forces, stress, atom_virial,
                                   partial, l)
            : run_readout<int64_t>(t, g, q, hd, layout, flags, forces, stress, atom_virial,
                                   partial, l);
    if (err != cudaSuccess) return gk::fail_cuda(err, op);
    return GK_SUCCESS;
}

// gk_force_stress_backward (head == NULL) and gk_force_stress_backward_head (mode = GK_FS_DIRECT,
// edge_quantity = NULL, grad_quantity = grads->grad_scalar).
gk_status backward_impl(const char* op, const gk_fs_topology* topology,
                        const gk_fs_geometry* geometry, int32_t mode, const float* edge_quantity,
                        const gk_fs_head* head, const gk_fs_head_grad* grads, int32_t layout,
                        uint32_t flags, const float* grad_forces, const float* grad_stress,
                        float* grad_quantity, float* grad_edge_vec, void* workspace,
                        size_t workspace_bytes, void* stream) {
    gk_status s = check_topology(topology, op);
    if (s != GK_SUCCESS) return s;
    const gk_fs_topology& t = *topology;
    const int64_t N = t.num_atoms, E = t.num_edges, B = t.num_graphs;
    s = check_mode_layout_flags(op, mode, layout, flags);
    if (s != GK_SUCCESS) return s;
    const bool with_head = op == kBackwardHead;
    gk::FsHead hd{};
    int64_t head_bytes = 0;
    HeadGrads hg{};
    int64_t grad_h_bytes = 0;
    size_t need = 0;
    if (with_head) {
        s = check_head(op, head, E, &hd, &head_bytes);
        if (s != GK_SUCCESS) return s;
        if (grads == nullptr)
            return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                            "%s: grads is NULL (a gk_fs_head_grad; set the outputs you do not want "
                            "to NULL)",
                            op);
        grad_quantity = grads->grad_scalar;
        hg.grad_h = grads->grad_features;
        hg.grad_ld = grads->grad_ld;
        hg.grad_w = grads->grad_weight;
        hg.grad_bias = grads->grad_bias;
        if (grad_quantity != nullptr && !gk::aligned(grad_quantity, sizeof(float)))
            return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                            "%s: grads->grad_scalar (%p) is not 4-byte aligned", op,
                            static_cast<void*>(grad_quantity));
        if (hg.grad_h != nullptr) {
            if (hg.grad_ld < hd.channels)
                return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                                "%s: grads->grad_ld = %lld is less than head->channels = %lld", op,
                                static_cast<long long>(hg.grad_ld),
                                static_cast<long long>(hd.channels));
            if (E > 0 && hg.grad_ld > ((int64_t{1} << 58) / E))
                return gk::fail(GK_ERROR_INDEX_OVERFLOW,
                                "%s: grads->grad_ld = %lld x num_edges = %lld overflows 64-bit "
                                "byte offsets",
                                op, static_cast<long long>(hg.grad_ld), static_cast<long long>(E));
            if (!gk::aligned(hg.grad_h, sizeof(float)))
                return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                                "%s: grads->grad_features (%p) is not 4-byte aligned", op,
                                static_cast<void*>(hg.grad_h));
            grad_h_bytes = E > 0 ? ((E - 1) * hg.grad_ld + hd.channels) * 4 : 0;
        }
        if (hg.grad_w != nullptr && !gk::aligned(hg.grad_w, sizeof(float)))
            return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                            "%s: grads->grad_weight (%p) is not 4-byte aligned", op,
                            static_cast<void*>(hg.grad_w));
        if (hg.grad_bias != nullptr && !gk::aligned(hg.grad_bias, sizeof(float)))
            return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                            "%s: grads->grad_bias (%p) is not 4-byte aligned", op,
                            static_cast<void*>(hg.grad_bias));
        if (hg.grad_w != nullptr || hg.grad_bias != nullptr) {
            need = head_workspace_bytes(E, hd.channels);
            if (need > 0) {
                if (workspace == nullptr)
                    return gk::fail(GK_ERROR_WORKSPACE,
                                    "%s: workspace is NULL (dL/dw and dL/db need %zu bytes; see "
                                    "gk_force_stress_backward_head_workspace_size)",
                                    op, need);
                if (workspace_bytes < need)
                    return gk::fail(GK_ERROR_WORKSPACE, "%s: workspace_bytes = %zu, needs %zu", op,
                                    workspace_bytes, need);
                if (!gk::aligned(workspace, 8))
                    return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                                    "%s: workspace (%p) must be 8-byte aligned", op, workspace);
                hg.partial = static_cast<double*>(workspace);
            } else {
                hg.partial = nullptr;
            }
        }
    }
    if ((flags & GK_FS_FAST) != 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: flags = 0x%x has GK_FS_FAST, which selects the forward's reduction; "
                        "the backward has no reduction (pass the flags without it)",
                        op, flags);
    if ((flags & GK_FS_VIRIAL) != 0 && (flags & GK_FS_GPA) != 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: flags = 0x%x combines GK_FS_VIRIAL and GK_FS_GPA; the virial is in eV, "
                        "only stress has a GPa scale",
                        op, flags);
    const bool virial = (flags & GK_FS_VIRIAL) != 0;
    if (!with_head)
        s = check_float_array(op, "edge_quantity", edge_quantity,
                              mode == GK_FS_DIRECT ? E : 3 * E,
                              mode == GK_FS_DIRECT ? "direct mode needs s_e, [num_edges]"
                                                   : "conservative mode needs g_e, [num_edges, 3]");
    if (s != GK_SUCCESS) return s;
    s = check_geometry(geometry, t, grad_stress != nullptr && !virial, op);
    if (s != GK_SUCCESS) return s;
    const gk_fs_geometry& g = *geometry;
    const int width = layout == GK_FS_TENSOR ? 9 : 6;
    if (grad_forces != nullptr && !gk::aligned(grad_forces, sizeof(float)))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: grad_forces (%p) is not 4-byte aligned", op,
                        static_cast<const void*>(grad_forces));
    if (grad_stress != nullptr && !gk::aligned(grad_stress, sizeof(float)))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: grad_stress (%p) is not 4-byte aligned", op,
                        static_cast<const void*>(grad_stress));
    if (!with_head)
        s = check_float_array(op, "grad_quantity", grad_quantity, mode == GK_FS_DIRECT ? E : 3 * E,
                              mode == GK_FS_DIRECT ? "dL/ds_e output, [num_edges]"
                                                   : "dL/dg_e output, [num_edges, 3]");
    if (s != GK_SUCCESS) return s;
    if (grad_edge_vec != nullptr && !gk::aligned(grad_edge_vec, sizeof(float)))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: grad_edge_vec (%p) is not 4-byte aligned",
                        op, static_cast<void*>(grad_edge_vec));

    const size_t isz = gk::index_size(t.index_type);
    struct Region {
        const char* name;
        const void* p;
        int64_t bytes;
    } inputs[] = {
        {"edge_quantity", with_head ? nullptr : edge_quantity,
         bytes_of(mode == GK_FS_DIRECT ? E : 3 * E, 4)},
        {"head->features", hd.h, head_bytes},
        {"head->weight", hd.w, bytes_of(hd.channels, 4)},
        {"head->bias", hd.bias, 4},
        {"grad_forces", grad_forces, bytes_of(3 * N, 4)},
        {"grad_stress", grad_stress, bytes_of(width * B, 4)},
        {"geometry->edge_vec", g.edge_vec, bytes_of(3 * E, 4)},
        {"geometry->positions", g.positions, bytes_of(3 * N, 4)},
        {"geometry->shifts", g.shifts, bytes_of(3 * E, 4)},
        {"geometry->cell", g.cell, bytes_of(9 * B, 4)},
        {"geometry->periodic", g.periodic, B},
        {"topology->graph_atom_ptr", t.graph_atom_ptr, bytes_of(B + 1, isz)},
        {"topology->src_ptr", t.src_ptr, bytes_of(N + 1, isz)},
        {"topology->dst_ptr", t.dst_ptr, bytes_of(N + 1, isz)},
        {"topology->edge_src", t.edge_src, bytes_of(E, isz)},
        {"topology->edge_dst", t.edge_dst, bytes_of(E, isz)},
        {"topology->dst_perm", t.dst_perm, bytes_of(E, isz)},
    };
    const Region outputs[] = {
        {with_head ? "grads->grad_scalar" : "grad_quantity", grad_quantity,
         bytes_of(mode == GK_FS_DIRECT ? E : 3 * E, 4)},
        {"grad_edge_vec", grad_edge_vec, bytes_of(3 * E, 4)},
        {"grads->grad_features", hg.grad_h, grad_h_bytes},
        {"grads->grad_weight", hg.grad_w, bytes_of(hd.channels, 4)},
        {"grads->grad_bias", hg.grad_bias, 4},
        {"workspace", hg.partial, static_cast<int64_t>(need)},
    };
    for (size_t o = 0; o < sizeof outputs / sizeof outputs[0]; ++o) {
        for (const Region& in : inputs)
            if (gk::overlaps(outputs[o].p, outputs[o].bytes, in.p, in.bytes))
                return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s overlaps %s", op,
                                outputs[o].name, in.name);
        for (size_t q = o + 1; q < sizeof outputs / sizeof outputs[0]; ++q)
            if (gk::overlaps(outputs[o].p, outputs[o].bytes, outputs[q].p, outputs[q].bytes))
                return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s overlaps %s", op,
                                outputs[o].name, outputs[q].name);
    }

    Launch l{};
    l.mode = with_head ? kModeHead : mode;
    l.from_pos = g.edge_vec == nullptr;
    l.index_type = t.index_type;
    l.stream = gk::as_stream(stream);
    const float* q = with_head ? nullptr : edge_quantity;
    const cudaError_t err =
        t.index_type == GK_INDEX_INT32
            ? run_backward<int32_t>(t, g, q, hd, hg, layout, flags, grad_forces, grad_stress,
                                    grad_quantity, grad_edge_vec, l)
            : run_backward<int64_t>(t, g, q, hd, hg, layout, flags, grad_forces, grad_stress,
                                    grad_quantity, grad_edge_vec, l);
    if (err != cudaSuccess) return gk::fail_cuda(err, op);
    return GK_SUCCESS;
}

}  // namespace

extern "C" {

GK_API gk_status gk_force_stress_readout(const gk_fs_topology* topology,
                                         const gk_fs_geometry* geometry, int32_t mode,
                                         const float* edge_quantity, int32_t layout,
                                         uint32_t flags, float* forces, float* stress,
                                         float* atom_virial, void* workspace,
                                         size_t workspace_bytes, void* stream) {
    GK_ABI_BEGIN
    return readout_impl(kReadout, topology, geometry, mode, edge_quantity, nullptr, layout, flags,
                        forces, stress, atom_virial, workspace, workspace_bytes, stream);
    GK_ABI_END
}

GK_API gk_status gk_force_stress_readout_head(const gk_fs_topology* topology,
                                              const gk_fs_geometry* geometry,
                                              const gk_fs_head* head, int32_t layout,
                                              uint32_t flags, float* forces, float* stress,
                                              float* atom_virial, void* workspace,
                                              size_t workspace_bytes, void* stream) {
    GK_ABI_BEGIN
    return readout_impl(kReadoutHead, topology, geometry, GK_FS_DIRECT, nullptr, head, layout,
                        flags, forces, stress, atom_virial, workspace, workspace_bytes, stream);
    GK_ABI_END
}

GK_API gk_status gk_force_stress_backward(const gk_fs_topology* topology,
                                          const gk_fs_geometry* geometry, int32_t mode,
                                          const float* edge_quantity, int32_t layout,
                                          uint32_t flags, const float* grad_forces,
                                          const float* grad_stress, float* grad_quantity,
                                          float* grad_edge_vec, void* stream) {
    GK_ABI_BEGIN
    return backward_impl(kBackward, topology, geometry, mode, edge_quantity, nullptr, nullptr,
                         layout, flags, grad_forces, grad_stress, grad_quantity, grad_edge_vec,
                         nullptr, 0, stream);
    GK_ABI_END
}

GK_API gk_status gk_force_stress_backward_head_workspace_size(const gk_fs_topology* topology,
                                                              const gk_fs_head* head,
                                                              size_t* bytes) {
    GK_ABI_BEGIN
    if (bytes == nullptr)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: bytes is NULL", kHeadWsSize);
    gk_status s = check_topology(topology, kHeadWsSize);
    if (s != GK_SUCCESS) return s;
    if (head == nullptr) return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: head is NULL", kHeadWsSize);
    if (head->channels < 1)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: head->channels = %lld, must be >= 1",
                        kHeadWsSize, static_cast<long long>(head->channels));
    if (head->channels > (int64_t{1} << 40))
        return gk::fail(GK_ERROR_INDEX_OVERFLOW, "%s: head->channels = %lld is too large",
                        kHeadWsSize, static_cast<long long>(head->channels));
    *bytes = head_workspace_bytes(topology->num_edges, head->channels);
    return GK_SUCCESS;
    GK_ABI_END
}

GK_API gk_status gk_force_stress_backward_head(const gk_fs_topology* topology,
                                               const gk_fs_geometry* geometry,
                                               const gk_fs_head* head, int32_t layout,
                                               uint32_t flags, const float* grad_forces,
                                               const float* grad_stress,
                                               const gk_fs_head_grad* grads, float* grad_edge_vec,
                                               void* workspace, size_t workspace_bytes,
                                               void* stream) {
    GK_ABI_BEGIN
    return backward_impl(kBackwardHead, topology, geometry, GK_FS_DIRECT, nullptr, head, grads,
                         layout, flags, grad_forces, grad_stress, nullptr, grad_edge_vec,
                         workspace, workspace_bytes, stream);
    GK_ABI_END
}

GK_API gk_status gk_force_stress_unfused_baseline(const gk_fs_topology* topology,
                                                  const float* edge_vec, const float* cell,
                                                  const float* s, float* g, float* forces,
                                                  float* stress, void* stream) {
    GK_ABI_BEGIN
    const char* op = kUnfused;
    gk_status st = check_topology(topology, op);
    if (st != GK_SUCCESS) return st;
    const gk_fs_topology& t = *topology;
    const int64_t N = t.num_atoms, E = t.num_edges, B = t.num_graphs;
    st = check_float_array(op, "edge_vec", edge_vec, 3 * E, "[num_edges, 3]");
    if (st == GK_SUCCESS) st = check_float_array(op, "cell", cell, 9 * B, "[num_graphs, 3, 3]");
    if (st == GK_SUCCESS) st = check_float_array(op, "s", s, E, "direct mode s_e, [num_edges]");
    if (st == GK_SUCCESS) st = check_float_array(op, "g", g, 3 * E, "scratch g_e, [num_edges, 3]");
    if (st == GK_SUCCESS) st = check_float_array(op, "forces", forces, 3 * N, "[num_atoms, 3]");
    if (st == GK_SUCCESS) st = check_float_array(op, "stress", stress, 9 * B, "[num_graphs, 9]");
    if (st != GK_SUCCESS) return st;
    const size_t isz = gk::index_size(t.index_type);
    struct Region {
        const char* name;
        const void* p;
        int64_t bytes;
    } inputs[] = {
        {"edge_vec", edge_vec, bytes_of(3 * E, 4)},
        {"cell", cell, bytes_of(9 * B, 4)},
        {"s", s, bytes_of(E, 4)},
        {"topology->graph_atom_ptr", t.graph_atom_ptr, bytes_of(B + 1, isz)},
        {"topology->src_ptr", t.src_ptr, bytes_of(N + 1, isz)},
        {"topology->edge_src", t.edge_src, bytes_of(E, isz)},
        {"topology->edge_dst", t.edge_dst, bytes_of(E, isz)},
    };
    const Region outputs[] = {
        {"g", g, bytes_of(3 * E, 4)},
        {"forces", forces, bytes_of(3 * N, 4)},
        {"stress", stress, bytes_of(9 * B, 4)},
    };
    for (size_t o = 0; o < sizeof outputs / sizeof outputs[0]; ++o) {
        for (const Region& in : inputs)
            if (gk::overlaps(outputs[o].p, outputs[o].bytes, in.p, in.bytes))
                return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s overlaps %s", op,
                                outputs[o].name, in.name);
        for (size_t q = o + 1; q < sizeof outputs / sizeof outputs[0]; ++q)
            if (gk::overlaps(outputs[o].p, outputs[o].bytes, outputs[q].p, outputs[q].bytes))
                return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s overlaps %s", op,
                                outputs[o].name, outputs[q].name);
    }
    const cudaStream_t cs = gk::as_stream(stream);
    const cudaError_t err =
        t.index_type == GK_INDEX_INT32
            ? run_unfused<int32_t>(t, edge_vec, cell, s, g, forces, stress, cs)
            : run_unfused<int64_t>(t, edge_vec, cell, s, g, forces, stress, cs);
    if (err != cudaSuccess) return gk::fail_cuda(err, op);
    return GK_SUCCESS;
    GK_ABI_END
}

}  // extern "C"
