namespace GraphKernels.Tests.Spmm;

/// <summary>The managed g-SpMM, chunked g-SpMM, multi-reducer, backward and multi-reducer backward paths allocate nothing per call.</summary>
[TestFixture]
[Category("MessagePassing")]
[Category("Emulation")]
[NonParallelizable]
public sealed class GSpmmNoAllocationTests
{
    [Test]
    public void HundredCallsOfEachAllocateNothing()
    {
        using var device = GraphDevice.Emulated();
        var c = new GSpmmCase("er", IndexType.Int64, Message.UMulE, EdgeOperand.Full, 0, Reduce.Max, 8, ValType.F16, 5);
        using var run = new GSpmmRun(device, c, SpMMFlags.Chunked, 4);
        var y = run.NewValues(run.Host.NumRows * 8);
        var y2 = run.NewValues(run.Host.NumRows * 8);
        var dx = run.NewValues(run.Host.NumCols * 8);
        var de = run.NewValues(run.Host.Nnz * 8);
        var arg = run.Own(GSpmmHarness.AllocIndex(device, IndexType.Int64, run.Host.NumRows * 8));
        var ws = run.Own(device.Allocate<byte>(MessagePassing.SpMMWorkspaceBytes(run.Graph, run.Options, 8, typeof(Half), run.Plan)));
        var multi = new SpMMOptions(Message.UMulE, Reduce.Sum, EdgeOperand.Full);
        var plain = new SpMMOptions(Message.UMulE, Reduce.Max, EdgeOperand.Full);
        var dx2 = run.NewValues(run.Host.NumCols * 8);
        var de2 = run.NewValues(run.Host.Nnz * 8);
        var mws = run.Own(device.Allocate<byte>(MessagePassing.SpMMMultiBackwardWorkspaceBytes(run.Graph, multi, 8)));
        var stream = device.DefaultStream;
        void Calls()
        {
            MessagePassing.SpMM(run.Graph, run.Options, 8, run.XBuf, run.EBuf, y, arg, run.Plan, ws, stream);
            MessagePassing.SpMMMulti(run.Graph, multi, 8, run.XBuf, run.EBuf, y2, null, null, null, null, null, stream);
            MessagePassing.SpMMBackward(run.Graph, run.Plan, plain, 8, run.XBuf, run.EBuf, arg, run.GYBuf, dx, de, stream: stream);
            MessagePassing.SpMMMultiBackward(run.Graph, run.Plan, multi, 8, run.XBuf, run.EBuf, run.GYBuf, null, run.GYBuf, null, null, run.GYBuf,
                dx2, de2, mws, stream: stream);
        }

        for (int i = 0; i < 10; i++) Calls();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++) Calls();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(allocated, Is.Zero, "bytes allocated by 100 rounds of SpMM + SpMMMulti + SpMMBackward + SpMMMultiBackward");
        device.Synchronize();
        GSpmmTests.AssertForward(run, y, arg);
        GSpmmTests.AssertBackward(run, arg, dx, de);
    }
}
