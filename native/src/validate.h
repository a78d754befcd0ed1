// Argument checks shared by every launcher. Each returns GK_SUCCESS or a status with a sentence
// naming the argument and the offending value (through gk::fail).
#ifndef GK_VALIDATE_H
#define GK_VALIDATE_H

#include <cstdint>

#include "gk_runtime.h"

namespace gk {

inline int64_t index_max(int32_t index_type) {
    return index_type == GK_INDEX_INT32 ? INT32_MAX : INT64_MAX;
}

inline size_t index_size(int32_t index_type) { return index_type == GK_INDEX_INT32 ? 4 : 8; }

inline bool aligned(const void* p, size_t bytes) {
    return reinterpret_cast<uintptr_t>(p) % bytes == 0;
}

// The CSR descriptor itself (not its contents on the device: that is gk_csr_validate's job).
inline gk_status check_csr_header(const gk_csr* csr, const char* op) {
    if (csr == nullptr) return fail(GK_ERROR_INVALID_ARGUMENT, "%s: csr is NULL", op);
    if (csr->index_type != GK_INDEX_INT32 && csr->index_type != GK_INDEX_INT64)
        return fail(GK_ERROR_INVALID_ARGUMENT,
                    "%s: csr->index_type = %d is not a gk_index_type (0 = int32, 1 = int64)", op,
                    csr->index_type);
    if (csr->reserved != 0)
        return fail(GK_ERROR_INVALID_ARGUMENT, "%s: csr->reserved = %d, must be 0", op,
                    csr->reserved);
    if (csr->num_rows < 0)
        return fail(GK_ERROR_INVALID_ARGUMENT, "%s: csr->num_rows = %lld is negative", op,
                    static_cast<long long>(csr->num_rows));
    if (csr->num_cols < 0)
        return fail(GK_ERROR_INVALID_ARGUMENT, "%s: csr->num_cols = %lld is negative", op,
                    static_cast<long long>(csr->num_cols));
    if (csr->nnz < 0)
        return fail(GK_ERROR_INVALID_ARGUMENT, "%s: csr->nnz = %lld is negative", op,
                    static_cast<long long>(csr->nnz));
    const int64_t lim = index_max(csr->index_type);
    // row_ptr holds values up to nnz and has num_rows + 1 entries; col_idx holds values < num_cols.
    if (csr->nnz > lim || csr->num_rows >= lim || csr->num_cols > lim)
        return fail(GK_ERROR_INDEX_OVERFLOW,
                    "%s: csr sizes (num_rows = %lld, num_cols = %lld, nnz = %lld) do not fit "
                    "int32 indices; use GK_INDEX_INT64",
                    op, static_cast<long long>(csr->num_rows),
                    static_cast<long long>(csr->num_cols), static_cast<long long>(csr->nnz));
    if (csr->row_ptr == nullptr)
        return fail(GK_ERROR_INVALID_ARGUMENT, "%s: csr->row_ptr is NULL", op);
    if (csr->col_idx == nullptr && csr->nnz > 0)
        return fail(GK_ERROR_INVALID_ARGUMENT, "%s: csr->col_idx is NULL but nnz = %lld", op,
                    static_cast<long long>(csr->nnz));
    const size_t isz = index_size(csr->index_type);
    if (!aligned(csr->row_ptr, isz) || (csr->col_idx != nullptr && !aligned(csr->col_idx, isz)))
        return fail(GK_ERROR_INVALID_ARGUMENT,
                    "%s: csr->row_ptr (%p) and csr->col_idx (%p) must be aligned to %zu bytes", op,
                    csr->row_ptr, csr->col_idx, isz);
    return GK_SUCCESS;
}

// A row-major [rows, width] matrix with leading dimension ld of elem_size-byte elements.
// Checks ld >= width, that the last element's byte offset fits int64, and alignment.
inline gk_status check_matrix(const char* op, const char* name, const char* ld_name,
                              const void* p, int64_t rows, int64_t width, int64_t ld,
                              size_t elem_size) {
    if (ld < width)
        return fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s = %lld is less than feat = %lld", op,
                    ld_name, static_cast<long long>(ld), static_cast<long long>(width));
    if (rows == 0) return GK_SUCCESS;
    if (p == nullptr)
        return fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s is NULL (it has %lld rows)", op, name,
                    static_cast<long long>(rows));
    int64_t last = 0;
    if (__builtin_mul_overflow(rows - 1, ld, &last) || __builtin_add_overflow(last, width, &last) ||
        __builtin_mul_overflow(last, static_cast<int64_t>(elem_size), &last))
        return fail(GK_ERROR_INDEX_OVERFLOW,
                    "%s: %s of %lld rows with %s = %lld overflows 64-bit byte offsets", op, name,
                    static_cast<long long>(rows), ld_name, static_cast<long long>(ld));
    if (!aligned(p, elem_size))
        return fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s (%p) is not aligned to %zu bytes", op, name,
                    p, elem_size);
    return GK_SUCCESS;
}

// Byte extent [p, p + bytes) of a row-major matrix, for overlap checks.
inline bool overlaps(const void* a, int64_t a_bytes, const void* b, int64_t b_bytes) {
    if (a == nullptr || b == nullptr || a_bytes <= 0 || b_bytes <= 0) return false;
    const uintptr_t a0 = reinterpret_cast<uintptr_t>(a), b0 = reinterpret_cast<uintptr_t>(b);
    return a0 < b0 + static_cast<uintptr_t>(b_bytes) && b0 < a0 + static_cast<uintptr_t>(a_bytes);
}

inline int64_t matrix_bytes(int64_t rows, int64_t width, int64_t ld, size_t elem_size) {
    return rows == 0 ? 0 : ((rows - 1) * ld + width) * static_cast<int64_t>(elem_size);
}

}  // namespace gk

#endif  // GK_VALIDATE_H
