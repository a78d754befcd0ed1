using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Oracle;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Spmm;

/// <summary>
/// Multi-reducer SpMM (gk_spmm_multi) against a two-pass double oracle (mean, then Σ(m − mean)² / deg).
/// Tolerances: sum/mean/min/max as GSpmmTests (min/max exact: they are the same messages, and compared
/// bitwise with gk_spmm_ex); var ≤ (deg + 4)·2^-23·mean(m²) + u_T·|var| (Welford's update keeps the error
/// proportional to the data scale; half of it is fp32 rounding of each update); std ≤ sqrt(var tolerance)
/// + u_T·|std| (|√a − √b| ≤ √|a − b|).
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[TestFixture(DeviceKind.Ilgpu, Category = "Ilgpu")]
[Category("MessagePassing")]
[Parallelizable(ParallelScope.All)]
public sealed class GSpmmMultiTests
{
    private readonly DeviceKind kind;
    private GraphDevice? device;

    public GSpmmMultiTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    [TestCase("molecules", IndexType.Int32, Message.CopyU, EdgeOperand.None, 17, ValType.F32)]
    [TestCase("powerlaw", IndexType.Int64, Message.UMulE, EdgeOperand.Full, 8, ValType.F32)]
    [TestCase("emptyrows", IndexType.Int32, Message.UAddE, EdgeOperand.Scalar, 33, ValType.F16)]
    [TestCase("hugerow", IndexType.Int64, Message.USubE, EdgeOperand.PerHead, 4, ValType.BF16)]
    [TestCase("noedges", IndexType.Int32, Message.CopyU, EdgeOperand.None, 3, ValType.F32)]
    [TestCase("duplicates", IndexType.Int64, Message.CopyE, EdgeOperand.Full, 5, ValType.F16)]
    public void AllStatisticsMatchOracle(string graph, IndexType index, Message m, EdgeOperand mode, int f, ValType t)
    {
        var c = new GSpmmCase(graph, index, m, mode, mode == EdgeOperand.PerHead ? 2 : 0, Reduce.Sum, f, t, 55);
        using var run = new GSpmmRun(Device, c);
        var outs = Run(run);
        var g = run.Host;
        var (sumRef, _) = GSpmmReference.Forward(g, m, Reduce.Sum, mode, c.Heads, f, run.X, run.E);
        var (meanRef, _) = GSpmmReference.Forward(g, m, Reduce.Mean, mode, c.Heads, f, run.X, run.E);
        var (minRef, _) = GSpmmReference.Forward(g, m, Reduce.Min, mode, c.Heads, f, run.X, run.E);
        var (maxRef, _) = GSpmmReference.Forward(g, m, Reduce.Max, mode, c.Heads, f, run.X, run.E);
        var (varRef, sq) = Variance(run);
        double[] scale = GSpmmReference.AbsScale(g, m, Reduce.Sum, mode, c.Heads, f, run.X, run.E);
        double u = GSpmmHarness.Unit(t), tiny = GSpmmHarness.Tiny(t);
        for (long v = 0; v < g.NumRows; v++)
        {
            long deg = g.Degree(v);
            for (int k = 0; k < f; k++)
            {
                long i = v * f + k;
                double tolSum = (deg + 2) * Math.Pow(2, -23) * scale[i] + u * Math.Abs(sumRef[i]) + tiny;
                Assert.That(outs[0][i], Is.EqualTo(sumRef[i]).Within(tolSum), $"sum[{v},{k}]");
                Assert.That(outs[1][i], Is.EqualTo(meanRef[i]).Within(deg == 0 ? 0 : tolSum / deg + u * Math.Abs(meanRef[i])), $"mean[{v},{k}]");
                Assert.That(outs[2][i], Is.EqualTo(minRef[i]).Within(u * Math.Abs(minRef[i]) + tiny), $"min[{v},{k}]");
                Assert.That(outs[3][i], Is.EqualTo(maxRef[i]).Within(u * Math.Abs(maxRef[i]) + tiny), $"max[{v},{k}]");
                double tolVar = (deg + 4) * Math.Pow(2, -23) * sq[i] + u * varRef[i] + tiny;
                Assert.That(outs[4][i], Is.EqualTo(varRef[i]).Within(tolVar), $"var[{v},{k}]");
                double sd = Math.Sqrt(varRef[i]);
                Assert.That(outs[5][i], Is.EqualTo(sd).Within(Math.Sqrt(tolVar) + u * sd), $"std[{v},{k}]");
            }
        }

        // The one-pass statistics are the same numbers as the single reducers: sum, min and max bitwise.
        foreach (var (r, slot) in new[] { (Reduce.Sum, 0), (Reduce.Min, 2), (Reduce.Max, 3) })
        {
            var y = run.NewValues(g.NumRows * f);
            MessagePassing.SpMM(run.Graph, new SpMMOptions(m, r, mode, c.Heads), f, m == Message.CopyE ? null : run.XBuf, run.EBuf, y);
            Device.Synchronize();
            Assert.That(GSpmmHarness.Download(y), Is.EqualTo(outs[slot]), $"{r} equals the multi-reducer's");
        }
    }

    /// <summary>
    /// Large mean, small spread (x = 1000 + U(−0.1, 0.1)): E[x²] − E[x]² in fp32 loses everything
    /// (cancellation error ≈ 1e6·2^-24 ≈ 0.06 against var ≈ 0.003); Welford keeps 2% relative accuracy.
    /// </summary>
    [Test]
    public void VarianceIsStableForLargeMeans()
    {
        var c = new GSpmmCase("molecules", IndexType.Int32, Message.CopyU, EdgeOperand.None, 0, Reduce.Sum, 2, ValType.F32, 5);
        using var run = new GSpmmRun(Device, c);
        var rng = new SplitMix64(9);
        float[] x = new float[run.Host.NumCols * 2];
        for (int i = 0; i < x.Length; i++) x[i] = 1000f + rng.NextFloat(-0.1f, 0.1f);
        ((DeviceBuffer<float>)run.XBuf).CopyFrom(x);
        Array.Copy(Array.ConvertAll(x, v => (double)v), run.X, x.Length);
        var outs = Run(run);
        var (varRef, _) = Variance(run);
        for (long i = 0; i < varRef.Length; i++)
        {
            if (run.Host.Degree(i / 2) < 2) continue;
            Assert.That(outs[4][i], Is.EqualTo(varRef[i]).Within(0.02 * varRef[i]), $"var[{i}]");
        }
    }

    private double[][] Run(GSpmmRun run)
    {
        int f = run.Case.Features;
        var bufs = Enumerable.Range(0, 6).Select(_ => run.NewValues(run.Host.NumRows * f)).ToArray();
        var o = new SpMMOptions(run.Case.Message, Reduce.Sum, run.Case.Mode, run.Case.Heads);
        MessagePassing.SpMMMulti(run.Graph, o, f, run.Case.Message == Message.CopyE ? null : run.XBuf, run.EBuf,
            bufs[0], bufs[1], bufs[2], bufs[3], bufs[4], bufs[5]);
        Device.Synchronize();
        return bufs.Select(GSpmmHarness.Download).ToArray();
    }

    /// <summary>Two-pass double variance per element, and mean(m²) (the scale of its rounding error).</summary>
    private static (double[] Var, double[] Sq) Variance(GSpmmRun run)
    {
        var c = run.Case;
        var g = run.Host;
        int f = c.Features;
        var var = new double[g.NumRows * f];
        var sq = new double[g.NumRows * f];
        for (long v = 0; v < g.NumRows; v++)
        {
            long deg = g.Degree(v);
            if (deg == 0) continue;
            for (int k = 0; k < f; k++)
            {
                var ms = new List<double>();
                for (long p = g.RowPtr[v]; p < g.RowPtr[v + 1]; p++)
                {
                    double xv = c.Message == Message.CopyE ? 0 : run.X[g.ColIdx[p] * f + k];
                    ms.Add(GSpmmReference.Message(c.Message, xv, run.E is null ? 0 : GSpmmReference.Edge(run.E, c.Mode, c.Heads, f, p, k)));
                }

                double mean = ms.Average();
                var[v * f + k] = ms.Sum(m => (m - mean) * (m - mean)) / deg;
                sq[v * f + k] = ms.Sum(m => m * m) / deg;
            }
        }

        return (var, sq);
    }
}
