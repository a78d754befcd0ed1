namespace GraphKernels.Interop;

/// <summary>The edge-op exports (graphkernels.h, edge ops section): SDDMM, edge softmax, segment, COO, degree.</summary>
internal sealed unsafe partial class NativeApi
{
    /// <summary>gk_sddmm.</summary>
    public delegate* unmanaged[Cdecl]<GkCsr*, int, int, long, long, int, void*, long, int, void*, long, void*, long, void*, int> gk_sddmm;

    /// <summary>gk_sddmm_backward.</summary>
    public delegate* unmanaged[Cdecl]<GkCsr*, GkCsr*, void*, int, int, long, long, int, void*, long, int, void*, long, void*, long, void*, long, void*, long, void*, int> gk_sddmm_backward;

    /// <summary>gk_edge_softmax.</summary>
    public delegate* unmanaged[Cdecl]<GkCsr*, int, long, void*, long, void*, long, float*, float*, void*, int> gk_edge_softmax;

    /// <summary>gk_edge_softmax_backward.</summary>
    public delegate* unmanaged[Cdecl]<GkCsr*, int, long, void*, long, void*, long, void*, long, void*, int> gk_edge_softmax_backward;

    /// <summary>gk_segment_reduce.</summary>
    public delegate* unmanaged[Cdecl]<int, long, void*, void*, long, int, int, long, void*, long, void*, long, void*, long, void*, int> gk_segment_reduce;

    /// <summary>gk_segment_gather.</summary>
    public delegate* unmanaged[Cdecl]<int, long, void*, void*, long, int, int, long, void*, long, void*, long, void*, long, void*, int> gk_segment_gather;

    /// <summary>gk_coo_to_csr_workspace_size.</summary>
    public delegate* unmanaged[Cdecl]<long, nuint*, int> gk_coo_to_csr_workspace_size;

    /// <summary>gk_coo_to_csr.</summary>
    public delegate* unmanaged[Cdecl]<int, long, void*, void*, long, long, void*, void*, void*, void*, nuint, void*, int> gk_coo_to_csr;

    /// <summary>gk_degree.</summary>
    public delegate* unmanaged[Cdecl]<GkCsr*, int, void*, void*, int> gk_degree;

    partial void ResolveEdgeOps(nint handle, string name)
    {
        gk_sddmm = (delegate* unmanaged[Cdecl]<GkCsr*, int, int, long, long, int, void*, long, int, void*, long, void*, long, void*, int>)LibraryProbe.Export(handle, name, "gk_sddmm");
        gk_sddmm_backward = (delegate* unmanaged[Cdecl]<GkCsr*, GkCsr*, void*, int, int, long, long, int, void*, long, int, void*, long, void*, long, void*, long, void*, long, void*, int>)LibraryProbe.Export(handle, name, "gk_sddmm_backward");
        gk_edge_softmax = (delegate* unmanaged[Cdecl]<GkCsr*, int, long, void*, long, void*, long, float*, float*, void*, int>)LibraryProbe.Export(handle, name, "gk_edge_softmax");
        gk_edge_softmax_backward = (delegate* unmanaged[Cdecl]<GkCsr*, int, long, void*, long, void*, long, void*, long, void*, int>)LibraryProbe.Export(handle, name, "gk_edge_softmax_backward");
        gk_segment_reduce = (delegate* unmanaged[Cdecl]<int, long, void*, void*, long, int, int, long, void*, long, void*, long, void*, long, void*, int>)LibraryProbe.Export(handle, name, "gk_segment_reduce");
        gk_segment_gather = (delegate* unmanaged[Cdecl]<int, long, void*, void*, long, int, int, long, void*, long, void*, long, void*, long, void*, int>)LibraryProbe.Export(handle, name, "gk_segment_gather");
        gk_coo_to_csr_workspace_size = (delegate* unmanaged[Cdecl]<long, nuint*, int>)LibraryProbe.Export(handle, name, "gk_coo_to_csr_workspace_size");
        gk_coo_to_csr = (delegate* unmanaged[Cdecl]<int, long, void*, void*, long, long, void*, void*, void*, void*, nuint, void*, int>)LibraryProbe.Export(handle, name, "gk_coo_to_csr");
        gk_degree = (delegate* unmanaged[Cdecl]<GkCsr*, int, void*, void*, int>)LibraryProbe.Export(handle, name, "gk_degree");
    }
}
