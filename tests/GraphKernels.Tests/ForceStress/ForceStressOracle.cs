namespace GraphKernels.Tests.ForceStressTests;

/// <summary>
/// The plain double-precision reference of the readout, written from the formulas (research notes §3.1)
/// and never shared with the code under test. Per-edge data are in the batch's own edge order.
/// </summary>
public static class ForceStressOracle
{
    public const double EvPerA3InGpa = 160.21766208;

    public sealed record Result(double[] Forces, double[] ForceBound, double[] Sigma, double[] SigmaBound, double[] AtomVirial);

    /// <summary>g_e from the quantity as fed to the kernel (fp32 values), r_e in double.</summary>
    public static Result Compute(AtomicBatch b, ForceStressMode mode, float[] quantity) => Compute(b, mode, i => quantity[i]);

    /// <summary>Direct mode with s_e given in double (e.g. the readout head's w·h_e + b evaluated exactly).</summary>
    public static Result ComputeDirect(AtomicBatch b, double[] s) => Compute(b, ForceStressMode.Direct, i => s[i]);

    private static Result Compute(AtomicBatch b, ForceStressMode mode, Func<int, double> quantity)
    {
        var f = new double[3 * b.NumAtoms];
        var fb = new double[3 * b.NumAtoms];
        var sigma = new double[9 * b.NumGraphs];
        var sb = new double[9 * b.NumGraphs];
        var aw = new double[9 * b.NumAtoms];
        for (int e = 0; e < b.NumEdges; e++)
        {
            var edge = b.Edges[e];
            var r = b.EdgeVector(edge, b.Positions, b.Cells);
            var g = new double[3];
            if (mode == ForceStressMode.Direct)
            {
                double n = AtomicBatch.Norm(r);
                for (int k = 0; k < 3; k++) g[k] = n > 0 ? quantity(e) * r[k] / n : 0;
            }
            else
            {
                for (int k = 0; k < 3; k++) g[k] = quantity((3 * e) + k);
            }

            for (int k = 0; k < 3; k++)
            {
                f[(3 * edge.Src) + k] += g[k];
                f[(3 * edge.Dst) + k] -= g[k];
                fb[(3 * edge.Src) + k] += Math.Abs(g[k]);
                fb[(3 * edge.Dst) + k] += Math.Abs(g[k]);
            }

            int gr = b.GraphOf(edge.Src);
            for (int a = 0; a < 3; a++)
            {
                for (int c = 0; c < 3; c++)
                {
                    double t = r[a] * g[c];
                    sigma[(9 * gr) + (3 * a) + c] += t;
                    sb[(9 * gr) + (3 * a) + c] += Math.Abs(t);
                    aw[(9 * edge.Src) + (3 * a) + c] -= 0.5 * t;
                    aw[(9 * edge.Dst) + (3 * a) + c] -= 0.5 * t;
                }
            }
        }

        return new Result(f, fb, sigma, sb, aw);
    }

    /// <summary>Per-structure 3x3 output (stress, GPa stress or virial) from Σ r ⊗ g.</summary>
    public static double[] Tensor(AtomicBatch b, int graph, double[] sigma, StressOutput output)
    {
        var t = new double[9];
        for (int k = 0; k < 9; k++)
        {
            double s = sigma[(9 * graph) + k];
            t[k] = output switch
            {
                StressOutput.Virial => -s,
                _ when !b.Periodic[graph] => 0,
                StressOutput.StressGpa => EvPerA3InGpa * s / b.Volume(graph),
                _ => s / b.Volume(graph),
            };
        }

        return t;
    }

    /// <summary>The layout tables, written out: (row, column) of each Voigt slot.</summary>
    public static readonly Dictionary<StressLayout, (int A, int B)[]> VoigtTables = new()
    {
        [StressLayout.VoigtAse] = new[] { (0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1) },
        [StressLayout.VoigtLammps] = new[] { (0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2) },
        [StressLayout.VoigtSevenNet] = new[] { (0, 0), (1, 1), (2, 2), (0, 1), (1, 2), (2, 0) },
    };

    public static double[] Layout(double[] t, StressLayout layout)
    {
        if (layout == StressLayout.Tensor) return (double[])t.Clone();
        return VoigtTables[layout].Select(p => 0.5 * (t[(3 * p.A) + p.B] + t[(3 * p.B) + p.A])).ToArray();
    }
}
