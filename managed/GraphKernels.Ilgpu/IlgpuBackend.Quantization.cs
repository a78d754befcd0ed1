namespace GraphKernels.Ilgpu;

/// <summary>The quantization family's ops that are not in IlgpuBackend.Ops.cs: the random projection.</summary>
internal sealed partial class IlgpuBackend
{
    public void Projection(bool unproject, DeviceBuffer<float> input, long ldIn, DeviceBuffer<float> output, long ldOut, long rows, RandomProjection projection)
    {
        var leases = default(BufferLeases);
        try
        {
            leases.Add(input);
            leases.Add(output);
            Quant.Projection(unproject, input, ldIn, output, ldOut, rows, projection);
        }
        finally
        {
            leases.Dispose();
        }
    }
}
