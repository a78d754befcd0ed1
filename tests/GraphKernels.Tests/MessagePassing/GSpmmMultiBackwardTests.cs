using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Oracle;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Spmm;

/// <summary>
/// Backward of the multi-reducer SpMM (gk_spmm_multi_backward) against the double oracle
/// (Oracle/GSpmmMultiReference.cs) and against central finite differences of the device forward.
///
/// Tolerance (per gradient element, from the dtype): |got − ref| ≤ n·2^-23·S + u_T·|ref| + tiny_T, where S is the
/// oracle run on absolute values with each variance/std coefficient multiplied by (|m| + mean|m|)·(1 + mean(m²)/var)
/// (the fp32 error of the Welford mean is ≤ n·u·mean|m| and the relative error of var ≤ n·u·mean(m²)/var, which
/// 1/std and (m − μ) amplify), n = max(degree, out-degree, F) + 8 bounds the fp32 operations feeding an element,
/// and u_T·|ref| is the single rounding to the stored type (2^-24 fp32, 2^-11 fp16, 2^-8 bf16).
/// Inputs are dyadic (k/4; edges of u_div_e ±2^j), so every message is exact in fp32 and the oracle's winners
/// (first extreme in CSR order, many ties) are the device's.
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[TestFixture(DeviceKind.Ilgpu, Category = "Ilgpu")]
[Category("MessagePassing")]
[Parallelizable(ParallelScope.All)]
public sealed class GSpmmMultiBackwardTests
{
    private const uint All = 63;
    private readonly DeviceKind kind;
    private GraphDevice? device;

    public GSpmmMultiBackwardTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    [TestCase("molecules", IndexType.Int32, Message.CopyU, EdgeOperand.None, 17, ValType.F32, All)]
    [TestCase("powerlaw", IndexType.Int64, Message.UMulE, EdgeOperand.Full, 8, ValType.F32, All)]
    [TestCase("emptyrows", IndexType.Int32, Message.UAddE, EdgeOperand.Scalar, 33, ValType.F16, All)]
    [TestCase("hugerow", IndexType.Int64, Message.USubE, EdgeOperand.PerHead, 4, ValType.BF16, All)]
    [TestCase("noedges", IndexType.Int32, Message.CopyU, EdgeOperand.None, 3, ValType.F32, All)]
    [TestCase("duplicates", IndexType.Int64, Message.CopyE, EdgeOperand.Full, 5, ValType.F16, All)]
    [TestCase("hub", IndexType.Int32, Message.UDivE, EdgeOperand.Scalar, 6, ValType.F32, 12u)]
    [TestCase("selfloops", IndexType.Int64, Message.UMulE, EdgeOperand.PerHead, 6, ValType.BF16, 48u)]
    [TestCase("er", IndexType.Int32, Message.UMulE, EdgeOperand.Scalar, 32, ValType.F32, 3u)]
    public void GradientsMatchOracle(string graph, IndexType index, Message m, EdgeOperand mode, int f, ValType t, uint stats)
    {
        using var run = NewRun(graph, index, m, mode, f, t);
        var up = Upstream(run, stats, 7);
        var (dx, de) = Backward(run, up.Bufs);
        AssertMatchesOracle(run, up.Host, dx, de);
    }

    /// <summary>
    /// Every row's messages equal (copy_u of a constant X): var = std = 0 everywhere. The std gradient is the
    /// documented 0 (not NaN: PyTorch's sqrt backward gives inf·0 there), so with only gStd given dX is exactly 0,
    /// and with every statistic it is the oracle's.
    /// </summary>
    [Test]
    public void ZeroStdGivesZeroStdGradient()
    {
        using var run = NewRun("powerlaw", IndexType.Int32, Message.CopyU, EdgeOperand.None, 4, ValType.F32);
        float[] xc = Enumerable.Repeat(0.75f, (int)run.Host.NumCols * 4).ToArray();
        ((DeviceBuffer<float>)run.XBuf).CopyFrom(xc);
        Array.Fill(run.X, 0.75);
        var onlyStd = Upstream(run, 32, 3);
        var (dx, _) = Backward(run, onlyStd.Bufs);
        Assert.That(GSpmmHarness.Download(dx!), Is.All.EqualTo(0.0), "std term with std = 0");
        var all = Upstream(run, All, 4);
        var (dx2, _) = Backward(run, all.Bufs);
        Assert.That(GSpmmHarness.Download(dx2!).All(double.IsFinite), Is.True);
        AssertMatchesOracle(run, all.Host, dx2, null);
    }

    /// <summary>Ten runs on the hub-heavy graph give bitwise-identical dX and dE.</summary>
    [TestCase(Message.UMulE, EdgeOperand.Full, ValType.F32)]
    [TestCase(Message.UAddE, EdgeOperand.PerHead, ValType.BF16)]
    public void TenRunsAreBitwiseIdentical(Message m, EdgeOperand mode, ValType t)
    {
        using var run = NewRun("powerlaw-big", IndexType.Int64, m, mode, 8, t);
        var up = Upstream(run, All, 11);
        long[]? dx0 = null, de0 = null;
        for (int k = 0; k < 10; k++)
        {
            var (dx, de) = Backward(run, up.Bufs);
            long[] dxb = GSpmmHarness.Bits(dx!), deb = GSpmmHarness.Bits(de!);
            if (k == 0)
            {
                AssertMatchesOracle(run, up.Host, dx, de);
                (dx0, de0) = (dxb, deb);
                continue;
            }

            Assert.That(dxb, Is.EqualTo(dx0), $"run {k}: dX");
            Assert.That(deb, Is.EqualTo(de0), $"run {k}: dE");
        }
    }

    /// <summary>
    /// Central finite differences of L = Σ_k ⟨g_k, stat_k⟩ computed from the device forward (gk_spmm_multi), random
    /// (not dyadic) fp32 values on a small molecular batch. h = 1e-2: the fp32 rounding of the changed outputs
    /// (≈ 1e-7 relative) over h and the O(h²·1/std²) truncation stay below 1e-3; tolerance 5e-3·(1 + |fd|).
    /// A probe whose ±h moves a min/max winner (a kink) is skipped, judged by the double oracle's winners.
    /// </summary>
    [TestCase(Message.UMulE, EdgeOperand.Full)]
    [TestCase(Message.CopyU, EdgeOperand.None)]
    [TestCase(Message.UDivE, EdgeOperand.Scalar)]
    [TestCase(Message.CopyE, EdgeOperand.PerHead)]
    public void GradientsMatchFiniteDifferences(Message m, EdgeOperand mode)
    {
        const int f = 4;
        var c = new GSpmmCase("molecules-small", IndexType.Int32, m, mode, mode == EdgeOperand.PerHead ? 2 : 0, Reduce.Sum, f, ValType.F32, 78);
        using var run = new GSpmmRun(Device, c);
        var o = Options(run);
        var up = Upstream(run, All, 5);
        var (dxb, deb) = Backward(run, up.Bufs);
        double[]? dx = dxb is null ? null : GSpmmHarness.Download(dxb);
        double[]? de = deb is null ? null : GSpmmHarness.Download(deb);
        var outs = Enumerable.Range(0, 6).Select(_ => run.NewValues(run.Host.NumRows * f)).ToArray();
        double Loss()
        {
            MessagePassing.SpMMMulti(run.Graph, o, f, m == Message.CopyE ? null : run.XBuf, run.EBuf,
                outs[0], outs[1], outs[2], outs[3], outs[4], outs[5]);
            Device.Synchronize();
            double l = 0;
            for (int k = 0; k < 6; k++)
            {
                double[] y = GSpmmHarness.Download(outs[k]);
                for (int i = 0; i < y.Length && i < up.Host[k]!.Length; i++) l += up.Host[k]![i] * y[i];
            }

            return l;
        }

        const float h = 1e-2f;
        var rng = new SplitMix64(6);
        int checkedProbes = 0;
        void Probe(string name, DeviceBuffer buf, double[] host, double[] grad)
        {
            float[] baseVals = ((DeviceBuffer<float>)buf).ToArray();
            for (int t = 0; t < 16; t++)
            {
                int i = rng.NextInt(grad.Length);
                if (MovesAWinner(run, host, i, h)) continue;
                float[] p = (float[])baseVals.Clone();
                p[i] = baseVals[i] + h;
                ((DeviceBuffer<float>)buf).CopyFrom(p);
                double lp = Loss();
                p[i] = baseVals[i] - h;
                ((DeviceBuffer<float>)buf).CopyFrom(p);
                double lm = Loss();
                double fd = (lp - lm) / (2 * (double)h);
                Assert.That(grad[i], Is.EqualTo(fd).Within(5e-3 * (1 + Math.Abs(fd))), $"{c}: d{name}[{i}]");
                checkedProbes++;
            }

            ((DeviceBuffer<float>)buf).CopyFrom(baseVals);
        }

        if (dx is not null) Probe("X", run.XBuf, run.X, dx);
        if (de is not null) Probe("E", run.EBuf!, run.E!, de);
        Assert.That(checkedProbes, Is.GreaterThanOrEqualTo(8), "most probes are away from min/max kinks");
    }

    /// <summary>Whether x ± h at host[i] changes any min/max winner (double oracle).</summary>
    private static bool MovesAWinner(GSpmmRun run, double[] host, int i, double h)
    {
        var c = run.Case;
        double keep = host[i];
        try
        {
            long[]? Args(double value, Reduce r)
            {
                host[i] = value;
                return GSpmmReference.Forward(run.Host, c.Message, r, c.Mode, c.Heads, c.Features, run.X, run.E).Arg;
            }

            foreach (Reduce r in new[] { Reduce.Min, Reduce.Max })
            {
                if (!Args(keep + h, r)!.SequenceEqual(Args(keep - h, r)!)) return true;
            }

            return false;
        }
        finally
        {
            host[i] = keep;
        }
    }

    private GSpmmRun NewRun(string graph, IndexType index, Message m, EdgeOperand mode, int f, ValType t)
    {
        // Reduce = Max in the case makes GSpmmRun draw dyadic values; the calls use the multi-reducer's options.
        int heads = mode == EdgeOperand.PerHead ? (f % 2 == 0 ? 2 : 1) : 0;
        return new GSpmmRun(Device, new GSpmmCase(graph, index, m, mode, heads, Reduce.Max, f, t, 55));
    }

    private static SpMMOptions Options(GSpmmRun run) => new(run.Case.Message, Reduce.Sum, run.Case.Mode, run.Case.Heads);

    /// <summary>Upstream gradients (dyadic k/8, exact in every type) for the statistics in <paramref name="stats"/>.</summary>
    private static (DeviceBuffer?[] Bufs, double[]?[] Host) Upstream(GSpmmRun run, uint stats, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var bufs = new DeviceBuffer?[6];
        var host = new double[]?[6];
        long n = run.Host.NumRows * run.Case.Features;
        for (int k = 0; k < 6; k++)
        {
            if (((stats >> k) & 1) == 0) continue;
            float[] g = new float[n];
            for (int i = 0; i < g.Length; i++) g[i] = rng.NextInt(-8, 9) / 8f;
            host[k] = GSpmmHarness.RoundAll(run.Case.Type, g);
            bufs[k] = run.Own(GSpmmHarness.Upload(run.Device, run.Case.Type, g));
        }

        return (bufs, host);
    }

    private (DeviceBuffer? Dx, DeviceBuffer? De) Backward(GSpmmRun run, DeviceBuffer?[] g)
    {
        var c = run.Case;
        int f = c.Features;
        int width = GSpmmReference.EdgeWidth(c.Mode, c.Heads, f);
        var o = Options(run);
        DeviceBuffer? dx = c.Message == Message.CopyE ? null : run.NewValues(run.Host.NumCols * f);
        DeviceBuffer? de = width == 0 ? null : run.NewValues(run.Host.Nnz * width);
        long bytes = MessagePassing.SpMMMultiBackwardWorkspaceBytes(run.Graph, o, f);
        Assert.That(bytes, Is.EqualTo(run.Host.Nnz * f * 4L), "workspace formula");
        DeviceBuffer? ws = bytes > 0 ? run.Own(Device.Allocate<byte>(bytes)) : null;
        MessagePassing.SpMMMultiBackward(run.Graph, run.Plan, o, f, c.Message == Message.CopyE ? null : run.XBuf, run.EBuf,
            g[0], g[1], g[2], g[3], g[4], g[5], dx, de, ws);
        Device.Synchronize();
        return (dx, de);
    }

    private static void AssertMatchesOracle(GSpmmRun run, double[]?[] up, DeviceBuffer? dxb, DeviceBuffer? deb)
    {
        var c = run.Case;
        var g = run.Host;
        int f = c.Features;
        var (dxRef, deRef) = GSpmmMultiReference.Backward(g, c.Message, c.Mode, c.Heads, f, run.X, run.E, up);
        var (dxS, deS) = GSpmmMultiReference.Backward(g, c.Message, c.Mode, c.Heads, f, run.X, run.E, up, absolute: true);
        long maxOut = 0;
        var outDeg = new long[g.NumCols];
        foreach (long col in g.ColIdx) maxOut = Math.Max(maxOut, ++outDeg[col]);
        long n = Math.Max(Math.Max(g.MaxDegree, maxOut), f) + 8;
        double u = GSpmmHarness.Unit(c.Type);

        void Check(string name, DeviceBuffer? b, double[] reference, double[] scale)
        {
            if (b is null) return;
            double[] got = GSpmmHarness.Download(b);
            int bad = 0;
            string first = "";
            for (int i = 0; i < reference.Length; i++)
            {
                double tol = (n * Math.Pow(2, -23) * scale[i]) + (u * Math.Abs(reference[i])) + GSpmmHarness.Tiny(c.Type);
                if (!(Math.Abs(got[i] - reference[i]) <= tol))
                {
                    if (bad++ == 0) first = $"{name}[{i}] = {got[i]:R}, oracle {reference[i]:R}, tol {tol:E2}";
                }
            }

            Assert.That(bad, Is.Zero, $"{c}: {bad} {name} mismatches; first {first}");
        }

        Check("dX", dxb, dxRef, dxS);
        Check("dE", deb, deRef, deS);
    }
}
