using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Quant;

/// <summary>
/// The statistical contract of stochastic rounding (docs/quantization.md, "Tests"): unbiasedness,
/// the exact per-element variance, independence across elements, blocks and offsets, unbiased
/// weight gradients, and the clipped-normal model behind alpha(B). T samples with offsets
/// 0..T-1 of one [256, 64] input of mixed blocks; every threshold is stated with its false-alarm rate.
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[Category("Quantization")]
[Parallelizable(ParallelScope.All)]
public sealed class QuantizationStatisticsTests
{
    private const int Rows = 256, Cols = 64, Block = 256, T = 384, Outputs = 8;

    /// <summary>Two-sided Bonferroni bound for max |z| over up to 65536 tests at family-wise 0.1 % (spec 6.8.5); used where the statistic is a sum of many terms (gradients).</summary>
    private const double MaxZ = 5.3;

    /// <summary>Aggregate z bound (false alarm 6e-5).</summary>
    private const double AggregateZ = 4.0;

    private readonly DeviceKind kind;
    private readonly Dictionary<QuantLevels, Samples> cache = [];
    private GraphDevice? device;

    public QuantizationStatisticsTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    private sealed class Samples
    {
        public required float[] X;
        public required double[] Var;        // exact SR variance sigma_i^2 of y_i
        public required double[] Mu4;        // exact 4th central moment of y_i
        public required double[] Delta2;     // (distance between the two levels of y_i)^2
        public required double[] P;          // probability of rounding up
        public required int[] Up;            // samples that rounded up
        public required double[] Sum, SumSq;
        public required double LagWithin, LagAcross, LagOffsets;
        public required long PairsWithin, PairsAcross, PairsOffsets;
        public required double[] GradSum;    // sum over samples of (X_hat^T dY)[c, o]
        public required double[] GradExact;  // X^T dY
        public required double[] GradVar;    // Var of one sample's entry
        public required double AggGradDiff, AggGradVar;
    }

    private Samples Get(QuantLevels levels)
    {
        lock (cache)
        {
            if (!cache.TryGetValue(levels, out var s))
            {
                s = Sample(levels);
                cache[levels] = s;
            }

            return s;
        }
    }

    private Samples Sample(QuantLevels levels)
    {
        var spec = new QuantSpec(2, Block, levels, false);
        int n = Rows * Cols;
        float[] x = QuantHarness.Generate(n, DataKind.Mixed, 2718, Block, QuantElementType.Float32);
        var rng = new SplitMix64(99);
        var dY = new double[Rows * Outputs];
        for (int i = 0; i < dY.Length; i++) dY[i] = QuantHarness.Gauss(rng);

        // Exact per-element moments from the reference statistics (the device's are bit-identical).
        var r = QuantReference.Quantize(x, spec, 0, 0);
        var p = QuantizationDeviceTests.Probabilities(x, spec, r);
        var variance = new double[n];
        var mu4 = new double[n];
        var delta2 = new double[n];
        var mid = new double[n];
        for (int i = 0; i < n; i++)
        {
            int j = i / Block;
            if (r.Poisoned[j] || r.Step[j] == 0) continue;
            double xs = Math.Clamp(((double)x[i] - r.Zero[j]) / r.Step[j], 0, spec.L);
            int k = 0;
            for (int c = 1; c < spec.L; c++)
            {
                if (r.Levels[c] <= xs) k = c;
            }

            double delta = r.Step[j] * (r.Levels[k + 1] - r.Levels[k]);
            double pq = p[i] * (1 - p[i]);
            variance[i] = delta * delta * pq;
            mu4[i] = Math.Pow(delta, 4) * pq * (1 - (3 * pq));
            delta2[i] = delta * delta;
            mid[i] = r.Zero[j] + (r.Step[j] * (r.Levels[k] + r.Levels[k + 1]) / 2);
        }

        var gradExact = new double[Cols * Outputs];
        var gradVar = new double[Cols * Outputs];
        double aggGradVar = 0;
        for (int row = 0; row < Rows; row++)
        {
            double dsum = 0;
            for (int o = 0; o < Outputs; o++) dsum += dY[(row * Outputs) + o];
            for (int c = 0; c < Cols; c++)
            {
                int i = (row * Cols) + c;
                aggGradVar += variance[i] * dsum * dsum;
                for (int o = 0; o < Outputs; o++)
                {
                    double d = dY[(row * Outputs) + o];
                    gradExact[(c * Outputs) + o] += x[i] * d;
                    gradVar[(c * Outputs) + o] += variance[i] * d * d;
                }
            }
        }

        var sum = new double[n];
        var up = new int[n];
        var sumSq = new double[n];
        var gradSum = new double[Cols * Outputs];
        double lagWithin = 0, lagAcross = 0, lagOffsets = 0, aggGradDiff = 0;
        long pw = 0, pa = 0, po = 0;
        double[]? prevStd = null;
        using var dx = Device.Upload<float>(x);
        using var q = Quantization.Allocate(Device, Rows, Cols, spec.ToOptions());
        using var dy = Device.Allocate<float>(n);
        var y = new float[n];
        var std = new double[n];
        for (int t = 0; t < T; t++)
        {
            Quantization.QuantizeInto(dx, q, seed: 7, offset: (ulong)t);
            Quantization.Dequantize(q, dy);
            dy.CopyTo(y);
            for (int i = 0; i < n; i++)
            {
                double e = (double)y[i] - x[i];
                sum[i] += y[i];
                if (variance[i] > 0 && y[i] > mid[i]) up[i]++;
                sumSq[i] += (double)y[i] * y[i];
                std[i] = variance[i] > 0 ? e / Math.Sqrt(variance[i]) : double.NaN;
            }

            for (int i = 1; i < n; i++)
            {
                if (double.IsNaN(std[i]) || double.IsNaN(std[i - 1])) continue;
                if (i % Block == 0)
                {
                    lagAcross += std[i] * std[i - 1];
                    pa++;
                }
                else
                {
                    lagWithin += std[i] * std[i - 1];
                    pw++;
                }
            }

            if (prevStd is not null)
            {
                for (int i = 0; i < n; i++)
                {
                    if (double.IsNaN(std[i])) continue;
                    lagOffsets += std[i] * prevStd[i];
                    po++;
                }
            }

            prevStd = (double[])std.Clone();
            for (int row = 0; row < Rows; row++)
            {
                double dsum = 0;
                for (int o = 0; o < Outputs; o++) dsum += dY[(row * Outputs) + o];
                for (int c = 0; c < Cols; c++)
                {
                    int i = (row * Cols) + c;
                    aggGradDiff += ((double)y[i] - x[i]) * dsum;
                    for (int o = 0; o < Outputs; o++) gradSum[(c * Outputs) + o] += y[i] * dY[(row * Outputs) + o];
                }
            }
        }

        return new Samples
        {
            X = x, Var = variance, Mu4 = mu4, Delta2 = delta2, P = p, Up = up, Sum = sum, SumSq = sumSq,
            LagWithin = lagWithin, LagAcross = lagAcross, LagOffsets = lagOffsets,
            PairsWithin = pw, PairsAcross = pa, PairsOffsets = po,
            GradSum = gradSum, GradExact = gradExact, GradVar = gradVar, AggGradDiff = aggGradDiff, AggGradVar = aggGradVar,
        };
    }

    /// <summary>
    /// E[y_i] = x_i. Per element, the number of up-roundings in T samples follows Binomial(T, p_i):
    /// its exact two-sided tail probability must exceed 0.001 / (number of elements tested)
    /// (Bonferroni, family-wise false alarm 0.1 %; exact, so no normal approximation of skewed
    /// binomials). Aggregate over all elements: |z| &lt; 4. Elements with sigma_i = 0 (block
    /// extremes, constant blocks, values on a level) reconstruct exactly.
    /// </summary>
    [TestCase(QuantLevels.Uniform)]
    [TestCase(QuantLevels.ClipNormal2)]
    public void Unbiased(QuantLevels levels)
    {
        var s = Get(levels);
        var logFact = new double[T + 1];
        for (int k = 1; k <= T; k++) logFact[k] = logFact[k - 1] + Math.Log(k);
        double aggDiff = 0, aggVar = 0, worstP = 1;
        int worstAt = -1, tested = 0;
        for (int i = 0; i < s.X.Length; i++)
        {
            double mean = s.Sum[i] / T;
            if (s.Var[i] == 0)
            {
                Assert.That(mean, Is.EqualTo((double)s.X[i]).Within(Math.Abs(s.X[i]) * 1e-6), $"element {i} has sigma = 0 but its mean moved");
                continue;
            }

            aggDiff += mean - s.X[i];
            aggVar += s.Var[i] / T;
            tested++;
            double lo = 0, hi = 0, p = s.P[i];
            for (int k = 0; k <= T; k++)
            {
                double pmf = Math.Exp(logFact[T] - logFact[k] - logFact[T - k] + (k * Math.Log(p)) + ((T - k) * Math.Log(1 - p)));
                if (k <= s.Up[i]) lo += pmf;
                if (k >= s.Up[i]) hi += pmf;
            }

            double pValue = Math.Min(1, 2 * Math.Min(lo, hi));
            if (pValue < worstP)
            {
                worstP = pValue;
                worstAt = i;
            }
        }

        double aggZ = aggDiff / Math.Sqrt(aggVar);
        double threshold = 0.001 / tested;
        TestContext.Out.WriteLine($"{levels}: {tested} elements tested, smallest binomial p-value {worstP:E2} at {worstAt} (threshold {threshold:E2}), aggregate z = {aggZ:F2}");
        Assert.That(tested, Is.GreaterThan(5000), "too few elements with variance to test");
        Assert.That(worstP, Is.GreaterThan(threshold), $"element {worstAt}: {s.Up[Math.Max(worstAt, 0)]} of {T} rounded up with p = {s.P[Math.Max(worstAt, 0)]:F4}");
        Assert.That(Math.Abs(aggZ), Is.LessThan(AggregateZ), "aggregate bias");
    }

    /// <summary>
    /// The sample variance equals the exact SR variance: rho = sum s_i^2 / sum sigma_i^2 within 5
    /// standard errors of 1 (SE from the exact two-point 4th moments); and every s_i^2 respects the
    /// bound step^2 delta_t^2 / 4 + 5 SE_i.
    /// </summary>
    [TestCase(QuantLevels.Uniform)]
    [TestCase(QuantLevels.ClipNormal2)]
    public void VarianceMatchesTheory(QuantLevels levels)
    {
        var s = Get(levels);
        double sumS2 = 0, sumVar = 0, varOfSum = 0;
        for (int i = 0; i < s.X.Length; i++)
        {
            if (s.Var[i] == 0) continue;
            double mean = s.Sum[i] / T;
            double s2 = (s.SumSq[i] - (T * mean * mean)) / (T - 1);
            sumS2 += s2;
            sumVar += s.Var[i];
            double varS2 = (s.Mu4[i] - ((T - 3.0) / (T - 1.0) * s.Var[i] * s.Var[i])) / T;
            varOfSum += varS2;
            // Samples of two levels delta apart cannot have a sample variance above delta^2 / 4 * T / (T - 1);
            // the fp32 levels may each be off by half an ulp of |x| + delta.
            double dEff = Math.Sqrt(s.Delta2[i]) + (Math.Pow(2, -23) * (Math.Abs(s.X[i]) + Math.Sqrt(s.Delta2[i])));
            double bound = dEff * dEff / 4 * T / (T - 1);
            Assert.That(s2, Is.LessThanOrEqualTo(bound * (1 + 1e-9)), $"element {i}: x = {s.X[i]:R}, mean {mean:R}, sample variance {s2:E3} above delta^2 / 4 = {s.Delta2[i] / 4:E3}, sigma^2 {s.Var[i]:E3}");
        }

        double rho = sumS2 / sumVar, se = Math.Sqrt(varOfSum) / sumVar;
        TestContext.Out.WriteLine($"{levels}: rho = {rho:F5}, SE = {se:F5}");
        Assert.That(Math.Abs(rho - 1), Is.LessThan(5 * se), $"rho = {rho:F5} is more than 5 SE ({se:F5}) from 1");
    }

    /// <summary>
    /// Standardised errors are uncorrelated between neighbours within a block, across block
    /// boundaries, and between consecutive offsets: |rho| &lt; 5 / sqrt(pairs) (catches reused random numbers).
    /// </summary>
    [TestCase(QuantLevels.Uniform)]
    [TestCase(QuantLevels.ClipNormal2)]
    public void ErrorsAreIndependent(QuantLevels levels)
    {
        var s = Get(levels);
        foreach (var (name, sum, pairs) in new[] { ("within blocks", s.LagWithin, s.PairsWithin), ("across block boundaries", s.LagAcross, s.PairsAcross), ("between offsets", s.LagOffsets, s.PairsOffsets) })
        {
            Assert.That(pairs, Is.GreaterThan(1000), name);
            double rho = sum / pairs, bound = 5 / Math.Sqrt(pairs);
            TestContext.Out.WriteLine($"{levels} {name}: rho = {rho:F5} over {pairs} pairs (bound {bound:F5})");
            Assert.That(Math.Abs(rho), Is.LessThan(bound), $"lag correlation {name}");
        }
    }

    /// <summary>E[X_hat^T dY] = X^T dY: per entry |z| &lt; 5.3 (512 entries), aggregate |z| &lt; 4.</summary>
    [TestCase(QuantLevels.Uniform)]
    [TestCase(QuantLevels.ClipNormal2)]
    public void WeightGradientIsUnbiased(QuantLevels levels)
    {
        var s = Get(levels);
        double worst = 0;
        for (int k = 0; k < s.GradSum.Length; k++)
        {
            if (s.GradVar[k] == 0) continue;
            double z = ((s.GradSum[k] / T) - s.GradExact[k]) / Math.Sqrt(s.GradVar[k] / T);
            worst = Math.Max(worst, Math.Abs(z));
        }

        double agg = s.AggGradDiff / T / Math.Sqrt(s.AggGradVar / T);
        TestContext.Out.WriteLine($"{levels}: gradient max |z| = {worst:F2}, aggregate z = {agg:F2}");
        Assert.That(worst, Is.LessThan(MaxZ));
        Assert.That(Math.Abs(agg), Is.LessThan(AggregateZ));
    }

    /// <summary>
    /// Clipped-normal model check (spec 6.8.8): on N(0, 1) blocks of 1024, mean sigma_i^2 / step^2
    /// is about 0.168 with uniform levels and about 0.132 with alpha(1024); accept within 10 %.
    /// Deterministic (exact variances from the device's stored statistics).
    /// </summary>
    [Test]
    public void ClipNormalLevelsReduceVarianceAsModelled()
    {
        const int b = 1024, blocks = 64;
        float[] x = QuantHarness.Generate((long)b * blocks, DataKind.Gaussian, 5, b, QuantElementType.Float32);
        using var dx = Device.Upload<float>(x);
        foreach (var (levels, expected) in new[] { (QuantLevels.Uniform, 0.1681), (QuantLevels.ClipNormal2, 0.1316) })
        {
            var spec = new QuantSpec(2, b, levels, false);
            using var q = Quantization.Quantize(dx, blocks, b, spec.ToOptions(), 1, 1);
            var (zb, sb) = QuantHarness.StatsBits(q);
            float[] t = QuantReference.LevelsOf(spec);
            double acc = 0;
            for (int i = 0; i < x.Length; i++)
            {
                float zero = BitConverter.UInt32BitsToSingle(zb[i / b]), step = BitConverter.UInt32BitsToSingle(sb[i / b]);
                double xs = Math.Clamp(((double)x[i] - zero) / step, 0, 3);
                int k = xs >= t[2] ? 2 : (xs >= t[1] ? 1 : 0);
                acc += (xs - t[k]) * (t[k + 1] - xs);
            }

            double mean = acc / x.Length;
            TestContext.Out.WriteLine($"{levels}: mean sigma^2 / step^2 = {mean:F4} (model {expected})");
            Assert.That(mean, Is.EqualTo(expected).Within(10).Percent, $"{levels}");
        }
    }
}
