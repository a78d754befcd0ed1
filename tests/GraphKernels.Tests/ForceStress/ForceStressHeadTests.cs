using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.ForceStressTests;

/// <summary>
/// The fused readout head (s_e = w·h_e + b inside the readout): the forward against the double oracle with
/// s_e evaluated in double here; the head against plain direct mode fed with s_e (bitwise when s_e is formed
/// with the kernel's documented fp32 FMA order, within a stated tolerance when fed the oracle's s_e); the
/// backward (dL/ds, dL/dh, dL/dw, dL/db, dL/dr) against central finite differences of a double forward;
/// 10-run bitwise determinism. Feature rows carry NaN padding beyond C so a read past the channels shows.
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[TestFixture(DeviceKind.Ilgpu, Category = "Ilgpu")]
[Category("ForceStress")]
[Parallelizable(ParallelScope.All)]
public sealed class ForceStressHeadTests
{
    private static readonly AtomicBatch Molecular = AtomicBatch.MolecularBatch(4, 2.5, seed: 23);
    private static readonly AtomicBatch Triclinic = AtomicBatch.SmallTriclinic(2.5);
    private const double U = 1.0 / (1 << 24);   // fp32 unit roundoff

    private readonly DeviceKind kind;
    private GraphDevice? device;

    public ForceStressHeadTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    /// <summary>A head on the host, per-edge rows in the batch's own edge order; padding columns are NaN.</summary>
    private sealed record HostHead(int C, int Ld, float[] H, float[] W, float? B)
    {
        public static HostHead Make(int edges, int c, int ld, bool bias, int seed)
        {
            var rng = new Random(seed);
            var h = new float[edges * ld];
            for (int e = 0; e < edges; e++)
            {
                for (int k = 0; k < ld; k++) h[(e * ld) + k] = k < c ? (float)((rng.NextDouble() * 2) - 1) : float.NaN;
            }

            // w scaled so s_e = O(1) whatever C, positive mean so most edges attract.
            var w = Enumerable.Range(0, c).Select(_ => (float)(((rng.NextDouble() * 2) - 0.6) / Math.Sqrt(c))).ToArray();
            return new HostHead(c, ld, h, w, bias ? (float)(0.25 + rng.NextDouble()) : null);
        }

        /// <summary>s_e = Σ h w + b exactly (double: every product of two fp32 is exact, the sum nearly so).</summary>
        public double[] ExactS(int edges) => Enumerable.Range(0, edges).Select(e =>
        {
            double s = 0;
            for (int k = 0; k < C; k++) s += (double)H[(e * Ld) + k] * W[k];
            return s + (B ?? 0f);
        }).ToArray();

        /// <summary>δ_e: a bound on |fp32 s_e − exact s_e| for C sequential fp32 FMAs then + b: (C + 1) u (Σ|h w| + |b|).</summary>
        public double[] ScalarErrorBound(int edges) => Enumerable.Range(0, edges).Select(e =>
        {
            double a = 0;
            for (int k = 0; k < C; k++) a += Math.Abs((double)H[(e * Ld) + k] * W[k]);
            return (C + 1) * U * (a + Math.Abs(B ?? 0f));
        }).ToArray();

        /// <summary>s_e in fp32 by the order the kernel documents: FMAs over c ascending from 0, then + b.</summary>
        public float[] KernelOrderS(int edges) => Enumerable.Range(0, edges).Select(e =>
        {
            float s = 0f;
            for (int k = 0; k < C; k++) s = MathF.FusedMultiplyAdd(H[(e * Ld) + k], W[k], s);
            return B is float b ? s + b : s;
        }).ToArray();
    }

    /// <summary>Uploads the head (rows sorted into the topology's order).</summary>
    private ForceStressHead Upload(ForceStressRunner run, HostHead hh, List<IDisposable> owned)
    {
        var feat = Device.Upload<float>(run.Topology.SortEdgeData<float>(hh.H, hh.Ld));
        var w = Device.Upload<float>(hh.W);
        owned.Add(feat);
        owned.Add(w);
        DeviceBuffer<float>? b = null;
        if (hh.B is float bv)
        {
            b = Device.Upload<float>(new[] { bv });
            owned.Add(b);
        }

        return new ForceStressHead(feat, w, hh.C, b, hh.Ld);
    }

    private ForceStressRunner.Output RunHead(ForceStressRunner run, ForceStressHead head, ForceStressOptions o, GeometrySource source,
        bool atomVirial = false, EdgeGeometry? geometry = null)
    {
        var b = run.Batch;
        using var forces = Device.Allocate<float>(3L * b.NumAtoms);
        using var stress = Device.Allocate<float>((long)o.TensorWidth * b.NumGraphs);
        using var aw = atomVirial ? Device.Allocate<float>((long)o.TensorWidth * b.NumAtoms) : null;
        forces.Fill(float.NaN);
        stress.Fill(float.NaN);
        aw?.Fill(float.NaN);
        ForceStress.Readout(run.Topology, geometry ?? run.Geometry(source), head, forces, stress, o, aw);
        Device.Synchronize();
        return new ForceStressRunner.Output(forces.ToArray(), stress.ToArray(), aw?.ToArray());
    }

    public static IEnumerable<TestCaseData> ForwardCases()
    {
        yield return new TestCaseData("triclinic", 1, 1, true, GeometrySource.EdgeVectors, StressLayout.Tensor, StressOutput.Stress, false).SetArgDisplayNames("triclinic", "C=1", "bias", "EdgeVectors", "Tensor", "Stress", "det");
        yield return new TestCaseData("triclinic", 7, 9, false, GeometrySource.Positions, StressLayout.VoigtAse, StressOutput.StressGpa, false).SetArgDisplayNames("triclinic", "C=7 ld=9", "no bias", "Positions", "VoigtAse", "GPa", "det");
        yield return new TestCaseData("molecular", 33, 37, true, GeometrySource.Positions, StressLayout.VoigtLammps, StressOutput.Virial, false).SetArgDisplayNames("molecular", "C=33 ld=37", "bias", "Positions", "VoigtLammps", "Virial", "det");
        yield return new TestCaseData("molecular", 5, 5, true, GeometrySource.EdgeVectors, StressLayout.VoigtSevenNet, StressOutput.Stress, true).SetArgDisplayNames("molecular", "C=5", "bias", "EdgeVectors", "VoigtSevenNet", "Stress", "fast");
        yield return new TestCaseData("triclinic", 300, 301, true, GeometrySource.EdgeVectors, StressLayout.Tensor, StressOutput.Virial, true).SetArgDisplayNames("triclinic", "C=300 ld=301", "bias", "EdgeVectors", "Tensor", "Virial", "fast");
    }

    /// <summary>
    /// The head readout against the double oracle fed the exact s_e. Tolerance: the plain direct readout's
    /// (2e-6 Σ|g| per atom + 1e-7 for forces; 1e-6 Σ|r ⊗ g| + 1e-7 |σ| for the stress, as in ForceStressDeviceTests)
    /// plus the fp32 dot product's own error: δ_e = (C + 1) u (Σ|h w| + |b|) per edge, propagated by the oracle
    /// itself (its Σ|g| and Σ|r ⊗ g| bounds with s = δ), times 1.01.
    /// </summary>
    [TestCaseSource(nameof(ForwardCases))]
    public void HeadReadoutMatchesTheDoubleOracle(string batch, int c, int ld, bool bias, GeometrySource source, StressLayout layout, StressOutput output, bool fast)
    {
        var b = batch == "triclinic" ? Triclinic : Molecular;
        var hh = HostHead.Make(b.NumEdges, c, ld, bias, seed: 100 + c);
        var o = new ForceStressOptions { Mode = ForceStressMode.Direct, Layout = layout, Output = output, Fast = fast };
        var owned = new List<IDisposable>();
        using var run = new ForceStressRunner(Device, b);
        try
        {
            var got = RunHead(run, Upload(run, hh, owned), o, source, atomVirial: true);
            var want = ForceStressOracle.ComputeDirect(b, hh.ExactS(b.NumEdges));
            var dot = ForceStressOracle.ComputeDirect(b, hh.ScalarErrorBound(b.NumEdges));
            int w = o.TensorWidth;
            Assert.Multiple(() =>
            {
                for (int i = 0; i < want.Forces.Length; i++)
                {
                    double tol = (2e-6 * want.ForceBound[i]) + 1e-7 + (1.01 * dot.ForceBound[i]);
                    if (!(Math.Abs(got.Forces[i] - want.Forces[i]) <= tol)) Assert.Fail($"F[{i / 3}][{i % 3}] = {got.Forces[i]:R}, want {want.Forces[i]:R} (tol {tol:E2})");
                }

                for (int g = 0; g < b.NumGraphs; g++)
                {
                    var t = ForceStressOracle.Layout(ForceStressOracle.Tensor(b, g, want.Sigma, output), layout);
                    var bound = ForceStressOracle.Layout(ForceStressOracle.Tensor(b, g, want.SigmaBound, output), layout);
                    var dbound = ForceStressOracle.Layout(ForceStressOracle.Tensor(b, g, dot.SigmaBound, output), layout);
                    for (int k = 0; k < w; k++)
                    {
                        double tol = (1e-6 * Math.Abs(bound[k])) + (1e-7 * Math.Abs(t[k])) + (1.01 * Math.Abs(dbound[k])) + 1e-12;
                        if (!(Math.Abs(got.Stress[(w * g) + k] - t[k]) <= tol)) Assert.Fail($"stress[{g}][{k}] = {got.Stress[(w * g) + k]:R}, want {t[k]:R} (tol {tol:E2})");
                    }
                }

                for (int i = 0; i < b.NumAtoms; i++)
                {
                    var t = ForceStressOracle.Layout(want.AtomVirial.Skip(9 * i).Take(9).ToArray(), layout);
                    for (int k = 0; k < w; k++)
                    {
                        double tol = (2e-6 * (Math.Abs(t[k]) + 1)) + 1e-7 + (1.01 * dot.ForceBound.Skip(3 * i).Take(3).Sum() * 3);
                        if (!(Math.Abs(got.AtomVirial![(w * i) + k] - t[k]) <= tol)) Assert.Fail($"atomVirial[{i}][{k}] = {got.AtomVirial[(w * i) + k]:R}, want {t[k]:R}");
                    }
                }
            });
            Assert.That(got.Forces.Any(v => v != 0) && got.Stress.Any(v => v != 0), Is.True, "the case exercises non-zero outputs");
        }
        finally
        {
            owned.ForEach(x => x.Dispose());
        }
    }

    /// <summary>
    /// The head against plain direct mode: (1) fed s_e formed in fp32 by the order the kernel documents (FMAs over c
    /// ascending, then + b), the deterministic outputs are bitwise equal — the head changes nothing but where s_e comes
    /// from; (2) fed the oracle's s_e rounded to fp32, forces agree within 1.01 Σ_{e∋i} (δ_e + u|s_e|) |r̂_e| + 2e-6 Σ|g|
    /// (the s_e difference is at most δ_e plus the final rounding; the two fp32 force sums may round differently)
    /// and the stress within the same bounds propagated through r ⊗ r̂.
    /// </summary>
    [TestCase("molecular", 33, 37, GeometrySource.Positions)]
    [TestCase("triclinic", 4, 4, GeometrySource.EdgeVectors)]
    public void HeadEqualsDirectModeFedWithTheScalars(string batch, int c, int ld, GeometrySource source)
    {
        var b = batch == "triclinic" ? Triclinic : Molecular;
        var hh = HostHead.Make(b.NumEdges, c, ld, bias: true, seed: 7 + c);
        var o = new ForceStressOptions { Mode = ForceStressMode.Direct, Layout = StressLayout.Tensor, Output = StressOutput.Stress };
        var owned = new List<IDisposable>();
        using var run = new ForceStressRunner(Device, b);
        try
        {
            var geometry = run.Geometry(source);
            var head = RunHead(run, Upload(run, hh, owned), o, source, atomVirial: true, geometry: geometry);
            var sameOrder = run.Run(hh.KernelOrderS(b.NumEdges), o, source, atomVirial: true, geometry: geometry);
            Assert.That(head.Forces.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(sameOrder.Forces.Select(BitConverter.SingleToInt32Bits)), "forces");
            Assert.That(head.Stress.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(sameOrder.Stress.Select(BitConverter.SingleToInt32Bits)), "stress");
            Assert.That(head.AtomVirial!.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(sameOrder.AtomVirial!.Select(BitConverter.SingleToInt32Bits)), "per-atom virial");

            var exact = hh.ExactS(b.NumEdges);
            var oracleS = exact.Select(v => (float)v).ToArray();
            var fed = run.Run(oracleS, o, source, geometry: geometry);
            var delta = hh.ScalarErrorBound(b.NumEdges).Select((d, e) => d + (U * Math.Abs(exact[e]))).ToArray();
            var dBound = ForceStressOracle.ComputeDirect(b, delta);
            var sBound = ForceStressOracle.ComputeDirect(b, exact);
            Assert.Multiple(() =>
            {
                for (int i = 0; i < head.Forces.Length; i++)
                {
                    double tol = (1.01 * dBound.ForceBound[i]) + (2e-6 * sBound.ForceBound[i]);
                    if (!(Math.Abs(head.Forces[i] - fed.Forces[i]) <= tol)) Assert.Fail($"F[{i / 3}][{i % 3}]: head {head.Forces[i]:R}, direct fed oracle s {fed.Forces[i]:R} (tol {tol:E2})");
                }

                for (int g = 0; g < b.NumGraphs; g++)
                {
                    for (int k = 0; k < 9; k++)
                    {
                        double v = b.Periodic[g] ? b.Volume(g) : double.PositiveInfinity;
                        double tol = ((1.01 * dBound.SigmaBound[(9 * g) + k]) + (2e-6 * sBound.SigmaBound[(9 * g) + k])) / v;
                        if (!(Math.Abs(head.Stress[(9 * g) + k] - fed.Stress[(9 * g) + k]) <= tol)) Assert.Fail($"stress[{g}][{k}]: head {head.Stress[(9 * g) + k]:R}, direct {fed.Stress[(9 * g) + k]:R} (tol {tol:E2})");
                    }
                }
            });
        }
        finally
        {
            owned.ForEach(x => x.Dispose());
        }
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

    public static IEnumerable<TestCaseData> BackwardCases()
    {
        yield return new TestCaseData("triclinic", 1, 1, true, GeometrySource.EdgeVectors, StressLayout.VoigtAse, StressOutput.Stress).SetArgDisplayNames("triclinic", "C=1", "bias", "EdgeVectors", "VoigtAse", "Stress");
        yield return new TestCaseData("triclinic", 6, 8, false, GeometrySource.Positions, StressLayout.Tensor, StressOutput.StressGpa).SetArgDisplayNames("triclinic", "C=6 ld=8", "no bias", "Positions", "Tensor", "GPa");
        yield return new TestCaseData("molecular", 5, 7, true, GeometrySource.Positions, StressLayout.VoigtSevenNet, StressOutput.Virial).SetArgDisplayNames("molecular", "C=5 ld=7", "bias", "Positions", "VoigtSevenNet", "Virial");
        yield return new TestCaseData("molecular", 300, 300, true, GeometrySource.EdgeVectors, StressLayout.VoigtLammps, StressOutput.Stress).SetArgDisplayNames("molecular", "C=300", "bias", "EdgeVectors", "VoigtLammps", "Stress");
    }

    /// <summary>
    /// The head's backward against central finite differences (h = 1e-4, double) of L = Σ G·F + Σ H:out with
    /// s_e = Σ h w + b evaluated in double. L is linear in s (hence in h, w and b separately), so the FD error
    /// is rounding only (~1e-16 |L| / h). Kernel tolerances from ForceStressBackwardTests: dL/ds within
    /// tolS = 1e-6 S (S = 2 max|G| + 3 max|K| max|r|); dL/dh_e[c] = d_e w_c within tolS |w_c| + u |d_e w_c|;
    /// dL/dw_c = Σ_e d_e h_ec within tolS Σ_e |h_ec| + u Σ_e |d_e h_ec| (fp32 d_e, fp64 sum, one fp32 rounding);
    /// dL/db within tolS E + u Σ|d_e|; dL/dr as in ForceStressBackwardTests with max|s/r| of the head's s.
    /// The padding columns of dL/dh (ld > C) must keep their poison. dL/dh is differenced for every edge at
    /// channels 0, C/2 and C − 1 (all channels when C ≤ 8).
    /// </summary>
    [TestCaseSource(nameof(BackwardCases))]
    public void HeadBackwardMatchesFiniteDifferences(string batch, int c, int ld, bool bias, GeometrySource source, StressLayout layout, StressOutput output)
    {
        var b = batch == "triclinic" ? Triclinic : Molecular;
        var hh = HostHead.Make(b.NumEdges, c, ld, bias, seed: 40 + c);
        var o = new ForceStressOptions { Mode = ForceStressMode.Direct, Layout = layout, Output = output };
        int w = o.TensorWidth, e = b.NumEdges;
        var rng = new Random(5);
        var gradF = Enumerable.Range(0, 3 * b.NumAtoms).Select(_ => (float)((rng.NextDouble() * 2) - 1)).ToArray();
        var gradS = Enumerable.Range(0, w * b.NumGraphs).Select(_ => (float)((rng.NextDouble() * 2) - 1)).ToArray();
        var owned = new List<IDisposable>();
        using var run = new ForceStressRunner(Device, b);
        try
        {
            var topo = run.Topology;
            var head = Upload(run, hh, owned);
            var geometry = run.Geometry(source);
            using var gf = Device.Upload<float>(gradF);
            using var gs = Device.Upload<float>(gradS);
            using var dS = Device.Allocate<float>(e);
            using var dH = Device.Allocate<float>((long)e * ld);
            using var dW = Device.Allocate<float>(c);
            using var dB = Device.Allocate<float>(1);
            using var dR = Device.Allocate<float>(3L * e);
            foreach (var buf in new[] { dS, dH, dW, dB, dR }) buf.Fill(float.NaN);
            const float poison = -7.5f;
            dH.Fill(poison);
            var grads = new ForceStressHeadGradients { Scalar = dS, Features = dH, FeaturesLeadingDimension = ld, Weight = dW, Bias = dB };
            using var ws = Device.Allocate<byte>(Math.Max(8, ForceStress.HeadBackwardWorkspaceBytes(topo, head)));
            ForceStress.Backward(topo, geometry, head, gf, gs, grads, o, dR, ws);
            Device.Synchronize();
            float[] gotS = dS.ToArray(), gotH = dH.ToArray(), gotW = dW.ToArray(), gotR = dR.ToArray();
            float gotB = dB.ToArray()[0];

            float[] r32 = run.EdgeVectorsF32();
            double[] rx = r32.Select(v => (double)v).ToArray();
            double[] hx = hh.H.Select(v => (double)v).ToArray();
            double[] wx = hh.W.Select(v => (double)v).ToArray();
            double[] bx = { hh.B ?? 0f };
            double[] S()
            {
                var s = new double[e];
                for (int q = 0; q < e; q++)
                {
                    double acc = bx[0];
                    for (int k = 0; k < c; k++) acc += hx[(q * ld) + k] * wx[k];
                    s[q] = acc;
                }

                return s;
            }

            double Eval() => ForceStressBackwardTests.Loss(b, o, S(), rx, gradF, gradS);
            var s0 = S();
            double[] sx = (double[])s0.Clone();
            double EvalS() => ForceStressBackwardTests.Loss(b, o, sx, rx, gradF, gradS);
            double EvalR() => ForceStressBackwardTests.Loss(b, o, s0, rx, gradF, gradS);   // s does not depend on r

            double maxG = gradF.Max(Math.Abs), maxR = r32.Max(Math.Abs), maxK = 0, maxC = 0;
            for (int g = 0; g < b.NumGraphs; g++)
            {
                double cf = output == StressOutput.Virial ? 1 : !b.Periodic[g] ? 0 : (output == StressOutput.StressGpa ? ForceStressOracle.EvPerA3InGpa : 1) / b.Volume(g);
                for (int k = 0; k < w; k++) maxK = Math.Max(maxK, cf * Math.Abs(gradS[(w * g) + k]));
            }

            for (int q = 0; q < e; q++)
            {
                double n = Math.Sqrt((rx[3 * q] * rx[3 * q]) + (rx[(3 * q) + 1] * rx[(3 * q) + 1]) + (rx[(3 * q) + 2] * rx[(3 * q) + 2]));
                maxC = Math.Max(maxC, Math.Abs(s0[q]) / n);
            }

            double scaleU = (2 * maxG) + (3 * maxK * maxR);
            double tolS = 1e-6 * scaleU;
            double tolR = 1e-6 * ((3 * maxK * s0.Max(Math.Abs)) + (2 * maxC * scaleU) + scaleU);
            const double h = 1e-4;
            var fdS = new double[e];
            Assert.Multiple(() =>
            {
                for (int p = 0; p < e; p++)
                {
                    int q = topo.EdgeOrder[p];
                    fdS[q] = CentralDifference(EvalS, sx, q, h);
                    if (!(Math.Abs(gotS[p] - fdS[q]) <= tolS)) Assert.Fail($"dL/ds[{q}] = {gotS[p]:R}, FD {fdS[q]:R} (tol {tolS:E2})");
                    for (int k = 0; k < 3; k++)
                    {
                        double fd = CentralDifference(EvalR, rx, (3 * q) + k, h);
                        if (!(Math.Abs(gotR[(3 * p) + k] - fd) <= tolR)) Assert.Fail($"dL/dr[{q}][{k}] = {gotR[(3 * p) + k]:R}, FD {fd:R} (tol {tolR:E2})");
                    }

                    var channels = c <= 8 ? Enumerable.Range(0, c) : new[] { 0, c / 2, c - 1 };
                    foreach (int k in channels)
                    {
                        double fd = CentralDifference(Eval, hx, (q * ld) + k, h);
                        double tol = (tolS * Math.Abs(wx[k])) + (U * Math.Abs(fd));
                        if (!(Math.Abs(gotH[(p * ld) + k] - fd) <= tol)) Assert.Fail($"dL/dh[{q}][{k}] = {gotH[(p * ld) + k]:R}, FD {fd:R} (tol {tol:E2})");
                    }

                    for (int k = c; k < ld; k++)
                    {
                        if (BitConverter.SingleToInt32Bits(gotH[(p * ld) + k]) != BitConverter.SingleToInt32Bits(poison)) Assert.Fail($"dL/dh[{q}] padding column {k} was written");
                    }
                }

                for (int k = 0; k < c; k++)
                {
                    double fd = CentralDifference(Eval, wx, k, h);
                    double hAbs = 0, dhAbs = 0;
                    for (int q = 0; q < e; q++)
                    {
                        hAbs += Math.Abs(hx[(q * ld) + k]);
                        dhAbs += Math.Abs(fdS[q] * hx[(q * ld) + k]);
                    }

                    double tol = (tolS * hAbs) + (U * dhAbs);
                    if (!(Math.Abs(gotW[k] - fd) <= tol)) Assert.Fail($"dL/dw[{k}] = {gotW[k]:R}, FD {fd:R} (tol {tol:E2})");
                }

                double fdB = CentralDifference(Eval, bx, 0, h);
                double tolB = (tolS * e) + (U * fdS.Sum(Math.Abs));
                if (!(Math.Abs(gotB - fdB) <= tolB)) Assert.Fail($"dL/db = {gotB:R}, FD {fdB:R} (tol {tolB:E2})");
            });
            Assert.That(tolS, Is.LessThan(1e-3 * gotS.Max(Math.Abs)), "the tolerance must be far below the gradient's size");
            Assert.That(Math.Abs(gotB), Is.GreaterThan(1e-3 * fdS.Sum(Math.Abs) / e), "dL/db is not trivially zero");
        }
        finally
        {
            owned.ForEach(x => x.Dispose());
        }
    }

    /// <summary>Deterministic by default: the head readout and its backward (all outputs) give the same bits over 10 runs.</summary>
    [Test]
    public void TenRunsAreBitwiseIdentical()
    {
        var b = AtomicBatch.MolecularBatch(24, 2.5, seed: 17);
        var hh = HostHead.Make(b.NumEdges, 33, 37, bias: true, seed: 3);
        var o = new ForceStressOptions { Mode = ForceStressMode.Direct, Layout = StressLayout.VoigtAse };
        var owned = new List<IDisposable>();
        using var run = new ForceStressRunner(Device, b);
        try
        {
            var head = Upload(run, hh, owned);
            var geometry = run.Geometry(GeometrySource.Positions);
            int e = b.NumEdges;
            using var gf = Device.Upload<float>(Enumerable.Range(0, 3 * b.NumAtoms).Select(i => (float)Math.Sin(i)).ToArray());
            using var gs = Device.Upload<float>(Enumerable.Range(0, 6 * b.NumGraphs).Select(i => (float)Math.Cos(i)).ToArray());
            using var dS = Device.Allocate<float>(e);
            using var dH = Device.Allocate<float>(33L * e);
            using var dW = Device.Allocate<float>(33);
            using var dB = Device.Allocate<float>(1);
            using var dR = Device.Allocate<float>(3L * e);
            var grads = new ForceStressHeadGradients { Scalar = dS, Features = dH, Weight = dW, Bias = dB };
            int[]? first = null;
            for (int i = 0; i < 10; i++)
            {
                var fwd = RunHead(run, head, o, GeometrySource.Positions, atomVirial: true, geometry: geometry);
                foreach (var buf in new[] { dS, dH, dW, dB, dR }) buf.Fill(float.NaN);
                ForceStress.Backward(run.Topology, geometry, head, gf, gs, grads, o, dR);
                Device.Synchronize();
                var bits = fwd.Forces.Concat(fwd.Stress).Concat(fwd.AtomVirial!).Concat(dS.ToArray()).Concat(dH.ToArray())
                    .Concat(dW.ToArray()).Concat(dB.ToArray()).Concat(dR.ToArray()).Select(BitConverter.SingleToInt32Bits).ToArray();
                Assert.That(bits.Any(x => float.IsNaN(BitConverter.Int32BitsToSingle(x))), Is.False, $"run {i}: an output was not written");
                if (first is null) first = bits;
                else Assert.That(bits, Is.EqualTo(first), $"run {i} differs from run 0");
            }
        }
        finally
        {
            owned.ForEach(x => x.Dispose());
        }
    }
}
