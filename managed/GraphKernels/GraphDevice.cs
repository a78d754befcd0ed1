using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using GraphKernels.Interop;

namespace GraphKernels;

/// <summary>
/// A device GraphKernels runs on: a CUDA device (through its primary context, shared with the CUDA
/// runtime, libtorch and TorchSharp), the CPU emulation of the CUDA execution model, or an ILGPU
/// accelerator (GraphKernels.Ilgpu, no native library).
/// Buffers, streams and graphs belong to the <see cref="GraphDevice"/> instance that created them.
/// </summary>
public sealed unsafe class GraphDevice : IDisposable
{
    /// <summary>Alignment of emulated device allocations, matching cudaMalloc's guarantee.</summary>
    internal const int EmulatedAlignment = 256;

    private static long s_fakeStreamCounter;

    private readonly PrimaryContextHandle? _context;
    private readonly nint _contextValue;
    private readonly NativeApi? _api;
    private int _disposed;

    private GraphDevice(DeviceKind kind, NativeApi? api, string name, string reason, CudaDriver? driver,
        int ordinal, PrimaryContextHandle? context)
    {
        Kind = kind;
        _api = api;
        Name = name;
        SelectionReason = reason;
        Driver = driver;
        Ordinal = ordinal;
        _context = context;
        _contextValue = context?.DangerousGetHandle() ?? 0;
        DefaultStream = new Stream(this, 0, null);
    }

    private GraphDevice(IManagedBackend backend, string reason)
        : this(DeviceKind.Ilgpu, null, backend.Name, reason, null, -1, null)
    {
        Managed = backend;
    }

    /// <summary>Whether this is a CUDA device or the CPU emulation.</summary>
    public DeviceKind Kind { get; }

    /// <summary>E.g. "NVIDIA H200 (sm_90)" or "CPU emulation of the CUDA execution model".</summary>
    public string Name { get; }

    /// <summary>Why this device was chosen (by <see cref="Open"/>) or how it was requested.</summary>
    public string SelectionReason { get; }

    /// <summary>The file of the GraphKernels native library this device calls ("" on an ILGPU device, which calls none).</summary>
    public string NativeLibraryPath => _api?.Path ?? string.Empty;

    /// <summary>The native library's version string (gk_version_string; "" on an ILGPU device).</summary>
    public string NativeVersion => _api?.Version ?? string.Empty;

    /// <summary>The native library's build description (gk_build_info; "" on an ILGPU device).</summary>
    public string NativeBuildInfo => _api?.BuildInfo ?? string.Empty;

    /// <summary>The legacy default (NULL) stream; non-owning, disposing it does nothing.</summary>
    public Stream DefaultStream { get; }

    /// <summary>CUDA device ordinal (-1 for the emulated device).</summary>
    internal int Ordinal { get; }

    /// <summary>
    /// The native library. On an ILGPU device there is none: reaching it means the calling op has no
    /// ILGPU implementation, and that is a <see cref="NotSupportedException"/> naming the op and the backend.
    /// </summary>
    internal NativeApi Api
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _api ?? ThrowNoNativeApi();
    }

    /// <summary>The managed backend of an <see cref="DeviceKind.Ilgpu"/> device, else null.</summary>
    internal IManagedBackend? Managed { get; }

    internal CudaDriver? Driver { get; }

    internal PrimaryContextHandle? Context => _context;

    internal bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Opens CUDA device <paramref name="ordinal"/> with libgraphkernels.</summary>
    /// <param name="ordinal">The CUDA device ordinal.</param>
    /// <returns>The device.</returns>
    /// <exception cref="DllNotFoundException">The CUDA driver or libgraphkernels was not found; the message lists what was tried.</exception>
    /// <exception cref="GraphKernelsException">cuInit failed (e.g. no device) or the ordinal does not exist.</exception>
    public static GraphDevice Cuda(int ordinal = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ordinal);
        if (TryCreateCuda(ordinal, "requested with GraphDevice.Cuda", out var device, out string whyNot, out bool libraryMissing))
        {
            return device;
        }

        if (libraryMissing)
        {
            throw new DllNotFoundException("GraphDevice.Cuda: " + whyNot);
        }

        throw new GraphKernelsException(GkStatus.Cuda, "GraphDevice.Cuda: " + whyNot);
    }

    /// <summary>Opens the CPU emulation of the CUDA execution model (libgraphkernels_emulated).</summary>
    /// <returns>The emulated device.</returns>
    /// <exception cref="DllNotFoundException">The emulated library was not found; the message lists every path tried.</exception>
    public static GraphDevice Emulated() => CreateEmulated("requested with GraphDevice.Emulated");

    /// <summary>
    /// Opens the best device present and says why in <see cref="SelectionReason"/>: CUDA device 0 if
    /// the driver, a device and libgraphkernels are all present; else the CPU emulation if
    /// libgraphkernels_emulated is present (it runs the CUDA kernel source and implements every op);
    /// else ILGPU (an OpenCL GPU, then ILGPU's CPU accelerator) if the GraphKernels.Ilgpu assembly is
    /// loadable. The environment variable GRAPHKERNELS_DEVICE = cuda | emulated | ilgpu forces one.
    /// </summary>
    /// <returns>The best available device.</returns>
    /// <exception cref="DllNotFoundException">Nothing usable: no CUDA device, no emulated library and no GraphKernels.Ilgpu; the message lists why for each.</exception>
    public static GraphDevice Open() => OpenCore(Environment.GetEnvironmentVariable("GRAPHKERNELS_DEVICE"), probeEmulated: true);

    /// <summary><see cref="Open"/> with the override given and, for tests, the emulated library treated as absent.</summary>
    internal static GraphDevice OpenCore(string? forcedDevice, bool probeEmulated)
    {
        string? forced = forcedDevice?.Trim().ToLowerInvariant();
        switch (forced)
        {
            case "cuda":
                return Cuda();
            case "emulated":
                return CreateEmulated("forced by GRAPHKERNELS_DEVICE=emulated");
            case "ilgpu":
                return TryOpenManaged("forced by GRAPHKERNELS_DEVICE=ilgpu", out var forcedManaged, out string whyNoManaged)
                    ? forcedManaged
                    : throw new DllNotFoundException("GRAPHKERNELS_DEVICE=ilgpu but " + whyNoManaged);
            case null or "" or "auto":
                break;
            default:
                throw new ArgumentException($"GRAPHKERNELS_DEVICE = '{forced}' is not one of cuda, emulated, ilgpu, auto.");
        }

        if (TryCreateCuda(0, "CUDA driver, device 0 and libgraphkernels are present", out var cuda, out string whyNot, out _))
        {
            return cuda;
        }

        string whyNoEmulated = "treated as absent";
        if (probeEmulated && NativeApi.TryLoad(DeviceKind.Emulated, out var emulatedApi, out whyNoEmulated))
        {
            return new GraphDevice(DeviceKind.Emulated, emulatedApi, "CPU emulation of the CUDA execution model",
                "no usable CUDA device (" + whyNot + "), and the emulated library is present (it runs the CUDA kernel source and implements every op), so the CPU emulation was chosen",
                null, -1, null);
        }

        string reason = "no usable CUDA device (" + whyNot + ") and no emulated library (" + whyNoEmulated + "), so ILGPU was chosen";
        if (TryOpenManaged(reason, out var managed, out string whyNoIlgpu))
        {
            return managed;
        }

        throw new DllNotFoundException("GraphDevice.Open: no usable device. CUDA: " + whyNot + " Emulated: " + whyNoEmulated + " ILGPU: " + whyNoIlgpu);
    }

    /// <summary>Wraps a managed backend (called by GraphKernels.Ilgpu's GraphDevice factory).</summary>
    internal static GraphDevice FromManagedBackend(IManagedBackend backend, string reason)
    {
        ArgumentNullException.ThrowIfNull(backend);
        return new GraphDevice(backend, reason);
    }

    /// <summary>
    /// Loads GraphKernels.Ilgpu by name (the core does not reference it) and asks its
    /// <c>GraphKernels.Ilgpu.IlgpuDevices.OpenBest(string reason)</c> for an OpenCL GPU, else the CPU accelerator.
    /// </summary>
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "GraphKernels.Ilgpu is optional; when trimmed away Open() falls back with the reason.")]
    [UnconditionalSuppressMessage("Trimming", "IL2075", Justification = "GraphKernels.Ilgpu is optional; when trimmed away Open() falls back with the reason.")]
    [UnconditionalSuppressMessage("Trimming", "IL2057", Justification = "GraphKernels.Ilgpu is optional; when trimmed away Open() falls back with the reason.")]
    private static bool TryOpenManaged(string reason, [NotNullWhen(true)] out GraphDevice? device, out string whyNot)
    {
        device = null;
        try
        {
            var type = Type.GetType("GraphKernels.Ilgpu.IlgpuDevices, GraphKernels.Ilgpu", throwOnError: false);
            if (type is null)
            {
                whyNot = "the GraphKernels.Ilgpu assembly is not loadable (reference the GraphKernels.Ilgpu package to get the portable backend)";
                return false;
            }

            var open = type.GetMethod("OpenBest", System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static, [typeof(string)]);
            if (open is null)
            {
                whyNot = "GraphKernels.Ilgpu has no IlgpuDevices.OpenBest(string) (version mismatch)";
                return false;
            }

            device = (GraphDevice?)open.Invoke(null, [reason]);
            whyNot = device is null ? "GraphKernels.Ilgpu found no accelerator" : string.Empty;
            return device is not null;
        }
        catch (Exception ex) when (ex is System.Reflection.TargetInvocationException or System.IO.FileLoadException or BadImageFormatException or TypeLoadException)
        {
            whyNot = "GraphKernels.Ilgpu failed to open an accelerator: " + (ex.InnerException ?? ex).Message;
            return false;
        }
    }

    /// <summary>Tries to open CUDA device <paramref name="ordinal"/>.</summary>
    /// <param name="ordinal">The CUDA device ordinal.</param>
    /// <param name="device">The device, or null.</param>
    /// <param name="whyNot">Why no device was opened ("" on success).</param>
    /// <returns>Whether the device was opened.</returns>
    public static bool TryCuda(int ordinal, [NotNullWhen(true)] out GraphDevice? device, out string whyNot)
    {
        if (ordinal < 0)
        {
            device = null;
            whyNot = $"ordinal {ordinal} is negative";
            return false;
        }

        return TryCreateCuda(ordinal, "requested with GraphDevice.TryCuda", out device, out whyNot, out _);
    }

    private static GraphDevice CreateEmulated(string reason)
    {
        var api = NativeApi.Load(DeviceKind.Emulated);
        return new GraphDevice(DeviceKind.Emulated, api, "CPU emulation of the CUDA execution model", reason, null, -1, null);
    }

    private static bool TryCreateCuda(int ordinal, string reason, [NotNullWhen(true)] out GraphDevice? device,
        out string whyNot, out bool libraryMissing)
    {
        device = null;
        libraryMissing = false;
        if (!CudaDriver.TryLoad(out var driver, out whyNot))
        {
            libraryMissing = true;
            return false;
        }

        if (driver.InitResult != CudaDriver.Success)
        {
            whyNot = $"cuInit failed with {driver.Describe(driver.InitResult)} (driver {driver.DriverVersionText}, {driver.Path})";
            return false;
        }

        int count = 0;
        int result = driver.cuDeviceGetCount(&count);
        if (result != CudaDriver.Success)
        {
            whyNot = $"cuDeviceGetCount failed with {driver.Describe(result)}";
            return false;
        }

        if (ordinal >= count)
        {
            whyNot = count == 0 ? "the CUDA driver reports no devices" : $"there is no CUDA device {ordinal} (the driver reports {count})";
            return false;
        }

        if (!NativeApi.TryLoad(DeviceKind.Cuda, out var api, out string libWhyNot))
        {
            libraryMissing = true;
            whyNot = "a CUDA device is present but the CUDA build of GraphKernels is missing: " + libWhyNot;
            return false;
        }

        int dev;
        result = driver.cuDeviceGet(&dev, ordinal);
        if (result != CudaDriver.Success)
        {
            whyNot = $"cuDeviceGet({ordinal}) failed with {driver.Describe(result)}";
            return false;
        }

        string name = DeviceName(driver, dev);
        nint ctx;
        result = driver.cuDevicePrimaryCtxRetain(&ctx, dev);
        if (result != CudaDriver.Success)
        {
            whyNot = $"cuDevicePrimaryCtxRetain on {name} failed with {driver.Describe(result)}";
            return false;
        }

        var handle = new PrimaryContextHandle(driver, dev, ctx);
        device = new GraphDevice(DeviceKind.Cuda, api, name, reason, driver, ordinal, handle);
        whyNot = string.Empty;
        return true;
    }

    internal static string DeviceName(CudaDriver driver, int dev)
    {
        byte* buffer = stackalloc byte[256];
        buffer[0] = 0;
        string name = driver.cuDeviceGetName(buffer, 256, dev) == CudaDriver.Success ? LibraryProbe.Utf8(buffer) : $"CUDA device {dev}";
        int major = 0, minor = 0;
        driver.cuDeviceGetAttribute(&major, CudaDriver.AttributeComputeCapabilityMajor, dev);
        driver.cuDeviceGetAttribute(&minor, CudaDriver.AttributeComputeCapabilityMinor, dev);
        return $"{name} (sm_{major}{minor})";
    }

    /// <summary>Creates a stream (cuStreamCreate; a fake, non-null handle on the emulated and ILGPU devices, where every op goes to one queue).</summary>
    /// <returns>An owning stream; dispose it when done.</returns>
    public Stream CreateStream()
    {
        ThrowIfDisposed();
        if (Kind != DeviceKind.Cuda)
        {
            long n = Interlocked.Increment(ref s_fakeStreamCounter);
            return new Stream(this, (nint)(0x5000_0000L + n * 16), null, created: true);
        }

        EnsureContext();
        nint s;
        Driver!.Check(Driver.cuStreamCreate(&s, 0), "cuStreamCreate");
        return new Stream(this, s, new CudaObjectHandle(s, isEvent: false, Driver, _context!));
    }

    /// <summary>Wraps a stream created elsewhere (a cudaStream_t / CUstream from another .NET stack); non-owning.</summary>
    /// <param name="cudaStream">The stream handle (0 = legacy default stream).</param>
    /// <returns>A non-owning stream.</returns>
    public Stream WrapStream(nint cudaStream)
    {
        ThrowIfDisposed();
        return cudaStream == 0 ? DefaultStream : new Stream(this, cudaStream, null);
    }

    /// <summary>Allocates <paramref name="length"/> elements of device memory; contents are unspecified.</summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="length">The number of elements (may be 0).</param>
    /// <returns>The owning buffer.</returns>
    public DeviceBuffer<T> Allocate<T>(long length)
        where T : unmanaged
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ThrowIfDisposed();
        long bytes;
        try
        {
            bytes = checked(length * sizeof(T));
        }
        catch (OverflowException)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, $"{length} elements of {typeof(T).Name} overflow a 64-bit byte count.");
        }

        return new DeviceBuffer<T>(this, AllocateBytes(bytes), length);
    }

    /// <summary>Allocates a buffer and copies <paramref name="host"/> into it (synchronous).</summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="host">The data to upload.</param>
    /// <returns>The owning buffer.</returns>
    public DeviceBuffer<T> Upload<T>(ReadOnlySpan<T> host)
        where T : unmanaged
    {
        var buffer = Allocate<T>(host.Length);
        try
        {
            buffer.CopyFrom(host);
            return buffer;
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Wraps device memory allocated elsewhere (e.g. a TorchSharp tensor's data_ptr); non-owning:
    /// disposing the buffer frees nothing, and the memory must outlive it.
    /// </summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="pointer">The device pointer (host pointer on the emulated device).</param>
    /// <param name="length">The number of elements.</param>
    /// <returns>A non-owning buffer.</returns>
    public DeviceBuffer<T> WrapBuffer<T>(nint pointer, long length)
        where T : unmanaged
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (pointer == 0)
        {
            throw new ArgumentNullException(nameof(pointer), "The device pointer is null.");
        }

        ThrowIfDisposed();
        if (Managed is not null)
        {
            throw new NotSupportedException($"GraphDevice.WrapBuffer is not supported on the {Name} backend: ILGPU buffers cannot wrap foreign device pointers.");
        }

        return new DeviceBuffer<T>(this, new DeviceMemoryHandle(pointer, ownsHandle: false, null, null), length);
    }

    /// <summary>Waits for all work on this device (cuCtxSynchronize; the accelerator's queue on ILGPU; nothing to wait for on the emulated device).</summary>
    public void Synchronize()
    {
        ThrowIfDisposed();
        Managed?.Synchronize();
        if (Kind == DeviceKind.Cuda)
        {
            EnsureContext();
            Driver!.Check(Driver.cuCtxSynchronize(), "cuCtxSynchronize");
        }
    }

    /// <summary>
    /// Multi-line report for <c>graphkernels info</c>: the CUDA driver and devices (or why none), NVRTC
    /// (or why not), and the GraphKernels native libraries found with their versions and build info.
    /// </summary>
    /// <returns>The report.</returns>
    public static string Describe() => DeviceReport.Build();

    /// <summary>Releases this device's reference on its primary context; buffers still alive keep it retained.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _context?.Dispose();
            Managed?.ReleaseDevice();
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Kind}: {Name}";

    // ------------------------------------------------------------------ internals ----------

    /// <summary>Makes this device's primary context current on the calling thread (cheap when it already is).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void EnsureContext()
    {
        if (_contextValue != 0)
        {
            EnsureCudaContext();
        }
    }

    private void EnsureCudaContext()
    {
        var driver = Driver!;
        nint current;
        int result = driver.cuCtxGetCurrent(&current);
        if (result != CudaDriver.Success || current != _contextValue)
        {
            driver.Check(driver.cuCtxSetCurrent(_contextValue), "cuCtxSetCurrent");
        }
    }

    internal void ThrowIfDisposed()
    {
        if (IsDisposed)
        {
            ThrowDisposed();
        }
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private NativeApi ThrowNoNativeApi() => throw ManagedBackends.NotSupported(ManagedBackends.CallingOp(), Name);

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowDisposed() => throw new ObjectDisposedException(nameof(GraphDevice), $"The device {Name} has been disposed.");

    internal DeviceMemoryHandle AllocateBytes(long bytes)
    {
        long size = Math.Max(bytes, 1);
        if (Managed is not null)
        {
            var allocation = Managed.Allocate(size, out nint token);
            return new DeviceMemoryHandle(token, allocation);
        }

        if (Kind == DeviceKind.Emulated)
        {
            void* p;
            try
            {
                p = NativeMemory.AlignedAlloc((nuint)size, EmulatedAlignment);
            }
            catch (OutOfMemoryException ex)
            {
                throw new GraphKernelsException(GkStatus.Cuda, $"emulated device allocation of {bytes} bytes failed: out of host memory", ex);
            }

            return new DeviceMemoryHandle((nint)p, ownsHandle: true, null, null);
        }

        EnsureContext();
        ulong dptr;
        int result = Driver!.cuMemAlloc_v2(&dptr, (nuint)size);
        if (result != CudaDriver.Success)
        {
            throw new GraphKernelsException(GkStatus.Cuda, $"cuMemAlloc_v2 of {bytes} bytes on {Name} failed: {Driver.Describe(result)}");
        }

        try
        {
            return new DeviceMemoryHandle((nint)dptr, ownsHandle: true, Driver, _context);
        }
        catch
        {
            Driver.cuMemFree_v2(dptr);
            throw;
        }
    }

    internal void CopyToDevice(nint destination, void* source, long bytes)
    {
        if (bytes == 0)
        {
            return;
        }

        if (Kind == DeviceKind.Emulated)
        {
            Buffer.MemoryCopy(source, (void*)destination, bytes, bytes);
            return;
        }

        EnsureContext();
        Driver!.Check(Driver.cuMemcpyHtoDAsync_v2((ulong)destination, source, (nuint)bytes, 0), "cuMemcpyHtoDAsync_v2");
        Driver.Check(Driver.cuStreamSynchronize(0), "cuStreamSynchronize");
    }

    internal void CopyToHost(void* destination, nint source, long bytes)
    {
        if (bytes == 0)
        {
            return;
        }

        if (Kind == DeviceKind.Emulated)
        {
            Buffer.MemoryCopy((void*)source, destination, bytes, bytes);
            return;
        }

        EnsureContext();
        Driver!.Check(Driver.cuMemcpyDtoHAsync_v2(destination, (ulong)source, (nuint)bytes, 0), "cuMemcpyDtoHAsync_v2");
        Driver.Check(Driver.cuStreamSynchronize(0), "cuStreamSynchronize");
    }

    /// <summary>Fills <paramref name="count"/> elements of size 1, 2 or 4 bytes on a CUDA device (synchronous).</summary>
    internal void MemsetCuda(nint destination, uint pattern, int elementSize, long count)
    {
        EnsureContext();
        var d = Driver!;
        int result = elementSize switch
        {
            1 => d.cuMemsetD8Async((ulong)destination, (byte)pattern, (nuint)count, 0),
            2 => d.cuMemsetD16Async((ulong)destination, (ushort)pattern, (nuint)count, 0),
            _ => d.cuMemsetD32Async((ulong)destination, pattern, (nuint)count, 0),
        };
        d.Check(result, "cuMemsetAsync");
        d.Check(d.cuStreamSynchronize(0), "cuStreamSynchronize");
    }
}
