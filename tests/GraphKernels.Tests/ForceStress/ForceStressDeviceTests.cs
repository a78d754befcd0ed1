using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.ForceStressTests;

/// <summary>
/// The force/stress readout on one device: against the double oracle, against finite differences of a
/// Lennard-Jones and a Morse energy (forces from positions, stress from strain) on a triclinic cell
/// smaller than twice the cutoff, and physical identities. The same fixture runs on the CPU emulation
/// (always) and on a CUDA device (skipped with the reason where there is none).
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[TestFixture(DeviceKind.Ilgpu, Category = "Ilgpu")]
[Category("ForceStress")]
[Parallelizable(ParallelScope.All)]
public sealed class ForceStressDeviceTests
{
    private static readonly AtomicBatch Molecular = AtomicBatch.MolecularBatch(24, 2.5, seed: 17);

    private readonly DeviceKind kind;
    private GraphDevice? device;

    public ForceStressDeviceTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    private static float[] RandomQuantity(AtomicBatch b, ForceStressMode mode, int seed)
    {
        var rng = new Random(seed);
        int n = b.NumEdges * (mode == ForceStressMode.Direct ? 1 : 3);
        return Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() * 2) - 1)).ToArray();
    }

    private static void AssertMatches(AtomicBatch b, ForceStressOracle.Result want, ForceStressRunner.Output got, ForceStressOptions o, string what)
    {
        Assert.Multiple(() =>
        {
            for (int i = 0; i < want.Forces.Length; i++)
            {
                // fp32 accumulation and fp32 r_e: error bounded by a few ulps of Σ|g| per atom.
                double tol = (2e-6 * want.ForceBound[i]) + 1e-7;
                if (!(Math.Abs(got.Forces[i] - want.Forces[i]) <= tol))
                {
                    Assert.Fail($"{what}: F[{i / 3}][{i % 3}] = {got.Forces[i]:R}, want {want.Forces[i]:R} (tol {tol:E2})");
                }
            }

            int w = o.TensorWidth;
            for (int g = 0; g < b.NumGraphs; g++)
            {
                var t = ForceStressOracle.Layout(ForceStressOracle.Tensor(b, g, want.Sigma, o.Output), o.Layout);
                var bound = ForceStressOracle.Layout(ForceStressOracle.Tensor(b, g, want.SigmaBound, o.Output), o.Layout);
                for (int k = 0; k < w; k++)
                {
                    // r_e in fp32 (a few ulps) times g, summed in fp64, written as fp32.
                    double tol = (1e-6 * Math.Abs(bound[k])) + (1e-7 * Math.Abs(t[k])) + 1e-12;
                    if (!(Math.Abs(got.Stress[(w * g) + k] - t[k]) <= tol))
                    {
                        Assert.Fail($"{what}: stress[{g}][{k}] = {got.Stress[(w * g) + k]:R}, want {t[k]:R} (tol {tol:E2})");
                    }
                }
            }

            if (got.AtomVirial is not null)
            {
                for (int i = 0; i < b.NumAtoms; i++)
                {
                    var t = ForceStressOracle.Layout(want.AtomVirial.Skip(9 * i).Take(9).ToArray(), o.Layout);
                    for (int k = 0; k < w; k++)
                    {
                        double tol = (2e-6 * (Math.Abs(t[k]) + 1)) + 1e-7;
                        if (!(Math.Abs(got.AtomVirial[(w * i) + k] - t[k]) <= tol))
                        {
                            Assert.Fail($"{what}: atomVirial[{i}][{k}] = {got.AtomVirial[(w * i) + k]:R}, want {t[k]:R}");
                        }
                    }
                }
            }
        });
    }

    public static IEnumerable<TestCaseData> OracleCases()
    {
        int n = 0;
        foreach (var mode in new[] { ForceStressMode.Conservative, ForceStressMode.Direct })
        {
            foreach (var source in new[] { GeometrySource.EdgeVectors, GeometrySource.Positions })
            {
                foreach (var index in new[] { IndexType.Int32, IndexType.Int64 })
                {
                    var layout = (StressLayout)(n % 4);
                    var output = (StressOutput)(n % 3);
                    bool av = n % 2 == 1;
                    n++;
                    yield return new TestCaseData(mode, source, index, layout, output, av)
                        .SetArgDisplayNames(mode.ToString(), source.ToString(), index.ToString(), layout.ToString(), output.ToString(), av ? "atomVirial" : "noAtomVirial");
                }
            }
        }
    }

    /// <summary>A molecular batch (24 molecules and one 16-atom triclinic crystal) with random g_e / s_e, against the oracle.</summary>
    [TestCaseSource(nameof(OracleCases))]
    public void MatchesOracleOnMolecularBatch(ForceStressMode mode, GeometrySource source, IndexType index, StressLayout layout, StressOutput output, bool atomVirial)
    {
        var b = Molecular;
        Assert.That(b.NumGraphs, Is.EqualTo(25));
        Assert.That(b.Periodic.Count(p => p), Is.EqualTo(1));
        using var run = new ForceStressRunner(Device, b, index);
        var q = RandomQuantity(b, mode, 1000 + (int)mode);
        var o = new ForceStressOptions { Mode = mode, Layout = layout, Output = output };
        var got = run.Run(q, o, source, atomVirial);
        AssertMatches(b, ForceStressOracle.Compute(b, mode, q), got, o, $"{mode}/{source}/{index}/{layout}/{output}");
    }

    /// <summary>Σ_i F_i = 0 over the atoms of every structure (Newton's third law by construction).</summary>
    [TestCase(ForceStressMode.Conservative)]
    [TestCase(ForceStressMode.Direct)]
    public void NetForceIsZeroPerStructure(ForceStressMode mode)
    {
        var b = Molecular;
        using var run = new ForceStressRunner(Device, b);
        var q = RandomQuantity(b, mode, 7);
        var got = run.Run(q, new ForceStressOptions { Mode = mode }, GeometrySource.Positions);
        var want = ForceStressOracle.Compute(b, mode, q);
        for (int g = 0; g < b.NumGraphs; g++)
        {
            for (int k = 0; k < 3; k++)
            {
                double sum = 0, bound = 0;
                for (long i = b.GraphAtomPtr[g]; i < b.GraphAtomPtr[g + 1]; i++)
                {
                    sum += got.Forces[(3 * i) + k];
                    bound += want.ForceBound[(3 * i) + k];
                }

                Assert.That(Math.Abs(sum), Is.LessThanOrEqualTo((2e-6 * bound) + 1e-7), $"structure {g}, component {k}: ΣF = {sum}");
            }
        }
    }

    public static IEnumerable<TestCaseData> PhysicsCases()
    {
        foreach (PairPotential p in new PairPotential[] { new LennardJones(), new Morse() })
        {
            foreach (var mode in new[] { ForceStressMode.Conservative, ForceStressMode.Direct })
            {
                foreach (var source in new[] { GeometrySource.EdgeVectors, GeometrySource.Positions })
                {
                    yield return new TestCaseData(p, mode, source).SetArgDisplayNames(p.ToString(), mode.ToString(), source.ToString());
                }
            }
        }
    }

    private static float[] PotentialQuantity(AtomicBatch b, PairPotential p, ForceStressMode mode)
    {
        var (g, s) = b.EdgeGradients(p);
        return (mode == ForceStressMode.Direct ? s : g).Select(v => (float)v).ToArray();
    }

    /// <summary>
    /// Forces equal −dE/dx by central differences of the pair energy, on a triclinic cell whose edges
    /// (2.1-2.3 Å) are shorter than 2 r_c, so atoms see their own periodic images.
    /// </summary>
    [TestCaseSource(nameof(PhysicsCases))]
    public void ForcesMatchFiniteDifferencesOfTheEnergy(PairPotential p, ForceStressMode mode, GeometrySource source)
    {
        var b = AtomicBatch.SmallTriclinic(p.Cutoff);
        Assert.That(b.SelfImageEdges, Is.GreaterThan(10), "the cell must be small enough for self-image edges");
        using var run = new ForceStressRunner(Device, b);
        var got = run.Run(PotentialQuantity(b, p, mode), new ForceStressOptions { Mode = mode }, source);
        var bound = ForceStressOracle.Compute(b, mode, PotentialQuantity(b, p, mode)).ForceBound;
        const double h = 1e-5;
        for (int i = 0; i < b.NumAtoms; i++)
        {
            for (int k = 0; k < 3; k++)
            {
                var plus = b.Positions.ToArray();
                var minus = b.Positions.ToArray();
                plus[(3 * i) + k] += h;
                minus[(3 * i) + k] -= h;
                double fd = -(b.Energy(p, plus, b.Cells) - b.Energy(p, minus, b.Cells)) / (2 * h);
                // fp32 g_e, r_e and accumulation: a few ulps of Σ|g| over the atom's edges.
                double tol = (2e-6 * bound[(3 * i) + k]) + (1e-6 * Math.Abs(fd)) + 1e-7;
                Assert.That(got.Forces[(3 * i) + k], Is.EqualTo(fd).Within(tol), $"F[{i}][{k}]");
            }
        }

        Assert.That(got.Forces.Select(Math.Abs).Max(), Is.GreaterThan(0.05), "forces must not be trivially zero");
    }

    /// <summary>σ_ab = (1/V) ∂E/∂ε_ab by central differences of the energy under x → x(I+ε), L → L(I+ε).</summary>
    [TestCaseSource(nameof(PhysicsCases))]
    public void StressMatchesStrainFiniteDifferences(PairPotential p, ForceStressMode mode, GeometrySource source)
    {
        var b = AtomicBatch.SmallTriclinic(p.Cutoff);
        using var run = new ForceStressRunner(Device, b);
        var got = run.Run(PotentialQuantity(b, p, mode), new ForceStressOptions { Mode = mode }, source);
        double v = b.Volume(0);
        const double h = 1e-6;
        var want = new double[9];
        for (int a = 0; a < 3; a++)
        {
            for (int c = 0; c < 3; c++)
            {
                double ep = b.Energy(p, Strain(b.Positions, a, c, h), Strain(b.Cells, a, c, h));
                double em = b.Energy(p, Strain(b.Positions, a, c, -h), Strain(b.Cells, a, c, -h));
                want[(3 * a) + c] = (ep - em) / (2 * h) / v;
            }
        }

        double scale = want.Max(Math.Abs);
        Assert.That(scale, Is.GreaterThan(1e-3), "stress must not be trivially zero");
        for (int k = 0; k < 9; k++)
        {
            Assert.That(got.Stress[k], Is.EqualTo(want[k]).Within(2e-5 * scale), $"stress[{k / 3}][{k % 3}]");
        }
    }

    /// <summary>Rows (x, y, z) → rows · (I + ε) with only ε_ac = h.</summary>
    private static double[] Strain(IReadOnlyList<double> rows, int a, int c, double h)
    {
        var r = rows.ToArray();
        for (int i = 0; i < r.Length; i += 3)
        {
            r[i + c] += rows[i + a] * h;
        }

        return r;
    }

    /// <summary>In direct mode r ⊗ g = s|r| r̂ r̂ᵀ: the kernel's stress is symmetric to the bit.</summary>
    [Test]
    public void DirectModeStressIsExactlySymmetric()
    {
        var b = Molecular;
        using var run = new ForceStressRunner(Device, b);
        var got = run.Run(RandomQuantity(b, ForceStressMode.Direct, 3), new ForceStressOptions { Mode = ForceStressMode.Direct, Output = StressOutput.Virial }, GeometrySource.Positions);
        for (int g = 0; g < b.NumGraphs; g++)
        {
            var s = got.Stress.AsSpan(9 * g, 9);
            Assert.That(s[1], Is.EqualTo(s[3]), $"graph {g} xy");
            Assert.That(s[2], Is.EqualTo(s[6]), $"graph {g} xz");
            Assert.That(s[5], Is.EqualTo(s[7]), $"graph {g} yz");
        }

        Assert.That(got.Stress.Any(x => x != 0), Is.True);
    }

    /// <summary>Deterministic mode: ten runs give the same bits (forces, stress, per-atom virial).</summary>
    [TestCase(ForceStressMode.Conservative, GeometrySource.EdgeVectors)]
    [TestCase(ForceStressMode.Direct, GeometrySource.Positions)]
    public void TenRunsAreBitwiseIdentical(ForceStressMode mode, GeometrySource source)
    {
        var b = Molecular;
        using var run = new ForceStressRunner(Device, b);
        var q = RandomQuantity(b, mode, 5);
        var o = new ForceStressOptions { Mode = mode, Layout = StressLayout.VoigtAse };
        var first = run.Run(q, o, source, atomVirial: true);
        for (int i = 1; i < 10; i++)
        {
            var again = run.Run(q, o, source, atomVirial: true);
            Assert.That(again.Forces.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(first.Forces.Select(BitConverter.SingleToInt32Bits)), $"run {i}: forces");
            Assert.That(again.Stress.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(first.Stress.Select(BitConverter.SingleToInt32Bits)), $"run {i}: stress");
            Assert.That(again.AtomVirial!.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(first.AtomVirial!.Select(BitConverter.SingleToInt32Bits)), $"run {i}: atom virial");
        }
    }

    /// <summary>
    /// One edge pair with r = (1, 2, 3) → g = (4, 5, 6)... written out by hand: Σ r ⊗ g over the two
    /// directed edges (r, g) and (−r, −g) is 2 r ⊗ g; V = 2 (cell diag(1, 1, 2)); so σ = r ⊗ g.
    /// </summary>
    [TestCase(StressLayout.Tensor, StressOutput.Stress, new double[] { 4, 5, 6, 8, 10, 12, 12, 15, 18 })]
    [TestCase(StressLayout.VoigtAse, StressOutput.Stress, new double[] { 4, 10, 18, 13.5, 9, 6.5 })]
    [TestCase(StressLayout.VoigtLammps, StressOutput.Stress, new double[] { 4, 10, 18, 6.5, 9, 13.5 })]
    [TestCase(StressLayout.VoigtSevenNet, StressOutput.Stress, new double[] { 4, 10, 18, 6.5, 13.5, 9 })]
    [TestCase(StressLayout.VoigtAse, StressOutput.Virial, new double[] { -8, -20, -36, -27, -18, -13 })]
    [TestCase(StressLayout.VoigtLammps, StressOutput.StressGpa, new double[] { 640.87064832, 1602.1766208, 2883.91791744, 1041.41480352, 1441.95895872, 2162.93843808 })]
    public void VoigtOrderSignAndUnitTable(StressLayout layout, StressOutput output, double[] expected)
    {
        var b = new AtomicBatch();
        b.Add(new double[] { 1, 0, 0, 0, 1, 0, 0, 0, 2 }, true, new[] { new[] { 0.0, 0.0, 0.0 }, new[] { 1.0, 2.0, 1.5 } }, 0, 0);  // fractional: Cartesian (1, 2, 3)
        b.Edges.Add(new AtomEdge(0, 1, 0, 0, 0));
        b.Edges.Add(new AtomEdge(1, 0, 0, 0, 0));
        using var run = new ForceStressRunner(Device, b);
        var got = run.Run(new float[] { 4, 5, 6, -4, -5, -6 }, new ForceStressOptions { Layout = layout, Output = output });
        Assert.That(got.Stress.Select(x => (double)x), Is.EqualTo(expected).Within(1e-5).Percent);
        Assert.That(got.Forces, Is.EqualTo(new float[] { 8, 10, 12, -8, -10, -12 }));
    }

    /// <summary>
    /// ASE sign: a stretched spring (E = ½k(|r| − 1)², |r| = 1.2) pulls inwards, the cell wants to shrink,
    /// so the stress is positive (tensile) and the LAMMPS virial negative; forces pull the atoms together.
    /// </summary>
    [Test]
    public void StretchedSpringGivesTensileStress()
    {
        var b = new AtomicBatch();
        b.Add(new double[] { 10, 0, 0, 0, 10, 0, 0, 0, 10 }, true, new[] { new[] { 0.1, 0.1, 0.1 }, new[] { 0.22, 0.1, 0.1 } }, 1.5, 1);
        Assert.That(b.NumEdges, Is.EqualTo(2));
        const double k = 2.0;
        var q = new float[2];
        for (int e = 0; e < 2; e++)
        {
            double r = AtomicBatch.Norm(b.EdgeVector(b.Edges[e], b.Positions, b.Cells));
            q[e] = (float)(0.5 * k * (r - 1.0));   // s_e = dE/d|r_e| of ½ · ½k(|r|−1)² per directed edge
        }

        using var run = new ForceStressRunner(Device, b);
        var stress = run.Run(q, new ForceStressOptions { Mode = ForceStressMode.Direct, Layout = StressLayout.VoigtAse });
        var virial = run.Run(q, new ForceStressOptions { Mode = ForceStressMode.Direct, Layout = StressLayout.VoigtAse, Output = StressOutput.Virial });
        Assert.That(stress.Stress[0], Is.EqualTo(2 * 0.5 * k * 0.2 * 1.2 / 1000).Within(1e-4).Percent, "σ_xx = Σ r g / V > 0");
        Assert.That(virial.Stress[0], Is.EqualTo(-2 * 0.5 * k * 0.2 * 1.2).Within(1e-4).Percent, "W_xx = −σ_xx V < 0");
        Assert.That(stress.Forces[0], Is.GreaterThan(0), "atom 0 (left) is pulled right");
        Assert.That(stress.Forces[3], Is.LessThan(0), "atom 1 (right) is pulled left");
    }

    /// <summary>A left-handed description of the same lattice (two rows swapped, det &lt; 0) gives the same stress: |det| is used.</summary>
    [Test]
    public void LeftHandedCellGivesTheSameStress()
    {
        var b = AtomicBatch.SmallTriclinic(2.5);
        using var run = new ForceStressRunner(Device, b);
        var q = PotentialQuantity(b, new LennardJones(), ForceStressMode.Conservative);
        var right = run.Run(q, default);
        var cells = b.Cells.Select(v => (float)v).ToArray();
        for (int k = 0; k < 3; k++) (cells[k], cells[3 + k]) = (cells[3 + k], cells[k]);
        var left = run.Run(q, default, geometry: run.Geometry(GeometrySource.EdgeVectors, cells));
        Assert.That(left.Stress, Is.EqualTo(right.Stress).Within(1e-6).Percent);
        Assert.That(right.Stress.Select(Math.Abs).Max(), Is.GreaterThan(1e-3));
    }

    /// <summary>The per-atom virials of a structure sum to its virial; molecules get zero stress but a virial.</summary>
    [Test]
    public void AtomVirialSumsToTheVirialAndMoleculesHaveZeroStress()
    {
        var b = Molecular;
        using var run = new ForceStressRunner(Device, b);
        var q = RandomQuantity(b, ForceStressMode.Conservative, 9);
        var virial = run.Run(q, new ForceStressOptions { Output = StressOutput.Virial }, GeometrySource.Positions, atomVirial: true);
        var stress = run.Run(q, default, GeometrySource.Positions);
        var want = ForceStressOracle.Compute(b, ForceStressMode.Conservative, q);
        for (int g = 0; g < b.NumGraphs; g++)
        {
            for (int k = 0; k < 9; k++)
            {
                double sum = 0;
                for (long i = b.GraphAtomPtr[g]; i < b.GraphAtomPtr[g + 1]; i++) sum += virial.AtomVirial![(9 * i) + k];
                Assert.That(sum, Is.EqualTo(virial.Stress[(9 * g) + k]).Within((2e-6 * want.SigmaBound[(9 * g) + k]) + 1e-6), $"graph {g} [{k}]");
                if (!b.Periodic[g])
                {
                    Assert.That(stress.Stress[(9 * g) + k], Is.EqualTo(0f), $"molecule {g} stress");
                }
            }
        }

        Assert.That(virial.Stress.Count(x => x != 0), Is.GreaterThan(9 * (b.NumGraphs - 2)), "virials of molecules are computed");
    }

    /// <summary>The readout on a created stream, forces only (no stress, no workspace) equals the full call's forces.</summary>
    [Test]
    public void ForcesOnlyOnACreatedStream()
    {
        var b = Molecular;
        using var run = new ForceStressRunner(Device, b);
        var q = RandomQuantity(b, ForceStressMode.Direct, 4);
        var o = new ForceStressOptions { Mode = ForceStressMode.Direct };
        var full = run.Run(q, o, GeometrySource.Positions);
        using var stream = Device.CreateStream();
        using var qd = Device.Upload<float>(run.Topology.SortEdgeData<float>(q, 1));
        using var f = Device.Allocate<float>(3L * b.NumAtoms);
        ForceStress.Readout(run.Topology, run.Geometry(GeometrySource.Positions), qd, f, null, o, stream: stream);
        stream.Synchronize();
        Assert.That(f.ToArray(), Is.EqualTo(full.Forces));
    }
}
