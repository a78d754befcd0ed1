using GraphKernels.Ilgpu;

namespace GraphKernels.Tests.IlgpuBackend;

/// <summary>
/// The two devices every ILGPU cross-backend fixture compares: ILGPU's CPU accelerator and the emulated
/// CUDA library, opened once per fixture and disposed after it.
/// </summary>
public abstract class CrossBackendFixture
{
    /// <summary>ILGPU's CPU accelerator (set by <see cref="Open"/>).</summary>
    protected GraphDevice? ilgpu;

    /// <summary>The emulated CUDA device (set by <see cref="Open"/>).</summary>
    protected GraphDevice? emulated;

    [OneTimeSetUp]
    public void Open()
    {
        ilgpu = GraphDevice.Ilgpu(IlgpuAccelerator.Cpu);
        emulated = GraphDevice.Emulated();
    }

    [OneTimeTearDown]
    public void Close()
    {
        ilgpu?.Dispose();
        emulated?.Dispose();
    }
}
