using System;
using ILGPU;
using ILGPU.Runtime;

namespace GraphKernels.Ilgpu;

/// <summary>Scalar arguments of the graph-plan kernels.</summary>
internal struct PlanParams
{
    public long NumRows;
    public long NumCols;
    public long Nnz;
    public long Chunk;
    public long MaxItems;
    public long Stride;
}

/// <summary>
/// The graph plan build (gk_plan_build) on ILGPU, the four steps of kernels/graph_plan.cuh with the same
/// buffers and the same contents (bitwise: integers only, and the final per-source sort makes the order
/// unique whatever the atomics did):
///  1. count: grid-stride over t &lt; max(M, E): in_degree[t] and row_item_ptr[t] = max(1, ceil(deg / chunk))
///     for a row t; one integer atomic add on cnt[col_idx[t]] for an edge t (the counters are the
///     workspace, zeroed first).
///  2. scans: the transposed row_ptr (also out_degree, and cnt becomes the scatter cursors) and, in place,
///     row_item_ptr. One thread each, serially (integer sums, so the same values as the CUDA kernel's
///     segmented scan); a GPU would want the segmented version, the CPU accelerator does not.
///  3. fill: grid-stride over rows v; v walks its edges in CSR order and takes a slot of source row u by an
///     atomic add on cursor[u]: perm[slot] = e, t_col_idx[slot] = v; item_row for the row's items, -1 past
///     the used ones.
///  4. sort: grid-stride over source rows u; (perm, t_col_idx) pairs of the row sorted by perm (distinct
///     keys): insertion sort up to 32 entries, heap sort beyond (the same code as the CUDA kernel).
/// Every index is formed in 64 bits. No floating point.
/// </summary>
internal sealed class PlanKernels
{
    private readonly Action<Index1D, PlanParams, Index32, Index32, Index32, ArrayView<long>, ArrayView<ulong>> _count32;
    private readonly Action<Index1D, PlanParams, Index64, Index64, Index64, ArrayView<long>, ArrayView<ulong>> _count64;
    private readonly Action<Index1D, PlanParams, ArrayView<ulong>, Index32, Index32, ArrayView<long>> _scan32;
    private readonly Action<Index1D, PlanParams, ArrayView<ulong>, Index64, Index64, ArrayView<long>> _scan64;
    private readonly Action<Index1D, PlanParams, Index32, Index32, ArrayView<long>, ArrayView<ulong>, Index32, Index32, ArrayView<long>> _fill32;
    private readonly Action<Index1D, PlanParams, Index64, Index64, ArrayView<long>, ArrayView<ulong>, Index64, Index64, ArrayView<long>> _fill64;
    private readonly Action<Index1D, PlanParams, Index32, Index32, Index32> _sort32;
    private readonly Action<Index1D, PlanParams, Index64, Index64, Index64> _sort64;
    private readonly int _cap;

    public PlanKernels(Accelerator accelerator)
    {
        _cap = Launch.CapFor(accelerator);
        _count32 = accelerator.LoadAutoGroupedStreamKernel<Index1D, PlanParams, Index32, Index32, Index32, ArrayView<long>, ArrayView<ulong>>(CountKernel);
        _count64 = accelerator.LoadAutoGroupedStreamKernel<Index1D, PlanParams, Index64, Index64, Index64, ArrayView<long>, ArrayView<ulong>>(CountKernel);
        _scan32 = accelerator.LoadAutoGroupedStreamKernel<Index1D, PlanParams, ArrayView<ulong>, Index32, Index32, ArrayView<long>>(ScanKernel);
        _scan64 = accelerator.LoadAutoGroupedStreamKernel<Index1D, PlanParams, ArrayView<ulong>, Index64, Index64, ArrayView<long>>(ScanKernel);
        _fill32 = accelerator.LoadAutoGroupedStreamKernel<Index1D, PlanParams, Index32, Index32, ArrayView<long>, ArrayView<ulong>, Index32, Index32, ArrayView<long>>(FillKernel);
        _fill64 = accelerator.LoadAutoGroupedStreamKernel<Index1D, PlanParams, Index64, Index64, ArrayView<long>, ArrayView<ulong>, Index64, Index64, ArrayView<long>>(FillKernel);
        _sort32 = accelerator.LoadAutoGroupedStreamKernel<Index1D, PlanParams, Index32, Index32, Index32>(SortKernel);
        _sort64 = accelerator.LoadAutoGroupedStreamKernel<Index1D, PlanParams, Index64, Index64, Index64>(SortKernel);
    }

    public void Build(CsrGraph graph, long chunk, long maxItems, DeviceBuffer tRowPtr, DeviceBuffer tColIdx, DeviceBuffer perm,
        DeviceBuffer inDegree, DeviceBuffer outDegree, DeviceBuffer<long> rowItemPtr, DeviceBuffer<long> itemRow, DeviceBuffer workspace)
    {
        long m = graph.NumRows, k = graph.NumCols, e = graph.Nnz;
        var p = new PlanParams { NumRows = m, NumCols = k, Nnz = e, Chunk = chunk, MaxItems = maxItems };
        var cnt = IlgpuBackend.View<byte>(workspace).Cast<ulong>();
        if (k > 0)
        {
            cnt.SubView(0, k).MemSetToZero();
        }

        var rip = IlgpuBackend.View<long>(rowItemPtr);
        var items = IlgpuBackend.View<long>(itemRow);
        long n1 = Math.Max(m, e);
        long n3 = Math.Max(m, maxItems);
        if (graph.IndexType == IndexType.Int32)
        {
            var rp = new Index32(IlgpuBackend.View<int>(graph.RowPtr));
            var ci = new Index32(IlgpuBackend.View<int>(graph.ColIdx));
            var trp = new Index32(IlgpuBackend.View<int>(tRowPtr));
            var tci = new Index32(IlgpuBackend.View<int>(tColIdx));
            var pm = new Index32(IlgpuBackend.View<int>(perm));
            if (n1 > 0)
            {
                _count32(Launch.Threads(n1, _cap), With(p, n1), rp, ci, new Index32(IlgpuBackend.View<int>(inDegree)), rip, cnt);
            }

            _scan32(1, p, cnt, trp, new Index32(IlgpuBackend.View<int>(outDegree)), rip);
            if (n3 > 0)
            {
                _fill32(Launch.Threads(n3, _cap), With(p, n3), rp, ci, rip, cnt, pm, tci, items);
            }

            if (k > 0 && e > 0)
            {
                _sort32(Launch.Threads(k, _cap), With(p, k), trp, pm, tci);
            }
        }
        else
        {
            var rp = new Index64(IlgpuBackend.View<long>(graph.RowPtr));
            var ci = new Index64(IlgpuBackend.View<long>(graph.ColIdx));
            var trp = new Index64(IlgpuBackend.View<long>(tRowPtr));
            var tci = new Index64(IlgpuBackend.View<long>(tColIdx));
            var pm = new Index64(IlgpuBackend.View<long>(perm));
            if (n1 > 0)
            {
                _count64(Launch.Threads(n1, _cap), With(p, n1), rp, ci, new Index64(IlgpuBackend.View<long>(inDegree)), rip, cnt);
            }

            _scan64(1, p, cnt, trp, new Index64(IlgpuBackend.View<long>(outDegree)), rip);
            if (n3 > 0)
            {
                _fill64(Launch.Threads(n3, _cap), With(p, n3), rp, ci, rip, cnt, pm, tci, items);
            }

            if (k > 0 && e > 0)
            {
                _sort64(Launch.Threads(k, _cap), With(p, k), trp, pm, tci);
            }
        }
    }

    private PlanParams With(PlanParams p, long work)
    {
        p.Stride = Launch.Threads(work, _cap);
        return p;
    }

    private static void CountKernel<TIndex>(Index1D index, PlanParams p, TIndex rowPtr, TIndex colIdx, TIndex inDegree,
        ArrayView<long> rowItems, ArrayView<ulong> cnt)
        where TIndex : struct, IIndexView
    {
        long n = p.NumRows > p.Nnz ? p.NumRows : p.Nnz;
        for (long t = index; t < n; t += p.Stride)
        {
            if (t < p.NumRows)
            {
                long deg = rowPtr.Get(t + 1) - rowPtr.Get(t);
                inDegree.Set(t, deg);
                long items = (deg + p.Chunk - 1) / p.Chunk;
                rowItems[t] = items > 0 ? items : 1;
            }

            if (t < p.Nnz)
            {
                Atomic.Add(ref cnt[colIdx.Get(t)], 1UL);
            }
        }
    }

    /// <summary>One thread: the transposed row_ptr, out_degree and cursors from cnt; then row_item_ptr in place.</summary>
    private static void ScanKernel<TIndex>(Index1D index, PlanParams p, ArrayView<ulong> cnt, TIndex tRowPtr, TIndex outDegree,
        ArrayView<long> rowItemPtr)
        where TIndex : struct, IIndexView
    {
        if (index != 0)
        {
            return;
        }

        long run = 0;
        for (long i = 0; i < p.NumCols; i++)
        {
            long v = (long)cnt[i];
            tRowPtr.Set(i, run);
            outDegree.Set(i, v);
            cnt[i] = (ulong)run;
            run += v;
        }

        tRowPtr.Set(p.NumCols, run);
        run = 0;
        for (long i = 0; i < p.NumRows; i++)
        {
            long v = rowItemPtr[i];
            rowItemPtr[i] = run;
            run += v;
        }

        rowItemPtr[p.NumRows] = run;
    }

    private static void FillKernel<TIndex>(Index1D index, PlanParams p, TIndex rowPtr, TIndex colIdx, ArrayView<long> rowItemPtr,
        ArrayView<ulong> cursor, TIndex perm, TIndex tColIdx, ArrayView<long> itemRow)
        where TIndex : struct, IIndexView
    {
        long used = rowItemPtr[p.NumRows];
        long n = p.NumRows > p.MaxItems ? p.NumRows : p.MaxItems;
        for (long t = index; t < n; t += p.Stride)
        {
            if (t < p.NumRows)
            {
                long start = rowPtr.Get(t);
                long end = rowPtr.Get(t + 1);
                for (long e = start; e < end; e++)
                {
                    long u = colIdx.Get(e);
                    long slot = (long)Atomic.Add(ref cursor[u], 1UL);
                    perm.Set(slot, e);
                    tColIdx.Set(slot, t);
                }

                long j1 = rowItemPtr[t + 1];
                for (long j = rowItemPtr[t]; j < j1; j++)
                {
                    itemRow[j] = t;
                }
            }

            if (t >= used && t < p.MaxItems)
            {
                itemRow[t] = -1;
            }
        }
    }

    private static void SiftDown<TIndex>(TIndex key, TIndex val, long start, long root, long n)
        where TIndex : struct, IIndexView
    {
        while (true)
        {
            long child = (2 * root) + 1;
            if (child >= n)
            {
                return;
            }

            if (child + 1 < n && key.Get(start + child + 1) > key.Get(start + child))
            {
                ++child;
            }

            if (!(key.Get(start + child) > key.Get(start + root)))
            {
                return;
            }

            long tk = key.Get(start + root), tv = val.Get(start + root);
            key.Set(start + root, key.Get(start + child));
            val.Set(start + root, val.Get(start + child));
            key.Set(start + child, tk);
            val.Set(start + child, tv);
            root = child;
        }
    }

    private static void SortKernel<TIndex>(Index1D index, PlanParams p, TIndex tRowPtr, TIndex key, TIndex val)
        where TIndex : struct, IIndexView
    {
        for (long u = index; u < p.NumCols; u += p.Stride)
        {
            long start = tRowPtr.Get(u);
            long n = tRowPtr.Get(u + 1) - start;
            if (n <= 32)
            {
                for (long i = 1; i < n; i++)
                {
                    long k = key.Get(start + i), v = val.Get(start + i);
                    long j = i - 1;
                    while (j >= 0 && key.Get(start + j) > k)
                    {
                        key.Set(start + j + 1, key.Get(start + j));
                        val.Set(start + j + 1, val.Get(start + j));
                        --j;
                    }

                    key.Set(start + j + 1, k);
                    val.Set(start + j + 1, v);
                }
            }
            else
            {
                for (long r = (n / 2) - 1; r >= 0; --r)
                {
                    SiftDown(key, val, start, r, n);
                }

                for (long last = n - 1; last > 0; --last)
                {
                    long tk = key.Get(start), tv = val.Get(start);
                    key.Set(start, key.Get(start + last));
                    val.Set(start, val.Get(start + last));
                    key.Set(start + last, tk);
                    val.Set(start + last, tv);
                    SiftDown(key, val, start, 0, last);
                }
            }
        }
    }
}
