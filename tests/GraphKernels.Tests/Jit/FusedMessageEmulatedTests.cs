using GraphKernels.Interop;
using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Jit;

/// <summary>
/// The fused template (kernels/fused_message.cuh) instantiated ahead of time with the built-in
/// message functions (native/src/fused_message.cu), run on the emulated device through
/// <see cref="FusedMessage"/> and compared with the double oracle. Widths 16 and 64 run the
/// fixed-width variants (F a template constant), the others the generic kernel.
/// </summary>
[TestFixture]
[Category("Jit")]
public sealed class FusedMessageEmulatedTests
{
    private GraphDevice _device = null!;

    [OneTimeSetUp]
    public void Open() => _device = GraphDevice.Emulated();

    [OneTimeTearDown]
    public void Close() => _device.Dispose();

    private sealed record Inputs(HostCsr Graph, int Features, float[] Src, float[] Dst, float[] Edge, int EdgeWidth);

    private static Inputs Make(FusedBuiltin builtin, int features, ulong seed)
    {
        var g = GraphGenerators.WithEmptyRows(70, 45, 0.2, 9, seed);
        var rng = new SplitMix64(seed * 7 + 1);
        float[] Fill(long n)
        {
            var a = new float[n];
            for (long i = 0; i < n; i++) a[i] = rng.NextFloat(-1f, 1f);
            return a;
        }

        int edgeWidth = builtin switch { FusedBuiltin.UMulE => 1, FusedBuiltin.UMulEFeat => features, _ => 0 };
        return new Inputs(g, features, Fill(g.NumCols * features),
            builtin == FusedBuiltin.UAddV ? Fill(g.NumRows * features) : [],
            Fill(g.Nnz * edgeWidth), edgeWidth);
    }

    private float[] RunDevice(FusedMessage fm, Inputs inp, IndexType index, float poison = float.NaN)
    {
        using CsrGraph graph = index == IndexType.Int32
            ? CsrGraph.Upload(_device, inp.Graph.RowPtr32(), inp.Graph.ColIdx32(), inp.Graph.NumCols)
            : CsrGraph.Upload(_device, inp.Graph.RowPtr, inp.Graph.ColIdx, inp.Graph.NumCols);
        using var src = _device.Upload<float>(inp.Src);
        using var dst = inp.Dst.Length > 0 ? _device.Upload<float>(inp.Dst) : null;
        using var edge = inp.Edge.Length > 0 ? _device.Upload<float>(inp.Edge) : null;
        using var y = _device.Allocate<float>(inp.Graph.NumRows * inp.Features);
        y.Fill(poison);
        fm.Run(graph, inp.Features, src, dst, edge, inp.EdgeWidth, y);
        return y.ToArray();
    }

    [Test]
    public void BuiltinsMatchTheOracle(
        [Values] FusedBuiltin builtin,
        [Values(Reduce.Sum, Reduce.Mean, Reduce.Max, Reduce.Min)] Reduce reduce,
        [Values] IndexType index,
        [Values(1, 5, 16, 33, 64)] int features)
    {
        var inp = Make(builtin, features, (ulong)(17 + features + 100 * (int)builtin));
        using var fm = FusedMessage.Create(_device, builtin, reduce);
        Assert.That(fm.Builtin, Is.EqualTo(builtin));
        float[] y = RunDevice(fm, inp, index);
        var (expected, absSum) = FusedMessageOracle.Run(inp.Graph, features, inp.Src, inp.Dst, inp.Edge, inp.EdgeWidth,
            FusedMessageOracle.For(builtin), reduce);

        for (long v = 0; v < inp.Graph.NumRows; v++)
        {
            long deg = inp.Graph.Degree(v);
            for (int f = 0; f < features; f++)
            {
                long i = v * features + f;
                double want = expected[i];
                // fp32: each message is rounded once (2^-24 relative) and sum/mean add one rounding
                // per term of at most 2^-24 of the running |sum| <= absSum; max/min pick one rounded message.
                double tol = reduce is Reduce.Sum or Reduce.Mean
                    ? (deg + 2) * Math.Pow(2, -24) * absSum[i]
                    : Math.Pow(2, -24) * Math.Abs(want);
                if (deg == 0)
                {
                    Assert.That(y[i], Is.EqualTo(0f), $"row {v} is empty: {reduce} must give 0 (f = {f})");
                }
                else
                {
                    Assert.That(y[i], Is.EqualTo(want).Within(tol), $"{builtin} {reduce} row {v} (deg {deg}) f {f}");
                }
            }
        }
    }

    [Test]
    public void BitwiseIdenticalOverTenRuns([Values(FusedBuiltin.UMulE, FusedBuiltin.UAddV)] FusedBuiltin builtin, [Values(Reduce.Sum, Reduce.Max)] Reduce reduce)
    {
        var inp = Make(builtin, 33, 5);
        using var fm = FusedMessage.Create(_device, builtin, reduce);
        float[] first = RunDevice(fm, inp, IndexType.Int32);
        for (int run = 1; run < 10; run++)
        {
            float[] again = RunDevice(fm, inp, IndexType.Int32, poison: run);
            Assert.That(again.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(first.Select(BitConverter.SingleToInt32Bits)), $"run {run}");
        }
    }

    [Test]
    public void ExpressionNamingABuiltinUsesTheAheadOfTimeKernel()
    {
        using var fm = FusedMessage.Create(_device, "  src[f] *\n edge[0] ", Reduce.Sum);
        Assert.That(fm.Builtin, Is.EqualTo(FusedBuiltin.UMulE));
        Assert.That(fm.Operands, Is.EqualTo(new MessageOperands(true, false, true)));
        Assert.That(fm.Image, Is.Null, "the emulated device runs the ahead-of-time instantiation, no JIT image");
    }

    [Test]
    public void UserExpressionOnTheEmulatedDeviceIsNotSupported()
    {
        var ex = Assert.Throws<NotSupportedException>(() => FusedMessage.Create(_device, "src[f] * edge[0] + dst[f]", Reduce.Sum));
        Assert.That(ex!.Message, Does.Contain("CUDA device").And.Contain("built-ins"));
    }

    [Test]
    [Category("BadInput")]
    public void MulReducerIsRefusedByName()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => FusedMessage.Create(_device, FusedBuiltin.UMulE, Reduce.Mul));
        Assert.That(ex!.ParamName, Is.EqualTo("reduce"));
        Assert.That(ex.Message, Does.Contain("Reduce.Mul is not supported by fused message functions"));
    }

    [Test]
    [Category("BadInput")]
    public void MissingOperandIsRejectedAndOutputUntouched()
    {
        var inp = Make(FusedBuiltin.UMulE, 8, 3);
        using var fm = FusedMessage.Create(_device, FusedBuiltin.UMulE, Reduce.Sum);
        using CsrGraph graph = CsrGraph.Upload(_device, inp.Graph.RowPtr32(), inp.Graph.ColIdx32(), inp.Graph.NumCols);
        using var src = _device.Upload<float>(inp.Src);
        using var y = _device.Allocate<float>(inp.Graph.NumRows * 8);
        y.Fill(-7f);
        var ex = Assert.Throws<ArgumentException>(() => fm.Run(graph, 8, src, null, null, 1, y));
        Assert.That(ex!.ParamName, Is.EqualTo("edge"));
        Assert.That(y.ToArray(), Is.All.EqualTo(-7f));
    }

    [Test]
    [Category("BadInput")]
    public unsafe void NativeRejectsABadBuiltinNamingIt()
    {
        var inp = Make(FusedBuiltin.CopyU, 4, 9);
        using CsrGraph graph = CsrGraph.Upload(_device, inp.Graph.RowPtr32(), inp.Graph.ColIdx32(), inp.Graph.NumCols);
        using var src = _device.Upload<float>(inp.Src);
        using var y = _device.Allocate<float>(inp.Graph.NumRows * 4);
        y.Fill(-7f);
        GkCsr csr = graph.ToNative("graph");
        int status = _device.Api.gk_fused_message(&csr, 7, 0, 4, (void*)src.Pointer, 4, null, 0, null, 0, 0, (void*)y.Pointer, 4, null);
        Assert.That((GkStatus)status, Is.EqualTo(GkStatus.InvalidArgument));
        Assert.That(LibraryProbe.Utf8(_device.Api.gk_last_error_message()), Does.Contain("builtin = 7"));
        Assert.That(y.ToArray(), Is.All.EqualTo(-7f));

        status = _device.Api.gk_fused_message(&csr, (int)FusedBuiltin.UMulEFeat, 0, 4, (void*)src.Pointer, 4, null, 0, (void*)src.Pointer, 3, 3, (void*)y.Pointer, 4, null);
        Assert.That((GkStatus)status, Is.EqualTo(GkStatus.InvalidArgument));
        Assert.That(LibraryProbe.Utf8(_device.Api.gk_last_error_message()), Does.Contain("edge_width = 3"));
        Assert.That(y.ToArray(), Is.All.EqualTo(-7f));
    }
    [Test]
    public void RunAllocatesNothing()
    {
        var inp = Make(FusedBuiltin.UAddV, 16, 21);
        using var fm = FusedMessage.Create(_device, FusedBuiltin.UAddV, Reduce.Mean);
        using CsrGraph graph = CsrGraph.Upload(_device, inp.Graph.RowPtr32(), inp.Graph.ColIdx32(), inp.Graph.NumCols);
        using var src = _device.Upload<float>(inp.Src);
        using var dst = _device.Upload<float>(inp.Dst);
        using var y = _device.Allocate<float>(inp.Graph.NumRows * 16);
        using var stream = _device.CreateStream();
        for (int i = 0; i < 10; i++) fm.Run(graph, 16, src, dst, null, 0, y, stream);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 50; i++) fm.Run(graph, 16, src, dst, null, 0, y, stream);
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero, "bytes allocated by 50 FusedMessage.Run calls");
    }
}
