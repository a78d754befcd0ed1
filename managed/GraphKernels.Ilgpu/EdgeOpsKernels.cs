using System;
using ILGPU;
using ILGPU.Runtime;
using IlInterop = ILGPU.Interop;

namespace GraphKernels.Ilgpu;

/// <summary>
/// A feature/edge tensor of one of the edge ops' element types (gk_dtype 0 = fp32, 1 = fp16, 2 = bf16 bits),
/// read widened to fp32 and written rounded to nearest-even once, with the conversions of the emulation
/// (QuantKernels.F16ToF32 / F32ToF16 / F32ToBf16, NaN to 0x7FFF). The type is a runtime field rather than a
/// generic parameter so that each kernel has two instantiations (int32/int64 indices), not six.
/// </summary>
internal readonly struct EdgeTensor
{
    public readonly ArrayView<float> F32;
    public readonly ArrayView<ushort> U16;
    public readonly int Dtype;

    public EdgeTensor(ArrayView<float> f32, ArrayView<ushort> u16, int dtype)
    {
        F32 = f32;
        U16 = u16;
        Dtype = dtype;
    }

    public float Load(long i)
        => Dtype == 0 ? F32[i] : Dtype == 1 ? QuantKernels.F16ToF32(U16[i]) : IlInterop.IntAsFloat((uint)U16[i] << 16);

    public void Store(long i, float v)
    {
        if (Dtype == 0)
        {
            F32[i] = v;
        }
        else if (Dtype == 1)
        {
            U16[i] = QuantKernels.F32ToF16(v);
        }
        else
        {
            U16[i] = QuantKernels.F32ToBf16(v);
        }
    }
}

/// <summary>Scalar arguments of the SDDMM kernels (targets and ops are the gk_target / gk_sddmm_op values).</summary>
internal struct SddmmKernelParams
{
    public long NumRows;    // rows of the CSR the kernel walks (the transpose for a Source-target gradient)
    public long Features;   // F
    public long Width;      // H (Dot) or F: the output's row length
    public long HeadDim;    // D = F / H
    public long Stride;
    public int Op;
    public int LhsTarget;
    public int RhsTarget;
    public int Side;        // backward: 0 = lhs gradient, 1 = rhs gradient
    public int SelfTarget;  // backward: the target of the operand whose gradient is written
    public int Trans;       // backward: 1 = rows are sources (transposed CSR, col = destination, perm = original position)
}

/// <summary>Scalar arguments of the edge softmax kernels.</summary>
internal struct SoftmaxKernelParams
{
    public long NumRows;
    public long Heads;
    public long Stride;
    public int HasMax;
    public int HasSum;
}

/// <summary>Scalar arguments of the segment reduce / gather kernels.</summary>
internal struct SegmentKernelParams
{
    public long NumSegments;
    public long Features;
    public long Stride;
    public int Mode;      // reduce: gk_reduce 0..3; gather: gk_gather_mode 0..2
    public int HasPerm;
    public int HasArg;
}

/// <summary>
/// The edge ops on ILGPU (kernels/edge_ops.cuh semantics; docs/message_passing.md "Edge ops"). Work split of
/// the row kernels: one thread owns one (row, column) pair at a time — a destination row (or a source row of
/// the transpose, or a segment) and one output column (feature, head, or SDDMM output column) — in a
/// grid-stride loop over rows × columns, every index formed in 64 bits; it walks the row in CSR order and
/// writes each output element of its column itself. So every output element has one owner which folds its
/// terms in ascending position in fp32 with the same operations, in the same order, as the CUDA lane that
/// owns it (which lane that is differs: CUDA spreads a row over a group of G lanes; the element's arithmetic
/// does not depend on it). No shared memory, no floating-point atomics. Bytes per output element are those
/// of the CUDA kernels (index loads are not shared between the threads of a row). COO → CSR and the
/// out-degree use integer atomics (exact), as the CUDA kernels do; the COO scan is one thread (the CUDA
/// kernel uses one 256-thread block; the integers are the same).
/// </summary>
internal sealed class EdgeOpsKernels
{
    private readonly int _cap;

    private readonly Action<Index1D, SddmmKernelParams, Index32, Index32, EdgeTensor, EdgeTensor, EdgeTensor> _sddmm32;
    private readonly Action<Index1D, SddmmKernelParams, Index64, Index64, EdgeTensor, EdgeTensor, EdgeTensor> _sddmm64;
    private readonly Action<Index1D, SddmmKernelParams, Index32, Index32, Index32, EdgeTensor, EdgeTensor, EdgeTensor, EdgeTensor> _sddmmBwd32;
    private readonly Action<Index1D, SddmmKernelParams, Index64, Index64, Index64, EdgeTensor, EdgeTensor, EdgeTensor, EdgeTensor> _sddmmBwd64;
    private readonly Action<Index1D, SoftmaxKernelParams, Index32, EdgeTensor, EdgeTensor, ArrayView<float>, ArrayView<float>> _softmax32;
    private readonly Action<Index1D, SoftmaxKernelParams, Index64, EdgeTensor, EdgeTensor, ArrayView<float>, ArrayView<float>> _softmax64;
    private readonly Action<Index1D, SoftmaxKernelParams, Index32, EdgeTensor, EdgeTensor, EdgeTensor> _softmaxBwd32;
    private readonly Action<Index1D, SoftmaxKernelParams, Index64, EdgeTensor, EdgeTensor, EdgeTensor> _softmaxBwd64;
    private readonly Action<Index1D, SegmentKernelParams, Index32, Index32, EdgeTensor, EdgeTensor, Index32> _reduce32;
    private readonly Action<Index1D, SegmentKernelParams, Index64, Index64, EdgeTensor, EdgeTensor, Index64> _reduce64;
    private readonly Action<Index1D, SegmentKernelParams, Index32, Index32, EdgeTensor, Index32, EdgeTensor> _gather32;
    private readonly Action<Index1D, SegmentKernelParams, Index64, Index64, EdgeTensor, Index64, EdgeTensor> _gather64;
    private readonly Action<Index1D, ArrayView<ulong>, long, long> _cooInit;
    private readonly Action<Index1D, Index32, Index32, long, long, long, int, long, ArrayView<ulong>> _cooCount32;
    private readonly Action<Index1D, Index64, Index64, long, long, long, int, long, ArrayView<ulong>> _cooCount64;
    private readonly Action<Index1D, ArrayView<ulong>, long, Index32> _cooScan32;
    private readonly Action<Index1D, ArrayView<ulong>, long, Index64> _cooScan64;
    private readonly Action<Index1D, Index32, long, long, ArrayView<ulong>, Index32> _cooPlace32;
    private readonly Action<Index1D, Index64, long, long, ArrayView<ulong>, Index64> _cooPlace64;
    private readonly Action<Index1D, Index32, long, long, Index32, Index32, Index32, int> _cooSort32;
    private readonly Action<Index1D, Index64, long, long, Index64, Index64, Index64, int> _cooSort64;
    private readonly Action<Index1D, Index32, long, long, Index32> _inDegree32;
    private readonly Action<Index1D, Index64, long, long, Index64> _inDegree64;
    private readonly Action<Index1D, ArrayView<int>, ArrayView<int>, long, long> _outDegree32;
    private readonly Action<Index1D, ArrayView<long>, ArrayView<long>, long, long> _outDegree64;

    public EdgeOpsKernels(Accelerator accelerator)
    {
        _cap = Launch.CapFor(accelerator);
        _sddmm32 = accelerator.LoadAutoGroupedStreamKernel<Index1D, SddmmKernelParams, Index32, Index32, EdgeTensor, EdgeTensor, EdgeTensor>(SddmmKernel);
        _sddmm64 = accelerator.LoadAutoGroupedStreamKernel<Index1D, SddmmKernelParams, Index64, Index64, EdgeTensor, EdgeTensor, EdgeTensor>(SddmmKernel);
        _sddmmBwd32 = accelerator.LoadAutoGroupedStreamKernel<Index1D, SddmmKernelParams, Index32, Index32, Index32, EdgeTensor, EdgeTensor, EdgeTensor, EdgeTensor>(SddmmBackwardKernel);
        _sddmmBwd64 = accelerator.LoadAutoGroupedStreamKernel<Index1D, SddmmKernelParams, Index64, Index64, Index64, EdgeTensor, EdgeTensor, EdgeTensor, EdgeTensor>(SddmmBackwardKernel);
        _softmax32 = accelerator.LoadAutoGroupedStreamKernel<Index1D, SoftmaxKernelParams, Index32, EdgeTensor, EdgeTensor, ArrayView<float>, ArrayView<float>>(SoftmaxKernel);
        _softmax64 = accelerator.LoadAutoGroupedStreamKernel<Index1D, SoftmaxKernelParams, Index64, EdgeTensor, EdgeTensor, ArrayView<float>, ArrayView<float>>(SoftmaxKernel);
        _softmaxBwd32 = accelerator.LoadAutoGroupedStreamKernel<Index1D, SoftmaxKernelParams, Index32, EdgeTensor, EdgeTensor, EdgeTensor>(SoftmaxBackwardKernel);
        _softmaxBwd64 = accelerator.LoadAutoGroupedStreamKernel<Index1D, SoftmaxKernelParams, Index64, EdgeTensor, EdgeTensor, EdgeTensor>(SoftmaxBackwardKernel);
        _reduce32 = accelerator.LoadAutoGroupedStreamKernel<Index1D, SegmentKernelParams, Index32, Index32, EdgeTensor, EdgeTensor, Index32>(SegmentReduceKernel);
        _reduce64 = accelerator.LoadAutoGroupedStreamKernel<Index1D, SegmentKernelParams, Index64, Index64, EdgeTensor, EdgeTensor, Index64>(SegmentReduceKernel);
        _gather32 = accelerator.LoadAutoGroupedStreamKernel<Index1D, SegmentKernelParams, Index32, Index32, EdgeTensor, Index32, EdgeTensor>(SegmentGatherKernel);
        _gather64 = accelerator.LoadAutoGroupedStreamKernel<Index1D, SegmentKernelParams, Index64, Index64, EdgeTensor, Index64, EdgeTensor>(SegmentGatherKernel);
        _cooInit = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<ulong>, long, long>(CooInitKernel);
        _cooCount32 = accelerator.LoadAutoGroupedStreamKernel<Index1D, Index32, Index32, long, long, long, int, long, ArrayView<ulong>>(CooCountKernel);
        _cooCount64 = accelerator.LoadAutoGroupedStreamKernel<Index1D, Index64, Index64, long, long, long, int, long, ArrayView<ulong>>(CooCountKernel);
        _cooScan32 = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<ulong>, long, Index32>(CooScanKernel);
        _cooScan64 = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<ulong>, long, Index64>(CooScanKernel);
        _cooPlace32 = accelerator.LoadAutoGroupedStreamKernel<Index1D, Index32, long, long, ArrayView<ulong>, Index32>(CooPlaceKernel);
        _cooPlace64 = accelerator.LoadAutoGroupedStreamKernel<Index1D, Index64, long, long, ArrayView<ulong>, Index64>(CooPlaceKernel);
        _cooSort32 = accelerator.LoadAutoGroupedStreamKernel<Index1D, Index32, long, long, Index32, Index32, Index32, int>(CooSortKernel);
        _cooSort64 = accelerator.LoadAutoGroupedStreamKernel<Index1D, Index64, long, long, Index64, Index64, Index64, int>(CooSortKernel);
        _inDegree32 = accelerator.LoadAutoGroupedStreamKernel<Index1D, Index32, long, long, Index32>(InDegreeKernel);
        _inDegree64 = accelerator.LoadAutoGroupedStreamKernel<Index1D, Index64, long, long, Index64>(InDegreeKernel);
        _outDegree32 = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<int>, ArrayView<int>, long, long>(OutDegreeKernel32);
        _outDegree64 = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<long>, ArrayView<long>, long, long>(OutDegreeKernel64);
    }

    // ------------------------------------------------------------------------ host side ----

    /// <summary>A feature tensor view of <paramref name="buffer"/> (its element type is the call's dtype).</summary>
    public static EdgeTensor Tensor(DeviceBuffer buffer, int dtype)
    {
        var whole = buffer.MemoryHandle.ManagedAllocation
            ?? throw new ArgumentException($"{buffer} is not ILGPU memory.", nameof(buffer));
        return dtype == 0
            ? new EdgeTensor(IlgpuBackend.View<float>(buffer), IlgpuBackend.View<ushort>(whole), 0)
            : new EdgeTensor(IlgpuBackend.View<float>(whole), IlgpuBackend.View<ushort>(buffer), dtype);
    }

    /// <summary>An index view of <paramref name="buffer"/> (int32) or of <paramref name="fallback"/> when it is null (never read then).</summary>
    public static Index32 I32(DeviceBuffer? buffer, DeviceBuffer fallback) => new(IlgpuBackend.View<int>(buffer ?? fallback));

    /// <summary>An index view of <paramref name="buffer"/> (int64) or of <paramref name="fallback"/> when it is null (never read then).</summary>
    public static Index64 I64(DeviceBuffer? buffer, DeviceBuffer fallback) => new(IlgpuBackend.View<long>(buffer ?? fallback));

    private int Threads(long work, out long stride)
    {
        int t = Launch.Threads(work, _cap);
        stride = t;
        return t;
    }

    public void Sddmm(SddmmKernelParams p, CsrGraph graph, EdgeTensor lhs, EdgeTensor rhs, EdgeTensor output)
    {
        int t = Threads(p.NumRows * p.Width, out p.Stride);
        if (graph.IndexType == IndexType.Int32)
        {
            _sddmm32(t, p, I32(graph.RowPtr, graph.RowPtr), I32(graph.ColIdx, graph.RowPtr), lhs, rhs, output);
        }
        else
        {
            _sddmm64(t, p, I64(graph.RowPtr, graph.RowPtr), I64(graph.ColIdx, graph.RowPtr), lhs, rhs, output);
        }
    }

    public void SddmmBackward(SddmmKernelParams p, CsrGraph walk, DeviceBuffer? perm, EdgeTensor lhs, EdgeTensor rhs, EdgeTensor gradOut, EdgeTensor grad)
    {
        int t = Threads(p.NumRows * p.Features, out p.Stride);
        if (walk.IndexType == IndexType.Int32)
        {
            _sddmmBwd32(t, p, I32(walk.RowPtr, walk.RowPtr), I32(walk.ColIdx, walk.RowPtr), I32(perm, walk.RowPtr), lhs, rhs, gradOut, grad);
        }
        else
        {
            _sddmmBwd64(t, p, I64(walk.RowPtr, walk.RowPtr), I64(walk.ColIdx, walk.RowPtr), I64(perm, walk.RowPtr), lhs, rhs, gradOut, grad);
        }
    }

    public void Softmax(SoftmaxKernelParams p, CsrGraph graph, EdgeTensor scores, EdgeTensor output, ArrayView<float> rowMax, ArrayView<float> rowSum)
    {
        int t = Threads(p.NumRows * p.Heads, out p.Stride);
        if (graph.IndexType == IndexType.Int32)
        {
            _softmax32(t, p, I32(graph.RowPtr, graph.RowPtr), scores, output, rowMax, rowSum);
        }
        else
        {
            _softmax64(t, p, I64(graph.RowPtr, graph.RowPtr), scores, output, rowMax, rowSum);
        }
    }

    public void SoftmaxBackward(SoftmaxKernelParams p, CsrGraph graph, EdgeTensor y, EdgeTensor gradOut, EdgeTensor gradScores)
    {
        int t = Threads(p.NumRows * p.Heads, out p.Stride);
        if (graph.IndexType == IndexType.Int32)
        {
            _softmaxBwd32(t, p, I32(graph.RowPtr, graph.RowPtr), y, gradOut, gradScores);
        }
        else
        {
            _softmaxBwd64(t, p, I64(graph.RowPtr, graph.RowPtr), y, gradOut, gradScores);
        }
    }

    public void SegmentReduce(SegmentKernelParams p, DeviceBuffer ptr, DeviceBuffer? perm, EdgeTensor source, EdgeTensor output, DeviceBuffer? arg)
    {
        int t = Threads(p.NumSegments * p.Features, out p.Stride);
        if (ptr.ElementType == typeof(int))
        {
            _reduce32(t, p, I32(ptr, ptr), I32(perm, ptr), source, output, I32(arg, ptr));
        }
        else
        {
            _reduce64(t, p, I64(ptr, ptr), I64(perm, ptr), source, output, I64(arg, ptr));
        }
    }

    public void SegmentGather(SegmentKernelParams p, DeviceBuffer ptr, DeviceBuffer? perm, EdgeTensor source, DeviceBuffer? arg, EdgeTensor output)
    {
        int t = Threads(p.NumSegments * p.Features, out p.Stride);
        if (ptr.ElementType == typeof(int))
        {
            _gather32(t, p, I32(ptr, ptr), I32(perm, ptr), source, I32(arg, ptr), output);
        }
        else
        {
            _gather64(t, p, I64(ptr, ptr), I64(perm, ptr), source, I64(arg, ptr), output);
        }
    }

    /// <summary>COO step 1: workspace = [bad dst, bad src, count[M]] set to [~0, ~0, 0...], then the range check and row counts.</summary>
    public void CooCount(DeviceBuffer dst, DeviceBuffer? src, long nnz, long numRows, long numCols, ArrayView<ulong> ws)
    {
        int t = Threads(numRows + 2, out long stride);
        _cooInit(t, ws, numRows + 2, stride);
        if (nnz == 0)
        {
            return;
        }

        t = Threads(nnz, out stride);
        if (dst.ElementType == typeof(int))
        {
            _cooCount32(t, I32(dst, dst), I32(src, dst), nnz, numRows, numCols, src is null ? 0 : 1, stride, ws);
        }
        else
        {
            _cooCount64(t, I64(dst, dst), I64(src, dst), nnz, numRows, numCols, src is null ? 0 : 1, stride, ws);
        }
    }

    /// <summary>COO steps 2-4 (after the range check passed): scan, placement, per-row sort and the col_idx gather.</summary>
    public void CooBuild(DeviceBuffer dst, DeviceBuffer? src, long nnz, long numRows, DeviceBuffer rowPtr, DeviceBuffer? colIdx, DeviceBuffer perm, ArrayView<ulong> ws)
    {
        bool is32 = dst.ElementType == typeof(int);
        int gatherCol = src is not null && colIdx is not null ? 1 : 0;
        if (is32)
        {
            _cooScan32(1, ws, numRows, I32(rowPtr, rowPtr));
        }
        else
        {
            _cooScan64(1, ws, numRows, I64(rowPtr, rowPtr));
        }

        if (nnz > 0)
        {
            int t = Threads(nnz, out long stride);
            if (is32)
            {
                _cooPlace32(t, I32(dst, dst), nnz, stride, ws, I32(perm, perm));
            }
            else
            {
                _cooPlace64(t, I64(dst, dst), nnz, stride, ws, I64(perm, perm));
            }
        }

        if (numRows > 0)
        {
            int t = Threads(numRows, out long stride);
            if (is32)
            {
                _cooSort32(t, I32(rowPtr, rowPtr), numRows, stride, I32(perm, perm), I32(src, perm), I32(colIdx, perm), gatherCol);
            }
            else
            {
                _cooSort64(t, I64(rowPtr, rowPtr), numRows, stride, I64(perm, perm), I64(src, perm), I64(colIdx, perm), gatherCol);
            }
        }
    }

    public void InDegree(CsrGraph graph, DeviceBuffer output)
    {
        int t = Threads(graph.NumRows, out long stride);
        if (graph.IndexType == IndexType.Int32)
        {
            _inDegree32(t, I32(graph.RowPtr, graph.RowPtr), graph.NumRows, stride, I32(output, output));
        }
        else
        {
            _inDegree64(t, I64(graph.RowPtr, graph.RowPtr), graph.NumRows, stride, I64(output, output));
        }
    }

    /// <summary>Out-degree: the caller zeroes output first; integer atomics count each column (exact in any order).</summary>
    public void OutDegree(CsrGraph graph, DeviceBuffer output)
    {
        if (graph.Nnz == 0)
        {
            return;
        }

        int t = Threads(graph.Nnz, out long stride);
        if (graph.IndexType == IndexType.Int32)
        {
            _outDegree32(t, IlgpuBackend.View<int>(graph.ColIdx), IlgpuBackend.View<int>(output), graph.Nnz, stride);
        }
        else
        {
            _outDegree64(t, IlgpuBackend.View<long>(graph.ColIdx), IlgpuBackend.View<long>(output), graph.Nnz, stride);
        }
    }

    // --------------------------------------------------------------------------- kernels ----

    private static long Pick(int target, long u, long v, long e) => target == 0 ? u : (target == 1 ? v : e);

    /// <summary>
    /// SDDMM forward. Thread item (row v, output column c): for each CSR position e of row v (u = col_idx[e]),
    /// out[e, c] = Σ_{d &lt; D} A[a(e), cD + d] · B[b(e), cD + d] (Dot; d ascending, fp32, from 0) or
    /// A[a(e), c] op B[b(e), c]. Bytes per output element: 2·D·sizeof(T) (Dot) or 2·sizeof(T) read, sizeof(T) written.
    /// </summary>
    private static void SddmmKernel<TI>(Index1D index, SddmmKernelParams p, TI rowPtr, TI colIdx, EdgeTensor lhs, EdgeTensor rhs, EdgeTensor output)
        where TI : struct, IIndexView
    {
        long total = p.NumRows * p.Width;
        for (long t = index; t < total; t += p.Stride)
        {
            long row = t / p.Width;
            long c = t - (row * p.Width);
            long start = rowPtr.Get(row);
            long end = rowPtr.Get(row + 1);
            for (long e = start; e < end; e++)
            {
                long u = colIdx.Get(e);
                long ra = Pick(p.LhsTarget, u, row, e);
                long rb = Pick(p.RhsTarget, u, row, e);
                float r;
                if (p.Op == 0)
                {
                    long pa = (ra * p.Features) + (c * p.HeadDim);
                    long pb = (rb * p.Features) + (c * p.HeadDim);
                    r = 0.0f;
                    for (long d = 0; d < p.HeadDim; d++)
                    {
                        r += lhs.Load(pa + d) * rhs.Load(pb + d);
                    }
                }
                else
                {
                    float a = lhs.Load((ra * p.Features) + c);
                    float b = rhs.Load((rb * p.Features) + c);
                    r = p.Op == 1 ? a + b
                        : p.Op == 2 ? a - b
                        : p.Op == 3 ? a * b
                        : a / b;
                }

                output.Store((e * p.Width) + c, r);
            }
        }
    }

    /// <summary>
    /// SDDMM backward, the gradient of one operand. Thread item (row, feature f) of the CSR walked (the graph, or its
    /// transpose for a Source target: then u = row, v = col, e = perm[p]). Term per position: g·other (Dot, Mul), g (Add),
    /// ±g (Sub), g / B (Div lhs), −g·A / (B·B) (Div rhs), g = grad_out[e, f / D] (Dot) or grad_out[e, f]. Edge target:
    /// grad[e, f] = term; else grad[row, f] = Σ terms in position order (fp32, from 0).
    /// </summary>
    private static void SddmmBackwardKernel<TI>(Index1D index, SddmmKernelParams p, TI rowPtr, TI colIdx, TI perm,
        EdgeTensor lhs, EdgeTensor rhs, EdgeTensor gradOut, EdgeTensor grad)
        where TI : struct, IIndexView
    {
        long total = p.NumRows * p.Features;
        bool perEdge = p.SelfTarget == 2;
        for (long t = index; t < total; t += p.Stride)
        {
            long row = t / p.Features;
            long f = t - (row * p.Features);
            long gcol = p.Op == 0 ? f / p.HeadDim : f;
            long start = rowPtr.Get(row);
            long end = rowPtr.Get(row + 1);
            float acc = 0.0f;
            for (long q = start; q < end; q++)
            {
                long e = p.Trans != 0 ? perm.Get(q) : q;
                long n = colIdx.Get(q);
                long u = p.Trans != 0 ? row : n;
                long v = p.Trans != 0 ? n : row;
                float go = gradOut.Load((e * p.Width) + gcol);
                float term;
                if (p.Op == 1)
                {
                    term = go;
                }
                else if (p.Op == 2)
                {
                    term = p.Side == 0 ? go : -go;
                }
                else if (p.Op == 4)
                {
                    float b = rhs.Load((Pick(p.RhsTarget, u, v, e) * p.Features) + f);
                    if (p.Side == 0)
                    {
                        term = go / b;
                    }
                    else
                    {
                        float a = lhs.Load((Pick(p.LhsTarget, u, v, e) * p.Features) + f);
                        term = -go * a / (b * b);
                    }
                }
                else
                {
                    float o = p.Side == 0
                        ? rhs.Load((Pick(p.RhsTarget, u, v, e) * p.Features) + f)
                        : lhs.Load((Pick(p.LhsTarget, u, v, e) * p.Features) + f);
                    term = go * o;
                }

                if (perEdge)
                {
                    grad.Store((e * p.Features) + f, term);
                }
                else
                {
                    acc += term;
                }
            }

            if (!perEdge)
            {
                grad.Store((row * p.Features) + f, acc);
            }
        }
    }

    /// <summary>
    /// Edge softmax. Thread item (row, head h): m = the row's maximum (a NaN is final; −inf or an empty row use 0),
    /// sum = Σ exp(s − m) in CSR order (fp32, from 0), out[e, h] = exp(s − m) / (sum + 1e-16); row_max/row_sum get m and sum.
    /// Three passes over the row's scores.
    /// </summary>
    private static void SoftmaxKernel<TI>(Index1D index, SoftmaxKernelParams p, TI rowPtr, EdgeTensor scores, EdgeTensor output,
        ArrayView<float> rowMax, ArrayView<float> rowSum)
        where TI : struct, IIndexView
    {
        long total = p.NumRows * p.Heads;
        for (long t = index; t < total; t += p.Stride)
        {
            long row = t / p.Heads;
            long h = t - (row * p.Heads);
            long start = rowPtr.Get(row);
            long end = rowPtr.Get(row + 1);
            float m = float.NegativeInfinity;
            for (long e = start; e < end; e++)
            {
                float s = scores.Load((e * p.Heads) + h);
                if (s > m || float.IsNaN(s))
                {
                    if (!float.IsNaN(m))
                    {
                        m = s;
                    }
                }
            }

            if (m == float.NegativeInfinity || end == start)
            {
                m = 0.0f;
            }

            float sum = 0.0f;
            for (long e = start; e < end; e++)
            {
                sum += MathF.Exp(scores.Load((e * p.Heads) + h) - m);
            }

            float denom = sum + 1e-16f;
            for (long e = start; e < end; e++)
            {
                float s = scores.Load((e * p.Heads) + h);
                output.Store((e * p.Heads) + h, MathF.Exp(s - m) / denom);
            }

            if (p.HasMax != 0)
            {
                rowMax[(row * p.Heads) + h] = m;
            }

            if (p.HasSum != 0)
            {
                rowSum[(row * p.Heads) + h] = sum;
            }
        }
    }

    /// <summary>Edge softmax backward. Thread item (row, head h): dot = Σ y·g in CSR order, then grad_s[e, h] = y (g − dot).</summary>
    private static void SoftmaxBackwardKernel<TI>(Index1D index, SoftmaxKernelParams p, TI rowPtr, EdgeTensor y, EdgeTensor gradOut, EdgeTensor gradScores)
        where TI : struct, IIndexView
    {
        long total = p.NumRows * p.Heads;
        for (long t = index; t < total; t += p.Stride)
        {
            long row = t / p.Heads;
            long h = t - (row * p.Heads);
            long start = rowPtr.Get(row);
            long end = rowPtr.Get(row + 1);
            float dot = 0.0f;
            for (long e = start; e < end; e++)
            {
                dot += y.Load((e * p.Heads) + h) * gradOut.Load((e * p.Heads) + h);
            }

            for (long e = start; e < end; e++)
            {
                float yy = y.Load((e * p.Heads) + h);
                float gg = gradOut.Load((e * p.Heads) + h);
                gradScores.Store((e * p.Heads) + h, yy * (gg - dot));
            }
        }
    }

    /// <summary>
    /// Segment reduce. Thread item (segment s, feature f): fold src[i(p), f] for p in [ptr[s], ptr[s+1]) in position order
    /// (i(p) = perm[p] or p). Sum/mean: fp32 sum from 0, mean ÷ (float)count. Max/min: the first extreme (ties to the lowest
    /// position), a NaN wins and the first NaN is final; arg = i(p) of the winner. Empty (by count): 0, arg −1.
    /// </summary>
    private static void SegmentReduceKernel<TI>(Index1D index, SegmentKernelParams p, TI ptr, TI perm, EdgeTensor src, EdgeTensor output, TI arg)
        where TI : struct, IIndexView
    {
        long total = p.NumSegments * p.Features;
        bool extreme = p.Mode >= 2;
        for (long t = index; t < total; t += p.Stride)
        {
            long s = t / p.Features;
            long f = t - (s * p.Features);
            long start = ptr.Get(s);
            long end = ptr.Get(s + 1);
            float acc = 0.0f;
            long best = -1;
            for (long q = start; q < end; q++)
            {
                long i = p.HasPerm != 0 ? perm.Get(q) : q;
                float x = src.Load((i * p.Features) + f);
                if (!extreme)
                {
                    acc += x;
                }
                else
                {
                    bool better = p.Mode == 2 ? x > acc : x < acc;
                    if (best < 0 || (!float.IsNaN(acc) && (float.IsNaN(x) || better)))
                    {
                        acc = x;
                        best = i;
                    }
                }
            }

            long count = end - start;
            if (p.Mode == 1 && count > 0)
            {
                acc = acc / (float)count;
            }

            if (count == 0)
            {
                acc = 0.0f;
            }

            output.Store((s * p.Features) + f, acc);
            if (extreme && p.HasArg != 0)
            {
                arg.Set((s * p.Features) + f, best);
            }
        }
    }

    /// <summary>
    /// Gather / segment backward. Thread item (segment s, feature f): v = src[s, f] (÷ (float)count for Mean), then for every
    /// position p of s, out[i(p), f] = v (Copy, Mean) or (arg[s, f] == i(p) ? v : 0) (Arg). Each out row belongs to one
    /// segment (perm is a permutation), so each element has one writer.
    /// </summary>
    private static void SegmentGatherKernel<TI>(Index1D index, SegmentKernelParams p, TI ptr, TI perm, EdgeTensor src, TI arg, EdgeTensor output)
        where TI : struct, IIndexView
    {
        long total = p.NumSegments * p.Features;
        for (long t = index; t < total; t += p.Stride)
        {
            long s = t / p.Features;
            long f = t - (s * p.Features);
            long start = ptr.Get(s);
            long end = ptr.Get(s + 1);
            float v = src.Load((s * p.Features) + f);
            if (p.Mode == 1 && end > start)
            {
                v = v / (float)(end - start);
            }

            long a = p.Mode == 2 ? arg.Get((s * p.Features) + f) : -1;
            for (long q = start; q < end; q++)
            {
                long i = p.HasPerm != 0 ? perm.Get(q) : q;
                float w = p.Mode == 2 ? (a == i ? v : 0.0f) : v;
                output.Store((i * p.Features) + f, w);
            }
        }
    }

    private static void CooInitKernel(Index1D index, ArrayView<ulong> ws, long n, long stride)
    {
        for (long i = index; i < n; i += stride)
        {
            ws[i] = i < 2 ? ulong.MaxValue : 0UL;
        }
    }

    /// <summary>Range check (lowest bad position by atomic min into ws[0] for dst, ws[1] for src) and row counts (ws[2 + row]).</summary>
    private static void CooCountKernel<TI>(Index1D index, TI dst, TI src, long nnz, long numRows, long numCols, int hasSrc, long stride, ArrayView<ulong> ws)
        where TI : struct, IIndexView
    {
        for (long i = index; i < nnz; i += stride)
        {
            long d = dst.Get(i);
            bool ok = true;
            if (d < 0 || d >= numRows)
            {
                Atomic.Min(ref ws[0], (ulong)i);
                ok = false;
            }

            if (hasSrc != 0)
            {
                long c = src.Get(i);
                if (c < 0 || c >= numCols)
                {
                    Atomic.Min(ref ws[1], (ulong)i);
                    ok = false;
                }
            }

            if (ok)
            {
                Atomic.Add(ref ws[2 + d], 1UL);
            }
        }
    }

    /// <summary>One thread: row_ptr = exclusive prefix sum of the counts, which become the placement cursors.</summary>
    private static void CooScanKernel<TI>(Index1D index, ArrayView<ulong> ws, long numRows, TI rowPtr)
        where TI : struct, IIndexView
    {
        if (index != 0)
        {
            return;
        }

        ulong run = 0;
        for (long r = 0; r < numRows; r++)
        {
            ulong c = ws[2 + r];
            rowPtr.Set(r, (long)run);
            ws[2 + r] = run;
            run += c;
        }

        rowPtr.Set(numRows, (long)run);
    }

    private static void CooPlaceKernel<TI>(Index1D index, TI dst, long nnz, long stride, ArrayView<ulong> ws, TI perm)
        where TI : struct, IIndexView
    {
        for (long i = index; i < nnz; i += stride)
        {
            ulong at = Atomic.Add(ref ws[2 + dst.Get(i)], 1UL);
            perm.Set((long)at, i);
        }
    }

    /// <summary>
    /// One thread per row heap-sorts the row's permutation entries ascending (distinct edge ids: a unique result, so the
    /// placement order does not matter), then, when col_idx is wanted, writes col_idx[t] = src[perm[t]] for the row.
    /// </summary>
    private static void CooSortKernel<TI>(Index1D index, TI rowPtr, long numRows, long stride, TI perm, TI src, TI colIdx, int gatherCol)
        where TI : struct, IIndexView
    {
        for (long r = index; r < numRows; r += stride)
        {
            long start = rowPtr.Get(r);
            long n = rowPtr.Get(r + 1) - start;
            for (long k = (n / 2) - 1; k >= 0; k--)
            {
                SiftDown(perm, start, k, n);
            }

            for (long k = n - 1; k > 0; k--)
            {
                long tmp = perm.Get(start);
                perm.Set(start, perm.Get(start + k));
                perm.Set(start + k, tmp);
                SiftDown(perm, start, 0, k);
            }

            if (gatherCol != 0)
            {
                for (long k = 0; k < n; k++)
                {
                    colIdx.Set(start + k, src.Get(perm.Get(start + k)));
                }
            }
        }
    }

    private static void SiftDown<TI>(TI a, long start, long root, long n)
        where TI : struct, IIndexView
    {
        while (true)
        {
            long child = (2 * root) + 1;
            if (child >= n)
            {
                return;
            }

            if (child + 1 < n && a.Get(start + child + 1) > a.Get(start + child))
            {
                child++;
            }

            if (!(a.Get(start + child) > a.Get(start + root)))
            {
                return;
            }

            long tmp = a.Get(start + child);
            a.Set(start + child, a.Get(start + root));
            a.Set(start + root, tmp);
            root = child;
        }
    }

    private static void InDegreeKernel<TI>(Index1D index, TI rowPtr, long numRows, long stride, TI output)
        where TI : struct, IIndexView
    {
        for (long r = index; r < numRows; r += stride)
        {
            output.Set(r, rowPtr.Get(r + 1) - rowPtr.Get(r));
        }
    }

    private static void OutDegreeKernel32(Index1D index, ArrayView<int> colIdx, ArrayView<int> output, long nnz, long stride)
    {
        for (long e = index; e < nnz; e += stride)
        {
            Atomic.Add(ref output[colIdx[e]], 1);
        }
    }

    private static void OutDegreeKernel64(Index1D index, ArrayView<long> colIdx, ArrayView<long> output, long nnz, long stride)
    {
        for (long e = index; e < nnz; e += stride)
        {
            Atomic.Add(ref output[colIdx[e]], 1L);
        }
    }
}
