using GraphKernels.Ilgpu;

namespace GraphKernels.Tests.Support;

/// <summary>
/// Opens the device a fixture runs on. The emulated device always exists here; the CUDA device is
/// optional, and its absence is a skip with the reason (never a silent pass).
/// </summary>
public static class TestDevices
{
    public static GraphDevice OpenOrIgnore(DeviceKind kind)
    {
        if (kind == DeviceKind.Emulated) return GraphDevice.Emulated();
        if (kind == DeviceKind.Ilgpu) return GraphDevice.Ilgpu(IlgpuAccelerator.Cpu);
        if (GraphDevice.TryCuda(0, out GraphDevice? device, out string whyNot)) return device;
        Assert.Ignore("no CUDA device: " + whyNot);
        throw new InvalidOperationException("unreachable");
    }

    /// <summary>The raw-pointer overloads take CUDA device pointers and a CUstream: they exist on the native backends only.</summary>
    public static void IgnoreIfNoRawPointers(GraphDevice device)
    {
        if (device.Kind == DeviceKind.Ilgpu) Assert.Ignore("the raw-pointer overload is for native (CUDA/emulated) devices; on ILGPU it throws NotSupportedException (IlgpuSeamTests checks that)");
    }
}
