using System;
using GraphKernels.Interop;

namespace GraphKernels;

/// <summary>
/// A CUDA stream (CUstream / cudaStream_t). Owning when made by <see cref="GraphDevice.CreateStream"/>;
/// non-owning for <see cref="GraphDevice.DefaultStream"/> and <see cref="GraphDevice.WrapStream"/>.
/// On the emulated device every call completes before returning, so streams are placeholders.
/// </summary>
public sealed class Stream : IDisposable
{
    private readonly CudaObjectHandle? _owned;
    private readonly bool _created;
    private bool _disposed;

    internal Stream(GraphDevice device, nint handle, CudaObjectHandle? owned, bool created = false)
    {
        Device = device;
        Handle = handle;
        _owned = owned;
        _created = created || owned is not null;

        // The emulated library runs every call to completion and accepts only streams it created
        // itself (it checks them), so emulated Stream objects all map to its NULL stream.
        NativeHandle = device.Kind == DeviceKind.Cuda ? handle : 0;
    }

    /// <summary>The raw stream handle (0 = the legacy default stream).</summary>
    public nint Handle { get; }

    /// <summary>The device the stream belongs to.</summary>
    public GraphDevice Device { get; }

    internal bool IsDisposed => _disposed;

    /// <summary>What is passed to the native library: <see cref="Handle"/> on CUDA, 0 on the emulated device.</summary>
    internal nint NativeHandle { get; }

    /// <summary>Waits until all work queued on this stream has finished (cuStreamSynchronize).</summary>
    public unsafe void Synchronize()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Device.Managed?.Synchronize();
        if (Device.Kind == DeviceKind.Cuda)
        {
            Device.EnsureContext();
            Device.Driver!.Check(Device.Driver.cuStreamSynchronize(Handle), "cuStreamSynchronize");
        }
    }

    /// <summary>
    /// Destroys a stream made by <see cref="GraphDevice.CreateStream"/> (cuStreamDestroy_v2; on the
    /// emulated device the placeholder is retired the same way, so later use throws
    /// <see cref="ObjectDisposedException"/>); does nothing for non-owning ones.
    /// </summary>
    public void Dispose()
    {
        if (!_created)
        {
            return;
        }

        _disposed = true;
        _owned?.Dispose();
    }

    /// <inheritdoc/>
    public override string ToString() => $"Stream 0x{Handle:x} on {Device.Name}";
}
