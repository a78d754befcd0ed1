using GraphKernels.Interop;
using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Oracle;
using GraphKernels.Tests.Spmm;
using GraphKernels.Tests.Support;
using static GraphKernels.Tests.EdgeOps.EdgeTensors;

namespace GraphKernels.Tests.EdgeOps;

/// <summary>
/// Edge ops with bad arguments: the managed layer rejects shapes and types with an ArgumentException naming the C#
/// parameter; what only the C ABI can see (overlaps, a transpose of the wrong shape, out-of-range COO indices, sizes
/// beyond int32) comes back as a GraphKernelsException with the status and a sentence naming the C argument and value.
/// Every output is poisoned before the call and must keep the poison.
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[TestFixture(DeviceKind.Ilgpu, Category = "Ilgpu")]
[Category("BadInput")]
[Category("MessagePassing")]
[Parallelizable(ParallelScope.All)]
public sealed class EdgeOpsBadInputTests
{
    private const int F = 4;
    private static readonly HostCsr Host = GraphGenerators.ErdosRenyi(40, 30, 0.2, seed: 5, name: "er40x30");

    private readonly DeviceKind kind;
    private GraphDevice? device;

    public EdgeOpsBadInputTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    /// <summary>
    /// The C ABI belongs to the native backends: on ILGPU there is none, and reaching it throws NotSupportedException
    /// naming the backend. Returns true when that refusal was the check (the caller then returns); the sentences the C ABI
    /// gives for what the managed API can reach are compared with ILGPU's in IlgpuEdgeOpsCrossBackendTests.
    /// </summary>
    private bool IlgpuHasNoCAbi()
    {
        if (kind != DeviceKind.Ilgpu) return false;
        var ex = Assert.Throws<NotSupportedException>(() => _ = Device.Api)!;
        Assert.That(ex.Message, Does.Contain("ILGPU"));
        return true;
    }

    private static void AssertNative(Action call, GkStatus status, string fragment)
    {
        var ex = Assert.Throws<GraphKernelsException>(call)!;
        Assert.That(ex.Status, Is.EqualTo(status), ex.Message);
        Assert.That(ex.Message, Does.Contain(fragment));
    }

    [Test]
    public void SddmmRejectsShapesTypesAndOverlaps()
    {
        using var graph = SpmmRunner.UploadGraph(Device, Host, IndexType.Int32);
        using var x = Upload(Device, Elem.F32, new double[Host.NumCols * F]);
        using var y = Upload(Device, Elem.F32, new double[Host.NumRows * F]);
        using var xh = Upload(Device, Elem.F16, new double[Host.NumCols * F]);
        using var outp = Poisoned(Device, Elem.F32, Host.Nnz * F);
        using var shortOut = Poisoned(Device, Elem.F32, (Host.Nnz * F) - 1);

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => GraphKernels.MessagePassing.Sddmm(graph, SddmmOp.Dot, F, 3, EdgeTarget.Source, x, EdgeTarget.Destination, y, outp))!;
        Assert.That(e.ParamName, Is.EqualTo("heads"));
        e = Assert.Throws<ArgumentOutOfRangeException>(() => GraphKernels.MessagePassing.Sddmm(graph, SddmmOp.Mul, F, 2, EdgeTarget.Source, x, EdgeTarget.Destination, y, outp))!;
        Assert.That(e.ParamName, Is.EqualTo("heads"));
        var a = Assert.Throws<ArgumentException>(() => GraphKernels.MessagePassing.Sddmm(graph, SddmmOp.Add, F, 1, EdgeTarget.Source, x, EdgeTarget.Destination, xh, outp))!;
        Assert.That(a.ParamName, Is.EqualTo("rhs"));
        a = Assert.Throws<ArgumentException>(() => GraphKernels.MessagePassing.Sddmm(graph, SddmmOp.Add, F, 1, EdgeTarget.Source, x, EdgeTarget.Destination, y, shortOut))!;
        Assert.That(a.ParamName, Is.EqualTo("output"));
        // The rhs must have NumRows rows for a Destination target; x has only NumCols < NumRows.
        a = Assert.Throws<ArgumentException>(() => GraphKernels.MessagePassing.Sddmm(graph, SddmmOp.Add, F, 1, EdgeTarget.Source, x, EdgeTarget.Destination, x, outp))!;
        Assert.That(a.ParamName, Is.EqualTo("rhs"));
        Assert.Throws<ArgumentOutOfRangeException>(() => GraphKernels.MessagePassing.Sddmm(graph, (SddmmOp)9, F, 1, EdgeTarget.Source, x, EdgeTarget.Destination, y, outp));
        Assert.Throws<ArgumentOutOfRangeException>(() => GraphKernels.MessagePassing.Sddmm(graph, SddmmOp.Add, F, 1, (EdgeTarget)3, x, EdgeTarget.Destination, y, outp));
        AssertAllPoison(Read(outp), "out");

        // An edge operand that is also the output: only the C ABI sees the overlap.
        using var edge = Poisoned(Device, Elem.F32, Host.Nnz * F);
        AssertNative(() => GraphKernels.MessagePassing.Sddmm(graph, SddmmOp.Add, F, 1, EdgeTarget.Edge, edge, EdgeTarget.Destination, y, edge),
            GkStatus.InvalidArgument, "gk_sddmm: out overlaps lhs");
        AssertAllPoison(Read(edge), "edge operand / out");
    }

    [Test]
    public void SddmmBackwardNeedsTheRightTranspose()
    {
        using var graph = SpmmRunner.UploadGraph(Device, Host, IndexType.Int32);
        var (tg, perm) = EdgeOpsReference.Transpose(Host);
        using var tgraph = SpmmRunner.UploadGraph(Device, tg, IndexType.Int32);
        using var tgraph64 = SpmmRunner.UploadGraph(Device, tg, IndexType.Int64);
        using var dperm = UploadIndex(Device, IndexType.Int32, perm);
        using var x = Upload(Device, Elem.F32, new double[Host.NumCols * F]);
        using var y = Upload(Device, Elem.F32, new double[Host.NumRows * F]);
        using var g = Upload(Device, Elem.F32, new double[Host.Nnz * 2]);
        using var gx = Poisoned(Device, Elem.F32, Host.NumCols * F);
        using var gy = Poisoned(Device, Elem.F32, Host.NumRows * F);

        var n = Assert.Throws<ArgumentNullException>(() => GraphKernels.MessagePassing.SddmmBackward(graph, SddmmOp.Dot, F, 2, EdgeTarget.Source, x, EdgeTarget.Destination, y, g, gx, gy))!;
        Assert.That(n.ParamName, Is.EqualTo("transpose"));
        // The graph used as its own transpose: 40 x 30 is not the transpose of 40 x 30.
        AssertNative(() => GraphKernels.MessagePassing.SddmmBackward(graph, SddmmOp.Dot, F, 2, EdgeTarget.Source, x, EdgeTarget.Destination, y, g, gx, gy, graph, dperm),
            GkStatus.InvalidArgument, "is not the transpose of csr");
        // A permutation of the wrong index type.
        using var perm64 = UploadIndex(Device, IndexType.Int64, perm);
        var a = Assert.Throws<ArgumentException>(() => GraphKernels.MessagePassing.SddmmBackward(graph, SddmmOp.Dot, F, 2, EdgeTarget.Source, x, EdgeTarget.Destination, y, g, gx, gy, tgraph, perm64))!;
        Assert.That(a.ParamName, Is.EqualTo("permutation"));
        // A transpose of another index type.
        AssertNative(() => GraphKernels.MessagePassing.SddmmBackward(graph, SddmmOp.Dot, F, 2, EdgeTarget.Source, x, EdgeTarget.Destination, y, g, gx, gy, tgraph64, dperm),
            GkStatus.InvalidArgument, "index_type = 1");
        AssertAllPoison(Read(gx), "grad_lhs");
        AssertAllPoison(Read(gy), "grad_rhs");

        // A destination-only gradient needs no transpose.
        GraphKernels.MessagePassing.SddmmBackward(graph, SddmmOp.Dot, F, 2, EdgeTarget.Source, x, EdgeTarget.Destination, y, g, null, gy);
        Assert.That(Read(gy), Is.All.EqualTo(0.0), "zero grad_out gives a zero gradient");
    }

    [Test]
    public void EdgeSoftmaxAndSegmentRejectBadArguments()
    {
        using var graph = SpmmRunner.UploadGraph(Device, Host, IndexType.Int64);
        using var s = Upload(Device, Elem.F32, new double[Host.Nnz * 2]);
        using var outp = Poisoned(Device, Elem.F32, Host.Nnz * 2);
        using var shortMax = Device.Allocate<float>((Host.NumRows * 2) - 1);
        var a = Assert.Throws<ArgumentException>(() => GraphKernels.MessagePassing.EdgeSoftmax(graph, 2, s, outp, shortMax))!;
        Assert.That(a.ParamName, Is.EqualTo("rowMax"));
        Assert.Throws<ArgumentOutOfRangeException>(() => GraphKernels.MessagePassing.EdgeSoftmax(graph, 0, s, outp));
        AssertNative(() => GraphKernels.MessagePassing.EdgeSoftmax(graph, 2, outp, outp), GkStatus.InvalidArgument, "gk_edge_softmax: out overlaps scores");
        AssertAllPoison(Read(outp), "out");

        using var ptr = UploadIndex(Device, IndexType.Int64, Host.RowPtr);
        using var src = Upload(Device, Elem.F32, new double[Host.Nnz * F]);
        using var seg = Poisoned(Device, Elem.F32, Host.NumRows * F);
        using var arg32 = IndexFilled(Device, IndexType.Int32, Host.NumRows * F, -9);
        using var arg64 = IndexFilled(Device, IndexType.Int64, Host.NumRows * F, -9);
        a = Assert.Throws<ArgumentException>(() => GraphKernels.MessagePassing.SegmentReduce(ptr, Reduce.Sum, F, src, seg, arg64))!;
        Assert.That(a.ParamName, Is.EqualTo("argOut"));
        a = Assert.Throws<ArgumentException>(() => GraphKernels.MessagePassing.SegmentReduce(ptr, Reduce.Max, F, src, seg, arg32))!;
        Assert.That(a.ParamName, Is.EqualTo("arg"));
        var n = Assert.Throws<ArgumentNullException>(() => GraphKernels.MessagePassing.SegmentReduceBackward(ptr, Reduce.Max, F, seg, src))!;
        Assert.That(n.ParamName, Is.EqualTo("argOut"));
        using var floatPtr = Device.Allocate<float>(Host.NumRows + 1);
        a = Assert.Throws<ArgumentException>(() => GraphKernels.MessagePassing.SegmentReduce(floatPtr, Reduce.Sum, F, src, seg))!;
        Assert.That(a.ParamName, Is.EqualTo("ptr"));
        AssertNative(() => GraphKernels.MessagePassing.SegmentReduce(ptr, Reduce.Sum, F, seg, seg), GkStatus.InvalidArgument, "gk_segment_reduce: out overlaps src");
        var r = Assert.Throws<ArgumentOutOfRangeException>(() => GraphKernels.MessagePassing.SegmentReduce(ptr, Reduce.Mul, F, src, seg))!;
        Assert.That(r.ParamName, Is.EqualTo("reduce"));
        Assert.That(r.Message, Does.Contain("Reduce.Mul) is not supported by segment reduce"));
        r = Assert.Throws<ArgumentOutOfRangeException>(() => GraphKernels.MessagePassing.SegmentReduceBackward(ptr, Reduce.Mul, F, seg, src))!;
        Assert.That(r.ParamName, Is.EqualTo("reduce"));
        AssertAllPoison(Read(seg), "segment out");
        Assert.That(ReadIndex(arg64), Is.All.EqualTo(-9L));
    }

    [TestCase(IndexType.Int32)]
    [TestCase(IndexType.Int64)]
    public void CooToCsrRejectsOutOfRangeIndicesWithOutputsUntouched(IndexType index)
    {
        long[] dst = { 0, 3, 2, 1, 4, 2, 0, -1, 3, 1, 4, 0, 2, 7, 1 };
        long[] src = { 1, 1, 0, 2, 2, 3, 0, 1, 1, 2, 0, 3, 3, 1, 0 };
        using var ddst = UploadIndex(Device, index, dst);
        using var dsrc = UploadIndex(Device, index, src);
        using var rp = IndexFilled(Device, index, 6, -5);
        using var col = IndexFilled(Device, index, dst.Length, -5);
        using var perm = IndexFilled(Device, index, dst.Length, -5);
        using var ws = Device.Allocate<byte>(GraphKernels.MessagePassing.CooToCsrWorkspaceBytes(Device, 5));
        // dst[7] = -1 and dst[13] = 7 are outside [0, 5): the lowest bad position is named.
        AssertNative(() => GraphKernels.MessagePassing.CooToCsr(ddst, dsrc, 5, 4, rp, col, perm, ws), GkStatus.InvalidGraph,
            "gk_coo_to_csr: dst[7] = -1 is outside [0, num_rows = 5)");
        // A workspace sized for 5 rows is too small for 8 (checked before any device work).
        using var rp8 = IndexFilled(Device, index, 9, -5);
        AssertNative(() => GraphKernels.MessagePassing.CooToCsr(ddst, dsrc, 8, 3, rp8, col, perm, ws), GkStatus.Workspace, "workspace_bytes = 56, needs 80");
        using var ws8 = Device.Allocate<byte>(GraphKernels.MessagePassing.CooToCsrWorkspaceBytes(Device, 8));
        AssertNative(() => GraphKernels.MessagePassing.CooToCsr(ddst, dsrc, 8, 3, rp8, col, perm, ws8), GkStatus.InvalidGraph,
            "gk_coo_to_csr: dst[7] = -1");
        using var dstOk = UploadIndex(Device, index, Array.ConvertAll(dst, d => Math.Clamp(d, 0, 4)));
        AssertNative(() => GraphKernels.MessagePassing.CooToCsr(dstOk, dsrc, 5, 3, rp, col, perm, ws), GkStatus.InvalidGraph,
            "gk_coo_to_csr: src[5] = 3 is outside [0, num_cols = 3)");
        Assert.Multiple(() =>
        {
            Assert.That(ReadIndex(rp), Is.All.EqualTo(-5L), "row_ptr untouched");
            Assert.That(ReadIndex(col), Is.All.EqualTo(-5L), "col_idx untouched");
            Assert.That(ReadIndex(perm), Is.All.EqualTo(-5L), "perm untouched");
            Assert.That(ReadIndex(rp8), Is.All.EqualTo(-5L), "row_ptr (8 rows) untouched");
        });
    }

    /// <summary>Sizes the index type cannot hold, and fp64, through the C ABI directly (the managed layer cannot allocate
    /// 2^31-element buffers in a test): each is refused before any device work, naming the sizes.</summary>
    [Test]
    public unsafe void SizesBeyondInt32AndFp64AreRefusedByTheCAbi()
    {
        if (IlgpuHasNoCAbi()) return;
        var api = Device.Api;
        using var buf = Device.Allocate<long>(64);
        void* p = (void*)buf.Pointer;
        nuint wsBytes = 512;
        AssertNative(() => api.Check(api.gk_coo_to_csr(0, 2, p, null, int.MaxValue, 0, p, null, p, p, wsBytes, null), "gk_coo_to_csr"),
            GkStatus.IndexOverflow, "num_rows = 2147483647");
        AssertNative(() => api.Check(api.gk_segment_reduce(0, 1, p, null, 3_000_000_000L, 0, 0, 1, p, 1, p, 1, null, 1, null), "gk_segment_reduce"),
            GkStatus.IndexOverflow, "num_src = 3000000000");
        GkCsr* csr = (GkCsr*)System.Runtime.InteropServices.NativeMemory.AllocZeroed((nuint)sizeof(GkCsr));
        try
        {
            csr->NumRows = 10;
            csr->NumCols = 10;
            csr->Nnz = 3_000_000_000L;
            csr->IndexType = 0;
            csr->RowPtr = buf.Pointer;
            csr->ColIdx = buf.Pointer;
            AssertNative(() => api.Check(api.gk_sddmm(csr, 0, 0, 4, 1, 0, p, 4, 1, p, 4, p, 1, null), "gk_sddmm"), GkStatus.IndexOverflow, "nnz = 3000000000");
            csr->Nnz = 0;
            AssertNative(() => api.Check(api.gk_sddmm(csr, 0, 3, 4, 1, 0, p, 4, 1, p, 4, p, 1, null), "gk_sddmm"), GkStatus.Unsupported, "GK_DTYPE_F64");
            AssertNative(() => api.Check(api.gk_edge_softmax(csr, 7, 1, p, 1, p, 1, null, null, null), "gk_edge_softmax"), GkStatus.InvalidArgument, "dtype = 7");
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.Free(csr);
        }

        AssertNative(() => api.Check(api.gk_segment_gather(0, 1, p, null, 1, 5, 0, 1, p, 1, null, 1, p, 1, null), "gk_segment_gather"),
            GkStatus.InvalidArgument, "mode = 5");
    }

    /// <summary>NULL, misaligned and short-leading-dimension arguments through the C ABI, on a real 40 x 30 graph: each is
    /// refused naming the argument, and the poisoned output keeps its poison.</summary>
    [Test]
    public unsafe void CAbiNamesNullMisalignedAndShortArguments()
    {
        if (IlgpuHasNoCAbi()) return;
        var api = Device.Api;
        using var graph = SpmmRunner.UploadGraph(Device, Host, IndexType.Int32);
        GkCsr* csr = (GkCsr*)System.Runtime.InteropServices.NativeMemory.AllocZeroed((nuint)sizeof(GkCsr));
        using var x = Upload(Device, Elem.F32, new double[(Host.NumRows * F) + 1]);
        using var outp = Poisoned(Device, Elem.F32, (Host.Nnz * F) + 1);
        void* px = (void*)x.Pointer;
        void* po = (void*)outp.Pointer;
        void* odd = (byte*)px + 2;
        try
        {
            *csr = graph.ToNative("graph");
            AssertNative(() => api.Check(api.gk_sddmm(csr, 1, 0, F, 1, 0, null, F, 1, px, F, po, F, null), "gk_sddmm"), GkStatus.InvalidArgument, "gk_sddmm: lhs is NULL (it has 30 rows)");
            AssertNative(() => api.Check(api.gk_sddmm(csr, 1, 0, F, 1, 0, odd, F, 1, px, F, po, F, null), "gk_sddmm"), GkStatus.InvalidArgument, "is not aligned to 4 bytes");
            AssertNative(() => api.Check(api.gk_sddmm(csr, 1, 0, F, 1, 0, px, F - 1, 1, px, F, po, F, null), "gk_sddmm"), GkStatus.InvalidArgument, "ld_lhs = 3 is less than feat = 4");
            AssertNative(() => api.Check(api.gk_sddmm(csr, 0, 0, F, 2, 0, px, F, 1, px, F, po, 1, null), "gk_sddmm"), GkStatus.InvalidArgument, "ld_out = 1 is less than the output width 2");
            AssertNative(() => api.Check(api.gk_sddmm(null, 0, 0, F, 2, 0, px, F, 1, px, F, po, 2, null), "gk_sddmm"), GkStatus.InvalidArgument, "gk_sddmm: csr is NULL");
            AssertNative(() => api.Check(api.gk_sddmm_backward(csr, null, null, 0, 0, F, 2, 0, px, F, 1, px, F, px, 2, po, F, null, F, null), "gk_sddmm_backward"),
                GkStatus.InvalidArgument, "gk_sddmm_backward: csr is NULL");
            AssertNative(() => api.Check(api.gk_edge_softmax(csr, 0, 1, px, 1, po, 1, (float*)odd, null, null), "gk_edge_softmax"), GkStatus.InvalidArgument, "row_max");
            AssertNative(() => api.Check(api.gk_segment_reduce(0, 3, null, null, 10, 0, 0, 1, px, 1, po, 1, null, 1, null), "gk_segment_reduce"), GkStatus.InvalidArgument, "ptr is NULL");
            AssertNative(() => api.Check(api.gk_segment_reduce(0, 3, odd, null, 10, 0, 0, 1, px, 1, po, 1, null, 1, null), "gk_segment_reduce"), GkStatus.InvalidArgument, "must be aligned to 4 bytes");
            AssertNative(() => api.Check(api.gk_coo_to_csr(0, 4, px, null, 3, 0, po, null, po, null, 64, null), "gk_coo_to_csr"), GkStatus.Workspace, "workspace is NULL (needs 40 bytes)");
            AssertNative(() => api.Check(api.gk_coo_to_csr(0, 4, px, px, 3, 3, po, null, po, po, 64, null), "gk_coo_to_csr"), GkStatus.InvalidArgument, "src and col_idx must both be given");
            AssertNative(() => api.Check(api.gk_degree(csr, 1, null, null), "gk_degree"), GkStatus.InvalidArgument, "gk_degree: out is NULL");
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.Free(csr);
        }

        AssertAllPoison(Read(outp), "out");
    }

    [Test]
    public void DegreeNeedsTheGraphIndexTypeAndLength()
    {
        using var graph = SpmmRunner.UploadGraph(Device, Host, IndexType.Int32);
        using var out64 = IndexFilled(Device, IndexType.Int64, Host.NumRows, -5);
        using var shortOut = IndexFilled(Device, IndexType.Int32, Host.NumCols - 1, -5);
        var a = Assert.Throws<ArgumentException>(() => GraphKernels.MessagePassing.Degree(graph, DegreeKind.In, out64))!;
        Assert.That(a.ParamName, Is.EqualTo("output"));
        a = Assert.Throws<ArgumentException>(() => GraphKernels.MessagePassing.Degree(graph, DegreeKind.Out, shortOut))!;
        Assert.That(a.ParamName, Is.EqualTo("output"));
        Assert.Throws<ArgumentOutOfRangeException>(() => GraphKernels.MessagePassing.Degree(graph, (DegreeKind)2, shortOut));
        Assert.That(ReadIndex(shortOut), Is.All.EqualTo(-5L));
    }
}
