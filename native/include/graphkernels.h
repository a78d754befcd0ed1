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
    GK_MESSAGE_U_MUL_E = 1   /* X[u, :] * w[e]   (one scalar per edge)   */
} gk_message;

/** Reduction over the in-edges of each destination row. */
typedef enum gk_reduce {
    GK_REDUCE_SUM = 0,   /* empty row -> 0                                 */
    GK_REDUCE_MEAN = 1,  /* empty row -> 0 (sum / max(deg, 1))             */
    GK_REDUCE_MAX = 2,   /* empty row -> 0, arg -1; ties -> lowest position */
    GK_REDUCE_MIN = 3    /* empty row -> 0, arg -1; ties -> lowest position */
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

/* ---------------------------------------------------------------- force/stress readout ----- */
/* (end of force/stress section) */

/* ---------------------------------------------------------------- quantization ------------- */
/* (end of quantization section) */

#ifdef __cplusplus
}
#endif

#endif /* GRAPHKERNELS_H */
