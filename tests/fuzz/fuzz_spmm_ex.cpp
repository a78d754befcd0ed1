// Fuzzes the graph plan and the generalised SpMM: gk_plan_query / gk_plan_build, gk_spmm_ex and
// gk_spmm_backward (fp32) on a small random valid graph (0..24 rows, 0..24 cols, degree up to 40,
// int32 or int64).
//   * plan: the transpose is checked entry by entry (stable by CSR position), the degrees, and
//     the item schedule (row_item_ptr / item_row) against the header's formula;
//   * gk_spmm_ex: random message (copy_u, u_mul_e, copy_e, u_add_e, u_sub_e, u_div_e), edge operand
//     (scalar, per head, full) with random leading dimensions, reducer (sum, mean, max, min, mul),
//     flags (accumulate, empty_inf, chunked through the plan with its queried workspace), arg_out.
//     Max/min (value bits and arg, ties to the lowest CSR position) and accumulation of them are
//     exact; sum/mean/mul are compared with a double reference within an fp32 bound (below);
//     padding columns ld > F of y and arg_out are untouched;
//   * gk_spmm_backward for sum/mean: grad_x (over the plan's transpose) and grad_edge vs the double
//     reference gradient;
//   * or exactly one deliberately invalid argument (kinds below): the call must fail with a gk
//     error status, a message starting with the function's name, and leave every output byte
//     (y with its padding, arg_out, the workspace, grad_x, grad_edge) exactly as poisoned.
//
// Tolerances (fp32, unit roundoff u = 2^-24 = 5.96e-8; we use 1.2e-7 = 2u for slack): a sum of n
// fp32 terms folded in any order (CSR order, or per-chunk partials then a fixed second pass) has
// |error| <= (n - 1) u sum|t_i| (Higham, Accuracy and Stability, eq. 4.4); each term carries one
// more rounding (the message op, or the product/quotient in a gradient term: <= 2 for -x/e^2),
// mean one more (the division), accumulate one more (y_old + r). So the bound used is
// (n + 4) * 2u * (sum|t_i| + |y_old|), n = number of terms; a product of n factors each rounded
// once, multiplied in any order, is within (2n + 2) * 2u relative. Operands are small dyadic
// values (k/8), so nothing overflows or underflows: |x|, |e| <= 8 for sum/mean (|message| <= 64,
// 40 terms), and for mul factors in {0, +-0.5 .. +-2} with divisors >= 0.5 (|message| in
// [0.25, 4], 40 factors stay within 2^+-80).
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "fuzz_common.h"

namespace {

constexpr unsigned char kPoison = 0xA7;
constexpr double kU2 = 1.2e-7;  // 2 * fp32 unit roundoff

bool same_float(float a, float b) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    uint32_t ua, ub;
    std::memcpy(&ua, &a, 4);
    std::memcpy(&ub, &b, 4);
    return ua == ub;
}

float pick(FuzzedDataProvider& in, bool mul_range, bool nonzero) {
    if (mul_range) {
        static const float kNz[] = {0.5f, 0.75f, 1.0f, 1.25f, 1.5f, 2.0f};
        if (!nonzero && in.ConsumeIntegralInRange<int>(0, 7) == 0) return 0.0f;
        const float v = kNz[in.ConsumeIntegralInRange<int>(0, 5)];
        return in.ConsumeBool() ? -v : v;
    }
    int k = in.ConsumeIntegralInRange<int>(-64, 64);
    if (nonzero && k == 0) k = 4;
    if (nonzero && k > -4 && k < 4) k = k < 0 ? -4 : 4;  // divisors |e| >= 0.5
    return static_cast<float>(k) / 8.0f;
}

float message(int32_t msg, float xv, float ev) {
    switch (msg) {
        case GK_MESSAGE_COPY_U: return xv;
        case GK_MESSAGE_U_MUL_E: return xv * ev;
        case GK_MESSAGE_COPY_E: return ev;
        case GK_MESSAGE_U_ADD_E: return xv + ev;
        case GK_MESSAGE_U_SUB_E: return xv - ev;
        default: return xv / ev;
    }
}

// One poisoned allocation with an exact size (ASan sees any overrun) and a snapshot to compare.
struct Out {
    Region r;
    std::vector<unsigned char> snap;
    explicit Out(size_t bytes, size_t off = 0) : r(bytes, off) {
        if (bytes) std::memset(r.ptr, kPoison, bytes);
    }
    void take() { snap.assign(r.ptr, r.ptr + r.bytes); }
    bool unchanged() const { return same_bytes(snap.data(), r.ptr, r.bytes); }
};

template <typename I>
void run(FuzzedDataProvider& in) {
    const size_t isz = sizeof(I);
    const int32_t itype = isz == 4 ? GK_INDEX_INT32 : GK_INDEX_INT64;
    // ---- a valid graph
    const int64_t rows = in.ConsumeIntegralInRange<int64_t>(0, 24);
    const int64_t cols = in.ConsumeIntegralInRange<int64_t>(0, 24);
    const int max_deg = in.ConsumeIntegralInRange<int>(0, in.ConsumeBool() ? 40 : 5);
    std::vector<I> rp(1, 0), ci;
    for (int64_t r = 0; r < rows; ++r) {
        const int d = cols > 0 ? in.ConsumeIntegralInRange<int>(0, max_deg) : 0;
        for (int k = 0; k < d; ++k) ci.push_back(static_cast<I>(in.ConsumeIntegralInRange<int64_t>(0, cols - 1)));
        rp.push_back(static_cast<I>(ci.size()));
    }
    const int64_t nnz = static_cast<int64_t>(ci.size());
    Region rpb(rp.size() * isz), cib(ci.size() * isz);
    std::memcpy(rpb.ptr, rp.data(), rpb.bytes);
    if (cib.bytes) std::memcpy(cib.ptr, ci.data(), cib.bytes);
    gk_csr csr{};
    csr.num_rows = rows;
    csr.num_cols = cols;
    csr.nnz = nnz;
    csr.index_type = itype;
    csr.row_ptr = rpb.ptr;
    csr.col_idx = nnz > 0 ? cib.ptr : nullptr;

    // ---- the plan
    const int64_t chunk_arg = in.ConsumeBool() ? 0 : in.ConsumeIntegralInRange<int64_t>(1, 9);
    gk_plan_sizes sz{};
    gk_status st = gk_plan_query(&csr, chunk_arg, &sz);
    FUZZ_CHECK(st == GK_SUCCESS, "gk_plan_query failed: %s", gk_status_name(st));
    const int64_t chunk = chunk_arg == 0 ? 256 : chunk_arg;
    FUZZ_CHECK(sz.chunk == chunk && sz.max_items == rows + nnz / chunk &&
                   sz.t_row_ptr_bytes == (cols + 1) * (int64_t)isz && sz.t_col_idx_bytes == nnz * (int64_t)isz &&
                   sz.perm_bytes == nnz * (int64_t)isz && sz.in_degree_bytes == rows * (int64_t)isz &&
                   sz.out_degree_bytes == cols * (int64_t)isz && sz.row_item_ptr_bytes == (rows + 1) * 8 &&
                   sz.item_row_bytes == sz.max_items * 8 && sz.workspace_bytes >= cols * 8,
               "plan sizes disagree with the header (rows %lld cols %lld nnz %lld chunk %lld)", (long long)rows,
               (long long)cols, (long long)nnz, (long long)chunk);
    Region p_trp(sz.t_row_ptr_bytes), p_tci(sz.t_col_idx_bytes), p_perm(sz.perm_bytes), p_in(sz.in_degree_bytes),
        p_out(sz.out_degree_bytes), p_rip(sz.row_item_ptr_bytes), p_ir(sz.item_row_bytes), p_ws(sz.workspace_bytes);
    gk_plan plan{};
    plan.t_row_ptr = p_trp.ptr;
    plan.t_col_idx = p_tci.ptr;
    plan.perm = p_perm.ptr;
    plan.in_degree = p_in.ptr;
    plan.out_degree = p_out.ptr;
    plan.row_item_ptr = reinterpret_cast<int64_t*>(p_rip.ptr);
    plan.item_row = reinterpret_cast<int64_t*>(p_ir.ptr);
    st = gk_plan_build(&csr, chunk_arg, &plan, p_ws.ptr, p_ws.bytes, nullptr);
    FUZZ_CHECK(st == GK_SUCCESS, "gk_plan_build failed: %s", gk_status_name(st));
    {
        auto at = [&](const Region& r, int64_t i) { I v; std::memcpy(&v, r.ptr + i * isz, isz); return (int64_t)v; };
        int64_t t = 0;
        FUZZ_CHECK(at(p_trp, 0) == 0, "t_row_ptr[0] != 0");
        for (int64_t u = 0; u < cols; ++u) {
            int64_t outdeg = 0;
            for (int64_t v = 0; v < rows; ++v)
                for (int64_t p = rp[v]; p < rp[v + 1]; ++p) {
                    if (ci[p] != u) continue;
                    FUZZ_CHECK(at(p_tci, t) == v && at(p_perm, t) == p, "transpose entry %lld: (%lld, %lld), expected (%lld, %lld)",
                               (long long)t, (long long)at(p_tci, t), (long long)at(p_perm, t), (long long)v, (long long)p);
                    ++t, ++outdeg;
                }
            FUZZ_CHECK(at(p_trp, u + 1) == t && at(p_out, u) == outdeg, "t_row_ptr/out_degree of source %lld", (long long)u);
        }
        int64_t item = 0;
        for (int64_t v = 0; v < rows; ++v) {
            const int64_t deg = rp[v + 1] - rp[v], items = std::max<int64_t>(1, (deg + chunk - 1) / chunk);
            FUZZ_CHECK(at(p_in, v) == deg && plan.row_item_ptr[v] == item, "in_degree/row_item_ptr of row %lld", (long long)v);
            for (int64_t j = 0; j < items; ++j, ++item)
                FUZZ_CHECK(plan.item_row[item] == v, "item_row[%lld] = %lld, expected %lld", (long long)item,
                           (long long)plan.item_row[item], (long long)v);
        }
        FUZZ_CHECK(plan.row_item_ptr[rows] == item, "row_item_ptr[M] = %lld, expected %lld", (long long)plan.row_item_ptr[rows], (long long)item);
        for (; item < sz.max_items; ++item) FUZZ_CHECK(plan.item_row[item] == -1, "item_row past the end is not -1");
        FUZZ_CHECK(plan.chunk == chunk && plan.max_items == sz.max_items && plan.num_rows == rows && plan.num_cols == cols &&
                       plan.nnz == nnz && plan.index_type == itype && plan.transpose.num_rows == cols &&
                       plan.transpose.num_cols == rows && plan.transpose.nnz == nnz,
                   "plan header fields");
    }

    // ---- the call's arguments
    gk_spmm_desc d{};
    d.message = in.ConsumeIntegralInRange<int32_t>(0, 5);
    d.reduce = in.ConsumeIntegralInRange<int32_t>(0, 4);
    d.dtype = GK_DTYPE_F32;
    d.feat = in.ConsumeBool() ? in.ConsumeIntegralInRange<int64_t>(1, 8) : in.ConsumeIntegralInRange<int64_t>(1, 40);
    d.edge_mode = d.message == GK_MESSAGE_COPY_U ? GK_EDGE_NONE : in.ConsumeIntegralInRange<int32_t>(1, 3);
    if (d.edge_mode == GK_EDGE_PER_HEAD) {
        std::vector<int64_t> divs;
        for (int64_t h = 1; h <= d.feat; ++h) if (d.feat % h == 0) divs.push_back(h);
        d.heads = divs[in.ConsumeIntegralInRange<size_t>(0, divs.size() - 1)];
    } else {
        d.heads = in.ConsumeIntegralInRange<int64_t>(0, 3);  // ignored
    }
    const int64_t width = d.edge_mode == GK_EDGE_NONE ? 0 : d.edge_mode == GK_EDGE_SCALAR ? 1
                          : d.edge_mode == GK_EDGE_PER_HEAD ? d.heads : d.feat;
    auto pick_ld = [&](int64_t w) { return in.ConsumeBool() ? 0 : w + in.ConsumeIntegralInRange<int64_t>(0, 3); };
    d.ldx = pick_ld(d.feat);
    d.lde = pick_ld(std::max<int64_t>(width, 1));
    d.ldy = pick_ld(d.feat);
    d.ld_arg = pick_ld(d.feat);
    const bool extreme = d.reduce == GK_REDUCE_MAX || d.reduce == GK_REDUCE_MIN;
    d.flags = in.ConsumeIntegralInRange<uint32_t>(0, 7);
    const bool acc = d.flags & GK_SPMM_ACCUMULATE, empty_inf = d.flags & GK_SPMM_EMPTY_INF,
               chunked = d.flags & GK_SPMM_CHUNKED;
    const bool want_arg = extreme && in.ConsumeBool();
    const int64_t ldx = d.ldx ? d.ldx : d.feat, lde = d.lde ? d.lde : std::max<int64_t>(width, 1),
                  ldy = d.ldy ? d.ldy : d.feat, lda = d.ld_arg ? d.ld_arg : d.feat;
    const int64_t F = d.feat;
    const bool reads_x = d.message != GK_MESSAGE_COPY_E, mulr = d.reduce == GK_REDUCE_MUL;
    const bool div = d.message == GK_MESSAGE_U_DIV_E;

    // ---- inputs (exact sizes)
    const size_t x_elems = reads_x && cols > 0 ? static_cast<size_t>((cols - 1) * ldx + F) : 0;
    const size_t e_elems = width > 0 && nnz > 0 ? static_cast<size_t>((nnz - 1) * lde + width) : 0;
    std::vector<float> xv(x_elems), ev(e_elems);
    for (auto& v : xv) v = pick(in, mulr, false);
    for (auto& v : ev) v = pick(in, mulr, div);
    Region xb(x_elems * 4), eb(e_elems * 4);
    if (x_elems) std::memcpy(xb.ptr, xv.data(), x_elems * 4);
    if (e_elems) std::memcpy(eb.ptr, ev.data(), e_elems * 4);
    const size_t y_elems = rows > 0 ? static_cast<size_t>(rows * ldy) : 0;  // whole last row: padding guard
    const size_t a_elems = rows > 0 && want_arg ? static_cast<size_t>(rows * lda) : 0;
    Out yb(y_elems * 4), ab(a_elems * isz);
    std::vector<float> y0(y_elems);
    if (acc)  // accumulate: y holds values (the padding stays poisoned)
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t f = 0; f < F; ++f) {
                const float v = mulr ? pick(in, true, false) : pick(in, false, false);
                std::memcpy(yb.r.ptr + 4 * (r * ldy + f), &v, 4);
            }
    if (y_elems) std::memcpy(y0.data(), yb.r.ptr, y_elems * 4);
    size_t ws_bytes = 0;
    if (chunked) {
        st = gk_spmm_ex_workspace_size(&csr, &d, &plan, &ws_bytes);
        FUZZ_CHECK(st == GK_SUCCESS, "gk_spmm_ex_workspace_size failed: %s", gk_status_name(st));
        const size_t need = static_cast<size_t>(sz.max_items * F * 4);
        FUZZ_CHECK(ws_bytes >= need, "workspace %zu < max_items * F floats %zu", ws_bytes, need);
    }
    Out wsb(ws_bytes);
    const void* x = reads_x ? xb.ptr : nullptr;
    const void* e = width > 0 ? eb.ptr : nullptr;
    if (width > 0 && nnz == 0 && in.ConsumeBool()) e = nullptr;  // no edges: edge may be NULL
    void* y = yb.r.ptr;
    void* arg = want_arg ? ab.r.ptr : nullptr;
    const gk_plan* planp = chunked || in.ConsumeBool() ? &plan : nullptr;
    void* ws = chunked ? wsb.r.ptr : nullptr;
    size_t wsn = ws_bytes;
    const gk_csr* csrp = &csr;
    gk_spmm_desc dd = d;

    // ---- at most one deliberately invalid argument (only kinds that are invalid in this state)
    int kind = in.ConsumeIntegralInRange<int>(0, 3) == 0 ? in.ConsumeIntegralInRange<int>(1, 16) : 0;
    switch (kind) {
        case 1: dd.reserved = 1; break;
        case 2: dd.message = in.PickValueInArray({6, -1, 99}); break;
        case 3: dd.reduce = in.PickValueInArray({5, -1}); break;
        case 4: dd.dtype = GK_DTYPE_F64; break;
        case 5: dd.flags |= in.PickValueInArray({8u, 0x100u, 0x80000000u}); break;
        case 6: dd.edge_mode = d.edge_mode == GK_EDGE_NONE ? GK_EDGE_SCALAR : (in.ConsumeBool() ? GK_EDGE_NONE : 4); break;
        case 7: if (F > 1) { dd.ldy = F - 1; } else kind = 0; break;
        case 8: dd.feat = in.PickValueInArray<int64_t>({0, -1}); break;
        case 9:
            if (d.edge_mode == GK_EDGE_PER_HEAD) dd.heads = in.ConsumeBool() ? 0 : F + 1;
            else if (d.edge_mode != GK_EDGE_NONE && width > 1) dd.lde = width - 1;
            else kind = 0;
            break;
        case 10:  // y overlaps x
            if (reads_x && x_elems > 0 && nnz > 0 && rows > 0) {
                y = xb.ptr + 4 * in.ConsumeIntegralInRange<size_t>(0, x_elems - 1);
            } else kind = 0;
            break;
        case 11:
            if (extreme) kind = 0;
            else arg = ab.r.ptr;  // arg_out for a reducer without an arg (a 0-byte Region is non-NULL)
            break;
        case 12:
            if (chunked && ws_bytes > 0) { if (in.ConsumeBool()) ws = nullptr; else wsn = ws_bytes - 1; }
            else kind = 0;
            break;
        case 13: if (chunked) planp = nullptr; else kind = 0; break;
        case 14: if (reads_x && x_elems > 0 && nnz > 0) x = nullptr; else if (rows > 0) y = nullptr; else kind = 0; break;
        case 15: csrp = nullptr; break;
        case 16:  // an operand the message does not read: edge for copy_u, x for copy_e
            if (d.message == GK_MESSAGE_COPY_U) e = rpb.ptr;
            else if (!reads_x) x = rpb.ptr;
            else kind = 0;
            break;
        default: break;
    }
    if (kind == 0) {  // restore everything
        dd = d; y = yb.r.ptr; arg = want_arg ? ab.r.ptr : nullptr; ws = chunked ? wsb.r.ptr : nullptr; wsn = ws_bytes;
        csrp = &csr; x = reads_x ? xb.ptr : nullptr; e = width > 0 ? eb.ptr : nullptr;
        if (chunked) planp = &plan;
    }

    yb.take(); ab.take(); wsb.take();
    const std::vector<float> x_before = xv;
    st = gk_spmm_ex(csrp, &dd, x, e, y, arg, planp, ws, wsn, nullptr);
    const char* msg = gk_last_error_message();
    if (kind != 0) {
        FUZZ_CHECK(st == GK_ERROR_INVALID_ARGUMENT || st == GK_ERROR_UNSUPPORTED || st == GK_ERROR_WORKSPACE,
                   "invalid call (kind %d) returned %s", kind, gk_status_name(st));
        FUZZ_CHECK(starts_with(msg, "gk_spmm_ex: "), "message does not name the function (kind %d)", kind);
        FUZZ_CHECK(yb.unchanged() && ab.unchanged() && wsb.unchanged(), "a failed call (kind %d) wrote to its outputs", kind);
        FUZZ_CHECK(same_bytes(xb.ptr, xv.data(), x_elems * 4), "a failed call (kind %d) wrote to x", kind);
        return;
    }
    FUZZ_CHECK(st == GK_SUCCESS, "valid call rejected with %s (msg %d reduce %d mode %d F %lld H %lld flags %u)", gk_status_name(st),
               d.message, d.reduce, d.edge_mode, (long long)F, (long long)d.heads, d.flags);
    FUZZ_CHECK(msg[0] == '\0', "success left a message");
    FUZZ_CHECK(same_bytes(xb.ptr, xv.data(), x_elems * 4) && same_bytes(eb.ptr, ev.data(), e_elems * 4), "an input was written");

    // ---- reference forward
    const int64_t hw = d.edge_mode == GK_EDGE_PER_HEAD ? F / d.heads : 1;
    auto eidx = [&](int64_t p, int64_t f) -> int64_t {
        return d.edge_mode == GK_EDGE_SCALAR ? p * lde : d.edge_mode == GK_EDGE_PER_HEAD ? p * lde + f / hw : p * lde + f;
    };
    auto msg_at = [&](int64_t p, int64_t f) {
        const float xs = reads_x ? xv[ci[p] * ldx + f] : 0.0f;
        const float es = width > 0 ? ev[eidx(p, f)] : 0.0f;
        return message(d.message, xs, es);
    };
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t s = rp[r], en = rp[r + 1], deg = en - s;
        for (int64_t f = 0; f < ldy; ++f) {
            const size_t o = static_cast<size_t>(r * ldy + f);
            float got;
            std::memcpy(&got, yb.r.ptr + 4 * o, 4);
            if (f >= F) {
                FUZZ_CHECK(std::memcmp(yb.r.ptr + 4 * o, yb.snap.data() + 4 * o, 4) == 0, "y padding [%lld,%lld] written", (long long)r, (long long)f);
                continue;
            }
            const float yo = acc ? y0[o] : 0.0f;
            if (extreme) {
                float best = 0;
                int64_t pos = -1;
                for (int64_t p = s; p < en; ++p) {
                    const float m = msg_at(p, f);
                    if (pos < 0 || (d.reduce == GK_REDUCE_MAX ? m > best : m < best)) { best = m; pos = p; }
                }
                if (pos < 0) best = empty_inf ? (d.reduce == GK_REDUCE_MAX ? -INFINITY : INFINITY) : 0.0f;
                const float ref = acc ? yo + best : best;
                FUZZ_CHECK(same_float(got, ref), "y[%lld,%lld] = %g, expected %g (reduce %d, acc %d, flags %u)", (long long)r, (long long)f,
                           got, ref, d.reduce, (int)acc, d.flags);
                if (arg) {
                    I a;
                    std::memcpy(&a, ab.r.ptr + isz * (r * lda + f), isz);
                    FUZZ_CHECK((int64_t)a == pos, "arg[%lld,%lld] = %lld, expected %lld", (long long)r, (long long)f, (long long)a, (long long)pos);
                }
                continue;
            }
            double ref, tol;
            if (mulr) {
                double prod = 1;
                for (int64_t p = s; p < en; ++p) prod *= msg_at(p, f);
                ref = prod + yo;
                tol = (2 * deg + 4) * kU2 * (std::fabs(prod) + std::fabs(yo));
            } else {
                double sum = 0, mag = 0;
                for (int64_t p = s; p < en; ++p) { const double m = msg_at(p, f); sum += m; mag += std::fabs(m); }
                if (d.reduce == GK_REDUCE_MEAN && deg > 0) { sum /= deg; mag /= deg; }
                ref = sum + yo;
                tol = (deg + 4) * kU2 * (mag + std::fabs(yo));
            }
            FUZZ_CHECK(std::fabs(got - ref) <= tol, "y[%lld,%lld] = %.9g, reference %.9g (tol %.3g, deg %lld, msg %d reduce %d flags %u chunk %lld)",
                       (long long)r, (long long)f, got, ref, tol, (long long)deg, d.message, d.reduce, d.flags, (long long)chunk);
        }
        if (arg)
            for (int64_t f = F; f < lda; ++f) {
                const size_t o = isz * (r * lda + f);
                FUZZ_CHECK(std::memcmp(ab.r.ptr + o, ab.snap.data() + o, isz) == 0, "arg padding written");
            }
    }

    // ---- backward (sum / mean)
    if (d.reduce != GK_REDUCE_SUM && d.reduce != GK_REDUCE_MEAN) return;
    const int64_t ld_gy = pick_ld(F), ld_gx = pick_ld(F), ld_ge = pick_ld(std::max<int64_t>(width, 1));
    const int64_t lgy = ld_gy ? ld_gy : F, lgx = ld_gx ? ld_gx : F, lge = ld_ge ? ld_ge : std::max<int64_t>(width, 1);
    const size_t gy_elems = rows > 0 ? static_cast<size_t>((rows - 1) * lgy + F) : 0;
    std::vector<float> gyv(gy_elems);
    for (auto& v : gyv) v = pick(in, false, false);
    Region gyb(gy_elems * 4);
    if (gy_elems) std::memcpy(gyb.ptr, gyv.data(), gy_elems * 4);
    const bool want_gx = reads_x && in.ConsumeIntegralInRange<int>(0, 3) != 0, want_ge = width > 0 && in.ConsumeBool();
    Out gxb(want_gx ? static_cast<size_t>(cols * lgx) * 4 : 0), geb(want_ge ? static_cast<size_t>(nnz * lge) * 4 : 0);
    void* gx = want_gx ? (gxb.r.bytes ? (void*)gxb.r.ptr : (void*)gyb.ptr) : nullptr;
    void* ge = want_ge ? (geb.r.bytes ? (void*)geb.r.ptr : (void*)gyb.ptr) : nullptr;
    // (a zero-size gradient still needs a non-NULL pointer to say "wanted"; the library writes nothing)
    if (want_gx && gxb.r.bytes == 0) gx = nullptr;
    if (want_ge && geb.r.bytes == 0) ge = nullptr;
    const bool bad_bwd = in.ConsumeIntegralInRange<int>(0, 4) == 0;
    const gk_plan* bplan = &plan;
    int bkind = 0;
    if (bad_bwd) {
        bkind = in.ConsumeIntegralInRange<int>(1, 3);
        if (bkind == 1 && gx) bplan = nullptr;
        else if (bkind == 2) { gx = nullptr; ge = nullptr; bkind = 0; }
        else if (bkind == 3 && ge == nullptr && gx != nullptr && d.edge_mode == GK_EDGE_NONE) ge = gxb.r.ptr;  // grad_edge for copy_u
        else bkind = 0;
    }
    gxb.take(); geb.take();
    st = gk_spmm_backward(&csr, bplan, &d, reads_x ? xb.ptr : nullptr, width > 0 ? eb.ptr : nullptr, nullptr,
                          gy_elems ? gyb.ptr : nullptr, ld_gy, gx, ld_gx, ge, ld_ge, nullptr, 0, nullptr);
    msg = gk_last_error_message();
    if (bkind != 0) {
        FUZZ_CHECK(st == GK_ERROR_INVALID_ARGUMENT, "invalid backward (kind %d) returned %s", bkind, gk_status_name(st));
        FUZZ_CHECK(starts_with(msg, "gk_spmm_backward: "), "backward message does not name the function");
        FUZZ_CHECK(gxb.unchanged() && geb.unchanged(), "a failed backward wrote to its outputs");
        return;
    }
    FUZZ_CHECK(st == GK_SUCCESS, "valid backward rejected with %s: %s", gk_status_name(st), msg);
    const bool mean = d.reduce == GK_REDUCE_MEAN;
    auto dm_dx = [&](int64_t p, int64_t f) -> double {
        const double es = width > 0 ? ev[eidx(p, f)] : 0.0;
        switch (d.message) {
            case GK_MESSAGE_U_MUL_E: return es;
            case GK_MESSAGE_U_DIV_E: return 1.0 / es;
            default: return 1.0;
        }
    };
    auto dm_de = [&](int64_t p, int64_t f) -> double {
        const double xs = reads_x ? xv[ci[p] * ldx + f] : 0.0, es = ev[eidx(p, f)];
        switch (d.message) {
            case GK_MESSAGE_U_MUL_E: return xs;
            case GK_MESSAGE_U_SUB_E: return -1.0;
            case GK_MESSAGE_U_DIV_E: return -xs / (es * es);
            default: return 1.0;
        }
    };
    std::vector<int64_t> row_of(static_cast<size_t>(nnz));
    for (int64_t r = 0; r < rows; ++r) for (int64_t p = rp[r]; p < rp[r + 1]; ++p) row_of[p] = r;
    auto gyat = [&](int64_t p, int64_t f) {
        const int64_t r = row_of[p], deg = rp[r + 1] - rp[r];
        return static_cast<double>(gyv[r * lgy + f]) / (mean ? deg : 1);
    };
    if (gx) {
        for (int64_t u = 0; u < cols; ++u)
            for (int64_t f = 0; f < lgx && (u + 1 < cols || f < F); ++f) {
                const size_t o = static_cast<size_t>(u * lgx + f);
                if (f >= F) {
                    FUZZ_CHECK(std::memcmp(gxb.r.ptr + 4 * o, gxb.snap.data() + 4 * o, 4) == 0, "grad_x padding written");
                    continue;
                }
                double sum = 0, mag = 0;
                int64_t n = 0;
                for (int64_t p = 0; p < nnz; ++p)
                    if (ci[p] == u) { const double t = gyat(p, f) * dm_dx(p, f); sum += t; mag += std::fabs(t); ++n; }
                float got;
                std::memcpy(&got, gxb.r.ptr + 4 * o, 4);
                const double tol = (n + 4) * kU2 * mag;
                FUZZ_CHECK(std::fabs(got - sum) <= tol, "grad_x[%lld,%lld] = %.9g, reference %.9g (tol %.3g, msg %d reduce %d)",
                           (long long)u, (long long)f, got, sum, tol, d.message, d.reduce);
            }
    }
    if (ge) {
        for (int64_t p = 0; p < nnz; ++p)
            for (int64_t j = 0; j < lge && (p + 1 < nnz || j < width); ++j) {
                const size_t o = static_cast<size_t>(p * lge + j);
                if (j >= width) {
                    FUZZ_CHECK(std::memcmp(geb.r.ptr + 4 * o, geb.snap.data() + 4 * o, 4) == 0, "grad_edge padding written");
                    continue;
                }
                double sum = 0, mag = 0;
                int64_t n = 0;
                for (int64_t f = 0; f < F; ++f) {
                    const bool shares = d.edge_mode == GK_EDGE_SCALAR || (d.edge_mode == GK_EDGE_PER_HEAD ? f / hw == j : f == j);
                    if (!shares) continue;
                    const double t = gyat(p, f) * dm_de(p, f);
                    sum += t; mag += std::fabs(t); ++n;
                }
                float got;
                std::memcpy(&got, geb.r.ptr + 4 * o, 4);
                const double tol = (n + 4) * kU2 * mag;
                FUZZ_CHECK(std::fabs(got - sum) <= tol, "grad_edge[%lld,%lld] = %.9g, reference %.9g (tol %.3g, msg %d reduce %d mode %d)",
                           (long long)p, (long long)j, got, sum, tol, d.message, d.reduce, d.edge_mode);
            }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FuzzedDataProvider in(data, size);
    if (in.ConsumeBool()) run<int64_t>(in);
    else run<int32_t>(in);
    return 0;
}
