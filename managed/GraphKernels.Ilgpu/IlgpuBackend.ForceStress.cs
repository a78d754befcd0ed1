using System;
using System.Globalization;
using ILGPU;
using ILGPU.Runtime;

namespace GraphKernels.Ilgpu;

/// <summary>The force/stress family on ILGPU (kernels in <see cref="ForceStressKernels"/>; docs/ilgpu.md).</summary>
internal sealed partial class IlgpuBackend
{
    private const double EvPerA3InGpa = 160.21766208;

    private ForceStressKernels? _forceStress;

    private ForceStressKernels FsKernels
    {
        get
        {
            lock (_lock)
            {
                return _forceStress ??= new ForceStressKernels(_accelerator);
            }
        }
    }

    private static TIndex Index<TIndex>(DeviceBuffer buffer)
        where TIndex : struct, IIndexView
        => typeof(TIndex) == typeof(Index32)
            ? (TIndex)(object)new Index32(View<int>(buffer))
            : (TIndex)(object)new Index64(View<long>(buffer));

    private static ArrayView<T> ViewOr<T>(DeviceBuffer? buffer, ArrayView<T> dummy)
        where T : unmanaged
        => buffer is null ? dummy : View<T>(buffer);

    /// <summary>The topology, geometry and head arguments every force/stress kernel reads.</summary>
    private FsArgs<TIndex> FsBase<TIndex>(ForceStressTopology t, EdgeGeometry g, ForceStressMode mode, DeviceBuffer<float>? quantity,
        ForceStressHead? head, StressLayout layout, uint flags)
        where TIndex : struct, IIndexView
    {
        var k = FsKernels;
        var f = k.Dummy<float>();
        return new FsArgs<TIndex>
        {
            GraphAtomPtr = Index<TIndex>(t.GraphAtomPtrBuffer),
            SrcPtr = Index<TIndex>(t.SrcPtrBuffer),
            EdgeSrc = Index<TIndex>(t.EdgeSrcBuffer),
            EdgeDst = Index<TIndex>(t.EdgeDstBuffer),
            DstPtr = Index<TIndex>(t.DstPtrBuffer),
            DstPerm = Index<TIndex>(t.DstPermBuffer),
            EdgeVec = ViewOr(g.EdgeVectors, f),
            Positions = ViewOr(g.Positions, f),
            Shifts = ViewOr(g.Shifts, f),
            Cell = ViewOr(g.Cell, f),
            Periodic = ViewOr(g.Periodic, k.Dummy<byte>()),
            Quantity = ViewOr(quantity, f),
            HeadH = ViewOr(head?.Features, f),
            HeadW = ViewOr(head?.Weight, f),
            HeadBias = ViewOr(head?.Bias, f),
            Forces = f,
            Stress = f,
            AtomVirial = f,
            Partial = k.Dummy<double>(),
            GradForces = f,
            GradOut = f,
            GradQuantity = f,
            GradEdgeVec = f,
            GradH = f,
            GradW = f,
            GradBias = f,
            Channels = head?.Channels ?? 0,
            Ld = head?.LeadingDimension ?? 0,
            NumAtoms = t.NumAtoms,
            NumEdges = t.NumEdges,
            NumGraphs = t.NumGraphs,
            Scale = (flags & 2u) != 0 ? EvPerA3InGpa : 1.0,
            Mode = head is not null ? 2 : (int)mode,
            FromPos = g.EdgeVectors is null ? 1 : 0,
            Layout = (int)layout,
            OutKind = (flags & 1u) != 0 ? 1 : 0,
            HasBias = head?.Bias is not null ? 1 : 0,
            HasPeriodic = g.Periodic is not null ? 1 : 0,
        };
    }

    public void ForceStressReadout(ForceStressTopology topology, EdgeGeometry geometry, ForceStressMode mode, DeviceBuffer<float>? edgeQuantity,
        ForceStressHead? head, StressLayout layout, uint flags, DeviceBuffer<float> forces, DeviceBuffer<float>? stress,
        DeviceBuffer<float>? atomVirial, DeviceBuffer<byte>? workspace)
    {
        if (topology.IndexType == IndexType.Int32)
        {
            Readout<Index32>(topology, geometry, mode, edgeQuantity, head, layout, flags, forces, stress, atomVirial, workspace);
        }
        else
        {
            Readout<Index64>(topology, geometry, mode, edgeQuantity, head, layout, flags, forces, stress, atomVirial, workspace);
        }
    }

    private void Readout<TIndex>(ForceStressTopology t, EdgeGeometry geometry, ForceStressMode mode, DeviceBuffer<float>? quantity,
        ForceStressHead? head, StressLayout layout, uint flags, DeviceBuffer<float> forces, DeviceBuffer<float>? stress,
        DeviceBuffer<float>? atomVirial, DeviceBuffer<byte>? workspace)
        where TIndex : struct, IIndexView
    {
        var k = FsKernels;
        var a = FsBase<TIndex>(t, geometry, mode, quantity, head, layout, flags);
        bool fast = (flags & 4u) != 0;
        a.Forces = View<float>(forces);
        if (atomVirial is not null)
        {
            a.AtomVirial = View<float>(atomVirial);
            a.WantAtomVirial = 1;
        }

        if (stress is not null)
        {
            a.Stress = View<float>(stress);
            if (!fast)
            {
                a.Partial = View<byte>(workspace!).Cast<double>();
                a.WantPartial = 1;
            }
        }

        // The native launcher's group size: the smallest power of two (<= 32) covering ceil(E / N).
        long meanDeg = t.NumAtoms > 0 ? (t.NumEdges + t.NumAtoms - 1) / t.NumAtoms : 1;
        int gl = 0;
        while (gl < 5 && (1L << gl) < meanDeg)
        {
            gl++;
        }

        a.GroupLog2 = gl;
        if (t.NumAtoms > 0)
        {
            int threads = Launch.Threads(t.NumAtoms, k.Cap);
            a.Stride = threads;
            if (a is FsArgs<Index32> a32)
            {
                k.Atom(threads, a32);
            }
            else
            {
                k.Atom(threads, (FsArgs<Index64>)(object)a);
            }
        }

        if (stress is not null && t.NumGraphs > 0)
        {
            int threads = Launch.Threads(t.NumGraphs, k.Cap);
            a.Stride = threads;
            if (a is FsArgs<Index32> a32)
            {
                if (fast)
                {
                    k.Fast(threads, a32);
                }
                else
                {
                    k.Graph(threads, a32);
                }
            }
            else
            {
                var a64 = (FsArgs<Index64>)(object)a;
                if (fast)
                {
                    k.Fast(threads, a64);
                }
                else
                {
                    k.Graph(threads, a64);
                }
            }
        }
    }

    public void ForceStressBackward(ForceStressTopology topology, EdgeGeometry geometry, ForceStressMode mode, DeviceBuffer<float>? edgeQuantity,
        ForceStressHead? head, StressLayout layout, uint flags, DeviceBuffer<float>? gradForces, DeviceBuffer<float>? gradStress,
        DeviceBuffer<float>? gradQuantity, DeviceBuffer<float>? gradFeatures, long gradLd, DeviceBuffer<float>? gradWeight,
        DeviceBuffer<float>? gradBias, DeviceBuffer<float>? gradEdgeVectors, DeviceBuffer<byte>? workspace)
    {
        if (topology.IndexType == IndexType.Int32)
        {
            Backward<Index32>(topology, geometry, mode, edgeQuantity, head, layout, flags, gradForces, gradStress, gradQuantity,
                gradFeatures, gradLd, gradWeight, gradBias, gradEdgeVectors, workspace);
        }
        else
        {
            Backward<Index64>(topology, geometry, mode, edgeQuantity, head, layout, flags, gradForces, gradStress, gradQuantity,
                gradFeatures, gradLd, gradWeight, gradBias, gradEdgeVectors, workspace);
        }
    }

    private void Backward<TIndex>(ForceStressTopology t, EdgeGeometry geometry, ForceStressMode mode, DeviceBuffer<float>? quantity,
        ForceStressHead? head, StressLayout layout, uint flags, DeviceBuffer<float>? gradForces, DeviceBuffer<float>? gradStress,
        DeviceBuffer<float>? gradQuantity, DeviceBuffer<float>? gradFeatures, long gradLd, DeviceBuffer<float>? gradWeight,
        DeviceBuffer<float>? gradBias, DeviceBuffer<float>? gradEdgeVectors, DeviceBuffer<byte>? workspace)
        where TIndex : struct, IIndexView
    {
        var k = FsKernels;
        var a = FsBase<TIndex>(t, geometry, mode, quantity, head, layout, flags);
        a.GradForces = ViewOr(gradForces, a.GradForces);
        a.HasGradForces = gradForces is null ? 0 : 1;
        a.GradOut = ViewOr(gradStress, a.GradOut);
        a.HasGradOut = gradStress is null ? 0 : 1;
        a.GradQuantity = ViewOr(gradQuantity, a.GradQuantity);
        a.HasGradQuantity = gradQuantity is null ? 0 : 1;
        a.GradEdgeVec = ViewOr(gradEdgeVectors, a.GradEdgeVec);
        a.HasGradEdgeVec = gradEdgeVectors is null ? 0 : 1;
        a.GradH = ViewOr(gradFeatures, a.GradH);
        a.HasGradH = gradFeatures is null ? 0 : 1;
        a.GradLd = gradLd;
        a.GradW = ViewOr(gradWeight, a.GradW);
        a.HasGradW = gradWeight is null ? 0 : 1;
        a.GradBias = ViewOr(gradBias, a.GradBias);
        a.HasGradBias = gradBias is null ? 0 : 1;
        long e = t.NumEdges;
        bool headSums = head is not null && (gradWeight is not null || gradBias is not null);
        a.HeadBlocks = ForceStressHostChecks.HeadBlocks(e);
        if (headSums && e > 0)
        {
            a.Partial = View<byte>(workspace!).Cast<double>();
            a.WantPartial = 1;
        }

        if (e > 0)
        {
            if (head is not null)
            {
                if (a is FsArgs<Index32> h32)
                {
                    k.HeadBackward(h32);
                }
                else
                {
                    k.HeadBackward((FsArgs<Index64>)(object)a);
                }
            }
            else
            {
                int threads = Launch.Threads(e, k.Cap);
                a.Stride = threads;
                if (a is FsArgs<Index32> b32)
                {
                    k.Backward(threads, b32);
                }
                else
                {
                    k.Backward(threads, (FsArgs<Index64>)(object)a);
                }
            }
        }

        if (headSums)
        {
            // Phase 2 (E = 0: zero partial rows, so dL/dw = 0 and dL/db = 0, as the native launcher writes them).
            int threads = Launch.Threads(head!.Channels + 1, k.Cap);
            var d = new Index32(k.Dummy<int>());
            var f = k.Dummy<float>();
            var r = new FsArgs<Index32>
            {
                GraphAtomPtr = d, SrcPtr = d, EdgeSrc = d, EdgeDst = d, DstPtr = d, DstPerm = d,
                EdgeVec = f, Positions = f, Shifts = f, Cell = f, Periodic = k.Dummy<byte>(), Quantity = f,
                HeadH = f, HeadW = f, HeadBias = f, Forces = f, Stress = f, AtomVirial = f,
                GradForces = f, GradOut = f, GradQuantity = f, GradEdgeVec = f, GradH = f,
                Channels = head.Channels,
            };
            r.Partial = a.Partial;
            r.HeadBlocks = e > 0 ? a.HeadBlocks : 0;
            r.GradW = a.GradW;
            r.HasGradW = a.HasGradW;
            r.GradBias = a.GradBias;
            r.HasGradBias = a.HasGradBias;
            r.Stride = threads;
            k.HeadReduce(threads, r);
        }
    }

    /// <summary>
    /// gk_force_stress_validate's checks and messages, run on the host after a copy of the topology (and cells):
    /// for each check the lowest bad position, reported in the native order (graph_atom_ptr, src_ptr, dst_ptr,
    /// edge_src, edge_dst, crossing edges, dst_perm, non-finite cell, zero volume). Nothing is written.
    /// </summary>
    public void ForceStressValidate(ForceStressTopology topology, EdgeGeometry? geometry)
    {
        const string op = "gk_force_stress_validate";
        long n = topology.NumAtoms, e = topology.NumEdges, b = topology.NumGraphs;
        long[] gp = Download(topology.GraphAtomPtrBuffer, b + 1);
        long[] sp = Download(topology.SrcPtrBuffer, n + 1);
        long[] dp = Download(topology.DstPtrBuffer, n + 1);
        long[] es = Download(topology.EdgeSrcBuffer, e);
        long[] ed = Download(topology.EdgeDstBuffer, e);
        long[] pm = Download(topology.DstPermBuffer, e);

        string? PtrError(string name, long[] v, long count, long total, string totalName)
        {
            for (long i = 0; i <= count; i++)
            {
                long cur = v[i];
                bool ok = cur >= 0 && cur <= total;
                if (i == 0)
                {
                    ok = ok && cur == 0;
                }

                if (i > 0)
                {
                    ok = ok && cur >= v[i - 1];
                }

                if (i == count)
                {
                    ok = ok && cur == total;
                }

                if (ok)
                {
                    continue;
                }

                if (i == 0 && cur != 0)
                {
                    return $"topology->{name}[0] = {cur}, must be 0";
                }

                if (cur < 0 || cur > total)
                {
                    return $"topology->{name}[{i}] = {cur} is outside [0, {totalName} = {total}]";
                }

                if (i > 0 && cur < v[i - 1])
                {
                    return $"topology->{name}[{i}] = {cur} is less than {name}[{i - 1}] = {v[i - 1]} (it must be non-decreasing)";
                }

                return $"topology->{name}[{i}] = {cur} (the last entry) must equal {totalName} = {total}";
            }

            return null;
        }

        string? error = PtrError("graph_atom_ptr", gp, b, n, "num_atoms")
            ?? PtrError("src_ptr", sp, n, e, "num_edges")
            ?? PtrError("dst_ptr", dp, n, e, "num_edges");
        if (error is not null)
        {
            throw new GraphKernelsException(GkStatus.InvalidGraph, $"{op}: {error}");
        }

        // The device kernel's per-edge checks, with its bounds on corrupt contents (the pointer arrays are valid here).
        static long GraphOfHost(long[] ptr, long count, long atom)
        {
            long lo = 0, hi = count;
            while (hi - lo > 1)
            {
                long mid = lo + ((hi - lo) >> 1);
                if (ptr[mid] <= atom)
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

        long badSrc = -1, badDst = -1, badCross = -1, badPerm = -1;
        for (long t = 0; t < e; t++)
        {
            long s = es[t], d = ed[t];
            bool sIn = s >= 0 && s < n, dIn = d >= 0 && d < n;
            if (badSrc < 0 && (!sIn || t < sp[s] || t >= sp[s + 1]))
            {
                badSrc = t;
            }

            if (badDst < 0 && !dIn)
            {
                badDst = t;
            }

            if (badCross < 0 && sIn && dIn && GraphOfHost(gp, b, s) != GraphOfHost(gp, b, d))
            {
                badCross = t;
            }

            if (badPerm < 0)
            {
                long row = GraphOfHost(dp, n, t);
                long pe = pm[t];
                bool ok = pe >= 0 && pe < e;
                if (ok)
                {
                    ok = ed[pe] == row;
                }

                if (ok && t > 0 && t > dp[row])
                {
                    ok = pm[t - 1] < pe;
                }

                if (!ok)
                {
                    badPerm = t;
                }
            }
        }

        if (badSrc >= 0)
        {
            long s = es[badSrc];
            error = s < 0 || s >= n
                ? $"topology->edge_src[{badSrc}] = {s} is outside [0, num_atoms = {n})"
                : $"edges are not sorted by source: topology->edge_src[{badSrc}] = {s} but src_ptr gives atom {s} the edges [{sp[s]}, {sp[s + 1]})";
        }
        else if (badDst >= 0)
        {
            error = $"topology->edge_dst[{badDst}] = {ed[badDst]} is outside [0, num_atoms = {n})";
        }
        else if (badCross >= 0)
        {
            error = $"edge {badCross} (src {es[badCross]}, dst {ed[badCross]}) joins two different graphs of graph_atom_ptr; edges must stay within their structure (sorted by graph)";
        }
        else if (badPerm >= 0)
        {
            long pe = pm[badPerm];
            error = pe < 0 || pe >= e
                ? $"topology->dst_perm[{badPerm}] = {pe} is outside [0, num_edges = {e})"
                : $"topology->dst_perm[{badPerm}] = {pe} does not fit dst_ptr: each row i of dst_ptr must list, in increasing order, exactly the edges with edge_dst = i";
        }

        if (error is not null)
        {
            throw new GraphKernelsException(GkStatus.InvalidGraph, $"{op}: {error}");
        }

        if (geometry?.Cell is null || b == 0)
        {
            return;
        }

        var cell = new float[9 * b];
        geometry.Cell.CopyTo(cell);
        byte[]? periodic = null;
        if (geometry.Periodic is not null)
        {
            periodic = new byte[b];
            geometry.Periodic.CopyTo(periodic);
        }

        long badCell = -1, badVolume = -1;
        for (long g = 0; g < b && badCell < 0; g++)
        {
            bool finite = true;
            for (int k = 0; k < 9; k++)
            {
                double x = cell[(9 * g) + k];
                finite = finite && x - x == 0.0;
            }

            if (!finite)
            {
                badCell = g;
            }
            else if (badVolume < 0 && (periodic is null || periodic[g] != 0))
            {
                double l0 = cell[9 * g], l1 = cell[(9 * g) + 1], l2 = cell[(9 * g) + 2], l3 = cell[(9 * g) + 3], l4 = cell[(9 * g) + 4],
                    l5 = cell[(9 * g) + 5], l6 = cell[(9 * g) + 6], l7 = cell[(9 * g) + 7], l8 = cell[(9 * g) + 8];
                double v = (l0 * ((l4 * l8) - (l5 * l7))) - (l1 * ((l3 * l8) - (l5 * l6))) + (l2 * ((l3 * l7) - (l4 * l6)));
                v = v < 0.0 ? -v : v;
                double n0 = Math.Sqrt((l0 * l0) + (l1 * l1) + (l2 * l2));
                double n1 = Math.Sqrt((l3 * l3) + (l4 * l4) + (l5 * l5));
                double n2 = Math.Sqrt((l6 * l6) + (l7 * l7) + (l8 * l8));
                if (!(v > 1e-12 * n0 * n1 * n2))
                {
                    badVolume = g;
                }
            }
        }

        if (badCell >= 0)
        {
            int k = 0;
            while (k < 8 && cell[(9 * badCell) + k] - cell[(9 * badCell) + k] == 0.0f)
            {
                k++;
            }

            float v = cell[(9 * badCell) + k];
            string text = float.IsNaN(v) ? "NaN" : (v < 0 ? "-inf" : "inf");
            throw new GraphKernelsException(GkStatus.InvalidArgument,
                $"{op}: geometry->cell of graph {badCell} is not finite (cell[{badCell}][{k / 3}][{k % 3}] = {text})");
        }

        if (badVolume >= 0)
        {
            long o = 9 * badVolume;
            double det = (cell[o] * (((double)cell[o + 4] * cell[o + 8]) - ((double)cell[o + 5] * cell[o + 7])))
                         - (cell[o + 1] * (((double)cell[o + 3] * cell[o + 8]) - ((double)cell[o + 5] * cell[o + 6])))
                         + (cell[o + 2] * (((double)cell[o + 3] * cell[o + 7]) - ((double)cell[o + 4] * cell[o + 6])));
            throw new GraphKernelsException(GkStatus.InvalidArgument,
                $"{op}: graph {badVolume} is periodic but its cell has zero volume (det = {FormatG(det)}); flag it non-periodic in geometry->periodic or fix the cell");
        }
    }

    /// <summary>C's printf("%g"): 6 significant digits, exponent form below 1e-4 or from 1e6, lower-case e, at least two exponent digits.</summary>
    internal static string FormatG(double v)
    {
        if (double.IsNaN(v))
        {
            return "nan";
        }

        if (double.IsInfinity(v))
        {
            return v < 0 ? "-inf" : "inf";
        }

        string s = v.ToString("G6", CultureInfo.InvariantCulture);
        int ei = s.IndexOf('E', StringComparison.Ordinal);
        if (ei < 0)
        {
            return s;
        }

        string mant = s[..ei];
        string exp = s[(ei + 1)..];
        char sign = exp[0] == '-' ? '-' : '+';
        string digits = exp.TrimStart('+', '-');
        if (digits.Length < 2)
        {
            digits = "0" + digits;
        }

        return $"{mant}e{sign}{digits}";
    }
}
