using System;
using GraphKernels.Interop;

namespace GraphKernels;

/// <summary>Backward of the multi-reducer SpMM (<c>gk_spmm_multi_backward</c>).</summary>
public static unsafe partial class MessagePassing
{
    /// <summary>Workspace bytes <see cref="SpMMMultiBackward"/> needs: Nnz * F * 4 (dL/d message per edge and feature).</summary>
    /// <param name="graph">The graph.</param>
    /// <param name="options">The forward's options (Reduce = Sum, Flags = None).</param>
    /// <param name="features">F.</param>
    /// <returns>Bytes.</returns>
    /// <exception cref="GraphKernelsException">The native library refused the options.</exception>
    public static long SpMMMultiBackwardWorkspaceBytes(CsrGraph graph, in SpMMOptions options, long features)
    {
        ArgumentNullException.ThrowIfNull(graph);
        GkCsr csr = graph.ToNative(nameof(graph));
        GkSpmmDesc desc = Describe(options, features, NativeApi.DtypeF32);
        if (graph.Device.Managed is { } managed)
        {
            return managed.SpMMMultiBackwardWorkspaceBytes(graph, desc);
        }

        nuint bytes;
        int status = graph.Device.Api.gk_spmm_multi_backward_workspace_size(&csr, &desc, &bytes);
        if (status != 0)
        {
            graph.Device.Api.ThrowStatus(status, "gk_spmm_multi_backward_workspace_size");
        }

        return (long)bytes;
    }

    /// <summary>
    /// Backward of <see cref="SpMMMulti"/>: from the upstream gradients of the statistics (null for a statistic
    /// without one; at least one), dL/dX over the plan's transpose and dL/dE per edge. Nothing of the forward
    /// is saved: the backward refolds each row's messages as the forward does (its fp32 mean and M2, its
    /// first-wins min/max winners: ties give the whole gradient to the lowest CSR position). Where std = 0
    /// (all messages of a row equal) the std gradient is 0, not NaN. No atomics; bitwise reproducible.
    /// </summary>
    /// <param name="graph">The forward's graph.</param>
    /// <param name="plan">The graph's plan (its transpose gives dX).</param>
    /// <param name="options">The forward's options (Reduce = Sum, Flags = None; Ldy unused: gradients use <paramref name="ldGrad"/>).</param>
    /// <param name="features">F.</param>
    /// <param name="x">The forward's X (null for CopyE).</param>
    /// <param name="edge">The forward's edge operand (null for CopyU).</param>
    /// <param name="gradSum">dL/d sum [NumRows, F] or null.</param>
    /// <param name="gradMean">dL/d mean or null.</param>
    /// <param name="gradMin">dL/d min or null.</param>
    /// <param name="gradMax">dL/d max or null.</param>
    /// <param name="gradVariance">dL/d variance or null.</param>
    /// <param name="gradStd">dL/d std or null.</param>
    /// <param name="gradX">dL/dX [NumCols, F], overwritten; null to skip (must be null for CopyE).</param>
    /// <param name="gradEdge">dL/dE in the edge operand's shape, overwritten; null to skip (must be null for CopyU).</param>
    /// <param name="workspace"><see cref="SpMMMultiBackwardWorkspaceBytes"/> bytes (4-byte aligned).</param>
    /// <param name="ldGrad">Leading dimension of the upstream gradients (0 = F).</param>
    /// <param name="ldGradX">Leading dimension of gradX (0 = F).</param>
    /// <param name="ldGradEdge">Leading dimension of gradEdge (0 = the operand's width).</param>
    /// <param name="stream">The stream (default: the device's default stream).</param>
    /// <exception cref="ArgumentException">A shape, device or type mismatch, or no upstream gradient.</exception>
    /// <exception cref="GraphKernelsException">The native library refused the call.</exception>
    public static void SpMMMultiBackward(CsrGraph graph, GraphPlan plan, in SpMMOptions options, long features,
        DeviceBuffer? x, DeviceBuffer? edge,
        DeviceBuffer? gradSum, DeviceBuffer? gradMean, DeviceBuffer? gradMin, DeviceBuffer? gradMax, DeviceBuffer? gradVariance,
        DeviceBuffer? gradStd, DeviceBuffer? gradX, DeviceBuffer? gradEdge, DeviceBuffer? workspace = null,
        long ldGrad = 0, long ldGradX = 0, long ldGradEdge = 0, Stream? stream = null)
    {
        if (graph is null)
        {
            ThrowNull(nameof(graph));
        }

        if (plan is null)
        {
            ThrowNull(nameof(plan));
        }

        DeviceBuffer? reference = gradSum ?? gradMean ?? gradMin ?? gradMax ?? gradVariance ?? gradStd;
        if (reference is null)
        {
            ThrowArg(nameof(gradSum), "SpMMMultiBackward needs at least one upstream gradient.");
        }

        GraphDevice device = graph.Device;
        GkCsr csr = graph.ToNative(nameof(graph));
        CheckPlan(plan, graph, nameof(plan));
        GkPlan p = plan.ToNative(nameof(plan));
        GkSpmmDesc desc = Describe(options, features, DtypeOf(reference, "gradients"));
        long width = EdgeWidth(options, features);
        long ldg = ldGrad == 0 ? features : ldGrad;
        CheckValues(x, reference, device, graph.NumCols, desc.Ldx == 0 ? features : desc.Ldx, features, nameof(x), "NumCols");
        CheckValues(edge, reference, device, graph.Nnz, desc.Lde == 0 ? width : desc.Lde, width, nameof(edge), "Nnz");
        CheckValues(gradSum, reference, device, graph.NumRows, ldg, features, nameof(gradSum), "NumRows");
        CheckValues(gradMean, reference, device, graph.NumRows, ldg, features, nameof(gradMean), "NumRows");
        CheckValues(gradMin, reference, device, graph.NumRows, ldg, features, nameof(gradMin), "NumRows");
        CheckValues(gradMax, reference, device, graph.NumRows, ldg, features, nameof(gradMax), "NumRows");
        CheckValues(gradVariance, reference, device, graph.NumRows, ldg, features, nameof(gradVariance), "NumRows");
        CheckValues(gradStd, reference, device, graph.NumRows, ldg, features, nameof(gradStd), "NumRows");
        CheckValues(gradX, reference, device, graph.NumCols, ldGradX == 0 ? features : ldGradX, features, nameof(gradX), "NumCols");
        CheckValues(gradEdge, reference, device, graph.Nnz, ldGradEdge == 0 ? Math.Max(1, width) : ldGradEdge, width, nameof(gradEdge), "Nnz");
        CheckDeviceOpt(workspace, device, nameof(workspace));
        nint ps = StreamHandle(stream, device);
        if (device.Managed is { } managed)
        {
            managed.SpMMMultiBackward(graph, plan, desc, x, edge, gradSum, gradMean, gradMin, gradMax, gradVariance, gradStd, ldGrad,
                gradX, ldGradX, gradEdge, ldGradEdge, workspace);
            return;
        }

        var leases = default(BufferLeases);
        try
        {
            leases.Add(graph.RowPtr);
            leases.Add(graph.ColIdx);
            leases.Add(plan.TRowPtr);
            leases.Add(plan.TColIdx);
            leases.Add(plan.TransposePermutation);
            leases.Add(x);
            leases.Add(edge);
            leases.Add(gradSum);
            leases.Add(gradMean);
            leases.Add(gradMin);
            leases.Add(gradMax);
            leases.Add(gradVariance);
            leases.Add(gradStd);
            leases.Add(gradX);
            leases.Add(gradEdge);
            leases.Add(workspace);
            void** grads = stackalloc void*[6];
            grads[0] = (void*)Ptr(gradSum, nameof(gradSum));
            grads[1] = (void*)Ptr(gradMean, nameof(gradMean));
            grads[2] = (void*)Ptr(gradMin, nameof(gradMin));
            grads[3] = (void*)Ptr(gradMax, nameof(gradMax));
            grads[4] = (void*)Ptr(gradVariance, nameof(gradVariance));
            grads[5] = (void*)Ptr(gradStd, nameof(gradStd));
            uint stats = 0;
            for (int k = 0; k < 6; k++)
            {
                if (grads[k] != null)
                {
                    stats |= 1u << k;
                }
            }

            device.EnsureContext();
            int status = device.Api.gk_spmm_multi_backward(&csr, &p, &desc, stats, (void*)Ptr(x, nameof(x)), (void*)Ptr(edge, nameof(edge)),
                grads, ldGrad, (void*)Ptr(gradX, nameof(gradX)), ldGradX, (void*)Ptr(gradEdge, nameof(gradEdge)), ldGradEdge,
                (void*)Ptr(workspace, nameof(workspace)), (nuint)(workspace?.SizeInBytes ?? 0), (void*)ps);
            if (status != 0)
            {
                device.Api.ThrowStatus(status, "gk_spmm_multi_backward");
            }
        }
        finally
        {
            leases.Dispose();
        }
    }
}
