using System.Text.RegularExpressions;
using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.BadInput;

/// <summary>
/// SpMM with bad arguments: the managed overload rejects shapes with an ArgumentException whose
/// ParamName is the C# parameter; the raw overload passes everything to the C ABI, whose
/// validation rejects it (GraphKernelsException, InvalidArgument, message naming the C argument).
/// In every case the output buffers keep their contents bit for bit.
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[TestFixture(DeviceKind.Ilgpu, Category = "Ilgpu")]
[Category("BadInput")]
[Category("MessagePassing")]
[Parallelizable(ParallelScope.All)]
public sealed class SpmmBadInputTests
{
    private const int F = 4;
    private static readonly HostCsr Host = GraphGenerators.ErdosRenyi(40, 30, 0.2, seed: 5, name: "er40x30");

    private readonly DeviceKind kind;
    private GraphDevice? device;

    public SpmmBadInputTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    /// <summary>Valid buffers for a 40 x 30 int32 graph with F = 4; y and arg hold a sentinel pattern.</summary>
    public sealed class Ctx : IDisposable
    {
        public Ctx(GraphDevice d, IndexType index = IndexType.Int32)
        {
            Graph = SpmmRunnerUpload(d, index);
            X = d.Upload<float>(Enumerable.Range(0, (int)(Host.NumCols * F)).Select(i => (float)i).ToArray());
            W = d.Upload<float>(Enumerable.Repeat(0.5f, (int)Host.Nnz).ToArray());
            YInit = Enumerable.Range(0, (int)(Host.NumRows * F)).Select(i => BitConverter.Int32BitsToSingle(0x7F1234 + (i * 7919))).ToArray();
            Y = d.Upload<float>(YInit);
            Arg32 = d.Upload<int>(Enumerable.Range(0, (int)(Host.NumRows * F)).Select(i => 0x3C3C0000 + i).ToArray());
            Arg64 = d.Upload<long>(Enumerable.Range(0, (int)(Host.NumRows * F)).Select(i => 0x3C3C3C3C00000000L + i).ToArray());
            Arg32Init = Arg32.ToArray();
            Arg64Init = Arg64.ToArray();
            XInit = X.ToArray();
        }

        public CsrGraph Graph { get; }
        public DeviceBuffer<float> X { get; }
        public DeviceBuffer<float> W { get; }
        public DeviceBuffer<float> Y { get; }
        public DeviceBuffer<int> Arg32 { get; }
        public DeviceBuffer<long> Arg64 { get; }
        public float[] YInit { get; }
        public float[] XInit { get; }
        public int[] Arg32Init { get; }
        public long[] Arg64Init { get; }

        private static CsrGraph SpmmRunnerUpload(GraphDevice d, IndexType index) =>
            GraphKernels.Tests.Spmm.SpmmRunner.UploadGraph(d, Host, index);

        public void AssertOutputsUntouched()
        {
            Graph.Device.Synchronize();
            var y = Y.ToArray();
            for (int i = 0; i < y.Length; i++)
            {
                if (BitConverter.SingleToInt32Bits(y[i]) != BitConverter.SingleToInt32Bits(YInit[i]))
                {
                    Assert.Fail($"y[{i}] was written ({y[i]:R}) by a call that failed");
                }
            }

            Assert.Multiple(() =>
            {
                Assert.That(Arg32.ToArray(), Is.EqualTo(Arg32Init), "int32 arg buffer was written by a call that failed");
                Assert.That(Arg64.ToArray(), Is.EqualTo(Arg64Init), "int64 arg buffer was written by a call that failed");
                Assert.That(X.ToArray(), Is.EqualTo(XInit), "x was written");
            });
        }

        public void Dispose()
        {
            Graph.Dispose();
            X.Dispose();
            W.Dispose();
            Y.Dispose();
            Arg32.Dispose();
            Arg64.Dispose();
        }
    }

    private static void Spmm(Ctx c, Message message = Message.CopyU, Reduce reduce = Reduce.Sum, long features = F,
        DeviceBuffer<float>? x = null, DeviceBuffer<float>? y = null, DeviceBuffer<float>? w = null, DeviceBuffer? arg = null,
        long ldx = 0, long ldy = 0, long ldArg = 0, Stream? stream = null, CsrGraph? graph = null)
        => GraphKernels.MessagePassing.SpMM(graph ?? c.Graph, message, reduce, features, x ?? c.X, y ?? c.Y, w, arg, ldx, ldy, ldArg, stream);

    /// <summary>Each case: the C# parameter that must be named, and the call.</summary>
    public static IEnumerable<TestCaseData> ManagedCases()
    {
        static TestCaseData C(string param, string what, Action<Ctx, GraphDevice> call) =>
            new TestCaseData(param, call).SetArgDisplayNames(param, what);

        yield return C("x", "x one element short", (c, d) => { using var x = d.Allocate<float>(Host.NumCols * F - 1); Spmm(c, x: x); });
        yield return C("x", "x too short for ldx", (c, d) => Spmm(c, ldx: F + 2));
        yield return C("y", "y one element short", (c, d) => { using var y = d.Allocate<float>(Host.NumRows * F - 1); Spmm(c, y: y); });
        yield return C("y", "y too short for ldy", (c, d) => Spmm(c, ldy: F + 1));
        yield return C("edgeWeight", "edge weights one short", (c, d) => { using var w = d.Allocate<float>(Host.Nnz - 1); Spmm(c, Message.UMulE, w: w); });
        yield return C("edgeWeight", "UMulE without weights", (c, d) => Spmm(c, Message.UMulE));
        yield return C("edgeWeight", "CopyU with weights", (c, d) => Spmm(c, Message.CopyU, w: c.W));
        yield return C("ldx", "ldx < F", (c, d) => Spmm(c, ldx: F - 1));
        yield return C("ldx", "ldx negative", (c, d) => Spmm(c, ldx: -F));
        yield return C("ldy", "ldy < F", (c, d) => Spmm(c, ldy: F - 1));
        yield return C("ldArg", "ldArg < F", (c, d) => Spmm(c, reduce: Reduce.Max, arg: c.Arg32, ldArg: F - 1));
        yield return C("features", "features = 0", (c, d) => Spmm(c, features: 0));
        yield return C("features", "features < 0", (c, d) => Spmm(c, features: -3));
        yield return C("argOut", "argOut for Sum", (c, d) => Spmm(c, reduce: Reduce.Sum, arg: c.Arg32));
        yield return C("argOut", "argOut for Mean", (c, d) => Spmm(c, reduce: Reduce.Mean, arg: c.Arg32));
        yield return C("argOut", "argOut int64 for an int32 graph", (c, d) => Spmm(c, reduce: Reduce.Max, arg: c.Arg64));
        yield return C("argOut", "argOut of floats", (c, d) => Spmm(c, reduce: Reduce.Min, arg: c.X));
        yield return C("argOut", "argOut one element short", (c, d) => { using var a = d.Allocate<int>(Host.NumRows * F - 1); Spmm(c, reduce: Reduce.Max, arg: a); });
        yield return C("reduce", "reduce = 7", (c, d) => Spmm(c, reduce: (Reduce)7));
        yield return C("reduce", "reduce = -1", (c, d) => Spmm(c, reduce: (Reduce)(-1)));
        yield return C("message", "message = 5", (c, d) => Spmm(c, message: (Message)5));
        yield return C("graph", "graph null", (c, d) => GraphKernels.MessagePassing.SpMM(null!, Message.CopyU, Reduce.Sum, F, c.X, c.Y));
        yield return C("x", "x null", (c, d) => GraphKernels.MessagePassing.SpMM(c.Graph, Message.CopyU, Reduce.Sum, F, null!, c.Y));
        yield return C("y", "y null", (c, d) => GraphKernels.MessagePassing.SpMM(c.Graph, Message.CopyU, Reduce.Sum, F, c.X, null!));
    }

    [TestCaseSource(nameof(ManagedCases))]
    public void ManagedOverloadNamesTheParameter(string param, Action<Ctx, GraphDevice> call)
    {
        using var c = new Ctx(Device);
        Assert.That(() => call(c, Device), Throws.InstanceOf<ArgumentException>().With.Property("ParamName").EqualTo(param));
        c.AssertOutputsUntouched();
    }

    [Test]
    public void BuffersOfAnotherDeviceInstanceAreRejected()
    {
        using var c = new Ctx(Device);
        using var other = TestDevices.OpenOrIgnore(kind);
        using var foreignX = other.Upload<float>(c.XInit);
        using var foreignStream = other.CreateStream();
        Assert.Multiple(() =>
        {
            Assert.That(() => Spmm(c, x: foreignX), Throws.InstanceOf<ArgumentException>().With.Property("ParamName").EqualTo("x"));
            Assert.That(() => Spmm(c, stream: foreignStream), Throws.InstanceOf<ArgumentException>().With.Property("ParamName").EqualTo("stream"));
        });
        c.AssertOutputsUntouched();
    }

    [Test]
    public void DisposedBuffersAreRejected()
    {
        using var c = new Ctx(Device);
        var x = Device.Upload<float>(c.XInit);
        x.Dispose();
        Assert.That(x.IsDisposed, Is.True);
        Assert.That(() => Spmm(c, x: x), Throws.InstanceOf<ObjectDisposedException>());
        var g = SpmmRunnerUploadGraph();
        g.Dispose();
        Assert.That(() => Spmm(c, graph: g), Throws.InstanceOf<ObjectDisposedException>());
        c.AssertOutputsUntouched();
    }

    private CsrGraph SpmmRunnerUploadGraph() => GraphKernels.Tests.Spmm.SpmmRunner.UploadGraph(Device, Host, IndexType.Int32);

    /// <summary>A raw call: everything valid unless a case changes it.</summary>
    public sealed record Raw(nint RowPtr, nint ColIdx, long NumRows, long NumCols, long Nnz, IndexType Index, Message Message,
        Reduce Reduce, long Features, nint X, long Ldx, nint W, nint Y, long Ldy, nint Arg, long LdArg);

    /// <summary>Each case: expected status, a regex the native message must match (it names the C argument), the change.</summary>
    public static IEnumerable<TestCaseData> NativeCases()
    {
        static TestCaseData C(string what, GkStatus status, string pattern, Func<Raw, Raw> change) =>
            new TestCaseData(status, pattern, change).SetArgDisplayNames(what);

        yield return C("x NULL", GkStatus.InvalidArgument, @"\bx\b.*NULL", r => r with { X = 0 });
        yield return C("y NULL", GkStatus.InvalidArgument, @"\by\b.*NULL", r => r with { Y = 0 });
        yield return C("ldx < feat", GkStatus.InvalidArgument, @"\bldx\b.*\b3\b", r => r with { Ldx = F - 1 });
        yield return C("ldy < feat", GkStatus.InvalidArgument, @"\bldy\b.*\b2\b", r => r with { Ldy = F - 2 });
        yield return C("ld_arg < feat", GkStatus.InvalidArgument, @"\bld_arg\b.*\b1\b", r => r with { Reduce = Reduce.Max, LdArg = 1 });
        yield return C("reduce = 7", GkStatus.InvalidArgument, @"\breduce\b.*\b7\b", r => r with { Reduce = (Reduce)7 });
        yield return C("message = 9", GkStatus.InvalidArgument, @"\bmessage\b.*\b9\b", r => r with { Message = (Message)9 });
        yield return C("feat = 0", GkStatus.InvalidArgument, @"\bfeat\b.*\b0\b", r => r with { Features = 0 });
        yield return C("feat < 0", GkStatus.InvalidArgument, @"\bfeat\b.*-2\b", r => r with { Features = -2 });
        yield return C("UMulE without edge_weight", GkStatus.InvalidArgument, @"\bedge_weight\b", r => r with { Message = Message.UMulE, W = 0 });
        yield return C("CopyU with edge_weight", GkStatus.InvalidArgument, @"\bedge_weight\b", r => r with { Message = Message.CopyU });
        yield return C("arg_out for sum", GkStatus.InvalidArgument, @"\barg_out\b", r => r with { Reduce = Reduce.Sum });
        yield return C("index_type = 3", GkStatus.InvalidArgument, @"\bindex_type\b.*\b3\b", r => r with { Index = (IndexType)3 });
        yield return C("num_rows < 0", GkStatus.InvalidArgument, @"\bnum_rows\b.*-1\b", r => r with { NumRows = -1 });
        yield return C("nnz < 0", GkStatus.InvalidArgument, @"\bnnz\b.*-5\b", r => r with { Nnz = -5 });
        yield return C("row_ptr NULL", GkStatus.InvalidArgument, @"\brow_ptr\b.*NULL", r => r with { RowPtr = 0 });
        yield return C("col_idx NULL", GkStatus.InvalidArgument, @"\bcol_idx\b.*NULL", r => r with { ColIdx = 0 });
        yield return C("misaligned x", GkStatus.InvalidArgument, @"\bx\b.*align", r => r with { X = r.X + 1 });
        yield return C("int32 graph too big", GkStatus.IndexOverflow, @"int32|INT64|int64", r => r with { Nnz = 3_000_000_000L });
    }

    [TestCaseSource(nameof(NativeCases))]
    public void RawOverloadIsRejectedByTheNativeValidation(GkStatus status, string pattern, Func<Raw, Raw> change)
    {
        if (TestDevices.IlgpuRefusesRawPointers(Device)) return;
        using var c = new Ctx(Device);
        var valid = new Raw(c.Graph.RowPtr.Pointer, c.Graph.ColIdx.Pointer, Host.NumRows, Host.NumCols, Host.Nnz, IndexType.Int32,
            Message.UMulE, Reduce.Min, F, c.X.Pointer, F, c.W.Pointer, c.Y.Pointer, F, c.Arg32.Pointer, F);
        var r = change(valid);
        var ex = Assert.Throws<GraphKernelsException>(() => GraphKernels.MessagePassing.SpMM(Device, r.RowPtr, r.ColIdx, r.NumRows, r.NumCols,
            r.Nnz, r.Index, r.Message, r.Reduce, r.Features, r.X, r.Ldx, r.W, r.Y, r.Ldy, r.Arg, r.LdArg, 0));
        Assert.Multiple(() =>
        {
            Assert.That(ex!.Status, Is.EqualTo(status), ex.Message);
            Assert.That(Regex.IsMatch(ex.Message, pattern), Is.True, $"message should match /{pattern}/: {ex.Message}");
        });
        c.AssertOutputsUntouched();
    }

    [Test]
    public void RawOverloadRejectsOutputOverlappingInput()
    {
        if (TestDevices.IlgpuRefusesRawPointers(Device)) return;
        using var c = new Ctx(Device);
        // y aliases x (x has more rows than y needs): in-place SpMM is refused and x is left alone.
        var ex = Assert.Throws<GraphKernelsException>(() => GraphKernels.MessagePassing.SpMM(Device, c.Graph.RowPtr.Pointer, c.Graph.ColIdx.Pointer,
            Host.NumRows, Host.NumCols, Host.Nnz, IndexType.Int32, Message.CopyU, Reduce.Sum, 1, c.X.Pointer, 1, 0, c.X.Pointer + 4, 1, 0, 0, 0));
        Assert.Multiple(() =>
        {
            Assert.That(ex!.Status, Is.EqualTo(GkStatus.InvalidArgument));
            Assert.That(ex.Message, Does.Contain("overlap"));
        });
        c.AssertOutputsUntouched();
    }

    /// <summary>The valid baseline of the raw cases succeeds (so the cases above fail for the stated reason).</summary>
    [Test]
    public void RawBaselineSucceeds()
    {
        if (TestDevices.IlgpuRefusesRawPointers(Device)) return;
        using var c = new Ctx(Device);
        Assert.DoesNotThrow(() => GraphKernels.MessagePassing.SpMM(Device, c.Graph.RowPtr.Pointer, c.Graph.ColIdx.Pointer, Host.NumRows,
            Host.NumCols, Host.Nnz, IndexType.Int32, Message.UMulE, Reduce.Min, F, c.X.Pointer, F, c.W.Pointer, c.Y.Pointer, F,
            c.Arg32.Pointer, F, 0));
        Device.Synchronize();
        Assert.That(c.Y.ToArray(), Is.Not.EqualTo(c.YInit));
    }
}
