using GraphKernels.Tests.Oracle;

namespace GraphKernels.Tests.Spmm;

/// <summary>The managed SpMM path allocates nothing per call (it is meant to sit inside training loops).</summary>
[TestFixture]
[Category("MessagePassing")]
[Category("Emulation")]
[NonParallelizable]
public sealed class NoAllocationTests
{
    [TestCase(Reduce.Sum, Message.CopyU, IndexType.Int32, false)]
    [TestCase(Reduce.Max, Message.UMulE, IndexType.Int64, true)]
    public void HundredCallsAllocateNothing(Reduce reduce, Message message, IndexType index, bool withArg)
    {
        using var device = GraphDevice.Emulated();
        var c = new SpmmCase("er", index, message, reduce, 8, 0, 0, ValueKind.Random, withArg, 0, 5);
        using var run = new SpmmRunner(device, c);
        var (y, arg) = run.PoisonedOutputs();
        var w = run.Weight;
        var graph = run.Graph;
        var x = run.X;
        var stream = device.DefaultStream;

        for (int i = 0; i < 20; i++) GraphKernels.MessagePassing.SpMM(graph, message, reduce, 8, x, y, w, arg, stream: stream);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++) GraphKernels.MessagePassing.SpMM(graph, message, reduce, 8, x, y, w, arg, stream: stream);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.That(allocated, Is.Zero, "bytes allocated by 100 SpMM calls");
        run.AssertMatchesOracle(run.Download(y, arg, null));
    }
}
