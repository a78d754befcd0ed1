using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Emulation;

/// <summary>The emulated device and device selection on this (GPU-less) machine; buffers and streams.</summary>
[TestFixture]
[Category("Emulation")]
[Parallelizable(ParallelScope.All)]
public sealed class EmulatedDeviceTests
{
    [Test]
    public void EmulatedDeviceReportsItself()
    {
        using var d = GraphDevice.Emulated();
        Assert.Multiple(() =>
        {
            Assert.That(d.Kind, Is.EqualTo(DeviceKind.Emulated));
            Assert.That(d.NativeVersion, Is.EqualTo("0.1.0"));
            Assert.That(d.NativeBuildInfo, Does.Contain("emulat").IgnoreCase);
            Assert.That(d.Name, Is.Not.Empty);
            Assert.That(d.SelectionReason, Is.Not.Empty);
            Assert.That(File.Exists(d.NativeLibraryPath), Is.True, $"NativeLibraryPath '{d.NativeLibraryPath}' does not exist");
            Assert.That(Path.GetFileName(d.NativeLibraryPath), Does.Contain("graphkernels_emulated"));
        });
    }

    /// <summary>Open() takes CUDA exactly when TryCuda(0) succeeds; otherwise the emulation, saying why CUDA was not chosen.</summary>
    [Test]
    public void OpenFallsBackToTheEmulationWithAReason()
    {
        bool haveCuda = GraphDevice.TryCuda(0, out GraphDevice? cuda, out string whyNot);
        cuda?.Dispose();
        using var d = GraphDevice.Open();
        if (haveCuda)
        {
            Assert.That(d.Kind, Is.EqualTo(DeviceKind.Cuda), "a CUDA device is usable, so Open() must choose it");
            return;
        }

        Assert.Multiple(() =>
        {
            Assert.That(whyNot, Is.Not.Empty, "TryCuda failed without saying why");
            Assert.That(d.Kind, Is.EqualTo(DeviceKind.Emulated));
            Assert.That(d.SelectionReason, Does.Contain("CUDA").IgnoreCase);
            Assert.That(d.SelectionReason, Does.Contain(whyNot), "SelectionReason should carry the reason CUDA was not usable");
        });
    }

    [Test]
    public void TryCudaWithANegativeOrdinalSaysWhy()
    {
        Assert.Multiple(() =>
        {
            Assert.That(GraphDevice.TryCuda(-1, out GraphDevice? d, out string whyNot), Is.False);
            Assert.That(d, Is.Null);
            Assert.That(whyNot, Is.Not.Empty);
        });
    }

    [Test]
    public void DescribeMentionsTheEmulation()
    {
        string text = GraphDevice.Describe();
        Assert.That(text, Does.Contain("emulat").IgnoreCase);
    }

    [Test]
    public void BuffersRoundTrip()
    {
        using var d = GraphDevice.Emulated();
        var data = Enumerable.Range(0, 1000).Select(i => i * 0.5f).ToArray();
        using var b = d.Upload<float>(data);
        Assert.Multiple(() =>
        {
            Assert.That(b.Length, Is.EqualTo(1000));
            Assert.That(b.SizeInBytes, Is.EqualTo(4000));
            Assert.That(b.ElementType, Is.EqualTo(typeof(float)));
            Assert.That(b.Device, Is.SameAs(d));
            Assert.That(b.Pointer, Is.Not.EqualTo(nint.Zero));
            Assert.That(b.ToArray(), Is.EqualTo(data));
        });

        b.CopyFrom(new float[] { -1, -2, -3 }, destinationOffset: 10);
        var part = new float[5];
        b.CopyTo(part, sourceOffset: 9);
        Assert.That(part, Is.EqualTo(new float[] { 4.5f, -1, -2, -3, 6.5f }));

        b.Fill(7.25f);
        Assert.That(b.ToArray(), Is.All.EqualTo(7.25f));

        using var l = d.Allocate<long>(3);
        l.Fill(long.MinValue + 5);
        Assert.That(l.ToArray(), Is.EqualTo(new[] { long.MinValue + 5, long.MinValue + 5, long.MinValue + 5 }));

        Assert.That(() => b.CopyFrom(new float[4], destinationOffset: 997), Throws.InstanceOf<ArgumentException>());
        Assert.That(() => b.CopyTo(new float[4], sourceOffset: 997), Throws.InstanceOf<ArgumentException>());
        b.Dispose();
        Assert.That(b.IsDisposed, Is.True);
        Assert.That(() => b.ToArray(), Throws.InstanceOf<ObjectDisposedException>());
    }

    [Test]
    public void StreamsExistAndSynchronize()
    {
        using var d = GraphDevice.Emulated();
        using var s = d.CreateStream();
        Assert.Multiple(() =>
        {
            Assert.That(s.Device, Is.SameAs(d));
            Assert.That(d.DefaultStream.Device, Is.SameAs(d));
        });
        Assert.DoesNotThrow(() => s.Synchronize());
        Assert.DoesNotThrow(() => d.Synchronize());
    }

    /// <summary>Many threads call SpMM on one device at once: each gets its own, correct result.</summary>
    [Test]
    public void ConcurrentCallsAreIndependent()
    {
        using var d = GraphDevice.Emulated();
        var cases = Spmm.SpmmCases.SmallCases().Where(c => c.Graph is "er" or "powerlaw" or "duplicates").Take(8).ToArray();
        Parallel.ForEach(cases, new ParallelOptions { MaxDegreeOfParallelism = 4 }, c =>
        {
            using var run = new Spmm.SpmmRunner(d, c);
            run.AssertMatchesOracle(run.Run());
        });
    }
}
