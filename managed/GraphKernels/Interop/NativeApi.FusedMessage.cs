namespace GraphKernels.Interop;

/// <summary>The fused-message exports (graphkernels.h, fused message functions section).</summary>
internal sealed unsafe partial class NativeApi
{
    /// <summary>gk_fused_message: a built-in message function fused with the reduction (kernels/fused_message.cuh).</summary>
    public delegate* unmanaged[Cdecl]<GkCsr*, int, int, long, void*, long, void*, long, void*, long, long, void*, long, void*, int> gk_fused_message;

    partial void ResolveFusedMessage(nint handle, string name)
    {
        gk_fused_message = (delegate* unmanaged[Cdecl]<GkCsr*, int, int, long, void*, long, void*, long, void*, long, long, void*, long, void*, int>)LibraryProbe.Export(handle, name, "gk_fused_message");
    }
}
