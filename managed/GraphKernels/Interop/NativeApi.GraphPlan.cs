using System.Runtime.InteropServices;

namespace GraphKernels.Interop;

/// <summary>gk_plan, laid out exactly as in graphkernels.h (graph plan section).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct GkPlan
{
    public GkCsr Transpose;
    public nint TRowPtr;
    public nint TColIdx;
    public nint Perm;
    public nint InDegree;
    public nint OutDegree;
    public nint RowItemPtr;
    public nint ItemRow;
    public long Chunk;
    public long MaxItems;
    public long NumRows;
    public long NumCols;
    public long Nnz;
    public int IndexType;
    public int Reserved;
}

/// <summary>gk_plan_sizes, laid out exactly as in graphkernels.h.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct GkPlanSizes
{
    public long Chunk;
    public long MaxItems;
    public long TRowPtrBytes;
    public long TColIdxBytes;
    public long PermBytes;
    public long InDegreeBytes;
    public long OutDegreeBytes;
    public long RowItemPtrBytes;
    public long ItemRowBytes;
    public long WorkspaceBytes;
}

/// <summary>gk_spmm_desc, laid out exactly as in graphkernels.h (SpMM section).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct GkSpmmDesc
{
    public int Message;
    public int Reduce;
    public int Dtype;
    public int EdgeMode;
    public long Feat;
    public long Heads;
    public long Ldx;
    public long Lde;
    public long Ldy;
    public long LdArg;
    public uint Flags;
    public int Reserved;
}

/// <summary>The graph plan and generalized SpMM exports (graphkernels.h: SpMM and graph plan sections).</summary>
internal sealed unsafe partial class NativeApi
{
    public delegate* unmanaged[Cdecl]<GkCsr*, long, GkPlanSizes*, int> gk_plan_query;
    public delegate* unmanaged[Cdecl]<GkCsr*, long, GkPlan*, void*, nuint, void*, int> gk_plan_build;
    public delegate* unmanaged[Cdecl]<GkCsr*, GkSpmmDesc*, GkPlan*, nuint*, int> gk_spmm_ex_workspace_size;
    public delegate* unmanaged[Cdecl]<GkCsr*, GkSpmmDesc*, void*, void*, void*, void*, GkPlan*, void*, nuint, void*, int> gk_spmm_ex;
    public delegate* unmanaged[Cdecl]<GkCsr*, GkSpmmDesc*, nuint*, int> gk_spmm_backward_workspace_size;
    public delegate* unmanaged[Cdecl]<GkCsr*, GkPlan*, GkSpmmDesc*, void*, void*, void*, void*, long, void*, long, void*, long, void*, nuint, void*, int> gk_spmm_backward;

    public delegate* unmanaged[Cdecl]<GkCsr*, GkSpmmDesc*, uint, void*, void*, void**, void*, int> gk_spmm_multi;
    public delegate* unmanaged[Cdecl]<GkCsr*, GkSpmmDesc*, nuint*, int> gk_spmm_multi_backward_workspace_size;
    public delegate* unmanaged[Cdecl]<GkCsr*, GkPlan*, GkSpmmDesc*, uint, void*, void*, void**, long, void*, long, void*, long, void*, nuint, void*, int> gk_spmm_multi_backward;

    partial void ResolveGraphPlan(nint handle, string name)
    {
        gk_spmm_multi = (delegate* unmanaged[Cdecl]<GkCsr*, GkSpmmDesc*, uint, void*, void*, void**, void*, int>)LibraryProbe.Export(handle, name, "gk_spmm_multi");
        gk_spmm_multi_backward_workspace_size = (delegate* unmanaged[Cdecl]<GkCsr*, GkSpmmDesc*, nuint*, int>)LibraryProbe.Export(handle, name, "gk_spmm_multi_backward_workspace_size");
        gk_spmm_multi_backward = (delegate* unmanaged[Cdecl]<GkCsr*, GkPlan*, GkSpmmDesc*, uint, void*, void*, void**, long, void*, long, void*, long, void*, nuint, void*, int>)LibraryProbe.Export(handle, name, "gk_spmm_multi_backward");
        gk_plan_query = (delegate* unmanaged[Cdecl]<GkCsr*, long, GkPlanSizes*, int>)LibraryProbe.Export(handle, name, "gk_plan_query");
        gk_plan_build = (delegate* unmanaged[Cdecl]<GkCsr*, long, GkPlan*, void*, nuint, void*, int>)LibraryProbe.Export(handle, name, "gk_plan_build");
        gk_spmm_ex_workspace_size = (delegate* unmanaged[Cdecl]<GkCsr*, GkSpmmDesc*, GkPlan*, nuint*, int>)LibraryProbe.Export(handle, name, "gk_spmm_ex_workspace_size");
        gk_spmm_ex = (delegate* unmanaged[Cdecl]<GkCsr*, GkSpmmDesc*, void*, void*, void*, void*, GkPlan*, void*, nuint, void*, int>)LibraryProbe.Export(handle, name, "gk_spmm_ex");
        gk_spmm_backward_workspace_size = (delegate* unmanaged[Cdecl]<GkCsr*, GkSpmmDesc*, nuint*, int>)LibraryProbe.Export(handle, name, "gk_spmm_backward_workspace_size");
        gk_spmm_backward = (delegate* unmanaged[Cdecl]<GkCsr*, GkPlan*, GkSpmmDesc*, void*, void*, void*, void*, long, void*, long, void*, long, void*, nuint, void*, int>)LibraryProbe.Export(handle, name, "gk_spmm_backward");
    }
}
