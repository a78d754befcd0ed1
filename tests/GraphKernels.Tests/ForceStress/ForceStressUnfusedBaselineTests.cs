using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.ForceStressTests;

/// <summary>
/// The benchmark's unfused baseline (gk_force_stress_unfused_baseline: g written, atomics scatter, graph
/// reduce) computes the same forces and stress as the fused readout, so bench/ForceStressBenchmark.cs
/// compares equal work. Direct mode from edge vectors, 3x3 stress, every structure periodic.
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[Category("ForceStress")]
public sealed class ForceStressUnfusedBaselineTests
{
    private readonly DeviceKind kind;
    private GraphDevice? device;

    public ForceStressUnfusedBaselineTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    /// <summary>Three periodic structures: a small triclinic cell (many self-image edges), a 16-atom supercell, a 4-atom cell.</summary>
    private static AtomicBatch PeriodicBatch()
    {
        var b = new AtomicBatch();
        b.Add(new[] { 2.1, 0.0, 0.0, 0.5, 2.0, 0.0, -0.3, 0.4, 2.2 }, true,
            new[] { new[] { 0.05, 0.1, 0.0 }, new[] { 0.52, 0.45, 0.4 }, new[] { 0.2, 0.8, 0.7 } }, 2.5, 3);
        var frac = new List<double[]>();
        for (int x = 0; x < 2; x++)
            for (int y = 0; y < 2; y++)
                for (int z = 0; z < 2; z++)
                {
                    frac.Add(new[] { (x + 0.03) / 2, (y + 0.07) / 2, (z + 0.01) / 2 });
                    frac.Add(new[] { (x + 0.52) / 2, (y + 0.46) / 2, (z + 0.55) / 2 });
                }

        b.Add(new[] { 4.6, 0.0, 0.0, 1.1, 4.3, 0.0, -0.6, 0.7, 4.8 }, true, frac, 2.5, 1);
        b.Add(new[] { 3.0, 0.2, 0.0, 0.0, 3.1, 0.3, 0.4, 0.0, 2.9 }, true,
            new[] { new[] { 0.1, 0.2, 0.3 }, new[] { 0.6, 0.1, 0.5 }, new[] { 0.3, 0.7, 0.2 }, new[] { 0.8, 0.6, 0.9 } }, 2.5, 2);
        return b;
    }

    [Test]
    public void UnfusedBaselineMatchesFusedReadout()
    {
        var batch = PeriodicBatch();
        using var runner = new ForceStressRunner(Device, batch);
        var topo = runner.Topology;
        var rng = new Random(5);
        float[] s = Enumerable.Range(0, batch.NumEdges).Select(_ => (float)((rng.NextDouble() * 2) - 1)).ToArray();
        var options = new ForceStressOptions { Mode = ForceStressMode.Direct, Layout = StressLayout.Tensor, Output = StressOutput.Stress };
        var fused = runner.Run(s, options, GeometrySource.EdgeVectors);

        float[] r = runner.EdgeVectorsF32();
        using var rDev = Device.Upload<float>(topo.SortEdgeData<float>(r, 3));
        using var cell = Device.Upload<float>(batch.Cells.Select(v => (float)v).ToArray());
        using var sDev = Device.Upload<float>(topo.SortEdgeData<float>(s, 1));
        using var g = Device.Allocate<float>(3L * batch.NumEdges);
        using var forces = Device.Allocate<float>(3L * batch.NumAtoms);
        using var stress = Device.Allocate<float>(9L * batch.NumGraphs);
        forces.Fill(float.NaN);
        stress.Fill(float.NaN);
        ForceStress.UnfusedBaseline(topo, rDev, cell, sDev, g, forces, stress);
        Device.Synchronize();
        float[] fu = forces.ToArray(), su = stress.ToArray();

        // Bounds: Σ|g_e| = Σ|s_e| over the edges touching an atom; Σ|r_e||s_e| / V per structure.
        var forceBound = new double[batch.NumAtoms];
        var stressBound = new double[batch.NumGraphs];
        for (int e = 0; e < batch.NumEdges; e++)
        {
            var edge = batch.Edges[e];
            forceBound[edge.Src] += Math.Abs(s[e]);
            forceBound[edge.Dst] += Math.Abs(s[e]);
            double rn = Math.Sqrt((r[3 * e] * (double)r[3 * e]) + (r[(3 * e) + 1] * (double)r[(3 * e) + 1]) + (r[(3 * e) + 2] * (double)r[(3 * e) + 2]));
            stressBound[batch.GraphOf(edge.Src)] += rn * Math.Abs(s[e]) / batch.Volume(batch.GraphOf(edge.Src));
        }

        Assert.That(stressBound.All(v => v > 0) && batch.NumGraphs == 3, "every structure has edges");
        Assert.Multiple(() =>
        {
            // Both sum the same fp32 g_e (same ops) in fp32, in different orders: a few ulps of Σ|g|.
            for (int i = 0; i < fu.Length; i++)
            {
                double tol = (4e-6 * forceBound[i / 3]) + 1e-7;
                if (!(Math.Abs(fu[i] - fused.Forces[i]) <= tol))
                {
                    Assert.Fail($"F[{i / 3}][{i % 3}]: unfused {fu[i]:R}, fused {fused.Forces[i]:R} (tol {tol:E2})");
                }
            }

            // fp64 sums of r ⊗ g (unfused: r_a * fp32 g_b; fused: c * (r_a r_b)), written as fp32.
            for (int k = 0; k < su.Length; k++)
            {
                double tol = (4e-6 * stressBound[k / 9]) + 1e-9;
                if (!(Math.Abs(su[k] - fused.Stress[k]) <= tol))
                {
                    Assert.Fail($"stress[{k / 9}][{k % 9}]: unfused {su[k]:R}, fused {fused.Stress[k]:R} (tol {tol:E2})");
                }
            }
        });
    }
}
