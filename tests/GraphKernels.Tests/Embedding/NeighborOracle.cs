namespace GraphKernels.Tests.Embedding;

/// <summary>One oracle edge: source, destination, image shift, and r in double.</summary>
public readonly record struct OracleEdge(long Src, long Dst, int S0, int S1, int S2, double Rx, double Ry, double Rz);

/// <summary>
/// A batch of structures on the host (positions and cells already rounded to fp32) and a brute-force
/// double-precision radius graph over every image shift in a generous box. Written here, independent of
/// kernels/neighbor_list.cuh: it does not use the kernel's per-pair shift range, it scans a fixed box
/// wide enough for any pair (the reach plus the largest fractional spread of the structure plus 2).
/// </summary>
public sealed class NeighborBatch
{
    public required long[] GraphAtomPtr { get; init; }

    /// <summary>[N,3] fp32 values.</summary>
    public required float[] Positions { get; init; }

    /// <summary>[B,9] fp32, rows = lattice vectors.</summary>
    public required float[] Cell { get; init; }

    /// <summary>[B] 0 or 1.</summary>
    public required byte[] Periodic { get; init; }

    public long NumAtoms => GraphAtomPtr[^1];

    public int NumGraphs => GraphAtomPtr.Length - 1;

    /// <summary>All edges (i, j, S) with |r| &lt; cutoff except (i, i, 0), sorted by (src, dst, s0, s1, s2).</summary>
    public List<OracleEdge> Edges(double cutoff)
    {
        var edges = new List<OracleEdge>();
        for (int b = 0; b < NumGraphs; b++)
        {
            long lo = GraphAtomPtr[b], hi = GraphAtomPtr[b + 1];
            double[,] l = new double[3, 3];
            for (int r = 0; r < 3; r++)
            {
                for (int c = 0; c < 3; c++)
                {
                    l[r, c] = Cell[(b * 9) + (r * 3) + c];
                }
            }

            int[] box = [0, 0, 0];
            if (Periodic[b] != 0)
            {
                // Box half-width per direction: images within cutoff of any pair of this structure.
                double vol = Math.Abs(Det(l));
                double maxFrac = 0;
                double[,] inv = Inverse(l);
                for (long i = lo; i < hi; i++)
                {
                    for (int k = 0; k < 3; k++)
                    {
                        double f = 0;
                        for (int m = 0; m < 3; m++)
                        {
                            f += Positions[(i * 3) + m] * inv[m, k];
                        }

                        maxFrac = Math.Max(maxFrac, Math.Abs(f));
                    }
                }

                for (int k = 0; k < 3; k++)
                {
                    double[] u = Row(l, (k + 1) % 3), v = Row(l, (k + 2) % 3);
                    double area = Norm(Cross(u, v));
                    double spacing = vol / area;
                    box[k] = (int)Math.Ceiling(cutoff / spacing) + (int)Math.Ceiling(2 * maxFrac) + 2;
                }
            }

            for (long i = lo; i < hi; i++)
            {
                for (long j = lo; j < hi; j++)
                {
                    for (int s0 = -box[0]; s0 <= box[0]; s0++)
                    {
                        for (int s1 = -box[1]; s1 <= box[1]; s1++)
                        {
                            for (int s2 = -box[2]; s2 <= box[2]; s2++)
                            {
                                if (i == j && s0 == 0 && s1 == 0 && s2 == 0)
                                {
                                    continue;
                                }

                                double[] r = new double[3];
                                for (int c = 0; c < 3; c++)
                                {
                                    r[c] = ((double)Positions[(j * 3) + c] - Positions[(i * 3) + c]) + ((s0 * l[0, c]) + (s1 * l[1, c]) + (s2 * l[2, c]));
                                }

                                double d = Norm(r);
                                // The test data must not put a pair on the cutoff sphere (the decision
                                // there depends on the last bit of a double sum): guard the data.
                                Assert.That(Math.Abs(d - cutoff), Is.GreaterThan(1e-9 * cutoff), $"pair ({i}, {j}, {s0} {s1} {s2}) lies on the cutoff sphere: pick other test data");
                                if (d < cutoff)
                                {
                                    edges.Add(new OracleEdge(i, j, s0, s1, s2, r[0], r[1], r[2]));
                                }
                            }
                        }
                    }
                }
            }
        }

        return edges;
    }

    public static double Det(double[,] m) =>
        (m[0, 0] * ((m[1, 1] * m[2, 2]) - (m[1, 2] * m[2, 1])))
        - (m[0, 1] * ((m[1, 0] * m[2, 2]) - (m[1, 2] * m[2, 0])))
        + (m[0, 2] * ((m[1, 0] * m[2, 1]) - (m[1, 1] * m[2, 0])));

    public static double[,] Inverse(double[,] m)
    {
        double det = Det(m);
        var inv = new double[3, 3];
        for (int r = 0; r < 3; r++)
        {
            for (int c = 0; c < 3; c++)
            {
                int r1 = (c + 1) % 3, r2 = (c + 2) % 3, c1 = (r + 1) % 3, c2 = (r + 2) % 3;
                inv[r, c] = ((m[r1, c1] * m[r2, c2]) - (m[r1, c2] * m[r2, c1])) / det;
            }
        }

        return inv;
    }

    private static double[] Row(double[,] m, int r) => [m[r, 0], m[r, 1], m[r, 2]];

    private static double[] Cross(double[] a, double[] b) =>
        [(a[1] * b[2]) - (a[2] * b[1]), (a[2] * b[0]) - (a[0] * b[2]), (a[0] * b[1]) - (a[1] * b[0])];

    private static double Norm(double[] a) => Math.Sqrt((a[0] * a[0]) + (a[1] * a[1]) + (a[2] * a[2]));

    // ------------------------------------------------------------------ test structures -------

    /// <summary>A small triclinic cell (every spacing well below twice the cutoff) with random atoms.</summary>
    public static (float[] Cell, float[] Pos) Triclinic(int atoms, int seed, double scale = 1.0, bool unwrap = false)
    {
        var rng = new Random(seed);
        float[] cell = [(float)(3.1 * scale), 0, 0, (float)(0.9 * scale), (float)(2.8 * scale), 0, (float)(-0.6 * scale), (float)(0.7 * scale), (float)(3.3 * scale)];
        var pos = new float[atoms * 3];
        for (int a = 0; a < atoms; a++)
        {
            double f0 = rng.NextDouble(), f1 = rng.NextDouble(), f2 = rng.NextDouble();
            if (unwrap)
            {
                f0 += rng.Next(-2, 3);
                f2 -= rng.Next(0, 2);
            }

            for (int c = 0; c < 3; c++)
            {
                pos[(a * 3) + c] = (float)((f0 * cell[c]) + (f1 * cell[3 + c]) + (f2 * cell[6 + c]));
            }
        }

        return (cell, pos);
    }

    /// <summary>A random molecule: atoms in a ball, no cell.</summary>
    public static float[] Molecule(int atoms, int seed, double radius)
    {
        var rng = new Random(seed);
        var pos = new float[atoms * 3];
        for (int k = 0; k < pos.Length; k++)
        {
            pos[k] = (float)(((2 * rng.NextDouble()) - 1) * radius);
        }

        return pos;
    }

    public static NeighborBatch Single(float[] cell, float[] pos, bool periodic) => new()
    {
        GraphAtomPtr = [0, pos.Length / 3],
        Positions = pos,
        Cell = cell,
        Periodic = [periodic ? (byte)1 : (byte)0],
    };

    /// <summary>A batch mixing a triclinic crystal, a molecule, an empty structure, a unwrapped crystal and a lone periodic atom.</summary>
    public static NeighborBatch Mixed(int seed)
    {
        var (c0, p0) = Triclinic(5, seed);
        float[] p1 = Molecule(9, seed + 1, 2.5);
        var (c3, p3) = Triclinic(6, seed + 3, scale: 1.6, unwrap: true);
        var (c4, p4) = Triclinic(1, seed + 4, scale: 0.9);
        float[] zero = new float[9];
        return new NeighborBatch
        {
            GraphAtomPtr = [0, 5, 14, 14, 20, 21],
            Positions = [.. p0, .. p1, .. p3, .. p4],
            Cell = [.. c0, .. zero, .. c0, .. c3, .. c4],
            Periodic = [1, 0, 1, 1, 1],
        };
    }
}
