using System.Runtime.InteropServices;

namespace GraphKernels.Interop;

/// <summary>gk_nl_batch, laid out exactly as in graphkernels.h.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct GkNlBatch
{
    public long NumAtoms;
    public long NumGraphs;
    public int IndexType;
    public int Reserved;
    public nint GraphAtomPtr;
    public nint Positions;
    public nint Cell;
    public nint Periodic;
}

/// <summary>gk_nl_report, laid out exactly as in graphkernels.h.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct GkNlReport
{
    public long NumEdges;
    public long MaxCount;
    public long MaxCountAtom;
    public long OverflowAtom;
    public long OverflowCount;
}

/// <summary>The neighbour-list exports (graphkernels.h, neighbour list section).</summary>
internal sealed unsafe partial class NativeApi
{
    public delegate* unmanaged[Cdecl]<GkNlBatch*, nuint*, int> gk_neighbor_list_workspace_size;
    public delegate* unmanaged[Cdecl]<GkNlBatch*, double, long, void*, void*, nuint, GkNlReport*, void*, int> gk_neighbor_list_count;
    public delegate* unmanaged[Cdecl]<GkNlBatch*, double, void*, long, void*, void*, int*, float*, void*, void*, int> gk_neighbor_list_fill;
    public delegate* unmanaged[Cdecl]<GkNlBatch*, double, void*, void*, nuint, long, void*, void*, int*, float*, void*, void*, int> gk_neighbor_list_fill_ws;

    partial void ResolveNeighbors(nint handle, string name)
    {
        gk_neighbor_list_workspace_size = (delegate* unmanaged[Cdecl]<GkNlBatch*, nuint*, int>)LibraryProbe.Export(handle, name, "gk_neighbor_list_workspace_size");
        gk_neighbor_list_count = (delegate* unmanaged[Cdecl]<GkNlBatch*, double, long, void*, void*, nuint, GkNlReport*, void*, int>)LibraryProbe.Export(handle, name, "gk_neighbor_list_count");
        gk_neighbor_list_fill = (delegate* unmanaged[Cdecl]<GkNlBatch*, double, void*, long, void*, void*, int*, float*, void*, void*, int>)LibraryProbe.Export(handle, name, "gk_neighbor_list_fill");
        gk_neighbor_list_fill_ws = (delegate* unmanaged[Cdecl]<GkNlBatch*, double, void*, void*, nuint, long, void*, void*, int*, float*, void*, void*, int>)LibraryProbe.Export(handle, name, "gk_neighbor_list_fill_ws");
    }
}
