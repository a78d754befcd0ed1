using GraphKernels.Tests.ForceStressTests;

namespace GraphKernels.Tests.Reliability;

/// <summary>
/// Rows of the bad-input catalogue (docs/reliability.md, section 5, force/stress and quantization)
/// that no family test covered: each call is refused with the exception (and, where the native
/// library refuses it, the status and message) the catalogue lists, and every output buffer keeps
/// the bits it was poisoned with before the call.
/// </summary>
[TestFixture]
[Category("Emulation")]
[Category("BadInput")]
[NonParallelizable]
public sealed class FamilyBadInputCatalogueTests
{
    private GraphDevice device = null!;
    private GraphDevice other = null!;

    [OneTimeSetUp]
    public void OpenDevices()
    {
        device = GraphDevice.Emulated();
        other = GraphDevice.Emulated();
    }

    [OneTimeTearDown]
    public void CloseDevices()
    {
        other?.Dispose();
        device?.Dispose();
    }

    private static void AssertUntouched(DeviceBuffer<float> buffer, float poison, string name) =>
        Assert.That(buffer.ToArray().Select(BitConverter.SingleToInt32Bits), Is.All.EqualTo(BitConverter.SingleToInt32Bits(poison)), $"{name} was written by a refused call");

    private DeviceBuffer<float> Poisoned(GraphDevice d, long n, float value)
    {
        var b = d.Allocate<float>(n);
        b.Fill(value);
        return b;
    }

    // ------------------------------------------------------------------ quantization

    [Test]
    public void PlanWhoseByteSizesOverflowInt64IsIndexOverflow()
    {
        // 2^61 x 2 fp32 elements: the element count fits int64, its 2^64 input bytes do not
        // (a signed overflow inside gk_quant_plan before this was found by fuzz_quant_plan).
        var ex = Assert.Throws<GraphKernelsException>(() => Quantization.Plan(1L << 61, 2, new QuantizationOptions { Bits = 1, BlockSize = 32 }));
        Assert.That(ex!.Status, Is.EqualTo(GkStatus.IndexOverflow));
        Assert.That(ex.Message, Does.StartWith("gk_quant_plan: ").And.Contain("4611686018427387904 elements").And.Contain("overflow int64"));
    }

    [Test]
    public void DequantizeIntoABufferOfAnotherDeviceIsRejected()
    {
        using var x = device.Upload<float>(Enumerable.Range(0, 12 * 40).Select(i => (float)Math.Sin(i)).ToArray());
        using var q = Quantization.Quantize(x, 12, 40, new QuantizationOptions { BlockSize = 64 }, seed: 1, offset: 2);
        using var y = Poisoned(other, 12 * 40, 7.5f);
        var ex = Assert.Throws<ArgumentException>(() => Quantization.Dequantize(q, y));
        Assert.That(ex!.ParamName, Is.EqualTo("y"));
        AssertUntouched(y, 7.5f, "y");
    }

    [Test]
    public void DisposedQuantizedTensorIsRejectedAndOutputsAreUntouched()
    {
        using var x = device.Upload<float>(new float[12 * 40]);
        var q = Quantization.Quantize(x, 12, 40, new QuantizationOptions { BlockSize = 64 }, seed: 1, offset: 2);
        q.Dispose();
        using var y = Poisoned(device, 12 * 40, 7.5f);
        Assert.Throws<ObjectDisposedException>(() => Quantization.Dequantize(q, y));
        Assert.Throws<ObjectDisposedException>(() => Quantization.QuantizeInto(x, q, 1, 3));
        AssertUntouched(y, 7.5f, "y");
    }

    [Test]
    public void ProjectionOutputOneElementShortIsRejected()
    {
        using var x = device.Upload<float>(new float[20 * 16]);
        using var p = Poisoned(device, (20 * 2) - 1, 4.25f);
        var ex = Assert.Throws<ArgumentException>(() => Quantization.Project(x, p, 20, new RandomProjection(16, 2, 9)));
        Assert.That(ex!.ParamName, Is.EqualTo("p"));
        AssertUntouched(p, 4.25f, "p");
    }

    // ------------------------------------------------------------------ force/stress

    private static AtomicBatch Batch() => AtomicBatch.MolecularBatch(3, 2.5, seed: 4);

    private static ForceStressOptions Voigt => new() { Layout = StressLayout.VoigtAse };

    [Test]
    public void ReadoutWithAtomVirialOneShortIsRejected()
    {
        var b = Batch();
        using var run = new ForceStressRunner(device, b);
        using var q = device.Allocate<float>(3L * b.NumEdges);
        using var f = Poisoned(device, 3L * b.NumAtoms, 1.5f);
        using var s = Poisoned(device, 6L * b.NumGraphs, 2.5f);
        using var w = Poisoned(device, (6L * b.NumAtoms) - 1, 3.5f);
        var ex = Assert.Throws<ArgumentException>(() => ForceStress.Readout(run.Topology, run.Geometry(GeometrySource.EdgeVectors), q, f, s, Voigt, w));
        Assert.That(ex!.ParamName, Is.EqualTo("atomVirial"));
        AssertUntouched(f, 1.5f, "forces");
        AssertUntouched(s, 2.5f, "stress");
        AssertUntouched(w, 3.5f, "atomVirial");
    }

    [Test]
    public void ReadoutIntoForcesOfAnotherDeviceIsRejected()
    {
        var b = Batch();
        using var run = new ForceStressRunner(device, b);
        using var q = device.Allocate<float>(3L * b.NumEdges);
        using var f = Poisoned(other, 3L * b.NumAtoms, 1.5f);
        using var s = Poisoned(device, 6L * b.NumGraphs, 2.5f);
        var ex = Assert.Throws<ArgumentException>(() => ForceStress.Readout(run.Topology, run.Geometry(GeometrySource.EdgeVectors), q, f, s, Voigt));
        Assert.That(ex!.ParamName, Is.EqualTo("forces"));
        AssertUntouched(f, 1.5f, "forces");
        AssertUntouched(s, 2.5f, "stress");
    }

    [Test]
    public void ReadoutWithADisposedForcesBufferIsRejected()
    {
        var b = Batch();
        using var run = new ForceStressRunner(device, b);
        using var q = device.Allocate<float>(3L * b.NumEdges);
        var f = device.Allocate<float>(3L * b.NumAtoms);
        f.Dispose();
        using var s = Poisoned(device, 6L * b.NumGraphs, 2.5f);
        Assert.Throws<ObjectDisposedException>(() => ForceStress.Readout(run.Topology, run.Geometry(GeometrySource.EdgeVectors), q, f, s, Voigt));
        AssertUntouched(s, 2.5f, "stress");
    }

    [Test]
    public void ReadoutOnAStreamOfAnotherDeviceIsRejected()
    {
        var b = Batch();
        using var run = new ForceStressRunner(device, b);
        using var q = device.Allocate<float>(3L * b.NumEdges);
        using var f = Poisoned(device, 3L * b.NumAtoms, 1.5f);
        using var stream = other.CreateStream();
        var ex = Assert.Throws<ArgumentException>(() => ForceStress.Readout(run.Topology, run.Geometry(GeometrySource.EdgeVectors), q, f, stream: stream));
        Assert.That(ex!.ParamName, Is.EqualTo("stream"));
        AssertUntouched(f, 1.5f, "forces");
    }

    [TestCase("gradQuantity")]
    [TestCase("gradStress")]
    [TestCase("gradEdgeVectors")]
    public void BackwardWithAnOutputOrGradientOneShortIsRejected(string param)
    {
        var b = Batch();
        using var run = new ForceStressRunner(device, b);
        using var q = device.Allocate<float>(3L * b.NumEdges);
        using var gf = device.Allocate<float>(3L * b.NumAtoms);
        using var gs = device.Allocate<float>((6L * b.NumGraphs) - (param == "gradStress" ? 1 : 0));
        using var gq = Poisoned(device, (3L * b.NumEdges) - (param == "gradQuantity" ? 1 : 0), 5.5f);
        using var gr = Poisoned(device, (3L * b.NumEdges) - (param == "gradEdgeVectors" ? 1 : 0), 6.5f);
        var ex = Assert.Throws<ArgumentException>(() => ForceStress.Backward(run.Topology, run.Geometry(GeometrySource.Positions), q, gf, gs, gq, Voigt, gr));
        Assert.That(ex!.ParamName, Is.EqualTo(param));
        AssertUntouched(gq, 5.5f, "gradQuantity");
        AssertUntouched(gr, 6.5f, "gradEdgeVectors");
    }
}
