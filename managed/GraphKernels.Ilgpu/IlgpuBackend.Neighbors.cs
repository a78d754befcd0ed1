using System;
using System.Globalization;
using System.Threading;
using GraphKernels.Interop;

namespace GraphKernels.Ilgpu;

/// <summary>The neighbour list (NeighborList.Build): brute-force search on ILGPU, checks and scan on the host.</summary>
internal sealed unsafe partial class IlgpuBackend
{
    private const string NlCount = "gk_neighbor_list_count";
    private NeighborKernels? _neighbors;

    private NeighborKernels Neighbors => LazyInitializer.EnsureInitialized(ref _neighbors, () => new NeighborKernels(_accelerator));

    public GkNlReport NeighborCount(long[] graphAtomPtr, IndexType indexType, DeviceBuffer graphAtomPtrDevice, DeviceBuffer<float> positions,
        DeviceBuffer<float>? cell, DeviceBuffer<byte>? periodic, double cutoff, long maxNeighbors, DeviceBuffer srcPtr, DeviceBuffer workspace)
    {
        long atoms = graphAtomPtr[^1], graphs = graphAtomPtr.Length - 1;
        CheckNeighborInputs(graphAtomPtr, cell, periodic, cutoff, maxNeighbors);
        var leases = default(BufferLeases);
        long[] counts;
        try
        {
            leases.Add(graphAtomPtrDevice);
            leases.Add(positions);
            leases.Add(cell);
            leases.Add(periodic);
            leases.Add(workspace);
            Neighbors.Walk(false, indexType, atoms, graphs, cutoff, graphAtomPtrDevice, positions, cell, periodic, workspace, null, 0, null, null, null, null);
            counts = new long[atoms];
            if (atoms > 0)
            {
                fixed (long* c = counts)
                {
                    CopyToHost(c, workspace.MemoryHandle.ManagedAllocation!, 8 * 8, 8 * atoms);
                }
            }
        }
        finally
        {
            leases.Dispose();
        }

        // The scan and the verdicts of neighbor_scan_kernel, in the same order.
        var report = new GkNlReport { MaxCountAtom = -1, OverflowAtom = -1 };
        long total = 0, max = -1, bad = -1;
        for (long i = 0; i < atoms; i++)
        {
            total += counts[i];
            if (counts[i] > max)
            {
                max = counts[i];
                report.MaxCountAtom = i;
            }

            if (bad < 0 && maxNeighbors > 0 && counts[i] > maxNeighbors)
            {
                bad = i;
            }
        }

        report.NumEdges = total;
        report.MaxCount = Math.Max(max, 0);
        if (bad >= 0)
        {
            long graph = Array.FindLastIndex(graphAtomPtr, (int)graphs - 1, (int)graphs, v => v <= bad);
            var ex = new GraphKernelsException(GkStatus.InvalidArgument,
                $"{NlCount}: max_neighbors = {maxNeighbors} is exceeded: atom {bad} (graph {graph}, atom {bad - graphAtomPtr[graph]} of that graph) has {counts[bad]} neighbours within cutoff = {G(cutoff)}");
            ex.Data["OverflowAtom"] = bad;
            ex.Data["OverflowCount"] = counts[bad];
            throw ex;
        }

        if (indexType == IndexType.Int32 && total > int.MaxValue)
        {
            throw new GraphKernelsException(GkStatus.IndexOverflow, $"{NlCount}: the neighbour list has {total} edges, more than int32 indices hold; use GK_INDEX_INT64");
        }

        var ptr = new long[atoms + 1];
        for (long i = 0; i < atoms; i++)
        {
            ptr[i + 1] = ptr[i] + counts[i];
        }

        if (indexType == IndexType.Int64)
        {
            ((DeviceBuffer<long>)srcPtr).CopyFrom(ptr);
        }
        else
        {
            ((DeviceBuffer<int>)srcPtr).CopyFrom(Array.ConvertAll(ptr, v => (int)v));
        }

        return report;
    }

    public void NeighborFill(long[] graphAtomPtr, IndexType indexType, DeviceBuffer graphAtomPtrDevice, DeviceBuffer<float> positions,
        DeviceBuffer<float>? cell, DeviceBuffer<byte>? periodic, double cutoff, DeviceBuffer srcPtr, DeviceBuffer workspace, long numEdges,
        DeviceBuffer edgeSrc, DeviceBuffer edgeDst, DeviceBuffer<int> shifts, DeviceBuffer<float>? edgeVectors, DeviceBuffer? dstPerm)
    {
        if (numEdges == 0)
        {
            return;
        }

        var leases = default(BufferLeases);
        try
        {
            foreach (var b in new DeviceBuffer?[] { graphAtomPtrDevice, positions, cell, periodic, srcPtr, workspace, edgeSrc, edgeDst, shifts, edgeVectors, dstPerm })
            {
                leases.Add(b);
            }

            Neighbors.Walk(true, indexType, graphAtomPtr[^1], graphAtomPtr.Length - 1, cutoff, graphAtomPtrDevice, positions, cell, periodic, workspace,
                srcPtr, numEdges, edgeSrc, edgeDst, shifts, edgeVectors);
            if (dstPerm is not null)
            {
                Neighbors.DstPerm(indexType, numEdges, srcPtr, edgeSrc, edgeDst, shifts, dstPerm);
            }
        }
        finally
        {
            leases.Dispose();
        }
    }

    /// <summary>%g of C's printf for the messages (NaN as "NaN", infinities as "inf").</summary>
    private static string G(double v)
    {
        if (double.IsNaN(v))
        {
            return "NaN";
        }

        if (double.IsInfinity(v))
        {
            return v > 0 ? "inf" : "-inf";
        }

        string s = v.ToString("G6", CultureInfo.InvariantCulture);
        int e = s.IndexOf('E', StringComparison.Ordinal);
        if (e < 0)
        {
            return s;
        }

        // C writes at least two exponent digits: 1e+30, 1e-05.
        string mant = s[..e], exp = s[(e + 1)..];
        char sign = exp[0] == '-' ? '-' : '+';
        string digits = exp.TrimStart('+', '-').TrimStart('0').PadLeft(2, '0');
        return $"{mant}e{sign}{digits}";
    }

    /// <summary>The checks of gk_neighbor_list_count, in its order and with its messages (host copies of the inputs).</summary>
    private void CheckNeighborInputs(long[] gp, DeviceBuffer<float>? cell, DeviceBuffer<byte>? periodic, double cutoff, long maxNeighbors)
    {
        long graphs = gp.Length - 1;
        if (!(cutoff > 0.0) || !double.IsFinite(cutoff))
        {
            throw new GraphKernelsException(GkStatus.InvalidArgument, $"{NlCount}: cutoff = {G(cutoff)} must be finite and > 0");
        }

        if (maxNeighbors < 0)
        {
            throw new GraphKernelsException(GkStatus.InvalidArgument, $"{NlCount}: max_neighbors = {maxNeighbors} is negative (0 = no limit)");
        }

        if (gp[0] != 0)
        {
            throw new GraphKernelsException(GkStatus.InvalidArgument, $"{NlCount}: batch->graph_atom_ptr[0] = {gp[0]}, must be 0");
        }

        for (long g = 1; g <= graphs; g++)
        {
            if (gp[g] < gp[g - 1])
            {
                throw new GraphKernelsException(GkStatus.InvalidArgument,
                    $"{NlCount}: batch->graph_atom_ptr[{g}] = {gp[g]} is less than graph_atom_ptr[{g - 1}] = {gp[g - 1]} (must be non-decreasing)");
            }
        }

        byte[] per = new byte[graphs];
        Array.Fill(per, (byte)1);
        if (periodic is not null)
        {
            periodic.CopyTo(per.AsSpan(0, (int)graphs));
        }

        if (!Array.Exists(per, v => v != 0))
        {
            return;
        }

        if (cell is null)
        {
            throw new GraphKernelsException(GkStatus.InvalidArgument, $"{NlCount}: batch->cell is NULL but a structure is periodic (flag molecules 0 in batch->periodic)");
        }

        float[] c = new float[graphs * 9];
        cell.CopyTo(c.AsSpan());
        for (long g = 0; g < graphs; g++)
        {
            if (per[g] == 0)
            {
                continue;
            }

            for (int k = 0; k < 9; k++)
            {
                if (!float.IsFinite(c[(g * 9) + k]))
                {
                    throw new GraphKernelsException(GkStatus.InvalidArgument,
                        $"{NlCount}: batch->cell of graph {g} is not finite (cell[{g}][{k / 3}][{k % 3}] = {G(c[(g * 9) + k])})");
                }
            }

            double[] v = new double[9];
            for (int k = 0; k < 9; k++)
            {
                v[k] = c[(g * 9) + k];
            }

            double c0 = (v[4] * v[8]) - (v[5] * v[7]), c1 = (v[5] * v[6]) - (v[3] * v[8]), c2 = (v[3] * v[7]) - (v[4] * v[6]);
            double det = (v[0] * c0) + (v[1] * c1) + (v[2] * c2);
            double la = Math.Sqrt((v[0] * v[0]) + (v[1] * v[1]) + (v[2] * v[2]));
            double lb = Math.Sqrt((v[3] * v[3]) + (v[4] * v[4]) + (v[5] * v[5]));
            double lc = Math.Sqrt((v[6] * v[6]) + (v[7] * v[7]) + (v[8] * v[8]));
            if (!(Math.Abs(det) > 1e-12 * la * lb * lc))
            {
                throw new GraphKernelsException(GkStatus.InvalidArgument,
                    $"{NlCount}: graph {g} is periodic but its cell has zero volume (det = {G(det)}); flag it non-periodic in batch->periodic");
            }

            double[][] cr =
            [
                [(v[4] * v[8]) - (v[5] * v[7]), (v[5] * v[6]) - (v[3] * v[8]), (v[3] * v[7]) - (v[4] * v[6])],
                [(v[7] * v[2]) - (v[8] * v[1]), (v[8] * v[0]) - (v[6] * v[2]), (v[6] * v[1]) - (v[7] * v[0])],
                [(v[1] * v[5]) - (v[2] * v[4]), (v[2] * v[3]) - (v[0] * v[5]), (v[0] * v[4]) - (v[1] * v[3])],
            ];
            for (int k = 0; k < 3; k++)
            {
                double area = Math.Sqrt((cr[k][0] * cr[k][0]) + (cr[k][1] * cr[k][1]) + (cr[k][2] * cr[k][2]));
                double images = cutoff * area / Math.Abs(det);
                if (!(images <= 1000.0))
                {
                    throw new GraphKernelsException(GkStatus.InvalidArgument,
                        $"{NlCount}: cutoff = {G(cutoff)} spans {images.ToString("F0", CultureInfo.InvariantCulture)} images along lattice vector {k} of graph {g} (interplanar spacing {G(Math.Abs(det) / area)}); at most 1000 are supported");
                }
            }
        }
    }
}
