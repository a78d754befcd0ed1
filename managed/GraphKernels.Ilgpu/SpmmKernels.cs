using System;
using ILGPU;
using ILGPU.Runtime;

namespace GraphKernels.Ilgpu;

/// <summary>Reads and writes CSR indices of either width as 64-bit values inside a kernel.</summary>
internal interface IIndexView
{
    long Get(long i);

    void Set(long i, long value);
}

/// <summary>int32 CSR indices.</summary>
internal readonly struct Index32 : IIndexView
{
    public readonly ArrayView<int> View;

    public Index32(ArrayView<int> view) => View = view;

    public long Get(long i) => View[i];

    public void Set(long i, long value) => View[i] = (int)value;
}

/// <summary>int64 CSR indices.</summary>
internal readonly struct Index64 : IIndexView
{
    public readonly ArrayView<long> View;

    public Index64(ArrayView<long> view) => View = view;

    public long Get(long i) => View[i];

    public void Set(long i, long value) => View[i] = value;
}

/// <summary>Scalar arguments of the SpMM kernel.</summary>
internal struct SpmmParams
{
    public long NumRows;
    public long Features;
    public long Ldx;
    public long Ldy;
    public long LdArg;
    public long Stride;
    public int Message;   // 0 copy_u, 1 u_mul_e
    public int Reduce;    // 0 sum, 1 mean, 2 max, 3 min
    public int HasArg;
}

/// <summary>
/// CSR SpMM on ILGPU with the semantics of kernels/spmm.cuh. Work split: one thread owns one output
/// element (row v, feature f) at a time, in a grid-stride loop over the NumRows × F elements (index
/// formed in 64 bits); it folds the messages of row v in CSR order (start, start + 1, ..., end − 1) in
/// fp32, exactly as the CUDA lane that owns the element does, so the result is deterministic and, for
/// every reducer, bitwise equal to the CUDA/emulated kernel (same operations in the same order; no
/// FMA contraction on either side). Max/min keep the first extreme (ties to the lowest CSR position),
/// a NaN message beats any number and the first NaN is final; empty rows give 0 and arg −1; mean
/// divides the fp32 sum by the degree once. Bytes per output element: deg × (4 B of X + sizeof(I) of
/// index + 4 B of weight for u_mul_e) read (no sharing of index loads across lanes, unlike the CUDA
/// kernel's shuffles), 4 B of Y (+ sizeof(I) of arg) written. No shared memory, no atomics.
/// </summary>
internal sealed class SpmmKernels
{
    private readonly Action<Index1D, SpmmParams, Index32, Index32, ArrayView<float>, ArrayView<float>, ArrayView<float>, Index32> _spmm32;
    private readonly Action<Index1D, SpmmParams, Index64, Index64, ArrayView<float>, ArrayView<float>, ArrayView<float>, Index64> _spmm64;

    private readonly int _cap;

    public SpmmKernels(Accelerator accelerator)
    {
        _cap = Launch.CapFor(accelerator);
        _spmm32 = accelerator.LoadAutoGroupedStreamKernel<Index1D, SpmmParams, Index32, Index32, ArrayView<float>, ArrayView<float>, ArrayView<float>, Index32>(Kernel);
        _spmm64 = accelerator.LoadAutoGroupedStreamKernel<Index1D, SpmmParams, Index64, Index64, ArrayView<float>, ArrayView<float>, ArrayView<float>, Index64>(Kernel);
    }

    public void Run(CsrGraph graph, Message message, Reduce reduce, long features, DeviceBuffer<float> x, long ldx,
        DeviceBuffer<float>? edgeWeight, DeviceBuffer<float> y, long ldy, DeviceBuffer? argOut, long ldArg)
    {
        long total = graph.NumRows * features;  // both fit in 64 bits: y holds (NumRows - 1) * ldy + F elements
        if (total == 0)
        {
            return;
        }

        int threads = Launch.Threads(total, _cap);
        var p = new SpmmParams
        {
            NumRows = graph.NumRows,
            Features = features,
            Ldx = ldx,
            Ldy = ldy,
            LdArg = ldArg,
            Stride = threads,
            Message = (int)message,
            Reduce = (int)reduce,
            HasArg = argOut is null ? 0 : 1,
        };
        var xv = IlgpuBackend.View<float>(x);
        var yv = IlgpuBackend.View<float>(y);
        var wv = edgeWeight is null ? xv : IlgpuBackend.View<float>(edgeWeight);
        if (graph.IndexType == IndexType.Int32)
        {
            var rp = new Index32(IlgpuBackend.View<int>(graph.RowPtr));
            var ci = new Index32(IlgpuBackend.View<int>(graph.ColIdx));
            var av = argOut is null ? rp : new Index32(IlgpuBackend.View<int>(argOut));
            _spmm32(threads, p, rp, ci, xv, wv, yv, av);
        }
        else
        {
            var rp = new Index64(IlgpuBackend.View<long>(graph.RowPtr));
            var ci = new Index64(IlgpuBackend.View<long>(graph.ColIdx));
            var av = argOut is null ? rp : new Index64(IlgpuBackend.View<long>(argOut));
            _spmm64(threads, p, rp, ci, xv, wv, yv, av);
        }
    }

    private static void Kernel<TIndex>(Index1D index, SpmmParams p, TIndex rowPtr, TIndex colIdx,
        ArrayView<float> x, ArrayView<float> w, ArrayView<float> y, TIndex arg)
        where TIndex : struct, IIndexView
    {
        long total = p.NumRows * p.Features;
        bool extreme = p.Reduce >= 2;
        for (long t = index; t < total; t += p.Stride)
        {
            long row = t / p.Features;
            long f = t - (row * p.Features);
            long start = rowPtr.Get(row);
            long end = rowPtr.Get(row + 1);
            float acc = 0.0f;
            long best = -1;
            for (long e = start; e < end; e++)
            {
                long c = colIdx.Get(e);
                float m = x[(c * p.Ldx) + f];
                if (p.Message == 1)
                {
                    m *= w[e];
                }

                if (!extreme)
                {
                    acc += m;
                }
                else
                {
                    bool better = p.Reduce == 2 ? m > acc : m < acc;
                    bool accNaN = float.IsNaN(acc);
                    bool mNaN = float.IsNaN(m);
                    if (best < 0 || (!accNaN && (mNaN || better)))
                    {
                        acc = m;
                        best = e;
                    }
                }
            }

            long deg = end - start;
            float r = acc;
            if (p.Reduce == 1)
            {
                r = deg > 0 ? r / (float)deg : 0.0f;
            }

            if (extreme && deg == 0)
            {
                r = 0.0f;
            }

            y[(row * p.Ldy) + f] = r;
            if (extreme && p.HasArg != 0)
            {
                arg.Set((row * p.LdArg) + f, best);
            }
        }
    }
}
