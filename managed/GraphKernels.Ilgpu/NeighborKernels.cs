using System;
using ILGPU;
using ILGPU.Runtime;

namespace GraphKernels.Ilgpu;

/// <summary>Scalar arguments of the neighbour-list kernels.</summary>
internal struct NlParams
{
    public long NumAtoms;
    public long NumGraphs;
    public long NumEdges;
    public double Cutoff;
    public long Stride;
    public long CountsOffset;   // counts[i] at workspace word CountsOffset + i
    public int HasPeriodic;     // 0: every structure periodic (periodic == null)
    public int HasCell;
    public int HasVec;
    public int Fill;
}

/// <summary>
/// The neighbour list on ILGPU with the semantics and order of kernels/neighbor_list.cuh, using its
/// BRUTE-FORCE search only (no cell list on this backend): one thread per source atom walks every atom
/// of its structure and, per pair, the image shifts whose fractional box (fp32 inverse cell, 1e-4 relative
/// slack, the CUDA code's formulas) can reach the cutoff sphere; every candidate is decided by the same
/// double test r = d + (s0 L0 + s1 L1 + s2 L2), |r|² &lt; cutoff², in the same association, so the edge set,
/// order, shifts and edge vectors are bitwise those of the emulated/CUDA library (no FMA contraction on
/// either side). Count: counts[i] into the workspace; the scan, the largest count and the max_neighbors
/// verdict are computed on the host after one download (the count synchronises anyway). Fill: the same
/// walk writes row i at [src_ptr[i], src_ptr[i+1]). dst_perm: thread per edge, the reverse edge by
/// binary search, as neighbor_dst_perm_kernel. O(Σ_b N_b² × images) pair tests. No atomics, no shared memory.
/// </summary>
internal sealed class NeighborKernels
{
    private readonly Action<Index1D, NlParams, Index32, ArrayView<float>, ArrayView<float>, ArrayView<byte>, ArrayView<long>, Index32, Index32, Index32, ArrayView<int>, ArrayView<float>> _walk32;
    private readonly Action<Index1D, NlParams, Index64, ArrayView<float>, ArrayView<float>, ArrayView<byte>, ArrayView<long>, Index64, Index64, Index64, ArrayView<int>, ArrayView<float>> _walk64;
    private readonly Action<Index1D, NlParams, Index32, Index32, Index32, ArrayView<int>, Index32> _perm32;
    private readonly Action<Index1D, NlParams, Index64, Index64, Index64, ArrayView<int>, Index64> _perm64;
    private readonly int _cap;

    public NeighborKernels(Accelerator accelerator)
    {
        _cap = Launch.CapFor(accelerator);
        _walk32 = accelerator.LoadAutoGroupedStreamKernel<Index1D, NlParams, Index32, ArrayView<float>, ArrayView<float>, ArrayView<byte>, ArrayView<long>, Index32, Index32, Index32, ArrayView<int>, ArrayView<float>>(WalkKernel);
        _walk64 = accelerator.LoadAutoGroupedStreamKernel<Index1D, NlParams, Index64, ArrayView<float>, ArrayView<float>, ArrayView<byte>, ArrayView<long>, Index64, Index64, Index64, ArrayView<int>, ArrayView<float>>(WalkKernel);
        _perm32 = accelerator.LoadAutoGroupedStreamKernel<Index1D, NlParams, Index32, Index32, Index32, ArrayView<int>, Index32>(PermKernel);
        _perm64 = accelerator.LoadAutoGroupedStreamKernel<Index1D, NlParams, Index64, Index64, Index64, ArrayView<int>, Index64>(PermKernel);
    }

    /// <summary>Count (fill = false: counts into the workspace) or fill (fill = true: rows at src_ptr).</summary>
    public void Walk(bool fill, IndexType it, long atoms, long graphs, double cutoff, DeviceBuffer gp, DeviceBuffer<float> positions,
        DeviceBuffer<float>? cell, DeviceBuffer<byte>? periodic, DeviceBuffer workspace, DeviceBuffer? srcPtr, long numEdges,
        DeviceBuffer? edgeSrc, DeviceBuffer? edgeDst, DeviceBuffer<int>? shifts, DeviceBuffer<float>? edgeVectors)
    {
        if (atoms == 0)
        {
            return;
        }

        int threads = Launch.Threads(atoms, _cap);
        var p = new NlParams
        {
            NumAtoms = atoms,
            NumGraphs = graphs,
            NumEdges = numEdges,
            Cutoff = cutoff,
            Stride = threads,
            CountsOffset = 8,
            HasPeriodic = periodic is null ? 0 : 1,
            HasCell = cell is null ? 0 : 1,
            HasVec = edgeVectors is null ? 0 : 1,
            Fill = fill ? 1 : 0,
        };
        var pos = IlgpuBackend.View<float>(positions);
        var cv = cell is null ? pos : IlgpuBackend.View<float>(cell);
        var whole = workspace.MemoryHandle.ManagedAllocation ?? throw new ArgumentException($"{workspace} is not ILGPU memory.", nameof(workspace));
        var pv = periodic is null ? IlgpuBackend.View<byte>(whole) : IlgpuBackend.View<byte>(periodic);
        var ws = IlgpuBackend.View<long>(whole);
        var sh = shifts is null ? IlgpuBackend.View<int>(whole) : IlgpuBackend.View<int>(shifts);
        var ev = edgeVectors is null ? pos : IlgpuBackend.View<float>(edgeVectors);
        if (it == IndexType.Int32)
        {
            var g = new Index32(IlgpuBackend.View<int>(gp));
            var sp = srcPtr is null ? g : new Index32(IlgpuBackend.View<int>(srcPtr));
            var es = edgeSrc is null ? g : new Index32(IlgpuBackend.View<int>(edgeSrc));
            var ed = edgeDst is null ? g : new Index32(IlgpuBackend.View<int>(edgeDst));
            _walk32(threads, p, g, pos, cv, pv, ws, sp, es, ed, sh, ev);
        }
        else
        {
            var g = new Index64(IlgpuBackend.View<long>(gp));
            var sp = srcPtr is null ? g : new Index64(IlgpuBackend.View<long>(srcPtr));
            var es = edgeSrc is null ? g : new Index64(IlgpuBackend.View<long>(edgeSrc));
            var ed = edgeDst is null ? g : new Index64(IlgpuBackend.View<long>(edgeDst));
            _walk64(threads, p, g, pos, cv, pv, ws, sp, es, ed, sh, ev);
        }
    }

    public void DstPerm(IndexType it, long numEdges, DeviceBuffer srcPtr, DeviceBuffer edgeSrc, DeviceBuffer edgeDst, DeviceBuffer<int> shifts, DeviceBuffer dstPerm)
    {
        if (numEdges == 0)
        {
            return;
        }

        int threads = Launch.Threads(numEdges, _cap);
        var p = new NlParams { NumEdges = numEdges, Stride = threads };
        var sh = IlgpuBackend.View<int>(shifts);
        if (it == IndexType.Int32)
        {
            _perm32(threads, p, new Index32(IlgpuBackend.View<int>(srcPtr)), new Index32(IlgpuBackend.View<int>(edgeSrc)),
                new Index32(IlgpuBackend.View<int>(edgeDst)), sh, new Index32(IlgpuBackend.View<int>(dstPerm)));
        }
        else
        {
            _perm64(threads, p, new Index64(IlgpuBackend.View<long>(srcPtr)), new Index64(IlgpuBackend.View<long>(edgeSrc)),
                new Index64(IlgpuBackend.View<long>(edgeDst)), sh, new Index64(IlgpuBackend.View<long>(dstPerm)));
        }
    }

    private static long GraphOf<TIndex>(TIndex gptr, long numGraphs, long atom)
        where TIndex : struct, IIndexView
    {
        long lo = 0, hi = numGraphs;
        while (hi - lo > 1)
        {
            long mid = lo + ((hi - lo) / 2);
            if (gptr.Get(mid) <= atom)
            {
                lo = mid;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    private static void ShiftRange(double f, float reach, out int lo, out int hi)
    {
        double slack = 1e-4 * (1.0 + Math.Abs(f) + reach);
        lo = (int)Math.Ceiling(-f - reach - slack);
        hi = (int)Math.Floor(-f + reach + slack);
    }

    private static void WalkKernel<TIndex>(Index1D index, NlParams p, TIndex gptr, ArrayView<float> pos, ArrayView<float> cell,
        ArrayView<byte> periodic, ArrayView<long> ws, TIndex srcPtr, TIndex edgeSrc, TIndex edgeDst, ArrayView<int> shifts, ArrayView<float> vec)
        where TIndex : struct, IIndexView
    {
        double rc2 = p.Cutoff * p.Cutoff;
        for (long i = index; i < p.NumAtoms; i += p.Stride)
        {
            long b = GraphOf(gptr, p.NumGraphs, i);
            long lo = gptr.Get(b), hi = gptr.Get(b + 1);
            bool per = p.HasPeriodic == 0 || periodic[b] != 0;
            float l0 = 0, l1 = 0, l2 = 0, l3 = 0, l4 = 0, l5 = 0, l6 = 0, l7 = 0, l8 = 0;
            float i0 = 0, i1 = 0, i2 = 0, i3 = 0, i4 = 0, i5 = 0, i6 = 0, i7 = 0, i8 = 0;
            float re0 = 0, re1 = 0, re2 = 0;
            if (per)
            {
                l0 = cell[(b * 9) + 0]; l1 = cell[(b * 9) + 1]; l2 = cell[(b * 9) + 2];
                l3 = cell[(b * 9) + 3]; l4 = cell[(b * 9) + 4]; l5 = cell[(b * 9) + 5];
                l6 = cell[(b * 9) + 6]; l7 = cell[(b * 9) + 7]; l8 = cell[(b * 9) + 8];
                double m0 = l0, m1 = l1, m2 = l2, m3 = l3, m4 = l4, m5 = l5, m6 = l6, m7 = l7, m8 = l8;
                double a00 = (m4 * m8) - (m5 * m7), a01 = (m2 * m7) - (m1 * m8), a02 = (m1 * m5) - (m2 * m4);
                double a10 = (m5 * m6) - (m3 * m8), a11 = (m0 * m8) - (m2 * m6), a12 = (m2 * m3) - (m0 * m5);
                double a20 = (m3 * m7) - (m4 * m6), a21 = (m1 * m6) - (m0 * m7), a22 = (m0 * m4) - (m1 * m3);
                double r = 1.0 / ((m0 * a00) + (m1 * a10) + (m2 * a20));
                i0 = (float)(a00 * r); i1 = (float)(a01 * r); i2 = (float)(a02 * r);
                i3 = (float)(a10 * r); i4 = (float)(a11 * r); i5 = (float)(a12 * r);
                i6 = (float)(a20 * r); i7 = (float)(a21 * r); i8 = (float)(a22 * r);
                re0 = (float)(p.Cutoff * Math.Sqrt(((double)i0 * i0) + ((double)i3 * i3) + ((double)i6 * i6)));
                re1 = (float)(p.Cutoff * Math.Sqrt(((double)i1 * i1) + ((double)i4 * i4) + ((double)i7 * i7)));
                re2 = (float)(p.Cutoff * Math.Sqrt(((double)i2 * i2) + ((double)i5 * i5) + ((double)i8 * i8)));
            }

            double xi = pos[(i * 3) + 0], yi = pos[(i * 3) + 1], zi = pos[(i * 3) + 2];
            long count = 0;
            long outBase = p.Fill != 0 ? srcPtr.Get(i) : 0;
            for (long j = lo; j < hi; j++)
            {
                double dx = (double)pos[(j * 3) + 0] - xi;
                double dy = (double)pos[(j * 3) + 1] - yi;
                double dz = (double)pos[(j * 3) + 2] - zi;
                int lo0 = 0, hi0 = 0, lo1 = 0, hi1 = 0, lo2 = 0, hi2 = 0;
                if (per)
                {
                    ShiftRange((dx * i0) + (dy * i3) + (dz * i6), re0, out lo0, out hi0);
                    ShiftRange((dx * i1) + (dy * i4) + (dz * i7), re1, out lo1, out hi1);
                    ShiftRange((dx * i2) + (dy * i5) + (dz * i8), re2, out lo2, out hi2);
                }

                for (int s0 = lo0; s0 <= hi0; s0++)
                {
                    for (int s1 = lo1; s1 <= hi1; s1++)
                    {
                        for (int s2 = lo2; s2 <= hi2; s2++)
                        {
                            if (j == i && s0 == 0 && s1 == 0 && s2 == 0)
                            {
                                continue;
                            }

                            double a = s0, bb = s1, cc = s2;
                            double rx = dx + ((a * (double)l0) + (bb * (double)l3) + (cc * (double)l6));
                            double ry = dy + ((a * (double)l1) + (bb * (double)l4) + (cc * (double)l7));
                            double rz = dz + ((a * (double)l2) + (bb * (double)l5) + (cc * (double)l8));
                            double r2 = (rx * rx) + (ry * ry) + (rz * rz);
                            if (!(r2 < rc2))
                            {
                                continue;
                            }

                            if (p.Fill != 0)
                            {
                                long e = outBase + count;
                                edgeSrc.Set(e, i);
                                edgeDst.Set(e, j);
                                shifts[(e * 3) + 0] = s0;
                                shifts[(e * 3) + 1] = s1;
                                shifts[(e * 3) + 2] = s2;
                                if (p.HasVec != 0)
                                {
                                    vec[(e * 3) + 0] = (float)rx;
                                    vec[(e * 3) + 1] = (float)ry;
                                    vec[(e * 3) + 2] = (float)rz;
                                }
                            }

                            count++;
                        }
                    }
                }
            }

            if (p.Fill == 0)
            {
                ws[p.CountsOffset + i] = count;
            }
        }
    }

    private static int KeyCompare(long d, int a0, int a1, int a2, long kd, int k0, int k1, int k2)
    {
        if (d != kd)
        {
            return d < kd ? -1 : 1;
        }

        if (a0 != k0)
        {
            return a0 < k0 ? -1 : 1;
        }

        if (a1 != k1)
        {
            return a1 < k1 ? -1 : 1;
        }

        return a2 != k2 ? (a2 < k2 ? -1 : 1) : 0;
    }

    private static void PermKernel<TIndex>(Index1D index, NlParams p, TIndex srcPtr, TIndex edgeSrc, TIndex edgeDst, ArrayView<int> shifts, TIndex dstPerm)
        where TIndex : struct, IIndexView
    {
        for (long e = index; e < p.NumEdges; e += p.Stride)
        {
            long i = edgeSrc.Get(e), j = edgeDst.Get(e);
            int s0 = shifts[e * 3], s1 = shifts[(e * 3) + 1], s2 = shifts[(e * 3) + 2];
            long lo = srcPtr.Get(i), hi = srcPtr.Get(i + 1);
            long a = lo, z = e;
            while (a < z)
            {
                long m = a + ((z - a) / 2);
                if (edgeDst.Get(m) < j)
                {
                    a = m + 1;
                }
                else
                {
                    z = m;
                }
            }

            long runLo = a;
            a = e + 1;
            z = hi;
            while (a < z)
            {
                long m = a + ((z - a) / 2);
                if (edgeDst.Get(m) <= j)
                {
                    a = m + 1;
                }
                else
                {
                    z = m;
                }
            }

            long runHi = a;
            a = srcPtr.Get(j);
            z = srcPtr.Get(j + 1);
            while (a < z)
            {
                long m = a + ((z - a) / 2);
                if (KeyCompare(edgeDst.Get(m), shifts[m * 3], shifts[(m * 3) + 1], shifts[(m * 3) + 2], i, -s0, -s1, -s2) < 0)
                {
                    a = m + 1;
                }
                else
                {
                    z = m;
                }
            }

            dstPerm.Set(runLo + (runHi - 1 - e), a);
        }
    }
}
