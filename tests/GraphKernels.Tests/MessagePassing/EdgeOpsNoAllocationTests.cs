using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Oracle;
using GraphKernels.Tests.Spmm;
using static GraphKernels.Tests.EdgeOps.EdgeTensors;

namespace GraphKernels.Tests.EdgeOps;

/// <summary>The managed edge-op path allocates nothing per call (the ops sit inside training loops).</summary>
[TestFixture]
[Category("MessagePassing")]
[Category("Emulation")]
[NonParallelizable]
public sealed class EdgeOpsNoAllocationTests
{
    [Test]
    public void HundredRoundsAllocateNothing()
    {
        using var device = GraphDevice.Emulated();
        HostCsr g = GraphCatalog.Get("er");
        const int f = 8, h = 2;
        var (tg, perm) = EdgeOpsReference.Transpose(g);
        using var graph = SpmmRunner.UploadGraph(device, g, IndexType.Int32);
        using var tgraph = SpmmRunner.UploadGraph(device, tg, IndexType.Int32);
        using var dperm = UploadIndex(device, IndexType.Int32, perm);
        using var ptr = UploadIndex(device, IndexType.Int32, g.RowPtr);
        using var x = Upload(device, Elem.F32, new double[g.NumCols * f]);
        using var y = Upload(device, Elem.F32, new double[g.NumRows * f]);
        using var s = device.Allocate<float>(g.Nnz * h);
        using var a = device.Allocate<float>(g.Nnz * h);
        using var gs = device.Allocate<float>(g.Nnz * h);
        using var gx = device.Allocate<float>(g.NumCols * f);
        using var seg = device.Allocate<float>(g.NumRows * h);
        using var arg = device.Allocate<int>(g.NumRows * h);
        var stream = device.DefaultStream;

        void Round()
        {
            GraphKernels.MessagePassing.Sddmm(graph, SddmmOp.Dot, f, h, EdgeTarget.Source, x, EdgeTarget.Destination, y, s, stream);
            GraphKernels.MessagePassing.EdgeSoftmax(graph, h, s, a, stream: stream);
            GraphKernels.MessagePassing.EdgeSoftmaxBackward(graph, h, a, s, gs, stream);
            GraphKernels.MessagePassing.SddmmBackward(graph, SddmmOp.Dot, f, h, EdgeTarget.Source, x, EdgeTarget.Destination, y, gs, gx, null, tgraph, dperm, stream);
            GraphKernels.MessagePassing.SegmentReduce(ptr, Reduce.Max, h, a, seg, arg, stream: stream);
            GraphKernels.MessagePassing.SegmentReduceBackward(ptr, Reduce.Max, h, seg, gs, arg, stream: stream);
        }

        for (int i = 0; i < 5; i++) Round();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++) Round();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(allocated, Is.Zero, "bytes allocated by 100 rounds of six edge-op calls");
    }
}
