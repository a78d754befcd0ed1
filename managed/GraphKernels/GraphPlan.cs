using System;
using GraphKernels.Interop;

namespace GraphKernels;

/// <summary>
/// A graph plan (<c>gk_plan</c>), built once per graph and reused by every layer and step: the
/// transpose (a by-source CSR plus the edge permutation), in/out degrees and a row schedule that
/// cuts rows into items of at most <see cref="Chunk"/> edges (load balance for hub rows). The plan
/// owns its device buffers (sizes from <c>gk_plan_query</c>) and frees them on <see cref="Dispose"/>.
/// The build is deterministic: the same graph gives bitwise-identical buffers every time.
/// </summary>
public sealed unsafe class GraphPlan : IDisposable
{
    private const long DefaultChunk = 256;  // = kDefaultChunk of native/src/graph_plan.cu
    private readonly DeviceBuffer[] _owned;
    private GkPlan _native;
    private bool _disposed;

    private GraphPlan(CsrGraph graph, DeviceBuffer tRowPtr, DeviceBuffer tColIdx, DeviceBuffer perm, DeviceBuffer inDegree,
        DeviceBuffer outDegree, DeviceBuffer<long> rowItemPtr, DeviceBuffer<long> itemRow, DeviceBuffer<byte> workspace)
    {
        Graph = graph;
        TransposePermutation = perm;
        InDegree = inDegree;
        OutDegree = outDegree;
        RowItemPtr = rowItemPtr;
        ItemRow = itemRow;
        _owned = new DeviceBuffer[] { tRowPtr, tColIdx, perm, inDegree, outDegree, rowItemPtr, itemRow, workspace };
        Transpose = CsrGraph.FromDevice(graph.Device, tRowPtr, tColIdx, graph.NumCols, graph.NumRows, graph.Nnz, validate: false);
    }

    /// <summary>The graph this plan was built for.</summary>
    public CsrGraph Graph { get; }

    /// <summary>
    /// The transpose as a CSR: NumRows = the graph's NumCols (source nodes), NumCols = the graph's NumRows
    /// (destinations); ColIdx[t] is the destination of transposed entry t. A view over the plan's buffers.
    /// </summary>
    public CsrGraph Transpose { get; }

    /// <summary>perm[t] = the original CSR position of transposed entry t (the graph's index type); ascending within each source row.</summary>
    public DeviceBuffer TransposePermutation { get; }

    /// <summary>In-degree of each destination row, [NumRows] (the graph's index type).</summary>
    public DeviceBuffer InDegree { get; }

    /// <summary>Out-degree of each source node, [NumCols] (the graph's index type).</summary>
    public DeviceBuffer OutDegree { get; }

    /// <summary>Row v owns schedule items [RowItemPtr[v], RowItemPtr[v + 1]), [NumRows + 1].</summary>
    public DeviceBuffer<long> RowItemPtr { get; }

    /// <summary>The row of each schedule item, -1 past the last, [<see cref="MaxItems"/>].</summary>
    public DeviceBuffer<long> ItemRow { get; }

    /// <summary>Edges per schedule item.</summary>
    public long Chunk => _native.Chunk;

    /// <summary>Capacity of the schedule: NumRows + Nnz / Chunk.</summary>
    public long MaxItems => _native.MaxItems;

    /// <summary>Whether <see cref="Dispose"/> has run.</summary>
    public bool IsDisposed => _disposed;

    /// <summary>
    /// Builds the plan of <paramref name="graph"/> on <paramref name="stream"/> (stream-ordered, no synchronisation).
    /// The graph's contents are trusted (it was validated when created).
    /// </summary>
    /// <param name="graph">The CSR graph.</param>
    /// <param name="chunk">Edges per schedule item (0 = 256).</param>
    /// <param name="stream">The stream (default: the device's default stream).</param>
    /// <returns>The plan; dispose it before the graph.</returns>
    /// <exception cref="ArgumentNullException">graph is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">chunk is negative.</exception>
    /// <exception cref="GraphKernelsException">The native library refused the call.</exception>
    public static GraphPlan Build(CsrGraph graph, long chunk = 0, Stream? stream = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentOutOfRangeException.ThrowIfNegative(chunk);
        GraphDevice device = graph.Device;
        GkCsr csr = graph.ToNative(nameof(graph));
        device.EnsureContext();
        GkPlanSizes sizes;
        int status = 0;
        if (device.Managed is not null)
        {
            // gk_plan_query's sizes (the header checks cannot fail for a CsrGraph; chunk >= 0 was checked above).
            sizes = default;
            sizes.Chunk = chunk == 0 ? DefaultChunk : chunk;
            sizes.MaxItems = graph.NumRows + (graph.Nnz / sizes.Chunk);
            sizes.WorkspaceBytes = graph.NumCols * 8;
        }
        else
        {
            status = device.Api.gk_plan_query(&csr, chunk, &sizes);
            if (status != 0)
            {
                device.Api.ThrowStatus(status, "gk_plan_query");
            }
        }

        bool i32 = graph.IndexType == IndexType.Int32;
        DeviceBuffer Index(long n) => i32 ? device.Allocate<int>(Math.Max(1, n)) : device.Allocate<long>(Math.Max(1, n));
        var plan = new GraphPlan(graph, Index(graph.NumCols + 1), Index(graph.Nnz), Index(graph.Nnz), Index(graph.NumRows),
            Index(graph.NumCols), device.Allocate<long>(graph.NumRows + 1), device.Allocate<long>(Math.Max(1, sizes.MaxItems)),
            device.Allocate<byte>(Math.Max(8, sizes.WorkspaceBytes)));
        try
        {
            var o = plan._owned;
            GkPlan p = default;
            p.TRowPtr = o[0].Pointer;
            p.TColIdx = o[1].Pointer;
            p.Perm = o[2].Pointer;
            p.InDegree = o[3].Pointer;
            p.OutDegree = o[4].Pointer;
            p.RowItemPtr = o[5].Pointer;
            p.ItemRow = o[6].Pointer;
            nint ps = MessagePassing.StreamHandle(stream, device);
            if (device.Managed is { } managed)
            {
                // The header gk_plan_build writes, then the backend fills the same buffers with the same contents.
                p.Chunk = sizes.Chunk;
                p.MaxItems = sizes.MaxItems;
                p.NumRows = graph.NumRows;
                p.NumCols = graph.NumCols;
                p.Nnz = graph.Nnz;
                p.IndexType = (int)graph.IndexType;
                p.Transpose.NumRows = graph.NumCols;
                p.Transpose.NumCols = graph.NumRows;
                p.Transpose.Nnz = graph.Nnz;
                p.Transpose.IndexType = (int)graph.IndexType;
                p.Transpose.RowPtr = p.TRowPtr;
                p.Transpose.ColIdx = p.TColIdx;
                managed.BuildPlan(graph, p, o[0], o[1], o[2], o[3], o[4], plan.RowItemPtr, plan.ItemRow, o[7]);
                plan._native = p;
                return plan;
            }

            status = device.Api.gk_plan_build(&csr, chunk, &p, (void*)o[7].Pointer, (nuint)o[7].SizeInBytes, (void*)ps);
            if (status != 0)
            {
                device.Api.ThrowStatus(status, "gk_plan_build");
            }

            plan._native = p;
            return plan;
        }
        catch
        {
            plan.Dispose();
            throw;
        }
    }

    /// <summary>The gk_plan; throws ObjectDisposedException when the plan is gone.</summary>
    internal GkPlan ToNative(string paramName)
    {
        if (_disposed)
        {
            throw new ObjectDisposedException(paramName, "The GraphPlan has been disposed.");
        }

        return _native;
    }

    /// <summary>The buffers the transpose-reading kernels use (t_row_ptr, t_col_idx, perm), for leases.</summary>
    internal DeviceBuffer TRowPtr => _owned[0];

    /// <summary>Transposed column indices.</summary>
    internal DeviceBuffer TColIdx => _owned[1];

    /// <summary>Frees every buffer of the plan.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Transpose?.Dispose();
        foreach (DeviceBuffer b in _owned)
        {
            b.Dispose();
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"GraphPlan of {Graph}, chunk {Chunk}";
}
