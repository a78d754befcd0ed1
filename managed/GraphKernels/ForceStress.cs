using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using GraphKernels.Interop;

namespace GraphKernels;

/// <summary>What the per-edge quantity of a force/stress readout is (<c>gk_fs_mode</c>).</summary>
public enum ForceStressMode
{
    /// <summary><c>g_e = dE/dr_e</c>, three floats per edge (from the model's backward).</summary>
    Conservative = 0,

    /// <summary>A scalar <c>s_e</c> per edge; <c>g_e = s_e r_e / |r_e|</c> (0 when <c>r_e = 0</c>).</summary>
    Direct = 1,
}

/// <summary>How each 3x3 tensor (stress or virial per structure, virial per atom) is written (<c>gk_fs_layout</c>).</summary>
public enum StressLayout
{
    /// <summary>9 values, row-major 3x3, exactly as accumulated (not symmetrised).</summary>
    Tensor = 0,

    /// <summary>6 values xx, yy, zz, yz, xz, xy (ASE); off-diagonals are (t_ab + t_ba) / 2.</summary>
    VoigtAse = 1,

    /// <summary>6 values xx, yy, zz, xy, xz, yz (LAMMPS).</summary>
    VoigtLammps = 2,

    /// <summary>6 values xx, yy, zz, xy, yz, zx (SevenNet's order; the sign stays that of <see cref="StressOutput"/>).</summary>
    VoigtSevenNet = 3,
}

/// <summary>What the per-structure output holds.</summary>
public enum StressOutput
{
    /// <summary>Stress <c>(1/V) sum r (x) g</c> in eV/Å³, ASE sign (positive = tensile); 0 for non-periodic structures.</summary>
    Stress = 0,

    /// <summary>The same stress in GPa (× 160.21766208).</summary>
    StressGpa = 1,

    /// <summary>Virial <c>W = -sum r (x) g = -σV</c> in eV (LAMMPS sign); defined for non-periodic structures too.</summary>
    Virial = 2,
}

/// <summary>Options of <see cref="ForceStress.Readout(ForceStressTopology, EdgeGeometry, DeviceBuffer{float}, DeviceBuffer{float}, DeviceBuffer{float}?, ForceStressOptions, DeviceBuffer{float}?, DeviceBuffer{byte}?, Stream?)"/>; the default is conservative mode, 3x3 stress in eV/Å³.</summary>
public readonly struct ForceStressOptions
{
    /// <summary>The meaning of the per-edge quantity.</summary>
    public ForceStressMode Mode { get; init; }

    /// <summary>The layout of the stress and per-atom virial outputs.</summary>
    public StressLayout Layout { get; init; }

    /// <summary>Stress (eV/Å³ or GPa) or virial.</summary>
    public StressOutput Output { get; init; }

    /// <summary>
    /// Fast mode (<c>GK_FS_FAST</c>, readout only): fp32 atomics for the forces and one fp64 atomic per block,
    /// structure and component for the stress. NOT bitwise reproducible run to run (the order atomics land
    /// in varies); agrees with the deterministic default to about 1e-6 relative.
    /// </summary>
    public bool Fast { get; init; }

    /// <summary>The <c>gk_fs_flags</c> of these options.</summary>
    internal uint Flags => (Output switch
    {
        StressOutput.Virial => 1u,
        StressOutput.StressGpa => 2u,
        _ => 0u,
    }) | (Fast ? 4u : 0u);

    /// <summary>Values per structure (and per atom) in <see cref="Layout"/>: 9 or 6.</summary>
    public int TensorWidth => Layout == StressLayout.Tensor ? 9 : 6;
}

/// <summary>
/// Where the edge vectors <c>r_e</c> of a readout come from: given per edge, or computed in the kernel
/// as <c>r_e = (x[dst] - x[src]) + S_e · L</c> from positions, integer image shifts and the cells (rows
/// are lattice vectors). Holds references to the buffers, owns nothing.
/// </summary>
public sealed class EdgeGeometry
{
    private EdgeGeometry(DeviceBuffer<float>? edgeVectors, DeviceBuffer<float>? positions, DeviceBuffer<float>? shifts,
        DeviceBuffer<float>? cell, DeviceBuffer<byte>? periodic)
    {
        EdgeVectors = edgeVectors;
        Positions = positions;
        Shifts = shifts;
        Cell = cell;
        Periodic = periodic;
    }

    /// <summary><c>r_e</c>, [E, 3] in the topology's (source-sorted) edge order, or null.</summary>
    public DeviceBuffer<float>? EdgeVectors { get; }

    /// <summary>Atom positions [N, 3], or null.</summary>
    public DeviceBuffer<float>? Positions { get; }

    /// <summary>Integer-valued image shifts [E, 3] as floats, or null.</summary>
    public DeviceBuffer<float>? Shifts { get; }

    /// <summary>Cells [B, 3, 3], rows are lattice vectors, or null.</summary>
    public DeviceBuffer<float>? Cell { get; }

    /// <summary>Per-structure periodic flags [B] (0 = molecule: stress 0), or null for all periodic.</summary>
    public DeviceBuffer<byte>? Periodic { get; }

    /// <summary>Edge vectors given per edge. <paramref name="cell"/> is needed for stress (the volume), not for the virial.</summary>
    /// <param name="edgeVectors">r_e, [E, 3], in the topology's edge order.</param>
    /// <param name="cell">[B, 3, 3] cells, or null for virial-only output.</param>
    /// <param name="periodic">[B] flags (0 = not periodic), or null for all periodic.</param>
    /// <returns>The geometry.</returns>
    public static EdgeGeometry FromEdgeVectors(DeviceBuffer<float> edgeVectors, DeviceBuffer<float>? cell = null,
        DeviceBuffer<byte>? periodic = null)
    {
        ArgumentNullException.ThrowIfNull(edgeVectors);
        return new EdgeGeometry(edgeVectors, null, null, cell, periodic);
    }

    /// <summary>Edge vectors computed in the kernel from positions, shifts and cells.</summary>
    /// <param name="positions">[N, 3] positions.</param>
    /// <param name="shifts">[E, 3] integer image shifts (zeros for molecules), in the topology's edge order.</param>
    /// <param name="cell">[B, 3, 3] cells (any finite values for molecules, e.g. zeros).</param>
    /// <param name="periodic">[B] flags (0 = not periodic), or null for all periodic.</param>
    /// <returns>The geometry.</returns>
    public static EdgeGeometry FromPositions(DeviceBuffer<float> positions, DeviceBuffer<float> shifts, DeviceBuffer<float> cell,
        DeviceBuffer<byte>? periodic = null)
    {
        ArgumentNullException.ThrowIfNull(positions);
        ArgumentNullException.ThrowIfNull(shifts);
        ArgumentNullException.ThrowIfNull(cell);
        return new EdgeGeometry(null, positions, shifts, cell, periodic);
    }
}

/// <summary>
/// The neighbour-list topology of a batch of atomic structures in the form the deterministic readout
/// needs: edges sorted by source atom (a by-source CSR), the destination permutation, and the atoms of
/// each structure. Build it once per neighbour list; it owns its device buffers and the readout workspace.
/// </summary>
public sealed unsafe class ForceStressTopology : IDisposable
{
    private readonly DeviceBuffer _graphAtomPtr, _srcPtr, _edgeSrc, _edgeDst, _dstPtr, _dstPerm;
    private readonly int[] _edgeOrder;
    private DeviceBuffer<byte>? _workspace;
    private bool _disposed;

    private ForceStressTopology(GraphDevice device, IndexType indexType, long atoms, long edges, long graphs, int[] edgeOrder,
        DeviceBuffer graphAtomPtr, DeviceBuffer srcPtr, DeviceBuffer edgeSrc, DeviceBuffer edgeDst, DeviceBuffer dstPtr, DeviceBuffer dstPerm)
    {
        Device = device;
        IndexType = indexType;
        NumAtoms = atoms;
        NumEdges = edges;
        NumGraphs = graphs;
        _edgeOrder = edgeOrder;
        _graphAtomPtr = graphAtomPtr;
        _srcPtr = srcPtr;
        _edgeSrc = edgeSrc;
        _edgeDst = edgeDst;
        _dstPtr = dstPtr;
        _dstPerm = dstPerm;
    }

    /// <summary>The device the topology lives on.</summary>
    public GraphDevice Device { get; }

    /// <summary>Element type of the device index arrays.</summary>
    public IndexType IndexType { get; }

    /// <summary>Number of atoms N.</summary>
    public long NumAtoms { get; }

    /// <summary>Number of edges E.</summary>
    public long NumEdges { get; }

    /// <summary>Number of structures B.</summary>
    public long NumGraphs { get; }

    /// <summary>
    /// <c>EdgeOrder[p]</c> is the caller's edge index stored at position p: every per-edge array passed to
    /// the readout (g_e, s_e, r_e, shifts) must be in this order (see <see cref="SortEdgeData{T}"/>).
    /// </summary>
    public ReadOnlySpan<int> EdgeOrder => _edgeOrder;

    /// <summary>Bytes of workspace a deterministic readout with a stress output needs (9 doubles per atom).</summary>
    public long WorkspaceBytes => WorkspaceBytesFor(0);

    /// <summary>Bytes of workspace a readout with a stress output and these options needs (fast mode: 9 doubles per structure).</summary>
    /// <param name="options">The readout's options.</param>
    /// <returns>The bytes.</returns>
    public long WorkspaceBytesForOptions(ForceStressOptions options) => WorkspaceBytesFor(options.Flags);

    private long WorkspaceBytesFor(uint flags)
    {
        GkFsTopology t = ToNative();
        if (Device.Managed is not null)
        {
            return ForceStressHostChecks.WorkspaceBytes(this, flags);
        }

        nuint bytes;
        Device.Api.Check(Device.Api.gk_force_stress_workspace_size(&t, flags, &bytes), "gk_force_stress_workspace_size");
        return (long)bytes;
    }

    /// <summary>Whether <see cref="Dispose"/> has been called.</summary>
    public bool IsDisposed => _disposed;

    /// <summary>
    /// Builds the topology from an edge list in any order: sorts the edges by source (stably), builds
    /// the by-source CSR and the destination permutation on the host, uploads them, and (by default)
    /// validates everything on the device.
    /// </summary>
    /// <param name="device">The device.</param>
    /// <param name="graphAtomPtr">[B + 1] atom offsets of the structures (atoms of a structure are contiguous); the last entry is N.</param>
    /// <param name="edgeSrc">[E] source atom of each edge.</param>
    /// <param name="edgeDst">[E] destination atom of each edge (same structure as its source).</param>
    /// <param name="indexType">Element type of the device index arrays.</param>
    /// <param name="validate">Run gk_force_stress_validate now (the readout trusts the topology).</param>
    /// <returns>The topology.</returns>
    /// <exception cref="ArgumentException">Lengths differ, graphAtomPtr is empty, or an atom index is out of range (ParamName says which).</exception>
    /// <exception cref="GraphKernelsException">The device validation failed (e.g. an edge joins two structures).</exception>
    public static ForceStressTopology Build(GraphDevice device, ReadOnlySpan<long> graphAtomPtr, ReadOnlySpan<int> edgeSrc,
        ReadOnlySpan<int> edgeDst, IndexType indexType = IndexType.Int32, bool validate = true)
    {
        ArgumentNullException.ThrowIfNull(device);
        device.ThrowIfDisposed();
        if (graphAtomPtr.Length < 1)
        {
            throw new ArgumentException("graphAtomPtr needs B + 1 entries (at least one); it is empty.", nameof(graphAtomPtr));
        }

        if (edgeSrc.Length != edgeDst.Length)
        {
            throw new ArgumentException($"edgeSrc has {edgeSrc.Length} entries but edgeDst has {edgeDst.Length}.", nameof(edgeDst));
        }

        if ((uint)indexType > (uint)IndexType.Int64)
        {
            throw new ArgumentOutOfRangeException(nameof(indexType), indexType, "indexType is not an IndexType value.");
        }

        long n = graphAtomPtr[^1];
        if (n < 0 || n > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(graphAtomPtr), n, $"graphAtomPtr[^1] = {n} (the atom count) must be in [0, {int.MaxValue}].");
        }

        int atoms = (int)n, edges = edgeSrc.Length;
        for (int e = 0; e < edges; e++)
        {
            if ((uint)edgeSrc[e] >= (uint)atoms)
            {
                throw new ArgumentOutOfRangeException(nameof(edgeSrc), edgeSrc[e], $"edgeSrc[{e}] = {edgeSrc[e]} is outside [0, {atoms}).");
            }

            if ((uint)edgeDst[e] >= (uint)atoms)
            {
                throw new ArgumentOutOfRangeException(nameof(edgeDst), edgeDst[e], $"edgeDst[{e}] = {edgeDst[e]} is outside [0, {atoms}).");
            }
        }

        // Stable counting sort by source, then the destination rows in increasing (sorted) edge order.
        var srcPtr = new long[atoms + 1];
        var dstPtr = new long[atoms + 1];
        for (int e = 0; e < edges; e++)
        {
            srcPtr[edgeSrc[e] + 1]++;
            dstPtr[edgeDst[e] + 1]++;
        }

        for (int i = 0; i < atoms; i++)
        {
            srcPtr[i + 1] += srcPtr[i];
            dstPtr[i + 1] += dstPtr[i];
        }

        var order = new int[edges];
        var fill = new long[atoms];
        Array.Copy(srcPtr, fill, atoms);
        for (int e = 0; e < edges; e++)
        {
            order[fill[edgeSrc[e]]++] = e;
        }

        var sortedSrc = new long[edges];
        var sortedDst = new long[edges];
        for (int p = 0; p < edges; p++)
        {
            sortedSrc[p] = edgeSrc[order[p]];
            sortedDst[p] = edgeDst[order[p]];
        }

        var perm = new long[edges];
        Array.Copy(dstPtr, fill, atoms);
        for (int p = 0; p < edges; p++)
        {
            perm[fill[sortedDst[p]]++] = p;
        }

        DeviceBuffer? gp = null, sp = null, es = null, ed = null, dp = null, pm = null;
        try
        {
            gp = UploadIndex(device, graphAtomPtr, indexType);
            sp = UploadIndex(device, srcPtr, indexType);
            es = UploadIndex(device, sortedSrc, indexType);
            ed = UploadIndex(device, sortedDst, indexType);
            dp = UploadIndex(device, dstPtr, indexType);
            pm = UploadIndex(device, perm, indexType);
            var topology = new ForceStressTopology(device, indexType, atoms, edges, graphAtomPtr.Length - 1, order, gp, sp, es, ed, dp, pm);
            if (validate)
            {
                try
                {
                    topology.Validate();
                }
                catch
                {
                    topology.Dispose();
                    gp = sp = es = ed = dp = pm = null;
                    throw;
                }
            }

            return topology;
        }
        catch
        {
            gp?.Dispose();
            sp?.Dispose();
            es?.Dispose();
            ed?.Dispose();
            dp?.Dispose();
            pm?.Dispose();
            throw;
        }
    }

    private static DeviceBuffer UploadIndex(GraphDevice device, ReadOnlySpan<long> values, IndexType indexType)
    {
        if (indexType == IndexType.Int64)
        {
            return device.Upload(values);
        }

        var narrow = new int[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            narrow[i] = checked((int)values[i]);
        }

        return device.Upload<int>(narrow);
    }

    /// <summary>Reorders host per-edge data (width values per edge, in the caller's edge order) into <see cref="EdgeOrder"/>.</summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="data">[E, width] in the caller's order.</param>
    /// <param name="width">Values per edge (3 for vectors and shifts, 1 for scalars).</param>
    /// <returns>[E, width] in the topology's order.</returns>
    public T[] SortEdgeData<T>(ReadOnlySpan<T> data, int width)
        where T : unmanaged
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        if (data.Length != (long)_edgeOrder.Length * width)
        {
            throw new ArgumentException($"data has {data.Length} elements; {_edgeOrder.Length} edges x {width} = {(long)_edgeOrder.Length * width} expected.", nameof(data));
        }

        var result = new T[data.Length];
        for (int p = 0; p < _edgeOrder.Length; p++)
        {
            data.Slice(_edgeOrder[p] * width, width).CopyTo(result.AsSpan(p * width, width));
        }

        return result;
    }

    /// <summary>
    /// Checks the topology on the device (and, when given, the cells of <paramref name="geometry"/>: finite,
    /// non-zero volume where periodic). Synchronises.
    /// </summary>
    /// <param name="geometry">Geometry whose cells and periodic flags are checked too, or null.</param>
    /// <exception cref="GraphKernelsException">InvalidGraph (topology) or InvalidArgument (cell), naming the first bad entry.</exception>
    public void Validate(EdgeGeometry? geometry = null)
    {
        ThrowIfDisposed();
        GkFsTopology t = ToNative();
        GkFsGeometry g = default;
        if (geometry is not null)
        {
            g.Cell = geometry.Cell?.PointerChecked("geometry.Cell") ?? 0;
            g.Periodic = geometry.Periodic?.PointerChecked("geometry.Periodic") ?? 0;
            if (geometry.Cell is not null && geometry.Cell.Length < NumGraphs * 9)
            {
                throw new ArgumentException($"geometry.Cell has {geometry.Cell.Length} elements; NumGraphs x 9 = {NumGraphs * 9} needed.", nameof(geometry));
            }

            if (geometry.Periodic is not null && geometry.Periodic.Length < NumGraphs)
            {
                throw new ArgumentException($"geometry.Periodic has {geometry.Periodic.Length} elements; NumGraphs = {NumGraphs} needed.", nameof(geometry));
            }
        }

        if (Device.Managed is { } managed)
        {
            var managedLeases = default(BufferLeases);
            try
            {
                AddLeases(ref managedLeases);
                managedLeases.Add(geometry?.Cell);
                managedLeases.Add(geometry?.Periodic);
                managed.ForceStressValidate(this, geometry);
            }
            finally
            {
                managedLeases.Dispose();
            }

            return;
        }

        using var ws = Device.Allocate<byte>(Math.Max(8, Device.Api.ForceStressValidateWorkspaceBytes));
        var leases = default(BufferLeases);
        int status;
        try
        {
            AddLeases(ref leases);
            leases.Add(geometry?.Cell);
            leases.Add(geometry?.Periodic);
            Device.EnsureContext();
            status = Device.Api.gk_force_stress_validate(&t, geometry is null ? null : &g, (void*)ws.Pointer, (nuint)ws.Length, null);
        }
        finally
        {
            leases.Dispose();
        }

        GC.KeepAlive(geometry);
        if (status != 0)
        {
            Device.Api.ThrowStatus(status, "gk_force_stress_validate");
        }
    }

    /// <summary>Leases the six index buffers for the duration of a native call: a Dispose racing with the
    /// call then waits for it instead of freeing them under the kernel (found by Reliability/FamilyConcurrencyTests).</summary>
    internal void AddLeases(ref BufferLeases leases)
    {
        leases.Add(_graphAtomPtr);
        leases.Add(_srcPtr);
        leases.Add(_edgeSrc);
        leases.Add(_edgeDst);
        leases.Add(_dstPtr);
        leases.Add(_dstPerm);
    }

    /// <summary>The device index arrays (managed backends read them directly).</summary>
    internal DeviceBuffer GraphAtomPtrBuffer => _graphAtomPtr;

    /// <summary>By-source CSR pointers [N + 1].</summary>
    internal DeviceBuffer SrcPtrBuffer => _srcPtr;

    /// <summary>Sorted edge sources [E].</summary>
    internal DeviceBuffer EdgeSrcBuffer => _edgeSrc;

    /// <summary>Sorted edge destinations [E].</summary>
    internal DeviceBuffer EdgeDstBuffer => _edgeDst;

    /// <summary>By-destination pointers [N + 1].</summary>
    internal DeviceBuffer DstPtrBuffer => _dstPtr;

    /// <summary>Destination permutation [E].</summary>
    internal DeviceBuffer DstPermBuffer => _dstPerm;

    internal GkFsTopology ToNative()
    {
        ThrowIfDisposed();
        GkFsTopology t;
        t.NumAtoms = NumAtoms;
        t.NumEdges = NumEdges;
        t.NumGraphs = NumGraphs;
        t.IndexType = (int)IndexType;
        t.Reserved = 0;
        t.GraphAtomPtr = _graphAtomPtr.PointerChecked("topology");
        t.SrcPtr = _srcPtr.PointerChecked("topology");
        t.EdgeSrc = _edgeSrc.PointerChecked("topology");
        t.EdgeDst = _edgeDst.PointerChecked("topology");
        t.DstPtr = _dstPtr.PointerChecked("topology");
        t.DstPerm = _dstPerm.PointerChecked("topology");
        return t;
    }

    /// <summary>The topology's own workspace, allocated on first use (shared by calls: do not run two readouts of one topology concurrently with it).</summary>
    internal DeviceBuffer<byte> OwnWorkspace(uint flags) => OwnWorkspaceBytes(WorkspaceBytesFor(flags));

    /// <summary>The topology's own workspace of at least <paramref name="needed"/> bytes (grown, never shrunk).</summary>
    internal DeviceBuffer<byte> OwnWorkspaceBytes(long needed)
    {
        long bytes = Math.Max(8, needed);
        if (_workspace is null || _workspace.Length < bytes)
        {
            _workspace?.Dispose();
            _workspace = Device.Allocate<byte>(bytes);
        }

        return _workspace;
    }

    internal void ThrowIfDisposed()
    {
        if (_disposed)
        {
            throw new ObjectDisposedException(nameof(ForceStressTopology), "The ForceStressTopology has been disposed.");
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
        _workspace?.Dispose();
        _graphAtomPtr.Dispose();
        _srcPtr.Dispose();
        _edgeSrc.Dispose();
        _edgeDst.Dispose();
        _dstPtr.Dispose();
        _dstPerm.Dispose();
    }
}

/// <summary>
/// The fused force/stress readout: from a per-edge quantity of a batch of atomic structures, per-atom
/// forces and per-structure stress (or virial) in one deterministic pass. Conventions: docs/force_stress.md.
/// </summary>
public static unsafe partial class ForceStress
{
    /// <summary>
    /// <c>F_i = Σ_{src=i} g_e − Σ_{dst=i} g_e</c> into <paramref name="forces"/> [N, 3];
    /// per structure <c>σ_b = (1/V_b) Σ r_e ⊗ g_e</c> (or the virial) into <paramref name="stress"/>;
    /// optionally the LAMMPS per-atom virial. Bitwise reproducible. Stream-ordered.
    /// </summary>
    /// <param name="topology">The batch's neighbour-list topology.</param>
    /// <param name="geometry">Where r_e comes from.</param>
    /// <param name="edgeQuantity">g_e [E, 3] (conservative) or s_e [E] (direct), in the topology's edge order.</param>
    /// <param name="forces">Output [N, 3], fully overwritten.</param>
    /// <param name="stress">Output [B, 9 or 6] (see <see cref="ForceStressOptions.TensorWidth"/>), or null for forces only.</param>
    /// <param name="options">Mode, layout and output kind.</param>
    /// <param name="atomVirial">Optional output [N, 9 or 6]: W_i = −½ Σ_{e ∋ i} r_e ⊗ g_e (eV).</param>
    /// <param name="workspace">Workspace of at least <see cref="ForceStressTopology.WorkspaceBytes"/> bytes, or null to use the topology's own.</param>
    /// <param name="stream">The stream (default: the device's default stream).</param>
    /// <exception cref="ArgumentException">A length, device or option mismatch (ParamName says which argument).</exception>
    /// <exception cref="ObjectDisposedException">The topology or a buffer has been disposed.</exception>
    /// <exception cref="GraphKernelsException">The native library refused the call.</exception>
    public static void Readout(ForceStressTopology topology, EdgeGeometry geometry, DeviceBuffer<float> edgeQuantity,
        DeviceBuffer<float> forces, DeviceBuffer<float>? stress = null, ForceStressOptions options = default,
        DeviceBuffer<float>? atomVirial = null, DeviceBuffer<byte>? workspace = null, Stream? stream = null)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(geometry);
        ArgumentNullException.ThrowIfNull(edgeQuantity);
        ArgumentNullException.ThrowIfNull(forces);

        CheckOptions(options);

        GraphDevice device = topology.Device;
        GkFsTopology t = topology.ToNative();
        long n = topology.NumAtoms, e = topology.NumEdges, b = topology.NumGraphs;
        int width = options.TensorWidth;

        Check(edgeQuantity, device, options.Mode == ForceStressMode.Direct ? e : 3 * e, nameof(edgeQuantity),
            options.Mode == ForceStressMode.Direct ? "NumEdges (one s_e per edge)" : "NumEdges x 3 (g_e per edge)");
        Check(forces, device, 3 * n, nameof(forces), "NumAtoms x 3");
        if (stress is not null)
        {
            Check(stress, device, width * b, nameof(stress), width == 9 ? "NumGraphs x 9" : "NumGraphs x 6");
        }

        if (atomVirial is not null)
        {
            Check(atomVirial, device, width * n, nameof(atomVirial), width == 9 ? "NumAtoms x 9" : "NumAtoms x 6");
        }

        GkFsGeometry g = NativeGeometry(geometry, device, n, e, b, stress is not null && options.Output != StressOutput.Virial);

        DeviceBuffer<byte>? ws = null;
        if (stress is not null)
        {
            if (workspace is null)
            {
                ws = topology.OwnWorkspace(options.Flags);
            }
            else
            {
                if (!ReferenceEquals(workspace.DeviceCore, device))
                {
                    ThrowArg(nameof(workspace), "workspace belongs to another device instance than the topology.");
                }

                ws = workspace;
            }
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

        uint flags = options.Flags;

        var leases = default(BufferLeases);
        try
        {
            topology.AddLeases(ref leases);
            leases.Add(edgeQuantity);
            leases.Add(forces);
            leases.Add(stress);
            leases.Add(atomVirial);
            leases.Add(ws);
            leases.Add(geometry.EdgeVectors);
            leases.Add(geometry.Positions);
            leases.Add(geometry.Shifts);
            leases.Add(geometry.Cell);
            leases.Add(geometry.Periodic);
            if (device.Managed is { } managed)
            {
                ForceStressHostChecks.Readout(topology, geometry, options.Mode, edgeQuantity, null, options.Layout, flags, forces, stress, atomVirial, ws);
                managed.ForceStressReadout(topology, geometry, options.Mode, edgeQuantity, null, options.Layout, flags, forces, stress, atomVirial, ws);
                return;
            }

            device.EnsureContext();
            int status = device.Api.gk_force_stress_readout(&t, &g, (int)options.Mode, (float*)edgeQuantity.PointerChecked(nameof(edgeQuantity)),
                (int)options.Layout, flags, (float*)forces.PointerChecked(nameof(forces)),
                stress is null ? null : (float*)stress.PointerChecked(nameof(stress)),
                atomVirial is null ? null : (float*)atomVirial.PointerChecked(nameof(atomVirial)),
                ws is null ? null : (void*)ws.PointerChecked(nameof(workspace)), ws is null ? 0 : (nuint)ws.Length, (void*)ps);
            GC.KeepAlive(topology);
            if (status != 0)
            {
                device.Api.ThrowStatus(status, "gk_force_stress_readout");
            }
        }
        finally
        {
            leases.Dispose();
        }
    }

    /// <summary>
    /// Backward of <see cref="Readout(ForceStressTopology, EdgeGeometry, DeviceBuffer{float}, DeviceBuffer{float}, DeviceBuffer{float}?, ForceStressOptions, DeviceBuffer{float}?, DeviceBuffer{byte}?, Stream?)"/> (first order, no double backward): from <c>G = dL/dF</c> and
    /// <c>H = dL/d(stress output)</c> — the gradient of exactly what <see cref="Readout(ForceStressTopology, EdgeGeometry, DeviceBuffer{float}, DeviceBuffer{float}, DeviceBuffer{float}?, ForceStressOptions, DeviceBuffer{float}?, DeviceBuffer{byte}?, Stream?)"/> wrote with the same
    /// <paramref name="options"/> (layout, stress/GPa/virial) — computes per edge
    /// <c>u_e = dL/dg_e = G[src] − G[dst] + K_bᵀ r_e</c> with <c>K_b = c_b H_b</c> as 3x3 (<c>c_b</c> = 1/V_b,
    /// 160.21766208/V_b for GPa, 0 for non-periodic structures, −1 for the virial; a Voigt off-diagonal gives
    /// half to (a,b) and to (b,a)). Conservative: <paramref name="gradQuantity"/> [E, 3] = u_e. Direct:
    /// [E] = <c>dL/ds_e = u_e · r̂_e</c>. Optionally <paramref name="gradEdgeVectors"/> [E, 3] = <c>dL/dr_e = K_b g_e</c>
    /// (+ <c>(s_e/|r_e|)(u_e − (u_e·r̂_e) r̂_e)</c> in direct mode). A per-edge gather: no atomics, bitwise
    /// reproducible, no workspace. Stream-ordered. <c>options.Fast</c> must be false.
    /// </summary>
    /// <param name="topology">The batch's neighbour-list topology.</param>
    /// <param name="geometry">Where r_e comes from (as in the forward).</param>
    /// <param name="edgeQuantity">The forward's g_e [E, 3] or s_e [E].</param>
    /// <param name="gradForces">dL/dF [N, 3], or null (zero).</param>
    /// <param name="gradStress">dL/d(stress output) [B, 9 or 6] in the forward's layout, or null (zero).</param>
    /// <param name="gradQuantity">Output dL/dg_e [E, 3] (conservative) or dL/ds_e [E] (direct), fully overwritten.</param>
    /// <param name="options">The forward's options.</param>
    /// <param name="gradEdgeVectors">Optional output dL/dr_e [E, 3] (chain it to positions and cells yourself).</param>
    /// <param name="stream">The stream (default: the device's default stream).</param>
    /// <exception cref="ArgumentException">A length, device or option mismatch (ParamName says which argument).</exception>
    /// <exception cref="ObjectDisposedException">The topology or a buffer has been disposed.</exception>
    /// <exception cref="GraphKernelsException">The native library refused the call.</exception>
    public static void Backward(ForceStressTopology topology, EdgeGeometry geometry, DeviceBuffer<float> edgeQuantity,
        DeviceBuffer<float>? gradForces, DeviceBuffer<float>? gradStress, DeviceBuffer<float> gradQuantity,
        ForceStressOptions options = default, DeviceBuffer<float>? gradEdgeVectors = null, Stream? stream = null)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(geometry);
        ArgumentNullException.ThrowIfNull(edgeQuantity);
        ArgumentNullException.ThrowIfNull(gradQuantity);

        CheckOptions(options);

        if (options.Fast)
        {
            ThrowArg(nameof(options), "options.Fast selects the forward's reduction; the backward has none (it is always deterministic): pass the options without it.");
        }

        GraphDevice device = topology.Device;
        GkFsTopology t = topology.ToNative();
        long n = topology.NumAtoms, e = topology.NumEdges, b = topology.NumGraphs;
        int width = options.TensorWidth;
        long perEdge = options.Mode == ForceStressMode.Direct ? e : 3 * e;
        string perEdgeWhat = options.Mode == ForceStressMode.Direct ? "NumEdges (one value per edge)" : "NumEdges x 3";
        Check(edgeQuantity, device, perEdge, nameof(edgeQuantity), perEdgeWhat);
        Check(gradQuantity, device, perEdge, nameof(gradQuantity), perEdgeWhat);
        if (gradForces is not null)
        {
            Check(gradForces, device, 3 * n, nameof(gradForces), "NumAtoms x 3");
        }

        if (gradStress is not null)
        {
            Check(gradStress, device, width * b, nameof(gradStress), width == 9 ? "NumGraphs x 9" : "NumGraphs x 6");
        }

        if (gradEdgeVectors is not null)
        {
            Check(gradEdgeVectors, device, 3 * e, nameof(gradEdgeVectors), "NumEdges x 3");
        }

        GkFsGeometry g = NativeGeometry(geometry, device, n, e, b, gradStress is not null && options.Output != StressOutput.Virial);
        nint ps = StreamHandle(stream, device);
        var leases = default(BufferLeases);
        try
        {
            topology.AddLeases(ref leases);
            leases.Add(edgeQuantity);
            leases.Add(gradForces);
            leases.Add(gradStress);
            leases.Add(gradQuantity);
            leases.Add(gradEdgeVectors);
            leases.Add(geometry.EdgeVectors);
            leases.Add(geometry.Positions);
            leases.Add(geometry.Shifts);
            leases.Add(geometry.Cell);
            leases.Add(geometry.Periodic);
            if (device.Managed is { } managed)
            {
                ForceStressHostChecks.Backward(topology, geometry, options.Mode, edgeQuantity, null, options.Layout, gradForces, gradStress,
                    gradQuantity, null, 0, null, null, gradEdgeVectors, null);
                managed.ForceStressBackward(topology, geometry, options.Mode, edgeQuantity, null, options.Layout, options.Flags, gradForces, gradStress,
                    gradQuantity, null, 0, null, null, gradEdgeVectors, null);
                return;
            }

            device.EnsureContext();
            int status = device.Api.gk_force_stress_backward(&t, &g, (int)options.Mode, (float*)edgeQuantity.PointerChecked(nameof(edgeQuantity)),
                (int)options.Layout, options.Flags,
                gradForces is null ? null : (float*)gradForces.PointerChecked(nameof(gradForces)),
                gradStress is null ? null : (float*)gradStress.PointerChecked(nameof(gradStress)),
                (float*)gradQuantity.PointerChecked(nameof(gradQuantity)),
                gradEdgeVectors is null ? null : (float*)gradEdgeVectors.PointerChecked(nameof(gradEdgeVectors)), (void*)ps);
            GC.KeepAlive(topology);
            if (status != 0)
            {
                device.Api.ThrowStatus(status, "gk_force_stress_backward");
            }
        }
        finally
        {
            leases.Dispose();
        }
    }

    private static nint StreamHandle(Stream? stream, GraphDevice device)
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

    private static GkFsGeometry NativeGeometry(EdgeGeometry geometry, GraphDevice device, long n, long e, long b, bool needCell)
    {
        GkFsGeometry g = default;
        if (geometry.EdgeVectors is not null)
        {
            Check(geometry.EdgeVectors, device, 3 * e, "geometry", "NumEdges x 3 (geometry.EdgeVectors)");
            g.EdgeVec = geometry.EdgeVectors.PointerChecked(nameof(geometry));
        }
        else
        {
            Check(geometry.Positions!, device, 3 * n, "geometry", "NumAtoms x 3 (geometry.Positions)");
            Check(geometry.Shifts!, device, 3 * e, "geometry", "NumEdges x 3 (geometry.Shifts)");
            g.Positions = geometry.Positions!.PointerChecked(nameof(geometry));
            g.Shifts = geometry.Shifts!.PointerChecked(nameof(geometry));
        }

        if (geometry.Cell is not null)
        {
            Check(geometry.Cell, device, 9 * b, "geometry", "NumGraphs x 9 (geometry.Cell)");
            g.Cell = geometry.Cell.PointerChecked(nameof(geometry));
        }
        else if (needCell)
        {
            ThrowArg(nameof(geometry), "Stress needs the cells for the volume: geometry.Cell is null (use StressOutput.Virial or give the cells).");
        }

        if (geometry.Periodic is not null)
        {
            Check(geometry.Periodic, device, b, "geometry", "NumGraphs (geometry.Periodic)");
            g.Periodic = geometry.Periodic.PointerChecked(nameof(geometry));
        }

        return g;
    }

    /// <summary>
    /// BENCHMARK BASELINE ONLY (issue 5): the unfused three-launch readout, <c>gk_force_stress_unfused_baseline</c>.
    /// Direct mode from edge vectors: writes <c>g_e = s_e r̂_e</c> to <paramref name="g"/> [E,3], scatters forces
    /// [N,3] with fp32 atomics (not bitwise reproducible), reduces the stress [B,9] (3x3, eV/Å³, all structures
    /// periodic). Enqueued on the default stream; the caller synchronises.
    /// </summary>
    internal static void UnfusedBaseline(ForceStressTopology topology, DeviceBuffer<float> edgeVectors, DeviceBuffer<float> cell,
        DeviceBuffer<float> s, DeviceBuffer<float> g, DeviceBuffer<float> forces, DeviceBuffer<float> stress)
    {
        if (topology is null)
        {
            ThrowNull(nameof(topology));
        }

        GraphDevice device = topology.Device;
        GkFsTopology t = topology.ToNative();
        long n = topology.NumAtoms, e = topology.NumEdges, b = topology.NumGraphs;
        Check(edgeVectors, device, 3 * e, nameof(edgeVectors), "NumEdges x 3");
        Check(cell, device, 9 * b, nameof(cell), "NumGraphs x 9");
        Check(s, device, e, nameof(s), "NumEdges");
        Check(g, device, 3 * e, nameof(g), "NumEdges x 3");
        Check(forces, device, 3 * n, nameof(forces), "NumAtoms x 3");
        Check(stress, device, 9 * b, nameof(stress), "NumGraphs x 9");
        var leases = default(BufferLeases);
        try
        {
            topology.AddLeases(ref leases);
            leases.Add(edgeVectors);
            leases.Add(cell);
            leases.Add(s);
            leases.Add(g);
            leases.Add(forces);
            leases.Add(stress);
            device.EnsureContext();
            int status = device.Api.gk_force_stress_unfused_baseline(&t, (float*)edgeVectors.PointerChecked(nameof(edgeVectors)),
                (float*)cell.PointerChecked(nameof(cell)), (float*)s.PointerChecked(nameof(s)), (float*)g.PointerChecked(nameof(g)),
                (float*)forces.PointerChecked(nameof(forces)), (float*)stress.PointerChecked(nameof(stress)), null);
            GC.KeepAlive(topology);
            if (status != 0)
            {
                device.Api.ThrowStatus(status, "gk_force_stress_unfused_baseline");
            }
        }
        finally
        {
            leases.Dispose();
        }
    }

    private static void Check(DeviceBuffer buffer, GraphDevice device, long needed, string paramName, string what)
    {
        if (buffer is null)
        {
            ThrowNull(paramName);
        }

        buffer.PointerChecked(paramName);
        if (!ReferenceEquals(buffer.DeviceCore, device))
        {
            ThrowArg(paramName, $"{paramName} belongs to another device instance ({buffer.DeviceCore.Name}) than the topology ({device.Name}).");
        }

        if (buffer.Length < needed)
        {
            ThrowArg(paramName, $"{paramName} has {buffer.Length} elements but needs {needed} ({what}).");
        }
    }

    /// <summary>The enum fields of the options the readout and its backward share.</summary>
    private static void CheckOptions(in ForceStressOptions options)
    {
            if ((uint)options.Mode > (uint)ForceStressMode.Direct)
            {
                ThrowArg(nameof(options), $"options.Mode = {(int)options.Mode} is not a ForceStressMode.");
            }

            if ((uint)options.Layout > (uint)StressLayout.VoigtSevenNet)
            {
                ThrowArg(nameof(options), $"options.Layout = {(int)options.Layout} is not a StressLayout.");
            }

            if ((uint)options.Output > (uint)StressOutput.Virial)
            {
                ThrowArg(nameof(options), $"options.Output = {(int)options.Output} is not a StressOutput.");
            }
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNull(string paramName) => throw new ArgumentNullException(paramName);

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowArg(string paramName, string message) => throw new ArgumentException(message, paramName);
}
