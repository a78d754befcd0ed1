using System;
using GraphKernels.Interop;

namespace GraphKernels;

/// <summary>
/// A destination-major CSR graph on a device: row r is destination node r, <c>ColIdx[e]</c> is the
/// source node of CSR position e. Uploaded graphs own their index buffers; <see cref="FromDevice"/>
/// views do not. The graph always owns the small workspace gk_csr_validate needs.
/// </summary>
public sealed unsafe class CsrGraph : IDisposable
{
    private readonly bool _ownsIndices;
    private readonly DeviceBuffer<byte> _workspace;
    private bool _disposed;

    private CsrGraph(GraphDevice device, DeviceBuffer rowPtr, DeviceBuffer colIdx, long numRows, long numCols,
        long nnz, IndexType indexType, bool ownsIndices, DeviceBuffer<byte> workspace)
    {
        Device = device;
        RowPtr = rowPtr;
        ColIdx = colIdx;
        NumRows = numRows;
        NumCols = numCols;
        Nnz = nnz;
        IndexType = indexType;
        _ownsIndices = ownsIndices;
        _workspace = workspace;
    }

    /// <summary>Number of rows (destination nodes), M.</summary>
    public long NumRows { get; }

    /// <summary>Number of columns (source nodes), K.</summary>
    public long NumCols { get; }

    /// <summary>Number of edges (stored entries), E.</summary>
    public long Nnz { get; }

    /// <summary>Element type of <see cref="RowPtr"/> and <see cref="ColIdx"/>.</summary>
    public IndexType IndexType { get; }

    /// <summary>Row offsets, <see cref="NumRows"/> + 1 entries.</summary>
    public DeviceBuffer RowPtr { get; }

    /// <summary>Column (source node) of each CSR position, <see cref="Nnz"/> entries.</summary>
    public DeviceBuffer ColIdx { get; }

    /// <summary>The device the graph lives on.</summary>
    public GraphDevice Device { get; }

    /// <summary>Whether <see cref="Dispose"/> has been called.</summary>
    public bool IsDisposed => _disposed;

    /// <summary>
    /// Uploads a CSR with 32-bit indices and validates it on the device.
    /// </summary>
    /// <param name="device">The device.</param>
    /// <param name="rowPtr">Row offsets: number of rows + 1 entries.</param>
    /// <param name="colIdx">Source node per CSR position; its length is the edge count.</param>
    /// <param name="numCols">Number of source nodes.</param>
    /// <returns>The graph (owns its buffers).</returns>
    /// <exception cref="ArgumentException">rowPtr is empty or numCols is negative.</exception>
    /// <exception cref="GraphKernelsException">The contents are invalid (status InvalidGraph; the message names the first bad entry).</exception>
    public static CsrGraph Upload(GraphDevice device, ReadOnlySpan<int> rowPtr, ReadOnlySpan<int> colIdx, long numCols)
        => UploadCore(device, rowPtr, colIdx, numCols, IndexType.Int32);

    /// <summary>
    /// Uploads a CSR with 64-bit indices and validates it on the device.
    /// </summary>
    /// <param name="device">The device.</param>
    /// <param name="rowPtr">Row offsets: number of rows + 1 entries.</param>
    /// <param name="colIdx">Source node per CSR position; its length is the edge count.</param>
    /// <param name="numCols">Number of source nodes.</param>
    /// <returns>The graph (owns its buffers).</returns>
    /// <exception cref="ArgumentException">rowPtr is empty or numCols is negative.</exception>
    /// <exception cref="GraphKernelsException">The contents are invalid (status InvalidGraph; the message names the first bad entry).</exception>
    public static CsrGraph Upload(GraphDevice device, ReadOnlySpan<long> rowPtr, ReadOnlySpan<long> colIdx, long numCols)
        => UploadCore(device, rowPtr, colIdx, numCols, IndexType.Int64);

    private static CsrGraph UploadCore<TIndex>(GraphDevice device, ReadOnlySpan<TIndex> rowPtr, ReadOnlySpan<TIndex> colIdx,
        long numCols, IndexType indexType)
        where TIndex : unmanaged
    {
        ArgumentNullException.ThrowIfNull(device);
        if (rowPtr.Length < 1)
        {
            throw new ArgumentException("rowPtr must have at least one entry (number of rows + 1); it is empty.", nameof(rowPtr));
        }

        if (numCols < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(numCols), numCols, $"numCols must be >= 0; it is {numCols}.");
        }

        device.ThrowIfDisposed();
        DeviceBuffer<TIndex>? rows = null;
        DeviceBuffer<TIndex>? cols = null;
        DeviceBuffer<byte>? workspace = null;
        try
        {
            rows = device.Upload(rowPtr);
            cols = device.Upload(colIdx);
            workspace = device.Allocate<byte>(device.Managed is null ? device.Api.CsrValidateWorkspaceBytes : 1);
            var graph = new CsrGraph(device, rows, cols, rowPtr.Length - 1, numCols, colIdx.Length, indexType, true, workspace);
            graph.ValidateCore(0, "CsrGraph.Upload");
            return graph;
        }
        catch
        {
            rows?.Dispose();
            cols?.Dispose();
            workspace?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A non-owning view over index buffers already on the device (int or long elements, both the same).
    /// </summary>
    /// <param name="device">The device the buffers belong to.</param>
    /// <param name="rowPtr">Row offsets (at least numRows + 1 elements).</param>
    /// <param name="colIdx">Column indices (at least nnz elements).</param>
    /// <param name="numRows">Number of rows.</param>
    /// <param name="numCols">Number of columns.</param>
    /// <param name="nnz">Number of edges.</param>
    /// <param name="validate">Run gk_csr_validate now (recommended once per graph: gk_spmm trusts the contents).</param>
    /// <returns>The view; disposing it leaves the buffers alone.</returns>
    public static CsrGraph FromDevice(GraphDevice device, DeviceBuffer rowPtr, DeviceBuffer colIdx, long numRows, long numCols,
        long nnz, bool validate = true)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(rowPtr);
        ArgumentNullException.ThrowIfNull(colIdx);
        ArgumentOutOfRangeException.ThrowIfNegative(numRows);
        ArgumentOutOfRangeException.ThrowIfNegative(numCols);
        ArgumentOutOfRangeException.ThrowIfNegative(nnz);
        device.ThrowIfDisposed();
        if (rowPtr.IsDisposed)
        {
            throw new ObjectDisposedException(nameof(rowPtr), "The rowPtr buffer has been disposed.");
        }

        if (colIdx.IsDisposed)
        {
            throw new ObjectDisposedException(nameof(colIdx), "The colIdx buffer has been disposed.");
        }

        IndexType indexType = IndexTypeOf(rowPtr.ElementType, nameof(rowPtr));
        if (colIdx.ElementType != rowPtr.ElementType)
        {
            throw new ArgumentException(
                $"colIdx has element type {colIdx.ElementType.Name} but rowPtr has {rowPtr.ElementType.Name}; both must be Int32 or both Int64.",
                nameof(colIdx));
        }

        if (!ReferenceEquals(rowPtr.Device, device))
        {
            throw new ArgumentException($"rowPtr belongs to another device ({rowPtr.Device.Name}).", nameof(rowPtr));
        }

        if (!ReferenceEquals(colIdx.Device, device))
        {
            throw new ArgumentException($"colIdx belongs to another device ({colIdx.Device.Name}).", nameof(colIdx));
        }

        if (rowPtr.Length < numRows + 1)
        {
            throw new ArgumentException($"rowPtr has {rowPtr.Length} elements but numRows = {numRows} needs {numRows + 1}.", nameof(rowPtr));
        }

        if (colIdx.Length < nnz)
        {
            throw new ArgumentException($"colIdx has {colIdx.Length} elements but nnz = {nnz}.", nameof(colIdx));
        }

        var workspace = device.Allocate<byte>(device.Managed is null ? device.Api.CsrValidateWorkspaceBytes : 1);
        var graph = new CsrGraph(device, rowPtr, colIdx, numRows, numCols, nnz, indexType, false, workspace);
        if (validate)
        {
            try
            {
                graph.ValidateCore(0, "CsrGraph.FromDevice");
            }
            catch
            {
                graph.Dispose();
                throw;
            }
        }

        return graph;
    }

    /// <summary>Runs gk_csr_validate again (synchronises <paramref name="stream"/>).</summary>
    /// <param name="stream">The stream to run on (default: the device's default stream).</param>
    /// <exception cref="GraphKernelsException">The contents are invalid (status InvalidGraph).</exception>
    public void Validate(Stream? stream = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (stream is not null && !ReferenceEquals(stream.Device, Device))
        {
            throw new ArgumentException($"The stream belongs to another device ({stream.Device.Name}).", nameof(stream));
        }

        ValidateCore(stream?.NativeHandle ?? 0, "gk_csr_validate");
    }

    private void ValidateCore(nint stream, string operation)
    {
        if (Device.Managed is { } managed)
        {
            managed.ValidateCsr(this, operation);
            return;
        }

        // Lease the graph's buffers and the workspace first, so a concurrent Dispose cannot free them
        // while the device reads them.
        var leases = default(BufferLeases);
        try
        {
            leases.Add(RowPtr);
            leases.Add(ColIdx);
            leases.Add(_workspace);
            GkCsr csr = ToNative("graph");
            nint ws = _workspace.PointerChecked("workspace");
            Device.EnsureContext();
            int status = Device.Api.gk_csr_validate(&csr, (void*)ws, (nuint)_workspace.Length, (void*)stream);
            if (status != 0)
            {
                Device.Api.ThrowStatus(status, operation);
            }
        }
        finally
        {
            leases.Dispose();
        }
    }

    /// <summary>The gk_csr this graph describes; throws ObjectDisposedException when the graph or its buffers are gone.</summary>
    internal GkCsr ToNative(string paramName)
    {
        if (_disposed)
        {
            throw new ObjectDisposedException(paramName, "The CsrGraph has been disposed.");
        }

        GkCsr csr;
        csr.NumRows = NumRows;
        csr.NumCols = NumCols;
        csr.Nnz = Nnz;
        csr.IndexType = (int)IndexType;
        csr.Reserved = 0;
        csr.RowPtr = RowPtr.PointerChecked(paramName);
        csr.ColIdx = ColIdx.PointerChecked(paramName);
        return csr;
    }

    internal static IndexType IndexTypeOf(Type elementType, string paramName)
    {
        if (elementType == typeof(int))
        {
            return IndexType.Int32;
        }

        if (elementType == typeof(long))
        {
            return IndexType.Int64;
        }

        throw new ArgumentException($"{paramName} has element type {elementType.Name}; CSR indices must be Int32 or Int64.", paramName);
    }

    /// <summary>Frees the workspace and, for uploaded graphs, the index buffers.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _workspace.Dispose();
        if (_ownsIndices)
        {
            RowPtr.Dispose();
            ColIdx.Dispose();
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"CsrGraph {NumRows}x{NumCols}, {Nnz} edges, {IndexType} on {Device.Name}";
}
