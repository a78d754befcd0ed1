using GraphKernels.Interop;

namespace GraphKernels;

/// <summary>The neighbour-list ops of the managed-backend seam (see <see cref="IManagedBackend"/>).</summary>
internal unsafe partial interface IManagedBackend
{
    /// <summary>
    /// NeighborList.Build's count pass after its argument checks: the checks of gk_neighbor_list_count (same
    /// statuses and messages, the max_neighbors refusal with Data["OverflowAtom"] / ["OverflowCount"]), the
    /// per-atom counts into <paramref name="workspace"/>, <paramref name="srcPtr"/> [N + 1]; returns the report.
    /// </summary>
    GkNlReport NeighborCount(long[] graphAtomPtr, IndexType indexType, DeviceBuffer graphAtomPtrDevice, DeviceBuffer<float> positions,
        DeviceBuffer<float>? cell, DeviceBuffer<byte>? periodic, double cutoff, long maxNeighbors, DeviceBuffer srcPtr, DeviceBuffer workspace)
        => throw ManagedBackends.NotSupported("NeighborList.Build", Name);

    /// <summary>NeighborList.Build's fill pass (gk_neighbor_list_fill_ws semantics) after the count.</summary>
    void NeighborFill(long[] graphAtomPtr, IndexType indexType, DeviceBuffer graphAtomPtrDevice, DeviceBuffer<float> positions,
        DeviceBuffer<float>? cell, DeviceBuffer<byte>? periodic, double cutoff, DeviceBuffer srcPtr, DeviceBuffer workspace, long numEdges,
        DeviceBuffer edgeSrc, DeviceBuffer edgeDst, DeviceBuffer<int> shifts, DeviceBuffer<float>? edgeVectors, DeviceBuffer? dstPerm)
        => throw ManagedBackends.NotSupported("NeighborList.Build", Name);
}
