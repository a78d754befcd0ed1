/*
 * GraphKernels from C: an FCC argon crystal, its periodic neighbour list, Lennard-Jones per-edge
 * gradients, and the force/stress readout. Links the installed package (find_package(GraphKernels),
 * target GraphKernels::emulated): "device" pointers are host pointers on the emulated library; with
 * GraphKernels::graphkernels allocate them with cudaMalloc instead.
 *
 *   lj_fcc [cells] [displace]     cells: FCC unit cells per edge (default 3); displace: 0 = perfect
 *                                 crystal, 1 = atoms moved by a fixed pattern (default 0)
 * Prints "cell", "position", "energy", "force" and "stress" lines (eV, Angstrom, ASE sign).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <graphkernels.h>

static const double kEpsilon = 0.0104;  /* eV, argon */
static const double kSigma = 3.405;     /* Angstrom */
static const double kLattice = 5.26;    /* Angstrom, FCC cubic cell */
static const double kCutoff = 8.5;      /* 2.5 sigma (not shifted) */

#define CHECK(call)                                                                       \
    do {                                                                                  \
        gk_status st_ = (call);                                                           \
        if (st_ != GK_SUCCESS) {                                                          \
            fprintf(stderr, "%s failed: %s (%s)\n", #call, gk_status_name(st_),           \
                    gk_last_error_message());                                             \
            return 1;                                                                     \
        }                                                                                 \
    } while (0)

int main(int argc, char** argv) {
    const int cells = argc > 1 ? atoi(argv[1]) : 3;
    const int displace = argc > 2 ? atoi(argv[2]) : 0;
    const int n = 4 * cells * cells * cells;
    const double basis[4][3] = {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}};
    printf("# GraphKernels %s (%s)\n", gk_version_string(), gk_build_info());

    float* pos = malloc(sizeof(float) * 3 * n);
    float cell[9] = {0};
    cell[0] = cell[4] = cell[8] = (float)(kLattice * cells);
    int k = 0;
    for (int x = 0; x < cells; ++x)
        for (int y = 0; y < cells; ++y)
            for (int z = 0; z < cells; ++z)
                for (int b = 0; b < 4; ++b, ++k) {
                    double p[3] = {(x + basis[b][0]) * kLattice, (y + basis[b][1]) * kLattice,
                                   (z + basis[b][2]) * kLattice};
                    if (displace) {
                        p[0] += 0.15 * sin(1.0 + k);
                        p[1] += 0.15 * cos(2.0 * k + 1.0);
                        p[2] += 0.10 * sin(3.0 * k + 2.0);
                    }
                    for (int c = 0; c < 3; ++c) pos[3 * k + c] = (float)p[c];
                }
    printf("cell %.9g %.9g %.9g %.9g %.9g %.9g %.9g %.9g %.9g\n", cell[0], cell[1], cell[2],
           cell[3], cell[4], cell[5], cell[6], cell[7], cell[8]);
    for (int i = 0; i < n; ++i)
        printf("position %d %.9g %.9g %.9g\n", i, pos[3 * i], pos[3 * i + 1], pos[3 * i + 2]);

    /* Neighbour list: count (returns E), allocate, fill (with the destination permutation). */
    int32_t graph_atom_ptr[2] = {0, n};
    gk_nl_batch batch = {n, 1, GK_INDEX_INT32, 0, graph_atom_ptr, pos, cell, NULL};
    size_t ws_bytes = 0;
    CHECK(gk_neighbor_list_workspace_size(&batch, &ws_bytes));
    void* ws = aligned_alloc(8, (ws_bytes + 7) / 8 * 8);
    int32_t* src_ptr = malloc(sizeof(int32_t) * (n + 1));
    gk_nl_report report;
    CHECK(gk_neighbor_list_count(&batch, kCutoff, 0, src_ptr, ws, ws_bytes, &report, NULL));
    const int64_t e_count = report.num_edges;
    int32_t* edge_src = malloc(sizeof(int32_t) * e_count);
    int32_t* edge_dst = malloc(sizeof(int32_t) * e_count);
    int32_t* dst_perm = malloc(sizeof(int32_t) * e_count);
    int32_t* shifts = malloc(sizeof(int32_t) * 3 * e_count);
    float* edge_vec = malloc(sizeof(float) * 3 * e_count);
    CHECK(gk_neighbor_list_fill(&batch, kCutoff, src_ptr, e_count, edge_src, edge_dst, shifts,
                                edge_vec, dst_perm, NULL));
    printf("# %lld edges, at most %lld neighbours per atom\n", (long long)e_count,
           (long long)report.max_count);

    /* Lennard-Jones: E = 1/2 sum_e phi(|r_e|) (each pair appears as two edges), so
       g_e = dE/dr_e = 1/2 phi'(|r_e|) r_e/|r_e|. */
    float* g = malloc(sizeof(float) * 3 * e_count);
    double energy = 0.0;
    for (int64_t e = 0; e < e_count; ++e) {
        const double rx = edge_vec[3 * e], ry = edge_vec[3 * e + 1], rz = edge_vec[3 * e + 2];
        const double r = sqrt(rx * rx + ry * ry + rz * rz);
        const double s6 = pow(kSigma / r, 6.0);
        energy += 0.5 * 4.0 * kEpsilon * (s6 * s6 - s6);
        const double dphi = 4.0 * kEpsilon * (-12.0 * s6 * s6 + 6.0 * s6) / r;
        g[3 * e + 0] = (float)(0.5 * dphi * rx / r);
        g[3 * e + 1] = (float)(0.5 * dphi * ry / r);
        g[3 * e + 2] = (float)(0.5 * dphi * rz / r);
    }

    /* The readout: the neighbour list is its topology (dst_ptr = src_ptr: the list is symmetric). */
    gk_fs_topology topo = {n, e_count, 1, GK_INDEX_INT32, 0, graph_atom_ptr, src_ptr,
                           edge_src, edge_dst, src_ptr, dst_perm};
    gk_fs_geometry geo = {edge_vec, NULL, NULL, cell, NULL};
    size_t fs_bytes = 0;
    CHECK(gk_force_stress_workspace_size(&topo, 0, &fs_bytes));
    void* fs_ws = aligned_alloc(8, (fs_bytes + 7) / 8 * 8 + 8);
    size_t val_bytes = 0;
    CHECK(gk_force_stress_validate_workspace_size(&val_bytes));
    void* val_ws = aligned_alloc(8, (val_bytes + 7) / 8 * 8 + 8);
    CHECK(gk_force_stress_validate(&topo, &geo, val_ws, val_bytes, NULL));
    float* forces = malloc(sizeof(float) * 3 * n);
    float stress[9];
    CHECK(gk_force_stress_readout(&topo, &geo, GK_FS_CONSERVATIVE, g, GK_FS_TENSOR, 0, forces,
                                  stress, NULL, fs_ws, fs_bytes, NULL));

    printf("energy %.10e\n", energy);
    for (int i = 0; i < n; ++i)
        printf("force %d %.8e %.8e %.8e\n", i, forces[3 * i], forces[3 * i + 1], forces[3 * i + 2]);
    printf("stress %.8e %.8e %.8e %.8e %.8e %.8e %.8e %.8e %.8e\n", stress[0], stress[1], stress[2],
           stress[3], stress[4], stress[5], stress[6], stress[7], stress[8]);

    free(pos); free(ws); free(src_ptr); free(edge_src); free(edge_dst); free(dst_perm);
    free(shifts); free(edge_vec); free(g); free(fs_ws); free(val_ws); free(forces);
    return 0;
}
