namespace GraphKernels.Interop;

/// <summary>The fused-message exports (graphkernels.h, fused message functions section).</summary>
internal sealed unsafe partial class NativeApi
{
    /// <summary>gk_fused_message: a built-in message function fused with the reduction (kernels/fused_message.cuh).</summary>
    public delegate* unmanaged[Cdecl]<GkCsr*, int, int, long, void*, long, void*, long, void*, long, long, void*, long, void*, int> gk_fused_message;

    /// <summary>gk_fused_message_backward: the sum/mean backward of a built-in (kernels/fused_message_backward.cuh).</summary>
    public delegate* unmanaged[Cdecl]<GkCsr*, GkPlan*, int, int, long, void*, long, void*, long, void*, long, long, void*, long, void*, long, void*, long, void*, long, void*, int> gk_fused_message_backward;

    partial void ResolveFusedMessage(nint handle, string name)
    {
        gk_fused_message_backward = (delegate* unmanaged[Cdecl]<GkCsr*, GkPlan*, int, int, long, void*, long, void*, long, void*, long, long, void*, long, void*, long, void*, long, void*, long, void*, int>)LibraryProbe.Export(handle, name, "gk_fused_message_backward");
        gk_fused_message = (delegate* unmanaged[Cdecl]<GkCsr*, int, int, long, void*, long, void*, long, void*, long, long, void*, long, void*, int>)LibraryProbe.Export(handle, name, "gk_fused_message");
    }
}
