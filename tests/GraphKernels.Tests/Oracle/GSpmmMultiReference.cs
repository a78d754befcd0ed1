using GraphKernels.Tests.Graphs;

namespace GraphKernels.Tests.Oracle;

/// <summary>
/// Double-precision backward of the multi-reducer SpMM, from the definitions (independent of the library):
/// per row v (deg n > 0), feature f, messages m_p: mean μ = Σm/n, var = Σ(m − μ)²/n, std = √var,
/// d sum/dm_p = 1, d mean/dm_p = 1/n, d var/dm_p = 2(m_p − μ)/n, d std/dm_p = (m_p − μ)/(n·std) (0 where std = 0,
/// the documented choice), d min/dm_p = d max/dm_p = 1 for the first extreme in CSR order, else 0.
/// </summary>
public static class GSpmmMultiReference
{
    /// <summary>
    /// dX [K, F] and dE [E, width] from the upstream gradients g[k] ([M, F] dense, null = none; k in the
    /// gk_multi_reduce bit order sum, mean, min, max, var, std). With <paramref name="absolute"/>, the same sums
    /// over absolute values with each variance/std coefficient multiplied by (|m_p| + mean|m|)·(1 + mean(m²)/var)
    /// instead of (m_p − μ): the scale that bounds the fp32 rounding error of the device (tolerance of the tests).
    /// </summary>
    public static (double[] Dx, double[] De) Backward(HostCsr g, Message msg, EdgeOperand mode, int heads, int f,
        double[] x, double[]? e, double[]?[] up, bool absolute = false)
    {
        var dx = new double[g.NumCols * f];
        int width = GSpmmReference.EdgeWidth(mode, heads, f);
        var de = new double[g.Nnz * Math.Max(1, width)];
        double U(int k, long i) => up[k] is null ? 0 : absolute ? Math.Abs(up[k]![i]) : up[k]![i];
        for (long v = 0; v < g.NumRows; v++)
        {
            long s = g.RowPtr[v], t = g.RowPtr[v + 1];
            long n = t - s;
            if (n == 0) continue;
            for (int k = 0; k < f; k++)
            {
                var m = new double[n];
                long amin = -1, amax = -1;
                for (long p = s; p < t; p++)
                {
                    double xv = msg == Message.CopyE ? 0 : x[g.ColIdx[p] * f + k];
                    m[p - s] = GSpmmReference.Message(msg, xv, e is null ? 0 : GSpmmReference.Edge(e, mode, heads, f, p, k));
                    if (amin < 0 || m[p - s] < m[amin - s]) amin = p;
                    if (amax < 0 || m[p - s] > m[amax - s]) amax = p;
                }

                double mu = m.Average();
                double var = m.Sum(a => (a - mu) * (a - mu)) / n;
                double sd = Math.Sqrt(var);
                double sq = m.Sum(a => a * a) / n;
                double absMean = m.Sum(Math.Abs) / n;
                long i = v * f + k;
                double c0 = U(0, i) + (U(1, i) / n);
                double c1 = (2 * U(4, i) / n) + (sd > 0 ? U(5, i) / (n * sd) : 0);
                for (long p = s; p < t; p++)
                {
                    double mp = m[p - s];
                    double c = absolute
                        ? c0 + (c1 * (Math.Abs(mp) + absMean) * (1 + (var > 0 ? sq / var : 0)))
                        : c0 + (c1 * (mp - mu));
                    if (p == amin) c += U(2, i);
                    if (p == amax) c += U(3, i);
                    long u = g.ColIdx[p];
                    double xv = msg == Message.CopyE ? 0 : x[u * f + k];
                    double ev = e is null ? 0 : GSpmmReference.Edge(e, mode, heads, f, p, k);
                    var (mx, me) = GSpmmReference.MessageGrad(msg, xv, ev);
                    if (absolute)
                    {
                        (mx, me) = (Math.Abs(mx), Math.Abs(me));
                    }

                    dx[u * f + k] += c * mx;
                    if (width > 0)
                    {
                        long slot = mode switch
                        {
                            EdgeOperand.Scalar => p,
                            EdgeOperand.PerHead => p * heads + k / (f / heads),
                            _ => p * f + k,
                        };
                        de[slot] += c * me;
                    }
                }
            }
        }

        return (dx, de);
    }
}
