using GraphKernels.Ilgpu;
using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Oracle;
using GraphKernels.Tests.Spmm;

namespace GraphKernels.Tests.IlgpuBackend;

/// <summary>
/// The managed-backend seam on an ILGPU device: buffers and streams behave as on the other
/// backends, and every op without an ILGPU implementation throws NotSupportedException naming the
/// op and the backend (before writing anything).
/// </summary>
[TestFixture]
[Category("Ilgpu")]
public sealed class IlgpuSeamTests
{
    private GraphDevice? device;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void Open() => device = GraphDevice.Ilgpu(IlgpuAccelerator.Cpu);

    [OneTimeTearDown]
    public void Close() => device?.Dispose();

    [Test]
    public void DeviceDescribesItself()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Device.Kind, Is.EqualTo(DeviceKind.Ilgpu));
            Assert.That(Device.Name, Does.Contain("ILGPU CPU accelerator").And.Contain("warp 32").And.Contain("1024 threads per group"));
            Assert.That(Device.SelectionReason, Does.Contain("GraphDevice.Ilgpu(Cpu)"));
            Assert.That(Device.NativeLibraryPath, Is.Empty);
        });
    }

    [Test]
    public void BuffersRoundTripFillAndDispose()
    {
        var host = Enumerable.Range(0, 1000).Select(i => (long)i * 3_000_000_007L).ToArray();
        using var b = Device.Upload<long>(host);
        Assert.That(b.ToArray(), Is.EqualTo(host));
        b.CopyFrom(new long[] { -1, -2 }, destinationOffset: 998);
        var part = new long[3];
        b.CopyTo(part, sourceOffset: 997);
        Assert.That(part, Is.EqualTo(new[] { host[997], -1L, -2L }));
        b.Fill(42);
        Assert.That(b.ToArray(), Is.All.EqualTo(42L));
        using var h = Device.Allocate<Half>(5);
        h.Fill((Half)1.5f);
        Assert.That(h.ToArray(), Is.All.EqualTo((Half)1.5f));
        using var odd = Device.Allocate<(int, byte, byte, byte)>(7);   // 7-byte-ish struct: the generic path
        odd.Fill((9, 1, 2, 3));
        Assert.That(odd.ToArray(), Is.All.EqualTo((9, (byte)1, (byte)2, (byte)3)));
        using var empty = Device.Allocate<float>(0);
        Assert.That(empty.ToArray(), Is.Empty);
        b.Dispose();
        Assert.That(b.IsDisposed, Is.True);
        Assert.Throws<ObjectDisposedException>(() => b.ToArray());
    }

    [Test]
    public void StreamsAreCreatedSynchronisedAndDisposed()
    {
        var c = new SpmmCase("powerlaw", IndexType.Int32, Message.UMulE, Reduce.Mean, 8, 0, 0, ValueKind.Dyadic, false, 0, 5);
        using var run = new SpmmRunner(Device, c);
        var stream = Device.CreateStream();
        run.AssertMatchesOracle(run.Run(stream));
        stream.Synchronize();
        stream.Dispose();
        Assert.Throws<ObjectDisposedException>(() => stream.Synchronize());
    }

    [Test]
    public void BuffersOutliveTheirDevice()
    {
        var d = GraphDevice.Ilgpu(IlgpuAccelerator.Cpu);
        var b = d.Upload<float>(new float[] { 1, 2, 3 });
        d.Dispose();
        Assert.That(b.ToArray(), Is.EqualTo(new float[] { 1, 2, 3 }));
        b.Dispose();
    }

    [Test]
    public void WrapBufferAndRawSpmmAreNotSupported()
    {
        var ex = Assert.Throws<NotSupportedException>(() => Device.WrapBuffer<float>(0x1000, 4));
        Assert.That(ex!.Message, Does.Contain("WrapBuffer").And.Contain("ILGPU"));
        using var g = CsrGraph.Upload(Device, new[] { 0, 1 }, new[] { 0 }, 1);
        using var x = Device.Upload<float>(new float[] { 1 });
        using var y = Device.Upload<float>(new float[] { 7 });
        var raw = Assert.Throws<NotSupportedException>(() => GraphKernels.MessagePassing.SpMM(Device, g.RowPtr.Pointer, g.ColIdx.Pointer,
            1, 1, 1, IndexType.Int32, Message.CopyU, Reduce.Sum, 1, x.Pointer, 1, 0, y.Pointer, 1, 0, 0, 0));
        Assert.That(raw!.Message, Does.Contain("MessagePassing.SpMM").And.Contain("ILGPU"));
        Assert.That(y.ToArray(), Is.EqualTo(new float[] { 7 }), "y untouched");
    }

    [Test]
    public void OpsWithoutAnIlgpuImplementationSayWhichOpAndBackend()
    {
        // Force/stress runs on ILGPU; its internal benchmark baseline (the unfused three launches) does not.
        using var topo = ForceStressTopology.Build(Device, new long[] { 0, 2 }, new[] { 0 }, new[] { 1 });
        using var r = Device.Upload<float>(new float[] { 1, 0, 0 });
        using var cell = Device.Upload<float>(new float[] { 2, 0, 0, 0, 2, 0, 0, 0, 2 });
        using var s = Device.Upload<float>(new float[] { 1 });
        using var g = Device.Upload<float>(new float[3]);
        using var f = Device.Upload<float>(new float[6]);
        using var st = Device.Upload<float>(Enumerable.Repeat(7f, 9).ToArray());
        var fs = Assert.Throws<NotSupportedException>(() => ForceStress.UnfusedBaseline(topo, r, cell, s, g, f, st));
        Assert.That(fs!.Message, Does.Contain("ForceStress.UnfusedBaseline").And.Contain("ILGPU CPU accelerator"));
        Assert.That(st.ToArray(), Is.EqualTo(Enumerable.Repeat(7f, 9).ToArray()), "stress untouched");
    }
}

/// <summary>How GraphDevice.Open() chooses (through OpenCore, so no process-wide environment variable is touched).</summary>
[TestFixture]
[Category("Ilgpu")]
public sealed class IlgpuDeviceChoiceTests
{
    [Test]
    public void WithoutCudaAndWithoutTheEmulatedLibraryOpenChoosesIlgpuAndSaysWhy()
    {
        if (GraphDevice.TryCuda(0, out var cuda, out _))
        {
            cuda.Dispose();
            Assert.Ignore("a CUDA device is present, so Open() rightly picks it");
        }

        using var d = GraphDevice.OpenCore(null, probeEmulated: false);
        Assert.Multiple(() =>
        {
            Assert.That(d.Kind, Is.EqualTo(DeviceKind.Ilgpu));
            Assert.That(d.SelectionReason, Does.Contain("no usable CUDA device").And.Contain("no emulated library").And.Contain("ILGPU"));
            Assert.That(d.SelectionReason, Does.Contain("CPU accelerator").Or.Contain("OpenCL GPU"));
        });
    }

    [Test]
    public void WithTheEmulatedLibraryOpenKeepsTheEmulation()
    {
        if (GraphDevice.TryCuda(0, out var cuda, out _))
        {
            cuda.Dispose();
            Assert.Ignore("a CUDA device is present, so Open() rightly picks it");
        }

        using var d = GraphDevice.OpenCore(null, probeEmulated: true);
        Assert.That(d.Kind, Is.EqualTo(DeviceKind.Emulated), d.SelectionReason);
    }

    [TestCase("ilgpu", DeviceKind.Ilgpu)]
    [TestCase(" ILGPU ", DeviceKind.Ilgpu)]
    [TestCase("emulated", DeviceKind.Emulated)]
    public void TheOverrideForcesABackend(string value, DeviceKind expected)
    {
        using var d = GraphDevice.OpenCore(value, probeEmulated: true);
        Assert.Multiple(() =>
        {
            Assert.That(d.Kind, Is.EqualTo(expected));
            Assert.That(d.SelectionReason, Does.Contain("GRAPHKERNELS_DEVICE"));
        });
    }

    [Test]
    public void AnUnknownOverrideIsRejectedWithItsValue()
    {
        var ex = Assert.Throws<ArgumentException>(() => GraphDevice.OpenCore("opencl-please", probeEmulated: true));
        Assert.That(ex!.Message, Does.Contain("GRAPHKERNELS_DEVICE").And.Contain("opencl-please"));
    }
}
