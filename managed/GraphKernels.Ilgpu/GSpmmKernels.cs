using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using IlInterop = ILGPU.Interop;

namespace GraphKernels.Ilgpu;

/// <summary>Values of the generalized SpMM (float, fp16 bits, bf16 bits) read as fp32 and written rounded to nearest-even.</summary>
internal interface IValueView
{
    float Get(long i);

    void Set(long i, float v);
}

/// <summary>fp32 values.</summary>
internal readonly struct F32Values : IValueView
{
    public readonly ArrayView<float> View;

    public F32Values(ArrayView<byte> raw) => View = raw.Cast<float>();

    public float Get(long i) => View[i];

    public void Set(long i, float v) => View[i] = v;
}

/// <summary>fp16 values (bits), converted as the emulation's __half2float / __float2half_rn.</summary>
internal readonly struct F16Values : IValueView
{
    public readonly ArrayView<ushort> View;

    public F16Values(ArrayView<byte> raw) => View = raw.Cast<ushort>();

    public float Get(long i) => QuantKernels.F16ToF32(View[i]);

    public void Set(long i, float v) => View[i] = QuantKernels.F32ToF16(v);
}

/// <summary>bf16 values (bits), converted as __bfloat162float / __float2bfloat16_rn.</summary>
internal readonly struct Bf16Values : IValueView
{
    public readonly ArrayView<ushort> View;

    public Bf16Values(ArrayView<byte> raw) => View = raw.Cast<ushort>();

    public float Get(long i) => IlInterop.IntAsFloat((uint)View[i] << 16);

    public void Set(long i, float v) => View[i] = QuantKernels.F32ToBf16(v);
}

/// <summary>Scalar arguments of the g-SpMM kernels (forward, multi and backward).</summary>
internal struct GSpmmParams
{
    public long Rows;
    public long Cols;
    public long Nnz;
    public long Feat;
    public long Ldx;
    public long Lde;
    public long HeadWidth;
    public long Heads;
    public long Ldy;
    public long LdArg;
    public long LdGy;
    public long LdOut;      // ld of grad_x (bwd_x) or grad_edge (bwd_e)
    public long Chunk;
    public long MaxItems;
    public long PartArgOffset;  // part_arg element offset (int64) in the workspace
    public long Stride;
    public int Message;
    public int Reduce;
    public int EdgeMode;
    public int Flags;
    public int HasArg;
    public int OutMask;     // multi: gk_multi_reduce bits of the outputs (forward) or upstream gradients (backward) given
}

/// <summary>
/// Generalized SpMM (kernels/spmm_g.cuh) on ILGPU. Work split: one thread owns one output element
/// (row v, feature f) at a time in a grid-stride loop (indices in 64 bits) and does exactly what the CUDA
/// lane owning that element does: fold the messages of the row in CSR order in fp32 (first extreme wins,
/// NaN wins and the first NaN is final, mean divides once, mul from 1), round once to the value type.
/// Chunked: pass 1 one thread per (schedule item, f) writes the item's fp32 partial (and arg) to the
/// workspace at the native layout; pass 2 one thread per (row, f) combines the row's items in item order.
/// Multi: the forward's order with sum, min, max and Welford (n, mean, M2) kept together.
/// Backward: mul prefix/suffix products per (row, f) into the [E, F] fp32 workspace; dX per (source u, f)
/// over the plan's transpose in ascending CSR position; dE per edge (binary search of its row), features
/// in order. So every output is bitwise equal to the CUDA/emulated kernels (same operations in the same
/// order; RyuJIT and the emulation's baseline x86-64 build do not contract to FMA; fp16/bf16 conversions
/// are the emulation's). No shared memory, no atomics. Bytes per element as the CUDA kernels, except that
/// index and scalar-edge loads are not shared between the lanes of a row.
/// </summary>
internal sealed class GSpmmKernels
{
    public const int CopyU = 0, UMulE = 1, CopyE = 2, UAddE = 3, USubE = 4, UDivE = 5;
    public const int Sum = 0, Mean = 1, Max = 2, Min = 3, Mul = 4;
    public const int EdgeScalar = 1, EdgeHead = 2;
    public const int Accumulate = 1, EmptyInf = 2;

    private readonly Accelerator _accelerator;
    private readonly Dictionary<(string, Type, Type), Delegate> _kernels = new();
    private readonly object _gate = new();

    public GSpmmKernels(Accelerator accelerator)
    {
        _accelerator = accelerator;
        Cap = Launch.CapFor(accelerator);
    }

    public int Cap { get; }

    /// <summary>The compiled kernel <paramref name="name"/> for (TI, TV), compiled on first use.</summary>
    private TDelegate Get<TDelegate, TI, TV>(string name, Func<Accelerator, TDelegate> load)
        where TDelegate : Delegate
    {
        var key = (name, typeof(TI), typeof(TV));
        lock (_gate)
        {
            if (!_kernels.TryGetValue(key, out Delegate? d))
            {
                d = load(_accelerator);
                _kernels[key] = d;
            }

            return (TDelegate)d;
        }
    }

    public void Forward<TI, TV>(GSpmmParams p, TI rp, TI ci, TV x, TV e, TV y, TI arg)
        where TI : struct, IIndexView
        where TV : struct, IValueView
    {
        long total = p.Rows * p.Feat;
        p.Stride = Launch.Threads(total, Cap);
        Get<Action<Index1D, GSpmmParams, TI, TI, TV, TV, TV, TI>, TI, TV>("fwd",
            a => a.LoadAutoGroupedStreamKernel<Index1D, GSpmmParams, TI, TI, TV, TV, TV, TI>(ForwardKernel))((int)p.Stride, p, rp, ci, x, e, y, arg);
    }

    public void Chunked<TI, TV>(GSpmmParams p, TI rp, TI ci, TV x, TV e, TV y, TI arg, ArrayView<long> rowItemPtr, ArrayView<long> itemRow,
        ArrayView<float> part, ArrayView<long> partArg)
        where TI : struct, IIndexView
        where TV : struct, IValueView
    {
        if (p.MaxItems > 0)
        {
            var q = p;
            q.Stride = Launch.Threads(p.MaxItems * p.Feat, Cap);
            Get<Action<Index1D, GSpmmParams, TI, TI, TV, TV, ArrayView<long>, ArrayView<long>, ArrayView<float>, ArrayView<long>>, TI, TV>("chunk",
                a => a.LoadAutoGroupedStreamKernel<Index1D, GSpmmParams, TI, TI, TV, TV, ArrayView<long>, ArrayView<long>, ArrayView<float>, ArrayView<long>>(ChunkKernel))(
                (int)q.Stride, q, rp, ci, x, e, rowItemPtr, itemRow, part, partArg);
        }

        p.Stride = Launch.Threads(p.Rows * p.Feat, Cap);
        Get<Action<Index1D, GSpmmParams, TI, TV, TI, ArrayView<long>, ArrayView<float>, ArrayView<long>>, TI, TV>("combine",
            a => a.LoadAutoGroupedStreamKernel<Index1D, GSpmmParams, TI, TV, TI, ArrayView<long>, ArrayView<float>, ArrayView<long>>(CombineKernel))(
            (int)p.Stride, p, rp, y, arg, rowItemPtr, part, partArg);
    }

    public void Multi<TI, TV>(GSpmmParams p, TI rp, TI ci, TV x, TV e, TV o0, TV o1, TV o2, TV o3, TV o4, TV o5)
        where TI : struct, IIndexView
        where TV : struct, IValueView
    {
        p.Stride = Launch.Threads(p.Rows * p.Feat, Cap);
        Get<Action<Index1D, GSpmmParams, TI, TI, TV, TV, TV, TV, TV, TV, TV, TV>, TI, TV>("multi",
            a => a.LoadAutoGroupedStreamKernel<Index1D, GSpmmParams, TI, TI, TV, TV, TV, TV, TV, TV, TV, TV>(MultiKernel))(
            (int)p.Stride, p, rp, ci, x, e, o0, o1, o2, o3, o4, o5);
    }

    public void BackwardMul<TI, TV>(GSpmmParams p, TI rp, TI ci, TV x, TV e, TV gy, ArrayView<float> dm)
        where TI : struct, IIndexView
        where TV : struct, IValueView
    {
        p.Stride = Launch.Threads(p.Rows * p.Feat, Cap);
        Get<Action<Index1D, GSpmmParams, TI, TI, TV, TV, TV, ArrayView<float>>, TI, TV>("bwd_mul",
            a => a.LoadAutoGroupedStreamKernel<Index1D, GSpmmParams, TI, TI, TV, TV, TV, ArrayView<float>>(BackwardMulKernel))(
            (int)p.Stride, p, rp, ci, x, e, gy, dm);
    }

    /// <summary>gspmm_multi_bwd_kernel: dL/dm per (edge, f) into <paramref name="dm"/> from the statistics' gradients (p.OutMask: those given, p.LdGy their ld).</summary>
    public void MultiBackward<TI, TV>(GSpmmParams p, TI rp, TI ci, TV x, TV e, TV g0, TV g1, TV g2, TV g3, TV g4, TV g5, ArrayView<float> dm)
        where TI : struct, IIndexView
        where TV : struct, IValueView
    {
        p.Stride = Launch.Threads(p.Rows * p.Feat, Cap);
        Get<Action<Index1D, GSpmmParams, TI, TI, TV, TV, TV, TV, TV, TV, TV, TV, ArrayView<float>>, TI, TV>("multi_bwd",
            a => a.LoadAutoGroupedStreamKernel<Index1D, GSpmmParams, TI, TI, TV, TV, TV, TV, TV, TV, TV, TV, ArrayView<float>>(MultiBackwardKernel))(
            (int)p.Stride, p, rp, ci, x, e, g0, g1, g2, g3, g4, g5, dm);
    }

    public void BackwardX<TI, TV>(GSpmmParams p, TI rp, TI trp, TI tcol, TI perm, TI arg, TV e, TV gy, TV gx, ArrayView<float> dm)
        where TI : struct, IIndexView
        where TV : struct, IValueView
    {
        p.Stride = Launch.Threads(p.Cols * p.Feat, Cap);
        Get<Action<Index1D, GSpmmParams, TI, TI, TI, TI, TI, TV, TV, TV, ArrayView<float>>, TI, TV>("bwd_x",
            a => a.LoadAutoGroupedStreamKernel<Index1D, GSpmmParams, TI, TI, TI, TI, TI, TV, TV, TV, ArrayView<float>>(BackwardXKernel))(
            (int)p.Stride, p, rp, trp, tcol, perm, arg, e, gy, gx, dm);
    }

    public void BackwardE<TI, TV>(GSpmmParams p, TI rp, TI ci, TI arg, TV x, TV e, TV gy, TV ge, ArrayView<float> dm)
        where TI : struct, IIndexView
        where TV : struct, IValueView
    {
        p.Stride = Launch.Threads(p.Nnz, Cap);
        Get<Action<Index1D, GSpmmParams, TI, TI, TI, TV, TV, TV, TV, ArrayView<float>>, TI, TV>("bwd_e",
            a => a.LoadAutoGroupedStreamKernel<Index1D, GSpmmParams, TI, TI, TI, TV, TV, TV, TV, ArrayView<float>>(BackwardEKernel))(
            (int)p.Stride, p, rp, ci, arg, x, e, gy, ge, dm);
    }

    /// <summary>gk_fused_message built-ins (fp32): p.Message = builtin, p.Ldx = ld_src, p.LdOut = ld_dst, p.Lde = ld_edge.</summary>
    public void Fused<TI>(GSpmmParams p, TI rp, TI ci, ArrayView<float> src, ArrayView<float> dst, ArrayView<float> edge, ArrayView<float> y)
        where TI : struct, IIndexView
    {
        p.Stride = Launch.Threads(p.Rows * p.Feat, Cap);
        Get<Action<Index1D, GSpmmParams, TI, TI, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>, TI, float>("fused",
            a => a.LoadAutoGroupedStreamKernel<Index1D, GSpmmParams, TI, TI, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(FusedKernel))(
            (int)p.Stride, p, rp, ci, src, dst, edge, y);
    }

    // ------------------------------------------------------------------ device code ----------

    /// <summary>
    /// kernels/fused_message.cuh per output element: the built-in message (0 src[f], 1 src[f]·edge[0],
    /// 2 src[f] + dst[f], 3 src[f]·edge[f]) folded in CSR order from 0 (max/min: the first edge replaces it,
    /// then the first-extreme/NaN rule); mean divides once; empty rows give 0 for every reducer.
    /// </summary>
    private static void FusedKernel<TI>(Index1D index, GSpmmParams p, TI rp, TI ci, ArrayView<float> src, ArrayView<float> dst,
        ArrayView<float> edge, ArrayView<float> y)
        where TI : struct, IIndexView
    {
        long total = p.Rows * p.Feat;
        bool extreme = p.Reduce == Max || p.Reduce == Min;
        for (long t = index; t < total; t += p.Stride)
        {
            long row = t / p.Feat;
            long f = t - (row * p.Feat);
            long start = rp.Get(row);
            long end = rp.Get(row + 1);
            float acc = 0.0f;
            for (long e = start; e < end; e++)
            {
                float s = src[(ci.Get(e) * p.Ldx) + f];
                float m = p.Message == 1 ? s * edge[e * p.Lde]
                    : p.Message == 2 ? s + dst[(row * p.LdOut) + f]
                    : p.Message == 3 ? s * edge[(e * p.Lde) + f]
                    : s;
                if (!extreme)
                {
                    acc += m;
                }
                else
                {
                    bool better = p.Reduce == Max ? m > acc : m < acc;
                    if (e == start || (!float.IsNaN(acc) && (float.IsNaN(m) || better)))
                    {
                        acc = m;
                    }
                }
            }

            long deg = end - start;
            float r = acc;
            if (p.Reduce == Mean)
            {
                r = deg > 0 ? r / (float)deg : 0.0f;
            }

            y[(row * p.Ldy) + f] = r;
        }
    }

    private static float Edge<TV>(TV e, GSpmmParams p, long pos, long f)
        where TV : struct, IValueView
    {
        if (p.EdgeMode == EdgeScalar)
        {
            return e.Get(pos * p.Lde);
        }

        if (p.EdgeMode == EdgeHead)
        {
            return e.Get((pos * p.Lde) + (f / p.HeadWidth));
        }

        return e.Get((pos * p.Lde) + f);
    }

    private static float Msg(int msg, float xv, float ev)
    {
        if (msg == UMulE)
        {
            return xv * ev;
        }

        if (msg == CopyE)
        {
            return ev;
        }

        if (msg == UAddE)
        {
            return xv + ev;
        }

        if (msg == USubE)
        {
            return xv - ev;
        }

        if (msg == UDivE)
        {
            return xv / ev;
        }

        return xv;
    }

    private static float Identity(int reduce) => reduce == Mul ? 1.0f : 0.0f;

    private static void Fold(int reduce, float m, long pos, ref float acc, ref long best)
    {
        if (reduce == Sum || reduce == Mean)
        {
            acc += m;
        }
        else if (reduce == Mul)
        {
            acc *= m;
        }
        else
        {
            bool better = reduce == Max ? m > acc : m < acc;
            if (best < 0 || (!float.IsNaN(acc) && (float.IsNaN(m) || better)))
            {
                acc = m;
                best = pos;
            }
        }
    }

    private static float Message<TI, TV>(GSpmmParams p, TI ci, TV x, TV e, long pos, long f)
        where TI : struct, IIndexView
        where TV : struct, IValueView
    {
        float xv = 0.0f, ev = 0.0f;
        if (p.Message != CopyE)
        {
            xv = x.Get((ci.Get(pos) * p.Ldx) + f);
        }

        if (p.Message != CopyU)
        {
            ev = Edge(e, p, pos, f);
        }

        return Msg(p.Message, xv, ev);
    }

    private static void FoldRange<TI, TV>(GSpmmParams p, TI ci, TV x, TV e, long start, long end, long f, ref float acc, ref long best)
        where TI : struct, IIndexView
        where TV : struct, IValueView
    {
        for (long pos = start; pos < end; pos++)
        {
            Fold(p.Reduce, Message(p, ci, x, e, pos, f), pos, ref acc, ref best);
        }
    }

    private static void Write<TI, TV>(GSpmmParams p, TV y, TI arg, long row, long f, float acc, long best, long deg)
        where TI : struct, IIndexView
        where TV : struct, IValueView
    {
        bool extreme = p.Reduce == Max || p.Reduce == Min;
        float r = acc;
        if (deg == 0)
        {
            r = Identity(p.Reduce);
            if (extreme && (p.Flags & EmptyInf) != 0)
            {
                r = p.Reduce == Max ? float.NegativeInfinity : float.PositiveInfinity;
            }

            best = -1;
        }
        else if (p.Reduce == Mean)
        {
            r = acc / (float)deg;
        }

        long yo = (row * p.Ldy) + f;
        if ((p.Flags & Accumulate) != 0)
        {
            r = y.Get(yo) + r;
        }

        y.Set(yo, r);
        if (extreme && p.HasArg != 0)
        {
            arg.Set((row * p.LdArg) + f, best);
        }
    }

    private static void ForwardKernel<TI, TV>(Index1D index, GSpmmParams p, TI rp, TI ci, TV x, TV e, TV y, TI arg)
        where TI : struct, IIndexView
        where TV : struct, IValueView
    {
        long total = p.Rows * p.Feat;
        for (long t = index; t < total; t += p.Stride)
        {
            long row = t / p.Feat;
            long f = t - (row * p.Feat);
            long start = rp.Get(row);
            long end = rp.Get(row + 1);
            float acc = Identity(p.Reduce);
            long best = -1;
            FoldRange(p, ci, x, e, start, end, f, ref acc, ref best);
            Write(p, y, arg, row, f, acc, best, end - start);
        }
    }

    private static void ChunkKernel<TI, TV>(Index1D index, GSpmmParams p, TI rp, TI ci, TV x, TV e, ArrayView<long> rowItemPtr,
        ArrayView<long> itemRow, ArrayView<float> part, ArrayView<long> partArg)
        where TI : struct, IIndexView
        where TV : struct, IValueView
    {
        long total = p.MaxItems * p.Feat;
        bool extreme = p.Reduce == Max || p.Reduce == Min;
        for (long t = index; t < total; t += p.Stride)
        {
            long item = t / p.Feat;
            long f = t - (item * p.Feat);
            long row = itemRow[item];
            if (row < 0)
            {
                continue;
            }

            long rstart = rp.Get(row);
            long rend = rp.Get(row + 1);
            long start = rstart + ((item - rowItemPtr[row]) * p.Chunk);
            long end = start + p.Chunk < rend ? start + p.Chunk : rend;
            float acc = Identity(p.Reduce);
            long best = -1;
            FoldRange(p, ci, x, e, start, end, f, ref acc, ref best);
            part[(item * p.Feat) + f] = acc;
            if (extreme)
            {
                partArg[(item * p.Feat) + f] = best;
            }
        }
    }

    private static void CombineKernel<TI, TV>(Index1D index, GSpmmParams p, TI rp, TV y, TI arg, ArrayView<long> rowItemPtr,
        ArrayView<float> part, ArrayView<long> partArg)
        where TI : struct, IIndexView
        where TV : struct, IValueView
    {
        long total = p.Rows * p.Feat;
        bool extreme = p.Reduce == Max || p.Reduce == Min;
        for (long t = index; t < total; t += p.Stride)
        {
            long row = t / p.Feat;
            long f = t - (row * p.Feat);
            long deg = rp.Get(row + 1) - rp.Get(row);
            long i0 = rowItemPtr[row], i1 = rowItemPtr[row + 1];
            float acc = Identity(p.Reduce);
            long best = -1;
            if (deg > 0)
            {
                for (long it = i0; it < i1; it++)
                {
                    float v = part[(it * p.Feat) + f];
                    Fold(p.Reduce, v, extreme ? partArg[(it * p.Feat) + f] : it, ref acc, ref best);
                }
            }

            Write(p, y, arg, row, f, acc, best, deg);
        }
    }

    private static void MultiKernel<TI, TV>(Index1D index, GSpmmParams p, TI rp, TI ci, TV x, TV e,
        TV o0, TV o1, TV o2, TV o3, TV o4, TV o5)
        where TI : struct, IIndexView
        where TV : struct, IValueView
    {
        long total = p.Rows * p.Feat;
        for (long t = index; t < total; t += p.Stride)
        {
            long row = t / p.Feat;
            long f = t - (row * p.Feat);
            long start = rp.Get(row);
            long end = rp.Get(row + 1);
            long deg = end - start;
            float sum = 0.0f, mean = 0.0f, m2 = 0.0f, mn = 0.0f, mx = 0.0f;
            long bmin = -1, bmax = -1;
            float n = 0.0f;
            for (long pos = start; pos < end; pos++)
            {
                float m = Message(p, ci, x, e, pos, f);
                sum += m;
                Fold(Min, m, pos, ref mn, ref bmin);
                Fold(Max, m, pos, ref mx, ref bmax);
                n += 1.0f;
                float d = m - mean;
                mean += d / n;
                m2 += d * (m - mean);
            }

            float var = deg > 0 ? m2 / (float)deg : 0.0f;
            long yo = (row * p.Ldy) + f;
            if ((p.OutMask & 1) != 0)
            {
                o0.Set(yo, sum);
            }

            if ((p.OutMask & 2) != 0)
            {
                o1.Set(yo, deg > 0 ? sum / (float)deg : 0.0f);
            }

            if ((p.OutMask & 4) != 0)
            {
                o2.Set(yo, deg > 0 ? mn : 0.0f);
            }

            if ((p.OutMask & 8) != 0)
            {
                o3.Set(yo, deg > 0 ? mx : 0.0f);
            }

            if ((p.OutMask & 16) != 0)
            {
                o4.Set(yo, var);
            }

            if ((p.OutMask & 32) != 0)
            {
                o5.Set(yo, MathF.Sqrt(var));
            }
        }
    }

    /// <summary>dL/dm of the message of edge pos (row v) at feature f (gs_coef).</summary>
    private static float Coef<TI, TV>(GSpmmParams p, TI rp, TI arg, TV gy, ArrayView<float> dm, long v, long pos, long f)
        where TI : struct, IIndexView
        where TV : struct, IValueView
    {
        if (p.Reduce == Mul)
        {
            return dm[(pos * p.Feat) + f];
        }

        float g = gy.Get((v * p.LdGy) + f);
        if (p.Reduce == Sum)
        {
            return g;
        }

        if (p.Reduce == Mean)
        {
            long deg = rp.Get(v + 1) - rp.Get(v);
            return g / (float)deg;
        }

        return arg.Get((v * p.LdArg) + f) == pos ? g : 0.0f;
    }

    private static void BackwardMulKernel<TI, TV>(Index1D index, GSpmmParams p, TI rp, TI ci, TV x, TV e, TV gy, ArrayView<float> dm)
        where TI : struct, IIndexView
        where TV : struct, IValueView
    {
        long total = p.Rows * p.Feat;
        for (long t = index; t < total; t += p.Stride)
        {
            long row = t / p.Feat;
            long f = t - (row * p.Feat);
            long start = rp.Get(row);
            long end = rp.Get(row + 1);
            float pr = 1.0f;
            for (long q = start; q < end; q++)
            {
                float m = Message(p, ci, x, e, q, f);
                dm[(q * p.Feat) + f] = pr;
                pr *= m;
            }

            float g = end > start ? gy.Get((row * p.LdGy) + f) : 0.0f;
            float s = 1.0f;
            for (long q = end - 1; q >= start; q--)
            {
                float m = Message(p, ci, x, e, q, f);
                long o = (q * p.Feat) + f;
                dm[o] = (dm[o] * s) * g;
                s *= m;
            }
        }
    }

    /// <summary>
    /// gspmm_multi_bwd_kernel per (row, f): refold the row's messages exactly as MultiKernel does (fp32 sum, first-wins
    /// min/max winners, Welford n, mean, M2), then walk the row again writing
    /// dL/dm = (gS + gMean/deg) + (2 gVar/deg + gStd/(deg std)) (m - mean) (+ gMin at the min's winner) (+ gMax at the max's)
    /// in that order of operations (std = 0: no std term). Empty rows write nothing.
    /// </summary>
    private static void MultiBackwardKernel<TI, TV>(Index1D index, GSpmmParams p, TI rp, TI ci, TV x, TV e,
        TV g0, TV g1, TV g2, TV g3, TV g4, TV g5, ArrayView<float> dm)
        where TI : struct, IIndexView
        where TV : struct, IValueView
    {
        long total = p.Rows * p.Feat;
        for (long t = index; t < total; t += p.Stride)
        {
            long row = t / p.Feat;
            long f = t - (row * p.Feat);
            long start = rp.Get(row);
            long end = rp.Get(row + 1);
            if (end == start)
            {
                continue;
            }

            float deg = (float)(end - start);
            float sum = 0.0f, mean = 0.0f, m2 = 0.0f, mn = 0.0f, mx = 0.0f;
            long bmin = -1, bmax = -1;
            float n = 0.0f;
            for (long pos = start; pos < end; pos++)
            {
                float m = Message(p, ci, x, e, pos, f);
                sum += m;
                Fold(Min, m, pos, ref mn, ref bmin);
                Fold(Max, m, pos, ref mx, ref bmax);
                n += 1.0f;
                float d = m - mean;
                mean += d / n;
                m2 += d * (m - mean);
            }

            long go = (row * p.LdGy) + f;
            float u0 = (p.OutMask & 1) != 0 ? g0.Get(go) : 0.0f;
            float u1 = (p.OutMask & 2) != 0 ? g1.Get(go) : 0.0f;
            float u2 = (p.OutMask & 4) != 0 ? g2.Get(go) : 0.0f;
            float u3 = (p.OutMask & 8) != 0 ? g3.Get(go) : 0.0f;
            float u4 = (p.OutMask & 16) != 0 ? g4.Get(go) : 0.0f;
            float u5 = (p.OutMask & 32) != 0 ? g5.Get(go) : 0.0f;
            float sd = MathF.Sqrt(m2 / deg);
            float c0 = u0 + (u1 / deg);
            float c1 = ((2.0f * u4) / deg) + (sd > 0.0f ? u5 / (deg * sd) : 0.0f);
            for (long pos = start; pos < end; pos++)
            {
                float c = c0 + (c1 * (Message(p, ci, x, e, pos, f) - mean));
                if (pos == bmin)
                {
                    c += u2;
                }

                if (pos == bmax)
                {
                    c += u3;
                }

                dm[(pos * p.Feat) + f] = c;
            }
        }
    }

    private static void BackwardXKernel<TI, TV>(Index1D index, GSpmmParams p, TI rp, TI trp, TI tcol, TI perm, TI arg, TV e, TV gy, TV gx,
        ArrayView<float> dm)
        where TI : struct, IIndexView
        where TV : struct, IValueView
    {
        long total = p.Cols * p.Feat;
        bool readsE = p.Message == UMulE || p.Message == UDivE;
        for (long t = index; t < total; t += p.Stride)
        {
            long u = t / p.Feat;
            long f = t - (u * p.Feat);
            long start = trp.Get(u);
            long end = trp.Get(u + 1);
            float acc = 0.0f;
            for (long s = start; s < end; s++)
            {
                long v = tcol.Get(s);
                long pos = perm.Get(s);
                float c = Coef(p, rp, arg, gy, dm, v, pos, f);
                if (readsE)
                {
                    float ev = Edge(e, p, pos, f);
                    c = p.Message == UMulE ? c * ev : c / ev;
                }

                acc += c;
            }

            gx.Set((u * p.LdOut) + f, acc);
        }
    }

    private static float DmsgDe(int msg, float c, float xv, float e)
    {
        if (msg == USubE)
        {
            return -c;
        }

        if (msg == UMulE)
        {
            return c * xv;
        }

        if (msg == UDivE)
        {
            return -((c * xv) / e) / e;
        }

        return c;
    }

    private static void BackwardEKernel<TI, TV>(Index1D index, GSpmmParams p, TI rp, TI ci, TI arg, TV x, TV e, TV gy, TV ge,
        ArrayView<float> dm)
        where TI : struct, IIndexView
        where TV : struct, IValueView
    {
        bool readsX = p.Message == UMulE || p.Message == UDivE;
        long width = p.EdgeMode == EdgeScalar ? 1 : p.EdgeMode == EdgeHead ? p.Heads : p.Feat;
        long per = p.EdgeMode == EdgeScalar ? p.Feat : p.EdgeMode == EdgeHead ? p.HeadWidth : 1;
        for (long pos = index; pos < p.Nnz; pos += p.Stride)
        {
            long lo = 0, hi = p.Rows;
            while (hi - lo > 1)
            {
                long mid = lo + ((hi - lo) / 2);
                if (rp.Get(mid) <= pos)
                {
                    lo = mid;
                }
                else
                {
                    hi = mid;
                }
            }

            long v = lo;
            long u = ci.Get(pos);
            for (long k = 0; k < width; k++)
            {
                float ev = e.Get((pos * p.Lde) + k);
                float s = 0.0f;
                for (long f = k * per; f < (k + 1) * per; f++)
                {
                    float c = Coef(p, rp, arg, gy, dm, v, pos, f);
                    float xv = readsX ? x.Get((u * p.Ldx) + f) : 0.0f;
                    s += DmsgDe(p.Message, c, xv, ev);
                }

                ge.Set((pos * p.LdOut) + k, s);
            }
        }
    }
}

/// <summary>Makes value views of a runtime element type for the generic launches (no boxing).</summary>
internal static class ValueViews
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Make<TV>(ArrayView<byte> raw)
        where TV : struct, IValueView
    {
        if (typeof(TV) == typeof(F32Values))
        {
            var v = new F32Values(raw);
            return Unsafe.As<F32Values, TV>(ref v);
        }

        if (typeof(TV) == typeof(F16Values))
        {
            var v = new F16Values(raw);
            return Unsafe.As<F16Values, TV>(ref v);
        }

        var b = new Bf16Values(raw);
        return Unsafe.As<Bf16Values, TV>(ref b);
    }
}
