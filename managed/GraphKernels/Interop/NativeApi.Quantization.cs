using System.Runtime.InteropServices;

namespace GraphKernels.Interop;

/// <summary>gk_quant_desc, laid out exactly as in graphkernels.h (64 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct GkQuantDesc
{
    public long Rows;
    public long Cols;
    public long Ld;
    public int Bits;
    public int Block;
    public int Dtype;
    public int StatsDtype;
    public int Levels;
    public float Alpha;
    public nint LevelTable;
    public int MaxGrid;
    public int Reserved;
}

/// <summary>gk_quant_layout, laid out exactly as in graphkernels.h (56 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct GkQuantLayout
{
    public long NumBlocks;
    public long WordsPerBlock;
    public long PackedBytes;
    public long StatsBytes;
    public long TotalBytes;
    public long InputBytes;
    public int Block;
    public float Alpha;
}

/// <summary>gk_quant_proj_desc, laid out exactly as in graphkernels.h (32 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct GkQuantProjDesc
{
    public long Rows;
    public int Dim;
    public int ProjDim;
    public ulong Seed;
    public int MaxGrid;
    public int Reserved;
}

/// <summary>The quantization exports of graphkernels.h.</summary>
internal sealed unsafe partial class NativeApi
{
    public delegate* unmanaged[Cdecl]<int, float> gk_quant_alpha;
    public delegate* unmanaged[Cdecl]<GkQuantDesc*, GkQuantLayout*, int> gk_quant_plan;
    public delegate* unmanaged[Cdecl]<GkQuantDesc*, void*, uint*, void*, void*, ulong, ulong, void*, int> gk_quant_quantize;
    public delegate* unmanaged[Cdecl]<GkQuantDesc*, uint*, void*, void*, int, void*, long, void*, int> gk_quant_dequantize;

    public delegate* unmanaged[Cdecl]<int, float> gk_quant_projection_scale;
    public delegate* unmanaged[Cdecl]<GkQuantProjDesc*, float*, long, float*, long, void*, int> gk_quant_project;
    public delegate* unmanaged[Cdecl]<GkQuantProjDesc*, float*, long, float*, long, void*, int> gk_quant_unproject;

    partial void ResolveQuantization(nint handle, string name)
    {
        gk_quant_projection_scale = (delegate* unmanaged[Cdecl]<int, float>)LibraryProbe.Export(handle, name, "gk_quant_projection_scale");
        gk_quant_project = (delegate* unmanaged[Cdecl]<GkQuantProjDesc*, float*, long, float*, long, void*, int>)LibraryProbe.Export(handle, name, "gk_quant_project");
        gk_quant_unproject = (delegate* unmanaged[Cdecl]<GkQuantProjDesc*, float*, long, float*, long, void*, int>)LibraryProbe.Export(handle, name, "gk_quant_unproject");
        gk_quant_alpha = (delegate* unmanaged[Cdecl]<int, float>)LibraryProbe.Export(handle, name, "gk_quant_alpha");
        gk_quant_plan = (delegate* unmanaged[Cdecl]<GkQuantDesc*, GkQuantLayout*, int>)LibraryProbe.Export(handle, name, "gk_quant_plan");
        gk_quant_quantize = (delegate* unmanaged[Cdecl]<GkQuantDesc*, void*, uint*, void*, void*, ulong, ulong, void*, int>)LibraryProbe.Export(handle, name, "gk_quant_quantize");
        gk_quant_dequantize = (delegate* unmanaged[Cdecl]<GkQuantDesc*, uint*, void*, void*, int, void*, long, void*, int>)LibraryProbe.Export(handle, name, "gk_quant_dequantize");
    }
}
