using System.Runtime.CompilerServices;
using GraphKernels.Interop;

namespace GraphKernels;

/// <summary>
/// Keeps the memory of up to 12 buffers alive for the duration of a native call, even against a
/// concurrent <see cref="DeviceBuffer.Dispose()"/> on another thread (DangerousAddRef/DangerousRelease
/// on each buffer's SafeHandle), without allocating. A disposed buffer makes <see cref="Add"/> throw
/// <see cref="System.ObjectDisposedException"/> before any native call is made.
/// </summary>
internal struct BufferLeases
{
    private HandleArray _handles;
    private int _count;

    /// <summary>Leases <paramref name="buffer"/>'s memory; null is ignored.</summary>
    public void Add(DeviceBuffer? buffer)
    {
        if (buffer is null)
        {
            return;
        }

        bool added = false;
        buffer.MemoryHandle.DangerousAddRef(ref added);
        if (added)
        {
            _handles[_count++] = buffer.MemoryHandle;
        }
    }

    /// <summary>Releases every lease, last first.</summary>
    public void Dispose()
    {
        for (int i = _count - 1; i >= 0; i--)
        {
            _handles[i]!.DangerousRelease();
            _handles[i] = null;
        }

        _count = 0;
    }

    [InlineArray(16)]   // force/stress: 10 buffers + the topology's 6
    private struct HandleArray
    {
        private DeviceMemoryHandle? _element;
    }
}
