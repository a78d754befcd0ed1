namespace GraphKernels.Tests.Embedding;

/// <summary>
/// A brute-force double oracle for the large neighbour-list cases, written here independently of
/// kernels/neighbor_list.cuh: every pair (i, j) of a structure, and per pair every integer shift S whose
/// component S_k lies in the exact bound |f_k + S_k| &lt;= cutoff · |column k of L⁻¹| (f = (x_j − x_i) · L⁻¹ in
/// double; |r · column k| &lt;= |r| |column k|, so no image within the cutoff lies outside, and a margin of
/// 1e-9 covers the double rounding of f). Same order as <see cref="NeighborBatch.Edges"/>: (src, dst, s0, s1, s2).
/// Cost O(N_b² × images per pair) instead of O(N_b² × box³), so a few thousand atoms take well under a second.
/// </summary>
public static class PairRangeOracle
{
    public static List<OracleEdge> Edges(NeighborBatch b, double cutoff) => Edges(b, cutoff, out _);

    /// <summary>As <see cref="Edges(NeighborBatch, double)"/>; <paramref name="tests"/> = the (pair, image) candidates it examined.</summary>
    public static List<OracleEdge> Edges(NeighborBatch b, double cutoff, out long tests)
    {
        tests = 0;
        var edges = new List<OracleEdge>();
        for (int g = 0; g < b.NumGraphs; g++)
        {
            long lo = b.GraphAtomPtr[g], hi = b.GraphAtomPtr[g + 1];
            bool per = b.Periodic[g] != 0;
            var l = new double[3, 3];
            var inv = new double[3, 3];
            var reach = new double[3];
            if (per)
            {
                for (int r = 0; r < 3; r++)
                {
                    for (int c = 0; c < 3; c++)
                    {
                        l[r, c] = b.Cell[(g * 9) + (r * 3) + c];
                    }
                }

                inv = NeighborBatch.Inverse(l);
                for (int k = 0; k < 3; k++)
                {
                    reach[k] = cutoff * Math.Sqrt((inv[0, k] * inv[0, k]) + (inv[1, k] * inv[1, k]) + (inv[2, k] * inv[2, k]));
                }
            }

            var lo3 = new int[3];
            var hi3 = new int[3];
            for (long i = lo; i < hi; i++)
            {
                for (long j = lo; j < hi; j++)
                {
                    double d0 = (double)b.Positions[(j * 3) + 0] - b.Positions[(i * 3) + 0];
                    double d1 = (double)b.Positions[(j * 3) + 1] - b.Positions[(i * 3) + 1];
                    double d2 = (double)b.Positions[(j * 3) + 2] - b.Positions[(i * 3) + 2];
                    for (int k = 0; k < 3; k++)
                    {
                        if (per)
                        {
                            double f = (d0 * inv[0, k]) + (d1 * inv[1, k]) + (d2 * inv[2, k]);
                            lo3[k] = (int)Math.Ceiling(-f - reach[k] - 1e-9);
                            hi3[k] = (int)Math.Floor(-f + reach[k] + 1e-9);
                        }
                        else
                        {
                            lo3[k] = hi3[k] = 0;
                        }
                    }

                    for (int s0 = lo3[0]; s0 <= hi3[0]; s0++)
                    {
                        for (int s1 = lo3[1]; s1 <= hi3[1]; s1++)
                        {
                            for (int s2 = lo3[2]; s2 <= hi3[2]; s2++)
                            {
                                if (i == j && s0 == 0 && s1 == 0 && s2 == 0)
                                {
                                    continue;
                                }

                                tests++;
                                double rx = d0 + ((s0 * l[0, 0]) + (s1 * l[1, 0]) + (s2 * l[2, 0]));
                                double ry = d1 + ((s0 * l[0, 1]) + (s1 * l[1, 1]) + (s2 * l[2, 1]));
                                double rz = d2 + ((s0 * l[0, 2]) + (s1 * l[1, 2]) + (s2 * l[2, 2]));
                                double dist = Math.Sqrt((rx * rx) + (ry * ry) + (rz * rz));
                                // No pair on the cutoff sphere (the decision there depends on the last bit).
                                if (Math.Abs(dist - cutoff) <= 1e-9 * cutoff)
                                {
                                    throw new InvalidOperationException($"pair ({i}, {j}, {s0} {s1} {s2}) lies on the cutoff sphere: pick other test data");
                                }

                                if (dist < cutoff)
                                {
                                    edges.Add(new OracleEdge(i, j, s0, s1, s2, rx, ry, rz));
                                }
                            }
                        }
                    }
                }
            }
        }

        return edges;
    }
}
