using System;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.IO;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace GraphKernels.Interop;

/// <summary>gk_csr, laid out exactly as in graphkernels.h.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct GkCsr
{
    public long NumRows;
    public long NumCols;
    public long Nnz;
    public int IndexType;
    public int Reserved;
    public nint RowPtr;
    public nint ColIdx;
}

/// <summary>
/// One loaded GraphKernels native library (libgraphkernels or libgraphkernels_emulated) with every
/// export of graphkernels.h resolved to a function pointer. The CUDA and emulated libraries can be
/// loaded side by side; each is loaded once per process.
/// </summary>
internal sealed unsafe partial class NativeApi
{
    /// <summary>Environment variable naming an extra folder to search for the native libraries.</summary>
    public const string NativeDirVariable = "GRAPHKERNELS_NATIVE_DIR";

    public const int DtypeF32 = 0;

    public readonly delegate* unmanaged[Cdecl]<byte*> gk_last_error_message;
    public readonly delegate* unmanaged[Cdecl]<int, byte*> gk_status_name;
    public readonly delegate* unmanaged[Cdecl]<byte*> gk_version_string;
    public readonly delegate* unmanaged[Cdecl]<int> gk_version;
    public readonly delegate* unmanaged[Cdecl]<int> gk_backend;
    public readonly delegate* unmanaged[Cdecl]<byte*> gk_build_info;
    public readonly delegate* unmanaged[Cdecl]<nuint*, int> gk_csr_validate_workspace_size;
    public readonly delegate* unmanaged[Cdecl]<GkCsr*, void*, nuint, void*, int> gk_csr_validate;
    public readonly delegate* unmanaged[Cdecl]<GkCsr*, int, int, int, long, void*, long, void*, void*, long, void*, long, void*, int> gk_spmm;

    private static readonly object Gate = new();
    private static NativeApi? s_cuda;
    private static NativeApi? s_emulated;

    private NativeApi(DeviceKind kind, nint handle, string loadedAs)
    {
        Kind = kind;
        Handle = handle;
        string name = FileName(kind);
        gk_last_error_message = (delegate* unmanaged[Cdecl]<byte*>)LibraryProbe.Export(handle, name, "gk_last_error_message");
        gk_status_name = (delegate* unmanaged[Cdecl]<int, byte*>)LibraryProbe.Export(handle, name, "gk_status_name");
        gk_version_string = (delegate* unmanaged[Cdecl]<byte*>)LibraryProbe.Export(handle, name, "gk_version_string");
        gk_version = (delegate* unmanaged[Cdecl]<int>)LibraryProbe.Export(handle, name, "gk_version");
        gk_backend = (delegate* unmanaged[Cdecl]<int>)LibraryProbe.Export(handle, name, "gk_backend");
        gk_build_info = (delegate* unmanaged[Cdecl]<byte*>)LibraryProbe.Export(handle, name, "gk_build_info");
        gk_csr_validate_workspace_size = (delegate* unmanaged[Cdecl]<nuint*, int>)LibraryProbe.Export(handle, name, "gk_csr_validate_workspace_size");
        gk_csr_validate = (delegate* unmanaged[Cdecl]<GkCsr*, void*, nuint, void*, int>)LibraryProbe.Export(handle, name, "gk_csr_validate");
        gk_spmm = (delegate* unmanaged[Cdecl]<GkCsr*, int, int, int, long, void*, long, void*, void*, long, void*, long, void*, int>)LibraryProbe.Export(handle, name, "gk_spmm");

        Path = LibraryProbe.FileOfSymbol((nint)gk_spmm) ?? loadedAs;
        Version = LibraryProbe.Utf8(gk_version_string());
        BuildInfo = LibraryProbe.Utf8(gk_build_info());
        int backend = gk_backend();
        int expected = kind == DeviceKind.Cuda ? 0 : 1;
        if (backend != expected)
        {
            throw new DllNotFoundException(
                $"{Path} reports gk_backend() = {backend}, but a {(kind == DeviceKind.Cuda ? "CUDA (0)" : "emulated (1)")} library was expected");
        }

        nuint ws;
        int status = gk_csr_validate_workspace_size(&ws);
        CsrValidateWorkspaceBytes = status == 0 ? (long)ws : 0;

        // Each kernel family resolves its own exports in its own partial file
        // (Interop/NativeApi.<Family>.cs), so families can be added independently.
        ResolveForceStress(handle, name);
        ResolveQuantization(handle, name);
        ResolveGraphPlan(handle, name);
        ResolveEdgeOps(handle, name);
        ResolveFusedMessage(handle, name);
        ResolveNeighbors(handle, name);
    }

    /// <summary>Resolves the graph-plan and generalised SpMM exports (NativeApi.GraphPlan.cs).</summary>
    partial void ResolveGraphPlan(nint handle, string name);

    /// <summary>Resolves SDDMM, edge softmax, segment, scatter and COO exports (NativeApi.EdgeOps.cs).</summary>
    partial void ResolveEdgeOps(nint handle, string name);

    /// <summary>Resolves the fused-message-function exports (NativeApi.FusedMessage.cs).</summary>
    partial void ResolveFusedMessage(nint handle, string name);

    /// <summary>Resolves the neighbour-list exports (NativeApi.Neighbors.cs).</summary>
    partial void ResolveNeighbors(nint handle, string name);

    /// <summary>Resolves the force/stress exports (implemented in NativeApi.ForceStress.cs).</summary>
    partial void ResolveForceStress(nint handle, string name);

    /// <summary>Resolves the quantization exports (implemented in NativeApi.Quantization.cs).</summary>
    partial void ResolveQuantization(nint handle, string name);

    public DeviceKind Kind { get; }

    public nint Handle { get; }

    /// <summary>The file the library was loaded from (resolved through dladdr where possible).</summary>
    public string Path { get; }

    public string Version { get; }

    public string BuildInfo { get; }

    public long CsrValidateWorkspaceBytes { get; }

    /// <summary>The platform file name of the library for <paramref name="kind"/>.</summary>
    public static string FileName(DeviceKind kind)
    {
        string stem = kind == DeviceKind.Cuda ? "graphkernels" : "graphkernels_emulated";
        if (OperatingSystem.IsWindows())
        {
            return stem + ".dll";
        }

        return OperatingSystem.IsMacOS() ? "lib" + stem + ".dylib" : "lib" + stem + ".so";
    }

    /// <summary>Loads (once) the library for <paramref name="kind"/>; throws <see cref="DllNotFoundException"/> listing every path tried.</summary>
    public static NativeApi Load(DeviceKind kind)
    {
        if (TryLoad(kind, out var api, out string whyNot))
        {
            return api;
        }

        throw new DllNotFoundException(whyNot);
    }

    /// <summary>Loads (once) the library for <paramref name="kind"/>.</summary>
    public static bool TryLoad(DeviceKind kind, [NotNullWhen(true)] out NativeApi? api, out string whyNot)
    {
        lock (Gate)
        {
            api = kind == DeviceKind.Cuda ? s_cuda : s_emulated;
            if (api is not null)
            {
                whyNot = string.Empty;
                return true;
            }

            string file = FileName(kind);
            var trace = new List<string>();
            nint handle = LibraryProbe.TryLoad(Candidates(file), trace, out string loadedAs);
            if (handle == 0)
            {
                whyNot = $"{file} could not be loaded. Tried:{Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", trace);
                return false;
            }

            try
            {
                api = new NativeApi(kind, handle, loadedAs);
            }
            catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException)
            {
                whyNot = $"{loadedAs} was loaded but is unusable: {ex.Message}";
                api = null;
                return false;
            }

            if (kind == DeviceKind.Cuda)
            {
                s_cuda = api;
            }
            else
            {
                s_emulated = api;
            }

            whyNot = string.Empty;
            return true;
        }
    }

    private static IEnumerable<string> Candidates(string file)
    {
        // 1. An explicit folder wins, so a sanitizer or CUDA build can replace the copied library.
        string? dir = Environment.GetEnvironmentVariable(NativeDirVariable);
        if (!string.IsNullOrEmpty(dir))
        {
            yield return System.IO.Path.GetFullPath(System.IO.Path.Combine(dir, file));
        }
        else
        {
            yield return "$" + NativeDirVariable + " (not set)";
        }

        // 2. Next to this assembly (the build copies the libraries into every output folder).
#pragma warning disable IL3000 // Location is "" in a single-file app; AppContext.BaseDirectory below covers that case.
        string? assemblyDir = System.IO.Path.GetDirectoryName(typeof(NativeApi).Assembly.Location);
#pragma warning restore IL3000
        if (!string.IsNullOrEmpty(assemblyDir))
        {
            yield return System.IO.Path.Combine(assemblyDir, file);
        }

        yield return System.IO.Path.Combine(AppContext.BaseDirectory, file);

        // 2b. The host's native search directories (runtimes/<rid>/native of NuGet packages such as
        //     GraphKernels.Native, listed by the app's deps.json).
        if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string searchDirs)
        {
            foreach (string d in searchDirs.Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            {
                yield return System.IO.Path.GetFullPath(System.IO.Path.Combine(d, file));
            }
        }

        // 3. The platform loader's default search (LD_LIBRARY_PATH, rpath, ldconfig cache, PATH).
        yield return file;
    }

    /// <summary>Throws <see cref="GraphKernelsException"/> for a non-success status.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Check(int status, string operation)
    {
        if (status != 0)
        {
            ThrowStatus(status, operation);
        }
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public void ThrowStatus(int status, string operation)
    {
        string message = LibraryProbe.Utf8(gk_last_error_message());
        if (message.Length == 0)
        {
            message = LibraryProbe.Utf8(gk_status_name(status));
        }

        // The native sentences already start with the C function's name ("gk_spmm: ..."); do not repeat it.
        bool prefixed = message.StartsWith(operation, StringComparison.Ordinal) && message.Length > operation.Length && message[operation.Length] == ':';
        throw new GraphKernelsException((GkStatus)status, prefixed ? message : $"{operation}: {message}");
    }
}
