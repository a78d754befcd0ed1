using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Oracle;
using GraphKernels.Tests.Spmm;
using GraphKernels.Tests.Support;
using static GraphKernels.Tests.EdgeOps.EdgeTensors;

namespace GraphKernels.Tests.EdgeOps;

/// <summary>
/// The <see cref="GraphPlan"/> overload of <c>MessagePassing.SddmmBackward</c> is the explicit (transpose, permutation)
/// call with the plan's transpose: its gradients must be bitwise those of the explicit call given
/// <c>plan.Transpose</c>/<c>plan.TransposePermutation</c>, and bitwise those of the explicit call given a transpose built
/// independently on the host (EdgeOpsReference.Transpose, ascending within each source row), for every target
/// combination that reads the transpose, int32 and int64. Bad plans (another graph, disposed) are refused before any
/// output is written.
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[Category("MessagePassing")]
public sealed class EdgeOpsPlanOverloadTests
{
    private readonly DeviceKind kind;
    private GraphDevice? device;

    public EdgeOpsPlanOverloadTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    private static readonly object[] Cases =
    {
        new object[] { IndexType.Int32, SddmmOp.Dot, 2, EdgeTarget.Source, EdgeTarget.Destination },
        new object[] { IndexType.Int64, SddmmOp.Dot, 2, EdgeTarget.Destination, EdgeTarget.Source },
        new object[] { IndexType.Int32, SddmmOp.Mul, 1, EdgeTarget.Source, EdgeTarget.Edge },
        new object[] { IndexType.Int64, SddmmOp.Div, 1, EdgeTarget.Edge, EdgeTarget.Source },
        new object[] { IndexType.Int32, SddmmOp.Sub, 1, EdgeTarget.Source, EdgeTarget.Source },
    };

    [TestCaseSource(nameof(Cases))]
    public void PlanOverloadEqualsExplicitTransposeBitwise(IndexType index, SddmmOp op, int heads, EdgeTarget lt, EdgeTarget rt)
    {
        const int f = 4;
        HostCsr g = EdgeGraphs.MolecularBatch(4, 3, 9, seed: 311);
        var rng = new SplitMix64(312);
        long Rows(EdgeTarget t) => t == EdgeTarget.Source ? g.NumCols : t == EdgeTarget.Destination ? g.NumRows : g.Nnz;
        long width = op == SddmmOp.Dot ? heads : f;
        double[] l = Random(rng, Elem.F32, Rows(lt) * f, -1, 1);
        double[] r = op == SddmmOp.Div ? RandomDivisors(rng, Elem.F32, Rows(rt) * f) : Random(rng, Elem.F32, Rows(rt) * f, -1, 1);
        double[] go = Random(rng, Elem.F32, g.Nnz * width, -1, 1);
        var (tg, perm) = EdgeOpsReference.Transpose(g);

        using var graph = SpmmRunner.UploadGraph(Device, g, index);
        using var plan = GraphPlan.Build(graph);
        using var tgraph = SpmmRunner.UploadGraph(Device, tg, index);
        using var dperm = UploadIndex(Device, index, perm);
        using var dl = Upload(Device, Elem.F32, l);
        using var dr = Upload(Device, Elem.F32, r);
        using var dgo = Upload(Device, Elem.F32, go);

        (double[] L, double[] R) Run(Action<DeviceBuffer, DeviceBuffer> call)
        {
            using var gl = Poisoned(Device, Elem.F32, Rows(lt) * f);
            using var gr = Poisoned(Device, Elem.F32, Rows(rt) * f);
            call(gl, gr);
            Device.Synchronize();
            return (Read(gl), Read(gr));
        }

        var viaPlan = Run((gl, gr) => GraphKernels.MessagePassing.SddmmBackward(graph, plan, op, f, heads, lt, dl, rt, dr, dgo, gl, gr));
        var viaPlanBuffers = Run((gl, gr) => GraphKernels.MessagePassing.SddmmBackward(graph, op, f, heads, lt, dl, rt, dr, dgo, gl, gr,
            plan.Transpose, plan.TransposePermutation));
        var viaHost = Run((gl, gr) => GraphKernels.MessagePassing.SddmmBackward(graph, op, f, heads, lt, dl, rt, dr, dgo, gl, gr, tgraph, dperm));

        // float -> double is exact, so equal doubles are equal float bits (no NaN arises from these finite inputs).
        Assert.That(viaPlan.L, Is.EqualTo(viaPlanBuffers.L), "gradLhs: plan overload vs explicit plan.Transpose");
        Assert.That(viaPlan.R, Is.EqualTo(viaPlanBuffers.R), "gradRhs: plan overload vs explicit plan.Transpose");
        Assert.That(viaPlan.L, Is.EqualTo(viaHost.L), "gradLhs: plan overload vs host-built transpose");
        Assert.That(viaPlan.R, Is.EqualTo(viaHost.R), "gradRhs: plan overload vs host-built transpose");
        Assert.That(viaPlan.L.Any(v => v == Poison) || viaPlan.R.Any(v => v == Poison), Is.False, "every gradient element written");
    }

    [Test]
    [Category("BadInput")]
    public void PlanOfAnotherGraphOrDisposedIsRefusedOutputsUntouched()
    {
        const int f = 2;
        HostCsr g = EdgeGraphs.MolecularBatch(2, 3, 5, seed: 313);
        var rng = new SplitMix64(314);
        using var graph = SpmmRunner.UploadGraph(Device, g, IndexType.Int32);
        using var other = SpmmRunner.UploadGraph(Device, g, IndexType.Int32);
        using var otherPlan = GraphPlan.Build(other);
        var disposedPlan = GraphPlan.Build(graph);
        disposedPlan.Dispose();
        using var dl = Upload(Device, Elem.F32, Random(rng, Elem.F32, g.NumCols * f, -1, 1));
        using var dr = Upload(Device, Elem.F32, Random(rng, Elem.F32, g.NumRows * f, -1, 1));
        using var dgo = Upload(Device, Elem.F32, Random(rng, Elem.F32, g.Nnz, -1, 1));
        using var gl = Poisoned(Device, Elem.F32, g.NumCols * f);
        using var gr = Poisoned(Device, Elem.F32, g.NumRows * f);

        var ex = Assert.Throws<ArgumentException>(() => GraphKernels.MessagePassing.SddmmBackward(graph, otherPlan, SddmmOp.Dot, f, 1,
            EdgeTarget.Source, dl, EdgeTarget.Destination, dr, dgo, gl, gr));
        Assert.That(ex!.ParamName, Is.EqualTo("plan"));
        Assert.That(ex.Message, Does.Contain("another graph"));
        Assert.Throws<ObjectDisposedException>(() => GraphKernels.MessagePassing.SddmmBackward(graph, disposedPlan, SddmmOp.Dot, f, 1,
            EdgeTarget.Source, dl, EdgeTarget.Destination, dr, dgo, gl, gr));
        var nul = Assert.Throws<ArgumentNullException>(() => GraphKernels.MessagePassing.SddmmBackward(graph, null!, SddmmOp.Dot, f, 1,
            EdgeTarget.Source, dl, EdgeTarget.Destination, dr, dgo, gl, gr));
        Assert.That(nul!.ParamName, Is.EqualTo("plan"));
        Device.Synchronize();
        AssertAllPoison(Read(gl), "gradLhs");
        AssertAllPoison(Read(gr), "gradRhs");
    }
}
