using System;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace GraphKernels.Interop;

/// <summary>
/// The subset of the CUDA driver API GraphKernels uses, resolved once from libcuda.so.1 / nvcuda.dll
/// into function pointers (no DllImport: the unversioned libcuda.so is a dev symlink and the
/// toolkit's stubs/libcuda.so must never be loaded).
/// </summary>
internal sealed unsafe class CudaDriver
{
    public const int Success = 0;
    public const int ErrorNoDevice = 100;
    public const int ErrorStubLibrary = 34;
    public const int AttributeComputeCapabilityMajor = 75;
    public const int AttributeComputeCapabilityMinor = 76;
    public const int AttributeMultiprocessorCount = 16;

    public readonly delegate* unmanaged[Cdecl]<uint, int> cuInit;
    public readonly delegate* unmanaged[Cdecl]<int*, int> cuDriverGetVersion;
    public readonly delegate* unmanaged[Cdecl]<int*, int> cuDeviceGetCount;
    public readonly delegate* unmanaged[Cdecl]<int*, int, int> cuDeviceGet;
    public readonly delegate* unmanaged[Cdecl]<byte*, int, int, int> cuDeviceGetName;
    public readonly delegate* unmanaged[Cdecl]<int*, int, int, int> cuDeviceGetAttribute;
    public readonly delegate* unmanaged[Cdecl]<nuint*, int, int> cuDeviceTotalMem_v2;
    public readonly delegate* unmanaged[Cdecl]<nint*, int, int> cuDevicePrimaryCtxRetain;
    public readonly delegate* unmanaged[Cdecl]<int, int> cuDevicePrimaryCtxRelease;
    public readonly delegate* unmanaged[Cdecl]<nint*, int> cuCtxGetCurrent;
    public readonly delegate* unmanaged[Cdecl]<nint, int> cuCtxSetCurrent;
    public readonly delegate* unmanaged[Cdecl]<nint, int> cuCtxPushCurrent_v2;
    public readonly delegate* unmanaged[Cdecl]<nint*, int> cuCtxPopCurrent_v2;
    public readonly delegate* unmanaged[Cdecl]<int> cuCtxSynchronize;
    public readonly delegate* unmanaged[Cdecl]<ulong*, nuint, int> cuMemAlloc_v2;
    public readonly delegate* unmanaged[Cdecl]<ulong, int> cuMemFree_v2;
    public readonly delegate* unmanaged[Cdecl]<ulong, void*, nuint, nint, int> cuMemcpyHtoDAsync_v2;
    public readonly delegate* unmanaged[Cdecl]<void*, ulong, nuint, nint, int> cuMemcpyDtoHAsync_v2;
    public readonly delegate* unmanaged[Cdecl]<ulong, ulong, nuint, nint, int> cuMemcpyDtoDAsync_v2;
    public readonly delegate* unmanaged[Cdecl]<ulong, byte, nuint, nint, int> cuMemsetD8Async;
    public readonly delegate* unmanaged[Cdecl]<ulong, ushort, nuint, nint, int> cuMemsetD16Async;
    public readonly delegate* unmanaged[Cdecl]<ulong, uint, nuint, nint, int> cuMemsetD32Async;
    public readonly delegate* unmanaged[Cdecl]<nint*, uint, int> cuStreamCreate;
    public readonly delegate* unmanaged[Cdecl]<nint, int> cuStreamDestroy_v2;
    public readonly delegate* unmanaged[Cdecl]<nint, int> cuStreamSynchronize;
    public readonly delegate* unmanaged[Cdecl]<nint*, uint, int> cuEventCreate;
    public readonly delegate* unmanaged[Cdecl]<nint, nint, int> cuEventRecord;
    public readonly delegate* unmanaged[Cdecl]<nint, int> cuEventSynchronize;
    public readonly delegate* unmanaged[Cdecl]<float*, nint, nint, int> cuEventElapsedTime;
    public readonly delegate* unmanaged[Cdecl]<nint, int> cuEventDestroy_v2;
    public readonly delegate* unmanaged[Cdecl]<int, byte**, int> cuGetErrorName;
    public readonly delegate* unmanaged[Cdecl]<int, byte**, int> cuGetErrorString;
    public readonly delegate* unmanaged[Cdecl]<nint*, void*, int> cuModuleLoadData;
    public readonly delegate* unmanaged[Cdecl]<nint*, nint, byte*, int> cuModuleGetFunction;
    public readonly delegate* unmanaged[Cdecl]<nint, int> cuModuleUnload;
    public readonly delegate* unmanaged[Cdecl]<nint, uint, uint, uint, uint, uint, uint, uint, nint, void**, void**, int> cuLaunchKernel;

    private static readonly object Gate = new();
    private static CudaDriver? s_driver;
    private static string? s_failure;

    private CudaDriver(nint lib, string path)
    {
        const string n = "the CUDA driver";
        Path = path;
        cuInit = (delegate* unmanaged[Cdecl]<uint, int>)LibraryProbe.Export(lib, n, "cuInit");
        cuDriverGetVersion = (delegate* unmanaged[Cdecl]<int*, int>)LibraryProbe.Export(lib, n, "cuDriverGetVersion");
        cuDeviceGetCount = (delegate* unmanaged[Cdecl]<int*, int>)LibraryProbe.Export(lib, n, "cuDeviceGetCount");
        cuDeviceGet = (delegate* unmanaged[Cdecl]<int*, int, int>)LibraryProbe.Export(lib, n, "cuDeviceGet");
        cuDeviceGetName = (delegate* unmanaged[Cdecl]<byte*, int, int, int>)LibraryProbe.Export(lib, n, "cuDeviceGetName");
        cuDeviceGetAttribute = (delegate* unmanaged[Cdecl]<int*, int, int, int>)LibraryProbe.Export(lib, n, "cuDeviceGetAttribute");
        cuDeviceTotalMem_v2 = (delegate* unmanaged[Cdecl]<nuint*, int, int>)LibraryProbe.Export(lib, n, "cuDeviceTotalMem_v2");
        cuDevicePrimaryCtxRetain = (delegate* unmanaged[Cdecl]<nint*, int, int>)LibraryProbe.Export(lib, n, "cuDevicePrimaryCtxRetain");
        nint release = LibraryProbe.OptionalExport(lib, "cuDevicePrimaryCtxRelease_v2");
        cuDevicePrimaryCtxRelease = (delegate* unmanaged[Cdecl]<int, int>)(release != 0 ? release : LibraryProbe.Export(lib, n, "cuDevicePrimaryCtxRelease"));
        cuCtxGetCurrent = (delegate* unmanaged[Cdecl]<nint*, int>)LibraryProbe.Export(lib, n, "cuCtxGetCurrent");
        cuCtxSetCurrent = (delegate* unmanaged[Cdecl]<nint, int>)LibraryProbe.Export(lib, n, "cuCtxSetCurrent");
        cuCtxPushCurrent_v2 = (delegate* unmanaged[Cdecl]<nint, int>)LibraryProbe.Export(lib, n, "cuCtxPushCurrent_v2");
        cuCtxPopCurrent_v2 = (delegate* unmanaged[Cdecl]<nint*, int>)LibraryProbe.Export(lib, n, "cuCtxPopCurrent_v2");
        cuCtxSynchronize = (delegate* unmanaged[Cdecl]<int>)LibraryProbe.Export(lib, n, "cuCtxSynchronize");
        cuMemAlloc_v2 = (delegate* unmanaged[Cdecl]<ulong*, nuint, int>)LibraryProbe.Export(lib, n, "cuMemAlloc_v2");
        cuMemFree_v2 = (delegate* unmanaged[Cdecl]<ulong, int>)LibraryProbe.Export(lib, n, "cuMemFree_v2");
        cuMemcpyHtoDAsync_v2 = (delegate* unmanaged[Cdecl]<ulong, void*, nuint, nint, int>)LibraryProbe.Export(lib, n, "cuMemcpyHtoDAsync_v2");
        cuMemcpyDtoHAsync_v2 = (delegate* unmanaged[Cdecl]<void*, ulong, nuint, nint, int>)LibraryProbe.Export(lib, n, "cuMemcpyDtoHAsync_v2");
        cuMemcpyDtoDAsync_v2 = (delegate* unmanaged[Cdecl]<ulong, ulong, nuint, nint, int>)LibraryProbe.Export(lib, n, "cuMemcpyDtoDAsync_v2");
        cuMemsetD8Async = (delegate* unmanaged[Cdecl]<ulong, byte, nuint, nint, int>)LibraryProbe.Export(lib, n, "cuMemsetD8Async");
        cuMemsetD16Async = (delegate* unmanaged[Cdecl]<ulong, ushort, nuint, nint, int>)LibraryProbe.Export(lib, n, "cuMemsetD16Async");
        cuMemsetD32Async = (delegate* unmanaged[Cdecl]<ulong, uint, nuint, nint, int>)LibraryProbe.Export(lib, n, "cuMemsetD32Async");
        cuStreamCreate = (delegate* unmanaged[Cdecl]<nint*, uint, int>)LibraryProbe.Export(lib, n, "cuStreamCreate");
        cuStreamDestroy_v2 = (delegate* unmanaged[Cdecl]<nint, int>)LibraryProbe.Export(lib, n, "cuStreamDestroy_v2");
        cuStreamSynchronize = (delegate* unmanaged[Cdecl]<nint, int>)LibraryProbe.Export(lib, n, "cuStreamSynchronize");
        cuEventCreate = (delegate* unmanaged[Cdecl]<nint*, uint, int>)LibraryProbe.Export(lib, n, "cuEventCreate");
        cuEventRecord = (delegate* unmanaged[Cdecl]<nint, nint, int>)LibraryProbe.Export(lib, n, "cuEventRecord");
        cuEventSynchronize = (delegate* unmanaged[Cdecl]<nint, int>)LibraryProbe.Export(lib, n, "cuEventSynchronize");
        cuEventElapsedTime = (delegate* unmanaged[Cdecl]<float*, nint, nint, int>)LibraryProbe.Export(lib, n, "cuEventElapsedTime");
        cuEventDestroy_v2 = (delegate* unmanaged[Cdecl]<nint, int>)LibraryProbe.Export(lib, n, "cuEventDestroy_v2");
        cuGetErrorName = (delegate* unmanaged[Cdecl]<int, byte**, int>)LibraryProbe.Export(lib, n, "cuGetErrorName");
        cuGetErrorString = (delegate* unmanaged[Cdecl]<int, byte**, int>)LibraryProbe.Export(lib, n, "cuGetErrorString");
        cuModuleLoadData = (delegate* unmanaged[Cdecl]<nint*, void*, int>)LibraryProbe.Export(lib, n, "cuModuleLoadData");
        cuModuleGetFunction = (delegate* unmanaged[Cdecl]<nint*, nint, byte*, int>)LibraryProbe.Export(lib, n, "cuModuleGetFunction");
        cuModuleUnload = (delegate* unmanaged[Cdecl]<nint, int>)LibraryProbe.Export(lib, n, "cuModuleUnload");
        cuLaunchKernel = (delegate* unmanaged[Cdecl]<nint, uint, uint, uint, uint, uint, uint, uint, nint, void**, void**, int>)LibraryProbe.Export(lib, n, "cuLaunchKernel");

        int version = 0;
        DriverVersion = cuDriverGetVersion(&version) == Success ? version : 0;
        InitResult = cuInit(0);
    }

    /// <summary>The file the driver library was loaded from.</summary>
    public string Path { get; }

    /// <summary>cuDriverGetVersion, e.g. 12020; 0 if unknown.</summary>
    public int DriverVersion { get; }

    /// <summary>What cuInit(0) returned (100 = no device).</summary>
    public int InitResult { get; }

    /// <summary>"12.2" from <see cref="DriverVersion"/>.</summary>
    public string DriverVersionText => DriverVersion == 0 ? "unknown" : $"{DriverVersion / 1000}.{DriverVersion % 1000 / 10}";

    /// <summary>Loads libcuda once per process and calls cuInit; the failure text lists every name tried.</summary>
    public static bool TryLoad([NotNullWhen(true)] out CudaDriver? driver, out string whyNot)
    {
        lock (Gate)
        {
            if (s_driver is not null || s_failure is not null)
            {
                driver = s_driver;
                whyNot = s_failure ?? string.Empty;
                return driver is not null;
            }

            string[] names = OperatingSystem.IsWindows()
                ? new[] { "nvcuda.dll" }
                : OperatingSystem.IsMacOS() ? new[] { "libcuda.dylib" } : new[] { "libcuda.so.1", "libcuda.so" };
            var trace = new List<string>();
            nint lib = LibraryProbe.TryLoad(names, trace, out string loadedAs, RejectStub);
            if (lib == 0)
            {
                s_failure = "the CUDA driver library was not found (no NVIDIA driver installed?). Tried: " + string.Join("; ", trace);
                driver = null;
                whyNot = s_failure;
                return false;
            }

            try
            {
                string path = LibraryProbe.FileOfSymbol(LibraryProbe.OptionalExport(lib, "cuInit")) ?? loadedAs;
                s_driver = new CudaDriver(lib, path);
            }
            catch (EntryPointNotFoundException ex)
            {
                s_failure = $"{loadedAs} was loaded but is unusable: {ex.Message}";
            }

            driver = s_driver;
            whyNot = s_failure ?? string.Empty;
            return driver is not null;
        }

        static string? RejectStub(string name)
        {
            // Never bind to the toolkit's link-time stub (…/stubs/libcuda.so): it fails every call.
            if (!NativeLibrary_TryLoadNoThrow(name, out nint handle))
            {
                return null;
            }

            string? file = LibraryProbe.FileOfSymbol(LibraryProbe.OptionalExport(handle, "cuInit"));
            return file is not null && file.Replace('\\', '/').Contains("/stubs/", StringComparison.Ordinal)
                ? $"resolved to the toolkit stub {file}, which is not a driver"
                : null;
        }

        static bool NativeLibrary_TryLoadNoThrow(string name, out nint handle)
            => System.Runtime.InteropServices.NativeLibrary.TryLoad(name, out handle);
    }

    /// <summary>"CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)".</summary>
    public string Describe(int result)
    {
        byte* name = null;
        byte* text = null;
        string n = cuGetErrorName(result, &name) == Success ? LibraryProbe.Utf8(name) : $"CUresult {result}";
        string t = cuGetErrorString(result, &text) == Success ? LibraryProbe.Utf8(text) : "unknown error";
        return $"{n} ({t})";
    }

    /// <summary>Throws <see cref="GraphKernelsException"/> (status Cuda) when <paramref name="result"/> is not CUDA_SUCCESS.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Check(int result, string call)
    {
        if (result != Success)
        {
            Throw(result, call);
        }
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public void Throw(int result, string call)
        => throw new GraphKernelsException(GkStatus.Cuda, $"{call} failed: {Describe(result)}");
}
