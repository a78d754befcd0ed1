using System;
using GraphKernels.Interop;

namespace GraphKernels;

/// <summary>
/// The message-passing part of the managed-backend seam: the graph plan, the generalized SpMM
/// (gk_spmm_ex), its workspace queries, the multi-reducer SpMM and the SpMM backward. Each method is
/// called by the public op after its own C# argument checks; the backend then applies the checks the
/// native library does (same status, same sentence) before anything is written.
/// </summary>
internal unsafe partial interface IManagedBackend
{
    /// <summary>
    /// GraphPlan.Build: fills the plan's buffers (laid out as gk_plan_build's: index-typed transpose, perm and
    /// degrees, int64 schedule) for <paramref name="plan"/>'s header (chunk and max_items already set).
    /// <paramref name="workspace"/> holds NumCols 8-byte counters.
    /// </summary>
    void BuildPlan(CsrGraph graph, in GkPlan plan, DeviceBuffer tRowPtr, DeviceBuffer tColIdx, DeviceBuffer perm,
        DeviceBuffer inDegree, DeviceBuffer outDegree, DeviceBuffer<long> rowItemPtr, DeviceBuffer<long> itemRow, DeviceBuffer workspace)
        => throw ManagedBackends.NotSupported("GraphPlan.Build", Name);

    /// <summary>gk_spmm_ex_workspace_size (plan may be null).</summary>
    long SpMMWorkspaceBytes(CsrGraph graph, in GkSpmmDesc desc, GraphPlan? plan)
        => throw ManagedBackends.NotSupported("MessagePassing.SpMMWorkspaceBytes", Name);

    /// <summary>gk_spmm_backward_workspace_size.</summary>
    long SpMMBackwardWorkspaceBytes(CsrGraph graph, in GkSpmmDesc desc)
        => throw ManagedBackends.NotSupported("MessagePassing.SpMMBackwardWorkspaceBytes", Name);

    /// <summary>MessagePassing.SpMM(graph, options, ...) = gk_spmm_ex.</summary>
    void SpMMEx(CsrGraph graph, in GkSpmmDesc desc, DeviceBuffer? x, DeviceBuffer? edge, DeviceBuffer y, DeviceBuffer? argOut,
        GraphPlan? plan, DeviceBuffer? workspace)
        => throw ManagedBackends.NotSupported("MessagePassing.SpMM (SpMMOptions)", Name);

    /// <summary>MessagePassing.SpMMMulti = gk_spmm_multi (outputs in gk_multi_reduce bit order: sum, mean, min, max, var, std).</summary>
    void SpMMMulti(CsrGraph graph, in GkSpmmDesc desc, DeviceBuffer? x, DeviceBuffer? edge, DeviceBuffer? sum, DeviceBuffer? mean,
        DeviceBuffer? min, DeviceBuffer? max, DeviceBuffer? variance, DeviceBuffer? std)
        => throw ManagedBackends.NotSupported("MessagePassing.SpMMMulti", Name);

    /// <summary>MessagePassing.SpMMBackward = gk_spmm_backward.</summary>
    void SpMMBackward(CsrGraph graph, GraphPlan plan, in GkSpmmDesc desc, DeviceBuffer? x, DeviceBuffer? edge, DeviceBuffer? arg,
        DeviceBuffer gradY, long ldGradY, DeviceBuffer? gradX, long ldGradX, DeviceBuffer? gradEdge, long ldGradEdge, DeviceBuffer? workspace)
        => throw ManagedBackends.NotSupported("MessagePassing.SpMMBackward", Name);

    /// <summary>gk_spmm_multi_backward_workspace_size.</summary>
    long SpMMMultiBackwardWorkspaceBytes(CsrGraph graph, in GkSpmmDesc desc)
        => throw ManagedBackends.NotSupported("MessagePassing.SpMMMultiBackwardWorkspaceBytes", Name);

    /// <summary>MessagePassing.SpMMMultiBackward = gk_spmm_multi_backward (upstream gradients in gk_multi_reduce bit order, null = none).</summary>
    void SpMMMultiBackward(CsrGraph graph, GraphPlan plan, in GkSpmmDesc desc, DeviceBuffer? x, DeviceBuffer? edge, DeviceBuffer? gradSum,
        DeviceBuffer? gradMean, DeviceBuffer? gradMin, DeviceBuffer? gradMax, DeviceBuffer? gradVariance, DeviceBuffer? gradStd, long ldGrad,
        DeviceBuffer? gradX, long ldGradX, DeviceBuffer? gradEdge, long ldGradEdge, DeviceBuffer? workspace)
        => throw ManagedBackends.NotSupported("MessagePassing.SpMMMultiBackward", Name);
}

/// <summary>The fused message functions' part of the seam (built-ins only: user expressions are CUDA C for NVRTC).</summary>
internal unsafe partial interface IManagedBackend
{
    /// <summary>FusedMessage.Run with a built-in = gk_fused_message (ld of every operand = its width, as FusedMessage passes them).</summary>
    void FusedMessage(CsrGraph graph, FusedBuiltin builtin, Reduce reduce, long features, DeviceBuffer<float>? xSrc, DeviceBuffer<float>? xDst,
        DeviceBuffer<float>? edge, long edgeWidth, DeviceBuffer<float> y)
        => throw ManagedBackends.NotSupported("FusedMessage.Run", Name);
}
