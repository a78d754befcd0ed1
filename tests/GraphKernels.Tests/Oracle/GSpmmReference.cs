using GraphKernels.Tests.Graphs;

namespace GraphKernels.Tests.Oracle;

/// <summary>
/// Double-precision reference of the generalized SpMM, its backward and the graph plan, written from
/// the definitions (README "SpMM semantics"), independent of the library. Values are doubles of the
/// inputs exactly as uploaded (already rounded to the value type).
/// </summary>
public static class GSpmmReference
{
    /// <summary>Width of the edge operand: 1, H or F (0 for none).</summary>
    public static int EdgeWidth(EdgeOperand mode, int heads, int f) => mode switch
    {
        EdgeOperand.Scalar => 1,
        EdgeOperand.PerHead => heads,
        EdgeOperand.Full => f,
        _ => 0,
    };

    /// <summary>E(e, f) of the edge operand stored as [E, width] (dense).</summary>
    public static double Edge(double[] e, EdgeOperand mode, int heads, int f, long pos, int feat) => mode switch
    {
        EdgeOperand.Scalar => e[pos],
        EdgeOperand.PerHead => e[pos * heads + feat / (f / heads)],
        _ => e[pos * f + feat],
    };

    public static double Message(Message m, double x, double e) => m switch
    {
        GraphKernels.Message.CopyU => x,
        GraphKernels.Message.UMulE => x * e,
        GraphKernels.Message.CopyE => e,
        GraphKernels.Message.UAddE => x + e,
        GraphKernels.Message.USubE => x - e,
        GraphKernels.Message.UDivE => x / e,
        _ => throw new ArgumentOutOfRangeException(nameof(m)),
    };

    /// <summary>d msg / d x and d msg / d e.</summary>
    public static (double Dx, double De) MessageGrad(Message m, double x, double e) => m switch
    {
        GraphKernels.Message.CopyU => (1, 0),
        GraphKernels.Message.UMulE => (e, x),
        GraphKernels.Message.CopyE => (0, 1),
        GraphKernels.Message.UAddE => (1, 1),
        GraphKernels.Message.USubE => (1, -1),
        GraphKernels.Message.UDivE => (1 / e, -x / (e * e)),
        _ => throw new ArgumentOutOfRangeException(nameof(m)),
    };

    /// <summary>Forward: y [M, F] (dense) and arg [M, F] (max/min; -1 for empty rows).</summary>
    public static (double[] Y, long[] Arg) Forward(HostCsr g, Message msg, Reduce red, EdgeOperand mode, int heads, int f,
        double[] x, double[]? e, bool emptyInf = false)
    {
        var y = new double[g.NumRows * f];
        var arg = new long[g.NumRows * f];
        for (long v = 0; v < g.NumRows; v++)
        {
            long s = g.RowPtr[v], t = g.RowPtr[v + 1];
            for (int k = 0; k < f; k++)
            {
                double acc = red == Reduce.Mul ? 1 : 0;
                long best = -1;
                for (long p = s; p < t; p++)
                {
                    double xv = msg == GraphKernels.Message.CopyE ? 0 : x[g.ColIdx[p] * f + k];
                    double ev = e is null ? 0 : Edge(e, mode, heads, f, p, k);
                    double m = Message(msg, xv, ev);
                    switch (red)
                    {
                        case Reduce.Sum:
                        case Reduce.Mean: acc += m; break;
                        case Reduce.Mul: acc *= m; break;
                        default:
                            bool better = red == Reduce.Max ? m > acc : m < acc;
                            if (best < 0 || (!double.IsNaN(acc) && (double.IsNaN(m) || better)))
                            {
                                acc = m;
                                best = p;
                            }

                            break;
                    }
                }

                long deg = t - s;
                if (deg == 0)
                {
                    acc = red == Reduce.Mul ? 1 : 0;
                    if (emptyInf && red == Reduce.Max) acc = double.NegativeInfinity;
                    if (emptyInf && red == Reduce.Min) acc = double.PositiveInfinity;
                }
                else if (red == Reduce.Mean)
                {
                    acc /= deg;
                }

                y[v * f + k] = acc;
                arg[v * f + k] = best;
            }
        }

        return (y, arg);
    }

    /// <summary>
    /// Sum of |message| per output element (and the degree), the scale the fp32 summation error is
    /// bounded by: |fl(Σ m) − Σ m| ≤ (deg − 1) · u · Σ|m| (u = 2^-24).
    /// </summary>
    public static double[] AbsScale(HostCsr g, Message msg, Reduce red, EdgeOperand mode, int heads, int f, double[] x, double[]? e)
    {
        var s = new double[g.NumRows * f];
        for (long v = 0; v < g.NumRows; v++)
        {
            for (int k = 0; k < f; k++)
            {
                double a = red == Reduce.Mul ? 1 : 0;
                for (long p = g.RowPtr[v]; p < g.RowPtr[v + 1]; p++)
                {
                    double xv = msg == GraphKernels.Message.CopyE ? 0 : x[g.ColIdx[p] * f + k];
                    double m = Math.Abs(Message(msg, xv, e is null ? 0 : Edge(e, mode, heads, f, p, k)));
                    if (red == Reduce.Mul) a *= m; else a += m;
                }

                long deg = g.Degree(v);
                s[v * f + k] = red == Reduce.Mean && deg > 0 ? a / deg : a;
            }
        }

        return s;
    }

    /// <summary>
    /// Backward from the definitions: dm(v, e, f) = dL/d msg; dX[u, f] = Σ_{e: col[e] = u} dm · dmsg/dx;
    /// dE[e, k] = Σ_{f reading E(e, k)} dm · dmsg/de. arg: the forward's winners (max/min).
    /// </summary>
    public static (double[] Dx, double[] De) Backward(HostCsr g, Message msg, Reduce red, EdgeOperand mode, int heads, int f,
        double[] x, double[]? e, long[]? arg, double[] gy)
    {
        var dx = new double[g.NumCols * f];
        int width = EdgeWidth(mode, heads, f);
        var de = new double[g.Nnz * Math.Max(1, width)];
        for (long v = 0; v < g.NumRows; v++)
        {
            long s = g.RowPtr[v], t = g.RowPtr[v + 1];
            long deg = t - s;
            for (int k = 0; k < f; k++)
            {
                for (long p = s; p < t; p++)
                {
                    long u = g.ColIdx[p];
                    double xv = msg == GraphKernels.Message.CopyE ? 0 : x[u * f + k];
                    double ev = e is null ? 0 : Edge(e, mode, heads, f, p, k);
                    double c = gy[v * f + k];
                    switch (red)
                    {
                        case Reduce.Mean: c /= deg; break;
                        case Reduce.Max:
                        case Reduce.Min: c = arg![v * f + k] == p ? c : 0; break;
                        case Reduce.Mul:
                            double prod = 1;
                            for (long q = s; q < t; q++)
                            {
                                if (q == p) continue;
                                double xq = msg == GraphKernels.Message.CopyE ? 0 : x[g.ColIdx[q] * f + k];
                                prod *= Message(msg, xq, e is null ? 0 : Edge(e, mode, heads, f, q, k));
                            }

                            c *= prod;
                            break;
                    }

                    var (mx, me) = MessageGrad(msg, xv, ev);
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

    /// <summary>The transpose by stable counting sort: (tRowPtr [K+1], tCol [E] = destination, perm [E] = CSR position).</summary>
    public static (long[] RowPtr, long[] Col, long[] Perm) Transpose(HostCsr g)
    {
        var rp = new long[g.NumCols + 1];
        foreach (long c in g.ColIdx) rp[c + 1]++;
        for (long u = 0; u < g.NumCols; u++) rp[u + 1] += rp[u];
        var next = (long[])rp.Clone();
        var col = new long[g.Nnz];
        var perm = new long[g.Nnz];
        for (long v = 0; v < g.NumRows; v++)
        {
            for (long p = g.RowPtr[v]; p < g.RowPtr[v + 1]; p++)
            {
                long slot = next[g.ColIdx[p]]++;
                col[slot] = v;
                perm[slot] = p;
            }
        }

        return (rp, col, perm);
    }
}
