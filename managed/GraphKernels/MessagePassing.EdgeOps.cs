using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using GraphKernels.Interop;

namespace GraphKernels;

/// <summary>
/// Edge ops (docs/message_passing.md, "Edge ops"): SDDMM, edge softmax, segment reduce/gather, COO to
/// CSR, degree, and their backward. Feature and edge tensors are <c>DeviceBuffer&lt;float&gt;</c>,
/// <c>DeviceBuffer&lt;Half&gt;</c> or <c>DeviceBuffer&lt;ushort&gt;</c> (bf16 bits), dense row-major; all of one
/// call share the element type. Arithmetic is fp32 whatever the element type. Every output element is
/// written by one thread in a fixed order: results are bitwise reproducible run to run.
/// </summary>
public static unsafe partial class MessagePassing
{
    /// <summary>
    /// SDDMM: for every CSR position e of row v (u = ColIdx[e]), <c>output[e, :] = op(lhs[a(e), :], rhs[b(e), :])</c>,
    /// a(e) and b(e) being u, v or e as the targets say. <see cref="SddmmOp.Dot"/> writes [Nnz, heads] (a dot
    /// product over the features of each head); the elementwise ops write [Nnz, features] and need heads = 1.
    /// </summary>
    /// <param name="graph">The CSR graph (destination-major).</param>
    /// <param name="op">The per-edge operation.</param>
    /// <param name="features">Feature width F of both operands.</param>
    /// <param name="heads">Heads H (Dot: H divides F; otherwise 1).</param>
    /// <param name="lhsTarget">Where lhs rows come from.</param>
    /// <param name="lhs">Left operand, [rows of lhsTarget, F].</param>
    /// <param name="rhsTarget">Where rhs rows come from.</param>
    /// <param name="rhs">Right operand, [rows of rhsTarget, F].</param>
    /// <param name="output">[Nnz, H] (Dot) or [Nnz, F]; fully overwritten.</param>
    /// <param name="stream">The stream (default: the device's default stream).</param>
    /// <exception cref="ArgumentException">A shape, device or type mismatch.</exception>
    /// <exception cref="GraphKernelsException">The native library refused the call.</exception>
    public static void Sddmm(CsrGraph graph, SddmmOp op, long features, int heads,
        EdgeTarget lhsTarget, DeviceBuffer lhs, EdgeTarget rhsTarget, DeviceBuffer rhs, DeviceBuffer output, Stream? stream = null)
    {
        EdgeCheckSddmmArgs(graph, op, features, heads, lhsTarget, lhs, rhsTarget, rhs);
        if (output is null)
        {
            ThrowNull(nameof(output));
        }

        GraphDevice device = graph.Device;
        GkCsr csr = graph.ToNative(nameof(graph));
        int dtype = EdgeDtypeOf(lhs, nameof(lhs));
        long width = op == SddmmOp.Dot ? heads : features;
        nint pl = EdgeFeatureArg(lhs, device, dtype, graph.Nnz > 0 ? EdgeTargetRows(graph, lhsTarget) : 0, features, nameof(lhs));
        nint pr = EdgeFeatureArg(rhs, device, dtype, graph.Nnz > 0 ? EdgeTargetRows(graph, rhsTarget) : 0, features, nameof(rhs));
        nint po = EdgeFeatureArg(output, device, dtype, graph.Nnz, width, nameof(output));
        nint ps = EdgeStreamOf(stream, device);
        if (device.Managed is { } managed)
        {
            managed.Sddmm(graph, op, features, heads, lhsTarget, lhs, rhsTarget, rhs, output);
            return;
        }

        var leases = default(BufferLeases);
        try
        {
            leases.Add(graph.RowPtr);
            leases.Add(graph.ColIdx);
            leases.Add(lhs);
            leases.Add(rhs);
            leases.Add(output);
            device.EnsureContext();
            int status = device.Api.gk_sddmm(&csr, (int)op, dtype, features, heads, (int)lhsTarget, (void*)pl, features,
                (int)rhsTarget, (void*)pr, features, (void*)po, width, (void*)ps);
            if (status != 0)
            {
                device.Api.ThrowStatus(status, "gk_sddmm");
            }
        }
        finally
        {
            leases.Dispose();
        }
    }

    /// <summary>
    /// Backward of <see cref="Sddmm"/>: the gradients of lhs and/or rhs from the gradient of the output. An edge
    /// operand's gradient is per edge; a destination operand's is a sum over its CSR row (no atomics); a source
    /// operand's is a sum over its row of the transpose, which must then be given: <paramref name="transpose"/> is
    /// the by-source CSR (NumRows = graph.NumCols, ColIdx = destination) and <paramref name="permutation"/> [Nnz]
    /// maps each transposed position to the original CSR position, ascending within a source row (the graph
    /// plan's transpose). Gradients are fully overwritten (nodes with no edges get 0).
    /// </summary>
    /// <param name="graph">The forward's graph.</param>
    /// <param name="op">The forward's op.</param>
    /// <param name="features">The forward's F.</param>
    /// <param name="heads">The forward's H.</param>
    /// <param name="lhsTarget">The forward's lhs target.</param>
    /// <param name="lhs">The forward's lhs.</param>
    /// <param name="rhsTarget">The forward's rhs target.</param>
    /// <param name="rhs">The forward's rhs.</param>
    /// <param name="gradOutput">Gradient of the output, the output's shape.</param>
    /// <param name="gradLhs">Receives the lhs gradient (lhs's shape), or null to skip.</param>
    /// <param name="gradRhs">Receives the rhs gradient (rhs's shape), or null to skip.</param>
    /// <param name="transpose">The by-source CSR, needed when a requested gradient has a Source target.</param>
    /// <param name="permutation">The transpose's edge permutation (graph's index type), with <paramref name="transpose"/>.</param>
    /// <param name="stream">The stream (default: the device's default stream).</param>
    /// <exception cref="ArgumentException">A shape, device or type mismatch.</exception>
    /// <exception cref="GraphKernelsException">The native library refused the call.</exception>
    public static void SddmmBackward(CsrGraph graph, SddmmOp op, long features, int heads,
        EdgeTarget lhsTarget, DeviceBuffer lhs, EdgeTarget rhsTarget, DeviceBuffer rhs, DeviceBuffer gradOutput,
        DeviceBuffer? gradLhs, DeviceBuffer? gradRhs, CsrGraph? transpose = null, DeviceBuffer? permutation = null, Stream? stream = null)
    {
        EdgeCheckSddmmArgs(graph, op, features, heads, lhsTarget, lhs, rhsTarget, rhs);
        if (gradOutput is null)
        {
            ThrowNull(nameof(gradOutput));
        }

        GraphDevice device = graph.Device;
        GkCsr csr = graph.ToNative(nameof(graph));
        int dtype = EdgeDtypeOf(lhs, nameof(lhs));
        long width = op == SddmmOp.Dot ? heads : features;
        nint pl = EdgeFeatureArg(lhs, device, dtype, graph.Nnz > 0 ? EdgeTargetRows(graph, lhsTarget) : 0, features, nameof(lhs));
        nint pr = EdgeFeatureArg(rhs, device, dtype, graph.Nnz > 0 ? EdgeTargetRows(graph, rhsTarget) : 0, features, nameof(rhs));
        nint pg = EdgeFeatureArg(gradOutput, device, dtype, graph.Nnz, width, nameof(gradOutput));
        nint pgl = gradLhs is null ? 0 : EdgeFeatureArg(gradLhs, device, dtype, EdgeTargetRows(graph, lhsTarget), features, nameof(gradLhs));
        nint pgr = gradRhs is null ? 0 : EdgeFeatureArg(gradRhs, device, dtype, EdgeTargetRows(graph, rhsTarget), features, nameof(gradRhs));
        bool needTranspose = (gradLhs is not null && lhsTarget == EdgeTarget.Source) || (gradRhs is not null && rhsTarget == EdgeTarget.Source);
        GkCsr tcsr = default;
        nint pperm = 0;
        if (needTranspose)
        {
            if (transpose is null)
            {
                ThrowNull(nameof(transpose), "A gradient of a Source-target operand needs the transpose (by-source CSR) of the graph; transpose is null.");
            }

            if (permutation is null)
            {
                ThrowNull(nameof(permutation), "A gradient of a Source-target operand needs the transpose's edge permutation; permutation is null.");
            }

            if (!ReferenceEquals(transpose.Device, device))
            {
                ThrowArg(nameof(transpose), "transpose belongs to another device instance than the graph.");
            }

            tcsr = transpose.ToNative(nameof(transpose));
            pperm = EdgeIndexArg(permutation, device, graph.IndexType, graph.Nnz, nameof(permutation));
        }

        nint ps = EdgeStreamOf(stream, device);
        if (device.Managed is { } managed)
        {
            managed.SddmmBackward(graph, op, features, heads, lhsTarget, lhs, rhsTarget, rhs, gradOutput, gradLhs, gradRhs,
                needTranspose ? transpose : null, needTranspose ? permutation : null);
            return;
        }

        var leases = default(BufferLeases);
        try
        {
            leases.Add(graph.RowPtr);
            leases.Add(graph.ColIdx);
            leases.Add(lhs);
            leases.Add(rhs);
            leases.Add(gradOutput);
            leases.Add(gradLhs);
            leases.Add(gradRhs);
            if (needTranspose)
            {
                leases.Add(transpose!.RowPtr);
                leases.Add(transpose.ColIdx);
                leases.Add(permutation);
            }

            device.EnsureContext();
            int status = device.Api.gk_sddmm_backward(&csr, needTranspose ? &tcsr : null, (void*)pperm, (int)op, dtype, features, heads,
                (int)lhsTarget, (void*)pl, features, (int)rhsTarget, (void*)pr, features, (void*)pg, width,
                (void*)pgl, features, (void*)pgr, features, (void*)ps);
            if (status != 0)
            {
                device.Api.ThrowStatus(status, "gk_sddmm_backward");
            }
        }
        finally
        {
            leases.Dispose();
        }
    }

    /// <summary>
    /// <see cref="SddmmBackward(CsrGraph, SddmmOp, long, int, EdgeTarget, DeviceBuffer, EdgeTarget, DeviceBuffer, DeviceBuffer, DeviceBuffer?, DeviceBuffer?, CsrGraph?, DeviceBuffer?, Stream?)"/>
    /// with the transpose taken from the graph plan: <paramref name="plan"/>'s <see cref="GraphPlan.Transpose"/> and
    /// <see cref="GraphPlan.TransposePermutation"/> are passed as the transpose and its permutation, so the result is
    /// bitwise that of the explicit call with those two. The plan must have been built for <paramref name="graph"/>
    /// (same index type), as <see cref="SpMMBackward"/> requires; it is checked even when no Source-target gradient
    /// is requested.
    /// </summary>
    /// <param name="graph">The forward's graph.</param>
    /// <param name="plan">The graph's plan (built by <see cref="GraphPlan.Build"/> for <paramref name="graph"/>, not disposed).</param>
    /// <param name="op">The forward's op.</param>
    /// <param name="features">The forward's F.</param>
    /// <param name="heads">The forward's H.</param>
    /// <param name="lhsTarget">The forward's lhs target.</param>
    /// <param name="lhs">The forward's lhs.</param>
    /// <param name="rhsTarget">The forward's rhs target.</param>
    /// <param name="rhs">The forward's rhs.</param>
    /// <param name="gradOutput">Gradient of the output, the output's shape.</param>
    /// <param name="gradLhs">Receives the lhs gradient (lhs's shape), or null to skip.</param>
    /// <param name="gradRhs">Receives the rhs gradient (rhs's shape), or null to skip.</param>
    /// <param name="stream">The stream (default: the device's default stream).</param>
    /// <exception cref="ArgumentException">A shape, device or type mismatch, or a plan of another graph or index type.</exception>
    /// <exception cref="ObjectDisposedException">The plan has been disposed.</exception>
    /// <exception cref="GraphKernelsException">The native library refused the call.</exception>
    public static void SddmmBackward(CsrGraph graph, GraphPlan plan, SddmmOp op, long features, int heads,
        EdgeTarget lhsTarget, DeviceBuffer lhs, EdgeTarget rhsTarget, DeviceBuffer rhs, DeviceBuffer gradOutput,
        DeviceBuffer? gradLhs, DeviceBuffer? gradRhs, Stream? stream = null)
    {
        if (graph is null)
        {
            ThrowNull(nameof(graph));
        }

        if (plan is null)
        {
            ThrowNull(nameof(plan));
        }

        CheckPlan(plan, graph, nameof(plan));
        plan.ToNative(nameof(plan));
        if (plan.Transpose.IndexType != graph.IndexType)
        {
            ThrowArg(nameof(plan), "The plan's transpose has index type " + plan.Transpose.IndexType + " but the graph has " + graph.IndexType + ".");
        }

        SddmmBackward(graph, op, features, heads, lhsTarget, lhs, rhsTarget, rhs, gradOutput, gradLhs, gradRhs,
            plan.Transpose, plan.TransposePermutation, stream);
    }

    /// <summary>
    /// Edge softmax over the in-edges of each destination row, per head: <c>output[e, h] = exp(s[e, h] - m) / (sum + 1e-16)</c>
    /// with m the row's maximum (a row whose maximum is -inf uses 0, so all -inf scores give 0) and sum the row's sum of
    /// <c>exp(s - m)</c> (PyG <c>softmax</c>).
    /// </summary>
    /// <param name="graph">The CSR graph.</param>
    /// <param name="heads">Heads H (at least 1).</param>
    /// <param name="scores">[Nnz, H].</param>
    /// <param name="output">[Nnz, H], same element type; fully overwritten.</param>
    /// <param name="rowMax">Optional fp32 [NumRows, H]: the m used per row (0 for empty rows).</param>
    /// <param name="rowSum">Optional fp32 [NumRows, H]: the sum per row (0 for empty rows).</param>
    /// <param name="stream">The stream (default: the device's default stream).</param>
    /// <exception cref="ArgumentException">A shape, device or type mismatch.</exception>
    /// <exception cref="GraphKernelsException">The native library refused the call.</exception>
    public static void EdgeSoftmax(CsrGraph graph, long heads, DeviceBuffer scores, DeviceBuffer output,
        DeviceBuffer<float>? rowMax = null, DeviceBuffer<float>? rowSum = null, Stream? stream = null)
    {
        EdgeCheckSoftmaxArgs(graph, heads, scores, output);
        GraphDevice device = graph.Device;
        GkCsr csr = graph.ToNative(nameof(graph));
        int dtype = EdgeDtypeOf(scores, nameof(scores));
        nint pi = EdgeFeatureArg(scores, device, dtype, graph.Nnz, heads, nameof(scores));
        nint po = EdgeFeatureArg(output, device, dtype, graph.Nnz, heads, nameof(output));
        nint pm = rowMax is null ? 0 : EdgeFeatureArg(rowMax, device, 0, graph.NumRows, heads, nameof(rowMax));
        nint pz = rowSum is null ? 0 : EdgeFeatureArg(rowSum, device, 0, graph.NumRows, heads, nameof(rowSum));
        nint ps = EdgeStreamOf(stream, device);
        if (device.Managed is { } managed)
        {
            managed.EdgeSoftmax(graph, heads, scores, output, rowMax, rowSum);
            return;
        }

        var leases = default(BufferLeases);
        try
        {
            leases.Add(graph.RowPtr);
            leases.Add(graph.ColIdx);
            leases.Add(scores);
            leases.Add(output);
            leases.Add(rowMax);
            leases.Add(rowSum);
            device.EnsureContext();
            int status = device.Api.gk_edge_softmax(&csr, dtype, heads, (void*)pi, heads, (void*)po, heads, (float*)pm, (float*)pz, (void*)ps);
            if (status != 0)
            {
                device.Api.ThrowStatus(status, "gk_edge_softmax");
            }
        }
        finally
        {
            leases.Dispose();
        }
    }

    /// <summary>Backward of <see cref="EdgeSoftmax"/>: <c>gradScores[e, h] = y[e, h] (g[e, h] - sum over the row of y g)</c>, row-local.</summary>
    /// <param name="graph">The CSR graph.</param>
    /// <param name="heads">Heads H.</param>
    /// <param name="output">The forward's output y, [Nnz, H].</param>
    /// <param name="gradOutput">g, [Nnz, H].</param>
    /// <param name="gradScores">Receives the gradient of the scores, [Nnz, H].</param>
    /// <param name="stream">The stream (default: the device's default stream).</param>
    /// <exception cref="ArgumentException">A shape, device or type mismatch.</exception>
    /// <exception cref="GraphKernelsException">The native library refused the call.</exception>
    public static void EdgeSoftmaxBackward(CsrGraph graph, long heads, DeviceBuffer output, DeviceBuffer gradOutput, DeviceBuffer gradScores,
        Stream? stream = null)
    {
        EdgeCheckSoftmaxArgs(graph, heads, output, gradOutput);
        if (gradScores is null)
        {
            ThrowNull(nameof(gradScores));
        }

        GraphDevice device = graph.Device;
        GkCsr csr = graph.ToNative(nameof(graph));
        int dtype = EdgeDtypeOf(output, nameof(output));
        nint py = EdgeFeatureArg(output, device, dtype, graph.Nnz, heads, nameof(output));
        nint pg = EdgeFeatureArg(gradOutput, device, dtype, graph.Nnz, heads, nameof(gradOutput));
        nint pgs = EdgeFeatureArg(gradScores, device, dtype, graph.Nnz, heads, nameof(gradScores));
        nint ps = EdgeStreamOf(stream, device);
        if (device.Managed is { } managed)
        {
            managed.EdgeSoftmaxBackward(graph, heads, output, gradOutput, gradScores);
            return;
        }

        var leases = default(BufferLeases);
        try
        {
            leases.Add(graph.RowPtr);
            leases.Add(graph.ColIdx);
            leases.Add(output);
            leases.Add(gradOutput);
            leases.Add(gradScores);
            device.EnsureContext();
            int status = device.Api.gk_edge_softmax_backward(&csr, dtype, heads, (void*)py, heads, (void*)pg, heads, (void*)pgs, heads, (void*)ps);
            if (status != 0)
            {
                device.Api.ThrowStatus(status, "gk_edge_softmax_backward");
            }
        }
        finally
        {
            leases.Dispose();
        }
    }

    /// <summary>
    /// Segment reduce (torch_scatter <c>segment_csr</c>): <c>output[s, f] = reduce over p in [ptr[s], ptr[s+1]) of source[i(p), f]</c>,
    /// i(p) = permutation[p] when given (a scatter through <see cref="CooToCsr"/>'s permutation), else p. Empty segments give 0
    /// (arg -1); max/min ties go to the lowest position and NaN propagates; argOut receives i(p) of the winner.
    /// </summary>
    /// <param name="ptr">Segment offsets, [S + 1] of int or long: 0, non-decreasing, at most the source rows (trusted).</param>
    /// <param name="reduce">The reducer.</param>
    /// <param name="features">Feature width F.</param>
    /// <param name="source">[N, F]; N = source.Length / F.</param>
    /// <param name="output">[S, F], fully overwritten.</param>
    /// <param name="argOut">Optional for Max/Min: [S, F] of ptr's index type.</param>
    /// <param name="permutation">Optional [ptr[S]] of ptr's index type.</param>
    /// <param name="stream">The stream (default: the device's default stream).</param>
    /// <exception cref="ArgumentException">A shape, device or type mismatch.</exception>
    /// <exception cref="GraphKernelsException">The native library refused the call.</exception>
    public static void SegmentReduce(DeviceBuffer ptr, Reduce reduce, long features, DeviceBuffer source, DeviceBuffer output,
        DeviceBuffer? argOut = null, DeviceBuffer? permutation = null, Stream? stream = null)
    {
        if ((uint)reduce > (uint)Reduce.Min)
        {
            ThrowRange(nameof(reduce), (long)reduce, reduce == Reduce.Mul
                ? "(Reduce.Mul) is not supported by segment reduce; use Sum, Mean, Max or Min"
                : "is not a Reduce value");
        }

        if (argOut is not null && reduce is Reduce.Sum or Reduce.Mean)
        {
            ThrowArg(nameof(argOut), $"argOut is only produced by Reduce.Max and Reduce.Min; it must be null for Reduce.{reduce}.");
        }

        EdgeSegmentCall(ptr, (int)reduce, false, features, source, output, argOut, permutation, stream);
    }

    /// <summary>
    /// Gather (torch_scatter <c>gather_csr</c>): <c>output[i(p), :] = source[s, :]</c> for every position p of segment s
    /// (i(p) = permutation[p] or p). Output rows no position maps to are not written.
    /// </summary>
    /// <param name="ptr">Segment offsets, [S + 1] of int or long.</param>
    /// <param name="features">Feature width F.</param>
    /// <param name="source">[S, F].</param>
    /// <param name="output">[N, F]; N = output.Length / F.</param>
    /// <param name="permutation">Optional [ptr[S]] of ptr's index type.</param>
    /// <param name="stream">The stream (default: the device's default stream).</param>
    /// <exception cref="ArgumentException">A shape, device or type mismatch.</exception>
    /// <exception cref="GraphKernelsException">The native library refused the call.</exception>
    public static void GatherCsr(DeviceBuffer ptr, long features, DeviceBuffer source, DeviceBuffer output,
        DeviceBuffer? permutation = null, Stream? stream = null)
        => EdgeSegmentCall(ptr, 0, true, features, source, output, null, permutation, stream);

    /// <summary>
    /// Backward of <see cref="SegmentReduce"/>: Sum gathers the gradient to every member, Mean divides it by the count, Max/Min
    /// give it to the arg only (argOut of the forward, required), 0 elsewhere; one writer per element, no atomics.
    /// </summary>
    /// <param name="ptr">The forward's ptr.</param>
    /// <param name="reduce">The forward's reducer.</param>
    /// <param name="features">Feature width F.</param>
    /// <param name="gradOutput">[S, F].</param>
    /// <param name="gradSource">[N, F]; rows no position maps to are not written.</param>
    /// <param name="argOut">The forward's argOut (Max/Min only).</param>
    /// <param name="permutation">The forward's permutation, if any.</param>
    /// <param name="stream">The stream (default: the device's default stream).</param>
    /// <exception cref="ArgumentException">A shape, device or type mismatch.</exception>
    /// <exception cref="GraphKernelsException">The native library refused the call.</exception>
    public static void SegmentReduceBackward(DeviceBuffer ptr, Reduce reduce, long features, DeviceBuffer gradOutput, DeviceBuffer gradSource,
        DeviceBuffer? argOut = null, DeviceBuffer? permutation = null, Stream? stream = null)
    {
        if ((uint)reduce > (uint)Reduce.Min)
        {
            ThrowRange(nameof(reduce), (long)reduce, reduce == Reduce.Mul
                ? "(Reduce.Mul) is not supported by segment reduce; use Sum, Mean, Max or Min"
                : "is not a Reduce value");
        }

        bool extreme = reduce is Reduce.Max or Reduce.Min;
        if (extreme && argOut is null)
        {
            ThrowNull(nameof(argOut), $"The backward of Reduce.{reduce} needs the forward's argOut.");
        }

        if (!extreme && argOut is not null)
        {
            ThrowArg(nameof(argOut), $"argOut must be null for Reduce.{reduce}.");
        }

        int mode = reduce switch { Reduce.Sum => 0, Reduce.Mean => 1, _ => 2 };
        EdgeSegmentCall(ptr, mode, true, features, gradOutput, gradSource, argOut, permutation, stream);
    }

    /// <summary>Workspace bytes <see cref="CooToCsr"/> needs for <paramref name="numRows"/> rows: (numRows + 2) * 8.</summary>
    /// <param name="device">The device.</param>
    /// <param name="numRows">Rows of the CSR to build.</param>
    /// <returns>The byte count.</returns>
    /// <exception cref="GraphKernelsException">numRows is negative or too large.</exception>
    public static long CooToCsrWorkspaceBytes(GraphDevice device, long numRows)
    {
        if (device is null)
        {
            ThrowNull(nameof(device));
        }

        if (device.Managed is not null)
        {
            // The host-only size query of gk_coo_to_csr_workspace_size, with its check and sentence.
            if (numRows < 0 || numRows > (long.MaxValue / 8) - 2)
            {
                throw new GraphKernelsException(GkStatus.InvalidArgument,
                    $"gk_coo_to_csr_workspace_size: num_rows = {numRows} is negative or too large");
            }

            return (numRows + 2) * 8;
        }

        nuint bytes;
        int status = device.Api.gk_coo_to_csr_workspace_size(numRows, &bytes);
        if (status != 0)
        {
            device.Api.ThrowStatus(status, "gk_coo_to_csr_workspace_size");
        }

        return (long)bytes;
    }

    /// <summary>
    /// COO to destination-major CSR with the edge permutation: <c>permutation[t]</c> is the COO position of CSR position t,
    /// ascending within each row (stable, deterministic). An index outside its range throws
    /// <see cref="GraphKernelsException"/> (InvalidGraph) naming the lowest bad position, outputs untouched.
    /// SYNCHRONISES the stream (the range check is read back before any output is written).
    /// </summary>
    /// <param name="destination">[E] destination (row) of each COO entry, int or long.</param>
    /// <param name="source">[E] source (column) of each entry, same type, or null (then colIdx must be null).</param>
    /// <param name="numRows">Rows M.</param>
    /// <param name="numCols">Columns K (checked against source).</param>
    /// <param name="rowPtr">Receives [M + 1].</param>
    /// <param name="colIdx">Receives [E] (source reordered), or null.</param>
    /// <param name="permutation">Receives [E].</param>
    /// <param name="workspace">At least <see cref="CooToCsrWorkspaceBytes"/> bytes (any element type).</param>
    /// <param name="stream">The stream (default: the device's default stream).</param>
    /// <exception cref="ArgumentException">A shape, device or type mismatch.</exception>
    /// <exception cref="GraphKernelsException">The native library refused the call.</exception>
    public static void CooToCsr(DeviceBuffer destination, DeviceBuffer? source, long numRows, long numCols, DeviceBuffer rowPtr,
        DeviceBuffer? colIdx, DeviceBuffer permutation, DeviceBuffer workspace, Stream? stream = null)
    {
        if (destination is null)
        {
            ThrowNull(nameof(destination));
        }

        if (rowPtr is null)
        {
            ThrowNull(nameof(rowPtr));
        }

        if (permutation is null)
        {
            ThrowNull(nameof(permutation));
        }

        if (workspace is null)
        {
            ThrowNull(nameof(workspace));
        }

        if (numRows < 0)
        {
            ThrowRange(nameof(numRows), numRows, "must not be negative");
        }

        GraphDevice device = destination.DeviceCore;
        IndexType index = CsrGraph.IndexTypeOf(destination.ElementType, nameof(destination));
        long nnz = destination.Length;
        nint pd = destination.PointerChecked(nameof(destination));
        nint psrc = source is null ? 0 : EdgeIndexArg(source, device, index, nnz, nameof(source));
        nint prp = EdgeIndexArg(rowPtr, device, index, numRows + 1, nameof(rowPtr));
        nint pci = colIdx is null ? 0 : EdgeIndexArg(colIdx, device, index, nnz, nameof(colIdx));
        nint pp = EdgeIndexArg(permutation, device, index, nnz, nameof(permutation));
        nint pw = workspace.PointerChecked(nameof(workspace));
        CheckDevice(workspace, device, nameof(workspace));
        nint ps = EdgeStreamOf(stream, device);
        if (device.Managed is { } managed)
        {
            managed.CooToCsr(destination, source, numRows, numCols, rowPtr, colIdx, permutation, workspace);
            return;
        }

        var leases = default(BufferLeases);
        try
        {
            leases.Add(destination);
            leases.Add(source);
            leases.Add(rowPtr);
            leases.Add(colIdx);
            leases.Add(permutation);
            leases.Add(workspace);
            device.EnsureContext();
            int status = device.Api.gk_coo_to_csr((int)index, nnz, (void*)pd, (void*)psrc, numRows, numCols, (void*)prp, (void*)pci, (void*)pp,
                (void*)pw, (nuint)workspace.SizeInBytes, (void*)ps);
            if (status != 0)
            {
                device.Api.ThrowStatus(status, "gk_coo_to_csr");
            }
        }
        finally
        {
            leases.Dispose();
        }
    }

    /// <summary>Degrees of a CSR graph into <paramref name="output"/> (the graph's index type): In = [NumRows], Out = [NumCols].</summary>
    /// <param name="graph">The graph.</param>
    /// <param name="kind">In- or out-degree.</param>
    /// <param name="output">Receives the degrees.</param>
    /// <param name="stream">The stream (default: the device's default stream).</param>
    /// <exception cref="ArgumentException">A shape, device or type mismatch.</exception>
    /// <exception cref="GraphKernelsException">The native library refused the call.</exception>
    public static void Degree(CsrGraph graph, DegreeKind kind, DeviceBuffer output, Stream? stream = null)
    {
        if (graph is null)
        {
            ThrowNull(nameof(graph));
        }

        if (output is null)
        {
            ThrowNull(nameof(output));
        }

        if ((uint)kind > (uint)DegreeKind.Out)
        {
            ThrowRange(nameof(kind), (long)kind, "is not a DegreeKind value");
        }

        GraphDevice device = graph.Device;
        GkCsr csr = graph.ToNative(nameof(graph));
        nint po = EdgeIndexArg(output, device, graph.IndexType, kind == DegreeKind.In ? graph.NumRows : graph.NumCols, nameof(output));
        nint ps = EdgeStreamOf(stream, device);
        if (device.Managed is { } managed)
        {
            managed.Degree(graph, kind, output);
            return;
        }

        var leases = default(BufferLeases);
        try
        {
            leases.Add(graph.RowPtr);
            leases.Add(graph.ColIdx);
            leases.Add(output);
            device.EnsureContext();
            int status = device.Api.gk_degree(&csr, (int)kind, (void*)po, (void*)ps);
            if (status != 0)
            {
                device.Api.ThrowStatus(status, "gk_degree");
            }
        }
        finally
        {
            leases.Dispose();
        }
    }

    private static void EdgeSegmentCall(DeviceBuffer ptr, int reduceOrMode, bool gather, long features, DeviceBuffer source, DeviceBuffer output,
        DeviceBuffer? arg, DeviceBuffer? permutation, Stream? stream)
    {
        if (ptr is null)
        {
            ThrowNull(nameof(ptr));
        }

        if (source is null)
        {
            ThrowNull(nameof(source));
        }

        if (output is null)
        {
            ThrowNull(nameof(output));
        }

        if (features < 1)
        {
            ThrowRange(nameof(features), features, "must be at least 1");
        }

        if (ptr.Length < 1)
        {
            ThrowArg(nameof(ptr), "ptr must have at least one entry (num_segments + 1).");
        }

        GraphDevice device = ptr.DeviceCore;
        IndexType index = CsrGraph.IndexTypeOf(ptr.ElementType, nameof(ptr));
        long segments = ptr.Length - 1;
        int dtype = EdgeDtypeOf(source, nameof(source));
        nint pptr = ptr.PointerChecked(nameof(ptr));
        long wideRows = gather ? output.Length / features : source.Length / features;
        nint psrc = EdgeFeatureArg(source, device, dtype, gather ? segments : wideRows, features, nameof(source));
        nint pout = EdgeFeatureArg(output, device, dtype, gather ? wideRows : segments, features, nameof(output));
        nint parg = arg is null ? 0 : EdgeIndexArg(arg, device, index, segments * features, nameof(arg));
        nint pperm = permutation is null ? 0 : EdgeIndexArg(permutation, device, index, wideRows, nameof(permutation));
        nint ps = EdgeStreamOf(stream, device);
        if (device.Managed is { } managed)
        {
            if (gather)
            {
                managed.SegmentGather(ptr, segments, permutation, wideRows, reduceOrMode, features, source, arg, output);
            }
            else
            {
                managed.SegmentReduce(ptr, segments, permutation, wideRows, reduceOrMode, features, source, output, arg);
            }

            return;
        }

        var leases = default(BufferLeases);
        try
        {
            leases.Add(ptr);
            leases.Add(source);
            leases.Add(output);
            leases.Add(arg);
            leases.Add(permutation);
            device.EnsureContext();
            int status = gather
                ? device.Api.gk_segment_gather((int)index, segments, (void*)pptr, (void*)pperm, wideRows, reduceOrMode, dtype, features,
                    (void*)psrc, features, (void*)parg, features, (void*)pout, features, (void*)ps)
                : device.Api.gk_segment_reduce((int)index, segments, (void*)pptr, (void*)pperm, wideRows, reduceOrMode, dtype, features,
                    (void*)psrc, features, (void*)pout, features, (void*)parg, features, (void*)ps);
            if (status != 0)
            {
                device.Api.ThrowStatus(status, gather ? "gk_segment_gather" : "gk_segment_reduce");
            }
        }
        finally
        {
            leases.Dispose();
        }
    }

    private static void EdgeCheckSddmmArgs(CsrGraph graph, SddmmOp op, long features, int heads,
        EdgeTarget lhsTarget, DeviceBuffer lhs, EdgeTarget rhsTarget, DeviceBuffer rhs)
    {
        if (graph is null)
        {
            ThrowNull(nameof(graph));
        }

        if (lhs is null)
        {
            ThrowNull(nameof(lhs));
        }

        if (rhs is null)
        {
            ThrowNull(nameof(rhs));
        }

        if ((uint)op > (uint)SddmmOp.Div)
        {
            ThrowRange(nameof(op), (long)op, "is not an SddmmOp value");
        }

        if ((uint)lhsTarget > (uint)EdgeTarget.Edge)
        {
            ThrowRange(nameof(lhsTarget), (long)lhsTarget, "is not an EdgeTarget value");
        }

        if ((uint)rhsTarget > (uint)EdgeTarget.Edge)
        {
            ThrowRange(nameof(rhsTarget), (long)rhsTarget, "is not an EdgeTarget value");
        }

        if (features < 1)
        {
            ThrowRange(nameof(features), features, "must be at least 1");
        }

        if (op == SddmmOp.Dot ? heads < 1 || features % heads != 0 : heads != 1)
        {
            ThrowRange(nameof(heads), heads, op == SddmmOp.Dot
                ? "must be at least 1 and divide features = " + features.ToString()
                : "must be 1 for an elementwise op (the output is [Nnz, features])");
        }
    }

    private static void EdgeCheckSoftmaxArgs(CsrGraph graph, long heads, DeviceBuffer a, DeviceBuffer b,
        [CallerArgumentExpression(nameof(a))] string aName = "", [CallerArgumentExpression(nameof(b))] string bName = "")
    {
        if (graph is null)
        {
            ThrowNull(nameof(graph));
        }

        if (a is null)
        {
            ThrowNull(aName);
        }

        if (b is null)
        {
            ThrowNull(bName);
        }

        if (heads < 1)
        {
            ThrowRange(nameof(heads), heads, "must be at least 1");
        }
    }

    private static long EdgeTargetRows(CsrGraph graph, EdgeTarget target)
        => target switch { EdgeTarget.Source => graph.NumCols, EdgeTarget.Destination => graph.NumRows, _ => graph.Nnz };

    /// <summary>gk_dtype of a feature buffer: float = F32, Half = F16, ushort = BF16 bits.</summary>
    private static int EdgeDtypeOf(DeviceBuffer buffer, string paramName)
    {
        Type t = buffer.ElementType;
        if (t == typeof(float))
        {
            return 0;
        }

        if (t == typeof(Half))
        {
            return 1;
        }

        if (t == typeof(ushort))
        {
            return 2;
        }

        ThrowArg(paramName, $"{paramName} has element type {t.Name}; expected float, Half or ushort (bf16 bits).");
        return -1;
    }

    /// <summary>A dense [rows, width] feature buffer of the call's dtype on the device; returns its pointer.</summary>
    private static nint EdgeFeatureArg(DeviceBuffer buffer, GraphDevice device, int dtype, long rows, long width, string paramName)
    {
        nint p = buffer.PointerChecked(paramName);
        CheckDevice(buffer, device, paramName);
        if (EdgeDtypeOf(buffer, paramName) != dtype)
        {
            ThrowArg(paramName, $"{paramName} has element type {buffer.ElementType.Name}, unlike the call's other feature tensors.");
        }

        CheckLength(buffer.Length, rows, width, width, paramName, "rows");
        return p;
    }

    /// <summary>An index buffer of the given index type with at least minLength elements; returns its pointer.</summary>
    private static nint EdgeIndexArg(DeviceBuffer buffer, GraphDevice device, IndexType index, long minLength, string paramName)
    {
        nint p = buffer.PointerChecked(paramName);
        CheckDevice(buffer, device, paramName);
        Type expected = index == IndexType.Int32 ? typeof(int) : typeof(long);
        if (buffer.ElementType != expected)
        {
            ThrowArg(paramName, $"{paramName} has element type {buffer.ElementType.Name} but the index type is {index}.");
        }

        if (buffer.Length < minLength)
        {
            ThrowArg(paramName, $"{paramName} has {buffer.Length} elements but needs {minLength}.");
        }

        return p;
    }

    private static nint EdgeStreamOf(Stream? stream, GraphDevice device)
    {
        if (stream is null)
        {
            return 0;
        }

        if (!ReferenceEquals(stream.Device, device))
        {
            ThrowArg(nameof(stream), "The stream belongs to another device (" + stream.Device.Name + ").");
        }

        if (stream.IsDisposed)
        {
            throw new ObjectDisposedException(nameof(stream), "The stream has been disposed.");
        }

        return stream.NativeHandle;
    }
}
