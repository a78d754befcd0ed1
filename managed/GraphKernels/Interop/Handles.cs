using System;
using System.Runtime.InteropServices;

namespace GraphKernels.Interop;

/// <summary>A retained primary context; released with cuDevicePrimaryCtxRelease.</summary>
internal sealed class PrimaryContextHandle : SafeHandle
{
    private readonly CudaDriver _driver;
    private readonly int _device;

    public PrimaryContextHandle(CudaDriver driver, int device, nint context)
        : base(0, ownsHandle: true)
    {
        _driver = driver;
        _device = device;
        SetHandle(context);
    }

    public override bool IsInvalid => handle == 0;

    protected override unsafe bool ReleaseHandle() => _driver.cuDevicePrimaryCtxRelease(_device) == CudaDriver.Success;
}

/// <summary>
/// Device memory: cuMemFree_v2 under the owning context on a CUDA device (pushed, so the finalizer
/// thread works too), NativeMemory.AlignedFree on the emulated device. Owning handles keep the
/// primary context alive until they are freed.
/// </summary>
internal sealed unsafe class DeviceMemoryHandle : SafeHandle
{
    private readonly CudaDriver? _driver;
    private readonly PrimaryContextHandle? _context;

    /// <summary>Takes ownership of <paramref name="pointer"/> (and a reference on <paramref name="context"/> for CUDA memory).</summary>
    public DeviceMemoryHandle(nint pointer, bool ownsHandle, CudaDriver? driver, PrimaryContextHandle? context)
        : base(0, ownsHandle)
    {
        SetHandle(pointer);
        OwnsMemory = ownsHandle;
        if (ownsHandle && context is not null)
        {
            bool added = false;
            context.DangerousAddRef(ref added);
            _driver = driver;
            _context = context;
        }
    }

    /// <summary>Memory of a managed backend (GraphKernels.Ilgpu): <paramref name="allocation"/> is disposed on release.</summary>
    public DeviceMemoryHandle(nint pointer, IDisposable allocation)
        : base(0, ownsHandle: true)
    {
        SetHandle(pointer);
        OwnsMemory = true;
        ManagedAllocation = allocation;
    }

    public bool OwnsMemory { get; }

    /// <summary>The managed backend's allocation object, or null for native memory.</summary>
    public IDisposable? ManagedAllocation { get; }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        if (ManagedAllocation is not null)
        {
            ManagedAllocation.Dispose();
            return true;
        }

        if (_context is null)
        {
            NativeMemory.AlignedFree((void*)handle);
            return true;
        }

        bool ok;
        int pushed = _driver!.cuCtxPushCurrent_v2(_context.DangerousGetHandle());
        ok = _driver.cuMemFree_v2((ulong)handle) == CudaDriver.Success;
        if (pushed == CudaDriver.Success)
        {
            nint popped;
            _driver.cuCtxPopCurrent_v2(&popped);
        }

        _context.DangerousRelease();
        return ok;
    }
}

/// <summary>An owned CUDA stream (cuStreamDestroy_v2) or event (cuEventDestroy_v2).</summary>
internal sealed unsafe class CudaObjectHandle : SafeHandle
{
    private readonly CudaDriver _driver;
    private readonly PrimaryContextHandle _context;
    private readonly bool _isEvent;

    public CudaObjectHandle(nint value, bool isEvent, CudaDriver driver, PrimaryContextHandle context)
        : base(0, ownsHandle: true)
    {
        SetHandle(value);
        _isEvent = isEvent;
        _driver = driver;
        _context = context;
        bool added = false;
        context.DangerousAddRef(ref added);
    }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        int pushed = _driver.cuCtxPushCurrent_v2(_context.DangerousGetHandle());
        bool ok = (_isEvent ? _driver.cuEventDestroy_v2(handle) : _driver.cuStreamDestroy_v2(handle)) == CudaDriver.Success;
        if (pushed == CudaDriver.Success)
        {
            nint popped;
            _driver.cuCtxPopCurrent_v2(&popped);
        }

        _context.DangerousRelease();
        return ok;
    }
}
