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
            ThrowRange(nameof(message), (long)message, "is not a Message value");
        }

        if ((uint)reduce > (uint)Reduce.Min)
        {
            ThrowRange(nameof(reduce), (long)reduce, "is not a Reduce value");
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
