// Fuzzes the edge ops (fp32) on a small random valid graph (0..24 rows/cols, degree up to 40, int32
// or int64), one of:
//   * gk_sddmm: dot with heads (out [E, H]), add, sub, mul, div (out [E, F]) over random operand
//     targets (src / dst / edge) and leading dimensions; elementwise ops are one fp32 operation,
//     so they must be bitwise equal to the same operation here; dot is compared with a double
//     reference; out's padding columns are untouched;
//   * gk_edge_softmax: per destination row and head, against a double reference (scores k/8 in
//     [-8, 8], sometimes -inf; a row of -inf gives 0), with optional row_max (exact) / row_sum;
//   * gk_coo_to_csr: a random COO (int32/int64, src or not); an index out of range must give
//     GK_ERROR_INVALID_GRAPH naming the first bad dst (else src) position and value with the outputs
//     untouched; a valid one must give the stable permutation (ascending COO position within a row),
//     row_ptr and col_idx = src[perm], checked against a counting sort here;
// or exactly one deliberately invalid argument: a gk error status, a message starting with the
// function's name, every output byte as poisoned.
//
// Tolerances (u = 2^-24, kU2 = 2u for slack): a D-term fp32 dot product in any order is within
// (D + 1) u sum|a_i b_i| (Higham eq. 3.5 plus the products' roundings); softmax: exp of an exactly
// representable argument (s - m is a difference of k/8 values, exact) is within a few ulp, and if
// the kernel scales to exp2 the argument's rounding adds |s - m| u; the row sum of n terms adds
// (n - 1) u and the division u, so relative (n + 8 + |s - m|) * 2u of the reference, plus 1e-30
// absolute for results that underflow.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "fuzz_common.h"

namespace {

constexpr unsigned char kPoison = 0xA7;
constexpr double kU2 = 1.2e-7;

bool same_float(float a, float b) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    uint32_t ua, ub;
    std::memcpy(&ua, &a, 4);
    std::memcpy(&ub, &b, 4);
    return ua == ub;
}

float pick(FuzzedDataProvider& in, bool nonzero) {
    int k = in.ConsumeIntegralInRange<int>(-64, 64);
    if (nonzero && k > -4 && k < 4) k = k < 0 ? -4 : 4;
    return static_cast<float>(k) / 8.0f;
}

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
struct Graph {
    int64_t rows = 0, cols = 0, nnz = 0;
    std::vector<I> rp{0}, ci;
    Region rpb, cib;
    gk_csr csr{};
    void build(FuzzedDataProvider& in) {
        rows = in.ConsumeIntegralInRange<int64_t>(0, 24);
        cols = in.ConsumeIntegralInRange<int64_t>(0, 24);
        const int max_deg = in.ConsumeIntegralInRange<int>(0, in.ConsumeBool() ? 40 : 5);
        for (int64_t r = 0; r < rows; ++r) {
            const int d = cols > 0 ? in.ConsumeIntegralInRange<int>(0, max_deg) : 0;
            for (int k = 0; k < d; ++k) ci.push_back(static_cast<I>(in.ConsumeIntegralInRange<int64_t>(0, cols - 1)));
            rp.push_back(static_cast<I>(ci.size()));
        }
        nnz = static_cast<int64_t>(ci.size());
        rpb.reset(rp.size() * sizeof(I));
        cib.reset(ci.size() * sizeof(I));
        std::memcpy(rpb.ptr, rp.data(), rpb.bytes);
        if (cib.bytes) std::memcpy(cib.ptr, ci.data(), cib.bytes);
        csr.num_rows = rows;
        csr.num_cols = cols;
        csr.nnz = nnz;
        csr.index_type = sizeof(I) == 4 ? GK_INDEX_INT32 : GK_INDEX_INT64;
        csr.row_ptr = rpb.ptr;
        csr.col_idx = nnz > 0 ? cib.ptr : nullptr;
    }
};

template <typename I>
void sddmm(FuzzedDataProvider& in) {
    Graph<I> g;
    g.build(in);
    const int32_t op = in.ConsumeIntegralInRange<int32_t>(0, 4);
    const int64_t F = in.ConsumeBool() ? in.ConsumeIntegralInRange<int64_t>(1, 8) : in.ConsumeIntegralInRange<int64_t>(1, 40);
    int64_t H = 1;
    if (op == GK_SDDMM_DOT) {
        std::vector<int64_t> divs;
        for (int64_t h = 1; h <= F; ++h) if (F % h == 0) divs.push_back(h);
        H = divs[in.ConsumeIntegralInRange<size_t>(0, divs.size() - 1)];
    }
    const int64_t width = op == GK_SDDMM_DOT ? H : F;
    const int32_t lt = in.ConsumeIntegralInRange<int32_t>(0, 2), rt = in.ConsumeIntegralInRange<int32_t>(0, 2);
    auto trows = [&](int32_t t) { return t == GK_TARGET_SRC ? g.cols : t == GK_TARGET_DST ? g.rows : g.nnz; };
    const int64_t ldl = F + in.ConsumeIntegralInRange<int64_t>(0, 3), ldr = F + in.ConsumeIntegralInRange<int64_t>(0, 3);
    const int64_t ldo = width + in.ConsumeIntegralInRange<int64_t>(0, 3);
    const size_t l_elems = trows(lt) > 0 ? static_cast<size_t>((trows(lt) - 1) * ldl + F) : 0;
    const size_t r_elems = trows(rt) > 0 ? static_cast<size_t>((trows(rt) - 1) * ldr + F) : 0;
    std::vector<float> lv(l_elems), rv(r_elems);
    for (auto& v : lv) v = pick(in, false);
    for (auto& v : rv) v = pick(in, op == GK_SDDMM_DIV);
    Region lb(l_elems * 4), rb(r_elems * 4);
    if (l_elems) std::memcpy(lb.ptr, lv.data(), l_elems * 4);
    if (r_elems) std::memcpy(rb.ptr, rv.data(), r_elems * 4);
    Out ob(static_cast<size_t>(g.nnz * ldo) * 4);
    int32_t a_op = op, a_lt = lt, a_dtype = GK_DTYPE_F32;
    int64_t a_H = H, a_ldo = ldo, a_F = F;
    const void* lhs = lb.ptr;
    void* out = ob.r.ptr;
    const gk_csr* csrp = &g.csr;
    int kind = in.ConsumeIntegralInRange<int>(0, 3) == 0 ? in.ConsumeIntegralInRange<int>(1, 9) : 0;
    switch (kind) {
        case 1: a_op = in.PickValueInArray({5, -1}); break;
        case 2: if (op == GK_SDDMM_DOT) a_H = F + 1; else a_H = 2; break;
        case 3: if (width > 1) a_ldo = width - 1; else kind = 0; break;
        case 4: a_lt = in.PickValueInArray({3, -1}); break;
        case 5: if (g.nnz > 0) out = nullptr; else kind = 0; break;
        case 6: if (g.nnz > 0 && l_elems > 0) out = lb.ptr; else kind = 0; break;  // out overlaps lhs
        case 7: a_dtype = in.PickValueInArray({3, 7}); break;
        case 8: a_F = 0; break;
        case 9: csrp = nullptr; break;
        default: break;
    }
    ob.take();
    const gk_status st = gk_sddmm(csrp, a_op, a_dtype, a_F, a_H, a_lt, lhs, ldl, rt, rb.ptr, ldr, out, a_ldo, nullptr);
    const char* msg = gk_last_error_message();
    if (kind != 0) {
        FUZZ_CHECK(st == GK_ERROR_INVALID_ARGUMENT || st == GK_ERROR_UNSUPPORTED, "invalid gk_sddmm (kind %d) returned %s", kind,
                   gk_status_name(st));
        FUZZ_CHECK(starts_with(msg, "gk_sddmm: "), "message does not name gk_sddmm (kind %d)", kind);
        FUZZ_CHECK(ob.unchanged() && same_bytes(lb.ptr, lv.data(), l_elems * 4), "a failed gk_sddmm (kind %d) wrote", kind);
        return;
    }
    FUZZ_CHECK(st == GK_SUCCESS, "valid gk_sddmm rejected: %s (op %d F %lld H %lld lt %d rt %d)", gk_status_name(st), op,
               (long long)F, (long long)H, lt, rt);
    FUZZ_CHECK(msg[0] == '\0', "success left a message");
    const int64_t D = F / H;
    for (int64_t v = 0; v < g.rows; ++v)
        for (int64_t p = g.rp[v]; p < g.rp[v + 1]; ++p) {
            const int64_t u = g.ci[p];
            auto row = [&](int32_t t) { return t == GK_TARGET_SRC ? u : t == GK_TARGET_DST ? v : p; };
            const float* a = lv.data() + row(lt) * ldl;
            const float* b = rv.data() + row(rt) * ldr;
            for (int64_t j = 0; j < ldo; ++j) {
                const size_t o = static_cast<size_t>(p * ldo + j) * 4;
                float got;
                std::memcpy(&got, ob.r.ptr + o, 4);
                if (j >= width) {
                    FUZZ_CHECK(std::memcmp(ob.r.ptr + o, ob.snap.data() + o, 4) == 0, "out padding [%lld,%lld] written", (long long)p, (long long)j);
                    continue;
                }
                if (op == GK_SDDMM_DOT) {
                    double s = 0, mag = 0;
                    for (int64_t k = j * D; k < (j + 1) * D; ++k) { s += double(a[k]) * b[k]; mag += std::fabs(double(a[k]) * b[k]); }
                    const double tol = (D + 2) * kU2 * mag;
                    FUZZ_CHECK(std::fabs(got - s) <= tol, "dot out[%lld,%lld] = %.9g, reference %.9g (tol %.3g, D %lld)", (long long)p,
                               (long long)j, got, s, tol, (long long)D);
                } else {
                    const float x = a[j], y = b[j];
                    const float ref = op == GK_SDDMM_ADD ? x + y : op == GK_SDDMM_SUB ? x - y : op == GK_SDDMM_MUL ? x * y : x / y;
                    FUZZ_CHECK(same_float(got, ref), "out[%lld,%lld] = %.9g, expected %.9g (op %d)", (long long)p, (long long)j, got, ref, op);
                }
            }
        }
}

template <typename I>
void softmax(FuzzedDataProvider& in) {
    Graph<I> g;
    g.build(in);
    const int64_t H = in.ConsumeIntegralInRange<int64_t>(1, 4);
    const int64_t lds = H + in.ConsumeIntegralInRange<int64_t>(0, 2), ldo = H + in.ConsumeIntegralInRange<int64_t>(0, 2);
    const bool neg_inf = in.ConsumeIntegralInRange<int>(0, 3) == 0;
    const size_t s_elems = g.nnz > 0 ? static_cast<size_t>((g.nnz - 1) * lds + H) : 0;
    std::vector<float> sv(s_elems);
    for (auto& v : sv) v = neg_inf && in.ConsumeIntegralInRange<int>(0, 2) == 0 ? -INFINITY : pick(in, false);
    Region sb(s_elems * 4);
    if (s_elems) std::memcpy(sb.ptr, sv.data(), s_elems * 4);
    Out ob(static_cast<size_t>(g.nnz * ldo) * 4);
    const bool want_max = in.ConsumeBool(), want_sum = in.ConsumeBool();
    Out mb(want_max ? static_cast<size_t>(g.rows * H) * 4 : 0), smb(want_sum ? static_cast<size_t>(g.rows * H) * 4 : 0);
    float* rmax = want_max ? reinterpret_cast<float*>(mb.r.ptr) : nullptr;
    float* rsum = want_sum ? reinterpret_cast<float*>(smb.r.ptr) : nullptr;
    int32_t dtype = GK_DTYPE_F32;
    int64_t a_H = H, a_ldo = ldo;
    void* out = ob.r.ptr;
    const gk_csr* csrp = &g.csr;
    int kind = in.ConsumeIntegralInRange<int>(0, 3) == 0 ? in.ConsumeIntegralInRange<int>(1, 6) : 0;
    switch (kind) {
        case 1: a_H = in.PickValueInArray<int64_t>({0, -2}); break;
        case 2: if (H > 1) a_ldo = H - 1; else kind = 0; break;
        case 3: if (g.nnz > 0) out = nullptr; else kind = 0; break;
        case 4: if (g.nnz > 0 && s_elems > 0) out = sb.ptr; else kind = 0; break;
        case 5: dtype = in.PickValueInArray({3, 9}); break;
        case 6: csrp = nullptr; break;
        default: break;
    }
    ob.take(); mb.take(); smb.take();
    const gk_status st = gk_edge_softmax(csrp, dtype, a_H, sb.ptr, lds, out, a_ldo, rmax, rsum, nullptr);
    const char* msg = gk_last_error_message();
    if (kind != 0) {
        FUZZ_CHECK(st == GK_ERROR_INVALID_ARGUMENT || st == GK_ERROR_UNSUPPORTED, "invalid gk_edge_softmax (kind %d) returned %s", kind,
                   gk_status_name(st));
        FUZZ_CHECK(starts_with(msg, "gk_edge_softmax: "), "message does not name gk_edge_softmax (kind %d)", kind);
        FUZZ_CHECK(ob.unchanged() && mb.unchanged() && smb.unchanged() && same_bytes(sb.ptr, sv.data(), s_elems * 4),
                   "a failed gk_edge_softmax (kind %d) wrote", kind);
        return;
    }
    FUZZ_CHECK(st == GK_SUCCESS, "valid gk_edge_softmax rejected: %s", gk_status_name(st));
    for (int64_t v = 0; v < g.rows; ++v) {
        const int64_t s = g.rp[v], e = g.rp[v + 1], n = e - s;
        for (int64_t h = 0; h < H; ++h) {
            float m = -INFINITY;
            for (int64_t p = s; p < e; ++p) m = std::max(m, sv[p * lds + h]);
            const float mu = std::isinf(m) ? 0.0f : m;
            double sum = 0;
            for (int64_t p = s; p < e; ++p) sum += std::exp(double(sv[p * lds + h]) - mu);
            for (int64_t p = s; p < e; ++p) {
                const double arg = double(sv[p * lds + h]) - mu;
                const double ref = std::exp(arg) / (sum + 1e-16);
                float got;
                std::memcpy(&got, ob.r.ptr + 4 * (p * ldo + h), 4);
                const double tol = (n + 8 + std::fabs(std::isinf(arg) ? 0 : arg)) * kU2 * ref + 1e-30;
                FUZZ_CHECK(std::fabs(got - ref) <= tol, "softmax out[%lld,%lld] = %.9g, reference %.9g (tol %.3g, row %lld of %lld edges)",
                           (long long)p, (long long)h, got, ref, tol, (long long)v, (long long)n);
            }
            if (rmax && n > 0 && !std::isinf(m))
                FUZZ_CHECK(same_float(rmax[v * H + h], m), "row_max[%lld,%lld] = %g, expected %g", (long long)v, (long long)h, rmax[v * H + h], m);
            if (rmax && n == 0) FUZZ_CHECK(same_float(rmax[v * H + h], 0.0f), "row_max of an empty row is %g", rmax[v * H + h]);
            if (rsum) {
                double mag = 0;
                for (int64_t p = s; p < e; ++p) mag = std::max(mag, std::fabs(double(sv[p * lds + h]) - mu));
                const double tol = (n + 8 + (std::isinf(mag) ? 0 : mag)) * kU2 * sum;
                FUZZ_CHECK(std::fabs(rsum[v * H + h] - sum) <= tol, "row_sum[%lld,%lld] = %.9g, reference %.9g", (long long)v, (long long)h,
                           rsum[v * H + h], sum);
            }
        }
        for (int64_t p = s; p < e; ++p)
            for (int64_t h = H; h < ldo && p + 1 < g.nnz; ++h)
                FUZZ_CHECK(std::memcmp(ob.r.ptr + 4 * (p * ldo + h), ob.snap.data() + 4 * (p * ldo + h), 4) == 0, "softmax out padding written");
    }
}

template <typename I>
void coo(FuzzedDataProvider& in) {
    const size_t isz = sizeof(I);
    const int32_t itype = isz == 4 ? GK_INDEX_INT32 : GK_INDEX_INT64;
    const int64_t rows = in.ConsumeIntegralInRange<int64_t>(0, 24), cols = in.ConsumeIntegralInRange<int64_t>(0, 24);
    const int64_t nnz = in.ConsumeIntegralInRange<int64_t>(0, in.ConsumeBool() ? 200 : 12);
    const bool with_src = in.ConsumeBool();
    const int bad_rate = in.ConsumeIntegralInRange<int>(0, 3);  // 0: none, else about 1 in 8^rate
    std::vector<I> dv(static_cast<size_t>(nnz)), sv(with_src ? static_cast<size_t>(nnz) : 0);
    auto idx = [&](int64_t n) -> int64_t {
        if ((bad_rate > 0 && in.ConsumeIntegralInRange<int>(0, (1 << (3 * bad_rate)) - 1) == 0) || n == 0)
            return in.ConsumeBool() ? in.ConsumeIntegralInRange<int64_t>(-3, -1) : n + in.ConsumeIntegralInRange<int64_t>(0, 3);
        return in.ConsumeIntegralInRange<int64_t>(0, n - 1);
    };
    for (int64_t p = 0; p < nnz; ++p) {
        dv[p] = static_cast<I>(idx(rows));
        if (with_src) sv[p] = static_cast<I>(idx(cols));
    }
    Region db(dv.size() * isz), sb(sv.size() * isz);
    if (db.bytes) std::memcpy(db.ptr, dv.data(), db.bytes);
    if (sb.bytes) std::memcpy(sb.ptr, sv.data(), sb.bytes);
    size_t wsn = 0;
    FUZZ_CHECK(gk_coo_to_csr_workspace_size(rows, &wsn) == GK_SUCCESS && wsn == static_cast<size_t>(rows + 2) * 8, "workspace size");
    Region ws(wsn);
    Out rpo((rows + 1) * isz), cio(with_src ? nnz * isz : 0), po(nnz * isz);
    void* rp = rpo.r.ptr;
    void* col = with_src ? (void*)cio.r.ptr : nullptr;
    void* perm = po.r.ptr;
    const void* dst = db.ptr;
    const void* src = with_src ? (const void*)sb.ptr : nullptr;
    int32_t a_itype = itype;
    void* wsp = ws.ptr;
    size_t a_wsn = wsn;
    int kind = in.ConsumeIntegralInRange<int>(0, 4) == 0 ? in.ConsumeIntegralInRange<int>(1, 6) : 0;
    switch (kind) {
        case 1: a_itype = in.PickValueInArray({2, -1}); break;
        case 2: if (in.ConsumeBool()) wsp = nullptr; else a_wsn = wsn - 1; break;
        case 3: if (nnz > 0) perm = nullptr; else kind = 0; break;
        case 4: if (nnz > 0 && with_src) col = nullptr; else kind = 0; break;  // src without col_idx
        case 5: if (nnz > 0) perm = db.ptr; else kind = 0; break;              // perm overlaps dst
        case 6: rp = nullptr; break;
        default: break;
    }
    rpo.take(); cio.take(); po.take();
    const gk_status st = gk_coo_to_csr(a_itype, nnz, dst, src, rows, cols, rp, col, perm, wsp, a_wsn, nullptr);
    const char* msg = gk_last_error_message();
    const bool untouched = rpo.unchanged() && cio.unchanged() && po.unchanged() && same_bytes(db.ptr, dv.data(), db.bytes);
    if (kind != 0) {
        FUZZ_CHECK(st == GK_ERROR_INVALID_ARGUMENT || st == GK_ERROR_WORKSPACE, "invalid gk_coo_to_csr (kind %d) returned %s", kind,
                   gk_status_name(st));
        FUZZ_CHECK(starts_with(msg, "gk_coo_to_csr: "), "message does not name gk_coo_to_csr");
        FUZZ_CHECK(untouched, "a failed gk_coo_to_csr (kind %d) wrote", kind);
        return;
    }
    // the first out-of-range dst, else the first out-of-range src
    int64_t bad_p = -1;
    int which = -1;
    for (int k = 0; k < 2 && bad_p < 0; ++k)
        for (int64_t p = 0; p < nnz && bad_p < 0; ++p) {
            if (k == 1 && !with_src) break;
            const int64_t v = k == 0 ? dv[p] : sv[p], n = k == 0 ? rows : cols;
            if (v < 0 || v >= n) bad_p = p, which = k;
        }
    if (bad_p >= 0) {
        FUZZ_CHECK(st == GK_ERROR_INVALID_GRAPH, "out-of-range COO accepted or wrong status %s", gk_status_name(st));
        const std::string want = std::string(which == 0 ? "dst[" : "src[") + std::to_string(bad_p) + "] = " +
                                 std::to_string(static_cast<long long>(which == 0 ? dv[bad_p] : sv[bad_p]));
        FUZZ_CHECK(starts_with(msg, "gk_coo_to_csr: ") && contains(msg, want), "message does not name %s", want.c_str());
        FUZZ_CHECK(untouched, "a rejected COO wrote to the outputs");
        return;
    }
    FUZZ_CHECK(st == GK_SUCCESS, "valid COO rejected: %s", gk_status_name(st));
    // counting sort: stable by COO position
    std::vector<int64_t> cnt(static_cast<size_t>(rows) + 1, 0), ref_perm;
    for (int64_t p = 0; p < nnz; ++p) ++cnt[dv[p] + 1];
    for (int64_t r = 0; r < rows; ++r) cnt[r + 1] += cnt[r];
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t p = 0; p < nnz; ++p) if (dv[p] == r) ref_perm.push_back(p);
    auto at = [&](const Region& r, int64_t i) { I v; std::memcpy(&v, r.ptr + i * isz, isz); return (int64_t)v; };
    for (int64_t r = 0; r <= rows; ++r) FUZZ_CHECK(at(rpo.r, r) == cnt[r], "row_ptr[%lld] = %lld, expected %lld", (long long)r, (long long)at(rpo.r, r), (long long)cnt[r]);
    for (int64_t t = 0; t < nnz; ++t) {
        FUZZ_CHECK(at(po.r, t) == ref_perm[t], "perm[%lld] = %lld, expected %lld", (long long)t, (long long)at(po.r, t), (long long)ref_perm[t]);
        if (with_src) FUZZ_CHECK(at(cio.r, t) == sv[ref_perm[t]], "col_idx[%lld] = %lld, expected %lld", (long long)t, (long long)at(cio.r, t), (long long)sv[ref_perm[t]]);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FuzzedDataProvider in(data, size);
    const int which = in.ConsumeIntegralInRange<int>(0, 2);
    const bool i64 = in.ConsumeBool();
    if (which == 0) i64 ? sddmm<int64_t>(in) : sddmm<int32_t>(in);
    else if (which == 1) i64 ? softmax<int64_t>(in) : softmax<int32_t>(in);
    else i64 ? coo<int64_t>(in) : coo<int32_t>(in);
    return 0;
}
