using GraphKernels.Tests.Graphs;

namespace GraphKernels.Tests.Jit;

/// <summary>
/// Double-precision oracle for fused message passing, written independently of the kernels: per
/// destination row, the messages of its CSR positions in order, then sum / mean / max / min;
/// empty rows give 0 for every reducer.
/// </summary>
public static class FusedMessageOracle
{
    /// <summary>A message over double copies of the operands: (src row, dst row, edge row, f).</summary>
    public delegate double Message(ReadOnlySpan<float> src, ReadOnlySpan<float> dst, ReadOnlySpan<float> edge, int f);

    public static Message For(FusedBuiltin builtin) => builtin switch
    {
        FusedBuiltin.CopyU => (s, d, e, f) => s[f],
        FusedBuiltin.UMulE => (s, d, e, f) => (double)s[f] * e[0],
        FusedBuiltin.UAddV => (s, d, e, f) => (double)s[f] + d[f],
        FusedBuiltin.UMulEFeat => (s, d, e, f) => (double)s[f] * e[f],
        _ => throw new ArgumentOutOfRangeException(nameof(builtin)),
    };

    /// <summary>Y [rows, F] in double, and per element the sum of |message| (for the fp32 error bound).</summary>
    public static (double[] Y, double[] AbsSum) Run(HostCsr g, int features, float[] src, float[] dst, float[] edge, int edgeWidth,
        Message message, Reduce reduce)
    {
        var y = new double[g.NumRows * features];
        var abs = new double[g.NumRows * features];
        for (long v = 0; v < g.NumRows; v++)
        {
            long start = g.RowPtr[v], end = g.RowPtr[v + 1];
            ReadOnlySpan<float> dstRow = dst.Length == 0 ? default : dst.AsSpan((int)(v * features), features);
            for (int f = 0; f < features; f++)
            {
                double acc = 0, a = 0;
                for (long e = start; e < end; e++)
                {
                    long u = g.ColIdx[e];
                    ReadOnlySpan<float> srcRow = src.AsSpan((int)(u * features), features);
                    ReadOnlySpan<float> edgeRow = edgeWidth == 0 ? default : edge.AsSpan((int)(e * edgeWidth), edgeWidth);
                    double m = message(srcRow, dstRow, edgeRow, f);
                    a += Math.Abs(m);
                    acc = reduce switch
                    {
                        Reduce.Sum or Reduce.Mean => acc + m,
                        Reduce.Max => e == start ? m : Math.Max(acc, m),
                        _ => e == start ? m : Math.Min(acc, m),
                    };
                }

                long deg = end - start;
                if (reduce == Reduce.Mean && deg > 0)
                {
                    acc /= deg;
                    a /= deg;
                }

                y[v * features + f] = acc;
                abs[v * features + f] = a;
            }
        }

        return (y, abs);
    }
}
