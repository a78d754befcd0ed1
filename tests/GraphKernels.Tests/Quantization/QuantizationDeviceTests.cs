using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Quant;

/// <summary>
/// Quantize/dequantize on one device against the C# reference, bit for bit, plus determinism and
/// the deterministic properties (bracketing, statistics bounds, poison, edge cases). The same cases
/// run on the CPU emulation (always) and on a CUDA device (skipped with the reason where there is none).
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[TestFixture(DeviceKind.Ilgpu, Category = "Ilgpu")]
[Category("Quantization")]
[Parallelizable(ParallelScope.All)]
public sealed class QuantizationDeviceTests
{
    private readonly DeviceKind kind;
    private GraphDevice? device;

    public QuantizationDeviceTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    /// <summary>Every bit width and level mode; shapes around block boundaries; ld &gt; cols; every input and stats type.</summary>
    public static IEnumerable<TestCaseData> BitExactCases()
    {
        var specs = new List<QuantSpec>
        {
            new(1, 1024, QuantLevels.Uniform, false),
            new(2, 1024, QuantLevels.Uniform, false),
            new(2, 1024, QuantLevels.ClipNormal2, false),
            new(2, 64, QuantLevels.ClipNormal2, true),
            new(2, 96, QuantLevels.ClipNormal2, false, Alpha: 1.25f),
            new(2, 256, QuantLevels.Table, false, Table: [0f, 0.5f, 2.75f, 3f]),
            new(4, 1024, QuantLevels.Uniform, true),
            new(4, 128, QuantLevels.Table, false, Table: Enumerable.Range(0, 16).Select(k => k == 0 || k == 15 ? k : k + (0.3f * MathF.Sin(k))).ToArray()),
            new(8, 1024, QuantLevels.Uniform, false),
            new(8, 32, QuantLevels.Uniform, true),
        };
        var inputs = new[] { QuantElementType.Float32, QuantElementType.Float16, QuantElementType.BFloat16 };
        int c = 0;
        foreach (var s in specs)
        {
            int b = s.Block;
            // (rows, cols, ld, ldOut): n = 1, 31, 32, 33, B - 1, B, B + 1, and strided layouts.
            var shapes = new (long R, long C, long Ld, long LdOut)[]
            {
                (1, 1, 1, 1), (1, 31, 31, 31), (2, 16, 16, 16), (3, 11, 11, 11), (1, b - 1, b - 1, b - 1),
                (b / 32, 32, 32, 32), (1, b + 1, b + 1, b + 1), (37, 29, 31, 33), (5, 3 * b / 2, (3 * b / 2) + 3, 3 * b / 2),
            };
            foreach (var (r, col, ld, ldo) in shapes)
            {
                var input = inputs[c % 3];
                var qc = new QuantCase($"case{c}", r, col, ld, ldo, input, s, DataKind.Mixed, 1000 + (ulong)c);
                c++;
                yield return new TestCaseData(qc).SetArgDisplayNames(qc.ToString());
            }
        }
    }

    [TestCaseSource(nameof(BitExactCases))]
    public void MatchesReferenceBitForBit(QuantCase c) => RunAndCompare(c, seed: 0x5EED0000 + c.Seed, offset: 77 + c.Seed);

    /// <summary>10^6 + 7 elements, INT2 with i-EXACT levels (several thousand blocks, partial last block).</summary>
    [Test]
    public void MatchesReferenceOnAMillionElements()
    {
        var s = new QuantSpec(2, 1024, QuantLevels.ClipNormal2, false);
        RunAndCompare(new QuantCase("1e6+7", 1, 1_000_007, 1_000_007, 1_000_007, QuantElementType.Float32, s, DataKind.Mixed, 4242), 99, 12345, dequantTypes: [QuantElementType.Float32]);
    }

    private void RunAndCompare(QuantCase c, ulong seed, ulong offset, QuantElementType[]? dequantTypes = null)
    {
        long n = c.Rows * c.Cols;
        float[] x = QuantHarness.Generate(n, c.Data, c.Seed, c.Spec.Block, c.Input);
        if (n > 50)
        {
            x[n / 2] = QuantReference.RoundToInput(1e-40f, c.Input);   // a subnormal (0 once rounded to fp16)
        }

        using var dx = QuantHarness.Upload(Device, x, c.Rows, c.Cols, c.Ld, c.Input);
        using var q = Quantization.Quantize(dx, c.Rows, c.Cols, c.Spec.ToOptions(), seed, offset, c.Ld);
        var expect = QuantReference.Quantize(x, c.Spec, seed, offset);

        Assert.That(q.Plan.NumBlocks, Is.EqualTo(expect.Zero.Length), "number of blocks");
        uint[] packed = q.Packed.ToArray();
        long bad = QuantHarness.FirstMismatch(packed, expect.Packed);
        Assert.That(bad, Is.EqualTo(-1), () => $"{c}: packed word {bad} = 0x{packed[bad]:X8}, reference 0x{expect.Packed[bad]:X8}");
        var (zb, sb) = QuantHarness.StatsBits(q);
        var rz = QuantHarness.RefBits(expect.Zero, c.Spec.StatsBf16);
        var rs = QuantHarness.RefBits(expect.Step, c.Spec.StatsBf16);
        long bz = QuantHarness.FirstMismatch(zb, rz), bs = QuantHarness.FirstMismatch(sb, rs);
        Assert.That(bz, Is.EqualTo(-1), () => $"{c}: zero[{bz}] bits 0x{zb[bz]:X8}, reference 0x{rz[bz]:X8}");
        Assert.That(bs, Is.EqualTo(-1), () => $"{c}: step[{bs}] bits 0x{sb[bs]:X8}, reference 0x{rs[bs]:X8}");

        float[] yRef = QuantReference.Dequantize(expect, c.Spec, n);
        foreach (var outType in dequantTypes ?? [QuantElementType.Float32, QuantElementType.Float16, QuantElementType.BFloat16])
        {
            const float sentinel = -12345f;
            using var dy = QuantHarness.AllocateOut(Device, c.Rows, c.Cols, c.LdOut, outType, sentinel);
            Quantization.Dequantize(q, dy, c.LdOut);
            float[] y = QuantHarness.Download(dy, c.Rows, c.Cols, c.LdOut, out float[] whole);
            for (long i = 0; i < n; i++)
            {
                float want = QuantHarness.RoundOut(yRef[i], outType);
                if (!QuantHarness.SameValue(y[i], want))
                {
                    Assert.Fail($"{c}: dequantized to {outType}, element {i} = {y[i]:R}, reference {want:R}");
                }
            }

            // Padding columns between rows of y are untouched.
            float sent = QuantHarness.RoundOut(sentinel, outType);
            for (long r = 0; r + 1 < c.Rows; r++)
            {
                for (long k = c.Cols; k < c.LdOut; k++)
                {
                    Assert.That(whole[(r * c.LdOut) + k], Is.EqualTo(sent), $"{c}: y padding at row {r}, column {k} was written");
                }
            }
        }
    }

    /// <summary>Same (seed, offset) gives the same bytes for every grid size; another offset changes about the expected fraction of codes.</summary>
    [TestCase(2, QuantLevels.ClipNormal2, 256)]
    [TestCase(4, QuantLevels.Uniform, 1024)]
    [TestCase(1, QuantLevels.Uniform, 32)]
    public void DeterministicAcrossRunsAndGrids(int bits, QuantLevels levels, int block)
    {
        var s = new QuantSpec(bits, block, levels, false);
        long rows = 300, cols = 217;
        float[] x = QuantHarness.Generate(rows * cols, DataKind.Mixed, 31, block, QuantElementType.Float32);
        using var dx = Device.Upload<float>(x);
        uint[]? first = null;
        uint[]? firstStats = null;
        foreach (int maxGrid in new[] { 0, 1, 3, 7, 0 })
        {
            using var q = Quantization.Quantize(dx, rows, cols, s.ToOptions(maxGrid), seed: 2024, offset: 5);
            uint[] p = q.Packed.ToArray();
            uint[] st = QuantHarness.StatsBits(q).Step;
            if (first is null)
            {
                first = p;
                firstStats = st;
                continue;
            }

            Assert.That(p, Is.EqualTo(first), $"packed codes differ with MaxGrid = {maxGrid}");
            Assert.That(st, Is.EqualTo(firstStats), $"steps differ with MaxGrid = {maxGrid}");
        }

        // Another offset: element i's code differs with probability 2 p_i (1 - p_i) (p_i from the reference).
        using var q2 = Quantization.Quantize(dx, rows, cols, s.ToOptions(), seed: 2024, offset: 6);
        uint[] other = q2.Packed.ToArray();
        var probs = Probabilities(x, s, QuantReference.Quantize(x, s, 2024, 5));
        double expected = 0, variance = 0;
        long differ = 0;
        for (long i = 0; i < x.Length; i++)
        {
            double qd = 2 * probs[i] * (1 - probs[i]);
            expected += qd;
            variance += qd * (1 - qd);
            if (Code(first!, s, i) != Code(other, s, i)) differ++;
        }

        double z = (differ - expected) / Math.Sqrt(Math.Max(variance, 1e-12));
        Assert.That(Math.Abs(z), Is.LessThan(5.0), $"{differ} codes differ between offsets 5 and 6, expected {expected:F0} (z = {z:F2}, threshold 5)");
        Assert.That(expected, Is.GreaterThan(100), "the data must leave codes to chance");
    }

    /// <summary>Deterministic properties on heavy-tailed data: stats bracket the block; each value dequantizes to one of its bin's two levels; codes never overflow.</summary>
    [TestCase(2, QuantLevels.Uniform, false)]
    [TestCase(2, QuantLevels.ClipNormal2, true)]
    [TestCase(8, QuantLevels.Uniform, true)]
    [TestCase(1, QuantLevels.Uniform, false)]
    public void BracketsAndStatsBounds(int bits, QuantLevels levels, bool bf16)
    {
        var s = new QuantSpec(bits, 128, levels, bf16);
        int l = s.L;
        long n = 128 * 40 + 17;
        float[] x = QuantHarness.Generate(n, DataKind.Mixed, 77, s.Block, QuantElementType.Float32);
        using var dx = Device.Upload<float>(x);
        using var q = Quantization.Quantize(dx, 1, n, s.ToOptions(), 1, 2);
        using var dy = Quantization.Dequantize(q);
        float[] y = dy.ToArray();
        var (zb, sb) = QuantHarness.StatsBits(q);
        uint[] packed = q.Packed.ToArray();
        float[] t = QuantReference.LevelsOf(s);
        for (long j = 0; j < q.Plan.NumBlocks; j++)
        {
            float zero = BitConverter.UInt32BitsToSingle(zb[j]), step = BitConverter.UInt32BitsToSingle(sb[j]);
            long start = j * s.Block, end = Math.Min(n, start + s.Block);
            float m = float.MaxValue, mx = float.MinValue;
            for (long i = start; i < end; i++)
            {
                m = Math.Min(m, x[i]);
                mx = Math.Max(mx, x[i]);
            }

            Assert.That(zero, Is.LessThanOrEqualTo(m), $"block {j}: zero > min");
            Assert.That((double)zero + ((double)l * step), Is.GreaterThanOrEqualTo((double)mx), $"block {j}: zero + L step < max");
            double exactStep = ((double)mx - zero) / l;
            if (bf16)
            {
                Assert.That((double)step, Is.LessThanOrEqualTo(exactStep * (1 + Math.Pow(2, -7))), $"block {j}: bf16 step too large");
            }
            else
            {
                Assert.That((double)step, Is.LessThanOrEqualTo(exactStep * (1 + Math.Pow(2, -23))), $"block {j}: f32 step not rounded up by at most one ulp");
            }

            for (long i = start; i < end; i++)
            {
                double xs = step == 0 ? 0 : Math.Clamp(((double)x[i] - zero) / step, 0, l);
                int k = 0;
                for (int c = 1; c < l; c++)
                {
                    if (t[c] <= xs) k = c;
                }

                float lo = MathF.FusedMultiplyAdd(step, t[k], zero), hi = MathF.FusedMultiplyAdd(step, t[k + 1], zero);
                float a = MathF.FusedMultiplyAdd(step, t[Math.Max(k - 1, 0)], zero), b = MathF.FusedMultiplyAdd(step, t[Math.Min(k + 2, l)], zero);
                // fp32 evaluation of x' may land one bin over at a level boundary: allow the boundary level only.
                bool ok = y[i] == lo || y[i] == hi || (y[i] == a && Math.Abs(xs - t[k]) < 1e-5) || (y[i] == b && Math.Abs(xs - t[k + 1]) < 1e-5);
                Assert.That(ok, Is.True, $"element {i}: x = {x[i]:R} (x' = {xs:R}) dequantized to {y[i]:R}, not a level of its bin [{lo:R}, {hi:R}]");
                if (levels == QuantLevels.Uniform)
                {
                    Assert.That(Math.Abs((double)y[i] - x[i]), Is.LessThan((step * (1 + 1e-6)) + 1e-30), $"element {i}: |y - x| >= step");
                }
            }

            // Padding codes of the partial last block are 0.
            if (end - start < s.Block)
            {
                for (long e = end - start; e < s.Block; e++)
                {
                    uint code = (packed[(j * s.WordsPerBlock) + (e * bits / 32)] >> (int)(e * bits % 32)) & (uint)l;
                    Assert.That(code, Is.Zero, $"padding code {e} of the last block");
                }
            }
        }
    }

    /// <summary>Blocks holding only their min and max: every code is exactly 0 or L for any seed (no overflow into a neighbour).</summary>
    [TestCase(1)]
    [TestCase(2)]
    [TestCase(4)]
    [TestCase(8)]
    public void TwoValuedBlocksNeverOverflow(int bits)
    {
        var s = new QuantSpec(bits, 64, QuantLevels.Uniform, false);
        long n = 64 * 64;
        var x = new float[n];
        int l = (1 << bits) - 1;
        for (long i = 0; i < n; i++)
        {
            long blk = i / 64;
            float lo = -1.0f - blk, range = l * (0.5f + (0.25f * (blk % 4)));   // zero + L * step is exact
            x[i] = (i * 7 % 3 == 0) ? lo + range : lo;
        }

        using var dx = Device.Upload<float>(x);
        for (ulong seed = 0; seed < 4; seed++)
        {
            using var q = Quantization.Quantize(dx, 1, n, s.ToOptions(), seed, seed * 31);
            using var dy = Quantization.Dequantize(q);
            float[] y = dy.ToArray();
            for (long i = 0; i < n; i++)
            {
                Assert.That(y[i], Is.EqualTo(x[i]), $"seed {seed}, element {i}: a block extreme must reconstruct exactly");
            }
        }
    }

    [Test]
    public void EdgeCases()
    {
        var s = new QuantSpec(2, 32, QuantLevels.Uniform, false);
        // Blocks: constant, zeros, -0/+0 mix, subnormals, NaN, +Inf, huge range (overflows), huge but finite, normal.
        var blocks = new List<float[]>
        {
            Enumerable.Repeat(-2.5f, 32).ToArray(),
            new float[32],
            Enumerable.Range(0, 32).Select(i => i % 2 == 0 ? -0f : 0f).ToArray(),
            Enumerable.Range(0, 32).Select(i => BitConverter.Int32BitsToSingle(1 + (i * 977))).ToArray(),
            Enumerable.Range(0, 32).Select(i => i == 5 ? float.NaN : i).ToArray(),
            Enumerable.Range(0, 32).Select(i => i == 9 ? float.PositiveInfinity : i).ToArray(),
            Enumerable.Range(0, 32).Select(i => i % 2 == 0 ? 3e38f : -3e38f).ToArray(),
            Enumerable.Range(0, 32).Select(i => i * 1e36f).ToArray(),
            Enumerable.Range(0, 32).Select(i => i * 0.1f).ToArray(),
        };
        float[] x = blocks.SelectMany(b => b).ToArray();
        using var dx = Device.Upload<float>(x);
        using var q = Quantization.Quantize(dx, 1, x.Length, s.ToOptions(), 3, 4);
        var r = QuantReference.Quantize(x, s, 3, 4);
        Assert.That(q.Packed.ToArray(), Is.EqualTo(r.Packed), "codes");
        var (zb, sb) = QuantHarness.StatsBits(q);
        Assert.That(zb, Is.EqualTo(QuantHarness.RefBits(r.Zero, false)), "zero bits");
        Assert.That(sb, Is.EqualTo(QuantHarness.RefBits(r.Step, false)), "step bits");
        using var dy = Quantization.Dequantize(q);
        float[] y = dy.ToArray();

        for (int i = 0; i < 32; i++) Assert.That(y[i], Is.EqualTo(-2.5f), "constant block reconstructs exactly");
        for (int i = 32; i < 96; i++) Assert.That(BitConverter.SingleToUInt32Bits(y[i]), Is.Zero, "zeros (and -0) reconstruct as +0");
        Assert.That(BitConverter.SingleToUInt32Bits(zb[2]), Is.Zero, "the zero of a -0/+0 block is +0");
        for (int i = 96; i < 128; i++)
        {
            float step = BitConverter.UInt32BitsToSingle(sb[3]);
            Assert.That(step, Is.GreaterThan(0f), "subnormal block has a positive step");
            Assert.That(Math.Abs(y[i] - x[i]), Is.LessThanOrEqualTo(step), $"subnormal element {i}");
        }

        foreach (int blk in new[] { 4, 5, 6 })
        {
            Assert.That(float.IsNaN(BitConverter.UInt32BitsToSingle(zb[blk])) && float.IsNaN(BitConverter.UInt32BitsToSingle(sb[blk])), Is.True, $"block {blk} must be poisoned");
            for (int i = blk * 32; i < (blk + 1) * 32; i++) Assert.That(float.IsNaN(y[i]), Is.True, $"poisoned block {blk}: element {i} must dequantize to NaN");
        }

        for (int i = 7 * 32; i < 9 * 32; i++)
        {
            float step = BitConverter.UInt32BitsToSingle(sb[i / 32]);
            Assert.That(float.IsFinite(y[i]) && Math.Abs((double)y[i] - x[i]) <= step * (1 + 1e-6), Is.True, $"finite block element {i}: {x[i]} -> {y[i]}");
        }
    }

    [Test]
    public void EmptyInputIsANoOp()
    {
        using var dx = Device.Allocate<float>(0);
        using var q = Quantization.Quantize(dx, 0, 5, new QuantizationOptions());
        Assert.That(q.Plan.NumBlocks, Is.Zero);
        Assert.That(q.Plan.TotalBytes, Is.Zero);
        using var y = Quantization.Dequantize(q);
        Assert.That(y.Length, Is.Zero);
    }

    /// <summary>The same stream, the same result: QuantizeInto reuses the tensor without allocating, and a created stream works.</summary>
    [Test]
    public void QuantizeIntoOnAStreamMatchesQuantize()
    {
        var o = QuantizationOptions.IExact with { BlockSize = 256 };
        float[] x = QuantHarness.Generate(10_000, DataKind.Gaussian, 8, 256, QuantElementType.Float32);
        using var dx = Device.Upload<float>(x);
        using var a = Quantization.Quantize(dx, 100, 100, o, 9, 10);
        using var b = Quantization.Allocate(Device, 100, 100, o);
        using var stream = Device.CreateStream();
        Quantization.QuantizeInto(dx, b, 9, 10, stream: stream);
        stream.Synchronize();
        Assert.That(b.Packed.ToArray(), Is.EqualTo(a.Packed.ToArray()));
        Assert.That(b.Seed, Is.EqualTo(9UL));
        Assert.That(b.Offset, Is.EqualTo(10UL));
    }

    internal static int Code(uint[] packed, QuantSpec s, long i)
    {
        long j = i / s.Block;
        long e = i % s.Block;
        return (int)((packed[(j * s.WordsPerBlock) + (e * s.Bits / 32)] >> (int)(e * s.Bits % 32)) & (uint)s.L);
    }

    /// <summary>p_i (probability of rounding up) from the reference's own arithmetic.</summary>
    internal static double[] Probabilities(float[] x, QuantSpec s, QuantResult r)
    {
        var p = new double[x.Length];
        float[] t = r.Levels;
        for (long i = 0; i < x.Length; i++)
        {
            long j = i / s.Block;
            float zero = r.Zero[j], step = r.Step[j];
            if (r.Poisoned[j] || step == 0) continue;
            double xs = Math.Clamp(((double)x[i] - zero) / step, 0, s.L);
            int k = 0;
            for (int c = 1; c < s.L; c++)
            {
                if (t[c] <= xs) k = c;
            }

            p[i] = Math.Clamp((xs - t[k]) / (t[k + 1] - t[k]), 0, 1);
        }

        return p;
    }
}
