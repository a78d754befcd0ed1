using System;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.IO;
using System.Runtime.InteropServices;

namespace GraphKernels.Interop;

/// <summary>NVRTC entry points, resolved once into function pointers.</summary>
internal sealed unsafe class Nvrtc
{
    /// <summary>Environment variable naming the NVRTC library file (or a folder holding it).</summary>
    public const string PathVariable = "GRAPHKERNELS_NVRTC_PATH";

    public const int Success = 0;

    public readonly delegate* unmanaged[Cdecl]<int*, int*, int> nvrtcVersion;
    public readonly delegate* unmanaged[Cdecl]<int, byte*> nvrtcGetErrorString;
    public readonly delegate* unmanaged[Cdecl]<nint*, byte*, byte*, int, byte**, byte**, int> nvrtcCreateProgram;
    public readonly delegate* unmanaged[Cdecl]<nint, byte*, int> nvrtcAddNameExpression;
    public readonly delegate* unmanaged[Cdecl]<nint, int, byte**, int> nvrtcCompileProgram;
    public readonly delegate* unmanaged[Cdecl]<nint, byte*, byte**, int> nvrtcGetLoweredName;
    public readonly delegate* unmanaged[Cdecl]<nint, nuint*, int> nvrtcGetProgramLogSize;
    public readonly delegate* unmanaged[Cdecl]<nint, byte*, int> nvrtcGetProgramLog;
    public readonly delegate* unmanaged[Cdecl]<nint, nuint*, int> nvrtcGetPTXSize;
    public readonly delegate* unmanaged[Cdecl]<nint, byte*, int> nvrtcGetPTX;
    public readonly delegate* unmanaged[Cdecl]<nint, nuint*, int> nvrtcGetCUBINSize;
    public readonly delegate* unmanaged[Cdecl]<nint, byte*, int> nvrtcGetCUBIN;
    public readonly delegate* unmanaged[Cdecl]<nint*, int> nvrtcDestroyProgram;

    private static readonly object Gate = new();
    private static Nvrtc? s_instance;
    private static string? s_failure;

    private readonly nint _library;
    private int[]? _supportedArchs;

    private Nvrtc(nint lib, string loadedAs)
    {
        const string n = "NVRTC";
        _library = lib;
        nvrtcVersion = (delegate* unmanaged[Cdecl]<int*, int*, int>)LibraryProbe.Export(lib, n, "nvrtcVersion");
        nvrtcGetErrorString = (delegate* unmanaged[Cdecl]<int, byte*>)LibraryProbe.Export(lib, n, "nvrtcGetErrorString");
        nvrtcCreateProgram = (delegate* unmanaged[Cdecl]<nint*, byte*, byte*, int, byte**, byte**, int>)LibraryProbe.Export(lib, n, "nvrtcCreateProgram");
        nvrtcAddNameExpression = (delegate* unmanaged[Cdecl]<nint, byte*, int>)LibraryProbe.Export(lib, n, "nvrtcAddNameExpression");
        nvrtcCompileProgram = (delegate* unmanaged[Cdecl]<nint, int, byte**, int>)LibraryProbe.Export(lib, n, "nvrtcCompileProgram");
        nvrtcGetLoweredName = (delegate* unmanaged[Cdecl]<nint, byte*, byte**, int>)LibraryProbe.Export(lib, n, "nvrtcGetLoweredName");
        nvrtcGetProgramLogSize = (delegate* unmanaged[Cdecl]<nint, nuint*, int>)LibraryProbe.Export(lib, n, "nvrtcGetProgramLogSize");
        nvrtcGetProgramLog = (delegate* unmanaged[Cdecl]<nint, byte*, int>)LibraryProbe.Export(lib, n, "nvrtcGetProgramLog");
        nvrtcGetPTXSize = (delegate* unmanaged[Cdecl]<nint, nuint*, int>)LibraryProbe.Export(lib, n, "nvrtcGetPTXSize");
        nvrtcGetPTX = (delegate* unmanaged[Cdecl]<nint, byte*, int>)LibraryProbe.Export(lib, n, "nvrtcGetPTX");
        nvrtcGetCUBINSize = (delegate* unmanaged[Cdecl]<nint, nuint*, int>)LibraryProbe.Export(lib, n, "nvrtcGetCUBINSize");
        nvrtcGetCUBIN = (delegate* unmanaged[Cdecl]<nint, byte*, int>)LibraryProbe.Export(lib, n, "nvrtcGetCUBIN");
        nvrtcDestroyProgram = (delegate* unmanaged[Cdecl]<nint*, int>)LibraryProbe.Export(lib, n, "nvrtcDestroyProgram");
        Path = LibraryProbe.FileOfSymbol((nint)nvrtcVersion) ?? loadedAs;
        int major = 0, minor = 0;
        Check(nvrtcVersion(&major, &minor), "nvrtcVersion");
        Major = major;
        Minor = minor;
    }

    public string Path { get; }

    public int Major { get; }

    public int Minor { get; }

    /// <summary>Architectures NVRTC can target (e.g. 52, 53, ... 90); empty where nvrtcGetSupportedArchs is absent (before 11.2).</summary>
    public IReadOnlyList<int> SupportedArchs
    {
        get
        {
            if (_supportedArchs is null)
            {
                int[] result = [];
                nint numFn = LibraryProbe.OptionalExport(_library, "nvrtcGetNumSupportedArchs");
                nint getFn = LibraryProbe.OptionalExport(_library, "nvrtcGetSupportedArchs");
                int count = 0;
                if (numFn != 0 && getFn != 0 && ((delegate* unmanaged[Cdecl]<int*, int>)numFn)(&count) == Success && count > 0)
                {
                    var archs = new int[count];
                    fixed (int* p = archs)
                    {
                        if (((delegate* unmanaged[Cdecl]<int*, int>)getFn)(p) == Success)
                        {
                            result = archs;
                        }
                    }
                }

                _supportedArchs = result;
            }

            return _supportedArchs;
        }
    }

    public static bool TryLoad([NotNullWhen(true)] out Nvrtc? nvrtc, out string whyNot)
    {
        lock (Gate)
        {
            if (s_instance is not null || s_failure is not null)
            {
                nvrtc = s_instance;
                whyNot = s_failure ?? string.Empty;
                return nvrtc is not null;
            }

            var trace = new List<string>();
            nint lib = LibraryProbe.TryLoad(Candidates(), trace, out string loadedAs);
            if (lib == 0)
            {
                s_failure = "NVRTC was not found (install the CUDA toolkit or set " + PathVariable + "). Tried: " + string.Join("; ", trace);
            }
            else
            {
                try
                {
                    s_instance = new Nvrtc(lib, loadedAs);
                }
                catch (Exception ex) when (ex is EntryPointNotFoundException or InvalidOperationException)
                {
                    s_failure = $"{loadedAs} was loaded but is unusable: {ex.Message}";
                }
            }

            nvrtc = s_instance;
            whyNot = s_failure ?? string.Empty;
            return nvrtc is not null;
        }
    }

    /// <summary>Names and paths probed, in order.</summary>
    internal static IEnumerable<string> Candidates()
    {
        string[] names = OperatingSystem.IsWindows()
            ? ["nvrtc64_130_0.dll", "nvrtc64_120_0.dll", "nvrtc64_112_0.dll"]
            : ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"];

        string? overridePath = Environment.GetEnvironmentVariable(PathVariable);
        if (!string.IsNullOrEmpty(overridePath))
        {
            if (Directory.Exists(overridePath))
            {
                foreach (var name in names)
                {
                    yield return System.IO.Path.GetFullPath(System.IO.Path.Combine(overridePath, name));
                }
            }
            else
            {
                yield return System.IO.Path.GetFullPath(overridePath);
            }
        }

        foreach (var name in names)
        {
            yield return name;
        }

        var dirs = new List<string>();
        string? cudaPath = Environment.GetEnvironmentVariable("CUDA_PATH");
        if (OperatingSystem.IsWindows())
        {
            if (!string.IsNullOrEmpty(cudaPath))
            {
                dirs.Add(System.IO.Path.Combine(cudaPath, "bin"));
                dirs.Add(System.IO.Path.Combine(cudaPath, "bin", "x64"));
            }
        }
        else
        {
            if (!string.IsNullOrEmpty(cudaPath))
            {
                dirs.Add(System.IO.Path.Combine(cudaPath, "lib64"));
            }

            dirs.Add("/usr/local/cuda/lib64");
            dirs.Add("/usr/lib/x86_64-linux-gnu");
        }

        foreach (var dir in dirs)
        {
            foreach (var name in names)
            {
                yield return System.IO.Path.Combine(dir, name);
            }
        }
    }

    public string ErrorString(int result)
    {
        string text = LibraryProbe.Utf8(nvrtcGetErrorString(result));
        return text.Length == 0 ? $"nvrtcResult {result}" : text;
    }

    public void Check(int result, string call)
    {
        if (result != Success)
        {
            throw new InvalidOperationException($"{call} failed: {ErrorString(result)} ({result})");
        }
    }
}
