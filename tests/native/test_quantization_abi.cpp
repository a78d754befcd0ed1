// C-level tests of the quantization C ABI against libgraphkernels_emulated (also run under
// ASan+UBSan and TSan, so kept small): round trip and bracketing, determinism across grid sizes,
// poisoned blocks, partial blocks and strided input, and argument errors leaving outputs untouched
// with a message naming the argument. Bit-exactness against an independent reference and the
// statistical tests live in the C# suite (tests/GraphKernels.Tests/Quantization).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "graphkernels.h"

#include "abi_check.h"

static gk_quant_desc desc(int64_t rows, int64_t cols, int64_t ld, int bits, int block) {
    gk_quant_desc d;
    std::memset(&d, 0, sizeof d);
    d.rows = rows;
    d.cols = cols;
    d.ld = ld;
    d.bits = bits;
    d.block = block;
    d.dtype = GK_DTYPE_F32;
    d.stats_dtype = GK_DTYPE_F32;
    d.levels = GK_QUANT_LEVELS_UNIFORM;
    return d;
}

struct Out {
    std::vector<uint32_t> packed;
    std::vector<float> zero, step;
};

static Out alloc(const gk_quant_desc& d) {
    gk_quant_layout l;
    const gk_status s = gk_quant_plan(&d, &l);
    CHECK(s == GK_SUCCESS, "plan: %s", gk_last_error_message());
    Out o;
    o.packed.assign(static_cast<size_t>(l.packed_bytes / 4), 0xDEADBEEFu);
    o.zero.assign(static_cast<size_t>(l.num_blocks), -1.0f);
    o.step.assign(static_cast<size_t>(l.num_blocks), -1.0f);
    return o;
}

static void round_trip() {
    const int64_t rows = 37, cols = 29, ld = 31;
    std::mt19937 rng(1);
    std::normal_distribution<float> g(0.0f, 2.0f);
    std::vector<float> x(static_cast<size_t>((rows - 1) * ld + cols), NAN);   // padding: NaN, never read
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) x[r * ld + c] = g(rng);
    x[5 * ld + 3] = 1e-42f;   // a subnormal

    const int bits_list[] = {1, 2, 4, 8};
    for (int bits : bits_list) {
        for (int levels = 0; levels < 2; ++levels) {
            if (levels == GK_QUANT_LEVELS_CLIPNORM2 && bits != 2) continue;
            gk_quant_desc d = desc(rows, cols, ld, bits, 64);
            d.levels = levels;
            Out a = alloc(d), b = alloc(d);
            CHECK(gk_quant_quantize(&d, x.data(), a.packed.data(), a.zero.data(), a.step.data(), 11, 3,
                                    nullptr) == GK_SUCCESS,
                  "quantize bits %d: %s", bits, gk_last_error_message());
            d.max_grid = 1;   // one CTA: the same bytes
            CHECK(gk_quant_quantize(&d, x.data(), b.packed.data(), b.zero.data(), b.step.data(), 11, 3,
                                    nullptr) == GK_SUCCESS,
                  "quantize max_grid 1: %s", gk_last_error_message());
            CHECK(a.packed == b.packed && a.zero == b.zero && a.step == b.step,
                  "bits %d levels %d: output depends on the grid", bits, levels);

            const int64_t ld_out = 40;
            std::vector<float> y(static_cast<size_t>((rows - 1) * ld_out + cols), 777.0f);
            CHECK(gk_quant_dequantize(&d, a.packed.data(), a.zero.data(), a.step.data(), GK_DTYPE_F32,
                                      y.data(), ld_out, nullptr) == GK_SUCCESS,
                  "dequantize: %s", gk_last_error_message());
            const int L = (1 << bits) - 1;
            for (int64_t r = 0; r < rows; ++r) {
                for (int64_t c = 0; c < ld_out && (r + 1 < rows || c < cols); ++c) {
                    const float v = y[r * ld_out + c];
                    if (c >= cols) {
                        CHECK(v == 777.0f, "y padding (%lld, %lld) written", (long long)r, (long long)c);
                        continue;
                    }
                    const int64_t i = r * cols + c, j = i / 64;
                    const float xv = x[r * ld + c], z = a.zero[j], st = a.step[j];
                    CHECK(z <= xv && double(z) + double(L) * st >= double(xv) - 0.0, "stats bracket");
                    // Any level lies within one (non-uniform: 1.5) step of the value.
                    CHECK(std::fabs(double(v) - xv) <= st * (levels ? 1.5 : 1.0) * (1 + 1e-6),
                          "bits %d: element (%lld, %lld) %g -> %g, step %g", bits, (long long)r,
                          (long long)c, double(xv), double(v), double(st));
                }
            }
        }
    }
}

static void poison_and_partial() {
    std::vector<float> x(100);
    for (int i = 0; i < 100; ++i) x[i] = float(i % 7) - 3.0f;
    x[40] = INFINITY;   // block 1 of 32
    gk_quant_desc d = desc(1, 100, 0, 2, 32);
    Out o = alloc(d);
    CHECK(o.zero.size() == 4, "4 blocks");
    CHECK(gk_quant_quantize(&d, x.data(), o.packed.data(), o.zero.data(), o.step.data(), 1, 1,
                            nullptr) == GK_SUCCESS,
          "%s", gk_last_error_message());
    CHECK(std::isnan(o.zero[1]) && std::isnan(o.step[1]), "block with Inf is poisoned");
    CHECK(o.packed[2] == 0 && o.packed[3] == 0, "poisoned block codes are 0");
    CHECK(!std::isnan(o.zero[0]) && !std::isnan(o.zero[3]), "other blocks are not");
    // Last block holds elements 96..99: codes of the 28 padding elements are 0.
    CHECK((o.packed[6] >> 8) == 0 && o.packed[7] == 0, "padding codes are 0 (0x%08x 0x%08x)",
          o.packed[6], o.packed[7]);
    std::vector<float> y(100);
    CHECK(gk_quant_dequantize(&d, o.packed.data(), o.zero.data(), o.step.data(), GK_DTYPE_F32,
                              y.data(), 0, nullptr) == GK_SUCCESS,
          "%s", gk_last_error_message());
    for (int i = 32; i < 64; ++i) CHECK(std::isnan(y[i]), "poisoned element %d is NaN", i);
    CHECK(y[0] == -3.0f, "block minimum reconstructs exactly (%g)", double(y[0]));
}

static void bad_arguments() {
    std::vector<float> x(64, 1.0f);
    gk_quant_desc good = desc(2, 32, 0, 2, 32);
    Out o = alloc(good);
    const std::vector<uint32_t> p0 = o.packed;
    const std::vector<float> z0 = o.zero, s0 = o.step;

    struct Bad {
        const char* says;
        gk_quant_desc d;
        const void* x;
        uint32_t* packed;
        gk_status want;
    };
    std::vector<Bad> bad;
    auto add = [&](const char* says, gk_quant_desc d, const void* xp, uint32_t* pp,
                   gk_status want = GK_ERROR_INVALID_ARGUMENT) { bad.push_back({says, d, xp, pp, want}); };
    gk_quant_desc d = good;
    d.bits = 3;
    add("desc->bits = 3", d, x.data(), o.packed.data());
    d = good;
    d.block = 48;
    add("desc->block = 48", d, x.data(), o.packed.data());
    d = good;
    d.ld = 31;
    add("desc->ld = 31", d, x.data(), o.packed.data());
    d = good;
    d.levels = GK_QUANT_LEVELS_CLIPNORM2;
    d.bits = 4;
    add("needs bits = 2", d, x.data(), o.packed.data());
    d = good;
    d.reserved = 1;
    add("desc->reserved = 1", d, x.data(), o.packed.data());
    d = good;
    d.dtype = GK_DTYPE_F64;
    add("desc->dtype = 3", d, x.data(), o.packed.data(), GK_ERROR_UNSUPPORTED);
    d = good;
    d.stats_dtype = GK_DTYPE_F16;
    add("desc->stats_dtype = 1", d, x.data(), o.packed.data());
    d = good;
    d.levels = GK_QUANT_LEVELS_TABLE;
    const float table[4] = {0.0f, 2.0f, 1.0f, 3.0f};
    d.level_table = table;
    add("not strictly increasing at index 2", d, x.data(), o.packed.data());
    add("x is NULL", good, nullptr, o.packed.data());
    add("packed is NULL", good, x.data(), nullptr);
    add("packed overlaps x", good, x.data(), reinterpret_cast<uint32_t*>(x.data()));

    for (const Bad& b : bad) {
        const gk_status s = gk_quant_quantize(&b.d, b.x, b.packed, o.zero.data(), o.step.data(), 1,
                                              1, nullptr);
        const std::string msg = gk_last_error_message();
        CHECK(s == b.want, "'%s': status %d (%s)", b.says, int(s), msg.c_str());
        CHECK(msg.rfind("gk_quant_quantize: ", 0) == 0 && msg.find(b.says) != std::string::npos,
              "message '%s' lacks '%s'", msg.c_str(), b.says);
        CHECK(o.packed == p0 && o.zero == z0 && o.step == s0, "'%s': outputs were written", b.says);
    }
    CHECK(x == std::vector<float>(64, 1.0f), "x untouched");

    std::vector<float> y(64, 5.0f);
    CHECK(gk_quant_dequantize(&good, o.packed.data(), o.zero.data(), o.step.data(), GK_DTYPE_F32,
                              y.data(), 31, nullptr) == GK_ERROR_INVALID_ARGUMENT,
          "ld_out < cols");
    CHECK(std::string(gk_last_error_message()).find("ld_out = 31") != std::string::npos, "%s",
          gk_last_error_message());
    CHECK(gk_quant_dequantize(&good, o.packed.data(), o.zero.data(), o.step.data(), 7, y.data(), 0,
                              nullptr) == GK_ERROR_INVALID_ARGUMENT,
          "out_dtype 7");
    CHECK(y == std::vector<float>(64, 5.0f), "y untouched");
    gk_quant_layout l;
    CHECK(gk_quant_plan(nullptr, &l) == GK_ERROR_INVALID_ARGUMENT, "null desc");
    CHECK(gk_quant_plan(&good, nullptr) == GK_ERROR_INVALID_ARGUMENT, "null layout");
}

// Random projection: x = I gives R (entries +-fp32(1/sqrt(K)), about half negative); the bytes do
// not depend on the grid cap; unproject(project(x)) has E = x (checked statistically in C#);
// bad arguments leave the output untouched and name the field.
static void projection() {
    const int D = 40, K = 5, rows = 70;
    gk_quant_proj_desc pd;
    std::memset(&pd, 0, sizeof pd);
    pd.rows = D;
    pd.dim = D;
    pd.proj_dim = K;
    pd.seed = 0x123456789ull;
    const float s = gk_quant_projection_scale(K);
    CHECK(s == static_cast<float>(1.0 / std::sqrt(5.0)), "scale %g", static_cast<double>(s));
    std::vector<float> eye(static_cast<size_t>(D * D), 0.0f), r(static_cast<size_t>(D * K), 0.0f);
    for (int d = 0; d < D; ++d) eye[static_cast<size_t>(d * D + d)] = 1.0f;
    CHECK(gk_quant_project(&pd, eye.data(), 0, r.data(), 0, nullptr) == GK_SUCCESS, "project I: %s",
          gk_last_error_message());
    int neg = 0;
    for (float v : r) {
        CHECK(v == s || v == -s, "R entry %g", static_cast<double>(v));
        neg += v < 0;
    }
    CHECK(neg > D * K / 2 - 40 && neg < D * K / 2 + 40, "%d of %d negative", neg, D * K);

    std::mt19937 rng(5);
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(rows * (D + 2)), NAN);   // ld = D + 2, padding NaN
    for (int i = 0; i < rows; ++i)
        for (int d = 0; d < D; ++d) x[static_cast<size_t>(i * (D + 2) + d)] = g(rng);
    pd.rows = rows;
    std::vector<float> p1(static_cast<size_t>(rows * K)), x1(static_cast<size_t>(rows * D));
    CHECK(gk_quant_project(&pd, x.data(), D + 2, p1.data(), 0, nullptr) == GK_SUCCESS, "project: %s",
          gk_last_error_message());
    CHECK(gk_quant_unproject(&pd, p1.data(), 0, x1.data(), 0, nullptr) == GK_SUCCESS,
          "unproject: %s", gk_last_error_message());
    for (float v : x1) CHECK(std::isfinite(v), "reconstruction %g (padding read?)", static_cast<double>(v));
    const int caps[] = {1, 3};
    for (int cap : caps) {
        gk_quant_proj_desc c = pd;
        c.max_grid = cap;
        std::vector<float> p2(p1.size(), -1.0f), x2(x1.size(), -1.0f);
        CHECK(gk_quant_project(&c, x.data(), D + 2, p2.data(), 0, nullptr) == GK_SUCCESS, "project");
        CHECK(gk_quant_unproject(&c, p1.data(), 0, x2.data(), 0, nullptr) == GK_SUCCESS, "unproject");
        CHECK(std::memcmp(p1.data(), p2.data(), p1.size() * 4) == 0, "projection differs, max_grid %d", cap);
        CHECK(std::memcmp(x1.data(), x2.data(), x1.size() * 4) == 0, "reconstruction differs, max_grid %d", cap);
    }

    std::vector<float> out(static_cast<size_t>(rows * K), 9.0f);
    struct Case { const char* says; gk_quant_proj_desc d; const float* in; int64_t ld_in; gk_status want; };
    std::vector<Case> cases;
    gk_quant_proj_desc b = pd;
    b.dim = 0;
    cases.push_back({"desc->dim = 0", b, x.data(), D + 2, GK_ERROR_INVALID_ARGUMENT});
    b = pd;
    b.proj_dim = -2;
    cases.push_back({"desc->proj_dim = -2", b, x.data(), D + 2, GK_ERROR_INVALID_ARGUMENT});
    b = pd;
    b.dim = 1024;
    b.proj_dim = 257;
    cases.push_back({"1024 * 257 exceeds 262144", b, x.data(), D + 2, GK_ERROR_UNSUPPORTED});
    b = pd;
    b.reserved = 2;
    cases.push_back({"desc->reserved = 2", b, x.data(), D + 2, GK_ERROR_INVALID_ARGUMENT});
    cases.push_back({"ld_x = 39", pd, x.data(), 39, GK_ERROR_INVALID_ARGUMENT});
    cases.push_back({"x is NULL", pd, nullptr, D + 2, GK_ERROR_INVALID_ARGUMENT});
    cases.push_back({"p overlaps x", pd, out.data(), 0, GK_ERROR_INVALID_ARGUMENT});
    for (const Case& c : cases) {
        const std::vector<float> before = out;
        const gk_status st = gk_quant_project(&c.d, c.in, c.ld_in, out.data(), 0, nullptr);
        const std::string msg = gk_last_error_message();
        CHECK(st == c.want, "'%s': status %d (%s)", c.says, int(st), msg.c_str());
        CHECK(msg.rfind("gk_quant_project: ", 0) == 0 && msg.find(c.says) != std::string::npos,
              "message '%s' lacks '%s'", msg.c_str(), c.says);
        CHECK(out == before, "'%s': output written", c.says);
    }
    CHECK(gk_quant_unproject(nullptr, p1.data(), 0, x1.data(), 0, nullptr) == GK_ERROR_INVALID_ARGUMENT,
          "null desc");
    CHECK(std::string(gk_last_error_message()).rfind("gk_quant_unproject: desc is NULL", 0) == 0, "%s",
          gk_last_error_message());
}

int main() {
    round_trip();
    poison_and_partial();
    bad_arguments();
    projection();
    return check_summary();
}
