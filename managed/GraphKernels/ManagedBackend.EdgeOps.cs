namespace GraphKernels;

/// <summary>
/// The edge-op family of the managed-backend seam (docs/message_passing.md, "Edge ops"). Each method is
/// called by the public op after all of its C# argument checks (dense tensors, the element type and
/// lengths already checked); the backend repeats the checks only the C ABI does (overlapping buffers,
/// the transpose's shape, sizes the index type cannot hold, the COO workspace and index ranges) with the
/// same status and sentence as native/src/edge_ops.cu, then writes the outputs.
/// </summary>
internal partial interface IManagedBackend
{
    /// <summary>MessagePassing.Sddmm (gk_sddmm) after its argument checks.</summary>
    void Sddmm(CsrGraph graph, SddmmOp op, long features, int heads, EdgeTarget lhsTarget, DeviceBuffer lhs,
        EdgeTarget rhsTarget, DeviceBuffer rhs, DeviceBuffer output)
        => throw ManagedBackends.NotSupported("MessagePassing.Sddmm", Name);

    /// <summary>MessagePassing.SddmmBackward (gk_sddmm_backward) after its argument checks; transpose and permutation are given when a Source-target gradient is requested.</summary>
    void SddmmBackward(CsrGraph graph, SddmmOp op, long features, int heads, EdgeTarget lhsTarget, DeviceBuffer lhs,
        EdgeTarget rhsTarget, DeviceBuffer rhs, DeviceBuffer gradOutput, DeviceBuffer? gradLhs, DeviceBuffer? gradRhs,
        CsrGraph? transpose, DeviceBuffer? permutation)
        => throw ManagedBackends.NotSupported("MessagePassing.SddmmBackward", Name);

    /// <summary>MessagePassing.EdgeSoftmax (gk_edge_softmax) after its argument checks.</summary>
    void EdgeSoftmax(CsrGraph graph, long heads, DeviceBuffer scores, DeviceBuffer output, DeviceBuffer<float>? rowMax, DeviceBuffer<float>? rowSum)
        => throw ManagedBackends.NotSupported("MessagePassing.EdgeSoftmax", Name);

    /// <summary>MessagePassing.EdgeSoftmaxBackward (gk_edge_softmax_backward) after its argument checks.</summary>
    void EdgeSoftmaxBackward(CsrGraph graph, long heads, DeviceBuffer output, DeviceBuffer gradOutput, DeviceBuffer gradScores)
        => throw ManagedBackends.NotSupported("MessagePassing.EdgeSoftmaxBackward", Name);

    /// <summary>gk_segment_reduce (SegmentReduce, ScatterPlan.Reduce) after the argument checks; reduce is a gk_reduce value (0..3).</summary>
    void SegmentReduce(DeviceBuffer ptr, long numSegments, DeviceBuffer? permutation, long numSource, int reduce, long features,
        DeviceBuffer source, DeviceBuffer output, DeviceBuffer? argOut)
        => throw ManagedBackends.NotSupported("MessagePassing.SegmentReduce", Name);

    /// <summary>gk_segment_gather (GatherCsr, SegmentReduceBackward, ScatterPlan.Backward) after the argument checks; mode is a gk_gather_mode value (0..2).</summary>
    void SegmentGather(DeviceBuffer ptr, long numSegments, DeviceBuffer? permutation, long numOutput, int mode, long features,
        DeviceBuffer source, DeviceBuffer? arg, DeviceBuffer output)
        => throw ManagedBackends.NotSupported("MessagePassing.GatherCsr", Name);

    /// <summary>MessagePassing.CooToCsr (gk_coo_to_csr) after its argument checks; synchronises, as the native op does.</summary>
    void CooToCsr(DeviceBuffer destination, DeviceBuffer? source, long numRows, long numCols, DeviceBuffer rowPtr,
        DeviceBuffer? colIdx, DeviceBuffer permutation, DeviceBuffer workspace)
        => throw ManagedBackends.NotSupported("MessagePassing.CooToCsr", Name);

    /// <summary>MessagePassing.Degree (gk_degree) after its argument checks.</summary>
    void Degree(CsrGraph graph, DegreeKind kind, DeviceBuffer output)
        => throw ManagedBackends.NotSupported("MessagePassing.Degree", Name);
}
