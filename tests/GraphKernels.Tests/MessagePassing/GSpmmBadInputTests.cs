using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Spmm;

/// <summary>
/// Bad input to the graph plan, gk_spmm_ex, gk_spmm_multi and gk_spmm_backward: each call fails with a status
/// (or a .NET argument exception raised before the native call) whose message names the argument and the
/// offending value, and every output buffer is left exactly as it was (poisoned before, compared after).
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[TestFixture(DeviceKind.Ilgpu, Category = "Ilgpu")]
[Category("MessagePassing")]
[Category("BadInput")]
public sealed class GSpmmBadInputTests
{
    internal const int F = 4;
    private readonly DeviceKind kind;
    private GraphDevice? device;

    public GSpmmBadInputTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    /// <summary>A valid setup (er graph, F = 4, fp32) whose outputs all hold a sentinel.</summary>
    public sealed class Ctx : IDisposable
    {
        public Ctx(GraphDevice d)
        {
            Host = GraphCatalog.Get("er");
            Graph = GSpmmHarness.UploadGraph(d, Host, IndexType.Int32);
            Plan = GraphPlan.Build(Graph);
            X = d.Upload<float>(Enumerable.Range(0, (int)Host.NumCols * F).Select(i => (float)(i % 7)).ToArray());
            E = d.Upload<float>(Enumerable.Repeat(0.5f, (int)Host.Nnz * F).ToArray());
            Outputs = new[]
            {
                Poisoned(d, Host.NumRows * F), Poisoned(d, Host.NumRows * F), Poisoned(d, Host.NumCols * F), Poisoned(d, Host.Nnz * F),
            };
            Arg = d.Upload<int>(Enumerable.Repeat(0x3C3C3C3C, (int)Host.NumRows * F).ToArray());
            GY = d.Upload<float>(Enumerable.Repeat(1f, (int)Host.NumRows * F).ToArray());
            Initial = Outputs.Select(o => o.ToArray()).ToArray();
        }

        public HostCsr Host { get; }
        public CsrGraph Graph { get; }
        public GraphPlan Plan { get; }
        public DeviceBuffer<float> X { get; }
        public DeviceBuffer<float> E { get; }
        public DeviceBuffer<float>[] Outputs { get; }
        public DeviceBuffer<float> Y => Outputs[0];
        public DeviceBuffer<float> Y2 => Outputs[1];
        public DeviceBuffer<float> DX => Outputs[2];
        public DeviceBuffer<float> DE => Outputs[3];
        public DeviceBuffer<int> Arg { get; }
        public DeviceBuffer<float> GY { get; }
        private float[][] Initial { get; }

        private static DeviceBuffer<float> Poisoned(GraphDevice d, long n) =>
            d.Upload<float>(Enumerable.Range(0, (int)n).Select(i => BitConverter.Int32BitsToSingle(0x7F1234 + (i * 7919))).ToArray());

        public void AssertUntouched()
        {
            Graph.Device.Synchronize();
            for (int k = 0; k < Outputs.Length; k++)
            {
                Assert.That(Outputs[k].ToArray().Select(BitConverter.SingleToInt32Bits), Is.EqualTo(Initial[k].Select(BitConverter.SingleToInt32Bits)),
                    $"output {k} was written by a call that failed");
            }

            Assert.That(Arg.ToArray(), Is.All.EqualTo(0x3C3C3C3C), "arg was written by a call that failed");
        }

        public void Dispose()
        {
            Plan.Dispose();
            Graph.Dispose();
            X.Dispose();
            E.Dispose();
            foreach (var o in Outputs) o.Dispose();
            Arg.Dispose();
            GY.Dispose();
        }
    }

    private static SpMMOptions O(Message m, Reduce r, EdgeOperand e = EdgeOperand.None, long heads = 0, SpMMFlags flags = SpMMFlags.None) =>
        new(m, r, e, heads, flags);

    /// <summary>Native refusals: the status and a fragment of the sentence (argument and value).</summary>
    public static IEnumerable<TestCaseData> NativeCases()
    {
        static TestCaseData C(GkStatus status, string fragment, Action<Ctx> call) =>
            new TestCaseData(status, fragment, call).SetArgDisplayNames(fragment);

        yield return C(GkStatus.InvalidArgument, "desc->message = 9", c => MessagePassing.SpMM(c.Graph, O((Message)9, Reduce.Sum, EdgeOperand.Scalar), F, c.X, c.E, c.Y));
        yield return C(GkStatus.InvalidArgument, "desc->reduce = 7", c => MessagePassing.SpMM(c.Graph, O(Message.CopyU, (Reduce)7), F, c.X, null, c.Y));
        yield return C(GkStatus.InvalidArgument, "desc->edge_mode = GK_EDGE_NONE", c => MessagePassing.SpMM(c.Graph, O(Message.UMulE, Reduce.Sum), F, c.X, c.E, c.Y));
        yield return C(GkStatus.InvalidArgument, "desc->edge_mode = 1, must be GK_EDGE_NONE", c => MessagePassing.SpMM(c.Graph, O(Message.CopyU, Reduce.Sum, EdgeOperand.Scalar), F, c.X, c.E, c.Y));
        yield return C(GkStatus.InvalidArgument, "desc->edge_mode = 5", c => MessagePassing.SpMM(c.Graph, O(Message.UMulE, Reduce.Sum, (EdgeOperand)5), F, c.X, c.E, c.Y));
        yield return C(GkStatus.InvalidArgument, "desc->heads = 3", c => MessagePassing.SpMM(c.Graph, O(Message.UMulE, Reduce.Sum, EdgeOperand.PerHead, 3), F, c.X, c.E, c.Y));
        yield return C(GkStatus.InvalidArgument, "desc->flags = 0x10", c => MessagePassing.SpMM(c.Graph, O(Message.CopyU, Reduce.Sum, flags: (SpMMFlags)16), F, c.X, null, c.Y));
        yield return C(GkStatus.InvalidArgument, "desc->feat = 0", c => MessagePassing.SpMM(c.Graph, O(Message.CopyU, Reduce.Sum), 0, c.X, null, c.Y));
        yield return C(GkStatus.InvalidArgument, "desc->ldy = 2", c => { var o = O(Message.CopyU, Reduce.Sum); o.Ldy = 2; MessagePassing.SpMM(c.Graph, o, F, c.X, null, c.Y); });
        yield return C(GkStatus.InvalidArgument, "arg_out must be NULL for reduce = 0", c => MessagePassing.SpMM(c.Graph, O(Message.CopyU, Reduce.Sum), F, c.X, null, c.Y, c.Arg));
        yield return C(GkStatus.InvalidArgument, "edge is NULL", c => MessagePassing.SpMM(c.Graph, O(Message.UMulE, Reduce.Sum, EdgeOperand.Full), F, c.X, null, c.Y));
        yield return C(GkStatus.InvalidArgument, "x must be NULL for GK_MESSAGE_COPY_E", c => MessagePassing.SpMM(c.Graph, O(Message.CopyE, Reduce.Sum, EdgeOperand.Full), F, c.X, c.E, c.Y));
        yield return C(GkStatus.InvalidArgument, "y overlaps x", c => MessagePassing.SpMM(c.Graph, O(Message.CopyU, Reduce.Sum), F, c.Y, null, c.Y));
        yield return C(GkStatus.InvalidArgument, "plan is NULL", c => MessagePassing.SpMM(c.Graph, O(Message.CopyU, Reduce.Sum, flags: SpMMFlags.Chunked), F, c.X, null, c.Y));
        yield return C(GkStatus.Workspace, "workspace is NULL", c => MessagePassing.SpMM(c.Graph, O(Message.CopyU, Reduce.Sum, flags: SpMMFlags.Chunked), F, c.X, null, c.Y, plan: c.Plan));
        yield return C(GkStatus.InvalidArgument, "desc->reduce = 2 and desc->flags = 0x0 must both be 0", c => MessagePassing.SpMMMulti(c.Graph, O(Message.CopyU, Reduce.Max), F, c.X, null, c.Y, null, null, null, null, null));
        yield return C(GkStatus.InvalidArgument, "grad_x must be NULL for GK_MESSAGE_COPY_E", c => MessagePassing.SpMMBackward(c.Graph, c.Plan, O(Message.CopyE, Reduce.Sum, EdgeOperand.Full), F, null, c.E, null, c.GY, c.DX, c.DE));
        yield return C(GkStatus.InvalidArgument, "grad_edge must be NULL for GK_MESSAGE_COPY_U", c => MessagePassing.SpMMBackward(c.Graph, c.Plan, O(Message.CopyU, Reduce.Sum), F, c.X, null, null, c.GY, c.DX, c.DE));
        yield return C(GkStatus.InvalidArgument, "arg is NULL", c => MessagePassing.SpMMBackward(c.Graph, c.Plan, O(Message.CopyU, Reduce.Max), F, c.X, null, null, c.GY, c.DX, null));
        yield return C(GkStatus.Workspace, "workspace is NULL", c => MessagePassing.SpMMBackward(c.Graph, c.Plan, O(Message.CopyU, Reduce.Mul), F, c.X, null, null, c.GY, c.DX, null));
        yield return C(GkStatus.InvalidArgument, "grad_x overlaps grad_y", c => MessagePassing.SpMMBackward(c.Graph, c.Plan, O(Message.CopyU, Reduce.Sum), F, c.X, null, null, c.GY, c.GY, null));

        // gk_spmm_multi_backward (rows GM1-GM9 of docs/reliability.md).
        yield return C(GkStatus.InvalidArgument, "gk_spmm_multi_backward: desc->reduce = 3 and desc->flags = 0x0 must both be 0",
            c => MultiBwd(c, O(Message.CopyU, Reduce.Min), c.X, null, c.DX, null, c.Y2));
        yield return C(GkStatus.Workspace, "gk_spmm_multi_backward: workspace is NULL (needs ",
            c => MultiBwd(c, O(Message.CopyU, Reduce.Sum), c.X, null, c.DX, null, null));
        yield return C(GkStatus.Workspace, "gk_spmm_multi_backward: workspace_bytes = 4800, needs",
            c => MultiBwd(c, O(Message.CopyU, Reduce.Sum), c.X, null, c.DX, null, c.Y2));
        yield return C(GkStatus.InvalidArgument, "gk_spmm_multi_backward: grad_x must be NULL for GK_MESSAGE_COPY_E",
            c => MultiBwd(c, O(Message.CopyE, Reduce.Sum, EdgeOperand.Full), null, c.E, c.DX, c.DE, c.Y2));
        yield return C(GkStatus.InvalidArgument, "gk_spmm_multi_backward: grad_edge must be NULL for GK_MESSAGE_COPY_U",
            c => MultiBwd(c, O(Message.CopyU, Reduce.Sum), c.X, null, c.DX, c.DE, c.Y2));
        yield return C(GkStatus.InvalidArgument, "gk_spmm_multi_backward: x is NULL (it has 300 rows)",
            c => MultiBwd(c, O(Message.UMulE, Reduce.Sum, EdgeOperand.Full), null, c.E, null, c.DE, c.Y2));
        yield return C(GkStatus.InvalidArgument, "gk_spmm_multi_backward: edge is NULL",
            c => MultiBwd(c, O(Message.UMulE, Reduce.Sum, EdgeOperand.Full), c.X, null, c.DX, null, c.Y2));
        yield return C(GkStatus.InvalidArgument, "gk_spmm_multi_backward: grad_x overlaps grad_outputs[0] (sum)",
            c => MessagePassing.SpMMMultiBackward(c.Graph, c.Plan, O(Message.CopyU, Reduce.Sum), F, c.X, null, c.GY, null, null, null, null, null, c.GY, null, c.DE));
    }

    private static void MultiBwd(Ctx c, SpMMOptions o, DeviceBuffer? x, DeviceBuffer? e, DeviceBuffer? dx, DeviceBuffer? de, DeviceBuffer? ws) =>
        MessagePassing.SpMMMultiBackward(c.Graph, c.Plan, o, F, x, e, c.GY, null, null, c.GY, null, null, dx, de, ws);

    [TestCaseSource(nameof(NativeCases))]
    public void NativeRefusesAndLeavesOutputsUntouched(GkStatus status, string fragment, Action<Ctx> call)
    {
        using var c = new Ctx(Device);
        var ex = Assert.Throws<GraphKernelsException>(() => call(c));
        Assert.That(ex!.Status, Is.EqualTo(status));
        Assert.That(ex.Message, Does.Contain(fragment));
        c.AssertUntouched();
    }

    /// <summary>Managed refusals before any native call: the exception names the C# parameter.</summary>
    public static IEnumerable<TestCaseData> ManagedCases()
    {
        static TestCaseData C(string param, string what, Action<Ctx, GraphDevice> call) =>
            new TestCaseData(param, call).SetArgDisplayNames(param, what);

        yield return C("x", "x is fp16 while y is fp32", (c, d) => { using var x = d.Allocate<Half>(c.Host.NumCols * F); MessagePassing.SpMM(c.Graph, O(Message.CopyU, Reduce.Sum), F, x, null, c.Y); });
        yield return C("x", "x one element short", (c, d) => { using var x = d.Allocate<float>(c.Host.NumCols * F - 1); MessagePassing.SpMM(c.Graph, O(Message.CopyU, Reduce.Sum), F, x, null, c.Y); });
        yield return C("edge", "edge one row short", (c, d) => { using var e = d.Allocate<float>((c.Host.Nnz - 1) * F); MessagePassing.SpMM(c.Graph, O(Message.UMulE, Reduce.Sum, EdgeOperand.Full), F, c.X, e, c.Y); });
        yield return C("y", "y is double", (c, d) => { using var y = d.Allocate<double>(c.Host.NumRows * F); MessagePassing.SpMM(c.Graph, O(Message.CopyU, Reduce.Sum), F, c.X, null, y); });
        yield return C("argOut", "arg of the wrong index type", (c, d) => { using var a = d.Allocate<long>(c.Host.NumRows * F); MessagePassing.SpMM(c.Graph, O(Message.CopyU, Reduce.Max), F, c.X, null, c.Y, a); });
        yield return C("plan", "plan of another graph", (c, d) =>
        {
            using var g2 = GSpmmHarness.UploadGraph(d, c.Host, IndexType.Int32);
            using var p2 = GraphPlan.Build(g2);
            MessagePassing.SpMMBackward(c.Graph, p2, O(Message.CopyU, Reduce.Sum), F, c.X, null, null, c.GY, c.DX, null);
        });
        yield return C("chunk", "negative chunk", (c, d) => GraphPlan.Build(c.Graph, -1).Dispose());
        yield return C("gradSum", "multi backward without any upstream gradient", (c, d) => MessagePassing.SpMMMultiBackward(c.Graph, c.Plan, O(Message.CopyU, Reduce.Sum), F, c.X, null, null, null, null, null, null, null, c.DX, null));
        yield return C("gradMean", "multi backward gradMean fp16 while gradSum is fp32", (c, d) => { using var gm = d.Allocate<Half>(c.Host.NumRows * F); MessagePassing.SpMMMultiBackward(c.Graph, c.Plan, O(Message.CopyU, Reduce.Sum), F, c.X, null, c.GY, gm, null, null, null, null, c.DX, null); });
        yield return C("gradX", "multi backward gradX one element short", (c, d) => { using var dx = d.Allocate<float>(c.Host.NumCols * F - 1); MessagePassing.SpMMMultiBackward(c.Graph, c.Plan, O(Message.CopyU, Reduce.Sum), F, c.X, null, c.GY, null, null, null, null, null, dx, null); });
        yield return C("plan", "multi backward with the plan of another graph", (c, d) =>
        {
            using var g2 = GSpmmHarness.UploadGraph(d, c.Host, IndexType.Int32);
            using var p2 = GraphPlan.Build(g2);
            MessagePassing.SpMMMultiBackward(c.Graph, p2, O(Message.CopyU, Reduce.Sum), F, c.X, null, c.GY, null, null, null, null, null, c.DX, null);
        });
        yield return C("gradX", "gradX one element short", (c, d) => { using var dx = d.Allocate<float>(c.Host.NumCols * F - 1); MessagePassing.SpMMBackward(c.Graph, c.Plan, O(Message.CopyU, Reduce.Sum), F, c.X, null, null, c.GY, dx, null); });
    }

    [TestCaseSource(nameof(ManagedCases))]
    public void ManagedRefusesNamingTheParameter(string param, Action<Ctx, GraphDevice> call)
    {
        using var c = new Ctx(Device);
        var ex = Assert.Catch<ArgumentException>(() => call(c, Device));
        Assert.That(ex!.ParamName, Is.EqualTo(param));
        c.AssertUntouched();
    }
}

/// <summary>
/// The raw C ABI part of the g-SpMM bad input (rows GM6-GM9): stats masks the C# API cannot express, called through
/// the native entry points. Native devices only: an ILGPU device has no C ABI (it refuses Api with NotSupportedException),
/// and the C# paths to the same checks run under GSpmmBadInputTests' Ilgpu fixture.
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[Category("MessagePassing")]
[Category("BadInput")]
public sealed class GSpmmRawAbiBadInputTests
{
    private readonly DeviceKind kind;
    private GraphDevice? device;

    public GSpmmRawAbiBadInputTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    /// <summary>gk_spmm_multi_backward through the C ABI with a chosen stats mask (the C# API derives it from the buffers).</summary>
    private static unsafe int RawMulti(GSpmmBadInputTests.Ctx c, GraphKernels.Interop.GkCsr* csr, GraphKernels.Interop.GkPlan* plan,
        GraphKernels.Interop.GkSpmmDesc* d, uint stats, void* x, void* g0, void* g1, void* g5, void* dx)
    {
        void** g = stackalloc void*[6];
        g[0] = g0;
        g[1] = g1;
        g[5] = g5;
        return c.Graph.Device.Api.gk_spmm_multi_backward(csr, plan, d, stats, x, null, g, 0, dx, 0, null, 0, null, 0, null);
    }

    /// <summary>The stats mask and the gradient pointers must agree (C ABI; rows GM6-GM9).</summary>
    [Test]
    public unsafe void MultiBackwardStatsMaskMustMatchTheGradients()
    {
        using var c = new GSpmmBadInputTests.Ctx(Device);
        var csr = c.Graph.ToNative("graph");
        var plan = c.Plan.ToNative("plan");
        var d = new GraphKernels.Interop.GkSpmmDesc { Feat = GSpmmBadInputTests.F };
        void* x = (void*)c.X.Pointer, gy = (void*)c.GY.Pointer, dx = (void*)c.DX.Pointer;
        var cases = new (uint Stats, nint G1, nint G5, string Fragment)[]
        {
            (1, (nint)gy, 0, "gk_spmm_multi_backward: grad_outputs[1] (mean) must be NULL: bit 1 is not in stats = 0x1"),
            (0, 0, 0, "gk_spmm_multi_backward: stats = 0x0 must be a non-empty gk_multi_reduce mask"),
            (0x41, 0, 0, "gk_spmm_multi_backward: stats = 0x41 must be a non-empty gk_multi_reduce mask"),
            (0x21, 0, 0, "gk_spmm_multi_backward: grad_outputs[5] (std) is NULL (it has 300 rows)"),
        };
        foreach (var k in cases)
        {
            int status = RawMulti(c, &csr, &plan, &d, k.Stats, x, gy, (void*)k.G1, (void*)k.G5, dx);
            Assert.That((GkStatus)status, Is.EqualTo(GkStatus.InvalidArgument), k.Fragment);
            var ex = Assert.Throws<GraphKernelsException>(() => c.Graph.Device.Api.Check(status, "gk_spmm_multi_backward"))!;
            Assert.That(ex.Message, Does.Contain(k.Fragment));
        }

        using (var g2 = GSpmmHarness.UploadGraph(Device, GraphCatalog.Get("tall"), IndexType.Int32))
        using (var p2 = GraphPlan.Build(g2))
        {
            var other = p2.ToNative("plan");
            int st = RawMulti(c, &csr, &other, &d, 1, x, gy, null, null, dx);
            var e1 = Assert.Throws<GraphKernelsException>(() => c.Graph.Device.Api.Check(st, "gk_spmm_multi_backward"))!;
            Assert.That(e1.Message, Does.Contain("gk_spmm_multi_backward: plan was built for a 600 x 50 graph"));
        }

        int nullGrads = c.Graph.Device.Api.gk_spmm_multi_backward(&csr, &plan, &d, 1, x, null, null, 0, dx, 0, null, 0, null, 0, null);
        var e2 = Assert.Throws<GraphKernelsException>(() => c.Graph.Device.Api.Check(nullGrads, "gk_spmm_multi_backward"))!;
        Assert.That(e2.Message, Does.Contain("grad_outputs is NULL"));
        c.AssertUntouched();
    }
}
