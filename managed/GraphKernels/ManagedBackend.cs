using System;
using System.Diagnostics;

namespace GraphKernels;

/// <summary>
/// The seam for backends written in .NET (GraphKernels.Ilgpu): a <see cref="GraphDevice"/> of kind
/// <see cref="DeviceKind.Ilgpu"/> owns one, buffers keep their backend allocation in their
/// <see cref="Interop.DeviceMemoryHandle"/>, and every public op that the backend implements calls it
/// at the top (after the op's own argument checks, so errors are identical on every backend). Ops it
/// does not implement throw <see cref="NotSupportedException"/> naming the op and the backend: the
/// default interface methods below, and <see cref="GraphDevice.Api"/> for ops that reach the native
/// library without a dispatch line. The core assembly has no ILGPU dependency.
/// </summary>
internal unsafe partial interface IManagedBackend
{
    /// <summary>E.g. "ILGPU CPU accelerator (warp 32, 1024 threads per group)".</summary>
    string Name { get; }

    /// <summary>Allocates <paramref name="bytes"/> (at least 1); <paramref name="pointer"/> is a host pointer on a CPU accelerator, else a unique token.</summary>
    IDisposable Allocate(long bytes, out nint pointer);

    /// <summary>Synchronous host-to-device copy into an allocation made by <see cref="Allocate"/>.</summary>
    void CopyToDevice(IDisposable allocation, long byteOffset, void* source, long bytes);

    /// <summary>Synchronous device-to-host copy (waits for the work queued before it).</summary>
    void CopyToHost(void* destination, IDisposable allocation, long byteOffset, long bytes);

    /// <summary>Sets <paramref name="count"/> elements of size <paramref name="elementSize"/> to the bytes of <paramref name="value"/>.</summary>
    void Fill(IDisposable allocation, long count, int elementSize, ReadOnlySpan<byte> value);

    /// <summary>Waits for all queued work.</summary>
    void Synchronize();

    /// <summary>Called once by <see cref="GraphDevice.Dispose"/>; the backend frees itself when the last allocation is gone too.</summary>
    void ReleaseDevice();

    /// <summary>Checks the CSR contents with the same rules and messages as gk_csr_validate (throws GraphKernelsException InvalidGraph).</summary>
    void ValidateCsr(CsrGraph graph, string operation);

    /// <summary>MessagePassing.SpMM after the op's argument checks (ld* already resolved).</summary>
    void SpMM(CsrGraph graph, Message message, Reduce reduce, long features, DeviceBuffer<float> x, long ldx,
        DeviceBuffer<float>? edgeWeight, DeviceBuffer<float> y, long ldy, DeviceBuffer? argOut, long ldArg)
        => throw ManagedBackends.NotSupported("MessagePassing.SpMM", Name);

    /// <summary>Quantization.QuantizeInto after its argument checks (ld resolved; levels t_0..t_L and rdelta as the native launcher builds them).</summary>
    void Quantize(QuantizationPlan plan, DeviceBuffer x, long ld, DeviceBuffer<uint> packed, DeviceBuffer zero, DeviceBuffer step,
        ulong seed, ulong offset, float[] levels, float[] rdelta)
        => throw ManagedBackends.NotSupported("Quantization.Quantize", Name);

    /// <summary>Quantization.Dequantize after its argument checks (ldY resolved).</summary>
    void Dequantize(QuantizationPlan plan, DeviceBuffer<uint> packed, DeviceBuffer zero, DeviceBuffer step,
        QuantElementType outType, DeviceBuffer y, long ldY, float[] levels, float[] rdelta)
        => throw ManagedBackends.NotSupported("Quantization.Dequantize", Name);
}

/// <summary>Helpers for <see cref="IManagedBackend"/>.</summary>
internal static class ManagedBackends
{
    /// <summary>The exception for an op the backend does not implement.</summary>
    public static NotSupportedException NotSupported(string op, string backend)
        => new($"{op} is not implemented on the {backend} backend (see docs/ilgpu.md for what it covers); use a CUDA or emulated device (GraphDevice.Cuda / GraphDevice.Emulated) for it.");

    /// <summary>
    /// The op that touched the native API on a managed device: the first frame of the stack outside
    /// GraphDevice that belongs to GraphKernels (best effort; "a GraphKernels op" when the stack has no names).
    /// </summary>
    public static string CallingOp()
    {
        string trace = new StackTrace(1, false).ToString();
        foreach (string raw in trace.Split('\n'))
        {
            string line = raw.Trim();
            if (!line.StartsWith("at GraphKernels.", StringComparison.Ordinal)
                || line.StartsWith("at GraphKernels.GraphDevice.", StringComparison.Ordinal)
                || line.StartsWith("at GraphKernels.ManagedBackends.", StringComparison.Ordinal))
            {
                continue;
            }

            string name = line[3..];
            int paren = name.IndexOf('(', StringComparison.Ordinal);
            return paren > 0 ? name[..paren] : name;
        }

        return "a GraphKernels op";
    }
}
