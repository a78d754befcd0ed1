using System;
using GraphKernels.Interop;

namespace GraphKernels;

/// <summary>Options of <see cref="NeighborList.Build"/>.</summary>
public readonly struct NeighborListOptions
{
    /// <summary>Fail (naming the atom and its count) when an atom has more neighbours than this; 0 = no limit.</summary>
    public long MaxNeighbors { get; init; }

    /// <summary>Element type of every index array of the list (and of the graph atom pointer it uploads).</summary>
    public IndexType IndexType { get; init; }

    /// <summary>Skip the edge vectors r_e (the readout can recompute them from positions and shifts).</summary>
    public bool SkipEdgeVectors { get; init; }

    /// <summary>Skip the destination permutation (needed only to build a force/stress topology on the device).</summary>
    public bool SkipDstPerm { get; init; }
}

/// <summary>
/// A radius graph with periodic boundaries for a batch of structures, built on the device
/// (gk_neighbor_list_count, then gk_neighbor_list_fill). Edge (i → j, S) for every pair of atoms of a
/// structure and integer image shift S with |x_j − x_i + S·L| &lt; cutoff, except (i, i, 0); stored as a
/// by-source CSR sorted by source, then destination, then S lexicographically. The edge set is
/// symmetric, so the edges by destination have <c>dst_ptr = src_ptr</c> and <see cref="DstPerm"/>.
/// </summary>
public sealed unsafe class NeighborList : IDisposable
{
    private readonly DeviceBuffer _graphAtomPtr, _srcPtr, _edgeSrc, _edgeDst;
    private readonly DeviceBuffer? _dstPerm;
    private bool _disposed;

    private NeighborList(GraphDevice device, IndexType indexType, long atoms, long graphs, double cutoff, GkNlReport report,
        DeviceBuffer graphAtomPtr, DeviceBuffer srcPtr, DeviceBuffer edgeSrc, DeviceBuffer edgeDst, DeviceBuffer<int> shifts,
        DeviceBuffer<float>? edgeVectors, DeviceBuffer? dstPerm)
    {
        Device = device;
        IndexType = indexType;
        NumAtoms = atoms;
        NumGraphs = graphs;
        Cutoff = cutoff;
        NumEdges = report.NumEdges;
        MaxNeighborCount = report.MaxCount;
        MaxNeighborAtom = report.MaxCountAtom;
        _graphAtomPtr = graphAtomPtr;
        _srcPtr = srcPtr;
        _edgeSrc = edgeSrc;
        _edgeDst = edgeDst;
        Shifts = shifts;
        EdgeVectors = edgeVectors;
        _dstPerm = dstPerm;
    }

    /// <summary>The device the list lives on.</summary>
    public GraphDevice Device { get; }

    /// <summary>Element type of the index arrays.</summary>
    public IndexType IndexType { get; }

    /// <summary>Number of atoms N.</summary>
    public long NumAtoms { get; }

    /// <summary>Number of structures B.</summary>
    public long NumGraphs { get; }

    /// <summary>Number of edges E.</summary>
    public long NumEdges { get; }

    /// <summary>The cutoff radius the list was built with.</summary>
    public double Cutoff { get; }

    /// <summary>The largest number of neighbours of one atom.</summary>
    public long MaxNeighborCount { get; }

    /// <summary>The lowest atom with <see cref="MaxNeighborCount"/> neighbours (−1 when there are no atoms).</summary>
    public long MaxNeighborAtom { get; }

    /// <summary>[B + 1] atom offsets of the structures (index type).</summary>
    public DeviceBuffer GraphAtomPtr => Checked(_graphAtomPtr);

    /// <summary>[N + 1] by-source CSR pointer (index type): the out-edges of atom i are [SrcPtr[i], SrcPtr[i+1]).</summary>
    public DeviceBuffer SrcPtr => Checked(_srcPtr);

    /// <summary>[E] source atom of each edge (index type).</summary>
    public DeviceBuffer EdgeSrc => Checked(_edgeSrc);

    /// <summary>[E] destination atom of each edge (index type).</summary>
    public DeviceBuffer EdgeDst => Checked(_edgeDst);

    /// <summary>[E, 3] integer image shifts S.</summary>
    public DeviceBuffer<int> Shifts { get; }

    /// <summary>[E, 3] edge vectors r_e = x_dst − x_src + S·L (fp32), or null when skipped.</summary>
    public DeviceBuffer<float>? EdgeVectors { get; }

    /// <summary>[E] the edges with destination i, in increasing position, are DstPerm[SrcPtr[i] .. SrcPtr[i+1]−1]; null when skipped.</summary>
    public DeviceBuffer? DstPerm => _dstPerm is null ? null : Checked(_dstPerm);

    /// <summary>Whether <see cref="Dispose"/> has been called.</summary>
    public bool IsDisposed => _disposed;

    /// <summary>
    /// Builds the neighbour list of a batch on the device. Synchronises once (the count returns E), then
    /// allocates the E-sized outputs and fills them.
    /// </summary>
    /// <param name="device">The device.</param>
    /// <param name="graphAtomPtr">[B + 1] atom offsets of the structures; the last entry is N.</param>
    /// <param name="positions">[N, 3] positions (fp32; need not be wrapped into the cell).</param>
    /// <param name="cell">[B, 3, 3] cells, rows = lattice vectors; null only when no structure is periodic.</param>
    /// <param name="periodic">[B] flags (0 = molecule: no images), or null (every structure periodic).</param>
    /// <param name="cutoff">The cutoff radius (finite, &gt; 0).</param>
    /// <param name="options">Limit, index type, optional outputs.</param>
    /// <returns>The list.</returns>
    /// <exception cref="ArgumentException">A buffer is too short or graphAtomPtr is empty.</exception>
    /// <exception cref="GraphKernelsException">
    /// Refused by the native library: bad cutoff, bad cell, or an atom above <see cref="NeighborListOptions.MaxNeighbors"/>
    /// (status InvalidArgument; <c>Data["OverflowAtom"]</c> and <c>Data["OverflowCount"]</c> hold the lowest such atom and its count).
    /// </exception>
    public static NeighborList Build(GraphDevice device, ReadOnlySpan<long> graphAtomPtr, DeviceBuffer<float> positions,
        DeviceBuffer<float>? cell, DeviceBuffer<byte>? periodic, double cutoff, NeighborListOptions options = default)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(positions);
        device.ThrowIfDisposed();
        if (graphAtomPtr.Length < 2)
        {
            throw new ArgumentException($"graphAtomPtr needs B + 1 >= 2 entries; it has {graphAtomPtr.Length}.", nameof(graphAtomPtr));
        }

        if ((uint)options.IndexType > (uint)IndexType.Int64)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.IndexType, "options.IndexType is not an IndexType value.");
        }

        long atoms = graphAtomPtr[^1], graphs = graphAtomPtr.Length - 1;
        if (atoms < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(graphAtomPtr), atoms, $"graphAtomPtr[^1] = {atoms} (the atom count) is negative.");
        }

        if (positions.Length < 3 * atoms)
        {
            throw new ArgumentException($"positions has {positions.Length} elements; N x 3 = {3 * atoms} needed.", nameof(positions));
        }

        if (cell is not null && cell.Length < 9 * graphs)
        {
            throw new ArgumentException($"cell has {cell.Length} elements; B x 9 = {9 * graphs} needed.", nameof(cell));
        }

        if (periodic is not null && periodic.Length < graphs)
        {
            throw new ArgumentException($"periodic has {periodic.Length} elements; B = {graphs} needed.", nameof(periodic));
        }

        bool wide = options.IndexType == IndexType.Int64;
        DeviceBuffer? gp = null, sp = null, es = null, ed = null, pm = null;
        DeviceBuffer<int>? sh = null;
        DeviceBuffer<float>? ev = null;
        try
        {
            gp = wide ? device.Upload(graphAtomPtr) : device.Upload<int>(Narrow(graphAtomPtr));
            GkNlBatch batch;
            batch.NumAtoms = atoms;
            batch.NumGraphs = graphs;
            batch.IndexType = (int)options.IndexType;
            batch.Reserved = 0;
            batch.GraphAtomPtr = gp.PointerChecked(nameof(graphAtomPtr));
            batch.Positions = positions.PointerChecked(nameof(positions));
            batch.Cell = cell?.PointerChecked(nameof(cell)) ?? 0;
            batch.Periodic = periodic?.PointerChecked(nameof(periodic)) ?? 0;

            // (5 N + 14 B + 8) x 8 bytes, as gk_neighbor_list_workspace_size documents (the managed backend has no native API).
            nuint wsBytes = (nuint)(((5 * atoms) + (14 * graphs) + 8) * 8);
            if (device.Managed is null)
            {
                device.Api.Check(device.Api.gk_neighbor_list_workspace_size(&batch, &wsBytes), "gk_neighbor_list_workspace_size");
            }

            sp = wide ? device.Allocate<long>(atoms + 1) : device.Allocate<int>(atoms + 1);
            GkNlReport report = default;
            // The workspace holds the bins of the count; the fill reads them (gk_neighbor_list_fill_ws).
            using var ws = device.Allocate<byte>((long)wsBytes);
            long[]? gpHost = device.Managed is null ? null : graphAtomPtr.ToArray();
            if (device.Managed is { } managedCount)
            {
                report = managedCount.NeighborCount(gpHost!, options.IndexType, gp, positions, cell, periodic, cutoff, options.MaxNeighbors, sp, ws);
            }

            device.EnsureContext();
            int status = device.Managed is not null ? 0 : device.Api.gk_neighbor_list_count(&batch, cutoff, options.MaxNeighbors, (void*)sp.PointerChecked("srcPtr"),
                (void*)ws.PointerChecked("workspace"), wsBytes, &report, null);
            if (status != 0)
            {
                try
                {
                    device.Api.ThrowStatus(status, "gk_neighbor_list_count");
                }
                catch (GraphKernelsException ex) when (report.OverflowAtom >= 0 && report.OverflowCount > 0)
                {
                    ex.Data["OverflowAtom"] = report.OverflowAtom;
                    ex.Data["OverflowCount"] = report.OverflowCount;
                    throw;
                }
            }

            long e = report.NumEdges;
            es = wide ? device.Allocate<long>(e) : device.Allocate<int>(e);
            ed = wide ? device.Allocate<long>(e) : device.Allocate<int>(e);
            sh = device.Allocate<int>(3 * e);
            ev = options.SkipEdgeVectors ? null : device.Allocate<float>(3 * e);
            pm = options.SkipDstPerm ? null : (wide ? device.Allocate<long>(e) : device.Allocate<int>(e));
            if (device.Managed is { } managedFill)
            {
                managedFill.NeighborFill(gpHost!, options.IndexType, gp, positions, cell, periodic, cutoff, sp, ws, e, es, ed, sh, ev, pm);
                return new NeighborList(device, options.IndexType, atoms, graphs, cutoff, report, gp, sp, es, ed, sh, ev, pm);
            }

            device.EnsureContext();
            device.Api.Check(device.Api.gk_neighbor_list_fill_ws(&batch, cutoff, (void*)sp.PointerChecked("srcPtr"), (void*)ws.PointerChecked("workspace"),
                wsBytes, e, (void*)es.PointerChecked("edgeSrc"), (void*)ed.PointerChecked("edgeDst"), (int*)sh.PointerChecked("shifts"),
                ev is null ? null : (float*)ev.PointerChecked("edgeVectors"), pm is null ? null : (void*)pm.PointerChecked("dstPerm"), null),
                "gk_neighbor_list_fill_ws");
            GC.KeepAlive(positions);
            GC.KeepAlive(cell);
            GC.KeepAlive(periodic);
            return new NeighborList(device, options.IndexType, atoms, graphs, cutoff, report, gp, sp, es, ed, sh, ev, pm);
        }
        catch
        {
            gp?.Dispose();
            sp?.Dispose();
            es?.Dispose();
            ed?.Dispose();
            sh?.Dispose();
            ev?.Dispose();
            pm?.Dispose();
            throw;
        }
    }

    private static int[] Narrow(ReadOnlySpan<long> values)
    {
        var narrow = new int[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            if (values[i] < int.MinValue || values[i] > int.MaxValue)
            {
                throw new ArgumentOutOfRangeException(nameof(values), values[i], $"graphAtomPtr[{i}] = {values[i]} does not fit int32 indices; use IndexType.Int64.");
            }

            narrow[i] = (int)values[i];
        }

        return narrow;
    }

    /// <summary>Copies an index array of this list to the host as int64 (synchronous).</summary>
    /// <param name="buffer">One of this list's index buffers.</param>
    /// <returns>The values.</returns>
    public long[] ToHost(DeviceBuffer buffer)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(buffer);
        switch (buffer)
        {
            case DeviceBuffer<int> narrow:
                return Array.ConvertAll(narrow.ToArray(), v => (long)v);
            case DeviceBuffer<long> wide:
                return wide.ToArray();
            default:
                throw new ArgumentException($"buffer holds {buffer.ElementType.Name}, not an index type.", nameof(buffer));
        }
    }

    /// <summary>
    /// A force/stress topology of this list (same edge order, so <see cref="EdgeVectors"/> is the readout's
    /// <c>EdgeGeometry.FromEdgeVectors</c> input and per-edge data need no reordering). Built through
    /// <see cref="ForceStressTopology.Build"/> from host copies of the edge list (one download and upload per
    /// call); C callers pass <c>dst_ptr = src_ptr</c> and the device-built dst_perm instead.
    /// </summary>
    /// <param name="validate">Validate the topology on the device.</param>
    /// <returns>A topology the caller disposes.</returns>
    public ForceStressTopology CreateTopology(bool validate = false)
    {
        ThrowIfDisposed();
        long[] gp = ToHost(_graphAtomPtr);
        long[] src = ToHost(_edgeSrc), dst = ToHost(_edgeDst);
        if (NumEdges > int.MaxValue || NumAtoms > int.MaxValue)
        {
            throw new InvalidOperationException($"CreateTopology supports int32-sized lists; this one has {NumEdges} edges.");
        }

        return ForceStressTopology.Build(Device, gp, Array.ConvertAll(src, v => (int)v), Array.ConvertAll(dst, v => (int)v), IndexType, validate);
    }

    private DeviceBuffer Checked(DeviceBuffer b)
    {
        ThrowIfDisposed();
        return b;
    }

    private void ThrowIfDisposed()
    {
        if (_disposed)
        {
            throw new ObjectDisposedException(nameof(NeighborList), "The NeighborList has been disposed.");
        }
    }

    /// <summary>Frees the device buffers.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _graphAtomPtr.Dispose();
        _srcPtr.Dispose();
        _edgeSrc.Dispose();
        _edgeDst.Dispose();
        Shifts.Dispose();
        EdgeVectors?.Dispose();
        _dstPerm?.Dispose();
    }
}
