using GraphKernels.Interop;
using GraphKernels.Tests.Oracle;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Spmm;

/// <summary>
/// The 4-wide g-SpMM forward (gspmm_vec_kernel: F % 4 == 0 and X aligned for 4-value loads, 16 bytes for fp32,
/// 8 for fp16/bf16) against the scalar kernel that runs whenever the launcher cannot prove the alignment. Both fold
/// every element's messages in CSR order in fp32, so the results must be bitwise equal: the same case is run with
/// ldx = F (vector loads) and with ldx = F + 1 or a base pointer one element past an aligned one (scalar loads),
/// and the edge operand [E, F] with lde = F (vector) and F + 1 (scalar). Each aligned run is also checked against
/// the double oracle (GSpmmTests.AssertForward, its stated tolerances).
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[Category("MessagePassing")]
[Parallelizable(ParallelScope.All)]
public sealed class GSpmmVectorTests
{
    private readonly DeviceKind kind;
    private GraphDevice? device;

    public GSpmmVectorTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    [TestCase("powerlaw", IndexType.Int32, Message.CopyU, EdgeOperand.None, Reduce.Sum, 4, ValType.F32)]
    [TestCase("hub", IndexType.Int64, Message.UMulE, EdgeOperand.Full, Reduce.Mean, 8, ValType.F32)]
    [TestCase("emptyrows", IndexType.Int32, Message.UAddE, EdgeOperand.PerHead, Reduce.Max, 12, ValType.F16)]
    [TestCase("molecules", IndexType.Int64, Message.UDivE, EdgeOperand.Scalar, Reduce.Min, 64, ValType.BF16)]
    [TestCase("duplicates", IndexType.Int32, Message.USubE, EdgeOperand.Full, Reduce.Mul, 16, ValType.F32)]
    [TestCase("er", IndexType.Int64, Message.CopyE, EdgeOperand.Full, Reduce.Sum, 128, ValType.F16)]
    [TestCase("selfloops", IndexType.Int32, Message.UMulE, EdgeOperand.Full, Reduce.Max, 36, ValType.BF16)]
    [TestCase("noedges", IndexType.Int32, Message.CopyU, EdgeOperand.None, Reduce.Sum, 8, ValType.F32)]
    public void VectorAndScalarPathsAreBitwiseEqual(string graph, IndexType index, Message m, EdgeOperand mode, Reduce r, int f, ValType t)
    {
        int heads = mode == EdgeOperand.PerHead ? 3 : 0;
        using var run = new GSpmmRun(Device, new GSpmmCase(graph, index, m, mode, heads, r, f, t, 404));
        var (y, arg) = run.Forward();
        GSpmmTests.AssertForward(run, y, arg);
        long[] yBits = GSpmmHarness.Bits(y);
        long[]? argBits = arg is null ? null : GSpmmHarness.Bits(arg);

        // Scalar X loads: leading dimension F + 1.
        var o = run.Options;
        DeviceBuffer? xPadded = null;
        if (m != Message.CopyE)
        {
            xPadded = run.Own(GSpmmHarness.Upload(Device, t, Padded(run.X, run.Host.NumCols, f, f + 1)));
            o.Ldx = f + 1;
            AssertSame(run, o, xPadded, run.EBuf, yBits, argBits, "ldx = F + 1");
        }

        // Full edge operand read element by element inside the vector kernel: lde = F + 1.
        if (mode == EdgeOperand.Full)
        {
            var o2 = run.Options;
            var ePadded = run.Own(GSpmmHarness.Upload(Device, t, Padded(run.E!, run.Host.Nnz, f, f + 1)));
            o2.Lde = f + 1;
            AssertSame(run, o2, m == Message.CopyE ? null : run.XBuf, ePadded, yBits, argBits, "lde = F + 1");
        }
    }

    /// <summary>X's base one element past a 16-byte boundary (ldx = F): the launcher must fall back to scalar loads.</summary>
    [TestCase(ValType.F32, IndexType.Int32, Reduce.Sum)]
    [TestCase(ValType.F16, IndexType.Int64, Reduce.Max)]
    [TestCase(ValType.BF16, IndexType.Int32, Reduce.Mean)]
    public unsafe void MisalignedBaseFallsBackToScalarBitwise(ValType t, IndexType index, Reduce r)
    {
        const int f = 8;
        using var run = new GSpmmRun(Device, new GSpmmCase("powerlaw", index, Message.UMulE, EdgeOperand.Scalar, 0, r, f, t, 405));
        var (y, arg) = run.Forward();
        var shifted = new double[run.X.Length + 1];
        Array.Copy(run.X, 0, shifted, 1, run.X.Length);
        var xs = run.Own(GSpmmHarness.Upload(Device, t, Array.ConvertAll(shifted, v => (float)v)));
        int elem = t == ValType.F32 ? 4 : 2;
        var y2 = run.NewValues(run.Host.NumRows * f);
        DeviceBuffer? arg2 = run.Case.Extreme ? run.Own(GSpmmHarness.AllocIndex(Device, index, run.Host.NumRows * f)) : null;
        GkCsr csr = run.Graph.ToNative("graph");
        var d = new GkSpmmDesc
        {
            Message = (int)Message.UMulE, Reduce = (int)r, Dtype = (int)t, EdgeMode = (int)EdgeOperand.Scalar, Feat = f,
        };
        Device.Api.Check(Device.Api.gk_spmm_ex(&csr, &d, (byte*)xs.Pointer + elem, (void*)run.EBuf!.Pointer, (void*)y2.Pointer,
            arg2 is null ? null : (void*)arg2.Pointer, null, null, 0, null), "gk_spmm_ex");
        Device.Synchronize();
        Assert.That(GSpmmHarness.Bits(y2), Is.EqualTo(GSpmmHarness.Bits(y)), "y, misaligned x base");
        if (arg is not null) Assert.That(GSpmmHarness.Bits(arg2!), Is.EqualTo(GSpmmHarness.Bits(arg)), "arg");
    }

    private static void AssertSame(GSpmmRun run, SpMMOptions o, DeviceBuffer? x, DeviceBuffer? e, long[] yBits, long[]? argBits, string what)
    {
        int f = run.Case.Features;
        var y = run.NewValues(run.Host.NumRows * f);
        DeviceBuffer? arg = run.Case.Extreme ? run.Own(GSpmmHarness.AllocIndex(run.Device, run.Case.Index, run.Host.NumRows * f)) : null;
        MessagePassing.SpMM(run.Graph, o, f, x, e, y, arg);
        run.Device.Synchronize();
        Assert.That(GSpmmHarness.Bits(y), Is.EqualTo(yBits), $"{run.Case}: y, {what}");
        if (argBits is not null) Assert.That(GSpmmHarness.Bits(arg!), Is.EqualTo(argBits), $"{run.Case}: arg, {what}");
    }

    private static float[] Padded(double[] dense, long rows, int width, int ld)
    {
        var p = new float[Math.Max(1, rows * ld)];
        for (long i = 0; i < rows; i++)
        {
            for (int k = 0; k < width; k++) p[i * ld + k] = (float)dense[i * width + k];
            for (int k = width; k < ld; k++) p[i * ld + k] = float.NaN;   // never read
        }

        return p;
    }
}
