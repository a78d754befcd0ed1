using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Oracle;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Spmm;

/// <summary>
/// Generalized SpMM (gk_spmm_ex) and its backward against the double oracle (Oracle/GSpmmReference.cs).
///
/// Tolerances (per element, from the dtype, never widened to pass):
///  forward  |y − ref| ≤ (n + 2)·2^-23·S + u_T·|ref|, where S = Σ|m| over the row (Π|m| for mul, /deg for mean)
///           bounds the fp32 summation/product error of n = deg terms (each term rounded once, each partial
///           sum once: (n+1)·2^-24 relative to S, doubled for slack), and u_T·|ref| is the single final
///           rounding to the stored type (u = 2^-24 fp32, 2^-11 fp16, 2^-8 bf16). Inputs are compared
///           after rounding to the stored type, so no input-rounding term is needed.
///  backward the same form with S from the oracle run on absolute values (an upper bound of Σ|term|) and
///           n = the largest number of fp32 operations feeding one gradient element (max degree, max
///           out-degree, F, plus the deg factors of a mul-reducer product).
///  max/min  inputs are dyadic (k/4), so every message is exact in every value type: y and arg must be
///           exactly the oracle's.
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[TestFixture(DeviceKind.Ilgpu, Category = "Ilgpu")]
[Category("MessagePassing")]
[Parallelizable(ParallelScope.All)]
public sealed class GSpmmTests
{
    private readonly DeviceKind kind;
    private GraphDevice? device;

    public GSpmmTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    private static readonly string[] Graphs =
        { "er", "powerlaw", "emptyrows", "selfloops", "duplicates", "noedges", "norows", "hub", "molecules", "hugerow", "tall", "wide" };

    /// <summary>Graphs with small degrees only (products of many factors would under/overflow in fp16).</summary>
    private static readonly string[] SmallDegreeGraphs = { "er", "emptyrows", "selfloops", "duplicates", "noedges", "molecules", "norows" };

    private static readonly int[] Widths = { 1, 3, 17, 32, 33, 64 };

    /// <summary>
    /// Every (message, edge shape) pair x every reducer, each on a graph, index type, value type and F chosen by
    /// rotation so that every graph, every value type, both index types and every F appear many times.
    /// </summary>
    public static IEnumerable<TestCaseData> Cases()
    {
        var pairs = new List<(Message, EdgeOperand)> { (Message.CopyU, EdgeOperand.None) };
        foreach (Message m in new[] { Message.UMulE, Message.CopyE, Message.UAddE, Message.USubE, Message.UDivE })
        {
            foreach (EdgeOperand e in new[] { EdgeOperand.Scalar, EdgeOperand.PerHead, EdgeOperand.Full })
            {
                pairs.Add((m, e));
            }
        }

        int i = 0;
        foreach (Reduce r in Enum.GetValues<Reduce>())
        {
            foreach (var (m, e) in pairs)
            {
                string[] graphs = r == Reduce.Mul ? SmallDegreeGraphs : Graphs;
                string g = graphs[(i * 7 + 3) % graphs.Length];
                int f = Widths[(i * 5) % Widths.Length];
                int heads = e == EdgeOperand.PerHead ? (f % 4 == 0 ? 4 : f % 3 == 0 ? 3 : 1) : 0;
                var c = new GSpmmCase(g, (IndexType)(i % 2), m, e, heads, r, f, (ValType)((i / 2) % 3), (ulong)(1000 + i));
                yield return new TestCaseData(c).SetArgDisplayNames(c.ToString());
                i++;
            }
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void ForwardAndBackwardMatchOracle(GSpmmCase c)
    {
        using var run = new GSpmmRun(Device, c);
        var (yb, argb) = run.Forward();
        AssertForward(run, yb, argb);
        var (dx, de) = run.Backward(argb);
        AssertBackward(run, argb, dx, de);
    }

    internal static void AssertForward(GSpmmRun run, DeviceBuffer yb, DeviceBuffer? argb, bool emptyInf = false)
    {
        var c = run.Case;
        var g = run.Host;
        var (yRef, argRef) = GSpmmReference.Forward(g, c.Message, c.Reduce, c.Mode, c.Heads, c.Features, run.X, run.E, emptyInf);
        double[] scale = GSpmmReference.AbsScale(g, c.Message, c.Reduce, c.Mode, c.Heads, c.Features, run.X, run.E);
        double[] y = GSpmmHarness.Download(yb);
        double u = GSpmmHarness.Unit(c.Type);
        int bad = 0;
        string first = "";
        for (long v = 0; v < g.NumRows; v++)
        {
            long deg = g.Degree(v);
            long n = c.Reduce == Reduce.Mul ? 2 * deg : deg;
            for (int k = 0; k < c.Features; k++)
            {
                long i = v * c.Features + k;
                double tol = c.Extreme ? 0 : (n + 2) * Math.Pow(2, -23) * scale[i] + u * Math.Abs(yRef[i]) + GSpmmHarness.Tiny(c.Type);
                if (!(Math.Abs(y[i] - yRef[i]) <= tol) && !(y[i] == yRef[i]))
                {
                    if (bad++ == 0) first = $"y[{v},{k}] = {y[i]:R}, oracle {yRef[i]:R}, tol {tol:E2} (deg {deg})";
                }
            }
        }

        Assert.That(bad, Is.Zero, $"{c}: {bad} forward mismatches; first {first}");
        if (argb is not null)
        {
            long[] arg = GSpmmHarness.Bits(argb);
            Assert.That(arg.Take((int)(g.NumRows * c.Features)).ToArray(), Is.EqualTo(argRef), $"{c}: arg");
        }
    }

    internal static void AssertBackward(GSpmmRun run, DeviceBuffer? argb, DeviceBuffer? dxb, DeviceBuffer? deb)
    {
        var c = run.Case;
        var g = run.Host;
        int f = c.Features;
        long[]? arg = argb is null ? null : GSpmmHarness.Bits(argb);
        var (dxRef, deRef) = GSpmmReference.Backward(g, c.Message, c.Reduce, c.Mode, c.Heads, f, run.X, run.E, arg, run.GY);
        // Scale: the same sums over absolute values (u − e bounded by |u| + |e|).
        Message absMsg = c.Message == Message.USubE ? Message.UAddE : c.Message;
        double[] Abs(double[] a) => Array.ConvertAll(a, Math.Abs);
        var (dxS, deS) = GSpmmReference.Backward(g, absMsg, c.Reduce, c.Mode, c.Heads, f, Abs(run.X), run.E is null ? null : Abs(run.E),
            arg, Abs(run.GY));
        long maxOut = 0;
        var outDeg = new long[g.NumCols];
        foreach (long col in g.ColIdx) maxOut = Math.Max(maxOut, ++outDeg[col]);
        long n = Math.Max(Math.Max(g.MaxDegree, maxOut), f) + (c.Reduce == Reduce.Mul ? 2 * g.MaxDegree : 0) + 4;
        double u = GSpmmHarness.Unit(c.Type);

        void Check(string name, DeviceBuffer? b, double[] reference, double[] scale)
        {
            if (b is null) return;
            double[] got = GSpmmHarness.Download(b);
            int bad = 0;
            string first = "";
            for (int i = 0; i < reference.Length; i++)
            {
                double tol = n * Math.Pow(2, -23) * Math.Abs(scale[i]) + u * Math.Abs(reference[i]) + GSpmmHarness.Tiny(c.Type);
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

    /// <summary>Backward against central finite differences of the device forward, on a small molecular batch.</summary>
    [TestCase(Message.UMulE, EdgeOperand.Full, Reduce.Sum)]
    [TestCase(Message.UMulE, EdgeOperand.Scalar, Reduce.Mean)]
    [TestCase(Message.UDivE, EdgeOperand.PerHead, Reduce.Sum)]
    [TestCase(Message.USubE, EdgeOperand.Full, Reduce.Max)]
    [TestCase(Message.UAddE, EdgeOperand.Scalar, Reduce.Min)]
    [TestCase(Message.UMulE, EdgeOperand.Full, Reduce.Mul)]
    [TestCase(Message.CopyE, EdgeOperand.Full, Reduce.Mean)]
    [TestCase(Message.CopyU, EdgeOperand.None, Reduce.Mul)]
    public void BackwardMatchesFiniteDifferences(Message m, EdgeOperand mode, Reduce r)
    {
        // Random (not dyadic) values so max/min have a unique winner that a small step does not change.
        const int f = 4;
        var c = new GSpmmCase("molecules-small", IndexType.Int32, m, mode, mode == EdgeOperand.PerHead ? 2 : 0, r, f, ValType.F32, 77);
        using var run = new GSpmmRun(Device, c with { Reduce = Reduce.Sum });
        run.Options.Reduce = r;
        var (_, arg) = ForwardWithArg(run, r);
        var (dxb, deb) = run.Backward(arg);
        double[]? dx = dxb is null ? null : GSpmmHarness.Download(dxb);
        double[]? de = deb is null ? null : GSpmmHarness.Download(deb);

        // L = Σ gY ⊙ Y in double; h = 1e-2: fp32 rounding of L (≈ 1e-6 relative) / h and the O(h²)
        // truncation error are both below 1e-3; tolerance 5e-3·(1 + |g|).
        const float h = 1e-2f;
        var rng = new SplitMix64(5);
        double Loss(DeviceBuffer which, float[] values)
        {
            ((DeviceBuffer<float>)which).CopyFrom(values);
            var (y, _) = ForwardWithArg(run, r);
            double[] yy = GSpmmHarness.Download(y);
            double l = 0;
            for (int i = 0; i < run.GY.Length; i++) l += run.GY[i] * yy[i];
            return l;
        }

        void Probe(string name, DeviceBuffer buf, double[] grad)
        {
            float[] baseVals = ((DeviceBuffer<float>)buf).ToArray();
            for (int t = 0; t < 12; t++)
            {
                int i = rng.NextInt(grad.Length);
                float[] p = (float[])baseVals.Clone();
                p[i] += h;
                double lp = Loss(buf, p);
                p[i] = baseVals[i] - h;
                double lm = Loss(buf, p);
                double fd = (lp - lm) / (2 * (double)h);
                Assert.That(grad[i], Is.EqualTo(fd).Within(5e-3 * (1 + Math.Abs(fd))), $"{c}: d{name}[{i}]");
            }

            ((DeviceBuffer<float>)buf).CopyFrom(baseVals);
        }

        if (dx is not null) Probe("X", run.XBuf, dx);
        if (de is not null) Probe("E", run.EBuf!, de);
    }

    private static (DeviceBuffer Y, DeviceBuffer? Arg) ForwardWithArg(GSpmmRun run, Reduce r)
    {
        var y = run.NewValues(run.Host.NumRows * run.Case.Features);
        DeviceBuffer? arg = r is Reduce.Max or Reduce.Min
            ? run.Own(GSpmmHarness.AllocIndex(run.Device, run.Case.Index, run.Host.NumRows * run.Case.Features))
            : null;
        MessagePassing.SpMM(run.Graph, run.Options, run.Case.Features, run.Case.Message == Message.CopyE ? null : run.XBuf, run.EBuf, y, arg);
        run.Device.Synchronize();
        return (y, arg);
    }

    /// <summary>gk_spmm_ex's F32 sum/mean/max/min are bitwise equal to gk_spmm (the header says so).</summary>
    [TestCase(Message.CopyU, Reduce.Sum, IndexType.Int32, 33)]
    [TestCase(Message.UMulE, Reduce.Mean, IndexType.Int64, 64)]
    [TestCase(Message.UMulE, Reduce.Max, IndexType.Int32, 17)]
    [TestCase(Message.CopyU, Reduce.Min, IndexType.Int64, 4)]
    public void MatchesLegacySpmmBitwise(Message m, Reduce r, IndexType index, int f)
    {
        var mode = m == Message.UMulE ? EdgeOperand.Scalar : EdgeOperand.None;
        var c = new GSpmmCase("powerlaw", index, m, mode, 0, r, f, ValType.F32, 31);
        using var run = new GSpmmRun(Device, c);
        var (y, arg) = run.Forward();
        var yOld = run.NewValues(run.Host.NumRows * f);
        DeviceBuffer? argOld = c.Extreme ? run.Own(GSpmmHarness.AllocIndex(Device, index, run.Host.NumRows * f)) : null;
        MessagePassing.SpMM(run.Graph, m, r, f, (DeviceBuffer<float>)run.XBuf, (DeviceBuffer<float>)yOld,
            run.EBuf as DeviceBuffer<float>, argOld);
        Device.Synchronize();
        Assert.That(GSpmmHarness.Bits(y), Is.EqualTo(GSpmmHarness.Bits(yOld)));
        if (arg is not null) Assert.That(GSpmmHarness.Bits(arg), Is.EqualTo(GSpmmHarness.Bits(argOld!)));
    }

    /// <summary>Ten runs of forward and backward on the hub-heavy graph give bitwise-identical outputs.</summary>
    [TestCase(Message.UMulE, EdgeOperand.Full, Reduce.Sum, ValType.F32)]
    [TestCase(Message.UDivE, EdgeOperand.Scalar, Reduce.Mean, ValType.BF16)]
    [TestCase(Message.UAddE, EdgeOperand.PerHead, Reduce.Max, ValType.F16)]
    public void TenRunsAreBitwiseIdentical(Message m, EdgeOperand mode, Reduce r, ValType t)
    {
        var c = new GSpmmCase("powerlaw-big", IndexType.Int64, m, mode, mode == EdgeOperand.PerHead ? 4 : 0, r, 8, t, 99);
        using var run = new GSpmmRun(Device, c);
        long[]? y0 = null, a0 = null, dx0 = null, de0 = null;
        for (int k = 0; k < 10; k++)
        {
            var (y, arg) = run.Forward();
            var (dx, de) = run.Backward(arg);
            long[] yb = GSpmmHarness.Bits(y), dxb = GSpmmHarness.Bits(dx!), deb = GSpmmHarness.Bits(de!);
            long[]? ab = arg is null ? null : GSpmmHarness.Bits(arg);
            if (k == 0)
            {
                (y0, a0, dx0, de0) = (yb, ab, dxb, deb);
                AssertForward(run, y, arg);
                AssertBackward(run, arg, dx, de);
                continue;
            }

            Assert.That(yb, Is.EqualTo(y0), $"run {k}: y");
            Assert.That(ab, Is.EqualTo(a0), $"run {k}: arg");
            Assert.That(dxb, Is.EqualTo(dx0), $"run {k}: dX");
            Assert.That(deb, Is.EqualTo(de0), $"run {k}: dE");
        }
    }

    /// <summary>Accumulate adds to y; EmptyInfinity gives ∓inf on empty rows; Mul gives 1 on empty rows.</summary>
    [Test]
    public void FlagsAccumulateAndEmptyInfinity()
    {
        var c = new GSpmmCase("emptyrows", IndexType.Int32, Message.UMulE, EdgeOperand.Scalar, 0, Reduce.Max, 5, ValType.F32, 3);
        using var run = new GSpmmRun(Device, c, SpMMFlags.EmptyInfinity);
        var (y, arg) = run.Forward();
        AssertForward(run, y, arg, emptyInf: true);
        Assert.That(GSpmmHarness.Download(y), Does.Contain(double.NegativeInfinity), "the graph has empty rows");

        var cs = c with { Reduce = Reduce.Sum };
        using var acc = new GSpmmRun(Device, cs, SpMMFlags.Accumulate);
        var yb = acc.NewValues(acc.Host.NumRows * cs.Features, 0.25f);
        MessagePassing.SpMM(acc.Graph, acc.Options, cs.Features, acc.XBuf, acc.EBuf, yb);
        Device.Synchronize();
        var (yRef, _) = GSpmmReference.Forward(acc.Host, cs.Message, cs.Reduce, cs.Mode, 0, cs.Features, acc.X, acc.E);
        double[] got = GSpmmHarness.Download(yb);
        for (int i = 0; i < yRef.Length; i++) Assert.That(got[i], Is.EqualTo(yRef[i] + 0.25).Within(1e-5 * (1 + Math.Abs(yRef[i]))));

        var cm = c with { Reduce = Reduce.Mul };
        using var mul = new GSpmmRun(Device, cm);
        var (ym, _) = mul.Forward();
        double[] mv = GSpmmHarness.Download(ym);
        for (long v = 0; v < mul.Host.NumRows; v++)
        {
            if (mul.Host.Degree(v) == 0) Assert.That(mv[v * cm.Features], Is.EqualTo(1.0), $"empty row {v}");
        }
    }

    /// <summary>
    /// Chunked (plan schedule + fixed second pass): max/min and rows of one chunk are bitwise equal to the
    /// unchunked path; sum over many chunks matches the oracle and is bitwise identical over 10 runs.
    /// </summary>
    [TestCase(Reduce.Max, 64, IndexType.Int32)]
    [TestCase(Reduce.Min, 100, IndexType.Int64)]
    [TestCase(Reduce.Sum, 4096, IndexType.Int32)]
    [TestCase(Reduce.Mul, 4096, IndexType.Int64)]
    public void ChunkedEqualsUnchunkedWhereTheOrderIsTheSame(Reduce r, long chunk, IndexType index)
    {
        string graph = r == Reduce.Mul ? "molecules" : "powerlaw-big";
        var c = new GSpmmCase(graph, index, Message.UMulE, EdgeOperand.Scalar, 0, r, 9, ValType.F32, 12);
        using var plain = new GSpmmRun(Device, c);
        using var chunked = new GSpmmRun(Device, c, SpMMFlags.Chunked, chunk);
        var (y1, a1) = plain.Forward();
        var (y2, a2) = chunked.Forward();
        Assert.That(GSpmmHarness.Bits(y2), Is.EqualTo(GSpmmHarness.Bits(y1)));
        if (a1 is not null) Assert.That(GSpmmHarness.Bits(a2!), Is.EqualTo(GSpmmHarness.Bits(a1)));
    }

    [TestCase(Reduce.Sum, ValType.F32, IndexType.Int32)]
    [TestCase(Reduce.Mean, ValType.BF16, IndexType.Int64)]
    [TestCase(Reduce.Max, ValType.F16, IndexType.Int32)]
    public void ChunkedHubRowsMatchOracleAndAreDeterministic(Reduce r, ValType t, IndexType index)
    {
        var c = new GSpmmCase("powerlaw-big", index, Message.UMulE, EdgeOperand.Full, 0, r, 6, t, 13);
        using var run = new GSpmmRun(Device, c, SpMMFlags.Chunked, 64);
        long[]? first = null;
        for (int k = 0; k < 10; k++)
        {
            var (y, arg) = run.Forward();
            if (k == 0)
            {
                AssertForward(run, y, arg);
                first = GSpmmHarness.Bits(y);
            }
            else
            {
                Assert.That(GSpmmHarness.Bits(y), Is.EqualTo(first), $"run {k}");
            }
        }
    }
}
