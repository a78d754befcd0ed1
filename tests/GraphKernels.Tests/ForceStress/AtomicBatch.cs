namespace GraphKernels.Tests.ForceStressTests;

/// <summary>A pair potential φ(r) written here, independent of the kernel.</summary>
public abstract class PairPotential
{
    public abstract double Cutoff { get; }

    public abstract double Phi(double r);

    public abstract double DPhi(double r);

    public override string ToString() => GetType().Name;
}

/// <summary>Lennard-Jones, shifted so φ(rc) = 0.</summary>
public sealed class LennardJones(double epsilon = 0.25, double sigma = 1.0, double cutoff = 2.5) : PairPotential
{
    public override double Cutoff => cutoff;

    private double Raw(double r)
    {
        double s6 = Math.Pow(sigma / r, 6);
        return 4 * epsilon * ((s6 * s6) - s6);
    }

    public override double Phi(double r) => Raw(r) - Raw(cutoff);

    public override double DPhi(double r)
    {
        double s6 = Math.Pow(sigma / r, 6);
        return 4 * epsilon * ((-12 * s6 * s6) + (6 * s6)) / r;
    }
}

/// <summary>Morse: D (1 − e^{−a (r − r0)})² − D.</summary>
public sealed class Morse(double d = 0.5, double a = 1.5, double r0 = 1.1, double cutoff = 2.8) : PairPotential
{
    public override double Cutoff => cutoff;

    public override double Phi(double r)
    {
        double x = 1 - Math.Exp(-a * (r - r0));
        return (d * x * x) - d;
    }

    public override double DPhi(double r)
    {
        double ex = Math.Exp(-a * (r - r0));
        return 2 * d * (1 - ex) * a * ex;
    }
}

/// <summary>One directed edge (src, dst, integer image shift).</summary>
public readonly record struct AtomEdge(int Src, int Dst, int Sx, int Sy, int Sz);

/// <summary>
/// A batch of structures on the host in double (values already rounded to fp32, so the kernel and the
/// oracle see the same numbers), with a brute-force neighbour list.
/// </summary>
public sealed class AtomicBatch
{
    public List<double> Positions { get; } = new();       // [N,3]

    public List<double> Cells { get; } = new();           // [B,9]

    public List<bool> Periodic { get; } = new();

    public List<long> GraphAtomPtr { get; } = new() { 0 };

    public List<AtomEdge> Edges { get; } = new();

    public int NumAtoms => Positions.Count / 3;

    public int NumGraphs => Periodic.Count;

    public int NumEdges => Edges.Count;

    public int GraphOf(int atom)
    {
        int b = 0;
        while (GraphAtomPtr[b + 1] <= atom) b++;
        return b;
    }

    private static double F32(double v) => (float)v;

    /// <summary>Adds a structure; fractional coordinates for periodic cells, Cartesian otherwise.</summary>
    public void Add(double[] cell, bool periodic, IReadOnlyList<double[]> coords, double cutoff, int maxShift)
    {
        int first = NumAtoms;
        foreach (var c in coords)
        {
            for (int k = 0; k < 3; k++)
            {
                double x = periodic ? (c[0] * cell[k]) + (c[1] * cell[3 + k]) + (c[2] * cell[6 + k]) : c[k];
                Positions.Add(F32(x));
            }
        }

        foreach (double v in cell) Cells.Add(F32(v));
        Periodic.Add(periodic);
        GraphAtomPtr.Add(NumAtoms);
        int span = periodic ? maxShift : 0;
        for (int i = first; i < NumAtoms; i++)
        {
            for (int j = first; j < NumAtoms; j++)
            {
                for (int sx = -span; sx <= span; sx++)
                {
                    for (int sy = -span; sy <= span; sy++)
                    {
                        for (int sz = -span; sz <= span; sz++)
                        {
                            if (i == j && sx == 0 && sy == 0 && sz == 0) continue;
                            var e = new AtomEdge(i, j, sx, sy, sz);
                            if (Norm(EdgeVector(e, Positions, Cells)) < cutoff) Edges.Add(e);
                        }
                    }
                }
            }
        }
    }

    /// <summary>r_e = x_dst − x_src + S·L from the given (possibly strained) positions and cells.</summary>
    public double[] EdgeVector(AtomEdge e, IReadOnlyList<double> pos, IReadOnlyList<double> cells)
    {
        int b = GraphOf(e.Src);
        var r = new double[3];
        for (int k = 0; k < 3; k++)
        {
            r[k] = pos[(3 * e.Dst) + k] - pos[(3 * e.Src) + k] + (e.Sx * cells[(9 * b) + k]) + (e.Sy * cells[(9 * b) + 3 + k]) + (e.Sz * cells[(9 * b) + 6 + k]);
        }

        return r;
    }

    public static double Norm(double[] r) => Math.Sqrt((r[0] * r[0]) + (r[1] * r[1]) + (r[2] * r[2]));

    public double Volume(int b)
    {
        var l = Cells.Skip(9 * b).Take(9).ToArray();
        double det = (l[0] * ((l[4] * l[8]) - (l[5] * l[7]))) - (l[1] * ((l[3] * l[8]) - (l[5] * l[6]))) + (l[2] * ((l[3] * l[7]) - (l[4] * l[6])));
        return Math.Abs(det);
    }

    public int SelfImageEdges => Edges.Count(e => e.Src == e.Dst);

    /// <summary>E = ½ Σ_edges φ(|r_e|) over the full (both directions) list, from given positions/cells.</summary>
    public double Energy(PairPotential p, IReadOnlyList<double> pos, IReadOnlyList<double> cells, int graph = -1)
    {
        double e = 0;
        foreach (var edge in Edges)
        {
            if (graph >= 0 && GraphOf(edge.Src) != graph) continue;
            e += 0.5 * p.Phi(Norm(EdgeVector(edge, pos, cells)));
        }

        return e;
    }

    /// <summary>g_e = dE/dr_e = ½ φ'(|r|) r̂ (conservative) and s_e = ½ φ'(|r|) (direct), per edge, in double.</summary>
    public (double[] G, double[] S) EdgeGradients(PairPotential p)
    {
        var g = new double[3 * NumEdges];
        var s = new double[NumEdges];
        for (int e = 0; e < NumEdges; e++)
        {
            var r = EdgeVector(Edges[e], Positions, Cells);
            double n = Norm(r);
            s[e] = 0.5 * p.DPhi(n);
            for (int k = 0; k < 3; k++) g[(3 * e) + k] = s[e] * r[k] / n;
        }

        return (g, s);
    }

    // ---------------------------------------------------------------- catalogue ----

    /// <summary>A triclinic cell (edges ~2.1-2.3 Å, smaller than 2 r_c) with 3 atoms.</summary>
    public static AtomicBatch SmallTriclinic(double cutoff, int seed = 1)
    {
        var b = new AtomicBatch();
        double[] cell = { 2.1, 0.0, 0.0, 0.5, 2.0, 0.0, -0.3, 0.4, 2.2 };
        b.Add(cell, true, new[] { new[] { 0.05, 0.1, 0.0 }, new[] { 0.52, 0.45, 0.4 }, new[] { 0.2, 0.8, 0.7 } }, cutoff, 3);
        _ = seed;
        return b;
    }

    /// <summary>Many small molecules (2-6 atoms) and one larger periodic crystal (a 2x2x2 supercell of a 2-atom triclinic cell).</summary>
    public static AtomicBatch MolecularBatch(int molecules, double cutoff, int seed)
    {
        var rng = new Random(seed);
        var b = new AtomicBatch();
        for (int m = 0; m < molecules; m++)
        {
            int atoms = 2 + rng.Next(5);
            var coords = new List<double[]>();
            while (coords.Count < atoms)
            {
                var c = new[] { rng.NextDouble() * 2.4, rng.NextDouble() * 2.4, rng.NextDouble() * 2.4 };
                if (coords.All(o => Norm(new[] { o[0] - c[0], o[1] - c[1], o[2] - c[2] }) > 0.95)) coords.Add(c);
            }

            b.Add(new double[9], false, coords, cutoff, 0);
            if (m == molecules / 2)
            {
                double[] cell = { 4.6, 0.0, 0.0, 1.1, 4.3, 0.0, -0.6, 0.7, 4.8 };
                var frac = new List<double[]>();
                for (int x = 0; x < 2; x++)
                    for (int y = 0; y < 2; y++)
                        for (int z = 0; z < 2; z++)
                        {
                            frac.Add(new[] { (x + 0.03) / 2, (y + 0.07) / 2, (z + 0.01) / 2 });
                            frac.Add(new[] { (x + 0.52) / 2, (y + 0.46) / 2, (z + 0.55) / 2 });
                        }

                b.Add(cell, true, frac, cutoff, 1);
            }
        }

        return b;
    }
}
