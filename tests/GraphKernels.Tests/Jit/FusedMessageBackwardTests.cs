using GraphKernels.Interop;
using GraphKernels.Jit;
using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Jit;

/// <summary>
/// Double-precision oracle of the fused backward, written from the chain rule independently of the
/// kernels: per built-in the partial derivatives of its message, then
/// gradSrc[u, f] = Σ_{e: col[e] = u} ∂m/∂src[f] · g[v, f], gradDst[v, f] = Σ_{e in row v} ∂m/∂dst[f] · g[v, f],
/// gradEdge[e, k] = Σ_f ∂m_f/∂edge[k] · g[v, f], g = dL/dy (sum) or dL/dy / deg(v) (mean).
/// Also the sum of |terms| per element, for the fp32 error bound.
/// </summary>
internal static class FusedBackwardOracle
{
    public delegate double Partial(ReadOnlySpan<float> src, ReadOnlySpan<float> dst, ReadOnlySpan<float> edge, int f, int k);

    public static (Partial DSrc, Partial DDst, Partial DEdge) For(FusedBuiltin b) => b switch
    {
        FusedBuiltin.CopyU => ((s, d, e, f, k) => 1, (s, d, e, f, k) => 0, (s, d, e, f, k) => 0),
        FusedBuiltin.UMulE => ((s, d, e, f, k) => e[0], (s, d, e, f, k) => 0, (s, d, e, f, k) => k == 0 ? s[f] : 0),
        FusedBuiltin.UAddV => ((s, d, e, f, k) => 1, (s, d, e, f, k) => 1, (s, d, e, f, k) => 0),
        FusedBuiltin.UMulEFeat => ((s, d, e, f, k) => e[f], (s, d, e, f, k) => 0, (s, d, e, f, k) => k == f ? s[f] : 0),
        _ => throw new ArgumentOutOfRangeException(nameof(b)),
    };

    public static (double[] Src, double[] SrcAbs, double[] Dst, double[] DstAbs, double[] Edge, double[] EdgeAbs) Run(
        HostCsr g, int features, float[] src, float[] dst, float[] edge, int edgeWidth, float[] gradY, FusedBuiltin builtin, Reduce reduce)
    {
        var (dSrc, dDst, dEdge) = For(builtin);
        var gs = new double[g.NumCols * features];
        var gsa = new double[gs.Length];
        var gd = new double[g.NumRows * features];
        var gda = new double[gd.Length];
        var ge = new double[g.Nnz * edgeWidth];
        var gea = new double[ge.Length];
        for (long v = 0; v < g.NumRows; v++)
        {
            long start = g.RowPtr[v], end = g.RowPtr[v + 1];
            ReadOnlySpan<float> dstRow = dst.Length == 0 ? default : dst.AsSpan((int)(v * features), features);
            for (long e = start; e < end; e++)
            {
                long u = g.ColIdx[e];
                ReadOnlySpan<float> srcRow = src.AsSpan((int)(u * features), features);
                ReadOnlySpan<float> edgeRow = edgeWidth == 0 ? default : edge.AsSpan((int)(e * edgeWidth), edgeWidth);
                for (int f = 0; f < features; f++)
                {
                    double up = gradY[v * features + f] / (reduce == Reduce.Mean ? (double)(end - start) : 1.0);
                    double ts = dSrc(srcRow, dstRow, edgeRow, f, -1) * up;
                    gs[u * features + f] += ts;
                    gsa[u * features + f] += Math.Abs(ts);
                    double td = dDst(srcRow, dstRow, edgeRow, f, -1) * up;
                    gd[v * features + f] += td;
                    gda[v * features + f] += Math.Abs(td);
                    for (int k = 0; k < edgeWidth; k++)
                    {
                        double te = dEdge(srcRow, dstRow, edgeRow, f, k) * up;
                        ge[e * edgeWidth + k] += te;
                        gea[e * edgeWidth + k] += Math.Abs(te);
                    }
                }
            }
        }

        return (gs, gsa, gd, gda, ge, gea);
    }
}

/// <summary>
/// The fused backward (kernels/fused_message_backward.cuh) through its ahead-of-time built-in
/// instantiations (gk_fused_message_backward) on the emulated device: against the double oracle,
/// against central finite differences of the forward kernel, bitwise over 10 runs, and its refusals.
/// </summary>
[TestFixture]
[Category("Jit")]
public sealed class FusedMessageBackwardTests
{
    private GraphDevice _device = null!;

    [OneTimeSetUp]
    public void Open() => _device = GraphDevice.Emulated();

    [OneTimeTearDown]
    public void Close() => _device.Dispose();

    private sealed record Inputs(HostCsr Graph, int Features, float[] Src, float[] Dst, float[] Edge, int EdgeWidth, float[] GradY);

    private static Inputs Make(FusedBuiltin builtin, int features, ulong seed)
    {
        // 150 source nodes for 70 rows of up to 9 edges, 20 % of the rows empty: about one source in
        // seven has no out-edge, others several; empty rows too.
        var g = GraphGenerators.WithEmptyRows(70, 150, 0.2, 9, seed);
        var rng = new SplitMix64(seed * 13 + 5);
        float[] Fill(long n)
        {
            var a = new float[n];
            for (long i = 0; i < n; i++) a[i] = rng.NextFloat(-1f, 1f);
            return a;
        }

        int edgeWidth = builtin switch { FusedBuiltin.UMulE => 2, FusedBuiltin.UMulEFeat => features, _ => 0 };
        return new Inputs(g, features, Fill(g.NumCols * features), builtin == FusedBuiltin.UAddV ? Fill(g.NumRows * features) : [],
            Fill(g.Nnz * edgeWidth), edgeWidth, Fill(g.NumRows * features));
    }

    private sealed class Gradients
    {
        public float[] Src = [];
        public float[] Dst = [];
        public float[] Edge = [];
    }

    private Gradients RunBackward(FusedMessage fm, Inputs inp, IndexType index, float poison = float.NaN)
    {
        using CsrGraph graph = Upload(inp.Graph, index);
        using GraphPlan plan = GraphPlan.Build(graph);
        using var src = _device.Upload<float>(inp.Src);
        using var dst = inp.Dst.Length > 0 ? _device.Upload<float>(inp.Dst) : null;
        using var edge = inp.Edge.Length > 0 ? _device.Upload<float>(inp.Edge) : null;
        using var gy = _device.Upload<float>(inp.GradY);
        using var gs = _device.Allocate<float>(inp.Graph.NumCols * inp.Features);
        using var gd = fm.Operands.Dst ? _device.Allocate<float>(inp.Graph.NumRows * inp.Features) : null;
        using var ge = fm.Operands.Edge ? _device.Allocate<float>(inp.Graph.Nnz * inp.EdgeWidth) : null;
        gs.Fill(poison);
        gd?.Fill(poison);
        ge?.Fill(poison);
        fm.Backward(graph, plan, inp.Features, src, dst, edge, inp.EdgeWidth, gy, gs, gd, ge);
        return new Gradients { Src = gs.ToArray(), Dst = gd?.ToArray() ?? [], Edge = ge?.ToArray() ?? [] };
    }

    private CsrGraph Upload(HostCsr g, IndexType index) => index == IndexType.Int32
        ? CsrGraph.Upload(_device, g.RowPtr32(), g.ColIdx32(), g.NumCols)
        : CsrGraph.Upload(_device, g.RowPtr, g.ColIdx, g.NumCols);

    private static void Compare(float[] got, double[] want, double[] abs, int terms, string what)
    {
        Assert.That(got, Has.Length.EqualTo(want.Length), what);
        for (int i = 0; i < got.Length; i++)
        {
            // fp32: each term is a product of rounded factors (mean: g = dL/dy / deg, one more rounding)
            // rounded once, and each addition rounds by at most 2^-24 of the running |sum| <= Σ|terms|:
            // |error| <= (terms + 3) · 2^-24 · Σ|terms| (terms = the most terms any element sums).
            double tol = (terms + 3) * Math.Pow(2, -24) * abs[i];
            Assert.That(got[i], Is.EqualTo(want[i]).Within(tol), $"{what}[{i}]");
        }
    }

    [Test]
    public void BuiltinBackwardMatchesTheDoubleOracle([Values] FusedBuiltin builtin, [Values(Reduce.Sum, Reduce.Mean)] Reduce reduce,
        [Values] IndexType index, [Values(3, 33, 130)] int features)
    {
        var inp = Make(builtin, features, (ulong)(features * 7 + (int)builtin));
        using var fm = FusedMessage.Create(_device, builtin, reduce);
        Gradients got = RunBackward(fm, inp, index);
        var want = FusedBackwardOracle.Run(inp.Graph, features, inp.Src, inp.Dst, inp.Edge, inp.EdgeWidth, inp.GradY, builtin, reduce);
        int maxDeg = (int)Enumerable.Range(0, (int)inp.Graph.NumRows).Max(v => inp.Graph.Degree(v));
        int maxOut = inp.Graph.ColIdx.GroupBy(c => c).Select(x => x.Count()).DefaultIfEmpty(0).Max();
        Compare(got.Src, want.Src, want.SrcAbs, maxOut, "gradSrc");
        if (fm.Operands.Dst) Compare(got.Dst, want.Dst, want.DstAbs, maxDeg, "gradDst");
        if (fm.Operands.Edge) Compare(got.Edge, want.Edge, want.EdgeAbs, features, "gradEdge");

        // Sources without an out-edge get exactly 0 (they were poisoned with NaN).
        var hasOut = new HashSet<long>(inp.Graph.ColIdx);
        Assert.That(hasOut, Has.Count.LessThan(inp.Graph.NumCols), "the graph should have a source with no out-edge");
        for (long u = 0; u < inp.Graph.NumCols; u++)
        {
            if (!hasOut.Contains(u))
            {
                Assert.That(got.Src.AsSpan((int)(u * features), features).ToArray(), Is.All.EqualTo(0f), $"source {u} has no out-edge");
            }
        }
    }

    /// <summary>
    /// L = Σ dL/dy · y(θ) with y from the emulated forward kernel: (L(θ + h·d) − L(θ − h·d)) / 2h must
    /// equal Σ grad · d for a random direction d of each operand. Every built-in is linear in each
    /// operand, so the difference quotient is exact but for the fp32 rounding of the two forwards,
    /// bounded by Σ|dL/dy| · (|y₊| + |y₋|) · (maxdeg + 2) · 2^-24 / 2h, plus the fp32 error of the
    /// gradient itself (bounded like the oracle comparison).
    /// </summary>
    [Test]
    public void GradientsMatchFiniteDifferencesOfTheForward([Values] FusedBuiltin builtin, [Values(Reduce.Sum, Reduce.Mean)] Reduce reduce)
    {
        const int features = 20;
        const float h = 0.25f;
        var inp = Make(builtin, features, 99 + (ulong)builtin);
        using var fwd = FusedMessage.Create(_device, builtin, reduce);
        Gradients grad = RunBackward(fwd, inp, IndexType.Int64);
        int maxDeg = (int)Enumerable.Range(0, (int)inp.Graph.NumRows).Max(v => inp.Graph.Degree(v));
        var rng = new SplitMix64(1234);

        void Check(string operand, float[] values, float[] gradient)
        {
            float[] dir = values.Select(_ => rng.NextFloat(-1f, 1f)).ToArray();
            float[] plus = values.Zip(dir, (x, d) => x + (h * d)).ToArray();
            float[] minus = values.Zip(dir, (x, d) => x - (h * d)).ToArray();
            // The perturbed values are what the forward sees; use the actual difference (plus − minus) / 2.
            double directional = 0, dirAbs = 0;
            for (int i = 0; i < values.Length; i++)
            {
                double step = ((double)plus[i] - minus[i]) / 2;
                directional += gradient[i] * step;
                dirAbs += Math.Abs(gradient[i] * step);
            }

            float[] yPlus = Forward(fwd, inp, operand, plus), yMinus = Forward(fwd, inp, operand, minus);
            double lPlus = 0, lMinus = 0, bound = 0;
            for (int i = 0; i < yPlus.Length; i++)
            {
                lPlus += (double)inp.GradY[i] * yPlus[i];
                lMinus += (double)inp.GradY[i] * yMinus[i];
                bound += Math.Abs(inp.GradY[i]) * (Math.Abs(yPlus[i]) + Math.Abs(yMinus[i]));
            }

            double fd = (lPlus - lMinus) / 2;
            double tol = (bound * (maxDeg + 3) * Math.Pow(2, -24) / 2) + ((Math.Max(maxDeg, features) + 3) * Math.Pow(2, -24) * dirAbs * 4);
            TestContext.Out.WriteLine($"{builtin} {reduce} {operand}: fd {fd:R}, grad·d {directional:R}, tol {tol:E2}");
            // A wrong factor (a missing 1/deg, a sign, a dropped term) moves the value by about itself: it must dwarf the tolerance.
            Assert.That(Math.Abs(directional), Is.GreaterThan(20 * tol), "the check must be able to fail: the derivative is far from 0");
            Assert.That(directional, Is.EqualTo(fd).Within(tol), operand);
        }

        Check("src", inp.Src, grad.Src);
        if (fwd.Operands.Dst) Check("dst", inp.Dst, grad.Dst);
        if (fwd.Operands.Edge) Check("edge", inp.Edge, grad.Edge);
    }

    private float[] Forward(FusedMessage fm, Inputs inp, string operand, float[] values)
    {
        using CsrGraph graph = Upload(inp.Graph, IndexType.Int64);
        using var src = _device.Upload<float>(operand == "src" ? values : inp.Src);
        using var dst = inp.Dst.Length > 0 ? _device.Upload<float>(operand == "dst" ? values : inp.Dst) : null;
        using var edge = inp.Edge.Length > 0 ? _device.Upload<float>(operand == "edge" ? values : inp.Edge) : null;
        using var y = _device.Allocate<float>(inp.Graph.NumRows * inp.Features);
        y.Fill(float.NaN);
        fm.Run(graph, inp.Features, src, dst, edge, inp.EdgeWidth, y);
        return y.ToArray();
    }

    [Test]
    public void BitwiseIdenticalOverTenRuns([Values(FusedBuiltin.UMulE, FusedBuiltin.UAddV, FusedBuiltin.UMulEFeat)] FusedBuiltin builtin)
    {
        var inp = Make(builtin, 37, 8);
        using var fm = FusedMessage.Create(_device, builtin, Reduce.Mean);
        Gradients first = RunBackward(fm, inp, IndexType.Int32);
        for (int run = 1; run < 10; run++)
        {
            Gradients again = RunBackward(fm, inp, IndexType.Int32, poison: run);
            Assert.That(again.Src.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(first.Src.Select(BitConverter.SingleToInt32Bits)), $"gradSrc run {run}");
            Assert.That(again.Dst.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(first.Dst.Select(BitConverter.SingleToInt32Bits)), $"gradDst run {run}");
            Assert.That(again.Edge.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(first.Edge.Select(BitConverter.SingleToInt32Bits)), $"gradEdge run {run}");
        }
    }

    [Test]
    public void BuiltinWithItsOwnDerivativesIsAcceptedOthersAreNot()
    {
        using var ok = FusedMessage.Create(_device, "src[f]*edge[0]", Reduce.Sum, new MessageDerivatives(Src: " edge[ 0 ]", Edge: "k == 0\n ? src[f] : 0.0f"));
        Assert.That(ok.Builtin, Is.EqualTo(FusedBuiltin.UMulE));
        Assert.That(ok.Derivatives, Is.EqualTo(FusedMessage.BuiltinDerivatives(FusedBuiltin.UMulE)));
        var ex = Assert.Throws<NotSupportedException>(() => FusedMessage.Create(_device, "src[f]*edge[0]", Reduce.Sum, new MessageDerivatives(Src: "2.0f * edge[0]")));
        Assert.That(ex!.Message, Does.Contain("built-in derivative Src = edge[0]"));
        Assert.Throws<NotSupportedException>(() => FusedMessage.Create(_device, "src[f] * edge[0] + dst[f]", Reduce.Sum, new MessageDerivatives("edge[0]", "1.0f", "src[f]")));
    }

    [Test]
    [Category("BadInput")]
    public void MaxAndMinHaveNoFusedBackward([Values(Reduce.Max, Reduce.Min)] Reduce reduce)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => FusedMessage.Create(_device, "src[f]", reduce, new MessageDerivatives("1.0f")));
        Assert.That(ex!.ParamName, Is.EqualTo("reduce"));
        Assert.That(ex.Message, Does.Contain("Reduce.Sum and Reduce.Mean only"));
        using var fm = FusedMessage.Create(_device, FusedBuiltin.CopyU, reduce);
        var inp = Make(FusedBuiltin.CopyU, 4, 2);
        Assert.Throws<NotSupportedException>(() => RunBackward(fm, inp, IndexType.Int32));
    }

    [Test]
    [Category("BadInput")]
    public void MissingPlanAndUnreadOperandsAreRefusedOutputsUntouched()
    {
        var inp = Make(FusedBuiltin.UMulE, 8, 4);
        using var fm = FusedMessage.Create(_device, FusedBuiltin.UMulE, Reduce.Sum);
        using CsrGraph graph = Upload(inp.Graph, IndexType.Int32);
        using var src = _device.Upload<float>(inp.Src);
        using var edge = _device.Upload<float>(inp.Edge);
        using var gy = _device.Upload<float>(inp.GradY);
        using var gs = _device.Allocate<float>(inp.Graph.NumCols * 8);
        using var gd = _device.Allocate<float>(inp.Graph.NumRows * 8);
        gs.Fill(-7f);
        gd.Fill(-7f);
        var ex = Assert.Throws<ArgumentException>(() => fm.Backward(graph, null, 8, src, null, edge, 2, gy, gs, null, null));
        Assert.That(ex!.ParamName, Is.EqualTo("plan"));
        using GraphPlan plan = GraphPlan.Build(graph);
        ex = Assert.Throws<ArgumentException>(() => fm.Backward(graph, plan, 8, src, null, edge, 2, gy, gs, gd, null));
        Assert.That(ex!.ParamName, Is.EqualTo("gradDst"));
        ex = Assert.Throws<ArgumentException>(() => fm.Backward(graph, plan, 8, src, null, edge, 2, gy, null, null, null));
        Assert.That(ex!.ParamName, Is.EqualTo("gradSrc"));
        Assert.That(gs.ToArray(), Is.All.EqualTo(-7f));
        Assert.That(gd.ToArray(), Is.All.EqualTo(-7f));
    }

    [Test]
    [Category("BadInput")]
    public unsafe void NativeRefusesMaxAndAnEdgeGradientOfCopyUNamingThem()
    {
        var inp = Make(FusedBuiltin.CopyU, 4, 6);
        using CsrGraph graph = Upload(inp.Graph, IndexType.Int32);
        using GraphPlan plan = GraphPlan.Build(graph);
        using var src = _device.Upload<float>(inp.Src);
        using var gy = _device.Upload<float>(inp.GradY);
        using var gs = _device.Allocate<float>(inp.Graph.NumCols * 4);
        using var ge = _device.Allocate<float>(inp.Graph.Nnz * 4);
        gs.Fill(-7f);
        ge.Fill(-7f);
        GkCsr csr = graph.ToNative("graph");
        GkPlan p = plan.ToNative("plan");
        int status = _device.Api.gk_fused_message_backward(&csr, &p, 0, 2, 4, (void*)src.Pointer, 4, null, 0, null, 0, 0,
            (void*)gy.Pointer, 4, (void*)gs.Pointer, 4, null, 0, null, 0, null);
        Assert.That((GkStatus)status, Is.EqualTo(GkStatus.InvalidArgument));
        Assert.That(LibraryProbe.Utf8(_device.Api.gk_last_error_message()), Does.Contain("reduce = 2"));
        status = _device.Api.gk_fused_message_backward(&csr, &p, 0, 0, 4, (void*)src.Pointer, 4, null, 0, null, 0, 0,
            (void*)gy.Pointer, 4, null, 0, null, 0, (void*)ge.Pointer, 4, null);
        Assert.That((GkStatus)status, Is.EqualTo(GkStatus.InvalidArgument));
        Assert.That(LibraryProbe.Utf8(_device.Api.gk_last_error_message()), Does.Contain("grad_edge must be NULL"));
        status = _device.Api.gk_fused_message_backward(&csr, null, 0, 0, 4, (void*)src.Pointer, 4, null, 0, null, 0, 0,
            (void*)gy.Pointer, 4, (void*)gs.Pointer, 4, null, 0, null, 0, null);
        Assert.That((GkStatus)status, Is.EqualTo(GkStatus.InvalidArgument));
        Assert.That(LibraryProbe.Utf8(_device.Api.gk_last_error_message()), Does.Contain("plan is NULL"));
        status = _device.Api.gk_fused_message_backward(&csr, &p, 0, 0, 4, (void*)src.Pointer, 4, null, 0, null, 0, 0,
            (void*)gy.Pointer, 4, (void*)src.Pointer, 4, null, 0, null, 0, null);
        Assert.That((GkStatus)status, Is.EqualTo(GkStatus.InvalidArgument));
        Assert.That(LibraryProbe.Utf8(_device.Api.gk_last_error_message()), Does.Contain("grad_src overlaps x_src"));
        Assert.That(gs.ToArray(), Is.All.EqualTo(-7f));
        Assert.That(ge.ToArray(), Is.All.EqualTo(-7f));
    }
}

/// <summary>Derivative snippets are validated like message expressions; a message with a backward reads src and dst only at [f].</summary>
[TestFixture]
[Category("Jit")]
public sealed class DerivativeExpressionTests
{
    [TestCase("src[f] * k", DerivativeOperand.Src, 1, 10, "unknown identifier 'k'")]
    [TestCase("1.0f;\n", DerivativeOperand.Dst, 1, 5, "';'")]
    [TestCase("k == 0 ?\n  src[f] : __expf(1)", DerivativeOperand.Edge, 2, 12, "__expf")]
    [TestCase("edge[0] // x", DerivativeOperand.Src, 1, 9, "comments")]
    public void RefusesWithSnippetLineAndColumn(string expression, DerivativeOperand which, int line, int column, string reason)
    {
        var ex = Assert.Throws<FusedMessageException>(() => MessageExpression.ValidateDerivative(expression, which));
        Assert.That((ex!.Snippet, ex.Line, ex.Column), Is.EqualTo(($"derivative {which}", line, column)), ex.Message);
        Assert.That(ex.Message, Does.StartWith($"derivative {which}, line {line}, column {column}:").And.Contain(reason));
    }

    [Test]
    public void EdgeDerivativeMayUseK()
        => Assert.That(MessageExpression.ValidateDerivative("k == 1 ? dst[f] : 0.0f", DerivativeOperand.Edge), Is.EqualTo(new MessageOperands(false, true, false)));

    [Test]
    public void CreateReportsTheDerivativeSnippet()
    {
        using var device = GraphDevice.Emulated();
        var ex = Assert.Throws<FusedMessageException>(() => FusedMessage.Create(device, "src[f] * edge[0]", Reduce.Sum,
            new MessageDerivatives(Src: "edge[0]", Edge: "k == 0 ?\n src[f] : #0")));
        Assert.That((ex!.Snippet, ex.Line, ex.Column), Is.EqualTo(("derivative Edge", 2, 11)));
    }

    [TestCase("src[f] * edge[0]")]
    [TestCase("src [ f ] + dst[\n f ] * edge[f]")]
    [TestCase("tanhf(src[f]) * edge[1]")]
    public void ElementwiseMessagesAreAccepted(string expression) => Assert.DoesNotThrow(() => MessageExpression.RequireElementwise(expression));

    [TestCase("src[0] * edge[0]", 1, 1, "src")]
    [TestCase("src[f] +\n  dst[f + 1]", 2, 3, "dst")]
    [TestCase("edge[0] * src", 1, 11, "src")]
    [TestCase("src[ff]", 1, 1, "src")]
    public void NonElementwiseMessagesAreRefusedWithAPosition(string expression, int line, int column, string operand)
    {
        var ex = Assert.Throws<FusedMessageException>(() => MessageExpression.RequireElementwise(expression));
        Assert.That((ex!.Line, ex.Column), Is.EqualTo((line, column)), ex.Message);
        Assert.That(ex.Message, Does.Contain($"'{operand}' may only be read as {operand}[f]"));
    }
}

/// <summary>The generated user backward through NVRTC (no device): it compiles, and NVRTC's errors name the derivative and its line.</summary>
[TestFixture]
[Category("Jit")]
public sealed class FusedBackwardJitTests
{
    private string _dir = null!;

    [SetUp]
    public void Cache() => _dir = Path.Combine(Path.GetTempPath(), "gk-fused-bwd-test-" + Guid.NewGuid().ToString("N"));

    [TearDown]
    public void Remove()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private JitCompiler Service()
    {
        if (!NvrtcCompiler.TryLoad(out var nvrtc, out string whyNot)) Assert.Ignore("NVRTC not found: " + whyNot);
        return new JitCompiler(nvrtc!, new KernelCache(_dir));
    }

    [TestCase(80, NvrtcOutput.Ptx, Reduce.Sum)]
    [TestCase(90, NvrtcOutput.Cubin, Reduce.Mean)]
    public void UserBackwardCompiles(int arch, NvrtcOutput kind, Reduce reduce)
    {
        var jit = Service();
        var d = new MessageDerivatives(Src: "edge[0] * (1.0f - tanhf(src[f]) * tanhf(src[f]))", Dst: "edge[1]", Edge: "k == 0 ? tanhf(src[f]) : k == 1 ? dst[f] : 0.0f");
        JitImage image = FusedMessage.CompileBackward(jit, "tanhf(src[f]) * edge[0] + dst[f] * edge[1]", reduce, d, new JitTarget(arch, kind));
        string text = System.Text.Encoding.Latin1.GetString(image.Image);
        var names = FusedMessage.BackwardNameExpressions("gk_user::Grad", reduce);
        Assert.That(names, Has.Count.EqualTo(6));
        foreach (string name in names)
        {
            Assert.That(text, Does.Contain((kind == NvrtcOutput.Ptx ? ".entry " : string.Empty) + image.LoweredNames[name]), name);
        }
    }

    [Test]
    public void NvrtcErrorInADerivativeNamesItAndItsLine()
    {
        var jit = Service();
        var d = new MessageDerivatives(Src: "edge[0]", Edge: "k == 0 ?\n  src[f]\n  + dst : 0.0f");
        var ex = Assert.Throws<FusedMessageException>(() => FusedMessage.CompileBackward(jit, "src[f] * edge[0] + dst[f]", Reduce.Sum, d, new JitTarget(90, NvrtcOutput.Cubin)));
        TestContext.Out.WriteLine(ex!.Message);
        Assert.That((ex.Snippet, ex.Line), Is.EqualTo(("derivative Edge", 3)), ex.CompilerLog);
        Assert.That(ex.CompilerLog, Does.Contain("d_edge(3)"));
    }
}

/// <summary>On a CUDA device: a user-defined backward against the double oracle (skipped without a GPU).</summary>
[TestFixture]
[Category("Gpu")]
[Category("Jit")]
public sealed class FusedBackwardGpuTests
{
    [Test]
    public void UserBackwardMatchesTheOracle([Values(Reduce.Sum, Reduce.Mean)] Reduce reduce, [Values] IndexType index)
    {
        using GraphDevice device = TestDevices.OpenOrIgnore(DeviceKind.Cuda);
        const int features = 40;
        var g = GraphGenerators.WithEmptyRows(300, 200, 0.1, 20, 11);
        var rng = new SplitMix64(3);
        float[] Fill(long n) => Enumerable.Range(0, (int)n).Select(_ => rng.NextFloat(-1f, 1f)).ToArray();
        float[] src = Fill(g.NumCols * features), edge = Fill(g.Nnz * features), gy = Fill(g.NumRows * features);
        // u_mul_e_feat written as a user expression (not recognised as the built-in: the factor order differs).
        using var fm = FusedMessage.Create(device, "edge[f] * src[f]", reduce, new MessageDerivatives(Src: "edge[f]", Edge: "k == f ? src[f] : 0.0f"));
        Assert.That(fm.Builtin, Is.Null);
        using CsrGraph graph = index == IndexType.Int32
            ? CsrGraph.Upload(device, g.RowPtr32(), g.ColIdx32(), g.NumCols)
            : CsrGraph.Upload(device, g.RowPtr, g.ColIdx, g.NumCols);
        using GraphPlan plan = GraphPlan.Build(graph);
        using var dSrc = device.Upload<float>(src);
        using var dEdge = device.Upload<float>(edge);
        using var dGy = device.Upload<float>(gy);
        using var gs = device.Allocate<float>(g.NumCols * features);
        using var ge = device.Allocate<float>(g.Nnz * features);
        gs.Fill(float.NaN);
        ge.Fill(float.NaN);
        fm.Backward(graph, plan, features, dSrc, null, dEdge, features, dGy, gs, null, ge);
        var want = FusedBackwardOracle.Run(g, features, src, [], edge, features, gy, FusedBuiltin.UMulEFeat, reduce);
        float[] gotS = gs.ToArray(), gotE = ge.ToArray();
        // fp32 bound as on the emulated device: (terms + 3) · 2^-24 · Σ|terms| (FMA contraction only removes roundings).
        int maxOut = g.ColIdx.GroupBy(c => c).Select(x => x.Count()).DefaultIfEmpty(0).Max();
        for (int i = 0; i < gotS.Length; i++)
            Assert.That(gotS[i], Is.EqualTo(want.Src[i]).Within((maxOut + 3) * Math.Pow(2, -24) * want.SrcAbs[i]), $"gradSrc[{i}]");
        for (int i = 0; i < gotE.Length; i++)
            Assert.That(gotE[i], Is.EqualTo(want.Edge[i]).Within((features + 3) * Math.Pow(2, -24) * want.EdgeAbs[i]), $"gradEdge[{i}]");
    }
}
