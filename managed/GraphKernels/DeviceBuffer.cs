using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using GraphKernels.Interop;

namespace GraphKernels;

/// <summary>
/// Device memory of some element type: the non-generic view used where the element type is decided
/// at run time (CSR indices, arg outputs).
/// </summary>
public abstract class DeviceBuffer : IDisposable
{
    private protected DeviceBuffer(GraphDevice device, DeviceMemoryHandle handle)
    {
        DeviceCore = device;
        MemoryHandle = handle;
    }

    /// <summary>Number of elements.</summary>
    public abstract long Length { get; }

    /// <summary>The element type.</summary>
    public abstract Type ElementType { get; }

    /// <summary>The device pointer (host pointer on the emulated device).</summary>
    /// <exception cref="ObjectDisposedException">The buffer has been disposed.</exception>
    public abstract nint Pointer { get; }

    /// <summary><see cref="Length"/> times the element size.</summary>
    public abstract long SizeInBytes { get; }

    /// <summary>The device that allocated (or wrapped) this buffer.</summary>
    public abstract GraphDevice Device { get; }

    /// <summary>Whether <see cref="Dispose()"/> has been called.</summary>
    public bool IsDisposed => MemoryHandle.IsClosed;

    /// <summary>Whether this buffer frees its memory when disposed (false for wrapped foreign memory).</summary>
    public bool OwnsMemory => MemoryHandle.OwnsMemory;

    internal GraphDevice DeviceCore { get; }

    internal DeviceMemoryHandle MemoryHandle { get; }

    /// <summary>The raw pointer without taking a reference; throws when disposed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal nint PointerChecked(string paramName)
    {
        if (MemoryHandle.IsClosed)
        {
            ThrowDisposed(paramName);
        }

        return MemoryHandle.DangerousGetHandle();
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private protected void ThrowDisposed(string paramName)
        => throw new ObjectDisposedException(paramName, $"The DeviceBuffer<{ElementType.Name}> passed as '{paramName}' has been disposed.");

    /// <summary>Frees the memory (synchronously) if this buffer owns it.</summary>
    public void Dispose()
    {
        MemoryHandle.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <inheritdoc/>
    public override string ToString() => $"DeviceBuffer<{ElementType.Name}>[{Length}] on {DeviceCore.Name}";
}

/// <summary>
/// A typed device buffer, backed by a SafeHandle (cuMemFree_v2 on a CUDA device,
/// NativeMemory.AlignedFree with 256-byte alignment on the emulated one). Copies are synchronous.
/// </summary>
/// <typeparam name="T">The element type.</typeparam>
public sealed unsafe class DeviceBuffer<T> : DeviceBuffer
    where T : unmanaged
{
    private readonly long _length;

    internal DeviceBuffer(GraphDevice device, DeviceMemoryHandle handle, long length)
        : base(device, handle)
    {
        _length = length;
    }

    /// <inheritdoc/>
    public override long Length => _length;

    /// <inheritdoc/>
    public override Type ElementType => typeof(T);

    /// <inheritdoc/>
    public override nint Pointer => PointerChecked("buffer");

    /// <inheritdoc/>
    public override long SizeInBytes => _length * sizeof(T);

    /// <inheritdoc/>
    public override GraphDevice Device => DeviceCore;

    /// <summary>Copies <paramref name="source"/> into the buffer starting at element <paramref name="destinationOffset"/> (synchronous).</summary>
    /// <param name="source">The host data.</param>
    /// <param name="destinationOffset">The first element written.</param>
    public void CopyFrom(ReadOnlySpan<T> source, long destinationOffset = 0)
    {
        if (destinationOffset < 0 || destinationOffset > _length - source.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(destinationOffset), destinationOffset,
                $"Copying {source.Length} elements at offset {destinationOffset} does not fit a buffer of {_length}.");
        }

        bool added = false;
        MemoryHandle.DangerousAddRef(ref added);
        try
        {
            fixed (T* src = source)
            {
                if (MemoryHandle.ManagedAllocation is { } managed)
                {
                    DeviceCore.Managed!.CopyToDevice(managed, destinationOffset * sizeof(T), src, (long)source.Length * sizeof(T));
                    return;
                }

                nint dst = MemoryHandle.DangerousGetHandle() + (nint)(destinationOffset * sizeof(T));
                DeviceCore.CopyToDevice(dst, src, (long)source.Length * sizeof(T));
            }
        }
        finally
        {
            MemoryHandle.DangerousRelease();
        }
    }

    /// <summary>Copies elements starting at <paramref name="sourceOffset"/> into <paramref name="destination"/> (synchronous).</summary>
    /// <param name="destination">The host span to fill (its whole length is copied).</param>
    /// <param name="sourceOffset">The first element read.</param>
    public void CopyTo(Span<T> destination, long sourceOffset = 0)
    {
        if (sourceOffset < 0 || sourceOffset > _length - destination.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(sourceOffset), sourceOffset,
                $"Copying {destination.Length} elements from offset {sourceOffset} does not fit a buffer of {_length}.");
        }

        bool added = false;
        MemoryHandle.DangerousAddRef(ref added);
        try
        {
            fixed (T* dst = destination)
            {
                if (MemoryHandle.ManagedAllocation is { } managed)
                {
                    DeviceCore.Managed!.CopyToHost(dst, managed, sourceOffset * sizeof(T), (long)destination.Length * sizeof(T));
                    return;
                }

                nint src = MemoryHandle.DangerousGetHandle() + (nint)(sourceOffset * sizeof(T));
                DeviceCore.CopyToHost(dst, src, (long)destination.Length * sizeof(T));
            }
        }
        finally
        {
            MemoryHandle.DangerousRelease();
        }
    }

    /// <summary>Copies the whole buffer to a new array (synchronous).</summary>
    /// <returns>The contents.</returns>
    public T[] ToArray()
    {
        if (_length > Array.MaxLength)
        {
            throw new InvalidOperationException($"A buffer of {_length} elements does not fit a .NET array.");
        }

        var result = new T[_length];
        CopyTo(result);
        return result;
    }

    /// <summary>Sets every element to <paramref name="value"/> (synchronous).</summary>
    /// <param name="value">The value.</param>
    public void Fill(T value)
    {
        bool added = false;
        MemoryHandle.DangerousAddRef(ref added);
        try
        {
            nint p = MemoryHandle.DangerousGetHandle();
            if (_length == 0)
            {
                return;
            }

            if (MemoryHandle.ManagedAllocation is { } managed)
            {
                DeviceCore.Managed!.Fill(managed, _length, sizeof(T), new ReadOnlySpan<byte>(&value, sizeof(T)));
                return;
            }

            if (DeviceCore.Kind == DeviceKind.Emulated)
            {
                const int chunk = 1 << 30;
                for (long start = 0; start < _length; start += chunk)
                {
                    int n = (int)Math.Min(chunk, _length - start);
                    new Span<T>((T*)p + start, n).Fill(value);
                }

                return;
            }

            if (sizeof(T) is 1 or 2 or 4)
            {
                uint pattern = sizeof(T) switch
                {
                    1 => Unsafe.As<T, byte>(ref value),
                    2 => Unsafe.As<T, ushort>(ref value),
                    _ => Unsafe.As<T, uint>(ref value),
                };
                DeviceCore.MemsetCuda(p, pattern, sizeof(T), _length);
                return;
            }

            int block = (int)Math.Min(_length, 1 << 16);
            var host = new T[block];
            Array.Fill(host, value);
            for (long start = 0; start < _length; start += block)
            {
                int n = (int)Math.Min(block, _length - start);
                fixed (T* src = host)
                {
                    DeviceCore.CopyToDevice(p + (nint)(start * sizeof(T)), src, (long)n * sizeof(T));
                }
            }
        }
        finally
        {
            MemoryHandle.DangerousRelease();
        }
    }
}
