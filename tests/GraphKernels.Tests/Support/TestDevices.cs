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
    /// <remarks>On ILGPU the raw-pointer tests check the refusal instead: the raw SpMM overload must throw
    /// NotSupportedException naming the op and the backend, leaving the output untouched. Returns true
    /// when that was the check (the caller then returns), false on a native device.</remarks>
    public static bool IlgpuRefusesRawPointers(GraphDevice device)
    {
        if (device.Kind != DeviceKind.Ilgpu) return false;
        using var g = CsrGraph.Upload(device, new[] { 0, 1 }, new[] { 0 }, 1);
        using var x = device.Upload<float>(new float[] { 1 });
        using var y = device.Upload<float>(new float[] { 7 });
        var ex = Assert.Throws<NotSupportedException>(() => GraphKernels.MessagePassing.SpMM(device, g.RowPtr.Pointer, g.ColIdx.Pointer,
            1, 1, 1, IndexType.Int32, Message.CopyU, Reduce.Sum, 1, x.Pointer, 1, 0, y.Pointer, 1, 0, 0, 0));
        Assert.That(ex!.Message, Does.Contain("MessagePassing.SpMM").And.Contain("ILGPU"));
        Assert.That(y.ToArray(), Is.EqualTo(new float[] { 7 }), "y untouched");
        return true;
    }
}
