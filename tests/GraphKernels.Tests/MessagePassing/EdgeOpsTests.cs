using System.Runtime.InteropServices;
using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Oracle;
using GraphKernels.Tests.Spmm;
using GraphKernels.Tests.Support;
using static GraphKernels.Tests.EdgeOps.EdgeTensors;

namespace GraphKernels.Tests.EdgeOps;

/// <summary>
/// SDDMM, edge softmax, segment reduce/gather, COO to CSR, degree and scatter, forward and backward, against the
/// double-precision oracle (Oracle/EdgeOpsReference.cs). Tolerances: <see cref="EdgeTensors.AssertClose"/> — the fp32
/// sequential-summation bound (2n + 8) 2^-24 * sum|terms| plus one rounding to the element type (0 for fp32,
/// 2^-11 for fp16, 2^-8 for bf16); inputs are generated exactly representable in the element type, so the oracle sees
/// the same inputs as the kernel. Max/min, gather, COO and degree are exact.
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[TestFixture(DeviceKind.Ilgpu, Category = "Ilgpu")]
[Category("MessagePassing")]
[Parallelizable(ParallelScope.All)]
public sealed class EdgeOpsTests
{
    private static readonly string[] Graphs =
        { "er", "powerlaw", "emptyrows", "selfloops", "duplicates", "noedges", "norows", "hub", "molecules", "tiny" };

    private static readonly (EdgeTarget L, EdgeTarget R)[] TargetPairs =
    {
        (EdgeTarget.Source, EdgeTarget.Destination), (EdgeTarget.Destination, EdgeTarget.Source), (EdgeTarget.Edge, EdgeTarget.Source),
        (EdgeTarget.Source, EdgeTarget.Edge), (EdgeTarget.Destination, EdgeTarget.Edge), (EdgeTarget.Edge, EdgeTarget.Destination),
        (EdgeTarget.Source, EdgeTarget.Source), (EdgeTarget.Destination, EdgeTarget.Destination), (EdgeTarget.Edge, EdgeTarget.Edge),
    };

    private readonly DeviceKind kind;
    private GraphDevice? device;

    public EdgeOpsTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    public static IEnumerable<TestCaseData> SddmmCases()
    {
        for (int gi = 0; gi < Graphs.Length; gi++)
        {
            for (int op = 0; op < 5; op++)
            {
                var (l, r) = TargetPairs[((gi * 5) + op) % TargetPairs.Length];
                var index = (gi + op) % 2 == 0 ? IndexType.Int32 : IndexType.Int64;
                int f = op == 0 ? 6 : 5;          // not a multiple of 4
                int h = op == 0 ? (gi % 2 == 0 ? 2 : 3) : 1;
                yield return new TestCaseData(Graphs[gi], (SddmmOp)op, l, r, index, f, h, Elem.F32)
                    .SetArgDisplayNames(Graphs[gi], ((SddmmOp)op).ToString(), $"{l}-{r}", index.ToString(), $"F{f}H{h}", "F32");
            }
        }

        foreach (Elem t in new[] { Elem.F16, Elem.BF16 })
        {
            foreach (string g in new[] { "molecules", "powerlaw" })
            {
                foreach (SddmmOp op in new[] { SddmmOp.Dot, SddmmOp.Mul, SddmmOp.Div, SddmmOp.Sub })
                {
                    int f = op == SddmmOp.Dot ? 16 : 7;
                    int h = op == SddmmOp.Dot ? 4 : 1;
                    yield return new TestCaseData(g, op, EdgeTarget.Source, EdgeTarget.Destination, IndexType.Int32, f, h, t)
                        .SetArgDisplayNames(g, op.ToString(), "Source-Destination", "Int32", $"F{f}H{h}", t.ToString());
                }
            }
        }
    }

    private sealed class Uploaded : IDisposable
    {
        private readonly List<IDisposable> owned = new();

        public T Own<T>(T d) where T : IDisposable
        {
            owned.Add(d);
            return d;
        }

        public void Dispose()
        {
            foreach (var d in owned) d.Dispose();
        }
    }

    private static (double[] A, double[] B) SddmmInputs(HostCsr g, SddmmOp op, int f, EdgeTarget l, EdgeTarget r, Elem t, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var a = Random(rng, t, EdgeOpsReference.TargetRows(g, l) * f, -2, 2);
        var b = op == SddmmOp.Div ? RandomDivisors(rng, t, EdgeOpsReference.TargetRows(g, r) * f) : Random(rng, t, EdgeOpsReference.TargetRows(g, r) * f, -2, 2);
        return (a, b);
    }

    [TestCaseSource(nameof(SddmmCases))]
    public void SddmmMatchesOracle(string graphName, SddmmOp op, EdgeTarget l, EdgeTarget r, IndexType index, int f, int h, Elem t)
    {
        HostCsr g = EdgeGraphs.Get(graphName);
        var (a, b) = SddmmInputs(g, op, f, l, r, t, 100);
        using var u = new Uploaded();
        var graph = u.Own(SpmmRunner.UploadGraph(Device, g, index));
        var da = u.Own(Upload(Device, t, a));
        var db = u.Own(Upload(Device, t, b));
        long w = op == SddmmOp.Dot ? h : f;
        var dout = u.Own(Poisoned(Device, t, g.Nnz * w));
        GraphKernels.MessagePassing.Sddmm(graph, op, f, h, l, da, r, db, dout);
        var (expected, mag) = EdgeOpsReference.Sddmm(g, op, f, h, l, a, r, b);
        AssertClose(Read(dout), expected, mag, f / h, t, "out");
    }

    [TestCaseSource(nameof(SddmmCases))]
    public void SddmmBackwardMatchesOracle(string graphName, SddmmOp op, EdgeTarget l, EdgeTarget r, IndexType index, int f, int h, Elem t)
    {
        HostCsr g = EdgeGraphs.Get(graphName);
        var (a, b) = SddmmInputs(g, op, f, l, r, t, 200);
        long w = op == SddmmOp.Dot ? h : f;
        var gout = Random(new SplitMix64(201), t, g.Nnz * w, -1, 1);
        var (ga, gb, ma, mb) = EdgeOpsReference.SddmmBackward(g, op, f, h, l, a, r, b, gout);
        var (tg, perm) = EdgeOpsReference.Transpose(g);
        long n = Math.Max(Math.Max(g.MaxDegree, tg.MaxDegree), 1);

        using var u = new Uploaded();
        var graph = u.Own(SpmmRunner.UploadGraph(Device, g, index));
        var tgraph = u.Own(SpmmRunner.UploadGraph(Device, tg, index));
        var dperm = u.Own(UploadIndex(Device, index, perm));
        var da = u.Own(Upload(Device, t, a));
        var db = u.Own(Upload(Device, t, b));
        var dg = u.Own(Upload(Device, t, gout));
        var dga = u.Own(Poisoned(Device, t, ga.Length));
        var dgb = u.Own(Poisoned(Device, t, gb.Length));
        GraphKernels.MessagePassing.SddmmBackward(graph, op, f, h, l, da, r, db, dg, dga, dgb, tgraph, dperm);
        AssertClose(Read(dga), ga, ma, n, t, "grad_lhs", ga.Length);
        AssertClose(Read(dgb), gb, mb, n, t, "grad_rhs", gb.Length);
    }

    /// <summary>
    /// The backward against central finite differences of the forward (the double oracle's forward, h = 1e-5) of
    /// L = sum(wgt * out) on a small graph with duplicates; tolerance 1e-6 relative + fp32 accumulation (FD error ~1e-10).
    /// </summary>
    [TestCase(SddmmOp.Dot, EdgeTarget.Source, EdgeTarget.Destination)]
    [TestCase(SddmmOp.Dot, EdgeTarget.Edge, EdgeTarget.Source)]
    [TestCase(SddmmOp.Add, EdgeTarget.Source, EdgeTarget.Edge)]
    [TestCase(SddmmOp.Sub, EdgeTarget.Destination, EdgeTarget.Source)]
    [TestCase(SddmmOp.Mul, EdgeTarget.Source, EdgeTarget.Source)]
    [TestCase(SddmmOp.Div, EdgeTarget.Destination, EdgeTarget.Source)]
    [TestCase(SddmmOp.Div, EdgeTarget.Edge, EdgeTarget.Destination)]
    public void SddmmBackwardMatchesFiniteDifferences(SddmmOp op, EdgeTarget l, EdgeTarget r)
    {
        HostCsr g = EdgeGraphs.Get("tiny");
        int f = 4, h = op == SddmmOp.Dot ? 2 : 1;
        long w = op == SddmmOp.Dot ? h : f;
        var (a, b) = SddmmInputs(g, op, f, l, r, Elem.F32, 300);
        var wgt = Random(new SplitMix64(301), Elem.F32, g.Nnz * w, -1, 1);
        var (tg, perm) = EdgeOpsReference.Transpose(g);
        using var u = new Uploaded();
        var graph = u.Own(SpmmRunner.UploadGraph(Device, g, IndexType.Int64));
        var tgraph = u.Own(SpmmRunner.UploadGraph(Device, tg, IndexType.Int64));
        var dperm = u.Own(UploadIndex(Device, IndexType.Int64, perm));
        var dga = u.Own(Poisoned(Device, Elem.F32, a.Length));
        var dgb = u.Own(Poisoned(Device, Elem.F32, b.Length));
        GraphKernels.MessagePassing.SddmmBackward(graph, op, f, h, l, u.Own(Upload(Device, Elem.F32, a)), r, u.Own(Upload(Device, Elem.F32, b)),
            u.Own(Upload(Device, Elem.F32, wgt)), dga, dgb, tgraph, dperm);

        double Loss(double[] x, double[] y)
        {
            var (o, _) = EdgeOpsReference.Sddmm(g, op, f, h, l, x, r, y);
            double s = 0;
            for (int i = 0; i < o.Length; i++) s += wgt[i] * o[i];
            return s;
        }

        const double step = 1e-5;
        foreach (var (which, dev) in new[] { (0, Read(dga)), (1, Read(dgb)) })
        {
            double[] x = which == 0 ? a : b;
            for (int i = 0; i < x.Length; i++)
            {
                double keep = x[i];
                x[i] = keep + step;
                double up = Loss(a, b);
                x[i] = keep - step;
                double down = Loss(a, b);
                x[i] = keep;
                double fd = (up - down) / (2 * step);
                Assert.That(dev[i], Is.EqualTo(fd).Within((1e-6 * Math.Abs(fd)) + 1e-5), $"{(which == 0 ? "grad_lhs" : "grad_rhs")}[{i}]");
            }
        }
    }

    public static IEnumerable<TestCaseData> SoftmaxCases()
    {
        int[] heads = { 1, 3, 8 };
        for (int gi = 0; gi < Graphs.Length; gi++)
        {
            int h = heads[gi % 3];
            var index = gi % 2 == 0 ? IndexType.Int64 : IndexType.Int32;
            yield return new TestCaseData(Graphs[gi], h, index, Elem.F32).SetArgDisplayNames(Graphs[gi], $"H{h}", index.ToString(), "F32");
        }

        foreach (Elem t in new[] { Elem.F16, Elem.BF16 })
        {
            yield return new TestCaseData("molecules", 4, IndexType.Int32, t).SetArgDisplayNames("molecules", "H4", "Int32", t.ToString());
            yield return new TestCaseData("onehub", 2, IndexType.Int64, t).SetArgDisplayNames("onehub", "H2", "Int64", t.ToString());
        }
    }

    [TestCaseSource(nameof(SoftmaxCases))]
    public void EdgeSoftmaxMatchesOracle(string graphName, int h, IndexType index, Elem t)
    {
        HostCsr g = EdgeGraphs.Get(graphName);
        var s = Random(new SplitMix64(400), t, g.Nnz * h, -8, 8);
        var (y, rmax, rsum) = EdgeOpsReference.EdgeSoftmax(g, h, s);
        using var u = new Uploaded();
        var graph = u.Own(SpmmRunner.UploadGraph(Device, g, index));
        var dout = u.Own(Poisoned(Device, t, y.Length));
        var dmax = u.Own(Device.Allocate<float>(Math.Max(1, rmax.Length)));
        var dsum = u.Own(Device.Allocate<float>(Math.Max(1, rsum.Length)));
        GraphKernels.MessagePassing.EdgeSoftmax(graph, h, u.Own(Upload(Device, t, s)), dout, dmax, dsum);
        long n = Math.Max(g.MaxDegree, 1);
        var ones = Enumerable.Repeat(1.0, y.Length).ToArray();
        // y <= 1: its fp32 error is relative to 1 at most (the sum's error over n terms), plus the store rounding.
        AssertClose(Read(dout), y, ones, n, t, "out", y.Length);
        Assert.That(Read(dmax).Take(rmax.Length), Is.EqualTo(rmax), "row_max (the max is exact)");
        AssertClose(Read(dsum), rsum, rsum, n, Elem.F32, "row_sum", rsum.Length);

        var gout = Random(new SplitMix64(401), t, y.Length, -1, 1);
        var yIn = Read(dout).Take(y.Length).ToArray();  // the backward takes the forward's (rounded) output
        var (gs, mag) = EdgeOpsReference.EdgeSoftmaxBackward(g, h, yIn, gout);
        var dgs = u.Own(Poisoned(Device, t, gs.Length));
        GraphKernels.MessagePassing.EdgeSoftmaxBackward(graph, h, dout, u.Own(Upload(Device, t, gout)), dgs);
        AssertClose(Read(dgs), gs, mag, n, t, "grad_scores", gs.Length);
    }

    /// <summary>
    /// Hand-written rows (H = 1): r0 = [0, ln 3] -> [1/4, 3/4]; r1 empty; r2 = [-inf, -inf] -> [0, 0] (max -inf shifts by 0);
    /// r3 = [NaN] -> NaN; r4 = [5, 5, 5] -> 1/3 each; row_max = [ln 3, 0, 0, NaN, 5].
    /// </summary>
    [Test]
    public void EdgeSoftmaxHandcrafted()
    {
        var g = HostCsr.FromRows("softmax", 1, new List<List<long>> { new() { 0, 0 }, new(), new() { 0, 0 }, new() { 0 }, new() { 0, 0, 0 } });
        float ln3 = MathF.Log(3);
        var s = new float[] { 0, ln3, float.NegativeInfinity, float.NegativeInfinity, float.NaN, 5, 5, 5 };
        using var u = new Uploaded();
        var graph = u.Own(SpmmRunner.UploadGraph(Device, g, IndexType.Int32));
        var dout = u.Own(Device.Allocate<float>(8));
        var dmax = u.Own(Device.Allocate<float>(5));
        GraphKernels.MessagePassing.EdgeSoftmax(graph, 1, u.Own(Device.Upload<float>(s)), dout, dmax);
        var y = dout.ToArray();
        Assert.That(y[0], Is.EqualTo(0.25f).Within(1e-6f));
        Assert.That(y[1], Is.EqualTo(0.75f).Within(1e-6f));
        Assert.That(y[2..4], Is.EqualTo(new float[] { 0, 0 }));
        Assert.That(float.IsNaN(y[4]), "a NaN score makes its row NaN");
        Assert.That(y[5..8], Is.All.EqualTo(1f / 3).Within(1e-7f));
        Assert.That(dmax.ToArray(), Is.EqualTo(new[] { ln3, 0, 0, float.NaN, 5 }));
    }

    /// <summary>The reducers segment reduce supports (Reduce.Mul is refused; see SegmentReduceRefusesMul).</summary>
    private static readonly Reduce[] SegmentReducers = { Reduce.Sum, Reduce.Mean, Reduce.Max, Reduce.Min };

    public static IEnumerable<TestCaseData> SegmentCases()
    {
        for (int gi = 0; gi < Graphs.Length; gi++)
        {
            foreach (Reduce red in SegmentReducers)
            {
                var index = ((gi + (int)red) % 2) == 0 ? IndexType.Int32 : IndexType.Int64;
                bool perm = ((gi + (int)red) % 3) == 0;
                yield return new TestCaseData(Graphs[gi], red, index, perm, Elem.F32).SetArgDisplayNames(Graphs[gi], red.ToString(), index.ToString(), perm ? "perm" : "noperm", "F32");
            }
        }

        foreach (Elem t in new[] { Elem.F16, Elem.BF16 })
        {
            foreach (Reduce red in SegmentReducers)
            {
                yield return new TestCaseData("molecules", red, IndexType.Int64, true, t).SetArgDisplayNames("molecules", red.ToString(), "Int64", "perm", t.ToString());
            }
        }
    }

    /// <summary>Segments = the rows of a graph (ptr = row_ptr); source rows = its positions; values with many ties (integers in [-3, 3]) for max/min.</summary>
    [TestCaseSource(nameof(SegmentCases))]
    public void SegmentReduceGatherAndBackwardMatchOracle(string graphName, Reduce reduce, IndexType index, bool withPerm, Elem t)
    {
        HostCsr g = EdgeGraphs.Get(graphName);
        const int f = 7;
        var rng = new SplitMix64(500);
        long nsrc = g.Nnz;
        bool extreme = reduce is Reduce.Max or Reduce.Min;
        var src = extreme ? Array.ConvertAll(new double[nsrc * f], _ => (double)rng.NextInt(-3, 3)) : Random(rng, t, nsrc * f, -2, 2);
        long[]? perm = null;
        if (withPerm)
        {
            perm = new long[nsrc];
            for (long i = 0; i < nsrc; i++) perm[i] = i;
            rng.Shuffle(perm);
        }

        var (expected, arg, mag) = EdgeOpsReference.Segment(g.RowPtr, perm, reduce, f, src);
        using var u = new Uploaded();
        var ptr = u.Own(UploadIndex(Device, index, g.RowPtr));
        var dperm = perm is null ? null : u.Own(UploadIndex(Device, index, perm));
        var dsrc = u.Own(Upload(Device, t, src));
        var dout = u.Own(Poisoned(Device, t, g.NumRows * f));
        var darg = extreme ? u.Own(IndexFilled(Device, index, g.NumRows * f, -77)) : null;
        // The src buffer may hold one padding element more than nsrc * f when nsrc = 0; the source row count is Length / f.
        GraphKernels.MessagePassing.SegmentReduce(ptr, reduce, f, dsrc, dout, darg, dperm);
        long n = Math.Max(g.MaxDegree, 1);
        AssertClose(Read(dout), expected, mag, n, t, "out", expected.Length);
        if (extreme) Assert.That(ReadIndex(darg!).Take(arg.Length), Is.EqualTo(arg), "arg");

        // Backward (and gather = the backward of sum).
        var gout = Random(rng, t, g.NumRows * f, -1, 1);
        var gs = EdgeOpsReference.SegmentBackward(g.RowPtr, perm, reduce, f, gout, extreme ? arg : null, nsrc);
        var dgs = u.Own(Poisoned(Device, t, nsrc * f));
        GraphKernels.MessagePassing.SegmentReduceBackward(ptr, reduce, f, u.Own(Upload(Device, t, gout)), dgs, darg, dperm);
        var ones = gs.Select(Math.Abs).ToArray();
        AssertClose(Read(dgs), gs, ones, 1, t, "grad_src", gs.Length);

        if (reduce == Reduce.Sum)
        {
            var dgat = u.Own(Poisoned(Device, t, nsrc * f));
            GraphKernels.MessagePassing.GatherCsr(ptr, f, u.Own(Upload(Device, t, gout)), dgat, dperm);
            Assert.That(Read(dgat).Take(gs.Length), Is.EqualTo(gs), "gather_csr is exact");
        }
    }

    [TestCase(IndexType.Int32, 300, 2000, 400)]
    [TestCase(IndexType.Int64, 300, 2000, 400)]
    [TestCase(IndexType.Int32, 50, 0, 20)]
    [TestCase(IndexType.Int64, 1000, 3000, 7)]   // many empty rows, few columns: duplicates everywhere
    public void CooToCsrMatchesStableOracleAndDegrees(IndexType index, int rows, int nnz, int cols)
    {
        var rng = new SplitMix64(600 + (ulong)nnz);
        var dst = new long[nnz];
        var src = new long[nnz];
        for (int i = 0; i < nnz; i++)
        {
            // Skewed rows (a hub at row 0) and every 10th row left empty.
            long d = rng.Chance(0.2) ? 0 : rng.NextLong(rows);
            dst[i] = d % 10 == 9 ? d - 1 : d;
            src[i] = rng.NextLong(cols);
        }

        var (rp, col, perm) = EdgeOpsReference.CooToCsr(dst, src, rows);
        using var u = new Uploaded();
        var ddst = u.Own(UploadIndex(Device, index, dst));
        var dsrc = u.Own(UploadIndex(Device, index, src));
        // nnz = 0: the COO arrays are one-element placeholders; give the op exactly nnz entries.
        var dDst = nnz == 0 ? u.Own(index == IndexType.Int32 ? (DeviceBuffer)Device.Allocate<int>(0) : Device.Allocate<long>(0)) : ddst;
        var dSrc = nnz == 0 ? null : dsrc;
        var drp = u.Own(IndexFilled(Device, index, rows + 1, -5));
        var dcol = nnz == 0 ? null : u.Own(IndexFilled(Device, index, nnz, -5));
        var dperm = u.Own(IndexFilled(Device, index, nnz, -5));
        var ws = u.Own(Device.Allocate<byte>(GraphKernels.MessagePassing.CooToCsrWorkspaceBytes(Device, rows)));
        GraphKernels.MessagePassing.CooToCsr(dDst, dSrc, rows, cols, drp, dcol, dperm, ws);
        Assert.That(ReadIndex(drp), Is.EqualTo(rp), "row_ptr");
        if (nnz > 0)
        {
            Assert.That(ReadIndex(dperm), Is.EqualTo(perm), "perm (stable)");
            Assert.That(ReadIndex(dcol!), Is.EqualTo(col), "col_idx");

            // Degrees of the CSR just built.
            var host = new HostCsr("coo", rows, cols, rp, col);
            using var graph = SpmmRunner.UploadGraph(Device, host, index);
            var din = u.Own(IndexFilled(Device, index, rows, -5));
            var dout = u.Own(IndexFilled(Device, index, cols, -5));
            GraphKernels.MessagePassing.Degree(graph, DegreeKind.In, din);
            GraphKernels.MessagePassing.Degree(graph, DegreeKind.Out, dout);
            var inDeg = new long[rows];
            var outDeg = new long[cols];
            foreach (long d in dst) inDeg[d]++;
            foreach (long s in src) outDeg[s]++;
            Assert.That(ReadIndex(din), Is.EqualTo(inDeg), "in-degree");
            Assert.That(ReadIndex(dout), Is.EqualTo(outDeg), "out-degree");
        }
    }

    [TestCase(Reduce.Sum, IndexType.Int32)]
    [TestCase(Reduce.Mean, IndexType.Int64)]
    [TestCase(Reduce.Max, IndexType.Int32)]
    [TestCase(Reduce.Min, IndexType.Int64)]
    public void ScatterReduceAndBackwardMatchOracle(Reduce reduce, IndexType index)
    {
        const int n = 1500, dim = 200, f = 5;
        var rng = new SplitMix64(700);
        var idx = new long[n];
        for (int i = 0; i < n; i++) idx[i] = rng.NextLong(dim - 20) + (rng.Chance(0.3) ? 0 : 0);  // rows >= 180 stay empty
        bool extreme = reduce is Reduce.Max or Reduce.Min;
        var src = extreme ? Array.ConvertAll(new double[n * f], _ => (double)rng.NextInt(-3, 3)) : Random(rng, Elem.F32, n * f, -2, 2);
        var (expected, arg) = EdgeOpsReference.Scatter(idx, dim, reduce, f, src);
        using var u = new Uploaded();
        using var plan = ScatterPlan.Create(u.Own(UploadIndex(Device, index, idx)), dim);
        var dout = u.Own(Poisoned(Device, Elem.F32, dim * f));
        var darg = extreme ? u.Own(IndexFilled(Device, index, dim * f, -77)) : null;
        plan.Reduce(reduce, f, u.Own(Upload(Device, Elem.F32, src)), dout, darg);
        var mag = expected.Select(_ => 8.0 * n).ToArray();
        AssertClose(Read(dout), expected, mag, 40, Elem.F32, "out");
        if (extreme) Assert.That(ReadIndex(darg!), Is.EqualTo(arg), "arg (lowest entry among ties, -1 when empty)");

        var gout = Random(rng, Elem.F32, dim * f, -1, 1);
        var counts = new long[dim];
        foreach (long i in idx) counts[i]++;
        var gs = new double[n * f];
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < f; k++)
            {
                double g = gout[(idx[i] * f) + k];
                gs[(i * f) + k] = reduce switch { Reduce.Sum => g, Reduce.Mean => (float)g / counts[idx[i]], _ => arg[(idx[i] * f) + k] == i ? g : 0 };
            }
        }

        var dgs = u.Own(Poisoned(Device, Elem.F32, n * f));
        plan.Backward(reduce, f, u.Own(Upload(Device, Elem.F32, gout)), dgs, darg);
        AssertClose(Read(dgs), gs, gs.Select(Math.Abs).ToArray(), 1, Elem.F32, "grad_src");
    }

    /// <summary>Ten runs of each op on the hub-heavy graph give bitwise-identical outputs.</summary>
    [Test]
    public void TenRunsAreBitwiseIdentical()
    {
        HostCsr g = GraphCatalog.Get("powerlaw-big");
        const int f = 32, h = 4;
        var rng = new SplitMix64(800);
        var x = Random(rng, Elem.F32, g.NumCols * f, -1, 1);
        var y = Random(rng, Elem.F32, g.NumRows * f, -1, 1);
        var (tg, perm) = EdgeOpsReference.Transpose(g);
        using var u = new Uploaded();
        var graph = u.Own(SpmmRunner.UploadGraph(Device, g, IndexType.Int32));
        var tgraph = u.Own(SpmmRunner.UploadGraph(Device, tg, IndexType.Int32));
        var dperm = u.Own(UploadIndex(Device, IndexType.Int32, perm));
        var dx = u.Own(Upload(Device, Elem.F32, x));
        var dy = u.Own(Upload(Device, Elem.F32, y));
        var scores = u.Own(Device.Allocate<float>(g.Nnz * h));
        var soft = u.Own(Device.Allocate<float>(g.Nnz * h));
        var gx = u.Own(Device.Allocate<float>(g.NumCols * f));
        var gs = u.Own(Device.Allocate<float>(g.Nnz * h));
        var seg = u.Own(Device.Allocate<float>(g.NumRows * h));
        var ptr = u.Own(UploadIndex(Device, IndexType.Int32, g.RowPtr));
        float[][] Run()
        {
            GraphKernels.MessagePassing.Sddmm(graph, SddmmOp.Dot, f, h, EdgeTarget.Source, dx, EdgeTarget.Destination, dy, scores);
            GraphKernels.MessagePassing.EdgeSoftmax(graph, h, scores, soft);
            GraphKernels.MessagePassing.EdgeSoftmaxBackward(graph, h, soft, scores, gs);
            GraphKernels.MessagePassing.SddmmBackward(graph, SddmmOp.Dot, f, h, EdgeTarget.Source, dx, EdgeTarget.Destination, dy, gs, gx, null, tgraph, dperm);
            GraphKernels.MessagePassing.SegmentReduce(ptr, Reduce.Mean, h, soft, seg);
            Device.Synchronize();
            return new[] { ((DeviceBuffer<float>)scores).ToArray(), soft.ToArray(), gs.ToArray(), gx.ToArray(), seg.ToArray() };
        }

        var first = Run();
        for (int run = 1; run < 10; run++)
        {
            var again = Run();
            for (int k = 0; k < first.Length; k++)
            {
                var a = MemoryMarshal.Cast<float, uint>(first[k]).ToArray();
                var b = MemoryMarshal.Cast<float, uint>(again[k]).ToArray();
                Assert.That(b, Is.EqualTo(a), $"output {k} differs in run {run}");
            }
        }
    }
}
