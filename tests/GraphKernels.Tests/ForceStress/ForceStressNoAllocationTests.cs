namespace GraphKernels.Tests.ForceStressTests;

/// <summary>
/// The managed force/stress calls allocate nothing per call once the topology's own workspace exists (they sit
/// inside MD and training loops): the readout and backward, plain and with the fused head.
/// </summary>
[TestFixture]
[Category("ForceStress")]
[Category("Emulation")]
[NonParallelizable]
public sealed class ForceStressNoAllocationTests
{
    [Test]
    public void HundredCallsAllocateNothing()
    {
        using var device = GraphDevice.Emulated();
        var b = AtomicBatch.SmallTriclinic(2.5);
        using var run = new ForceStressRunner(device, b);
        var topo = run.Topology;
        var geometry = run.Geometry(GeometrySource.Positions);
        int e = b.NumEdges, n = b.NumAtoms, c = 8;
        using var s = device.Upload<float>(Enumerable.Range(0, e).Select(i => (float)Math.Sin(i)).ToArray());
        using var h = device.Upload<float>(Enumerable.Range(0, e * c).Select(i => (float)Math.Cos(i)).ToArray());
        using var w = device.Upload<float>(Enumerable.Range(0, c).Select(i => 0.1f * i).ToArray());
        using var forces = device.Allocate<float>(3L * n);
        using var stress = device.Allocate<float>(6L * b.NumGraphs);
        using var gf = device.Upload<float>(new float[3 * n]);
        using var gs = device.Upload<float>(new float[6 * b.NumGraphs]);
        using var ds = device.Allocate<float>(e);
        using var dh = device.Allocate<float>((long)e * c);
        using var dw = device.Allocate<float>(c);
        using var dr = device.Allocate<float>(3L * e);
        var head = new ForceStressHead(h, w, c);
        var grads = new ForceStressHeadGradients { Scalar = ds, Features = dh, Weight = dw };
        var o = new ForceStressOptions { Mode = ForceStressMode.Direct, Layout = StressLayout.VoigtAse };

        void Calls()
        {
            ForceStress.Readout(topo, geometry, s, forces, stress, o);
            ForceStress.Backward(topo, geometry, s, gf, gs, ds, o, dr);
            ForceStress.Readout(topo, geometry, head, forces, stress, o);
            ForceStress.Backward(topo, geometry, head, gf, gs, grads, o, dr);
        }

        for (int i = 0; i < 5; i++) Calls();
        device.Synchronize();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 25; i++) Calls();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        device.Synchronize();
        Assert.That(allocated, Is.Zero, "bytes allocated by 100 force/stress calls");
    }
}
