using GraphKernels.Interop;
using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Jit;

/// <summary>
/// The automatic width specialisation of MessagePassing.SpMM (managed/GraphKernels/MessagePassing.Specialised.cs):
/// the decision, tested as a pure function (device kind, F, leading dimensions, arg output, dtype,
/// GRAPHKERNELS_JIT), and the per-device kernel slot (first call makes it, a failure falls back for
/// good and is recorded), both without a GPU.
/// </summary>
[TestFixture]
[Category("Jit")]
public sealed class SpecialisedSpmmDecisionTests
{
    private const int F32 = 0;

    [Test]
    public void EveryWidthOnCudaIsSpecialised([Values(16, 32, 64, 128, 256)] int features)
    {
        Assert.That(SpecialisedSpmm.Decide(DeviceKind.Cuda, features, features, features, false, F32, 10, null), Is.EqualTo(SpmmRoute.Specialised));
        // The fused kernel loads scalars: a padded leading dimension (any value >= F, odd or not) still fits.
        Assert.That(SpecialisedSpmm.Decide(DeviceKind.Cuda, features, features + 3, features + 1, false, F32, 10, null), Is.EqualTo(SpmmRoute.Specialised));
    }

    [TestCase(1)]
    [TestCase(8)]
    [TestCase(15)]
    [TestCase(17)]
    [TestCase(48)]
    [TestCase(96)]
    [TestCase(255)]
    [TestCase(257)]
    [TestCase(512)]
    public void OtherWidthsAreGeneric(int features)
        => Assert.That(SpecialisedSpmm.Decide(DeviceKind.Cuda, features, features, features, false, F32, 10, null), Is.EqualTo(SpmmRoute.Width));

    [Test]
    public void OnlyCudaDevicesSpecialise([Values(DeviceKind.Emulated, DeviceKind.Ilgpu)] DeviceKind kind)
        => Assert.That(SpecialisedSpmm.Decide(kind, 64, 64, 64, false, F32, 10, null), Is.EqualTo(SpmmRoute.NotCuda));

    [Test]
    public void ArgOutputDtypeLeadingDimensionAndEmptyGraphsAreGeneric()
    {
        Assert.That(SpecialisedSpmm.Decide(DeviceKind.Cuda, 64, 64, 64, argOut: true, F32, 10, null), Is.EqualTo(SpmmRoute.ArgOutput));
        Assert.That(SpecialisedSpmm.Decide(DeviceKind.Cuda, 64, 64, 64, false, dtype: 1, 10, null), Is.EqualTo(SpmmRoute.Dtype), "f16");
        Assert.That(SpecialisedSpmm.Decide(DeviceKind.Cuda, 64, 64, 64, false, dtype: 2, 10, null), Is.EqualTo(SpmmRoute.Dtype), "bf16");
        Assert.That(SpecialisedSpmm.Decide(DeviceKind.Cuda, 64, 63, 64, false, F32, 10, null), Is.EqualTo(SpmmRoute.LeadingDimension));
        Assert.That(SpecialisedSpmm.Decide(DeviceKind.Cuda, 64, 64, 32, false, F32, 10, null), Is.EqualTo(SpmmRoute.LeadingDimension));
        Assert.That(SpecialisedSpmm.Decide(DeviceKind.Cuda, 64, 64, 64, false, F32, 0, null), Is.EqualTo(SpmmRoute.Empty));
    }

    [TestCase("0")]
    [TestCase(" 0 ")]
    [TestCase("off")]
    [TestCase("OFF")]
    [TestCase("false")]
    [TestCase("False")]
    public void EnvironmentTurnsItOff(string value)
        => Assert.That(SpecialisedSpmm.Decide(DeviceKind.Cuda, 64, 64, 64, false, F32, 10, value), Is.EqualTo(SpmmRoute.Disabled));

    [TestCase(null)]
    [TestCase("")]
    [TestCase("1")]
    [TestCase("on")]
    [TestCase("00")]
    public void OtherEnvironmentValuesLeaveItOn(string? value)
        => Assert.That(SpecialisedSpmm.Decide(DeviceKind.Cuda, 64, 64, 64, false, F32, 10, value), Is.EqualTo(SpmmRoute.Specialised));

    [Test]
    public void DisabledWinsOverEveryOtherReasonButTheDeviceKind()
    {
        Assert.That(SpecialisedSpmm.Decide(DeviceKind.Cuda, 20, 20, 20, true, 1, 10, "0"), Is.EqualTo(SpmmRoute.Disabled));
        Assert.That(SpecialisedSpmm.Decide(DeviceKind.Emulated, 64, 64, 64, false, F32, 10, "0"), Is.EqualTo(SpmmRoute.NotCuda));
    }

    [Test]
    public void TheFactoryRunsOnceAndItsKernelIsReused()
    {
        using var device = GraphDevice.Emulated();
        int calls = 0;
        FusedMessage Make(GraphDevice d, Message m, Reduce r)
        {
            calls++;
            return FusedMessage.Create(d, m == Message.UMulE ? FusedBuiltin.UMulE : FusedBuiltin.CopyU, r);
        }

        var first = SpecialisedSpmm.Acquire(device, Message.UMulE, Reduce.Mean, Make);
        var second = SpecialisedSpmm.Acquire(device, Message.UMulE, Reduce.Mean, Make);
        Assert.That(first, Is.Not.Null);
        Assert.That(second, Is.SameAs(first));
        Assert.That(first!.Builtin, Is.EqualTo(FusedBuiltin.UMulE));
        Assert.That(first.Reduce, Is.EqualTo(Reduce.Mean));
        Assert.That(calls, Is.EqualTo(1));

        // Another slot is another kernel.
        var other = SpecialisedSpmm.Acquire(device, Message.CopyU, Reduce.Max, Make);
        Assert.That(other, Is.Not.SameAs(first));
        Assert.That(calls, Is.EqualTo(2));
    }

    [Test]
    public void AFailingFactoryFallsBackForGoodAndIsRecordedWithoutThrowing()
    {
        using var device = GraphDevice.Emulated();
        string? before = MessagePassing.SpecialisationFallbackReason;
        int calls = 0;
        FusedMessage Broken(GraphDevice d, Message m, Reduce r)
        {
            calls++;
            throw new GraphKernels.Jit.NvrtcCompileException("fused_message_builtin.cu", 6, "NVRTC_ERROR_COMPILATION", "fused_message.cuh(1): error: simulated failure");
        }

        Assert.That(SpecialisedSpmm.Acquire(device, Message.CopyU, Reduce.Sum, Broken), Is.Null);
        Assert.That(SpecialisedSpmm.Acquire(device, Message.CopyU, Reduce.Sum, Broken), Is.Null);
        Assert.That(calls, Is.EqualTo(1), "a failed slot is not retried");
        string? reason = MessagePassing.SpecialisationFallbackReason;
        Assert.That(reason, Is.Not.Null);
        if (before is null)
        {
            Assert.That(reason, Does.Contain("CopyU/Sum").And.Contain("NvrtcCompileException").And.Contain("spmm_kernel runs instead"));
        }
        else
        {
            Assert.That(reason, Is.EqualTo(before), "the first reason is kept");
        }

        Assert.That(GraphDevice.Describe(), Does.Contain("Specialised SpMM:"));
    }
}

/// <summary>
/// The specialised template instantiations on the emulated device: copy_u and u_mul_e with F = 16,
/// 32, 64, 128 and 256 a template constant (native/src/fused_message.cu instantiates all of them in
/// both native libraries) must equal the independent generic SpMM kernel (kernels/spmm.cuh, which
/// MessagePassing.SpMM runs on the emulated device) bitwise: both fold each element's messages in
/// CSR order in fp32 and the host compiler contracts no multiply-add across statements here. On CUDA
/// the same comparison is <see cref="SpecialisedSpmmGpuTests"/>.
/// </summary>
[TestFixture]
[Category("Jit")]
public sealed class FusedSpmmEmulatedTests
{
    private static (HostCsr G, float[] X, float[] W) Inputs(int features, long ldx, ulong seed)
    {
        var g = GraphGenerators.WithEmptyRows(90, 60, 0.15, 12, seed);
        var rng = new SplitMix64(seed * 31 + 7);
        float[] x = Enumerable.Range(0, (int)(g.NumCols * ldx)).Select(_ => rng.NextFloat(-2f, 2f)).ToArray();
        float[] w = Enumerable.Range(0, (int)g.Nnz).Select(_ => rng.NextFloat(-1f, 1f)).ToArray();
        return (g, x, w);
    }

    [Test]
    public void SpecialisedWidthsEqualTheGenericSpmmBitwise([Values(Message.CopyU, Message.UMulE)] Message message, [Values(Reduce.Sum, Reduce.Mean, Reduce.Max, Reduce.Min)] Reduce reduce, [Values] IndexType index,
        [Values(16, 32, 64, 128, 256, 20)] int features)
    {
        using var device = GraphDevice.Emulated();
        var (g, x, w) = Inputs(features, features, (ulong)features);
        using CsrGraph graph = index == IndexType.Int32
            ? CsrGraph.Upload(device, g.RowPtr32(), g.ColIdx32(), g.NumCols)
            : CsrGraph.Upload(device, g.RowPtr, g.ColIdx, g.NumCols);
        using var dx = device.Upload<float>(x);
        using var dw = message == Message.UMulE ? device.Upload<float>(w) : null;
        using var yFused = device.Allocate<float>(g.NumRows * features);
        using var ySpmm = device.Allocate<float>(g.NumRows * features);
        yFused.Fill(float.NaN);
        ySpmm.Fill(float.NaN);

        long launches = SpecialisedSpmm.Launches;
        bool specialised = FusedMessage.SpMM(graph, message, reduce, features, dx, yFused, dw);
        GraphKernels.MessagePassing.SpMM(graph, message, reduce, features, dx, ySpmm, dw);
        Assert.That(specialised, Is.EqualTo(features != 20), "the fused kernel runs exactly for the specialised widths");
        Assert.That(SpecialisedSpmm.Launches, Is.EqualTo(launches), "MessagePassing.SpMM never takes the JIT path off CUDA");
        Assert.That(yFused.ToArray().Select(BitConverter.SingleToInt32Bits), Is.EqualTo(ySpmm.ToArray().Select(BitConverter.SingleToInt32Bits)));
    }

    /// <summary>
    /// Through the C ABI with padded leading dimensions (what the CUDA hook passes): gk_fused_message
    /// with ld_src = F + 3 and ldy = F + 5 equals gk_spmm with the same ones bitwise, and both leave
    /// the padding columns of y untouched.
    /// </summary>
    [Test]
    public unsafe void PaddedLeadingDimensionsEqualTheGenericSpmmBitwise([Values(Message.CopyU, Message.UMulE)] Message message,
        [Values(Reduce.Sum, Reduce.Mean, Reduce.Max, Reduce.Min)] Reduce reduce, [Values(16, 32, 64, 128, 256)] int features)
    {
        using var device = GraphDevice.Emulated();
        long ldx = features + 3, ldy = features + 5;
        var (g, x, w) = Inputs(features, ldx, (ulong)(features + 1000));
        using CsrGraph graph = CsrGraph.Upload(device, g.RowPtr, g.ColIdx, g.NumCols);
        using var dx = device.Upload<float>(x);
        using var dw = device.Upload<float>(w);
        using var yFused = device.Allocate<float>(g.NumRows * ldy);
        using var ySpmm = device.Allocate<float>(g.NumRows * ldy);
        yFused.Fill(-3.25f);
        ySpmm.Fill(-3.25f);
        GkCsr csr = graph.ToNative("graph");
        bool umule = message == Message.UMulE;
        int builtin = (int)(umule ? FusedBuiltin.UMulE : FusedBuiltin.CopyU);
        int status = device.Api.gk_fused_message(&csr, builtin, (int)reduce, features, (void*)dx.Pointer, ldx, null, 0,
            umule ? (void*)dw.Pointer : null, umule ? 1 : 0, umule ? 1 : 0, (void*)yFused.Pointer, ldy, null);
        Assert.That((GkStatus)status, Is.EqualTo(GkStatus.Success));
        GraphKernels.MessagePassing.SpMM(graph, message, reduce, features, dx, ySpmm, umule ? dw : null, ldx: ldx, ldy: ldy);
        float[] a = yFused.ToArray(), b = ySpmm.ToArray();
        Assert.That(a.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(b.Select(BitConverter.SingleToInt32Bits)));
        for (long r = 0; r < g.NumRows; r++)
        {
            for (long f = features; f < ldy; f++)
            {
                Assert.That(a[(r * ldy) + f], Is.EqualTo(-3.25f), $"padding of row {r}, column {f}");
            }
        }
    }
}

/// <summary>
/// On a CUDA device: MessagePassing.SpMM picks the NVRTC-specialised kernel for F = 16 ... 256 and its
/// result equals the fatbin's spmm_kernel bitwise (the raw-pointer overload always runs gk_spmm).
/// Both fold in CSR order in fp32; for u_mul_e sums both let nvcc / NVRTC contract x * w + acc into
/// one FMA (default --fmad=true), which this test would catch if they differed. Skipped without a GPU.
/// </summary>
[TestFixture]
[Category("Gpu")]
[Category("Jit")]
public sealed class SpecialisedSpmmGpuTests
{
    [Test]
    public void SpecialisedEqualsGenericBitwise([Values(Message.CopyU, Message.UMulE)] Message message, [Values(Reduce.Sum, Reduce.Mean, Reduce.Max, Reduce.Min)] Reduce reduce,
        [Values] IndexType index, [Values(16, 32, 64, 128, 256)] int features, [Values(0, 3)] int pad)
    {
        using GraphDevice device = TestDevices.OpenOrIgnore(DeviceKind.Cuda);
        if (SpecialisedSpmm.DisabledByEnvironment) Assert.Ignore("GRAPHKERNELS_JIT=0");
        var g = GraphGenerators.WithEmptyRows(600, 400, 0.1, 40, (ulong)(features + pad));
        var rng = new SplitMix64(12);
        long ldx = features + pad, ldy = features + (2 * pad);
        float[] x = Enumerable.Range(0, (int)(g.NumCols * ldx)).Select(_ => rng.NextFloat(-1f, 1f)).ToArray();
        float[] w = Enumerable.Range(0, (int)g.Nnz).Select(_ => rng.NextFloat(-1f, 1f)).ToArray();
        using CsrGraph graph = index == IndexType.Int32
            ? CsrGraph.Upload(device, g.RowPtr32(), g.ColIdx32(), g.NumCols)
            : CsrGraph.Upload(device, g.RowPtr, g.ColIdx, g.NumCols);
        using var dx = device.Upload<float>(x);
        using var dw = message == Message.UMulE ? device.Upload<float>(w) : null;
        using var ySpec = device.Allocate<float>(g.NumRows * ldy);
        using var yGen = device.Allocate<float>(g.NumRows * ldy);
        ySpec.Fill(-3.25f);
        yGen.Fill(-3.25f);

        long launches = SpecialisedSpmm.Launches;
        GraphKernels.MessagePassing.SpMM(graph, message, reduce, features, dx, ySpec, dw, ldx: ldx, ldy: ldy);
        Assert.That(SpecialisedSpmm.Launches, Is.EqualTo(launches + 1), "the specialised kernel ran; fallback: " + MessagePassing.SpecialisationFallbackReason);
        GkCsr csr = graph.ToNative("graph");
        GraphKernels.MessagePassing.SpMM(device, csr.RowPtr, csr.ColIdx, g.NumRows, g.NumCols, g.Nnz, index, message, reduce, features,
            dx.Pointer, ldx, dw?.Pointer ?? 0, yGen.Pointer, ldy, 0, 0, 0);
        Assert.That(ySpec.ToArray().Select(BitConverter.SingleToInt32Bits), Is.EqualTo(yGen.ToArray().Select(BitConverter.SingleToInt32Bits)));
    }

    [Test]
    public void ArgOutputAndOtherWidthsRunTheFatbinKernel()
    {
        using GraphDevice device = TestDevices.OpenOrIgnore(DeviceKind.Cuda);
        var g = GraphGenerators.WithEmptyRows(50, 40, 0.2, 8, 3);
        using CsrGraph graph = CsrGraph.Upload(device, g.RowPtr32(), g.ColIdx32(), g.NumCols);
        using var x = device.Allocate<float>(g.NumCols * 64);
        using var y = device.Allocate<float>(g.NumRows * 64);
        using var arg = device.Allocate<int>(g.NumRows * 64);
        x.Fill(1f);
        long launches = SpecialisedSpmm.Launches;
        GraphKernels.MessagePassing.SpMM(graph, Message.CopyU, Reduce.Max, 64, x, y, argOut: arg);
        GraphKernels.MessagePassing.SpMM(graph, Message.CopyU, Reduce.Sum, 48, x, y);
        Assert.That(SpecialisedSpmm.Launches, Is.EqualTo(launches));
    }

    [Test]
    public void SteadyStateAllocatesNothing()
    {
        using GraphDevice device = TestDevices.OpenOrIgnore(DeviceKind.Cuda);
        var g = GraphGenerators.WithEmptyRows(200, 150, 0.1, 20, 4);
        using CsrGraph graph = CsrGraph.Upload(device, g.RowPtr32(), g.ColIdx32(), g.NumCols);
        using var x = device.Allocate<float>(g.NumCols * 128);
        using var y = device.Allocate<float>(g.NumRows * 128);
        using var stream = device.CreateStream();
        x.Fill(0.5f);
        for (int i = 0; i < 10; i++) GraphKernels.MessagePassing.SpMM(graph, Message.CopyU, Reduce.Mean, 128, x, y, stream: stream);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 50; i++) GraphKernels.MessagePassing.SpMM(graph, Message.CopyU, Reduce.Mean, 128, x, y, stream: stream);
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero, "bytes allocated by 50 specialised SpMM calls");
        stream.Synchronize();
    }
}
