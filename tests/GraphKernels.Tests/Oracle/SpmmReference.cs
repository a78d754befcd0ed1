using System.Text;
using GraphKernels.Tests.Graphs;

namespace GraphKernels.Tests.Oracle;

/// <summary>What the oracle expects for one SpMM call: dense [M, F] results plus what is needed to judge them.</summary>
public sealed class SpmmExpected
{
    public SpmmExpected(long rows, long features, bool hasArg)
    {
        Rows = rows;
        Features = features;
        Value = new double[rows * features];
        AbsSum = new double[rows * features];
        Degree = new long[rows];
        Arg = hasArg ? new long[rows * features] : null;
    }

    public long Rows { get; }
    public long Features { get; }

    /// <summary>Sum/mean: the exact-as-double result; max/min: the winning fp32 message (widened).</summary>
    public double[] Value { get; }

    /// <summary>Σ|terms| of the element (divided by the degree for mean): the scale of the fp32 rounding error.</summary>
    public double[] AbsSum { get; }

    /// <summary>Max/min only: CSR position of the winner (lowest on ties, first NaN), -1 on empty rows.</summary>
    public long[]? Arg { get; }

    public long[] Degree { get; }
}

/// <summary>
/// The reference SpMM: plain loops over the CSR rows, accumulating sums in double. It shares no
/// code with the library and is written to be obviously correct rather than fast.
///
/// Y[v, f] = reduce over CSR positions e in row v of msg(X[col[e], f], w[e]);
/// msg = X[u, f] (CopyU) or X[u, f] * w[e] (UMulE). Sum: empty → 0. Mean: sum / deg, empty → 0.
/// Max/Min: empty → 0 with arg −1; otherwise, if any message of the element is NaN the result is
/// NaN with arg = position of the first NaN; else the extreme value with arg = the lowest CSR
/// position holding it.
/// </summary>
public static class SpmmReference
{
    public static SpmmExpected Compute(HostCsr g, Message message, Reduce reduce, long features,
        float[] x, long ldx, float[]? weight)
    {
        bool extreme = reduce is Reduce.Max or Reduce.Min;
        var exp = new SpmmExpected(g.NumRows, features, extreme);
        for (long v = 0; v < g.NumRows; v++)
        {
            long start = g.RowPtr[v], end = g.RowPtr[v + 1], deg = end - start;
            exp.Degree[v] = deg;
            for (long f = 0; f < features; f++)
            {
                long o = v * features + f;
                if (!extreme)
                {
                    double sum = 0, abs = 0;
                    for (long e = start; e < end; e++)
                    {
                        double term = x[g.ColIdx[e] * ldx + f];
                        if (message == Message.UMulE) term *= weight![e];
                        sum += term;
                        abs += Math.Abs(term);
                    }

                    if (reduce == Reduce.Mean && deg > 0)
                    {
                        sum /= deg;
                        abs /= deg;
                    }

                    exp.Value[o] = sum;
                    exp.AbsSum[o] = abs;
                    continue;
                }

                if (deg == 0)
                {
                    exp.Value[o] = 0;
                    exp.Arg![o] = -1;
                    continue;
                }

                // The winner is one message, computed in fp32 exactly as the kernel must compute it.
                var msgs = new float[deg];
                for (long e = start; e < end; e++)
                {
                    float xv = x[g.ColIdx[e] * ldx + f];
                    msgs[e - start] = message == Message.UMulE ? xv * weight![e] : xv;
                }

                long firstNaN = Array.FindIndex(msgs, float.IsNaN);
                if (firstNaN >= 0)
                {
                    exp.Value[o] = double.NaN;
                    exp.Arg![o] = start + firstNaN;
                    continue;
                }

                float best = msgs[0];
                foreach (float m in msgs) best = reduce == Reduce.Max ? Math.Max(best, m) : Math.Min(best, m);
                long first = Array.FindIndex(msgs, m => m == best);  // -0 == +0: a tie, as for the kernel's compare
                exp.Value[o] = msgs[first];
                exp.Arg![o] = start + first;
            }
        }

        return exp;
    }
}

/// <summary>
/// Judges a device result against <see cref="SpmmExpected"/>.
///
/// Sum/mean tolerance. Each output element is a sum of n = deg fp32 terms (UMulE: each product
/// rounded once, or fused into an FMA); in any summation order, fp32 recursive or tree summation
/// satisfies |computed − exact| ≤ γ(n−1)·Σ|t|, the rounded products add u·Σ|t|, and mean's final
/// division adds u·|result| ≤ u·Σ|t|/deg, where u = 2^−24 and γ(k) = k·u / (1 − k·u) (Higham,
/// Accuracy and Stability of Numerical Algorithms, §4.2). So the bound used is
/// γ(deg + 2)·Σ|t| (Σ|t| divided by deg for mean) — a proven worst case for fp32 accumulation, not a
/// fitted number. For "dyadic" inputs (see <see cref="SpmmInputs"/>) every product and partial sum
/// is exactly representable in fp32, so sum must be exact and mean within 2u of the exact quotient
/// (one division, or a reciprocal and a multiply).
/// Max/min: value and arg must match exactly (the winner is a single fp32 message).
/// NaN expected → NaN required; ±∞ expected → the same infinity.
/// </summary>
public static class SpmmCompare
{
    private const double U = 1.0 / (1 << 24);

    public static double Gamma(long n) => n * U / (1 - n * U);

    /// <summary>Returns null when everything matches, else a report of the first mismatches.</summary>
    public static string? Check(SpmmExpected exp, Reduce reduce, bool exactInputs, float[] y, long ldy,
        long[]? arg, long ldArg, int maxReport = 12)
    {
        var sb = new StringBuilder();
        long bad = 0;
        for (long v = 0; v < exp.Rows; v++)
        {
            for (long f = 0; f < exp.Features; f++)
            {
                long o = v * exp.Features + f;
                double want = exp.Value[o];
                float got = y[v * ldy + f];
                string? why = null;
                if (double.IsNaN(want))
                {
                    if (!float.IsNaN(got)) why = "expected NaN";
                }
                else if (double.IsInfinity(want))
                {
                    if (got != want) why = "expected " + want;
                }
                else if (reduce is Reduce.Max or Reduce.Min)
                {
                    if (got != (float)want) why = "extreme value differs";
                }
                else
                {
                    double tol = exactInputs
                        ? (reduce == Reduce.Sum ? 0.0 : 2 * U * Math.Abs(want))
                        : Gamma(exp.Degree[v] + 2) * exp.AbsSum[o];
                    double diff = Math.Abs(got - want);
                    if (!(diff <= tol)) why = $"|diff| {diff:G6} > tol {tol:G6}";
                }

                if (why == null && arg != null && exp.Arg != null)
                {
                    long gotArg = arg[v * ldArg + f];
                    if (gotArg != exp.Arg[o]) why = $"arg {gotArg} != expected {exp.Arg[o]}";
                }

                if (why != null)
                {
                    if (bad < maxReport)
                    {
                        sb.Append($"  y[{v},{f}] = {got:R} expected {want:R}");
                        if (exp.Arg != null) sb.Append($" (arg expected {exp.Arg[o]})");
                        sb.Append($" deg={exp.Degree[v]}: {why}\n");
                    }

                    bad++;
                }
            }
        }

        return bad == 0 ? null : $"{bad} of {exp.Rows * exp.Features} elements wrong:\n{sb}";
    }
}
