// Quantization launchers: validate every argument, resolve the level table and alpha on the host,
// and launch gk::quantize_kernel / gk::dequantize_kernel (kernels/quantization.cuh) on the caller's
// stream. No allocation, no synchronisation.
#include <cmath>
#include <cstring>

#include "gk_runtime.h"
#include "quantization.cuh"
#include "validate.h"

namespace {

const char* const kPlan = "gk_quant_plan";
const char* const kQuant = "gk_quant_quantize";
const char* const kDequant = "gk_quant_dequantize";
const char* const kProject = "gk_quant_project";
const char* const kUnproject = "gk_quant_unproject";

constexpr int kDefaultBlock = 1024;
constexpr int64_t kMaxGridBlocks = int64_t{1} << 20;

size_t dtype_size(int32_t dtype) { return dtype == GK_DTYPE_F32 ? 4 : 2; }

bool is_16_or_32(int32_t dtype) {
    return dtype == GK_DTYPE_F32 || dtype == GK_DTYPE_F16 || dtype == GK_DTYPE_BF16;
}

double alpha_of_block(int32_t block) {
    double b = static_cast<double>(block);
    b = b < 4.0 ? 4.0 : (b > 2047.0 ? 2047.0 : b);
    return 0.83162565 + 0.02993653 * std::log(116.05528511 * b) + 1.225e-5 * b -
           0.00171617 * std::sqrt(b);
}

// Everything derived from a validated descriptor.
struct Resolved {
    int64_t rows, cols, ld, n;
    int32_t bits, block, dtype, stats_bf16, levels;
    int64_t num_blocks, words_per_block, packed_bytes, stats_bytes;
    float alpha;
    float table[gk::kQuantMaxLevels];
    float rdelta[gk::kQuantMaxLevels];
};

gk_status resolve(const char* op, const gk_quant_desc* d, bool need_dtype, Resolved& r) {
    if (d == nullptr) return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: desc is NULL", op);
    if (d->reserved != 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: desc->reserved = %d, must be 0", op,
                        d->reserved);
    if (d->rows < 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: desc->rows = %lld is negative", op,
                        static_cast<long long>(d->rows));
    if (d->cols < 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: desc->cols = %lld is negative", op,
                        static_cast<long long>(d->cols));
    r.ld = d->ld == 0 ? d->cols : d->ld;
    if (r.ld < d->cols)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: desc->ld = %lld is less than desc->cols = %lld", op,
                        static_cast<long long>(d->ld), static_cast<long long>(d->cols));
    if (d->bits != 1 && d->bits != 2 && d->bits != 4 && d->bits != 8)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: desc->bits = %d, must be 1, 2, 4 or 8",
                        op, d->bits);
    r.block = d->block == 0 ? kDefaultBlock : d->block;
    if (r.block < 32 || r.block > gk::kQuantMaxBlock || r.block % 32 != 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: desc->block = %d, must be a multiple of 32 in [32, %d] (0 = %d)", op,
                        d->block, gk::kQuantMaxBlock, kDefaultBlock);
    if (need_dtype) {
        if (!is_16_or_32(d->dtype))
            return gk::fail(d->dtype == GK_DTYPE_F64 ? GK_ERROR_UNSUPPORTED
                                                     : GK_ERROR_INVALID_ARGUMENT,
                            "%s: desc->dtype = %d, must be GK_DTYPE_F32 (0), F16 (1) or BF16 (2)",
                            op, d->dtype);
    }
    if (d->stats_dtype != GK_DTYPE_F32 && d->stats_dtype != GK_DTYPE_BF16)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                        "%s: desc->stats_dtype = %d, must be GK_DTYPE_F32 (0) or GK_DTYPE_BF16 (2)",
                        op, d->stats_dtype);
    if (d->max_grid < 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: desc->max_grid = %d is negative", op,
                        d->max_grid);
    if (d->rows > 0 && d->cols > 0 && d->rows > INT64_MAX / d->cols)
        return gk::fail(GK_ERROR_INDEX_OVERFLOW,
                        "%s: desc->rows * desc->cols (%lld * %lld) overflows int64", op,
                        static_cast<long long>(d->rows), static_cast<long long>(d->cols));

    r.rows = d->rows;
    r.cols = d->cols;
    r.n = d->rows * d->cols;
    r.bits = d->bits;
    r.dtype = d->dtype;
    r.stats_bf16 = d->stats_dtype == GK_DTYPE_BF16 ? 1 : 0;
    r.levels = d->levels;
    r.num_blocks = r.n == 0 ? 0 : (r.n - 1) / r.block + 1;
    r.words_per_block = static_cast<int64_t>(r.block) * r.bits / 32;
    r.stats_bytes = r.num_blocks * (r.stats_bf16 ? 2 : 4);
    if (r.num_blocks > INT64_MAX / 4 / r.words_per_block)
        return gk::fail(GK_ERROR_INDEX_OVERFLOW, "%s: packed size of %lld blocks overflows int64",
                        op, static_cast<long long>(r.num_blocks));
    r.packed_bytes = r.num_blocks * r.words_per_block * 4;

    const int L = (1 << r.bits) - 1;
    r.alpha = 0.0f;
    switch (d->levels) {
        case GK_QUANT_LEVELS_UNIFORM:
            for (int k = 0; k <= L; ++k) r.table[k] = static_cast<float>(k);
            break;
        case GK_QUANT_LEVELS_CLIPNORM2: {
            if (r.bits != 2)
                return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                                "%s: desc->levels = GK_QUANT_LEVELS_CLIPNORM2 needs bits = 2, "
                                "got bits = %d",
                                op, r.bits);
            if (std::isnan(d->alpha) || d->alpha >= 1.5f)
                return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                                "%s: desc->alpha = %g, must be in (0, 1.5) (or <= 0 for alpha(B))",
                                op, static_cast<double>(d->alpha));
            r.alpha = d->alpha > 0.0f ? d->alpha : static_cast<float>(alpha_of_block(r.block));
            r.table[0] = 0.0f;
            r.table[1] = r.alpha;
            r.table[2] = 3.0f - r.alpha;
            r.table[3] = 3.0f;
            break;
        }
        case GK_QUANT_LEVELS_TABLE: {
            if (d->level_table == nullptr)
                return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                                "%s: desc->level_table is NULL; GK_QUANT_LEVELS_TABLE needs %d "
                                "floats (host memory)",
                                op, L + 1);
            std::memcpy(r.table, d->level_table, sizeof(float) * static_cast<size_t>(L + 1));
            if (r.table[0] != 0.0f || r.table[L] != static_cast<float>(L))
                return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                                "%s: desc->level_table[0] = %g and [%d] = %g, must be 0 and %d",
                                op, static_cast<double>(r.table[0]), L,
                                static_cast<double>(r.table[L]), L);
            for (int k = 0; k < L; ++k) {
                if (!(r.table[k + 1] > r.table[k]))
                    return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                                    "%s: desc->level_table is not strictly increasing at index %d "
                                    "(%g after %g)",
                                    op, k + 1, static_cast<double>(r.table[k + 1]),
                                    static_cast<double>(r.table[k]));
            }
            break;
        }
        default:
            return gk::fail(GK_ERROR_INVALID_ARGUMENT,
                            "%s: desc->levels = %d is not a gk_quant_levels (0 = uniform, "
                            "1 = clipnorm2, 2 = table)",
                            op, d->levels);
    }
    for (int k = 0; k < L; ++k) r.rdelta[k] = 1.0f / (r.table[k + 1] - r.table[k]);
    r.rdelta[L] = 0.0f;
    return GK_SUCCESS;
}

int warps_per_cta(int block) {
    const int w = gk::kQuantMaxBlock / block;
    return w < 1 ? 1 : (w > 8 ? 8 : w);
}

unsigned grid_for(int64_t num_blocks, int warps, int32_t max_grid) {
    int64_t g = (num_blocks + warps - 1) / warps;
    if (g > kMaxGridBlocks) g = kMaxGridBlocks;
    if (max_grid > 0 && g > max_grid) g = max_grid;
    return static_cast<unsigned>(g < 1 ? 1 : g);
}

template <typename T, int BITS, bool UNIFORM>
cudaError_t launch_quant(const gk::QuantParams& p, unsigned grid, int warps, cudaStream_t s) {
    const size_t smem = sizeof(float) * ((UNIFORM ? 0 : gk::kQuantTableFloats) +
                                         static_cast<size_t>(warps) * (p.block + p.block / 32));
    return GK_LAUNCH((gk::quantize_kernel<T, BITS, UNIFORM>), dim3(grid), dim3(32 * warps), smem, s,
                     p);
}

template <typename T, int BITS>
cudaError_t quant_levels(bool uniform, const gk::QuantParams& p, unsigned grid, int warps,
                         cudaStream_t s) {
    return uniform ? launch_quant<T, BITS, true>(p, grid, warps, s)
                   : launch_quant<T, BITS, false>(p, grid, warps, s);
}

template <typename T>
cudaError_t quant_bits(int bits, bool uniform, const gk::QuantParams& p, unsigned grid, int warps,
                       cudaStream_t s) {
    switch (bits) {
        case 1: return quant_levels<T, 1>(uniform, p, grid, warps, s);
        case 2: return quant_levels<T, 2>(uniform, p, grid, warps, s);
        case 4: return quant_levels<T, 4>(uniform, p, grid, warps, s);
        default: return quant_levels<T, 8>(uniform, p, grid, warps, s);
    }
}

template <typename TO, int BITS>
cudaError_t launch_dequant(const gk::DequantParams& p, unsigned grid, int warps, cudaStream_t s) {
    return GK_LAUNCH((gk::dequantize_kernel<TO, BITS>), dim3(grid), dim3(32 * warps), 0, s, p);
}

template <typename TO>
cudaError_t dequant_bits(int bits, const gk::DequantParams& p, unsigned grid, int warps,
                         cudaStream_t s) {
    switch (bits) {
        case 1: return launch_dequant<TO, 1>(p, grid, warps, s);
        case 2: return launch_dequant<TO, 2>(p, grid, warps, s);
        case 4: return launch_dequant<TO, 4>(p, grid, warps, s);
        default: return launch_dequant<TO, 8>(p, grid, warps, s);
    }
}

gk_status check_stats(const char* op, const char* name, const void* p, const Resolved& r) {
    if (r.num_blocks == 0) return GK_SUCCESS;
    if (p == nullptr)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s is NULL (%lld blocks)", op, name,
                        static_cast<long long>(r.num_blocks));
    const size_t a = r.stats_bf16 ? 2 : 4;
    if (!gk::aligned(p, a))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s (%p) is not aligned to %zu bytes", op,
                        name, p, a);
    return GK_SUCCESS;
}

gk_status check_packed(const char* op, const void* p, const Resolved& r) {
    if (r.num_blocks == 0) return GK_SUCCESS;
    if (p == nullptr)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: packed is NULL (%lld bytes needed)", op,
                        static_cast<long long>(r.packed_bytes));
    if (!gk::aligned(p, 4))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: packed (%p) is not 4-byte aligned", op,
                        p);
    return GK_SUCCESS;
}

float projection_scale(int32_t k) {
    return k < 1 ? 0.0f : static_cast<float>(1.0 / std::sqrt(static_cast<double>(k)));
}

// Validates and launches a projection (unproject = false) or its transpose.
gk_status run_projection(const char* op, bool unproject, const gk_quant_proj_desc* d,
                         const float* in, int64_t ld_in, float* out, int64_t ld_out, void* stream) {
    if (d == nullptr) return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: desc is NULL", op);
    if (d->reserved != 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: desc->reserved = %d, must be 0", op,
                        d->reserved);
    if (d->rows < 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: desc->rows = %lld is negative", op,
                        static_cast<long long>(d->rows));
    if (d->dim < 1)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: desc->dim = %d, must be >= 1", op, d->dim);
    if (d->proj_dim < 1)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: desc->proj_dim = %d, must be >= 1", op,
                        d->proj_dim);
    if (static_cast<int64_t>(d->dim) * d->proj_dim > gk::kRpMaxSignBits)
        return gk::fail(GK_ERROR_UNSUPPORTED,
                        "%s: desc->dim * desc->proj_dim = %d * %d exceeds %d (the sign bits of R "
                        "are kept in 32 KB of shared memory)",
                        op, d->dim, d->proj_dim, gk::kRpMaxSignBits);
    if (d->max_grid < 0)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: desc->max_grid = %d is negative", op,
                        d->max_grid);
    const int64_t in_cols = unproject ? d->proj_dim : d->dim;
    const int64_t out_cols = unproject ? d->dim : d->proj_dim;
    const char* in_name = unproject ? "p" : "x";
    const char* out_name = unproject ? "x_hat" : "p";
    const char* ld_in_name = unproject ? "ld_p" : "ld_x";
    const char* ld_out_name = unproject ? "ld_x" : "ld_p";
    const int64_t li = ld_in == 0 ? in_cols : ld_in;
    const int64_t lo = ld_out == 0 ? out_cols : ld_out;
    if (li < in_cols)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s = %lld is less than %lld columns", op,
                        ld_in_name, static_cast<long long>(ld_in), static_cast<long long>(in_cols));
    if (lo < out_cols)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s = %lld is less than %lld columns", op,
                        ld_out_name, static_cast<long long>(ld_out),
                        static_cast<long long>(out_cols));
    gk_status s = gk::check_matrix(op, in_name, ld_in_name, in, d->rows, in_cols, li, 4);
    if (s != GK_SUCCESS) return s;
    s = gk::check_matrix(op, out_name, ld_out_name, out, d->rows, out_cols, lo, 4);
    if (s != GK_SUCCESS) return s;
    if (gk::overlaps(in, gk::matrix_bytes(d->rows, in_cols, li, 4), out,
                     gk::matrix_bytes(d->rows, out_cols, lo, 4)))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s overlaps %s", op, out_name, in_name);
    if (d->rows == 0) return GK_SUCCESS;

    gk::ProjParams p;
    std::memset(&p, 0, sizeof p);
    p.rows = d->rows;
    p.ld_in = li;
    p.ld_out = lo;
    p.in = in;
    p.out = out;
    p.seed = d->seed;
    p.dim = d->dim;
    p.proj_dim = d->proj_dim;
    p.sign_words = static_cast<int32_t>((static_cast<int64_t>(d->dim) * d->proj_dim + 31) / 32);
    p.scale = projection_scale(d->proj_dim);

    // 8 warps per CTA, at least 4 rows per warp so the per-CTA sign generation stays amortised.
    const int warps = 8;
    int64_t g = (d->rows + 4 * warps - 1) / (4 * warps);
    if (g > 65535) g = 65535;
    if (d->max_grid > 0 && g > d->max_grid) g = d->max_grid;
    const size_t smem = sizeof(uint32_t) * (static_cast<size_t>(p.sign_words) + 1);
    const cudaStream_t st = gk::as_stream(stream);
    const cudaError_t err =
        unproject ? GK_LAUNCH((gk::projection_kernel<true>), dim3(static_cast<unsigned>(g)),
                              dim3(32 * warps), smem, st, p)
                  : GK_LAUNCH((gk::projection_kernel<false>), dim3(static_cast<unsigned>(g)),
                              dim3(32 * warps), smem, st, p);
    if (err != cudaSuccess) return gk::fail_cuda(err, op);
    return GK_SUCCESS;
}

}  // namespace

extern "C" {

GK_API float gk_quant_alpha(int32_t block) { return static_cast<float>(alpha_of_block(block)); }

GK_API gk_status gk_quant_plan(const gk_quant_desc* desc, gk_quant_layout* layout) {
    GK_ABI_BEGIN
    if (layout == nullptr) return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: layout is NULL", kPlan);
    Resolved r{};
    const gk_status s = resolve(kPlan, desc, true, r);
    if (s != GK_SUCCESS) return s;
    // Every layout field must be an int64 (rows * cols near 2^62 made input_bytes and total_bytes
    // signed overflows; found by tests/fuzz/fuzz_quant_plan).
    int64_t input_bytes = 0, total_bytes = 0;
    if (__builtin_mul_overflow(r.n, static_cast<int64_t>(dtype_size(r.dtype)), &input_bytes) ||
        __builtin_add_overflow(r.packed_bytes, 2 * r.stats_bytes, &total_bytes))
        return gk::fail(GK_ERROR_INDEX_OVERFLOW,
                        "%s: desc->rows * desc->cols = %lld elements: the byte sizes overflow int64",
                        kPlan, static_cast<long long>(r.n));
    layout->num_blocks = r.num_blocks;
    layout->words_per_block = r.words_per_block;
    layout->packed_bytes = r.packed_bytes;
    layout->stats_bytes = r.stats_bytes;
    layout->total_bytes = total_bytes;
    layout->input_bytes = input_bytes;
    layout->block = r.block;
    layout->alpha = r.alpha;
    return GK_SUCCESS;
    GK_ABI_END
}

GK_API gk_status gk_quant_quantize(const gk_quant_desc* desc, const void* x, uint32_t* packed,
                                   void* zero, void* step, uint64_t seed, uint64_t offset,
                                   void* stream) {
    GK_ABI_BEGIN
    Resolved r{};
    gk_status s = resolve(kQuant, desc, true, r);
    if (s != GK_SUCCESS) return s;
    const size_t esz = dtype_size(r.dtype);
    s = gk::check_matrix(kQuant, "x", "desc->ld", x, r.cols > 0 ? r.rows : 0, r.cols, r.ld, esz);
    if (s != GK_SUCCESS) return s;
    if ((s = check_packed(kQuant, packed, r)) != GK_SUCCESS) return s;
    if ((s = check_stats(kQuant, "zero", zero, r)) != GK_SUCCESS) return s;
    if ((s = check_stats(kQuant, "step", step, r)) != GK_SUCCESS) return s;
    const int64_t x_bytes = gk::matrix_bytes(r.cols > 0 ? r.rows : 0, r.cols, r.ld, esz);
    const struct { const char* name; const void* p; int64_t bytes; } outs[] = {
        {"packed", packed, r.packed_bytes}, {"zero", zero, r.stats_bytes},
        {"step", step, r.stats_bytes}};
    for (int a = 0; a < 3; ++a) {
        if (gk::overlaps(outs[a].p, outs[a].bytes, x, x_bytes))
            return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s overlaps x", kQuant, outs[a].name);
        for (int b = a + 1; b < 3; ++b) {
            if (gk::overlaps(outs[a].p, outs[a].bytes, outs[b].p, outs[b].bytes))
                return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: %s overlaps %s", kQuant,
                                outs[a].name, outs[b].name);
        }
    }
    if (r.num_blocks == 0) return GK_SUCCESS;

    gk::QuantParams p;
    std::memset(&p, 0, sizeof p);
    p.n = r.n;
    p.cols = r.ld == r.cols ? r.n : r.cols;   // contiguous: one long row, no wrapping
    p.ld = r.ld;
    p.num_blocks = r.num_blocks;
    p.x = x;
    p.packed = packed;
    p.zero = zero;
    p.step = step;
    p.seed = seed;
    p.offset = offset;
    p.block = r.block;
    p.words_per_block = static_cast<int32_t>(r.words_per_block);
    p.stats_bf16 = r.stats_bf16;
    p.num_levels = 1 << r.bits;
    std::memcpy(p.levels, r.table, sizeof p.levels);
    std::memcpy(p.rdelta, r.rdelta, sizeof p.rdelta);

    const int warps = warps_per_cta(r.block);
    const unsigned grid = grid_for(r.num_blocks, warps, desc->max_grid);
    const bool uniform = r.levels == GK_QUANT_LEVELS_UNIFORM;
    const cudaStream_t st = gk::as_stream(stream);
    cudaError_t err;
    switch (r.dtype) {
        case GK_DTYPE_F16: err = quant_bits<__half>(r.bits, uniform, p, grid, warps, st); break;
        case GK_DTYPE_BF16:
            err = quant_bits<__nv_bfloat16>(r.bits, uniform, p, grid, warps, st);
            break;
        default: err = quant_bits<float>(r.bits, uniform, p, grid, warps, st); break;
    }
    if (err != cudaSuccess) return gk::fail_cuda(err, kQuant);
    return GK_SUCCESS;
    GK_ABI_END
}

GK_API gk_status gk_quant_dequantize(const gk_quant_desc* desc, const uint32_t* packed,
                                     const void* zero, const void* step, int32_t out_dtype,
                                     void* y, int64_t ld_out, void* stream) {
    GK_ABI_BEGIN
    Resolved r{};
    gk_status s = resolve(kDequant, desc, false, r);
    if (s != GK_SUCCESS) return s;
    if (!is_16_or_32(out_dtype))
        return gk::fail(out_dtype == GK_DTYPE_F64 ? GK_ERROR_UNSUPPORTED
                                                  : GK_ERROR_INVALID_ARGUMENT,
                        "%s: out_dtype = %d, must be GK_DTYPE_F32 (0), F16 (1) or BF16 (2)",
                        kDequant, out_dtype);
    const int64_t ld = ld_out == 0 ? r.cols : ld_out;
    if (ld < r.cols)
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: ld_out = %lld is less than desc->cols = %lld",
                        kDequant, static_cast<long long>(ld_out), static_cast<long long>(r.cols));
    const size_t esz = dtype_size(out_dtype);
    s = gk::check_matrix(kDequant, "y", "ld_out", y, r.cols > 0 ? r.rows : 0, r.cols, ld, esz);
    if (s != GK_SUCCESS) return s;
    if ((s = check_packed(kDequant, packed, r)) != GK_SUCCESS) return s;
    if ((s = check_stats(kDequant, "zero", zero, r)) != GK_SUCCESS) return s;
    if ((s = check_stats(kDequant, "step", step, r)) != GK_SUCCESS) return s;
    const int64_t y_bytes = gk::matrix_bytes(r.cols > 0 ? r.rows : 0, r.cols, ld, esz);
    if (gk::overlaps(y, y_bytes, packed, r.packed_bytes))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: y overlaps packed", kDequant);
    if (gk::overlaps(y, y_bytes, zero, r.stats_bytes) ||
        gk::overlaps(y, y_bytes, step, r.stats_bytes))
        return gk::fail(GK_ERROR_INVALID_ARGUMENT, "%s: y overlaps zero or step", kDequant);
    if (r.num_blocks == 0) return GK_SUCCESS;

    gk::DequantParams p;
    std::memset(&p, 0, sizeof p);
    p.n = r.n;
    p.cols = ld == r.cols ? r.n : r.cols;
    p.ld = ld;
    p.num_blocks = r.num_blocks;
    p.packed = packed;
    p.zero = zero;
    p.step = step;
    p.y = y;
    p.block = r.block;
    p.words_per_block = static_cast<int32_t>(r.words_per_block);
    p.stats_bf16 = r.stats_bf16;
    p.num_levels = 1 << r.bits;
    std::memcpy(p.levels, r.table, sizeof p.levels);

    const int warps = 8;
    const unsigned grid = grid_for(r.num_blocks, warps, desc->max_grid);
    const cudaStream_t st = gk::as_stream(stream);
    cudaError_t err;
    switch (out_dtype) {
        case GK_DTYPE_F16: err = dequant_bits<__half>(r.bits, p, grid, warps, st); break;
        case GK_DTYPE_BF16: err = dequant_bits<__nv_bfloat16>(r.bits, p, grid, warps, st); break;
        default: err = dequant_bits<float>(r.bits, p, grid, warps, st); break;
    }
    if (err != cudaSuccess) return gk::fail_cuda(err, kDequant);
    return GK_SUCCESS;
    GK_ABI_END
}

GK_API float gk_quant_projection_scale(int32_t proj_dim) { return projection_scale(proj_dim); }

GK_API gk_status gk_quant_project(const gk_quant_proj_desc* desc, const float* x, int64_t ld_x,
                                  float* p, int64_t ld_p, void* stream) {
    GK_ABI_BEGIN
    return run_projection(kProject, false, desc, x, ld_x, p, ld_p, stream);
    GK_ABI_END
}

GK_API gk_status gk_quant_unproject(const gk_quant_proj_desc* desc, const float* p, int64_t ld_p,
                                    float* x_hat, int64_t ld_x, void* stream) {
    GK_ABI_BEGIN
    return run_projection(kUnproject, true, desc, p, ld_p, x_hat, ld_x, stream);
    GK_ABI_END
}

}  // extern "C"
