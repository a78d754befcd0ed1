using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.ForceStressTests;

/// <summary>
/// Bad input to the readout: managed shape checks (ArgumentException naming the parameter), device
/// validation of the topology and cells (GraphKernelsException naming the entry), and in every refused
/// call the outputs keep their bits.
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[TestFixture(DeviceKind.Ilgpu, Category = "Ilgpu")]
[Category("BadInput")]
[Category("ForceStress")]
[Parallelizable(ParallelScope.All)]
public sealed class ForceStressBadInputTests
{
    private readonly DeviceKind kind;
    private GraphDevice? device;

    public ForceStressBadInputTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    private static AtomicBatch Batch() => AtomicBatch.MolecularBatch(3, 2.5, seed: 4);

    private static void AssertUntouched(DeviceBuffer<float> buffer, float[] before, string name)
    {
        buffer.Device.Synchronize();
        Assert.That(buffer.ToArray().Select(BitConverter.SingleToInt32Bits), Is.EqualTo(before.Select(BitConverter.SingleToInt32Bits)), $"{name} was written by a refused call");
    }

    public static IEnumerable<TestCaseData> ShapeCases()
    {
        yield return new TestCaseData("forces", 1, 0, 0, 0).SetArgDisplayNames("forces too short");
        yield return new TestCaseData("stress", 0, 1, 0, 0).SetArgDisplayNames("stress too short");
        yield return new TestCaseData("edgeQuantity", 0, 0, 1, 0).SetArgDisplayNames("edgeQuantity too short");
        yield return new TestCaseData("geometry", 0, 0, 0, 1).SetArgDisplayNames("cell missing for stress");
    }

    [TestCaseSource(nameof(ShapeCases))]
    public void ShapeMismatchIsRejectedAndOutputsAreUntouched(string param, int shortForces, int shortStress, int shortQuantity, int noCell)
    {
        var b = Batch();
        using var run = new ForceStressRunner(Device, b);
        using var q = Device.Upload<float>(new float[(3 * b.NumEdges) - shortQuantity]);
        using var forces = Device.Upload<float>(Enumerable.Repeat(1.5f, (3 * b.NumAtoms) - shortForces).ToArray());
        using var stress = Device.Upload<float>(Enumerable.Repeat(2.5f, (9 * b.NumGraphs) - shortStress).ToArray());
        var f0 = forces.ToArray();
        var s0 = stress.ToArray();
        var geometry = run.Geometry(GeometrySource.EdgeVectors);
        if (noCell == 1)
        {
            geometry = EdgeGeometry.FromEdgeVectors(geometry.EdgeVectors!);
        }

        var ex = Assert.Throws<ArgumentException>(() => ForceStress.Readout(run.Topology, geometry, q, forces, stress));
        Assert.That(ex!.ParamName, Is.EqualTo(param));
        AssertUntouched(forces, f0, "forces");
        AssertUntouched(stress, s0, "stress");
    }

    [Test]
    public void EdgeJoiningTwoStructuresIsRejectedByTheDevice()
    {
        var b = Batch();
        var src = b.Edges.Select(e => e.Src).ToArray();
        var dst = b.Edges.Select(e => e.Dst).ToArray();
        dst[0] = b.NumAtoms - 1;   // edge 0 starts in structure 0; the last atom is in the last one
        var ex = Assert.Throws<GraphKernelsException>(() => ForceStressTopology.Build(Device, b.GraphAtomPtr.ToArray(), src, dst));
        Assert.That(ex!.Status, Is.EqualTo(GkStatus.InvalidGraph));
        Assert.That(ex.Message, Does.Contain("joins two different graphs"));
    }

    [Test]
    public void AtomIndexOutOfRangeIsRejectedOnTheHost()
    {
        var b = Batch();
        var src = b.Edges.Select(e => e.Src).ToArray();
        src[3] = -1;
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => ForceStressTopology.Build(Device, b.GraphAtomPtr.ToArray(), src, b.Edges.Select(e => e.Dst).ToArray()));
        Assert.That(ex!.ParamName, Is.EqualTo("edgeSrc"));
        Assert.That(ex.Message, Does.Contain("edgeSrc[3] = -1"));
    }

    [Test]
    public void GraphPointerNotEndingAtTheAtomCountIsRejected()
    {
        var b = Batch();
        var gp = b.GraphAtomPtr.ToArray();
        gp[1] = gp[2] + 1;   // decreasing
        var ex = Assert.Throws<GraphKernelsException>(() => ForceStressTopology.Build(Device, gp, b.Edges.Select(e => e.Src).ToArray(), b.Edges.Select(e => e.Dst).ToArray()));
        Assert.That(ex!.Status, Is.EqualTo(GkStatus.InvalidGraph));
        Assert.That(ex.Message, Does.Contain("graph_atom_ptr[2]").And.Contain("non-decreasing"));
    }

    [TestCase(float.NaN, "is not finite (cell[2][1][2] = NaN)")]
    [TestCase(float.NegativeInfinity, "is not finite (cell[2][1][2] = -inf)")]
    public void NonFiniteCellIsRejected(float value, string expected)
    {
        var b = Batch();
        using var run = new ForceStressRunner(Device, b);
        var cells = b.Cells.Select(v => (float)v).ToArray();
        cells[18 + 5] = value;   // structure 2 is the crystal
        var ex = Assert.Throws<GraphKernelsException>(() => run.Topology.Validate(run.Geometry(GeometrySource.Positions, cells)));
        Assert.That(ex!.Status, Is.EqualTo(GkStatus.InvalidArgument));
        Assert.That(ex.Message, Does.Contain(expected));
    }

    [Test]
    public void PeriodicStructureWithZeroVolumeIsRejected()
    {
        var b = Batch();
        Assert.That(b.Periodic[2], Is.True, "structure 2 of this batch is the crystal");
        using var run = new ForceStressRunner(Device, b);
        var cells = b.Cells.Select(v => (float)v).ToArray();
        for (int k = 0; k < 3; k++) cells[18 + 6 + k] = cells[18 + k] + cells[18 + 3 + k];   // c = a + b: flat cell
        var ex = Assert.Throws<GraphKernelsException>(() => run.Topology.Validate(run.Geometry(GeometrySource.Positions, cells)));
        Assert.That(ex!.Status, Is.EqualTo(GkStatus.InvalidArgument));
        Assert.That(ex.Message, Does.Contain("graph 2 is periodic but its cell has zero volume"));
        // The same cells are fine once the molecules' zero cells are flagged non-periodic: the valid batch passes.
        run.Topology.Validate(run.Geometry(GeometrySource.Positions));
    }

    [Test]
    public void DisposedTopologyIsRejected()
    {
        var b = Batch();
        using var run = new ForceStressRunner(Device, b);
        var geometry = run.Geometry(GeometrySource.EdgeVectors);
        using var q = Device.Allocate<float>(3L * b.NumEdges);
        using var f = Device.Allocate<float>(3L * b.NumAtoms);
        run.Topology.Dispose();
        Assert.Throws<ObjectDisposedException>(() => ForceStress.Readout(run.Topology, geometry, q, f));
    }
}
