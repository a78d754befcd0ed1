using System;
using System.Threading;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace GraphKernels.Ilgpu;

/// <summary>
/// The <see cref="IManagedBackend"/> over one ILGPU accelerator. Memory is one
/// <c>MemoryBuffer1D&lt;byte&gt;</c> per <see cref="DeviceBuffer{T}"/>, viewed with the element type
/// each kernel needs. Every kernel and copy goes to the accelerator's default stream, so work runs in
/// call order; copies to the host wait for it. The context and accelerator are freed when the device
/// is disposed and the last buffer is gone (buffers may outlive the device, as on the other backends).
/// </summary>
internal sealed unsafe partial class IlgpuBackend : IManagedBackend
{
    private readonly Context _context;
    private readonly Accelerator _accelerator;
    private readonly Lock _lock = new();
    private long _references = 1;  // the device + one per live allocation
    private readonly Lazy<SpmmKernels> _spmm;
    private readonly Lazy<FillKernels> _fill;
    private readonly Lazy<QuantKernels> _quant;

    public IlgpuBackend(Context context, Accelerator accelerator)
    {
        _context = context;
        _accelerator = accelerator;
        _spmm = new Lazy<SpmmKernels>(() => new SpmmKernels(accelerator));   // compiled once, on first use, thread-safely
        _fill = new Lazy<FillKernels>(() => new FillKernels(accelerator));
        _quant = new Lazy<QuantKernels>(() => new QuantKernels(accelerator));
        Name = accelerator.AcceleratorType == AcceleratorType.CPU
            ? $"ILGPU CPU accelerator (warp {accelerator.WarpSize}, {accelerator.MaxNumThreadsPerGroup} threads per group, {accelerator.NumMultiprocessors} multiprocessor(s))"
            : $"ILGPU {accelerator.AcceleratorType} {accelerator.Name}";
    }

    public string Name { get; }

    public Accelerator Accelerator => _accelerator;

    internal SpmmKernels Spmm => _spmm.Value;

    internal QuantKernels Quant => _quant.Value;

    private FillKernels Filler => _fill.Value;

    // ------------------------------------------------------------------ memory ----------

    public IDisposable Allocate(long bytes, out nint pointer)
    {
        MemoryBuffer1D<byte, Stride1D.Dense> buffer;
        try
        {
            buffer = _accelerator.Allocate1D<byte>(bytes);
        }
        catch (Exception ex) when (ex is OutOfMemoryException or AcceleratorException)
        {
            throw new GraphKernelsException(GkStatus.Cuda, $"{Name}: allocation of {bytes} bytes failed: {ex.Message}", ex);
        }

        Interlocked.Increment(ref _references);
        var allocation = new IlgpuAllocation(this, buffer);
        pointer = allocation.Token;
        return allocation;
    }

    public void CopyToDevice(IDisposable allocation, long byteOffset, void* source, long bytes)
    {
        if (bytes == 0)
        {
            return;
        }

        var view = View<byte>(allocation).SubView(byteOffset, bytes);
        view.CopyFromCPU(ref *(byte*)source, bytes);
    }

    public void CopyToHost(void* destination, IDisposable allocation, long byteOffset, long bytes)
    {
        if (bytes == 0)
        {
            return;
        }

        _accelerator.DefaultStream.Synchronize();
        var view = View<byte>(allocation).SubView(byteOffset, bytes);
        view.CopyToCPU(ref *(byte*)destination, bytes);
    }

    public void Fill(IDisposable allocation, long count, int elementSize, ReadOnlySpan<byte> value)
    {
        var raw = View<byte>(allocation);
        if (_accelerator.AcceleratorType == AcceleratorType.CPU)
        {
            // The CPU accelerator's memory is host memory: fill it in place (after the queued work).
            _accelerator.DefaultStream.Synchronize();
            byte* p = (byte*)((IlgpuAllocation)allocation).Buffer.NativePtr;
            const int chunk = 1 << 28;
            for (long start = 0; start < count; start += chunk)
            {
                int n = (int)Math.Min(chunk, count - start);
                byte* q = p + (start * elementSize);
                switch (elementSize)
                {
                    case 1: new Span<byte>(q, n).Fill(value[0]); break;
                    case 2: new Span<ushort>(q, n).Fill(BitConverter.ToUInt16(value)); break;
                    case 4: new Span<uint>(q, n).Fill(BitConverter.ToUInt32(value)); break;
                    case 8: new Span<ulong>(q, n).Fill(BitConverter.ToUInt64(value)); break;
                    default:
                        for (int i = 0; i < n; i++)
                        {
                            value.CopyTo(new Span<byte>(q + ((long)i * elementSize), elementSize));
                        }

                        break;
                }
            }

            return;
        }

        switch (elementSize)
        {
            case 1:
                Filler.Fill(raw.SubView(0, count), value[0]);
                break;
            case 2:
                Filler.Fill(raw.Cast<ushort>().SubView(0, count), BitConverter.ToUInt16(value));
                break;
            case 4:
                Filler.Fill(raw.Cast<uint>().SubView(0, count), BitConverter.ToUInt32(value));
                break;
            case 8:
                Filler.Fill(raw.Cast<ulong>().SubView(0, count), BitConverter.ToUInt64(value));
                break;
            default:
                // Odd element sizes: a host pattern of up to 64 KiB copied repeatedly.
                long total = count * elementSize;
                int chunkElements = (int)Math.Min(count, Math.Max(1, 65536 / elementSize));
                var pattern = new byte[chunkElements * elementSize];
                for (int i = 0; i < chunkElements; i++)
                {
                    value.CopyTo(pattern.AsSpan(i * elementSize));
                }

                fixed (byte* p = pattern)
                {
                    for (long start = 0; start < total; start += pattern.Length)
                    {
                        CopyToDevice(allocation, start, p, Math.Min(pattern.Length, total - start));
                    }
                }

                break;
        }
    }

    public void Synchronize() => _accelerator.DefaultStream.Synchronize();

    public void ReleaseDevice() => Release();

    internal void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0)
        {
            lock (_lock)
            {
                if (_quant.IsValueCreated)
                {
                    _quant.Value.Dispose();
                }

                _accelerator.Dispose();
                _context.Dispose();
            }
        }
    }

    /// <summary>The whole allocation of <paramref name="allocation"/> as elements of <typeparamref name="T"/>.</summary>
    internal static ArrayView<T> View<T>(IDisposable allocation)
        where T : unmanaged
        => ((IlgpuAllocation)allocation).Buffer.View.AsContiguous().Cast<T>();

    /// <summary>The first <see cref="DeviceBuffer.Length"/> elements of <paramref name="buffer"/>.</summary>
    internal static ArrayView<T> View<T>(DeviceBuffer buffer)
        where T : unmanaged
    {
        var allocation = buffer.MemoryHandle.ManagedAllocation
            ?? throw new ArgumentException($"{buffer} is not ILGPU memory.", nameof(buffer));
        return View<T>(allocation).SubView(0, buffer.Length);
    }

    /// <summary>One buffer; its token is the host address on a CPU accelerator, else a unique fake address.</summary>
    private sealed class IlgpuAllocation : IDisposable
    {
        private static long s_tokens;
        private IlgpuBackend? _owner;

        public IlgpuAllocation(IlgpuBackend owner, MemoryBuffer1D<byte, Stride1D.Dense> buffer)
        {
            _owner = owner;
            Buffer = buffer;
            Token = owner._accelerator.AcceleratorType == AcceleratorType.CPU && buffer.NativePtr != 0
                ? buffer.NativePtr
                : (nint)(0x7000_0000_0000L + (Interlocked.Increment(ref s_tokens) * 256));
        }

        public MemoryBuffer1D<byte, Stride1D.Dense> Buffer { get; }

        public nint Token { get; }

        public void Dispose()
        {
            var owner = Interlocked.Exchange(ref _owner, null);
            if (owner is null)
            {
                return;
            }

            Buffer.Dispose();
            owner.Release();
        }
    }

    /// <summary>Kernels that set every element of a view to one value.</summary>
    internal sealed class FillKernels
    {
        private readonly Accelerator _accelerator;
        private readonly Action<Index1D, ArrayView<byte>, byte, long> _fill8;
        private readonly Action<Index1D, ArrayView<ushort>, ushort, long> _fill16;
        private readonly Action<Index1D, ArrayView<uint>, uint, long> _fill32;
        private readonly Action<Index1D, ArrayView<ulong>, ulong, long> _fill64;
        private readonly int _cap;

        public FillKernels(Accelerator accelerator)
        {
            _accelerator = accelerator;
            _cap = Launch.CapFor(accelerator);
            _fill8 = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<byte>, byte, long>(FillKernel);
            _fill16 = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<ushort>, ushort, long>(FillKernel);
            _fill32 = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<uint>, uint, long>(FillKernel);
            _fill64 = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<ulong>, ulong, long>(FillKernel);
        }

        public void Fill(ArrayView<byte> v, byte value) => _fill8(Launch.Threads(v.Length, _cap), v, value, Launch.Threads(v.Length, _cap));

        public void Fill(ArrayView<ushort> v, ushort value) => _fill16(Launch.Threads(v.Length, _cap), v, value, Launch.Threads(v.Length, _cap));

        public void Fill(ArrayView<uint> v, uint value) => _fill32(Launch.Threads(v.Length, _cap), v, value, Launch.Threads(v.Length, _cap));

        public void Fill(ArrayView<ulong> v, ulong value) => _fill64(Launch.Threads(v.Length, _cap), v, value, Launch.Threads(v.Length, _cap));

        private static void FillKernel<T>(Index1D index, ArrayView<T> view, T value, long stride)
            where T : unmanaged
        {
            for (long i = index; i < view.Length; i += stride)
            {
                view[i] = value;
            }
        }
    }
}

/// <summary>
/// Launch sizes for the grid-stride loops (every index is formed in 64 bits): at most 2^20 threads on
/// a GPU; on ILGPU's CPU accelerator at most one group of its 1024 threads, because each group there
/// is a barrier-synchronised handover between 1024 OS threads, and more groups add only that cost.
/// </summary>
internal static class Launch
{
    public const int MaxGpuThreads = 1 << 20;

    /// <summary>Sets the cap for launches made on this thread by <paramref name="accelerator"/>'s backend.</summary>
    public static int CapFor(Accelerator accelerator)
        => accelerator.AcceleratorType == AcceleratorType.CPU ? accelerator.MaxNumThreadsPerGroup : MaxGpuThreads;

    public static int Threads(long work, int cap) => (int)Math.Clamp(work, 1, cap);
}
