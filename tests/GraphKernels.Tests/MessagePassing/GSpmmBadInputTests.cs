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
    private const int F = 4;
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
    }

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
