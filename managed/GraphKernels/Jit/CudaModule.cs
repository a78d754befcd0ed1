using System;
using GraphKernels.Interop;

namespace GraphKernels.Jit;

/// <summary>
/// A JIT-compiled image loaded into a CUDA device's primary context (cuModuleLoadData), its
/// functions (cuModuleGetFunction) and launches (cuLaunchKernel). Internal: the public face is
/// <see cref="FusedMessage"/>.
/// </summary>
internal sealed unsafe class CudaModule : IDisposable
{
    private readonly GraphDevice _device;
    private nint _module;

    public CudaModule(GraphDevice device, byte[] image)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(image);
        if (device.Kind != DeviceKind.Cuda || device.Driver is null)
        {
            throw new NotSupportedException($"CUDA modules load only on a CUDA device; {device.Name} is {device.Kind}.");
        }

        _device = device;
        device.EnsureContext();
        nint module;
        fixed (byte* p = image)
        {
            device.Driver.Check(device.Driver.cuModuleLoadData(&module, p), "cuModuleLoadData");
        }

        _module = module;
    }

    /// <summary>cuModuleGetFunction of a lowered name.</summary>
    public nint GetFunction(string loweredName)
    {
        ObjectDisposedException.ThrowIf(_module == 0, this);
        nint function;
        byte[] name = LibraryProbe.ToUtf8Z(loweredName);
        fixed (byte* p = name)
        {
            _device.Driver!.Check(_device.Driver.cuModuleGetFunction(&function, _module, p), "cuModuleGetFunction(" + loweredName + ")");
        }

        return function;
    }

    /// <summary>cuLaunchKernel on <paramref name="stream"/> (stream-ordered, no synchronisation).</summary>
    public void Launch(nint function, uint gridX, uint blockX, nint stream, void** args)
    {
        ObjectDisposedException.ThrowIf(_module == 0, this);
        _device.EnsureContext();
        _device.Driver!.Check(_device.Driver.cuLaunchKernel(function, gridX, 1, 1, blockX, 1, 1, 0, stream, args, null), "cuLaunchKernel");
    }

    /// <summary>Compute capability (major * 10 + minor) of a CUDA device.</summary>
    public static int ComputeCapability(GraphDevice device)
    {
        var driver = device.Driver ?? throw new NotSupportedException($"{device.Name} is not a CUDA device.");
        int dev, major, minor;
        driver.Check(driver.cuDeviceGet(&dev, device.Ordinal), "cuDeviceGet");
        driver.Check(driver.cuDeviceGetAttribute(&major, CudaDriver.AttributeComputeCapabilityMajor, dev), "cuDeviceGetAttribute(major)");
        driver.Check(driver.cuDeviceGetAttribute(&minor, CudaDriver.AttributeComputeCapabilityMinor, dev), "cuDeviceGetAttribute(minor)");
        return (major * 10) + minor;
    }

    public void Dispose()
    {
        if (_module != 0 && !_device.IsDisposed)
        {
            _device.EnsureContext();
            _device.Driver!.cuModuleUnload(_module);
        }

        _module = 0;
    }
}
