// C-level tests of the C ABI against libgraphkernels_emulated: SpMM against a double-precision
// reference on random graphs, gk_csr_validate verdicts, and argument errors leaving outputs
// untouched. This is the suite CI runs under ASan+UBSan and TSan, so it drives the real launchers
// and kernels through every reducer, message, index type and vector width.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "graphkernels.h"

#include "abi_check.h"

template <typename I>
struct Graph {
    int64_t rows = 0, cols = 0;
    std::vector<I> row_ptr{0};
    std::vector<I> col;
};

template <typename I>
Graph<I> random_graph(std::mt19937_64& rng, int64_t rows, int64_t cols, int max_deg, bool hubs) {
    Graph<I> g;
    g.rows = rows;
    g.cols = cols;
    g.row_ptr.assign(1, 0);
    std::uniform_int_distribution<int> deg_d(0, max_deg);
    std::uniform_int_distribution<int64_t> col_d(0, cols > 0 ? cols - 1 : 0);
    for (int64_t r = 0; r < rows; ++r) {
        int d = cols > 0 ? deg_d(rng) : 0;
        if (hubs && r % 97 == 5 && cols > 0) d = 300;  // hub rows
        if (r % 11 == 3) d = 0;                          // empty rows
        for (int k = 0; k < d; ++k) g.col.push_back(static_cast<I>(col_d(rng)));
        if (d >= 2 && r % 5 == 0) g.col.back() = g.col[g.col.size() - 2];  // duplicate edge
        g.row_ptr.push_back(static_cast<I>(g.col.size()));
    }
    return g;
}

template <typename I>
gk_csr descriptor(const Graph<I>& g) {
    gk_csr c{};
    c.num_rows = g.rows;
    c.num_cols = g.cols;
    c.nnz = static_cast<int64_t>(g.col.size());
    c.index_type = sizeof(I) == 4 ? GK_INDEX_INT32 : GK_INDEX_INT64;
    c.row_ptr = g.row_ptr.data();
    c.col_idx = g.col.empty() ? nullptr : g.col.data();
    return c;
}

// Independent reference: double accumulation for sum/mean; exact float messages for max/min.
template <typename I>
void reference(const Graph<I>& g, int msg, int red, int64_t F, const std::vector<float>& x,
               int64_t ldx, const std::vector<float>& w, std::vector<double>& y,
               std::vector<double>& bound, std::vector<int64_t>& arg) {
    y.assign(g.rows * F, 0.0);
    bound.assign(g.rows * F, 0.0);
    arg.assign(g.rows * F, -1);
    for (int64_t r = 0; r < g.rows; ++r) {
        const int64_t s = g.row_ptr[r], e = g.row_ptr[r + 1];
        for (int64_t f = 0; f < F; ++f) {
            double acc = 0, mag = 0;
            float best = 0;
            int64_t pos = -1;
            for (int64_t p = s; p < e; ++p) {
                const float xv = x[g.col[p] * ldx + f];
                const float m = msg == GK_MESSAGE_U_MUL_E ? xv * w[p] : xv;
                acc += m;
                mag += std::fabs(m);
                if (pos < 0 || (!std::isnan(best) && (std::isnan(m) ||
                                 (red == GK_REDUCE_MAX ? m > best : m < best)))) {
                    best = m;
                    pos = p;
                }
            }
            double out = acc;
            if (red == GK_REDUCE_MEAN) {
                out = e > s ? acc / double(e - s) : 0.0;
                mag = e > s ? mag / double(e - s) : 0.0;
            }
            if (red == GK_REDUCE_MAX || red == GK_REDUCE_MIN) {
                out = e > s ? best : 0.0;
                arg[r * F + f] = pos;
            }
            y[r * F + f] = out;
            bound[r * F + f] = mag;
        }
    }
}

template <typename I>
void run_case(std::mt19937_64& rng, int64_t rows, int64_t cols, int max_deg, bool hubs, int64_t F,
              int64_t pad, int msg, int red) {
    Graph<I> g = random_graph<I>(rng, rows, cols, max_deg, hubs);
    const int64_t ldx = F + pad, ldy = F + pad, ld_arg = F + pad;
    std::uniform_real_distribution<float> val(-2.f, 2.f);
    std::vector<float> x(std::max<int64_t>(cols, 1) * ldx);
    for (auto& v : x) v = std::round(val(rng) * 8.f) / 8.f;  // coarse values: ties happen
    std::vector<float> w(std::max<size_t>(g.col.size(), 1));
    for (auto& v : w) v = val(rng);
    const float sentinel = -12345.5f;
    std::vector<float> y(std::max<int64_t>(rows, 1) * ldy, sentinel);
    std::vector<I> arg(std::max<int64_t>(rows, 1) * ld_arg, static_cast<I>(-7));
    const bool extreme = red == GK_REDUCE_MAX || red == GK_REDUCE_MIN;
    gk_csr c = descriptor(g);
    gk_status s = gk_spmm(&c, msg, red, GK_DTYPE_F32, F, x.data(), ldx,
                          msg == GK_MESSAGE_U_MUL_E ? w.data() : nullptr, y.data(), ldy,
                          extreme ? arg.data() : nullptr, ld_arg, nullptr);
    CHECK(s == GK_SUCCESS, "gk_spmm failed: %s", gk_last_error_message());
    if (s != GK_SUCCESS) return;
    std::vector<double> ref, bound;
    std::vector<int64_t> ref_arg;
    reference(g, msg, red, F, x, ldx, w, ref, bound, ref_arg);
    int bad = 0;
    for (int64_t r = 0; r < rows && bad < 3; ++r) {
        for (int64_t f = 0; f < ldy; ++f) {
            const float got = y[r * ldy + f];
            if (f >= F) {
                if (std::memcmp(&got, &sentinel, sizeof got) != 0) {
                    ++bad;
                    CHECK(false, "padding y[%lld,%lld] was written", (long long)r, (long long)f);
                }
                continue;
            }
            const double want = ref[r * F + f];
            // fp32 accumulation in a different association than the double reference: the error
            // is bounded by deg * 2^-24 * sum|terms|; 1e-5 relative covers degrees up to ~160
            // with slack, and hub rows (deg 300) stay within it because the terms are O(1).
            const double tol = extreme ? 0.0 : 1e-5 * bound[r * F + f] + 1e-6;
            if (!(std::fabs(got - want) <= tol)) {
                ++bad;
                CHECK(false, "y[%lld,%lld] = %.9g, want %.9g (F=%lld msg=%d red=%d)", (long long)r,
                      (long long)f, got, want, (long long)F, msg, red);
            }
            if (extreme && static_cast<int64_t>(arg[r * ld_arg + f]) != ref_arg[r * F + f]) {
                ++bad;
                CHECK(false, "arg[%lld,%lld] = %lld, want %lld", (long long)r, (long long)f,
                      (long long)arg[r * ld_arg + f], (long long)ref_arg[r * F + f]);
            }
        }
    }
    CHECK(bad == 0, "case rows=%lld F=%lld pad=%lld msg=%d red=%d idx=%zu", (long long)rows,
          (long long)F, (long long)pad, msg, red, sizeof(I));
}

static void test_spmm_matrix() {
    std::mt19937_64 rng(1234);
    const int64_t widths[] = {1, 3, 4, 32, 33, 128, 257};
    for (int64_t F : widths)
        for (int msg = 0; msg < 2; ++msg)
            for (int red = 0; red < 4; ++red) {
                run_case<int32_t>(rng, 67, 41, 9, false, F, F % 2 ? 0 : 4, msg, red);
                run_case<int64_t>(rng, 67, 41, 9, false, F, F % 2 ? 1 : 0, msg, red);
            }
    for (int red = 0; red < 4; ++red) {
        run_case<int32_t>(rng, 400, 300, 20, true, 16, 0, 1, red);  // hubs, 2 rows per warp
        run_case<int64_t>(rng, 0, 5, 3, false, 8, 0, 0, red);       // zero rows
        run_case<int32_t>(rng, 9, 0, 3, false, 8, 0, 0, red);       // no sources: every row empty
    }
}

static void test_validate() {
    size_t ws_bytes = 0;
    CHECK(gk_csr_validate_workspace_size(&ws_bytes) == GK_SUCCESS && ws_bytes >= 16, "ws size");
    std::vector<unsigned long long> ws(ws_bytes / 8 + 1);
    struct Case {
        std::vector<int32_t> rp, col;
        int64_t cols;
        const char* expect;  // substring of the message, nullptr = valid
    } cases[] = {
        {{0, 2, 3}, {0, 1, 1}, 2, nullptr},
        {{1, 2, 3}, {0, 1, 1}, 2, "row_ptr[0] = 1"},
        {{0, 3, 2}, {0, 1, 1}, 2, "row_ptr[2] = 2 is less than row_ptr[1] = 3"},
        {{0, 2, 2}, {0, 1, 1}, 2, "row_ptr[2] = 2 (the last entry"},
        {{0, 2, 3}, {0, 5, 1}, 2, "col_idx[1] = 5 is outside [0, num_cols = 2)"},
        {{0, 2, 3}, {0, 1, -1}, 2, "col_idx[2] = -1"},
        {{0, 9, 3}, {0, 1, 1}, 2, "row_ptr[1] = 9 is outside [0, nnz = 3]"},
    };
    for (auto& c : cases) {
        gk_csr d{};
        d.num_rows = static_cast<int64_t>(c.rp.size()) - 1;
        d.num_cols = c.cols;
        d.nnz = static_cast<int64_t>(c.col.size());
        d.index_type = GK_INDEX_INT32;
        d.row_ptr = c.rp.data();
        d.col_idx = c.col.data();
        gk_status s = gk_csr_validate(&d, ws.data(), ws_bytes, nullptr);
        if (c.expect == nullptr) {
            CHECK(s == GK_SUCCESS, "valid CSR rejected: %s", gk_last_error_message());
        } else {
            CHECK(s == GK_ERROR_INVALID_GRAPH, "status %d for %s", s, c.expect);
            CHECK(std::strstr(gk_last_error_message(), c.expect) != nullptr, "message '%s' lacks '%s'",
                  gk_last_error_message(), c.expect);
        }
    }
}

static void test_bad_arguments() {
    std::vector<int32_t> rp{0, 1, 2}, col{0, 1};
    std::vector<float> x(8, 1.f), w(2, 1.f), y(8, 3.5f);
    std::vector<int32_t> arg(8, 9);
    gk_csr c{2, 2, 2, GK_INDEX_INT32, 0, rp.data(), col.data()};
    struct Bad {
        const char* what;
        gk_status want;
        gk_status got;
    };
    std::vector<Bad> bad;
    auto call = [&](const char* what, gk_status want, const gk_csr* cc, int msg, int red, int dt,
                    int64_t F, const float* xx, int64_t ldx, const float* ww, float* yy,
                    int64_t ldy, void* aa, int64_t lda) {
        const std::vector<float> y0 = y;
        gk_status s = gk_spmm(cc, msg, red, dt, F, xx, ldx, ww, yy, ldy, aa, lda, nullptr);
        CHECK(s == want, "%s: status %d, want %d (%s)", what, s, want, gk_last_error_message());
        CHECK(std::strstr(gk_last_error_message(), what) != nullptr, "message '%s' does not name '%s'",
              gk_last_error_message(), what);
        CHECK(std::memcmp(y0.data(), y.data(), y.size() * sizeof(float)) == 0, "%s: y was written",
              what);
    };
    call("csr", GK_ERROR_INVALID_ARGUMENT, nullptr, 0, 0, 0, 4, x.data(), 4, nullptr, y.data(), 4, nullptr, 0);
    call("message", GK_ERROR_INVALID_ARGUMENT, &c, 9, 0, 0, 4, x.data(), 4, nullptr, y.data(), 4, nullptr, 0);
    call("reduce", GK_ERROR_INVALID_ARGUMENT, &c, 0, 7, 0, 4, x.data(), 4, nullptr, y.data(), 4, nullptr, 0);
    call("dtype", GK_ERROR_UNSUPPORTED, &c, 0, 0, GK_DTYPE_F16, 4, x.data(), 4, nullptr, y.data(), 4, nullptr, 0);
    call("feat", GK_ERROR_INVALID_ARGUMENT, &c, 0, 0, 0, 0, x.data(), 4, nullptr, y.data(), 4, nullptr, 0);
    call("ldx", GK_ERROR_INVALID_ARGUMENT, &c, 0, 0, 0, 4, x.data(), 3, nullptr, y.data(), 4, nullptr, 0);
    call("ldy", GK_ERROR_INVALID_ARGUMENT, &c, 0, 0, 0, 4, x.data(), 4, nullptr, y.data(), 2, nullptr, 0);
    call("x is NULL", GK_ERROR_INVALID_ARGUMENT, &c, 0, 0, 0, 4, nullptr, 4, nullptr, y.data(), 4, nullptr, 0);
    call("edge_weight is NULL", GK_ERROR_INVALID_ARGUMENT, &c, 1, 0, 0, 4, x.data(), 4, nullptr, y.data(), 4, nullptr, 0);
    call("edge_weight must be NULL", GK_ERROR_INVALID_ARGUMENT, &c, 0, 0, 0, 4, x.data(), 4, w.data(), y.data(), 4, nullptr, 0);
    call("arg_out must be NULL", GK_ERROR_INVALID_ARGUMENT, &c, 0, 0, 0, 4, x.data(), 4, nullptr, y.data(), 4, arg.data(), 4);
    call("ld_arg", GK_ERROR_INVALID_ARGUMENT, &c, 0, 2, 0, 4, x.data(), 4, nullptr, y.data(), 4, arg.data(), 1);
    call("y overlaps x", GK_ERROR_INVALID_ARGUMENT, &c, 0, 0, 0, 4, y.data(), 4, nullptr, y.data() + 2, 4, nullptr, 0);
    call("y overlaps edge_weight", GK_ERROR_INVALID_ARGUMENT, &c, 1, 0, 0, 4, x.data(), 4, y.data() + 6, y.data(), 4, nullptr, 0);
    call("arg_out overlaps x", GK_ERROR_INVALID_ARGUMENT, &c, 0, 2, 0, 4, x.data(), 4, nullptr, y.data(), 4, x.data() + 2, 4);
    std::vector<float> scratch(16, 0.f);
    gk_csr c3 = c;
    c3.col_idx = scratch.data() + 2;  // the graph's columns inside y's extent (values are never read)
    call("y overlaps csr->col_idx", GK_ERROR_INVALID_ARGUMENT, &c3, 0, 0, 0, 4, x.data(), 4, nullptr, scratch.data(), 4, nullptr, 0);
    call("x (", GK_ERROR_INVALID_ARGUMENT, &c, 0, 0, 0, 4,
         reinterpret_cast<const float*>(reinterpret_cast<const char*>(x.data()) + 1), 4, nullptr, y.data(), 4, nullptr, 0);
    gk_csr c2 = c;
    c2.index_type = 5;
    call("csr->index_type = 5", GK_ERROR_INVALID_ARGUMENT, &c2, 0, 0, 0, 4, x.data(), 4, nullptr, y.data(), 4, nullptr, 0);
    c2 = c;
    c2.nnz = int64_t{1} << 33;
    call("use GK_INDEX_INT64", GK_ERROR_INDEX_OVERFLOW, &c2, 0, 0, 0, 4, x.data(), 4, nullptr, y.data(), 4, nullptr, 0);
    c2 = c;
    c2.num_rows = -1;
    call("csr->num_rows = -1", GK_ERROR_INVALID_ARGUMENT, &c2, 0, 0, 0, 4, x.data(), 4, nullptr, y.data(), 4, nullptr, 0);
    // A successful call clears the message.
    CHECK(gk_spmm(&c, 0, 0, 0, 4, x.data(), 4, nullptr, y.data(), 4, nullptr, 0, nullptr) == GK_SUCCESS, "ok call");
    CHECK(gk_last_error_message()[0] == '\0', "message not cleared: %s", gk_last_error_message());
}

static void test_library_info() {
    CHECK(std::strcmp(gk_version_string(), "0.1.0") == 0, "version %s", gk_version_string());
    CHECK(gk_version() == 100, "version number %d", gk_version());
    CHECK(gk_backend() == GK_BACKEND_EMULATED, "backend %d", gk_backend());
    CHECK(std::strcmp(gk_status_name(GK_ERROR_INVALID_GRAPH), "GK_ERROR_INVALID_GRAPH") == 0, "name");
    CHECK(std::strcmp(gk_status_name(99), "GK_UNKNOWN_STATUS") == 0, "unknown name");
}

int main() {
    test_library_info();
    test_validate();
    test_bad_arguments();
    test_spmm_matrix();
    return check_summary();
}
