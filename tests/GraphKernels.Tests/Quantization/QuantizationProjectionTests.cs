using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Quant;

/// <summary>
/// EXACT's random projection (docs/quantization.md, "Random projection"): R's sign bits bit for bit
/// against the C# reference, fp32 results against a double reference within the fp32 summation
/// bound, determinism across runs and grids, unbiasedness and the exact variance of x R R^T over
/// seeds, and the end-to-end INT2-after-D/8 pipeline against its analytic error.
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[TestFixture(DeviceKind.Ilgpu, Category = "Ilgpu")]
[Category("Quantization")]
[Parallelizable(ParallelScope.All)]
public sealed class QuantizationProjectionTests
{
    /// <summary>Unit roundoff of fp32.</summary>
    private const double U = 1.0 / (1 << 24);

    private readonly DeviceKind kind;
    private GraphDevice? device;

    public QuantizationProjectionTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    private static float RefScale(int k) => (float)(1.0 / Math.Sqrt(k));

    [Test]
    public void ScaleIsTheRoundedInverseSquareRoot()
    {
        for (int k = 1; k <= 4096; k++)
        {
            Assert.That(Quantization.ProjectionScale(k), Is.EqualTo(RefScale(k)), $"K = {k}");
            Assert.That(new RandomProjection(1, k, 0).Scale, Is.EqualTo(RefScale(k)), $"K = {k} (managed)");
        }

        Assert.That(Quantization.ProjectionScale(16), Is.EqualTo(0.25f));
        Assert.That(Quantization.ProjectionScale(0), Is.EqualTo(0f));
        Assert.That(RandomProjection.Exact(128, 5).ProjDim, Is.EqualTo(16));
        Assert.That(RandomProjection.Exact(100, 5).ProjDim, Is.EqualTo(13));
    }

    /// <summary>
    /// x = I_D gives p = R exactly (one nonzero term per sum), and p = I_K gives x_hat = R^T: every
    /// entry must be +-fp32(1/sqrt(K)) with the reference's sign. Strided input and output (padding
    /// NaN in the input, a sentinel in the output that must survive). On ILGPU's CPU accelerator (slow:
    /// it simulates threads) a case with D * K above 20,000 uses the rows of I for the first 8, the
    /// last 8 and every 37th index only, so the whole sign buffer up to bit D K - 1 is still reached.
    /// </summary>
    [TestCase(128, 16, 0x5EEDul)]
    [TestCase(37, 5, 0xFFFFFFFF00000001ul)]   // the key's high word matters
    [TestCase(1, 1, 3ul)]
    [TestCase(64, 100, 7ul)]                  // K > D is allowed
    [TestCase(1000, 262, 123456789ul)]        // D * K = 262000, close to the 2^18 limit
    public void SignsMatchTheReferenceBitForBit(int dim, int k, ulong seed)
    {
        var proj = new RandomProjection(dim, k, seed);
        float s = RefScale(k);
        sbyte[] signs = QuantReference.ProjectionSigns(seed, dim, k);
        bool sample = kind == DeviceKind.Ilgpu && (long)dim * k > 20_000;
        static int[] Rows(int n, bool sample) => Enumerable.Range(0, n).Where(i => !sample || i < 8 || i >= n - 8 || i % 37 == 0).ToArray();

        int[] ds = Rows(dim, sample);
        var eye = new float[(long)ds.Length * dim];
        for (int i = 0; i < ds.Length; i++) eye[((long)i * dim) + ds[i]] = 1f;
        using var dx = (DeviceBuffer<float>)QuantHarness.Upload(Device, eye, ds.Length, dim, dim + 3, QuantElementType.Float32);
        using var dp = (DeviceBuffer<float>)QuantHarness.AllocateOut(Device, ds.Length, k, k + 1, QuantElementType.Float32, -7f);
        Quantization.Project(dx, dp, ds.Length, proj, ldX: dim + 3, ldP: k + 1);
        float[] p = QuantHarness.Download(dp, ds.Length, k, k + 1, out float[] whole);
        long negatives = 0;
        for (int i = 0; i < ds.Length; i++)
        {
            int d = ds[i];
            for (int c = 0; c < k; c++)
            {
                float want = signs[((long)d * k) + c] * s;
                float got = p[((long)i * k) + c];
                negatives += got < 0 ? 1 : 0;
                if (BitConverter.SingleToUInt32Bits(got) != BitConverter.SingleToUInt32Bits(want))
                {
                    Assert.Fail($"R[{d}, {c}] = {got:R}, reference {want:R} (seed 0x{seed:X})");
                }
            }

            if (i + 1 < ds.Length) Assert.That(whole[((long)i * (k + 1)) + k], Is.EqualTo(-7f), "output padding");
        }

        if ((long)ds.Length * k >= 1000)
        {
            // Balance (the reference's own sanity, |z| < 5): half the entries negative.
            double n = (double)ds.Length * k;
            Assert.That(Math.Abs(negatives - (n / 2)) / Math.Sqrt(n / 4), Is.LessThan(5));
        }

        int[] cs = Rows(k, sample);
        var eyeK = new float[(long)cs.Length * k];
        for (int j = 0; j < cs.Length; j++) eyeK[((long)j * k) + cs[j]] = 1f;
        using var dpk = (DeviceBuffer<float>)QuantHarness.Upload(Device, eyeK, cs.Length, k, k, QuantElementType.Float32);
        using var dxh = (DeviceBuffer<float>)QuantHarness.AllocateOut(Device, cs.Length, dim, dim + 2, QuantElementType.Float32, -7f);
        Quantization.Unproject(dpk, dxh, cs.Length, proj, ldX: dim + 2);
        float[] rt = QuantHarness.Download(dxh, cs.Length, dim, dim + 2, out float[] wholeT);
        for (int j = 0; j < cs.Length; j++)
        {
            int c = cs[j];
            for (int d = 0; d < dim; d++)
            {
                float want = signs[((long)d * k) + c] * s;
                float got = rt[((long)j * dim) + d];
                if (BitConverter.SingleToUInt32Bits(got) != BitConverter.SingleToUInt32Bits(want))
                {
                    Assert.Fail($"R^T[{c}, {d}] = {got:R}, reference {want:R} (seed 0x{seed:X})");
                }
            }

            if (j + 1 < cs.Length) Assert.That(wholeT[((long)j * (dim + 2)) + dim], Is.EqualTo(-7f), "output padding");
        }
    }

    /// <summary>
    /// Random data against a double reference: |fp32 - exact| &lt;= (n + 2) u scale sum|t| (n terms
    /// summed in fp32, then the rounded scale and the final rounding; u = 2^-24). A wrong sign costs
    /// about 2 scale |x_d|, hundreds of times the bound. Also: identical bytes across runs and grid caps.
    /// </summary>
    [TestCase(300, 128, 16, 131, 17)]
    [TestCase(77, 100, 13, 100, 13)]
    [TestCase(5, 2048, 128, 2050, 129)]
    [TestCase(1, 3, 7, 3, 7)]
    public void MatchesDoubleWithinTheFp32BoundAndIsDeterministic(int rows, int dim, int k, int ldX, int ldP)
    {
        var rng = new SplitMix64((ulong)((rows * 7919) + dim));
        var x = new float[(long)rows * dim];
        for (long i = 0; i < x.Length; i++) x[i] = (float)(QuantHarness.Gauss(rng) * Math.Pow(10, rng.NextInt(-3, 3)));
        ulong seed = 0xABCDEF12345ul + (ulong)dim;
        var proj = new RandomProjection(dim, k, seed);
        sbyte[] signs = QuantReference.ProjectionSigns(seed, dim, k);
        float s = RefScale(k);

        using var dx = (DeviceBuffer<float>)QuantHarness.Upload(Device, x, rows, dim, ldX, QuantElementType.Float32);
        using var dp = (DeviceBuffer<float>)QuantHarness.AllocateOut(Device, rows, k, ldP, QuantElementType.Float32, 0f);
        Quantization.Project(dx, dp, rows, proj, ldX, ldP);
        float[] p = QuantHarness.Download(dp, rows, k, ldP, out float[] pWhole);
        double[] pRef = QuantReference.ProjectDouble(x, rows, dim, k, signs);
        for (long r = 0; r < rows; r++)
        {
            double absSum = 0;
            for (int d = 0; d < dim; d++) absSum += Math.Abs(x[(r * dim) + d]);
            double bound = (dim + 2) * U * s * absSum;
            for (int c = 0; c < k; c++)
            {
                double err = Math.Abs(p[(r * k) + c] - pRef[(r * k) + c]);
                if (!(err <= bound)) Assert.Fail($"p[{r}, {c}] = {p[(r * k) + c]:R}, exact {pRef[(r * k) + c]:R}, error {err:E3} > bound {bound:E3}");
            }
        }

        using var dxh = (DeviceBuffer<float>)QuantHarness.AllocateOut(Device, rows, dim, ldX, QuantElementType.Float32, 0f);
        Quantization.Unproject(dp, dxh, rows, proj, ldP, ldX);
        float[] xh = QuantHarness.Download(dxh, rows, dim, ldX, out float[] xhWhole);
        double[] xhRef = QuantReference.UnprojectDouble(p, rows, dim, k, signs);
        for (long r = 0; r < rows; r++)
        {
            double absSum = 0;
            for (int c = 0; c < k; c++) absSum += Math.Abs(p[(r * k) + c]);
            double bound = (k + 2) * U * s * absSum;
            for (int d = 0; d < dim; d++)
            {
                double err = Math.Abs(xh[(r * dim) + d] - xhRef[(r * dim) + d]);
                if (!(err <= bound)) Assert.Fail($"x_hat[{r}, {d}] = {xh[(r * dim) + d]:R}, exact {xhRef[(r * dim) + d]:R}, error {err:E3} > bound {bound:E3}");
            }
        }

        foreach (int maxGrid in new[] { 1, 2, 7, 0 })
        {
            var capped = proj with { MaxGrid = maxGrid };
            using var dp2 = (DeviceBuffer<float>)QuantHarness.AllocateOut(Device, rows, k, ldP, QuantElementType.Float32, 0f);
            Quantization.Project(dx, dp2, rows, capped, ldX, ldP);
            Assert.That(dp2.ToArray().Select(BitConverter.SingleToUInt32Bits), Is.EqualTo(pWhole.Select(BitConverter.SingleToUInt32Bits)), $"projection bytes with MaxGrid = {maxGrid}");
            using var dx2 = (DeviceBuffer<float>)QuantHarness.AllocateOut(Device, rows, dim, ldX, QuantElementType.Float32, 0f);
            Quantization.Unproject(dp, dx2, rows, capped, ldP, ldX);
            Assert.That(dx2.ToArray().Select(BitConverter.SingleToUInt32Bits), Is.EqualTo(xhWhole.Select(BitConverter.SingleToUInt32Bits)), $"reconstruction bytes with MaxGrid = {maxGrid}");
        }
    }

    /// <summary>
    /// E[x R R^T] = x: T = 1000 seeds, 4 rows of 64 (K = 8). x_hat_d has variance
    /// (|x|^2 - x_d^2) / K exactly (R R^T has unit diagonal and independent +-1/K-sums off it), so
    /// z_d = (mean_d - x_d) / sqrt(var_d / T): max |z| &lt; 5 over 256 elements (Bonferroni,
    /// family-wise 1.5e-4 under normality); per row, the sum of the errors has variance
    /// ((D - 2)|x|^2 + (sum x)^2) / (T K): |z| &lt; 4 (6e-5 each). The sample variances summed over
    /// all elements must be within 10 % of the exact sum (about 10 standard errors at T = 1000).
    /// Catches a wrong scale (bias), repeated or correlated columns of R (variance), and seeds that
    /// do not change R.
    /// </summary>
    [Test]
    public void ReconstructionIsUnbiasedWithTheExactVariance()
    {
        const int rows = 4, dim = 64, k = 8, t = 1000;
        var rng = new SplitMix64(99);
        var x = new float[rows * dim];
        for (int i = 0; i < x.Length; i++) x[i] = (float)Math.Max(0, QuantHarness.Gauss(rng) + 0.3);   // ReLU-like, nonzero mean
        using var dx = Device.Upload<float>(x);
        using var dp = Device.Allocate<float>(rows * k);
        using var dxh = Device.Allocate<float>(rows * dim);
        var sum = new double[x.Length];
        var sumSq = new double[x.Length];
        var host = new float[x.Length];
        for (int s = 0; s < t; s++)
        {
            var proj = new RandomProjection(dim, k, 0x1000ul + (ulong)s);
            Quantization.Project(dx, dp, rows, proj);
            Quantization.Unproject(dp, dxh, rows, proj);
            dxh.CopyTo(host);
            for (int i = 0; i < x.Length; i++)
            {
                double e = host[i] - (double)x[i];
                sum[i] += e;
                sumSq[i] += e * e;
            }
        }

        double maxZ = 0, sampleVar = 0, exactVar = 0;
        for (int r = 0; r < rows; r++)
        {
            double norm2 = 0, total = 0;
            for (int d = 0; d < dim; d++)
            {
                norm2 += (double)x[(r * dim) + d] * x[(r * dim) + d];
                total += x[(r * dim) + d];
            }

            double rowErr = 0;
            for (int d = 0; d < dim; d++)
            {
                int i = (r * dim) + d;
                double var = (norm2 - ((double)x[i] * x[i])) / k;
                double mean = sum[i] / t;
                maxZ = Math.Max(maxZ, Math.Abs(mean) / Math.Sqrt(var / t));
                sampleVar += (sumSq[i] - (t * mean * mean)) / (t - 1);
                exactVar += var;
                rowErr += sum[i];
            }

            double aggVar = (((dim - 2) * norm2) + (total * total)) / ((double)t * k);
            double zRow = (rowErr / t) / Math.Sqrt(aggVar);
            Assert.That(Math.Abs(zRow), Is.LessThan(4), $"row {r}: aggregate bias z");
        }

        TestContext.Out.WriteLine($"max |z| = {maxZ:F2}, variance ratio = {sampleVar / exactVar:F4}");
        Assert.That(maxZ, Is.LessThan(5), "per-element bias z");
        Assert.That(sampleVar / exactVar, Is.EqualTo(1).Within(0.10), "sum of sample variances / exact");
    }

    /// <summary>
    /// The "> 95 % vs FP32" configuration end to end: ReLU-Gaussian [2048, 128] projected to D/8 = 16,
    /// quantized INT2 (i-EXACT levels, B = 1024), dequantized, unprojected. Given R and the stored
    /// statistics, E|X_hat - X|^2 = |P R^T - X|^2 + (D/K) sum sigma_i^2 (sigma_i^2 the exact
    /// stochastic-rounding variance of element i of P; R R^T... R_dc^2 = 1/K), and the measured error
    /// must be within 6 standard deviations of it (the SD from the cross term 2 &lt;e R^T, P R^T - X&gt;,
    /// computed exactly, plus an upper bound for the quadratic term). Also: the stored bytes are
    /// under 5 % of the FP32 activation, and the unconditional expectation over R,
    /// ((D - 1)/K |X|^2 + (D/K) sum sigma^2), is within 25 % (about 5 SD of its fluctuation over R).
    /// </summary>
    [Test]
    public void Int2AfterD8ProjectionMatchesTheAnalyticError()
    {
        const int rows = 2048, dim = 128, k = 16;
        float[] x = ReluGaussian(rows, dim, 31);
        var proj = RandomProjection.Exact(dim, 0xE8AC7ul);
        Assert.That(proj.ProjDim, Is.EqualTo(k));
        var o = QuantizationOptions.IExact;
        using var dx = Device.Upload<float>(x);
        using var dp = Quantization.Project(dx, rows, proj);
        using var q = Quantization.Quantize(dp, rows, k, o, seed: 11, offset: 3);
        using var dph = Quantization.Dequantize(q);
        using var dxh = Quantization.Unproject(dph, rows, proj);
        Assert.That((double)q.Plan.TotalBytes / (4.0 * rows * dim), Is.LessThan(0.05), "stored bytes / FP32 bytes");

        float[] p = dp.ToArray(), xh = dxh.ToArray();
        float[] zero = ((DeviceBuffer<float>)q.Zero).ToArray(), step = ((DeviceBuffer<float>)q.Step).ToArray();
        sbyte[] signs = QuantReference.ProjectionSigns(proj.Seed, dim, k);
        double[] recon = QuantReference.UnprojectDouble(p, rows, dim, k, signs);   // P R^T, no quantization
        float[] levels = QuantReference.LevelsOf(new QuantSpec(2, o.BlockSize, QuantLevels.ClipNormal2, false));
        double sx = 0, eProj = 0, measured = 0, sigma2 = 0, crossVar = 0, quadVar = 0;
        double scale = 1.0 / Math.Sqrt(k);
        for (long r = 0; r < rows; r++)
        {
            var g = new double[k];   // (P R^T - X) R, row r
            for (int d = 0; d < dim; d++)
            {
                long i = (r * dim) + d;
                double dev = recon[i] - x[i];
                sx += (double)x[i] * x[i];
                eProj += dev * dev;
                measured += (xh[i] - (double)x[i]) * (xh[i] - (double)x[i]);
                for (int c = 0; c < k; c++) g[c] += dev * signs[(d * k) + c] * scale;
            }

            var sg = new double[k];
            for (int c = 0; c < k; c++)
            {
                long i = (r * k) + c;
                long j = i / o.BlockSize;
                var (v, gap) = SrVariance(p[i], zero[j], step[j], levels);
                sg[c] = v;
                sigma2 += v;
                crossVar += 4 * v * g[c] * g[c];
                quadVar += (double)dim / k * dim / k * gap * gap * v;   // Var(e^2) <= gap^2 sigma^2
            }

            for (int c = 0; c < k; c++)
            {
                for (int c2 = 0; c2 < k; c2++)
                {
                    if (c2 == c) continue;
                    double rtr = 0;   // (R^T R)[c, c2]
                    for (int d = 0; d < dim; d++) rtr += signs[(d * k) + c] * signs[(d * k) + c2];
                    rtr /= k;
                    quadVar += 2 * sg[c] * sg[c2] * rtr * rtr;
                }
            }
        }

        double expected = eProj + ((double)dim / k * sigma2);
        double sd = Math.Sqrt(crossVar + quadVar);
        double unconditional = ((dim - 1.0) / k * sx) + ((double)dim / k * sigma2);
        TestContext.Out.WriteLine($"relative MSE measured {measured / sx:F4}, given R {expected / sx:F4} (z = {(measured - expected) / sd:F2}), over R {unconditional / sx:F4}; projection alone {eProj / sx:F4}, quantization {dim / (double)k * sigma2 / sx:F4}");
        Assert.That(Math.Abs(measured - expected) / sd, Is.LessThan(6), "measured vs conditional expectation (SDs)");
        Assert.That(measured / unconditional, Is.EqualTo(1).Within(0.25), "measured vs expectation over R");
    }

    /// <summary>
    /// The README's error column: relative RMS error sqrt(|X_hat - X|^2 / |X|^2) of each memory-table
    /// configuration on a ReLU-Gaussian [4096, 128] activation (EXACT's per-row INT2 simulated with
    /// the C# reference at B = 16 = one projected row, bf16 statistics), each checked against its
    /// analytic expectation: without projection sum sigma^2 / |X|^2 within 3 % (hundreds of
    /// thousands of independent terms), with projection the expectation over R within 25 %.
    /// </summary>
    [Test]
    public void ReadmeErrorColumn()
    {
        const int rows = 4096, dim = 128, k = 16;
        float[] x = ReluGaussian(rows, dim, 2024);
        double sx = x.Sum(v => (double)v * v);
        using var dx = Device.Upload<float>(x);
        var proj = RandomProjection.Exact(dim, 0x7AB1Eul);
        using var dp = Quantization.Project(dx, rows, proj);
        float[] p = dp.ToArray();
        var lines = new List<string>();

        // Block INT2 without projection (i-EXACT levels), measured against sum sigma^2.
        var iexact = QuantizationOptions.IExact;
        {
            using var q = Quantization.Quantize(dx, rows, dim, iexact, seed: 5, offset: 1);
            using var dy = Quantization.Dequantize(q);
            float[] y = dy.ToArray();
            double expected = SumSigma2(x, ((DeviceBuffer<float>)q.Zero).ToArray(), ((DeviceBuffer<float>)q.Step).ToArray(), iexact.BlockSize, QuantReference.LevelsOf(new QuantSpec(2, 1024, QuantLevels.ClipNormal2, false)));
            double mse = SqErr(y, x);
            Assert.That(mse / expected, Is.EqualTo(1).Within(0.03), "block INT2, no projection");
            lines.Add($"block INT2, B = 1024, fp32 stats, no projection | {Math.Sqrt(mse / sx):F3}");
        }

        // Projected configurations: X_hat = deq(q(P)) R^T.
        double ExpectedProjected(double sigma2) => ((dim - 1.0) / k * sx) + ((double)dim / k * sigma2);
        {
            // EXACT: per-row (B = 16 = one projected row) uniform INT2 with bf16 statistics, via the reference.
            var spec = new QuantSpec(2, 16, QuantLevels.Uniform, true);
            var qr = QuantReference.Quantize(p, spec, 5, 1);
            float[] ph = QuantReference.Dequantize(qr, spec, p.Length);
            using var dph = Device.Upload<float>(ph);
            using var dxh = Quantization.Unproject(dph, rows, proj);
            double mse = SqErr(dxh.ToArray(), x);
            double sigma2 = SumSigma2(p, qr.Zero, qr.Step, 16, qr.Levels);
            Assert.That(mse / ExpectedProjected(sigma2), Is.EqualTo(1).Within(0.25), "EXACT per-row INT2 + D/8");
            lines.Insert(0, $"EXACT: per-row INT2, D/8 projection, bf16 min+scale per row | {Math.Sqrt(mse / sx):F3}");
        }

        foreach (var (name, stats) in new[] { ("fp32", QuantElementType.Float32), ("bf16", QuantElementType.BFloat16) })
        {
            var o = iexact with { StatsType = stats };
            using var q = Quantization.Quantize(dp, rows, k, o, seed: 5, offset: 1);
            using var dph = Quantization.Dequantize(q);
            using var dxh = Quantization.Unproject(dph, rows, proj);
            double mse = SqErr(dxh.ToArray(), x);
            float[] zero = StatsAsFloat(q.Zero), step = StatsAsFloat(q.Step);
            double sigma2 = SumSigma2(p, zero, step, o.BlockSize, QuantReference.LevelsOf(new QuantSpec(2, 1024, QuantLevels.ClipNormal2, false)));
            Assert.That(mse / ExpectedProjected(sigma2), Is.EqualTo(1).Within(0.25), $"block INT2 + D/8, {name} stats");
            lines.Add($"block INT2, B = 1024, {name} stats, D/8 projection | {Math.Sqrt(mse / sx):F3}");
        }

        // The projection alone (no quantization), for reference.
        using (var dxp = Quantization.Unproject(dp, rows, proj))
        {
            lines.Add($"(D/8 projection alone, no quantization) | {Math.Sqrt(SqErr(dxp.ToArray(), x) / sx):F3}");
        }

        TestContext.Out.WriteLine("| configuration | relative RMS error |");
        TestContext.Out.WriteLine("|---|---:|");
        TestContext.Out.WriteLine("| FP32 | 0 |");
        foreach (var l in lines) TestContext.Out.WriteLine($"| {l} |");
    }

    [Test]
    public void BadArgumentsNameTheFieldAndLeaveOutputsUntouched()
    {
        using var x = Device.Upload<float>(new float[40 * 16]);
        using var p = Device.Allocate<float>(40 * 2);
        p.Fill(3f);
        var ex = Assert.Throws<GraphKernelsException>(() => Quantization.Project(x, p, 40, new RandomProjection(16, 2, 1) with { MaxGrid = -1 }));
        Assert.That(ex!.Message, Does.StartWith("gk_quant_project: ").And.Contain("max_grid = -1"));
        var big = Assert.Throws<GraphKernelsException>(() => Quantization.Project(x, p, 0, new RandomProjection(1024, 257, 1)));
        Assert.That(big!.Status, Is.EqualTo(GkStatus.Unsupported));
        Assert.That(big.Message, Does.Contain("1024 * 257"));
        Assert.That(Assert.Throws<ArgumentException>(() => Quantization.Project(x, p, 41, new RandomProjection(16, 2, 1)))!.ParamName, Is.EqualTo("x"));
        Assert.That(Assert.Throws<ArgumentException>(() => Quantization.Project(x, p, 40, new RandomProjection(16, 3, 1)))!.ParamName, Is.EqualTo("p"));
        Assert.That(Assert.Throws<ArgumentException>(() => Quantization.Project(x, p, 40, new RandomProjection(0, 3, 1)))!.ParamName, Is.EqualTo("projection"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => Quantization.Project(x, p, 40, new RandomProjection(16, 2, 1), ldX: 15))!.ParamName, Is.EqualTo("ldX"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => Quantization.Unproject(p, x, 40, new RandomProjection(16, 2, 1), ldP: 1))!.ParamName, Is.EqualTo("ldP"));
        Assert.That(p.ToArray(), Is.All.EqualTo(3f));
    }

    // ------------------------------------------------------------------ helpers ---------------
    internal static float[] ReluGaussian(int rows, int dim, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var x = new float[(long)rows * dim];
        for (long i = 0; i < x.Length; i++) x[i] = (float)Math.Max(0, QuantHarness.Gauss(rng));
        return x;
    }

    private static double SqErr(float[] y, float[] x)
    {
        double s = 0;
        for (long i = 0; i < x.Length; i++) s += (y[i] - (double)x[i]) * (y[i] - (double)x[i]);
        return s;
    }

    private static float[] StatsAsFloat(DeviceBuffer b) => b switch
    {
        DeviceBuffer<ushort> h => h.ToArray().Select(QuantReference.FromBf16Bits).ToArray(),
        DeviceBuffer<float> f => f.ToArray(),
        _ => throw new ArgumentException("stats type", nameof(b)),
    };

    /// <summary>The exact stochastic-rounding variance of one value (and its level gap, in value units).</summary>
    private static (double Var, double Gap) SrVariance(float v, float zero, float step, float[] levels)
    {
        if (!(step > 0)) return (0, 0);
        int l = levels.Length - 1;
        double xs = Math.Clamp((v - (double)zero) / step, 0, l);
        int kk = 0;
        for (int c = 1; c <= l - 1; c++)
        {
            if (levels[c] <= xs) kk = c;
        }

        double lo = xs - levels[kk], hi = levels[kk + 1] - xs;
        return ((double)step * step * lo * hi, (double)step * (levels[kk + 1] - levels[kk]));
    }

    private static double SumSigma2(float[] v, float[] zero, float[] step, int block, float[] levels)
    {
        double s = 0;
        for (long i = 0; i < v.Length; i++) s += SrVariance(v[i], zero[i / block], step[i / block], levels).Var;
        return s;
    }
}
