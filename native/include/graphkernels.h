/*
 * graphkernels.h — the one C ABI of GraphKernels.
 *
 * Every function returns a gk_status. On anything but GK_SUCCESS, gk_last_error_message() gives a
 * sentence naming the argument and the offending value (thread-local; valid until the next call
 * on the same thread), and no output buffer has been written.
 *
 * Pointers named "device" are CUDA device pointers for libgraphkernels and plain host pointers for
 * libgraphkernels_emulated (the CPU emulation of the CUDA execution model, same ABI).
 * Streams are cudaStream_t passed as void* (NULL = the legacy default stream). Calls are
 * stream-ordered and do not synchronise unless their comment says so. The emulated library runs
 * each call to completion before returning; it accepts NULL, cudaStreamLegacy ((void*)1) and
 * cudaStreamPerThread ((void*)2) and rejects any other handle as GK_ERROR_CUDA (invalid resource
 * handle), since it cannot have created one.
 *
 * gk_last_error_message() sentences begin with the C function's name ("gk_spmm: ldx = 3 is less
 * than feat = 4").
 *
 * Sizes, counts and leading dimensions are int64 element counts. Graphs are destination-major CSR:
 * row r of the CSR is destination node r; col_idx[e] is the source node of CSR position e.
 */
#ifndef GRAPHKERNELS_H
#define GRAPHKERNELS_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#  if defined(GK_BUILDING_LIBRARY)
#    define GK_API __declspec(dllexport)
#  else
#    define GK_API __declspec(dllimport)
#  endif
#else
#  define GK_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define GK_VERSION_MAJOR 0
#define GK_VERSION_MINOR 1
#define GK_VERSION_PATCH 0

/** Status codes. Stable numeric values: they are part of the ABI. */
typedef enum gk_status {
    GK_SUCCESS = 0,
    GK_ERROR_INVALID_ARGUMENT = 1,  /* null pointer, negative size, bad enum, leading dim < width */
    GK_ERROR_INVALID_GRAPH = 2,     /* CSR contents are wrong (found by gk_csr_validate)            */
    GK_ERROR_UNSUPPORTED = 3,       /* valid request this build cannot do (dtype, index type, ...)  */
    GK_ERROR_INDEX_OVERFLOW = 4,    /* a size does not fit the chosen index type                    */
    GK_ERROR_WORKSPACE = 5,         /* workspace missing or too small                               */
    GK_ERROR_CUDA = 6,              /* the CUDA runtime (or its emulation) reported an error        */
    GK_ERROR_INTERNAL = 7           /* a bug in GraphKernels: please report the message              */
} gk_status;

typedef enum gk_dtype {
    GK_DTYPE_F32 = 0,
    GK_DTYPE_F16 = 1,
    GK_DTYPE_BF16 = 2,
    GK_DTYPE_F64 = 3
} gk_dtype;

typedef enum gk_index_type {
    GK_INDEX_INT32 = 0,
    GK_INDEX_INT64 = 1
} gk_index_type;

/** Message computed per edge e = (src u -> dst v) before reduction. */
typedef enum gk_message {
    GK_MESSAGE_COPY_U = 0,   /* X[u, :]                                  */
    GK_MESSAGE_U_MUL_E = 1,  /* X[u, :] * w[e]   (one scalar per edge)   */
    GK_MESSAGE_COPY_E = 2,   /* E[e, :]            (gk_spmm_ex only)     */
    GK_MESSAGE_U_ADD_E = 3,  /* X[u, :] + E[e, :]  (gk_spmm_ex only)     */
    GK_MESSAGE_U_SUB_E = 4,  /* X[u, :] - E[e, :]  (gk_spmm_ex only)     */
    GK_MESSAGE_U_DIV_E = 5   /* X[u, :] / E[e, :]  (gk_spmm_ex only)     */
} gk_message;

/** Reduction over the in-edges of each destination row. */
typedef enum gk_reduce {
    GK_REDUCE_SUM = 0,   /* empty row -> 0                                 */
    GK_REDUCE_MEAN = 1,  /* empty row -> 0 (sum / max(deg, 1))             */
    GK_REDUCE_MAX = 2,   /* empty row -> 0, arg -1; ties -> lowest position */
    GK_REDUCE_MIN = 3,   /* empty row -> 0, arg -1; ties -> lowest position */
    GK_REDUCE_MUL = 4    /* empty row -> 1 (gk_spmm_ex only)               */
} gk_reduce;

/** Which implementation this library is. */
typedef enum gk_backend_kind {
    GK_BACKEND_CUDA = 0,
    GK_BACKEND_EMULATED = 1
} gk_backend_kind;

/**
 * Destination-major CSR (all pointers device memory).
 * row_ptr has num_rows + 1 entries, non-decreasing, row_ptr[0] = 0, row_ptr[num_rows] = nnz.
 * col_idx has nnz entries in [0, num_cols). Both are int32 or int64 as index_type says.
 * Edge weights and other per-edge data are indexed by CSR position.
 */
typedef struct gk_csr {
    int64_t num_rows;     /* M: destination nodes */
    int64_t num_cols;     /* K: source nodes      */
    int64_t nnz;          /* E: edges             */
    int32_t index_type;   /* gk_index_type        */
    int32_t reserved;     /* must be 0            */
    const void* row_ptr;  /* [M + 1]              */
    const void* col_idx;  /* [E]                  */
} gk_csr;

/* ---------------------------------------------------------------- library and errors ------ */

/** Human sentence for the last failing call on this thread ("" if none). Never NULL. */
GK_API const char* gk_last_error_message(void);
/** Symbolic name of a status ("GK_ERROR_INVALID_ARGUMENT"); "GK_UNKNOWN_STATUS" if unknown. */
GK_API const char* gk_status_name(int32_t status);
/** Library version, e.g. "0.1.0". */
GK_API const char* gk_version_string(void);
/** Library version as major * 10000 + minor * 100 + patch. */
GK_API int32_t gk_version(void);
/** GK_BACKEND_CUDA or GK_BACKEND_EMULATED. */
GK_API int32_t gk_backend(void);
/** One line describing the build: backend, CUDA runtime version it was built with, architectures. */
GK_API const char* gk_build_info(void);

/* ---------------------------------------------------------------- CSR ---------------------- */

/** Workspace gk_csr_validate needs, in bytes (small, constant). */
GK_API gk_status gk_csr_validate_workspace_size(size_t* bytes);

/**
 * Checks a CSR on the device: row_ptr[0] = 0, non-decreasing, row_ptr[M] = nnz, every col_idx in
 * [0, num_cols). Returns GK_ERROR_INVALID_GRAPH naming the first bad entry (lowest position).
 * workspace: device memory of at least gk_csr_validate_workspace_size bytes.
 * SYNCHRONISES the stream (it must read the verdict back to name the entry).
 */
GK_API gk_status gk_csr_validate(const gk_csr* csr, void* workspace, size_t workspace_bytes,
                                 void* stream);

/* ---------------------------------------------------------------- message passing ---------- */

/**
 * Y[v, f] = reduce over CSR positions e in row v of message(X[col_idx[e], f], w[e]),
 * for v in [0, M), f in [0, feat).
 *
 * x:       [num_cols, feat] with leading dimension ldx >= feat (elements), dtype.
 * edge_weight: [nnz] of dtype, required for GK_MESSAGE_U_MUL_E, must be NULL for COPY_U.
 * y:       [num_rows, feat] with leading dimension ldy >= feat. Fully overwritten (columns >= feat
 *          of each row are not touched).
 * arg_out: optional for MAX/MIN (NULL to skip), must be NULL for SUM/MEAN. [num_rows, feat] with
 *          leading dimension ld_arg >= feat, of the CSR's index type; receives the CSR position of
 *          the winning edge (lowest position on ties), -1 for empty rows.
 * Only GK_DTYPE_F32 in this version. Deterministic: each output element is produced by one lane
 * in CSR order, so results are bitwise identical run to run.
 * The CSR contents are trusted (run gk_csr_validate once per graph).
 */
GK_API gk_status gk_spmm(const gk_csr* csr, int32_t message, int32_t reduce, int32_t dtype,
                         int64_t feat, const void* x, int64_t ldx, const void* edge_weight,
                         void* y, int64_t ldy, void* arg_out, int64_t ld_arg, void* stream);

/* ---- generalized SpMM (g-SpMM), its backward and multi-reducer SpMM ---- */

/** Shape of the edge operand E of gk_spmm_ex. */
typedef enum gk_edge_operand {
    GK_EDGE_NONE = 0,      /* no edge operand (GK_MESSAGE_COPY_U)                              */
    GK_EDGE_SCALAR = 1,    /* E[e]: one value per edge, broadcast over all F features           */
    GK_EDGE_PER_HEAD = 2,  /* E[e, h] (leading dim lde >= H): feature f uses head f / (F / H)   */
    GK_EDGE_FULL = 3       /* E[e, f] (leading dim lde >= F): SchNet-style continuous filters   */
} gk_edge_operand;

/** Flags of gk_spmm_desc (bitwise or). */
typedef enum gk_spmm_flags {
    GK_SPMM_ACCUMULATE = 1,  /* Y += result (rounded once to dtype) instead of Y = result          */
    GK_SPMM_EMPTY_INF = 2,   /* empty rows give -inf (max) / +inf (min) instead of 0 (arg still -1) */
    GK_SPMM_CHUNKED = 4      /* split rows into the plan's fixed chunks (load balance for hubs): a
                                partial per chunk in the workspace, then a fixed-order second pass
                                per row; needs plan and workspace; deterministic (not bitwise equal
                                to the unchunked path for sum/mean/mul on rows of more than one chunk) */
} gk_spmm_flags;

/** What gk_spmm_ex computes. Zero-initialise, then set the fields. */
typedef struct gk_spmm_desc {
    int32_t message;    /* gk_message                                                      */
    int32_t reduce;     /* gk_reduce                                                       */
    int32_t dtype;      /* gk_dtype of X, E and Y: F32, F16 or BF16 (accumulation is fp32)  */
    int32_t edge_mode;  /* gk_edge_operand: NONE for COPY_U, anything else needs one        */
    int64_t feat;       /* F >= 1                                                          */
    int64_t heads;      /* H for GK_EDGE_PER_HEAD (F % H == 0); ignored otherwise          */
    int64_t ldx;        /* leading dimension of X (>= F; 0 = F)                             */
    int64_t lde;        /* leading dimension of E (>= width: 1, H or F; 0 = width)          */
    int64_t ldy;        /* leading dimension of Y (>= F; 0 = F)                             */
    int64_t ld_arg;     /* leading dimension of arg_out (>= F; 0 = F)                       */
    uint32_t flags;     /* gk_spmm_flags                                                   */
    int32_t reserved;   /* must be 0                                                       */
} gk_spmm_desc;

typedef struct gk_plan gk_plan;  /* defined in the graph plan section */

/** Workspace gk_spmm_ex needs: 0 without GK_SPMM_CHUNKED; with it, plan->max_items * F floats
 *  (+ as many int64 for max/min) for the per-chunk partials. plan may be NULL without the flag. */
GK_API gk_status gk_spmm_ex_workspace_size(const gk_csr* csr, const gk_spmm_desc* desc,
                                           const gk_plan* plan, size_t* bytes);

/**
 * Generalized SpMM: Y[v, f] = reduce over CSR positions e of row v (in CSR order) of
 * message(X[col_idx[e], f], E(e, f)), where E(e, f) is E[e], E[e, f / (F/H)] or E[e, f] by
 * edge_mode. Reducers: sum, mean, max, min, mul; empty rows: sum 0, mean 0, mul 1, max/min 0 (or
 * -inf/+inf with GK_SPMM_EMPTY_INF) with arg -1 (emptiness by count). Max/min: ties go to the
 * lowest CSR position, a NaN message wins and the first NaN is kept. arg_out (max/min only, NULL to
 * skip): [M, F] of the CSR's index type, the winning CSR position. GK_SPMM_ACCUMULATE: Y += result.
 * Each output element is folded by one lane in CSR order in fp32 and rounded once to dtype:
 * bitwise reproducible run to run. gk_spmm's F32 sum/mean/max/min results are bitwise equal.
 * x must be NULL for GK_MESSAGE_COPY_E; edge must be NULL for COPY_U.
 * plan and workspace: only with GK_SPMM_CHUNKED (otherwise ignored, may be NULL).
 */
GK_API gk_status gk_spmm_ex(const gk_csr* csr, const gk_spmm_desc* desc, const void* x,
                            const void* edge, void* y, void* arg_out, const gk_plan* plan,
                            void* workspace, size_t workspace_bytes, void* stream);

/** Workspace gk_spmm_backward needs: E * F floats for GK_REDUCE_MUL, else 0. */
GK_API gk_status gk_spmm_backward_workspace_size(const gk_csr* csr, const gk_spmm_desc* desc,
                                                 size_t* bytes);

/**
 * Backward of gk_spmm_ex (the same csr and desc; GK_SPMM_ACCUMULATE and GK_SPMM_EMPTY_INF do not
 * change the gradient and are ignored). grad_y: dL/dY [M, F] (leading dimension ld_gy, 0 = F).
 * grad_x (NULL to skip; must be NULL for COPY_E): dL/dX [K, F] (ld_gx, 0 = F), OVERWRITTEN, computed
 * per source node over plan's transpose in transposed order: one owner per element, no atomics.
 * grad_edge (NULL to skip; must be NULL for COPY_U): dL/dE with E's shape [E, 1|H|F] (ld_ge, 0 =
 * width), one thread per edge, summing over the features that share the edge value in feature
 * order. Max/min need arg (the forward's arg_out; the gradient goes to the winning edge only).
 * Mean divides by the row's degree; mul uses prefix/suffix products (exact for zero messages) in
 * the workspace. plan: built by gk_plan_build for this csr (required when grad_x is given).
 * Everything accumulates in fp32 and rounds once to dtype. Bitwise reproducible.
 */
GK_API gk_status gk_spmm_backward(const gk_csr* csr, const gk_plan* plan,
                                  const gk_spmm_desc* desc, const void* x, const void* edge,
                                  const void* arg, const void* grad_y, int64_t ld_gy, void* grad_x,
                                  int64_t ld_gx, void* grad_edge, int64_t ld_ge, void* workspace,
                                  size_t workspace_bytes, void* stream);

/** Statistics of gk_spmm_multi (bitwise or); outputs[k] is the output of bit k. */
typedef enum gk_multi_reduce {
    GK_MULTI_SUM = 1,
    GK_MULTI_MEAN = 2,
    GK_MULTI_MIN = 4,   /* no arg; empty row 0 */
    GK_MULTI_MAX = 8,   /* no arg; empty row 0 */
    GK_MULTI_VAR = 16,  /* population variance (/ deg), Welford in fp32; empty row 0 */
    GK_MULTI_STD = 32   /* sqrt of VAR (no clamp); empty row 0 */
} gk_multi_reduce;

/**
 * Multi-reducer SpMM (PNA, PyG MultiAggregation): several statistics of the same messages in ONE
 * pass over the edges. desc: as for gk_spmm_ex, with reduce = 0 and flags = 0 (desc->ld_arg is
 * unused); stats: a non-zero gk_multi_reduce mask; outputs: 6 pointers indexed by bit (sum, mean,
 * min, max, var, std), each [M, F] with leading dimension desc->ldy, non-NULL exactly for the bits
 * in stats. Variance by Welford's update (not E[x^2] - E[x]^2); sum is bitwise equal to gk_spmm_ex's
 * sum. Deterministic; fp32 accumulation; no workspace.
 */
GK_API gk_status gk_spmm_multi(const gk_csr* csr, const gk_spmm_desc* desc, uint32_t stats,
                               const void* x, const void* edge, void* const* outputs,
                               void* stream);

/** Workspace gk_spmm_multi_backward needs: E * F floats (dL/d message per edge and feature). */
GK_API gk_status gk_spmm_multi_backward_workspace_size(const gk_csr* csr,
                                                       const gk_spmm_desc* desc, size_t* bytes);

/**
 * Backward of gk_spmm_multi (the same csr and desc: reduce = 0, flags = 0). stats: the statistics
 * that have an upstream gradient (a non-empty gk_multi_reduce mask, need not equal the forward's);
 * grad_outputs: 6 pointers indexed by bit, each dL/d statistic [M, F] with leading dimension ld_gy
 * (0 = F), non-NULL exactly for the bits in stats. x and edge: the forward's inputs. NOTHING of the
 * forward has to be saved: a first pass per row refolds the messages exactly as the forward does
 * (fp32 Welford mean and M2, first-wins min/max winners) and writes per edge e and feature f
 *   dL/dm = gSum + gMean/deg + (2 gVar/deg + gStd/(deg std)) (m_e - mean)
 *           + gMin [e is the min's winner] + gMax [e is the max's winner]
 * into the workspace (ties: the lowest CSR position gets the whole gradient, as the forward picks
 * it; std = 0, i.e. all messages of the row equal: the std term is 0, a subgradient, not NaN).
 * grad_x (NULL to skip; must be NULL for COPY_E): dL/dX [K, F] (ld_gx, 0 = F), OVERWRITTEN, per
 * source node over plan's transpose; grad_edge (NULL to skip; must be NULL for COPY_U): dL/dE in
 * E's shape (ld_ge, 0 = width), one thread per edge. No atomics; bitwise reproducible; fp32
 * accumulation, one rounding to dtype. Empty rows contribute nothing.
 */
GK_API gk_status gk_spmm_multi_backward(const gk_csr* csr, const gk_plan* plan,
                                        const gk_spmm_desc* desc, uint32_t stats, const void* x,
                                        const void* edge, const void* const* grad_outputs,
                                        int64_t ld_gy, void* grad_x, int64_t ld_gx,
                                        void* grad_edge, int64_t ld_ge, void* workspace,
                                        size_t workspace_bytes, void* stream);

/* (end of message passing: SpMM section) */

/* ---------------------------------------------------------------- graph plan --------------- */
/*
 * A graph plan, built once per graph by gk_plan_build and reused by every layer and step:
 * the transpose (by-source CSR + edge permutation), in/out degrees and a row schedule that cuts
 * rows into items of at most `chunk` edges (hub rows into several, an empty row into one empty
 * item). The caller allocates every buffer (sizes from gk_plan_query); nothing is hidden.
 *
 * transpose: num_rows = K (source nodes), num_cols = M (destination nodes), col_idx[t] = the
 * destination of transposed entry t; perm[t] = the original CSR position of entry t (same index
 * type). Within a source row, entries are in ascending original CSR position (stable).
 * in_degree[v] = row_ptr[v+1] - row_ptr[v] [M], out_degree[u] [K] (index type).
 * row_item_ptr [M + 1] (int64): row v owns items [row_item_ptr[v], row_item_ptr[v+1]); it has
 * max(1, ceil(deg / chunk)) of them, item j of the row covers CSR positions
 * [row_ptr[v] + j * chunk, min(row_ptr[v] + (j+1) * chunk, row_ptr[v+1])). item_row [max_items]
 * (int64): the row of each item, -1 past the last (row_item_ptr[M]). max_items = M + E / chunk.
 * The build is deterministic (bitwise identical every time): counts by integer atomics, a
 * single-block scan in fixed order, a scatter, then each source row sorted by CSR position.
 */
struct gk_plan {
    gk_csr transpose;        /* filled by gk_plan_build from the buffers below                 */
    void* t_row_ptr;         /* [K + 1] index type                                              */
    void* t_col_idx;         /* [E] index type                                                  */
    void* perm;              /* [E] index type                                                  */
    void* in_degree;         /* [M] index type                                                  */
    void* out_degree;        /* [K] index type                                                  */
    int64_t* row_item_ptr;   /* [M + 1]                                                         */
    int64_t* item_row;       /* [max_items]                                                     */
    int64_t chunk;           /* edges per item (>= 1)                                           */
    int64_t max_items;       /* M + E / chunk                                                   */
    int64_t num_rows;        /* M of the forward CSR                                            */
    int64_t num_cols;        /* K                                                               */
    int64_t nnz;             /* E                                                               */
    int32_t index_type;      /* of the forward CSR                                              */
    int32_t reserved;        /* 0                                                               */
};

/** Sizes of a plan's buffers (bytes) and of the build workspace, from gk_plan_query. */
typedef struct gk_plan_sizes {
    int64_t chunk;              /* effective chunk (0 asked = 256)                  */
    int64_t max_items;          /* M + E / chunk                                    */
    int64_t t_row_ptr_bytes;    /* (K + 1) * sizeof(index)                          */
    int64_t t_col_idx_bytes;    /* E * sizeof(index)                                */
    int64_t perm_bytes;         /* E * sizeof(index)                                */
    int64_t in_degree_bytes;    /* M * sizeof(index)                                */
    int64_t out_degree_bytes;   /* K * sizeof(index)                                */
    int64_t row_item_ptr_bytes; /* (M + 1) * 8                                      */
    int64_t item_row_bytes;     /* max_items * 8                                    */
    int64_t workspace_bytes;    /* build scratch: K * 8 (8-byte aligned)            */
} gk_plan_sizes;

/** Host-only: checks csr's header and chunk (0 = 256, else >= 1) and fills *sizes. */
GK_API gk_status gk_plan_query(const gk_csr* csr, int64_t chunk, gk_plan_sizes* sizes);

/**
 * Builds the plan for csr into the caller's buffers named in *plan (t_row_ptr, t_col_idx, perm,
 * in_degree, out_degree, row_item_ptr, item_row: each of gk_plan_query's size, aligned to its
 * element) and fills plan's other fields (transpose header, chunk, max_items, sizes). workspace:
 * gk_plan_sizes.workspace_bytes, 8-byte aligned. The CSR contents are trusted (validate first).
 * Stream-ordered, no synchronisation; buffers must not overlap each other or the CSR.
 */
GK_API gk_status gk_plan_build(const gk_csr* csr, int64_t chunk, gk_plan* plan, void* workspace,
                               size_t workspace_bytes, void* stream);
/* (end of graph plan section) */

/* ---------------------------------------------------------------- edge ops: SDDMM, edge ---- */
/* ---------------------------------------------------------------- softmax, segment, COO ---- */
/*
 * Edge ops (docs/message_passing.md, "Edge ops"). Element type of every feature/edge tensor: dtype
 * (GK_DTYPE_F32, F16 or BF16; fp32 arithmetic and accumulation, one rounding on store). Index
 * arrays are of the CSR's (or the call's) index type. Every output element is written by one
 * thread in a fixed order: results are bitwise identical run to run. Graph contents (row_ptr,
 * col_idx, perm, segment pointers) are trusted; run gk_csr_validate once per graph. Outputs must
 * not overlap inputs. Stream-ordered, no synchronisation, unless a comment says otherwise.
 */

/** SDDMM per-edge operation. */
typedef enum gk_sddmm_op {
    GK_SDDMM_DOT = 0,  /* out [E, H]: dot over the D = F / H features of each head */
    GK_SDDMM_ADD = 1,  /* out [E, F]: a + b                                       */
    GK_SDDMM_SUB = 2,  /* out [E, F]: a - b                                       */
    GK_SDDMM_MUL = 3,  /* out [E, F]: a * b                                       */
    GK_SDDMM_DIV = 4   /* out [E, F]: a / b                                       */
} gk_sddmm_op;

/** Where an SDDMM operand row comes from for edge e = (src u -> dst v) at CSR position e. */
typedef enum gk_target {
    GK_TARGET_SRC = 0,   /* row u of a [num_cols, F] node tensor  */
    GK_TARGET_DST = 1,   /* row v of a [num_rows, F] node tensor  */
    GK_TARGET_EDGE = 2   /* row e of an [nnz, F] edge tensor      */
} gk_target;

/** What gk_segment_gather writes (forward gather_csr, or the backward of gk_segment_reduce). */
typedef enum gk_gather_mode {
    GK_GATHER_COPY = 0,  /* out[i] = src[s]: gather_csr, and the backward of SUM             */
    GK_GATHER_MEAN = 1,  /* out[i] = src[s] / count(s): the backward of MEAN                 */
    GK_GATHER_ARG = 2    /* out[i, f] = arg[s, f] == i ? src[s, f] : 0: backward of MAX/MIN  */
} gk_gather_mode;

/** Which degree gk_degree computes. */
typedef enum gk_degree_kind {
    GK_DEGREE_IN = 0,   /* per destination (CSR row): [num_rows]          */
    GK_DEGREE_OUT = 1   /* per source (CSR column): [num_cols]            */
} gk_degree_kind;

/**
 * SDDMM: for every CSR position e of row v (u = col_idx[e]), out[e, :] = op(A[a(e), :], B[b(e), :])
 * where a(e), b(e) are u, v or e by lhs_target / rhs_target (gk_target). A and B are [rows, feat]
 * with leading dimensions ld_lhs, ld_rhs >= feat (rows = num_cols, num_rows or nnz by target).
 * DOT: heads H >= 1 divides feat, out [nnz, H] (ld_out >= H), out[e, h] = sum_d A[., hD + d] B[., hD + d].
 * ADD/SUB/MUL/DIV: heads must be 1, out [nnz, feat] (ld_out >= feat).
 */
GK_API gk_status gk_sddmm(const gk_csr* csr, int32_t op, int32_t dtype, int64_t feat,
                          int64_t heads, int32_t lhs_target, const void* lhs, int64_t ld_lhs,
                          int32_t rhs_target, const void* rhs, int64_t ld_rhs, void* out,
                          int64_t ld_out, void* stream);

/**
 * Backward of gk_sddmm (same csr, op, dtype, feat, heads, targets, lhs, rhs). grad_out: the
 * gradient of out ([nnz, H] or [nnz, feat], ld_grad_out). grad_lhs / grad_rhs: NULL to skip, else
 * [rows of the operand's target, feat] with their leading dimensions, fully overwritten (a node with
 * no edges gets 0). An edge operand's gradient is per edge; a destination operand's is a sum over
 * the CSR row (positions ascending); a source operand's is a sum over the row of the TRANSPOSE:
 * transpose is the by-source CSR (num_rows = csr->num_cols, num_cols = csr->num_rows, col_idx =
 * destination, same index type and nnz) and perm [nnz] (that index type) gives, for transposed
 * position t, the original CSR position; stable (ascending original position within a source row),
 * as the graph plan builds it. transpose and perm may be NULL when no source-target gradient is
 * requested. A DIV rhs gradient reads both operands.
 */
GK_API gk_status gk_sddmm_backward(const gk_csr* csr, const gk_csr* transpose, const void* perm,
                                   int32_t op, int32_t dtype, int64_t feat, int64_t heads,
                                   int32_t lhs_target, const void* lhs, int64_t ld_lhs,
                                   int32_t rhs_target, const void* rhs, int64_t ld_rhs,
                                   const void* grad_out, int64_t ld_grad_out, void* grad_lhs,
                                   int64_t ld_grad_lhs, void* grad_rhs, int64_t ld_grad_rhs,
                                   void* stream);

/**
 * Edge softmax over the in-edges of each destination row, per head h < heads:
 * out[e, h] = exp(s[e, h] - m) / (sum + 1e-16), m = the row's max (a row whose max is -inf uses
 * m = 0: all -inf scores give 0, not NaN; NaN propagates), sum = sum of exp(s - m) over the row.
 * scores, out: [nnz, heads] with ld_scores, ld_out >= heads. row_max, row_sum: NULL or fp32
 * [num_rows, heads] dense, receiving m and sum (0 and 0 for empty rows).
 */
GK_API gk_status gk_edge_softmax(const gk_csr* csr, int32_t dtype, int64_t heads,
                                 const void* scores, int64_t ld_scores, void* out, int64_t ld_out,
                                 float* row_max, float* row_sum, void* stream);

/** Backward of gk_edge_softmax: grad_scores[e, h] = y[e, h] (g[e, h] - sum_row y g), row-local.
 *  y = the forward's out, g = grad_out, all [nnz, heads] with their leading dimensions. */
GK_API gk_status gk_edge_softmax_backward(const gk_csr* csr, int32_t dtype, int64_t heads,
                                          const void* y, int64_t ld_y, const void* grad_out,
                                          int64_t ld_grad_out, void* grad_scores,
                                          int64_t ld_grad_scores, void* stream);

/**
 * Segment reduce (torch_scatter segment_csr): out[s, f] = reduce over p in [ptr[s], ptr[s+1]) of
 * src[i(p), f], i(p) = perm[p] when perm is not NULL (a scatter through gk_coo_to_csr's
 * permutation), else p. ptr: [num_segments + 1] of index_type, ptr[0] = 0, non-decreasing,
 * ptr[num_segments] <= num_src (trusted); perm: NULL or [ptr[num_segments]] entries in [0, num_src).
 * src [num_src, feat] (ld_src), out [num_segments, feat] (ld_out). reduce: gk_reduce.
 * Empty segment: 0 for every reducer, arg -1. Max/min: ties -> lowest position, NaN propagates;
 * arg_out (NULL or [num_segments, feat] of index_type, ld_arg; MAX/MIN only) gets i(p) of the winner.
 */
GK_API gk_status gk_segment_reduce(int32_t index_type, int64_t num_segments, const void* ptr,
                                   const void* perm, int64_t num_src, int32_t reduce,
                                   int32_t dtype, int64_t feat, const void* src, int64_t ld_src,
                                   void* out, int64_t ld_out, void* arg_out, int64_t ld_arg,
                                   void* stream);

/**
 * Segment gather, gk_gather_mode: for every position p of segment s, out[i(p), :] = COPY src[s, :]
 * (gather_csr; backward of SUM), MEAN src[s, :] / count(s), ARG (arg[s, f] == i(p) ? src[s, f] : 0;
 * arg from the forward's arg_out). ptr, perm, index_type as gk_segment_reduce; src [num_segments,
 * feat]; out [num_out, feat]: rows that no position maps to are not written (zero them first when
 * ptr[num_segments] < num_out). arg must be NULL unless mode is ARG.
 */
GK_API gk_status gk_segment_gather(int32_t index_type, int64_t num_segments, const void* ptr,
                                   const void* perm, int64_t num_out, int32_t mode, int32_t dtype,
                                   int64_t feat, const void* src, int64_t ld_src, const void* arg,
                                   int64_t ld_arg, void* out, int64_t ld_out, void* stream);

/** Workspace gk_coo_to_csr needs: (num_rows + 2) * 8 bytes. */
GK_API gk_status gk_coo_to_csr_workspace_size(int64_t num_rows, size_t* bytes);

/**
 * COO -> destination-major CSR. dst, src: [nnz] of index_type (src may be NULL: then col_idx must
 * be NULL too; this is the scatter-reduce plan of an unsorted index). Writes row_ptr [num_rows + 1],
 * col_idx [nnz] (= src[perm[t]]) and perm [nnz]: perm[t] = the COO position of CSR position t,
 * stable (ascending COO position within a row), so the output is deterministic. An index outside
 * [0, num_rows) / [0, num_cols) is GK_ERROR_INVALID_GRAPH naming the lowest bad position and its
 * value, with the outputs untouched. workspace: gk_coo_to_csr_workspace_size bytes, 8-byte aligned.
 * SYNCHRONISES the stream (it reads the range check back before writing any output).
 */
GK_API gk_status gk_coo_to_csr(int32_t index_type, int64_t nnz, const void* dst, const void* src,
                               int64_t num_rows, int64_t num_cols, void* row_ptr, void* col_idx,
                               void* perm, void* workspace, size_t workspace_bytes, void* stream);

/** Degrees of a CSR (gk_degree_kind) into out (index type; [num_rows] IN, [num_cols] OUT). OUT
 *  zeroes out then counts with integer atomics: exact, so the result is still deterministic. */
GK_API gk_status gk_degree(const gk_csr* csr, int32_t which, void* out, void* stream);
/* (end of edge ops section) */

/* ---------------------------------------------------------------- fused message functions -- */

/** Built-in message functions of gk_fused_message (operands as in docs/jit.md). */
typedef enum gk_fused_builtin {
    GK_FUSED_COPY_U = 0,        /* src[f]                                                 */
    GK_FUSED_U_MUL_E = 1,       /* src[f] * edge[0]      (one scalar per edge)            */
    GK_FUSED_U_ADD_V = 2,       /* src[f] + dst[f]                                        */
    GK_FUSED_U_MUL_E_FEAT = 3   /* src[f] * edge[f]      (SchNet: an F-wide filter per edge) */
} gk_fused_builtin;

/**
 * Fused gather-apply-scatter with a built-in message function (kernels/fused_message.cuh):
 * Y[v, f] = reduce over CSR positions e of row v of msg(src = x_src[col_idx[e], :],
 * dst = x_dst[v, :], edge = edge[e, :], f), for v in [0, M), f in [0, feat). No per-edge message
 * tensor is written. Same row semantics as gk_spmm: empty rows give 0 for every reducer; max/min
 * keep the first extreme in CSR order; deterministic (one lane per output element, CSR order).
 *
 * x_src:  [num_cols, feat], leading dimension ld_src >= feat; NULL when the message does not use it
 *         (every built-in uses it).
 * x_dst:  [num_rows, feat], ld_dst >= feat; required for U_ADD_V, must be NULL otherwise.
 * edge:   [nnz, edge_width], ld_edge >= edge_width, indexed by CSR position; U_MUL_E needs
 *         edge_width >= 1, U_MUL_E_FEAT edge_width >= feat; must be NULL (edge_width 0) otherwise.
 * y:      [num_rows, feat], ldy >= feat, fully overwritten (columns >= feat untouched); must not
 *         overlap any input.
 * Feature widths 16 and 64 (copy_u and u_mul_e: also 32, 128, 256) run a variant with the width
 * as a compile-time constant (the same template; NVRTC builds 16, 32, 64, 128 and 256 at run time
 * on CUDA, which is what MessagePassing.SpMM picks there).
 * The CSR contents are trusted (run gk_csr_validate once per graph).
 */
GK_API gk_status gk_fused_message(const gk_csr* csr, int32_t builtin, int32_t reduce, int64_t feat,
                                  const void* x_src, int64_t ld_src, const void* x_dst,
                                  int64_t ld_dst, const void* edge, int64_t edge_width,
                                  int64_t ld_edge, void* y, int64_t ldy, void* stream);
/**
 * Backward of gk_fused_message for reduce = sum (0) or mean (1) (kernels/fused_message_backward.cuh),
 * given grad_y = dL/dy [num_rows, feat] (ld_gy):
 *   grad_src  [num_cols, feat] (ld_gs)        = sum over out-edges of d msg / d src[f] * g
 *   grad_dst  [num_rows, feat] (ld_gd)        = sum over the row's edges of d msg / d dst[f] * g
 *   grad_edge [nnz, edge_width] (ld_ge)       = sum over f of d msg_f / d edge[k] * g[v, f]
 * with g = grad_y (sum) or grad_y / deg(v) (mean). Each output is optional (NULL to skip; at
 * least one), fully overwritten (zero-degree nodes get 0) and must not overlap an input or another
 * output. grad_src needs plan (gk_plan_build of this csr: the transpose, no atomics); plan may be
 * NULL otherwise. grad_dst only for U_ADD_V, grad_edge only for U_MUL_E / U_MUL_E_FEAT. Operands
 * as for gk_fused_message. Deterministic: every output element has one owner folding in a fixed
 * order (grad_src in transpose order = ascending CSR position). Stream-ordered, no allocation.
 */
GK_API gk_status gk_fused_message_backward(
    const gk_csr* csr, const gk_plan* plan, int32_t builtin, int32_t reduce, int64_t feat,
    const void* x_src, int64_t ld_src, const void* x_dst, int64_t ld_dst, const void* edge,
    int64_t edge_width, int64_t ld_edge, const void* grad_y, int64_t ld_gy, void* grad_src,
    int64_t ld_gs, void* grad_dst, int64_t ld_gd, void* grad_edge, int64_t ld_ge, void* stream);
/* (end of fused message section) */

/* ---------------------------------------------------------------- neighbour list ----------- */
/*
 * Radius graph with periodic boundaries for a batch of structures (docs/embedding.md).
 *
 * Edge (i -> j, S) for atoms i, j of the same structure b and integer image shifts S with
 * |r| < cutoff, r = x_j - x_i + S . L_b (rows of L_b are lattice vectors), evaluated in double from
 * the fp32 inputs; (i, i, S = 0) is the only pair excluded, so a cell smaller than twice the cutoff
 * gives several images of a pair and self-image edges. A non-periodic structure uses S = 0 only.
 * Output: a by-source CSR. Edges are sorted by source atom (so by structure), then destination
 * ascending, then S lexicographically (s0, s1, s2) ascending. The edge set is symmetric ((j, i, -S)
 * is an edge whenever (i, j, S) is), so the edges by destination have dst_ptr = src_ptr and
 * gk_neighbor_list_fill can write the dst_perm of gk_fs_topology: the list feeds
 * gk_force_stress_readout directly (topology = graph_atom_ptr, src_ptr, edge_src, edge_dst,
 * dst_ptr = src_ptr, dst_perm; geometry.edge_vec = edge_vec).
 * Search per structure: a cell list (atoms binned in fractional coordinates of the cell, or in the
 * bounding box of a molecule, bins >= cutoff wide where the cell allows, at most N_b bins) or brute
 * force, whichever the estimated pair tests favour (rule in kernels/neighbor_list.cuh); the edges
 * and their order do not depend on the choice.
 * Two passes: gk_neighbor_list_count (bins the atoms into the workspace, writes src_ptr, returns E;
 * synchronises), allocate E-sized outputs, gk_neighbor_list_fill_ws with the same workspace (or
 * gk_neighbor_list_fill, which needs no workspace and walks every structure brute force: same
 * output, quadratic cost). Deterministic: no floating-point reduction, one owner per output.
 */

/** The batch (device pointers). Atoms of structure b are [graph_atom_ptr[b], graph_atom_ptr[b+1]).
 *  positions [N,3] fp32 (need not be wrapped into the cell); cell [B,3,3] fp32, rows = lattice
 *  vectors (NULL only when periodic is given and all 0); periodic [B] (0 = molecule, S = 0 only)
 *  or NULL (every structure periodic). */
typedef struct gk_nl_batch {
    int64_t num_atoms;          /* N */
    int64_t num_graphs;         /* B */
    int32_t index_type;         /* gk_index_type of graph_atom_ptr and of every output index */
    int32_t reserved;           /* must be 0 */
    const void* graph_atom_ptr; /* [B + 1] */
    const float* positions;     /* [N, 3] */
    const float* cell;          /* [B, 3, 3] */
    const uint8_t* periodic;    /* [B] or NULL */
} gk_nl_batch;

/** What gk_neighbor_list_count found (host struct). */
typedef struct gk_nl_report {
    int64_t num_edges;       /* E (0 when the call failed before counting)                      */
    int64_t max_count;       /* largest number of neighbours of one atom                        */
    int64_t max_count_atom;  /* lowest atom with max_count (-1 when N = 0)                      */
    int64_t overflow_atom;   /* lowest atom with more than max_neighbors neighbours, -1 if none */
    int64_t overflow_count;  /* its number of neighbours (0 if none)                            */
} gk_nl_report;

/** Workspace of gk_neighbor_list_count (and gk_neighbor_list_fill_ws):
 *  (5 x num_atoms + 14 x num_graphs + 8) x 8 bytes (per-atom counts, bins, images; per-structure
 *  bin pointers and grid records). */
GK_API gk_status gk_neighbor_list_workspace_size(const gk_nl_batch* batch, size_t* bytes);

/**
 * Pass 1: counts the neighbours of every atom and writes src_ptr [N+1] (index_type).
 * cutoff: finite, > 0. max_neighbors: 0 = no limit; otherwise an atom with more neighbours makes
 * the call fail with GK_ERROR_INVALID_ARGUMENT naming max_neighbors, the lowest such atom, its
 * structure and its count (also in report->overflow_atom / overflow_count), src_ptr untouched.
 * A total that does not fit the index type: GK_ERROR_INDEX_OVERFLOW, src_ptr untouched.
 * Checks on the host (after reading them back): graph_atom_ptr 0 .. N non-decreasing; periodic
 * cells finite with |det L| > 1e-12 |a||b||c|; at most 1000 images per lattice direction
 * (cutoff x |column of L^-1| <= 1000). report (may be NULL) is written on success and on the
 * max_neighbors refusal. workspace: gk_neighbor_list_workspace_size bytes, 8-byte aligned.
 * SYNCHRONISES the stream (it returns E).
 */
GK_API gk_status gk_neighbor_list_count(const gk_nl_batch* batch, double cutoff,
                                        int64_t max_neighbors, void* src_ptr, void* workspace,
                                        size_t workspace_bytes, gk_nl_report* report,
                                        void* stream);

/**
 * Pass 2 (brute-force walk, no workspace): writes the E edges (E = report->num_edges of the count)
 * in the documented order:
 * edge_src [E], edge_dst [E] (index_type), shifts [E,3] int32, edge_vec [E,3] fp32 = r (or NULL),
 * dst_perm [E] (index_type, or NULL): the edges with destination i in increasing position are
 * dst_perm[src_ptr[i] .. src_ptr[i+1]-1]. batch, cutoff and src_ptr must be those of the count
 * (unchanged positions and cells); their contents are trusted. Stream-ordered, no synchronisation.
 */
GK_API gk_status gk_neighbor_list_fill(const gk_nl_batch* batch, double cutoff,
                                       const void* src_ptr, int64_t num_edges, void* edge_src,
                                       void* edge_dst, int32_t* shifts, float* edge_vec,
                                       void* dst_perm, void* stream);

/**
 * Pass 2 with the cell list: as gk_neighbor_list_fill, plus the workspace the count of the same
 * batch and cutoff left behind (unchanged since: it holds the bins), workspace_bytes >= the
 * gk_neighbor_list_workspace_size. Same output, bit for bit. Stream-ordered, no synchronisation.
 */
GK_API gk_status gk_neighbor_list_fill_ws(const gk_nl_batch* batch, double cutoff,
                                          const void* src_ptr, const void* workspace,
                                          size_t workspace_bytes, int64_t num_edges,
                                          void* edge_src, void* edge_dst, int32_t* shifts,
                                          float* edge_vec, void* dst_perm, void* stream);
/* (end of neighbour list section) */

/* ---------------------------------------------------------------- force/stress readout ----- */
/*
 * Fused force/stress readout for a batch of atomic structures (docs/force_stress.md).
 *
 * Edge e = (src i, dst j) with r_e = x_j - x_i + S_e . L_b (rows of the cell L_b are lattice
 * vectors, S_e the integer image shift). From a per-edge quantity g_e, in one pass:
 *   F_i     = sum_{e: src=i} g_e - sum_{e: dst=i} g_e                     [N,3] fp32
 *   Sigma_b = sum_{e in b} r_e (x) g_e   (fp64)                            per structure b
 *   stress  = Sigma_b / V_b  (ASE sign, eV/A^3; V_b = |det L_b|; 0 for non-periodic structures)
 *   virial  = -Sigma_b       (LAMMPS sign, eV; GK_FS_VIRIAL)
 *   per-atom virial W_i = -1/2 sum_{e: src=i or dst=i} r_e (x) g_e  (LAMMPS convention, eV)
 * Deterministic (default): no atomics, bitwise identical run to run. GK_FS_FAST: atomics,
 * not reproducible in the last bits. The backward (gk_force_stress_backward) is a pure per-edge
 * gather, always deterministic.
 */

/** What the per-edge quantity is. */
typedef enum gk_fs_mode {
    GK_FS_CONSERVATIVE = 0,  /* edge_quantity = g_e = dE/dr_e, [E,3]                    */
    GK_FS_DIRECT = 1         /* edge_quantity = s_e, [E]; g_e = s_e r_e/|r_e| (0 if r_e = 0) */
} gk_fs_mode;

/** How each 3x3 tensor (stress/virial per structure, virial per atom) is written. */
typedef enum gk_fs_layout {
    GK_FS_TENSOR = 0,          /* 9 values, row-major 3x3, as accumulated (not symmetrised)  */
    GK_FS_VOIGT_ASE = 1,       /* xx yy zz yz xz xy; off-diagonals (t_ab + t_ba) / 2          */
    GK_FS_VOIGT_LAMMPS = 2,    /* xx yy zz xy xz yz                                          */
    GK_FS_VOIGT_SEVENNET = 3   /* xx yy zz xy yz zx (order only: the sign stays as selected) */
} gk_fs_layout;

/** Flags of gk_force_stress_readout (bitwise or). */
typedef enum gk_fs_flags {
    GK_FS_VIRIAL = 1,  /* write the virial -Sigma (eV) instead of the stress                       */
    GK_FS_GPA = 2,     /* stress in GPa (x 160.21766208) instead of eV/A^3                         */
    GK_FS_FAST = 4     /* atomics (fp32 forces, one fp64 atomic per block/graph/component for the
                          stress): NOT bitwise reproducible run to run; readout only              */
} gk_fs_flags;

/**
 * Batch topology (device pointers; every index array of index_type). Atoms of structure b are
 * [graph_atom_ptr[b], graph_atom_ptr[b+1]). Edges are sorted by source atom: the out-edges of atom
 * i are [src_ptr[i], src_ptr[i+1]) and edge_src[e] repeats that; since atoms are grouped by
 * structure, edges are then sorted by structure too (the per-graph edge pointer is
 * src_ptr[graph_atom_ptr[b]]). Edges with destination i are dst_perm[dst_ptr[i] ..
 * dst_ptr[i+1]-1], in increasing edge order. Both endpoints of an edge are in the same structure.
 * gk_force_stress_validate checks all of this on the device; the readout trusts it.
 */
typedef struct gk_fs_topology {
    int64_t num_atoms;          /* N */
    int64_t num_edges;          /* E */
    int64_t num_graphs;         /* B */
    int32_t index_type;         /* gk_index_type */
    int32_t reserved;           /* must be 0 */
    const void* graph_atom_ptr; /* [B + 1] */
    const void* src_ptr;        /* [N + 1] */
    const void* edge_src;       /* [E] */
    const void* edge_dst;       /* [E] */
    const void* dst_ptr;        /* [N + 1] */
    const void* dst_perm;       /* [E] */
} gk_fs_topology;

/**
 * Geometry (device pointers, fp32). Either edge_vec [E,3] = r_e, with positions and shifts NULL;
 * or edge_vec NULL and r_e = (x[dst] - x[src]) + S_e . L_b computed in the kernel from positions
 * [N,3], shifts [E,3] (integer-valued image shifts as floats) and cell. cell [B,3,3] (rows are
 * lattice vectors) is required for stress and with positions; it may be NULL for virial-only
 * output from edge_vec. periodic [B] (0 = not periodic: stress 0, no volume needed) may be NULL
 * (every structure periodic).
 */
typedef struct gk_fs_geometry {
    const float* edge_vec;
    const float* positions;
    const float* shifts;
    const float* cell;
    const uint8_t* periodic;
} gk_fs_geometry;

/** Workspace gk_force_stress_readout needs with a stress output: 9 * num_atoms doubles
 *  (deterministic), 9 * num_graphs doubles with GK_FS_FAST in flags. */
GK_API gk_status gk_force_stress_workspace_size(const gk_fs_topology* topology, uint32_t flags,
                                                size_t* bytes);

/** Workspace gk_force_stress_validate needs, in bytes (small, constant). */
GK_API gk_status gk_force_stress_validate_workspace_size(size_t* bytes);

/**
 * Checks a topology (and, if geometry is not NULL, its cells) on the device: pointer arrays
 * non-decreasing from 0 to their totals, edges sorted by source and consistent with src_ptr, every
 * index in range, no edge joining two structures, dst_perm/dst_ptr exactly the edges by
 * destination; cells finite, periodic cells with non-zero volume (|det L| > 1e-12 |a||b||c|).
 * GK_ERROR_INVALID_GRAPH (topology) or GK_ERROR_INVALID_ARGUMENT (cell) naming the first bad entry.
 * workspace: at least gk_force_stress_validate_workspace_size bytes, 8-byte aligned.
 * SYNCHRONISES the stream (it reads the verdict back).
 */
GK_API gk_status gk_force_stress_validate(const gk_fs_topology* topology,
                                          const gk_fs_geometry* geometry, void* workspace,
                                          size_t workspace_bytes, void* stream);

/**
 * The readout. mode: gk_fs_mode; edge_quantity: [E,3] (conservative) or [E] (direct);
 * layout: gk_fs_layout of stress and atom_virial; flags: gk_fs_flags.
 * forces [N,3]: fully overwritten. stress: NULL (forces only) or [B, 9|6]. atom_virial: NULL or
 * [N, 9|6]. workspace: gk_force_stress_workspace_size bytes, 8-byte aligned, when stress is not
 * NULL (otherwise ignored). Outputs must not overlap each other or the inputs.
 * Topology contents and cells are trusted (run gk_force_stress_validate once per neighbour list);
 * values (positions, g_e, s_e) are not checked. Stream-ordered, no synchronisation.
 */
GK_API gk_status gk_force_stress_readout(const gk_fs_topology* topology,
                                         const gk_fs_geometry* geometry, int32_t mode,
                                         const float* edge_quantity, int32_t layout,
                                         uint32_t flags, float* forces, float* stress,
                                         float* atom_virial, void* workspace,
                                         size_t workspace_bytes, void* stream);

/**
 * Backward of gk_force_stress_readout (first order; a pure per-edge gather, no atomics, bitwise
 * reproducible, no workspace). topology, geometry, mode, edge_quantity, layout and flags are those
 * of the forward (GK_FS_FAST is refused: the gradient does not depend on the reduction order).
 * grad_forces: G = dL/dF, [N,3], or NULL (zero). grad_stress: H = dL/d(stress output) [B, 9|6] in
 * the forward's layout, flags and units (the gradient of exactly what the forward wrote: a Voigt
 * off-diagonal slot h gives h/2 to both (a,b) and (b,a); GK_FS_GPA folds 160.21766208, stress
 * folds 1/V_b, non-periodic structures give 0, GK_FS_VIRIAL folds -1), or NULL (zero). With
 * K_b = (that factor) x H_b as a 3x3:
 *   u_e = dL/dg_e = G[src] - G[dst] + K_b^T r_e
 *   conservative: grad_quantity [E,3] = u_e;   direct: grad_quantity [E] = dL/ds_e = u_e . r_e/|r_e|
 *   grad_edge_vec (NULL or [E,3]) = dL/dr_e = K_b g_e  (+ (s_e/|r_e|)(u_e - (u_e . r^_e) r^_e) direct)
 * dL/dr_e is per edge whatever the geometry source (chain to positions/cell yourself: dL/dx_dst
 * += dL/dr_e, dL/dx_src -= dL/dr_e). The dependence of V_b on the cell is not differentiated. The
 * per-atom virial has no backward. Outputs must not overlap each other or the inputs. The cell is
 * needed when grad_stress is given for a stress (not virial) output, and with positions.
 */
GK_API gk_status gk_force_stress_backward(const gk_fs_topology* topology,
                                          const gk_fs_geometry* geometry, int32_t mode,
                                          const float* edge_quantity, int32_t layout,
                                          uint32_t flags, const float* grad_forces,
                                          const float* grad_stress, float* grad_quantity,
                                          float* grad_edge_vec, void* stream);
/**
 * BENCHMARK BASELINE ONLY (issue 5; kernels/force_stress_unfused.cuh): the readout as the unfused
 * three-launch sequence, for bench/GraphKernels.Bench/ForceStressBenchmark.cs. Direct mode with
 * edge vectors given: launch 1 writes g_e = s_e r_e/|r_e| to g [E,3], launch 2 scatters forces with
 * fp32 atomics (forces zeroed first, NOT bitwise reproducible), launch 3 reduces stress per graph.
 * topology: as for gk_force_stress_readout (only graph_atom_ptr, src_ptr, edge_src, edge_dst are
 * read; contents trusted). edge_vec [E,3], s [E], cell [B,3,3] (every structure periodic). Outputs:
 * g [E,3] (scratch, overwritten), forces [N,3], stress [B,9] (3x3 row-major, eV/A^3, ASE sign).
 * Use gk_force_stress_readout for real work.
 */
GK_API gk_status gk_force_stress_unfused_baseline(const gk_fs_topology* topology,
                                                  const float* edge_vec, const float* cell,
                                                  const float* s, float* g, float* forces,
                                                  float* stress, void* stream);

/**
 * The fused readout head of direct mode (docs/force_stress.md, "Fused readout head"):
 * s_e = sum_c features[e * ld + c] * weight[c] + bias[0], computed inside the readout (fp32 FMAs
 * over c in increasing order, then + b), so s_e is never written to memory. Device pointers, fp32,
 * per-edge rows in the topology's (source-sorted) edge order.
 */
typedef struct gk_fs_head {
    const float* features;  /* h [E, ld]: row e at features + e * ld; may be NULL only if E = 0 */
    const float* weight;    /* w [channels], never NULL                                        */
    const float* bias;      /* [1] device scalar b, or NULL (b = 0)                            */
    int64_t channels;       /* C >= 1                                                          */
    int64_t ld;             /* leading dimension of features, >= C                             */
} gk_fs_head;

/** Outputs of gk_force_stress_backward_head; each may be NULL (not computed). Overwritten. */
typedef struct gk_fs_head_grad {
    float* grad_scalar;     /* dL/ds_e [E]                                                     */
    float* grad_features;   /* dL/dh [E, grad_ld] = dL/ds_e * w (columns >= C untouched)        */
    int64_t grad_ld;        /* leading dimension of grad_features, >= channels (if given)      */
    float* grad_weight;     /* dL/dw [channels] = sum_e dL/ds_e h_e  (two-phase, deterministic) */
    float* grad_bias;       /* dL/db [1] = sum_e dL/ds_e                                       */
} gk_fs_head_grad;

/**
 * gk_force_stress_readout in direct mode with s_e from the head (same topology, geometry, layout,
 * flags, outputs and workspace as gk_force_stress_readout; GK_FS_FAST allowed). head: channels
 * >= 1, ld >= channels, weight not NULL, pointers 4-byte aligned; outputs must not overlap the
 * head's arrays. Values are not checked.
 */
GK_API gk_status gk_force_stress_readout_head(const gk_fs_topology* topology,
                                              const gk_fs_geometry* geometry,
                                              const gk_fs_head* head, int32_t layout,
                                              uint32_t flags, float* forces, float* stress,
                                              float* atom_virial, void* workspace,
                                              size_t workspace_bytes, void* stream);

/** Workspace gk_force_stress_backward_head needs for grad_weight / grad_bias:
 *  min(ceil(E / 256), 1024) x (channels + 1) doubles (0 when E = 0). */
GK_API gk_status gk_force_stress_backward_head_workspace_size(const gk_fs_topology* topology,
                                                              const gk_fs_head* head,
                                                              size_t* bytes);

/**
 * Backward of gk_force_stress_readout_head: as gk_force_stress_backward in direct mode with the
 * head's s_e (dL/ds_e = u_e . r^_e; grad_edge_vec = dL/dr_e including (s_e/|r_e|)(u_e - (u_e .
 * r^_e) r^_e)), plus dL/dh_e = dL/ds_e w (per-edge gather), dL/dw = sum_e dL/ds_e h_e and dL/db =
 * sum_e dL/ds_e by a two-phase reduction: fixed-order per-block fp64 partials in the workspace,
 * then a fixed-order pass over the blocks; bitwise reproducible, no atomics. grads: not NULL.
 * workspace: gk_force_stress_backward_head_workspace_size bytes, 8-byte aligned, when grad_weight
 * or grad_bias is requested (otherwise ignored). GK_FS_FAST is refused. Stream-ordered.
 */
GK_API gk_status gk_force_stress_backward_head(const gk_fs_topology* topology,
                                               const gk_fs_geometry* geometry,
                                               const gk_fs_head* head, int32_t layout,
                                               uint32_t flags, const float* grad_forces,
                                               const float* grad_stress,
                                               const gk_fs_head_grad* grads, float* grad_edge_vec,
                                               void* workspace, size_t workspace_bytes,
                                               void* stream);
/* (end of force/stress section) */

/* ---------------------------------------------------------------- quantization ------------- */
/*
 * Block-wise activation quantization (docs/quantization.md is the full definition).
 *
 * The logical [rows, cols] input (row-major, leading dimension ld >= cols) is read in flat order
 * i = r * cols + c and cut into blocks of B consecutive elements (the last may be partial). Block j
 * stores words_per_block = B * bits / 32 uint32 words of codes, LSB-first (element e of the block
 * has its code in word j * W + e * bits / 32 at bit (e * bits) % 32; padding codes are 0), and one
 * zero and one step (fp32, or bf16 bits as uint16). Dequantized value: zero + step * t[code], with
 * levels t_0 = 0 < ... < t_L = L (L = 2^bits - 1; uniform t_k = k, or the i-EXACT INT2 levels
 * {0, a, 3 - a, 3}, or a caller table). Statistics: zero = min (rounded down to bf16 for bf16
 * stats), step >= (max - zero) / L (rounded up), quantization uses the stored values, so
 * dequantization is unbiased. Stochastic rounding: code = k + [u < p] with u from
 * Philox4x32-10 keyed on (seed, offset, flat element index): the result does not depend on the
 * launch configuration. A block with a NaN/Inf element (or whose max - min overflows fp32) is
 * poisoned: zero = step = NaN, codes 0, dequantization gives NaN.
 */

/** Level placement. */
typedef enum gk_quant_levels {
    GK_QUANT_LEVELS_UNIFORM = 0,    /* t_k = k                                                     */
    GK_QUANT_LEVELS_CLIPNORM2 = 1,  /* bits = 2 only: {0, a, 3 - a, 3}, a = alpha or alpha(B)      */
    GK_QUANT_LEVELS_TABLE = 2       /* caller's level_table: 2^bits floats, t_0 = 0 < ... < t_L = L */
} gk_quant_levels;

/** What to quantize and how. Zero-initialise, then set the fields (0 picks the defaults noted). */
typedef struct gk_quant_desc {
    int64_t rows;               /* >= 0                                                       */
    int64_t cols;               /* >= 0                                                       */
    int64_t ld;                 /* leading dimension of the input, >= cols; 0 = cols          */
    int32_t bits;               /* 1, 2, 4 or 8                                               */
    int32_t block;              /* B: multiple of 32 in [32, 8192]; 0 = 1024                  */
    int32_t dtype;              /* gk_dtype of the input: F32, F16 or BF16                    */
    int32_t stats_dtype;        /* gk_dtype of zero/step: F32 (0, default) or BF16            */
    int32_t levels;             /* gk_quant_levels                                            */
    float alpha;                /* CLIPNORM2: in (0, 1.5); <= 0 = alpha(B) of i-EXACT's fit   */
    const float* level_table;   /* TABLE: 2^bits floats in HOST memory, read during the call  */
    int32_t max_grid;           /* 0 = automatic; > 0 caps the grid (tuning/testing; the
                                   output does not depend on it)                              */
    int32_t reserved;           /* must be 0                                                  */
} gk_quant_desc;

/** Sizes of a quantized tensor, from gk_quant_plan (nothing is allocated by the library). */
typedef struct gk_quant_layout {
    int64_t num_blocks;         /* ceil(rows * cols / B)                                      */
    int64_t words_per_block;    /* B * bits / 32                                              */
    int64_t packed_bytes;       /* num_blocks * words_per_block * 4                           */
    int64_t stats_bytes;        /* bytes of zero (and again of step): num_blocks * 4 or * 2   */
    int64_t total_bytes;        /* packed_bytes + 2 * stats_bytes                             */
    int64_t input_bytes;        /* rows * cols * sizeof(dtype) (dense)                        */
    int32_t block;              /* effective B                                                */
    float alpha;                /* effective a for CLIPNORM2 (0 otherwise)                    */
} gk_quant_layout;

/** i-EXACT's fitted alpha(B) = 0.83162565 + 0.02993653 ln(116.05528511 B) + 1.225e-5 B
 *  - 0.00171617 sqrt(B), B clamped to [4, 2047], computed in double and rounded to float. */
GK_API float gk_quant_alpha(int32_t block);

/** Validates desc and fills *layout. Host-only, no device work. */
GK_API gk_status gk_quant_plan(const gk_quant_desc* desc, gk_quant_layout* layout);

/**
 * Quantizes x ([rows, cols] of desc->dtype, leading dimension desc->ld) into packed
 * (packed_bytes), zero and step (num_blocks each, stats_dtype). Reads x once. seed and offset
 * select the random stream (change offset per call; the same (seed, offset) gives the same bytes).
 * Outputs must not overlap each other or x.
 */
GK_API gk_status gk_quant_quantize(const gk_quant_desc* desc, const void* x, uint32_t* packed,
                                   void* zero, void* step, uint64_t seed, uint64_t offset,
                                   void* stream);

/**
 * y[r, c] = zero[j] + step[j] * t[code of element i = r * cols + c], rounded to out_dtype
 * (F32, F16 or BF16), leading dimension ld_out >= cols (0 = cols). desc describes the quantized
 * tensor as it was quantized (desc->dtype and desc->ld are not used).
 */
GK_API gk_status gk_quant_dequantize(const gk_quant_desc* desc, const uint32_t* packed,
                                     const void* zero, const void* step, int32_t out_dtype,
                                     void* y, int64_t ld_out, void* stream);

/*
 * Random projection (EXACT, Liu et al. ICLR 2022): R in {+1/sqrt(K), -1/sqrt(K)}^{D x K}, a seeded
 * Rademacher matrix generated on the fly from Philox (never stored): entry (d, c) is negative iff
 * bit e = d * K + c is set, bit e being bit (e % 32) of word (e / 32) % 4 of
 * Philox4x32-10(counter = (e / 128, 0, 0x52505247, 0xFFFFFFFF), key = (lo(seed), hi(seed))).
 * E[R R^T] = I exactly on the diagonal (K * 1/K) and 0 off it, so x R R^T is an unbiased
 * reconstruction of x (per-element variance (|x|^2 - x_d^2) / K).
 * gk_quant_project: p[r, :] = x[r, :] R ([rows, D] -> [rows, K]); gk_quant_unproject:
 * x_hat[r, :] = p[r, :] R^T ([rows, K] -> [rows, D]). fp32, sums in ascending index order, then one
 * multiplication by fp32(1/sqrt(K)): the bytes depend only on the input and the seed.
 */
typedef struct gk_quant_proj_desc {
    int64_t rows;               /* >= 0                                                       */
    int32_t dim;                /* D >= 1 (the activation's width)                            */
    int32_t proj_dim;           /* K >= 1 (EXACT: D / 8); dim * proj_dim <= 262144            */
    uint64_t seed;              /* selects R (use a new seed per saved activation)            */
    int32_t max_grid;           /* 0 = automatic; > 0 caps the grid (the output does not depend on it) */
    int32_t reserved;           /* must be 0                                                  */
} gk_quant_proj_desc;

/** fp32(1 / sqrt(proj_dim)), the magnitude of R's entries (0 for proj_dim < 1). */
GK_API float gk_quant_projection_scale(int32_t proj_dim);

/** p = x R: x [rows, dim] fp32 with leading dimension ld_x (0 = dim), p [rows, proj_dim] with
 *  ld_p (0 = proj_dim). x and p must not overlap. */
GK_API gk_status gk_quant_project(const gk_quant_proj_desc* desc, const float* x, int64_t ld_x,
                                  float* p, int64_t ld_p, void* stream);

/** x_hat = p R^T: p [rows, proj_dim] fp32 with ld_p (0 = proj_dim), x_hat [rows, dim] with ld_x
 *  (0 = dim). Same desc (and seed) as the projection. p and x_hat must not overlap. */
GK_API gk_status gk_quant_unproject(const gk_quant_proj_desc* desc, const float* p, int64_t ld_p,
                                    float* x_hat, int64_t ld_x, void* stream);
/* (end of quantization section) */

#ifdef __cplusplus
}
#endif

#endif /* GRAPHKERNELS_H */
