using System.Runtime.InteropServices;

namespace GraphKernels.Interop;

/// <summary>gk_fs_topology, laid out exactly as in graphkernels.h.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct GkFsTopology
{
    public long NumAtoms;
    public long NumEdges;
    public long NumGraphs;
    public int IndexType;
    public int Reserved;
    public nint GraphAtomPtr;
    public nint SrcPtr;
    public nint EdgeSrc;
    public nint EdgeDst;
    public nint DstPtr;
    public nint DstPerm;
}

/// <summary>gk_fs_geometry, laid out exactly as in graphkernels.h.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct GkFsGeometry
{
    public nint EdgeVec;
    public nint Positions;
    public nint Shifts;
    public nint Cell;
    public nint Periodic;
}

/// <summary>gk_fs_head, laid out exactly as in graphkernels.h.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct GkFsHead
{
    public nint Features;
    public nint Weight;
    public nint Bias;
    public long Channels;
    public long Ld;
}

/// <summary>gk_fs_head_grad, laid out exactly as in graphkernels.h.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct GkFsHeadGrad
{
    public nint GradScalar;
    public nint GradFeatures;
    public long GradLd;
    public nint GradWeight;
    public nint GradBias;
}

/// <summary>The force/stress readout exports (graphkernels.h, force/stress section).</summary>
internal sealed unsafe partial class NativeApi
{
    public delegate* unmanaged[Cdecl]<GkFsTopology*, uint, nuint*, int> gk_force_stress_workspace_size;
    public delegate* unmanaged[Cdecl]<nuint*, int> gk_force_stress_validate_workspace_size;
    public delegate* unmanaged[Cdecl]<GkFsTopology*, GkFsGeometry*, void*, nuint, void*, int> gk_force_stress_validate;
    public delegate* unmanaged[Cdecl]<GkFsTopology*, GkFsGeometry*, int, float*, int, uint, float*, float*, float*, void*, nuint, void*, int> gk_force_stress_readout;
    public delegate* unmanaged[Cdecl]<GkFsTopology*, GkFsGeometry*, int, float*, int, uint, float*, float*, float*, float*, void*, int> gk_force_stress_backward;

    public delegate* unmanaged[Cdecl]<GkFsTopology*, GkFsGeometry*, GkFsHead*, int, uint, float*, float*, float*, void*, nuint, void*, int> gk_force_stress_readout_head;
    public delegate* unmanaged[Cdecl]<GkFsTopology*, GkFsHead*, nuint*, int> gk_force_stress_backward_head_workspace_size;
    public delegate* unmanaged[Cdecl]<GkFsTopology*, GkFsGeometry*, GkFsHead*, int, uint, float*, float*, GkFsHeadGrad*, float*, void*, nuint, void*, int> gk_force_stress_backward_head;

    /// <summary>Benchmark baseline only: the unfused three-launch readout (gk_force_stress_unfused_baseline).</summary>
    public delegate* unmanaged[Cdecl]<GkFsTopology*, float*, float*, float*, float*, float*, float*, void*, int> gk_force_stress_unfused_baseline;

    /// <summary>Bytes of workspace gk_force_stress_validate needs (constant).</summary>
    public long ForceStressValidateWorkspaceBytes { get; private set; }

    partial void ResolveForceStress(nint handle, string name)
    {
        gk_force_stress_workspace_size = (delegate* unmanaged[Cdecl]<GkFsTopology*, uint, nuint*, int>)LibraryProbe.Export(handle, name, "gk_force_stress_workspace_size");
        gk_force_stress_validate_workspace_size = (delegate* unmanaged[Cdecl]<nuint*, int>)LibraryProbe.Export(handle, name, "gk_force_stress_validate_workspace_size");
        gk_force_stress_validate = (delegate* unmanaged[Cdecl]<GkFsTopology*, GkFsGeometry*, void*, nuint, void*, int>)LibraryProbe.Export(handle, name, "gk_force_stress_validate");
        gk_force_stress_readout = (delegate* unmanaged[Cdecl]<GkFsTopology*, GkFsGeometry*, int, float*, int, uint, float*, float*, float*, void*, nuint, void*, int>)LibraryProbe.Export(handle, name, "gk_force_stress_readout");
        gk_force_stress_backward = (delegate* unmanaged[Cdecl]<GkFsTopology*, GkFsGeometry*, int, float*, int, uint, float*, float*, float*, float*, void*, int>)LibraryProbe.Export(handle, name, "gk_force_stress_backward");
        gk_force_stress_readout_head = (delegate* unmanaged[Cdecl]<GkFsTopology*, GkFsGeometry*, GkFsHead*, int, uint, float*, float*, float*, void*, nuint, void*, int>)LibraryProbe.Export(handle, name, "gk_force_stress_readout_head");
        gk_force_stress_backward_head_workspace_size = (delegate* unmanaged[Cdecl]<GkFsTopology*, GkFsHead*, nuint*, int>)LibraryProbe.Export(handle, name, "gk_force_stress_backward_head_workspace_size");
        gk_force_stress_backward_head = (delegate* unmanaged[Cdecl]<GkFsTopology*, GkFsGeometry*, GkFsHead*, int, uint, float*, float*, GkFsHeadGrad*, float*, void*, nuint, void*, int>)LibraryProbe.Export(handle, name, "gk_force_stress_backward_head");
        gk_force_stress_unfused_baseline = (delegate* unmanaged[Cdecl]<GkFsTopology*, float*, float*, float*, float*, float*, float*, void*, int>)LibraryProbe.Export(handle, name, "gk_force_stress_unfused_baseline");
        nuint ws;
        ForceStressValidateWorkspaceBytes = gk_force_stress_validate_workspace_size(&ws) == 0 ? (long)ws : 0;
    }
}
