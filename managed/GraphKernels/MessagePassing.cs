using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using GraphKernels.Interop;

namespace GraphKernels;

/// <summary>Sparse message passing over CSR graphs (gather, apply, scatter).</summary>
public static unsafe partial class MessagePassing
{
    /// <summary>
    /// <c>Y[v, f] = reduce over CSR positions e of row v of message(X[col[e], f], w[e])</c>, for v in
    /// [0, NumRows), f in [0, features). Stream-ordered: returns before a CUDA device has finished.
    /// </summary>
    /// <param name="graph">The CSR graph (destination-major).</param>
    /// <param name="message">The per-edge message.</param>
    /// <param name="reduce">The reduction over each row.</param>
    /// <param name="features">Number of feature columns F (at least 1).</param>
    /// <param name="x">Source features, [NumCols, F] with leading dimension <paramref name="ldx"/>.</param>
    /// <param name="y">Output, [NumRows, F] with leading dimension <paramref name="ldy"/>; columns &gt;= F of each row are not touched.</param>
    /// <param name="edgeWeight">One weight per CSR position; required for <see cref="Message.UMulE"/>, must be null for <see cref="Message.CopyU"/>.</param>
    /// <param name="argOut">Optional for Max/Min (null to skip), must be null for Sum/Mean: receives the winning CSR position, -1 for empty rows; element type = the graph's index type.</param>
    /// <param name="ldx">Leading dimension of x in elements; 0 means <paramref name="features"/>.</param>
    /// <param name="ldy">Leading dimension of y in elements; 0 means <paramref name="features"/>.</param>
    /// <param name="ldArg">Leading dimension of argOut in elements; 0 means <paramref name="features"/>.</param>
    /// <param name="stream">The stream (default: the device's default stream).</param>
    /// <exception cref="ArgumentException">A shape, device or type mismatch (ParamName says which argument).</exception>
    /// <exception cref="ObjectDisposedException">The graph or a buffer has been disposed.</exception>
    /// <exception cref="GraphKernelsException">The native library refused the call.</exception>
    public static void SpMM(CsrGraph graph, Message message, Reduce reduce, long features,
        DeviceBuffer<float> x, DeviceBuffer<float> y,
        DeviceBuffer<float>? edgeWeight = null, DeviceBuffer? argOut = null,
        long ldx = 0, long ldy = 0, long ldArg = 0, Stream? stream = null)
    {
        if (graph is null)
        {
            ThrowNull(nameof(graph));
        }

        if (x is null)
        {
            ThrowNull(nameof(x));
        }

        if (y is null)
        {
            ThrowNull(nameof(y));
        }

        if ((uint)message > (uint)Message.UMulE)
        {
            ThrowRange(nameof(message), (long)message, "is not CopyU or UMulE (the SpMMOptions overload takes the other messages)");
        }

        if ((uint)reduce > (uint)Reduce.Min)
        {
            ThrowRange(nameof(reduce), (long)reduce, "is not Sum, Mean, Max or Min (the SpMMOptions overload takes Mul)");
        }

        if (features < 1)
        {
            ThrowRange(nameof(features), features, "must be at least 1");
        }

        if (ldx == 0)
        {
            ldx = features;
        }
        else if (ldx < features)
        {
            ThrowRange(nameof(ldx), ldx, "must be 0 (= features) or at least features = " + features.ToString());
        }

        if (ldy == 0)
        {
            ldy = features;
        }
        else if (ldy < features)
        {
            ThrowRange(nameof(ldy), ldy, "must be 0 (= features) or at least features = " + features.ToString());
        }

        if (ldArg == 0)
        {
            ldArg = features;
        }
        else if (ldArg < features)
        {
            ThrowRange(nameof(ldArg), ldArg, "must be 0 (= features) or at least features = " + features.ToString());
        }

        GraphDevice device = graph.Device;
        GkCsr csr = graph.ToNative(nameof(graph));

        nint px = x.PointerChecked(nameof(x));
        CheckDevice(x, device, nameof(x));
        CheckLength(x.Length, graph.NumCols, ldx, features, nameof(x), "NumCols");

        nint py = y.PointerChecked(nameof(y));
        CheckDevice(y, device, nameof(y));
        CheckLength(y.Length, graph.NumRows, ldy, features, nameof(y), "NumRows");

        nint pw = 0;
        if (message == Message.UMulE)
        {
            if (edgeWeight is null)
            {
                ThrowNull(nameof(edgeWeight), "Message.UMulE needs one edge weight per CSR position; edgeWeight is null.");
            }

            pw = edgeWeight.PointerChecked(nameof(edgeWeight));
            CheckDevice(edgeWeight, device, nameof(edgeWeight));
            if (edgeWeight.Length < graph.Nnz)
            {
                ThrowArg(nameof(edgeWeight), $"edgeWeight has {edgeWeight.Length} elements but the graph has Nnz = {graph.Nnz} edges.");
            }
        }
        else if (edgeWeight is not null)
        {
            ThrowArg(nameof(edgeWeight), "Message.CopyU uses no edge weights; edgeWeight must be null.");
        }

        nint pa = 0;
        if (argOut is not null)
        {
            if (reduce is Reduce.Sum or Reduce.Mean)
            {
                ThrowArg(nameof(argOut), $"argOut is only produced by Reduce.Max and Reduce.Min; it must be null for Reduce.{reduce}.");
            }

            pa = argOut.PointerChecked(nameof(argOut));
            CheckDevice(argOut, device, nameof(argOut));
            Type expected = graph.IndexType == IndexType.Int32 ? typeof(int) : typeof(long);
            if (argOut.ElementType != expected)
            {
                ThrowArg(nameof(argOut), $"argOut has element type {argOut.ElementType.Name} but the graph's index type is {graph.IndexType}.");
            }

            CheckLength(argOut.Length, graph.NumRows, ldArg, features, nameof(argOut), "NumRows");
        }

        nint ps = 0;
        if (stream is not null)
        {
            if (!ReferenceEquals(stream.Device, device))
            {
                ThrowArg(nameof(stream), "The stream belongs to another device (" + stream.Device.Name + ").");
            }

            if (stream.IsDisposed)
            {
                throw new ObjectDisposedException(nameof(stream), "The stream has been disposed.");
            }

            ps = stream.NativeHandle;
        }

        if (device.Managed is { } managed)
        {
            managed.SpMM(graph, message, reduce, features, x, ldx, edgeWeight, y, ldy, argOut, ldArg);
            return;
        }

        // Keep every buffer alive for the duration of the native call, even against a concurrent Dispose.
        var leases = default(BufferLeases);
        try
        {
            leases.Add(graph.RowPtr);
            leases.Add(graph.ColIdx);
            leases.Add(x);
            leases.Add(y);
            leases.Add(pw != 0 ? edgeWeight : null);
            leases.Add(pa != 0 ? argOut : null);
            device.EnsureContext();

            // On CUDA, F in {16, 32, 64, 128, 256} runs the NVRTC-specialised kernel when it can be had
            // (MessagePassing.Specialised.cs, docs/jit.md); otherwise, and on any failure, gk_spmm below.
            if (device.Kind == DeviceKind.Cuda && SpecialisedSpmm.TryRun(device, csr, message, reduce, features, px, ldx, x.SizeInBytes,
                    pw, pw != 0 ? edgeWeight!.SizeInBytes : 0, py, ldy, y.SizeInBytes, pa != 0, ps))
            {
                return;
            }

            int status = device.Api.gk_spmm(&csr, (int)message, (int)reduce, NativeApi.DtypeF32, features,
                (void*)px, ldx, (void*)pw, (void*)py, ldy, (void*)pa, ldArg, (void*)ps);
            if (status != 0)
            {
                device.Api.ThrowStatus(status, "gk_spmm");
            }
        }
        finally
        {
            leases.Dispose();
        }
    }

    /// <summary>
    /// Raw overload for other .NET stacks (TorchSharp's data_ptr and a CUstream): every array is a device
    /// pointer and the graph is given by its parts. Only the native checks apply (null pointers, sizes,
    /// leading dimensions); lengths cannot be checked here.
    /// </summary>
    /// <param name="device">The device the pointers belong to.</param>
    /// <param name="rowPtr">Row offsets, numRows + 1 entries of <paramref name="indexType"/>.</param>
    /// <param name="colIdx">Column indices, nnz entries of <paramref name="indexType"/>.</param>
    /// <param name="numRows">Number of rows.</param>
    /// <param name="numCols">Number of columns.</param>
    /// <param name="nnz">Number of edges.</param>
    /// <param name="indexType">The index element type.</param>
    /// <param name="message">The per-edge message.</param>
    /// <param name="reduce">The reduction.</param>
    /// <param name="features">Number of feature columns.</param>
    /// <param name="x">Source features (float32).</param>
    /// <param name="ldx">Leading dimension of x (elements, &gt;= features).</param>
    /// <param name="edgeWeight">Edge weights (float32) or 0.</param>
    /// <param name="y">Output (float32).</param>
    /// <param name="ldy">Leading dimension of y.</param>
    /// <param name="argOut">Arg output (index type) or 0.</param>
    /// <param name="ldArg">Leading dimension of argOut.</param>
    /// <param name="stream">A CUstream / cudaStream_t, 0 for the legacy default stream.</param>
    /// <exception cref="GraphKernelsException">The native library refused the call.</exception>
    public static void SpMM(GraphDevice device, nint rowPtr, nint colIdx, long numRows, long numCols, long nnz, IndexType indexType,
        Message message, Reduce reduce, long features, nint x, long ldx, nint edgeWeight, nint y, long ldy, nint argOut, long ldArg,
        nint stream)
    {
        if (device is null)
        {
            ThrowNull(nameof(device));
        }

        device.ThrowIfDisposed();
        GkCsr csr;
        csr.NumRows = numRows;
        csr.NumCols = numCols;
        csr.Nnz = nnz;
        csr.IndexType = (int)indexType;
        csr.Reserved = 0;
        csr.RowPtr = rowPtr;
        csr.ColIdx = colIdx;
        device.EnsureContext();
        int status = device.Api.gk_spmm(&csr, (int)message, (int)reduce, NativeApi.DtypeF32, features,
            (void*)x, ldx, (void*)edgeWeight, (void*)y, ldy, (void*)argOut, ldArg, (void*)stream);
        if (status != 0)
        {
            device.Api.ThrowStatus(status, "gk_spmm");
        }
    }

    /// <summary>
    /// Generalized SpMM (<c>gk_spmm_ex</c>): <c>Y[v, f] = reduce over CSR positions e of row v of msg(X[col[e], f], E(e, f))</c>
    /// with the message, edge operand shape, reducer and flags of <paramref name="options"/>. Values are float32,
    /// <see cref="Half"/> or bf16 bits (<c>ushort</c>): x, edge and y share one element type; accumulation is fp32.
    /// Deterministic (bitwise reproducible). Stream-ordered.
    /// </summary>
    /// <param name="graph">The CSR graph (destination-major).</param>
    /// <param name="options">Message, reducer, edge operand shape, heads, flags and leading dimensions.</param>
    /// <param name="features">F, at least 1.</param>
    /// <param name="x">Source features [NumCols, F]; null for <see cref="Message.CopyE"/>.</param>
    /// <param name="edge">Edge operand [Nnz, 1 | H | F]; null for <see cref="Message.CopyU"/>.</param>
    /// <param name="y">Output [NumRows, F] (overwritten, or added to with <see cref="SpMMFlags.Accumulate"/>).</param>
    /// <param name="argOut">Optional for Max/Min: winning CSR positions (the graph's index type), -1 for empty rows.</param>
    /// <param name="plan">The graph's plan; required with <see cref="SpMMFlags.Chunked"/>.</param>
    /// <param name="workspace">With <see cref="SpMMFlags.Chunked"/>: <see cref="SpMMWorkspaceBytes"/> bytes.</param>
    /// <param name="stream">The stream (default: the device's default stream).</param>
    /// <exception cref="ArgumentException">A shape, device or type mismatch (ParamName says which argument).</exception>
    /// <exception cref="GraphKernelsException">The native library refused the call.</exception>
    public static void SpMM(CsrGraph graph, in SpMMOptions options, long features, DeviceBuffer? x, DeviceBuffer? edge,
        DeviceBuffer y, DeviceBuffer? argOut = null, GraphPlan? plan = null, DeviceBuffer? workspace = null, Stream? stream = null)
    {
        if (graph is null)
        {
            ThrowNull(nameof(graph));
        }

        if (y is null)
        {
            ThrowNull(nameof(y));
        }

        GraphDevice device = graph.Device;
        GkCsr csr = graph.ToNative(nameof(graph));
        GkSpmmDesc desc = Describe(options, features, DtypeOf(y, nameof(y)));
        long width = EdgeWidth(options, features);
        CheckValues(x, y, device, graph.NumCols, desc.Ldx == 0 ? features : desc.Ldx, features, nameof(x), "NumCols");
        CheckValues(edge, y, device, graph.Nnz, desc.Lde == 0 ? width : desc.Lde, width, nameof(edge), "Nnz");
        CheckValues(y, y, device, graph.NumRows, desc.Ldy == 0 ? features : desc.Ldy, features, nameof(y), "NumRows");
        if (argOut is not null)
        {
            CheckIndexBuffer(argOut, graph, device, nameof(argOut));
            CheckLength(argOut.Length, graph.NumRows, desc.LdArg == 0 ? features : desc.LdArg, features, nameof(argOut), "NumRows");
        }

        GkPlan p = default;
        GkPlan* pp = null;
        if (plan is not null)
        {
            CheckPlan(plan, graph, nameof(plan));
            p = plan.ToNative(nameof(plan));
            pp = &p;
        }

        CheckDeviceOpt(workspace, device, nameof(workspace));
        nint ps = StreamHandle(stream, device);
        if (device.Managed is { } managed)
        {
            managed.SpMMEx(graph, desc, x, edge, y, argOut, plan, workspace);
            return;
        }

        var leases = default(BufferLeases);
        try
        {
            leases.Add(graph.RowPtr);
            leases.Add(graph.ColIdx);
            leases.Add(x);
            leases.Add(edge);
            leases.Add(y);
            leases.Add(argOut);
            leases.Add(workspace);
            if (plan is not null)
            {
                leases.Add(plan.RowItemPtr);
                leases.Add(plan.ItemRow);
            }

            device.EnsureContext();
            int status = device.Api.gk_spmm_ex(&csr, &desc, (void*)Ptr(x, nameof(x)), (void*)Ptr(edge, nameof(edge)),
                (void*)Ptr(y, nameof(y)), (void*)Ptr(argOut, nameof(argOut)), pp, (void*)Ptr(workspace, nameof(workspace)),
                (nuint)(workspace?.SizeInBytes ?? 0), (void*)ps);
            if (status != 0)
            {
                device.Api.ThrowStatus(status, "gk_spmm_ex");
            }
        }
        finally
        {
            leases.Dispose();
        }
    }

    /// <summary>Workspace bytes <see cref="SpMM(CsrGraph, in SpMMOptions, long, DeviceBuffer?, DeviceBuffer?, DeviceBuffer, DeviceBuffer?, GraphPlan?, DeviceBuffer?, Stream?)"/> needs (0 unless chunked).</summary>
    /// <param name="graph">The graph.</param>
    /// <param name="options">The options of the call.</param>
    /// <param name="features">F.</param>
    /// <param name="valueType">typeof(float), typeof(Half) or typeof(ushort) (bf16).</param>
    /// <param name="plan">The plan (required with <see cref="SpMMFlags.Chunked"/>).</param>
    /// <returns>Bytes.</returns>
    public static long SpMMWorkspaceBytes(CsrGraph graph, in SpMMOptions options, long features, Type valueType, GraphPlan? plan = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(valueType);
        GkCsr csr = graph.ToNative(nameof(graph));
        GkSpmmDesc desc = Describe(options, features, DtypeOfType(valueType, nameof(valueType)));
        GkPlan p = default;
        GkPlan* pp = null;
        if (plan is not null)
        {
            p = plan.ToNative(nameof(plan));
            pp = &p;
        }

        if (graph.Device.Managed is { } managed)
        {
            return managed.SpMMWorkspaceBytes(graph, desc, plan);
        }

        nuint bytes;
        int status = graph.Device.Api.gk_spmm_ex_workspace_size(&csr, &desc, pp, &bytes);
        if (status != 0)
        {
            graph.Device.Api.ThrowStatus(status, "gk_spmm_ex_workspace_size");
        }

        return (long)bytes;
    }

    /// <summary>Workspace bytes <see cref="SpMMBackward"/> needs (E * F * 4 for <see cref="Reduce.Mul"/>, else 0).</summary>
    /// <param name="graph">The graph.</param>
    /// <param name="options">The forward's options.</param>
    /// <param name="features">F.</param>
    /// <returns>Bytes.</returns>
    public static long SpMMBackwardWorkspaceBytes(CsrGraph graph, in SpMMOptions options, long features)
    {
        ArgumentNullException.ThrowIfNull(graph);
        GkCsr csr = graph.ToNative(nameof(graph));
        GkSpmmDesc desc = Describe(options, features, NativeApi.DtypeF32);
        if (graph.Device.Managed is { } managed)
        {
            return managed.SpMMBackwardWorkspaceBytes(graph, desc);
        }

        nuint bytes;
        int status = graph.Device.Api.gk_spmm_backward_workspace_size(&csr, &desc, &bytes);
        if (status != 0)
        {
            graph.Device.Api.ThrowStatus(status, "gk_spmm_backward_workspace_size");
        }

        return (long)bytes;
    }

    /// <summary>
    /// Backward of the generalized SpMM (<c>gk_spmm_backward</c>): from dL/dY, dL/dX over the plan's transpose
    /// (one owner per element, no atomics) and dL/dE per edge. Deterministic. Same options and features as the forward.
    /// </summary>
    /// <param name="graph">The forward's graph.</param>
    /// <param name="plan">The graph's plan (its transpose gives dX).</param>
    /// <param name="options">The forward's options (Accumulate/EmptyInfinity/Chunked do not change the gradient).</param>
    /// <param name="features">F.</param>
    /// <param name="x">The forward's X (needed for u_mul_e/u_div_e edge gradients and for Mul).</param>
    /// <param name="edge">The forward's edge operand (needed when the message reads it).</param>
    /// <param name="arg">The forward's argOut (Max/Min only).</param>
    /// <param name="gradY">dL/dY [NumRows, F].</param>
    /// <param name="gradX">dL/dX [NumCols, F], overwritten; null to skip (must be null for CopyE).</param>
    /// <param name="gradEdge">dL/dE in the edge operand's shape, overwritten; null to skip (must be null for CopyU).</param>
    /// <param name="workspace"><see cref="SpMMBackwardWorkspaceBytes"/> bytes (Mul only).</param>
    /// <param name="ldGradY">Leading dimension of gradY (0 = F).</param>
    /// <param name="ldGradX">Leading dimension of gradX (0 = F).</param>
    /// <param name="ldGradEdge">Leading dimension of gradEdge (0 = the operand's width).</param>
    /// <param name="stream">The stream (default: the device's default stream).</param>
    /// <exception cref="ArgumentException">A shape, device or type mismatch.</exception>
    /// <exception cref="GraphKernelsException">The native library refused the call.</exception>
    public static void SpMMBackward(CsrGraph graph, GraphPlan plan, in SpMMOptions options, long features,
        DeviceBuffer? x, DeviceBuffer? edge, DeviceBuffer? arg, DeviceBuffer gradY, DeviceBuffer? gradX, DeviceBuffer? gradEdge,
        DeviceBuffer? workspace = null, long ldGradY = 0, long ldGradX = 0, long ldGradEdge = 0, Stream? stream = null)
    {
        if (graph is null)
        {
            ThrowNull(nameof(graph));
        }

        if (plan is null)
        {
            ThrowNull(nameof(plan));
        }

        if (gradY is null)
        {
            ThrowNull(nameof(gradY));
        }

        GraphDevice device = graph.Device;
        GkCsr csr = graph.ToNative(nameof(graph));
        CheckPlan(plan, graph, nameof(plan));
        GkPlan p = plan.ToNative(nameof(plan));
        GkSpmmDesc desc = Describe(options, features, DtypeOf(gradY, nameof(gradY)));
        long width = EdgeWidth(options, features);
        CheckValues(x, gradY, device, graph.NumCols, desc.Ldx == 0 ? features : desc.Ldx, features, nameof(x), "NumCols");
        CheckValues(edge, gradY, device, graph.Nnz, desc.Lde == 0 ? width : desc.Lde, width, nameof(edge), "Nnz");
        CheckValues(gradY, gradY, device, graph.NumRows, ldGradY == 0 ? features : ldGradY, features, nameof(gradY), "NumRows");
        CheckValues(gradX, gradY, device, graph.NumCols, ldGradX == 0 ? features : ldGradX, features, nameof(gradX), "NumCols");
        CheckValues(gradEdge, gradY, device, graph.Nnz, ldGradEdge == 0 ? Math.Max(1, width) : ldGradEdge, width, nameof(gradEdge), "Nnz");
        if (arg is not null)
        {
            CheckIndexBuffer(arg, graph, device, nameof(arg));
            CheckLength(arg.Length, graph.NumRows, desc.LdArg == 0 ? features : desc.LdArg, features, nameof(arg), "NumRows");
        }

        CheckDeviceOpt(workspace, device, nameof(workspace));
        nint ps = StreamHandle(stream, device);
        if (device.Managed is { } managed)
        {
            managed.SpMMBackward(graph, plan, desc, x, edge, arg, gradY, ldGradY, gradX, ldGradX, gradEdge, ldGradEdge, workspace);
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
            leases.Add(arg);
            leases.Add(gradY);
            leases.Add(gradX);
            leases.Add(gradEdge);
            leases.Add(workspace);
            device.EnsureContext();
            int status = device.Api.gk_spmm_backward(&csr, &p, &desc, (void*)Ptr(x, nameof(x)), (void*)Ptr(edge, nameof(edge)),
                (void*)Ptr(arg, nameof(arg)), (void*)Ptr(gradY, nameof(gradY)), ldGradY, (void*)Ptr(gradX, nameof(gradX)), ldGradX,
                (void*)Ptr(gradEdge, nameof(gradEdge)), ldGradEdge, (void*)Ptr(workspace, nameof(workspace)),
                (nuint)(workspace?.SizeInBytes ?? 0), (void*)ps);
            if (status != 0)
            {
                device.Api.ThrowStatus(status, "gk_spmm_backward");
            }
        }
        finally
        {
            leases.Dispose();
        }
    }

    /// <summary>
    /// Multi-reducer SpMM (<c>gk_spmm_multi</c>): several statistics of the same messages in one pass over the edges
    /// (PNA, PyG MultiAggregation). Pass a buffer for each statistic wanted, null for the others (at least one).
    /// Variance is the population variance by Welford's update; std = sqrt(var); empty rows give 0.
    /// options.Reduce must be Sum (0) and options.Flags None; all outputs share options.Ldy.
    /// </summary>
    /// <param name="graph">The CSR graph.</param>
    /// <param name="options">Message, edge operand shape, heads, leading dimensions.</param>
    /// <param name="features">F.</param>
    /// <param name="x">Source features (null for CopyE).</param>
    /// <param name="edge">Edge operand (null for CopyU).</param>
    /// <param name="sum">Sum output or null.</param>
    /// <param name="mean">Mean output or null.</param>
    /// <param name="min">Min output or null.</param>
    /// <param name="max">Max output or null.</param>
    /// <param name="variance">Variance output or null.</param>
    /// <param name="std">Standard deviation output or null.</param>
    /// <param name="stream">The stream (default: the device's default stream).</param>
    /// <exception cref="ArgumentException">A shape, device or type mismatch, or no output.</exception>
    /// <exception cref="GraphKernelsException">The native library refused the call.</exception>
    public static void SpMMMulti(CsrGraph graph, in SpMMOptions options, long features, DeviceBuffer? x, DeviceBuffer? edge,
        DeviceBuffer? sum, DeviceBuffer? mean, DeviceBuffer? min, DeviceBuffer? max, DeviceBuffer? variance, DeviceBuffer? std,
        Stream? stream = null)
    {
        if (graph is null)
        {
            ThrowNull(nameof(graph));
        }

        DeviceBuffer? reference = sum ?? mean ?? min ?? max ?? variance ?? std;
        if (reference is null)
        {
            ThrowArg(nameof(sum), "SpMMMulti needs at least one output buffer.");
        }

        GraphDevice device = graph.Device;
        GkCsr csr = graph.ToNative(nameof(graph));
        GkSpmmDesc desc = Describe(options, features, DtypeOf(reference, "outputs"));
        long width = EdgeWidth(options, features);
        long ldy = desc.Ldy == 0 ? features : desc.Ldy;
        CheckValues(x, reference, device, graph.NumCols, desc.Ldx == 0 ? features : desc.Ldx, features, nameof(x), "NumCols");
        CheckValues(edge, reference, device, graph.Nnz, desc.Lde == 0 ? width : desc.Lde, width, nameof(edge), "Nnz");
        CheckValues(sum, reference, device, graph.NumRows, ldy, features, nameof(sum), "NumRows");
        CheckValues(mean, reference, device, graph.NumRows, ldy, features, nameof(mean), "NumRows");
        CheckValues(min, reference, device, graph.NumRows, ldy, features, nameof(min), "NumRows");
        CheckValues(max, reference, device, graph.NumRows, ldy, features, nameof(max), "NumRows");
        CheckValues(variance, reference, device, graph.NumRows, ldy, features, nameof(variance), "NumRows");
        CheckValues(std, reference, device, graph.NumRows, ldy, features, nameof(std), "NumRows");
        nint ps = StreamHandle(stream, device);
        if (device.Managed is { } managed)
        {
            managed.SpMMMulti(graph, desc, x, edge, sum, mean, min, max, variance, std);
            return;
        }

        var leases = default(BufferLeases);
        try
        {
            leases.Add(graph.RowPtr);
            leases.Add(graph.ColIdx);
            leases.Add(x);
            leases.Add(edge);
            leases.Add(sum);
            leases.Add(mean);
            leases.Add(min);
            leases.Add(max);
            leases.Add(variance);
            leases.Add(std);
            void** outs = stackalloc void*[6];
            outs[0] = (void*)Ptr(sum, nameof(sum));
            outs[1] = (void*)Ptr(mean, nameof(mean));
            outs[2] = (void*)Ptr(min, nameof(min));
            outs[3] = (void*)Ptr(max, nameof(max));
            outs[4] = (void*)Ptr(variance, nameof(variance));
            outs[5] = (void*)Ptr(std, nameof(std));
            uint stats = 0;
            for (int k = 0; k < 6; k++)
            {
                if (outs[k] != null)
                {
                    stats |= 1u << k;
                }
            }

            device.EnsureContext();
            int status = device.Api.gk_spmm_multi(&csr, &desc, stats, (void*)Ptr(x, nameof(x)), (void*)Ptr(edge, nameof(edge)), outs, (void*)ps);
            if (status != 0)
            {
                device.Api.ThrowStatus(status, "gk_spmm_multi");
            }
        }
        finally
        {
            leases.Dispose();
        }
    }

    private static GkSpmmDesc Describe(in SpMMOptions o, long features, int dtype)
    {
        GkSpmmDesc d;
        d.Message = (int)o.Message;
        d.Reduce = (int)o.Reduce;
        d.Dtype = dtype;
        d.EdgeMode = (int)o.EdgeOperand;
        d.Feat = features;
        d.Heads = o.Heads;
        d.Ldx = o.Ldx;
        d.Lde = o.Lde;
        d.Ldy = o.Ldy;
        d.LdArg = o.LdArg;
        d.Flags = (uint)o.Flags;
        d.Reserved = 0;
        return d;
    }

    private static long EdgeWidth(in SpMMOptions o, long features) => o.EdgeOperand switch
    {
        EdgeOperand.Scalar => 1,
        EdgeOperand.PerHead => o.Heads,
        EdgeOperand.Full => features,
        _ => 0,
    };

    private static int DtypeOf(DeviceBuffer b, string paramName) => DtypeOfType(b.ElementType, paramName);

    private static int DtypeOfType(Type t, string paramName)
    {
        if (t == typeof(float))
        {
            return NativeApi.DtypeF32;
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
        return 0;
    }

    /// <summary>A value buffer: same device and element type as <paramref name="reference"/>, long enough (null passes: the native call decides).</summary>
    private static void CheckValues(DeviceBuffer? b, DeviceBuffer reference, GraphDevice device, long rows, long ld, long width,
        string paramName, string rowsName)
    {
        if (b is null)
        {
            return;
        }

        CheckDevice(b, device, paramName);
        if (b.ElementType != reference.ElementType)
        {
            ThrowArg(paramName, $"{paramName} has element type {b.ElementType.Name} but the values are {reference.ElementType.Name}.");
        }

        if (width > 0 && ld >= width)
        {
            CheckLength(b.Length, rows, ld, width, paramName, rowsName);
        }
    }

    private static void CheckIndexBuffer(DeviceBuffer b, CsrGraph graph, GraphDevice device, string paramName)
    {
        CheckDevice(b, device, paramName);
        Type expected = graph.IndexType == IndexType.Int32 ? typeof(int) : typeof(long);
        if (b.ElementType != expected)
        {
            ThrowArg(paramName, $"{paramName} has element type {b.ElementType.Name} but the graph's index type is {graph.IndexType}.");
        }
    }

    private static void CheckDeviceOpt(DeviceBuffer? b, GraphDevice device, string paramName)
    {
        if (b is not null)
        {
            CheckDevice(b, device, paramName);
        }
    }

    private static void CheckPlan(GraphPlan plan, CsrGraph graph, string paramName)
    {
        if (!ReferenceEquals(plan.Graph, graph))
        {
            ThrowArg(paramName, "The plan was built for another graph (" + plan.Graph.ToString() + ").");
        }
    }

    private static nint Ptr(DeviceBuffer? b, string paramName) => b is null ? 0 : b.PointerChecked(paramName);

    /// <summary>The native stream handle of <paramref name="stream"/> (0 for null), checking its device.</summary>
    internal static nint StreamHandle(Stream? stream, GraphDevice device)
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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CheckDevice(DeviceBuffer buffer, GraphDevice device, string paramName)
    {
        if (!ReferenceEquals(buffer.DeviceCore, device))
        {
            ThrowOtherDevice(buffer, device, paramName);
        }
    }

    /// <summary>Needs (rows - 1) * ld + features elements when rows &gt; 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CheckLength(long length, long rows, long ld, long features, string paramName, string rowsName)
    {
        if (rows <= 0)
        {
            return;
        }

        // (rows - 1) * ld + features, with overflow treated as "too short".
        long needed;
        if (rows - 1 > (long.MaxValue - features) / ld)
        {
            needed = long.MaxValue;
        }
        else
        {
            needed = ((rows - 1) * ld) + features;
        }

        if (length < needed)
        {
            ThrowTooShort(paramName, length, needed, rows, ld, features, rowsName);
        }
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowTooShort(string paramName, long length, long needed, long rows, long ld, long features, string rowsName)
        => throw new ArgumentException(
            $"{paramName} has {length} elements but needs {needed} ({rowsName} = {rows} rows, leading dimension {ld}, features = {features}).",
            paramName);

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowOtherDevice(DeviceBuffer buffer, GraphDevice device, string paramName)
        => throw new ArgumentException(
            $"{paramName} belongs to another device instance ({buffer.DeviceCore.Name}) than the graph ({device.Name}).", paramName);

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNull(string paramName) => throw new ArgumentNullException(paramName);

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNull(string paramName, string message) => throw new ArgumentNullException(paramName, message);

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowRange(string paramName, long value, string what)
        => throw new ArgumentOutOfRangeException(paramName, value, $"{paramName} = {value} {what}.");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowArg(string paramName, string message) => throw new ArgumentException(message, paramName);
}

/// <summary>Shape of the edge operand of the generalized SpMM (<c>gk_edge_operand</c>).</summary>
public enum EdgeOperand
{
    /// <summary>No edge operand (<see cref="Message.CopyU"/>).</summary>
    None = 0,

    /// <summary>One value per edge, [Nnz], broadcast over all features.</summary>
    Scalar = 1,

    /// <summary>[Nnz, H]: feature f uses head f / (F / H).</summary>
    PerHead = 2,

    /// <summary>[Nnz, F]: one value per edge and feature (SchNet-style continuous filters).</summary>
    Full = 3,
}

/// <summary>Flags of the generalized SpMM (<c>gk_spmm_flags</c>).</summary>
[Flags]
public enum SpMMFlags : uint
{
    /// <summary>Y = result.</summary>
    None = 0,

    /// <summary>Y += result (rounded once to the value type).</summary>
    Accumulate = 1,

    /// <summary>Empty rows give -inf (Max) / +inf (Min) instead of 0; the arg stays -1.</summary>
    EmptyInfinity = 2,

    /// <summary>Split rows into the plan's chunks with a fixed-order second pass (needs a plan and a workspace).</summary>
    Chunked = 4,
}

/// <summary>What the generalized SpMM computes; leading dimensions 0 mean "the width".</summary>
public struct SpMMOptions
{
    /// <summary>The per-edge message.</summary>
    public Message Message;

    /// <summary>The reduction over each row.</summary>
    public Reduce Reduce;

    /// <summary>Shape of the edge operand (<see cref="EdgeOperand.None"/> exactly for <see cref="Message.CopyU"/>).</summary>
    public EdgeOperand EdgeOperand;

    /// <summary>H for <see cref="EdgeOperand.PerHead"/> (must divide F).</summary>
    public long Heads;

    /// <summary>Flags.</summary>
    public SpMMFlags Flags;

    /// <summary>Leading dimension of x (0 = F).</summary>
    public long Ldx;

    /// <summary>Leading dimension of the edge operand (0 = its width).</summary>
    public long Lde;

    /// <summary>Leading dimension of y (0 = F).</summary>
    public long Ldy;

    /// <summary>Leading dimension of the arg output (0 = F).</summary>
    public long LdArg;

    /// <summary>Options with a message, a reducer and an edge operand shape.</summary>
    /// <param name="message">The message.</param>
    /// <param name="reduce">The reducer.</param>
    /// <param name="edgeOperand">The edge operand shape.</param>
    /// <param name="heads">Heads for <see cref="EdgeOperand.PerHead"/>.</param>
    /// <param name="flags">Flags.</param>
    public SpMMOptions(Message message, Reduce reduce, EdgeOperand edgeOperand = EdgeOperand.None, long heads = 0,
        SpMMFlags flags = SpMMFlags.None)
    {
        Message = message;
        Reduce = reduce;
        EdgeOperand = edgeOperand;
        Heads = heads;
        Flags = flags;
        Ldx = 0;
        Lde = 0;
        Ldy = 0;
        LdArg = 0;
    }
}
