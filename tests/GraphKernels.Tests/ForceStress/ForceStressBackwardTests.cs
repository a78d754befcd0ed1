using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.ForceStressTests;

/// <summary>
/// The backward of the readout against central finite differences of a scalar loss
/// L = Σ G·F + Σ H:out (random G, H; out the per-structure output exactly as the forward writes it)
/// evaluated in double by a forward written here from the formulas; and fast mode (GK_FS_FAST) against
/// the deterministic mode. Emulated device always, CUDA device when there is one.
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[TestFixture(DeviceKind.Ilgpu, Category = "Ilgpu")]
[Category("ForceStress")]
[Parallelizable(ParallelScope.All)]
public sealed class ForceStressBackwardTests
{
    // 4 molecules and the 16-atom periodic crystal (MolecularBatch puts it after molecule 2).
    private static readonly AtomicBatch Molecular = AtomicBatch.MolecularBatch(4, 2.5, seed: 23);
    private static readonly AtomicBatch Triclinic = AtomicBatch.SmallTriclinic(2.5);

    private readonly DeviceKind kind;
    private GraphDevice? device;

    public ForceStressBackwardTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    private static float[] Random(int count, int seed, double lo = -1, double hi = 1)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)(lo + ((hi - lo) * rng.NextDouble()))).ToArray();
    }

    /// <summary>L(q, r) in double: forces and per-structure outputs from the formulas, then Σ G·F + Σ H:out.</summary>
    internal static double Loss(AtomicBatch b, ForceStressOptions o, double[] q, double[] r, float[] gradF, float[] gradS)
    {
        var f = new double[3 * b.NumAtoms];
        var sigma = new double[9 * b.NumGraphs];
        for (int e = 0; e < b.NumEdges; e++)
        {
            var edge = b.Edges[e];
            var g = new double[3];
            if (o.Mode == ForceStressMode.Direct)
            {
                double n = Math.Sqrt((r[3 * e] * r[3 * e]) + (r[(3 * e) + 1] * r[(3 * e) + 1]) + (r[(3 * e) + 2] * r[(3 * e) + 2]));
                for (int k = 0; k < 3; k++) g[k] = q[e] * r[(3 * e) + k] / n;
            }
            else
            {
                for (int k = 0; k < 3; k++) g[k] = q[(3 * e) + k];
            }

            for (int k = 0; k < 3; k++)
            {
                f[(3 * edge.Src) + k] += g[k];
                f[(3 * edge.Dst) + k] -= g[k];
            }

            int gr = b.GraphOf(edge.Src);
            for (int a = 0; a < 3; a++)
            {
                for (int c = 0; c < 3; c++) sigma[(9 * gr) + (3 * a) + c] += r[(3 * e) + a] * g[c];
            }
        }

        double loss = 0;
        for (int i = 0; i < f.Length; i++) loss += gradF[i] * f[i];
        int w = o.TensorWidth;
        for (int gr = 0; gr < b.NumGraphs; gr++)
        {
            var t = ForceStressOracle.Layout(ForceStressOracle.Tensor(b, gr, sigma, o.Output), o.Layout);
            for (int k = 0; k < w; k++) loss += gradS[(w * gr) + k] * t[k];
        }

        return loss;
    }

    private static double CentralDifference(Func<double> eval, double[] x, int i, double h)
    {
        double x0 = x[i];
        x[i] = x0 + h;
        double up = eval();
        x[i] = x0 - h;
        double down = eval();
        x[i] = x0;
        return (up - down) / (2 * h);
    }

    public static IEnumerable<TestCaseData> Cases()
    {
        int n = 0;
        foreach (string batch in new[] { "triclinic", "molecular" })
        {
            foreach (var mode in new[] { ForceStressMode.Conservative, ForceStressMode.Direct })
            {
                foreach (var source in new[] { GeometrySource.EdgeVectors, GeometrySource.Positions })
                {
                    var layout = (StressLayout)(n % 4);
                    var output = (StressOutput)((n / 2) % 3);
                    n++;
                    yield return new TestCaseData(batch, mode, source, layout, output)
                        .SetArgDisplayNames(batch, mode.ToString(), source.ToString(), layout.ToString(), output.ToString());
                }
            }
        }

        // The transposes and the Voigt halves are only visible with an asymmetric Σ: conservative, 3x3 and every Voigt order.
        foreach (var layout in new[] { StressLayout.Tensor, StressLayout.VoigtAse, StressLayout.VoigtLammps, StressLayout.VoigtSevenNet })
        {
            yield return new TestCaseData("triclinic", ForceStressMode.Conservative, GeometrySource.EdgeVectors, layout, StressOutput.StressGpa)
                .SetArgDisplayNames("triclinic", "Conservative", "EdgeVectors", layout.ToString(), "StressGpa", "all-layouts");
        }
    }

    /// <summary>
    /// dL/dq (q = g_e or s_e) and dL/dr_e from the kernel against central differences (h = 1e-4 in double) of L.
    /// L is linear in g and smooth in r (|r| ≥ 0.9 Å here), so the FD truncation error is O(h²·L''') ≲ 1e-8 of the
    /// gradient scale and its rounding error ~1e-16·|L|/h ≲ 1e-11; the kernel computes each gradient entry in fp32
    /// from fp32 G, H, r, g with a handful of roundings, each ≤ 6e-8 of the largest term
    /// S = 2 max|G| + 3 max|K| max|r| (for dL/dr: + 3 max|K| max|g| + 2 max|s/r| S), so tol = 1e-6 · S (≈ 16 ulps of S).
    /// A wrong sign, a missing transpose, a missing Voigt ½ or a wrong 1/V moves an entry by O(max|K| |r|) ≫ tol.
    /// </summary>
    [TestCaseSource(nameof(Cases))]
    public void BackwardMatchesFiniteDifferencesOfTheForward(string batch, ForceStressMode mode, GeometrySource source, StressLayout layout, StressOutput output)
    {
        var b = batch == "triclinic" ? Triclinic : Molecular;
        Assert.That(b.NumGraphs, Is.EqualTo(batch == "triclinic" ? 1 : 5));
        var o = new ForceStressOptions { Mode = mode, Layout = layout, Output = output };
        int qw = mode == ForceStressMode.Direct ? 1 : 3;
        int w = o.TensorWidth;
        var q = Random(qw * b.NumEdges, 11 + (int)mode, mode == ForceStressMode.Direct ? 0.2 : -1, 1);
        var gradF = Random(3 * b.NumAtoms, 12);
        var gradS = Random(w * b.NumGraphs, 13);

        using var run = new ForceStressRunner(Device, b);
        var topo = run.Topology;
        float[] r32 = run.EdgeVectorsF32();
        var geometry = run.Geometry(source);
        using var qd = Device.Upload<float>(topo.SortEdgeData<float>(q, qw));
        using var gf = Device.Upload<float>(gradF);
        using var gs = Device.Upload<float>(gradS);
        using var gq = Device.Allocate<float>((long)qw * b.NumEdges);
        using var gr = Device.Allocate<float>(3L * b.NumEdges);
        gq.Fill(float.NaN);
        gr.Fill(float.NaN);
        ForceStress.Backward(topo, geometry, qd, gf, gs, gq, o, gr);
        Device.Synchronize();
        float[] gotQ = gq.ToArray(), gotR = gr.ToArray();

        // Deterministic: a second run gives the same bits.
        ForceStress.Backward(topo, geometry, qd, gf, gs, gq, o, gr);
        Device.Synchronize();
        Assert.That(gq.ToArray(), Is.EqualTo(gotQ), "backward dL/dq differs between two runs");
        Assert.That(gr.ToArray(), Is.EqualTo(gotR), "backward dL/dr differs between two runs");

        double[] qx = q.Select(v => (double)v).ToArray();
        double[] rx = r32.Select(v => (double)v).ToArray();
        double Eval() => Loss(b, o, qx, rx, gradF, gradS);

        // The scale S of the gradient terms (see the summary).
        double maxG = gradF.Max(Math.Abs), maxR = r32.Max(Math.Abs), maxK = 0, maxC = 0;
        for (int g = 0; g < b.NumGraphs; g++)
        {
            double c = output == StressOutput.Virial ? 1 : !b.Periodic[g] ? 0 : (output == StressOutput.StressGpa ? ForceStressOracle.EvPerA3InGpa : 1) / b.Volume(g);
            for (int k = 0; k < w; k++) maxK = Math.Max(maxK, c * Math.Abs(gradS[(w * g) + k]));
        }

        if (mode == ForceStressMode.Direct)
        {
            for (int e = 0; e < b.NumEdges; e++)
            {
                double n = Math.Sqrt((rx[3 * e] * rx[3 * e]) + (rx[(3 * e) + 1] * rx[(3 * e) + 1]) + (rx[(3 * e) + 2] * rx[(3 * e) + 2]));
                maxC = Math.Max(maxC, Math.Abs(q[e]) / n);
            }
        }

        double scaleU = (2 * maxG) + (3 * maxK * maxR);
        double tolQ = 1e-6 * scaleU;
        // dL/dr = K g (|.| ≤ 3 max|K| max|g|, max|g| ≤ max|q|) + (s/|r|)(u − (u·r̂) r̂) (|.| ≤ 2 max|s/r| S).
        double tolR = 1e-6 * ((3 * maxK * q.Max(Math.Abs)) + (2 * maxC * scaleU) + scaleU);
        const double h = 1e-4;
        int checkedEntries = 0;
        Assert.Multiple(() =>
        {
            for (int p = 0; p < b.NumEdges; p++)
            {
                int e = topo.EdgeOrder[p];
                for (int k = 0; k < qw; k++)
                {
                    double fd = CentralDifference(Eval, qx, (qw * e) + k, h);
                    double got = gotQ[(qw * p) + k];
                    if (!(Math.Abs(got - fd) <= tolQ)) Assert.Fail($"dL/dq[{e}][{k}] = {got:R}, finite difference {fd:R} (tol {tolQ:E2})");
                    checkedEntries++;
                }

                for (int k = 0; k < 3; k++)
                {
                    double fd = CentralDifference(Eval, rx, (3 * e) + k, h);
                    double got = gotR[(3 * p) + k];
                    if (!(Math.Abs(got - fd) <= tolR)) Assert.Fail($"dL/dr[{e}][{k}] = {got:R}, finite difference {fd:R} (tol {tolR:E2})");
                }
            }
        });
        Assert.That(checkedEntries, Is.EqualTo(qw * b.NumEdges));
        Assert.That(tolQ, Is.LessThan(1e-3 * gotQ.Max(Math.Abs)), "the tolerance must be far below the gradient's size");
    }

    /// <summary>Without a stress gradient, dL/dg_e is exactly G[src] − G[dst] (one fp32 subtraction).</summary>
    [Test]
    public void ForcesOnlyGradientIsTheAtomDifference()
    {
        var b = Molecular;
        using var run = new ForceStressRunner(Device, b);
        var q = Random(3 * b.NumEdges, 5);
        var gradF = Random(3 * b.NumAtoms, 6);
        using var qd = Device.Upload<float>(run.Topology.SortEdgeData<float>(q, 3));
        using var gf = Device.Upload<float>(gradF);
        using var gq = Device.Allocate<float>(3L * b.NumEdges);
        gq.Fill(float.NaN);
        ForceStress.Backward(run.Topology, run.Geometry(GeometrySource.EdgeVectors), qd, gf, null, gq);
        Device.Synchronize();
        var got = gq.ToArray();
        for (int p = 0; p < b.NumEdges; p++)
        {
            var edge = b.Edges[run.Topology.EdgeOrder[p]];
            for (int k = 0; k < 3; k++)
            {
                Assert.That(got[(3 * p) + k], Is.EqualTo(gradF[(3 * edge.Src) + k] - gradF[(3 * edge.Dst) + k]), $"edge {p} component {k}");
            }
        }
    }

    [Test]
    public void BackwardRefusesFastOptions()
    {
        var b = Triclinic;
        using var run = new ForceStressRunner(Device, b);
        using var q = Device.Allocate<float>(3L * b.NumEdges);
        using var gq = Device.Allocate<float>(3L * b.NumEdges);
        var ex = Assert.Throws<ArgumentException>(() => ForceStress.Backward(run.Topology, run.Geometry(GeometrySource.EdgeVectors), q, null, null, gq,
            new ForceStressOptions { Fast = true }));
        Assert.That(ex!.ParamName, Is.EqualTo("options"));
    }

    /// <summary>
    /// Fast mode (atomics) against the deterministic mode, within 1e-6 relative: forces relative to Σ|g| over
    /// the atom's edges (both are fp32 sums of the same terms in different orders), stress/virial relative
    /// to the value (both sum in fp64 and round once to fp32) plus 1e-10 of Σ|r ⊗ g| for fp64 reordering.
    /// </summary>
    [TestCase(ForceStressMode.Conservative, GeometrySource.EdgeVectors, StressLayout.Tensor, StressOutput.Stress)]
    [TestCase(ForceStressMode.Conservative, GeometrySource.Positions, StressLayout.VoigtAse, StressOutput.Virial)]
    [TestCase(ForceStressMode.Direct, GeometrySource.EdgeVectors, StressLayout.VoigtLammps, StressOutput.StressGpa)]
    [TestCase(ForceStressMode.Direct, GeometrySource.Positions, StressLayout.VoigtSevenNet, StressOutput.Stress)]
    public void FastModeMatchesDeterministicMode(ForceStressMode mode, GeometrySource source, StressLayout layout, StressOutput output)
    {
        var b = AtomicBatch.MolecularBatch(24, 2.5, seed: 17);
        using var run = new ForceStressRunner(Device, b);
        int qw = mode == ForceStressMode.Direct ? 1 : 3;
        var q = Random(qw * b.NumEdges, 31);
        var o = new ForceStressOptions { Mode = mode, Layout = layout, Output = output };
        var det = run.Run(q, o, source, atomVirial: true);
        var fast = run.Run(q, o with { Fast = true }, source, atomVirial: true);
        var want = ForceStressOracle.Compute(b, mode, q);
        int w = o.TensorWidth;
        Assert.Multiple(() =>
        {
            for (int i = 0; i < det.Forces.Length; i++)
            {
                double tol = 1e-6 * want.ForceBound[i];
                if (!(Math.Abs(fast.Forces[i] - det.Forces[i]) <= tol)) Assert.Fail($"F[{i / 3}][{i % 3}]: fast {fast.Forces[i]:R}, deterministic {det.Forces[i]:R} (tol {tol:E2})");
            }

            for (int g = 0; g < b.NumGraphs; g++)
            {
                var bound = ForceStressOracle.Layout(ForceStressOracle.Tensor(b, g, want.SigmaBound, output), layout);
                for (int k = 0; k < w; k++)
                {
                    double d = det.Stress[(w * g) + k];
                    double tol = (1e-6 * Math.Abs(d)) + (1e-10 * Math.Abs(bound[k]));
                    if (!(Math.Abs(fast.Stress[(w * g) + k] - d) <= tol)) Assert.Fail($"stress[{g}][{k}]: fast {fast.Stress[(w * g) + k]:R}, deterministic {d:R} (tol {tol:E2})");
                }
            }

            for (int i = 0; i < det.AtomVirial!.Length; i++)
            {
                double tol = 1e-6 * (Math.Abs(det.AtomVirial[i]) + 1);
                if (!(Math.Abs(fast.AtomVirial![i] - det.AtomVirial[i]) <= tol)) Assert.Fail($"atomVirial[{i}]: fast {fast.AtomVirial[i]:R}, deterministic {det.AtomVirial[i]:R}");
            }
        });
        Assert.That(fast.Stress.Any(v => v != 0), Is.True, "the periodic structure has a non-zero stress");
    }
}
