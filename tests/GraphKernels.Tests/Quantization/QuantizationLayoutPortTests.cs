using GraphKernels.Interop;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Quant;

/// <summary>
/// The C# port of the host-only quantization functions (QuantizationLayout: gk_quant_plan,
/// gk_quant_alpha, gk_quant_projection_scale), which Quantization.Plan/Allocate/Alpha/ProjectionScale
/// use on every backend so that ILGPU needs no native library, against the native functions of the
/// emulated library: every field of the layout and, for rejected descriptors, the status and the whole
/// message, over a sweep of shapes (empty, 1, partial blocks, 2^31-ish, near-int64-overflow), every bit
/// width (valid and not), block sizes (0, multiples of 32 and not, the limits), dtypes, stats dtypes,
/// level modes (with alphas and tables, good and bad), max_grid and reserved. Exact equality: both
/// sides are integer arithmetic plus one double expression (alpha) evaluated in the same order with
/// the same libm log, and printf %g, which the port reimplements.
/// </summary>
[TestFixture]
[Category("Quantization")]
[Category("Ilgpu")]
public sealed unsafe class QuantizationLayoutPortTests
{
    private static NativeApi Native => NativeApi.Load(DeviceKind.Emulated);

    private static (GkStatus Status, GkQuantLayout Layout, string Message) RunNative(GkQuantDesc desc, float[]? table)
    {
        var api = Native;
        GkQuantLayout layout;
        int status;
        fixed (float* t = table)
        {
            desc.LevelTable = (nint)t;
            status = api.gk_quant_plan(&desc, &layout);
        }

        string message = status == 0 ? string.Empty : LibraryProbe.Utf8(api.gk_last_error_message());
        return ((GkStatus)status, status == 0 ? layout : default, message);
    }

    private static void Compare(GkQuantDesc desc, float[]? table, string what, ref int rejected)
        => Compare(desc, table, () => what, ref rejected);

    /// <summary>Compares status, message and every layout field; the description is built only for a failure report.</summary>
    private static void Compare(GkQuantDesc desc, float[]? table, Func<string> what, ref int rejected)
    {
        var (ns, nl, nm) = RunNative(desc, table);
        GkStatus cs = QuantizationLayout.TryPlan(desc, table, out GkQuantLayout cl, out string cm);
        if (cs != ns || cm != nm)
        {
            Assert.Fail($"{what()}: C# {cs} '{cm}', native {ns} '{nm}'");
        }

        if (ns != GkStatus.Success)
        {
            rejected++;
            return;
        }

        if (cl.NumBlocks != nl.NumBlocks || cl.WordsPerBlock != nl.WordsPerBlock || cl.PackedBytes != nl.PackedBytes
            || cl.StatsBytes != nl.StatsBytes || cl.TotalBytes != nl.TotalBytes || cl.InputBytes != nl.InputBytes
            || cl.Block != nl.Block || BitConverter.SingleToUInt32Bits(cl.Alpha) != BitConverter.SingleToUInt32Bits(nl.Alpha))
        {
            Assert.Fail($"{what()}: C# layout ({cl.NumBlocks}, {cl.WordsPerBlock}, {cl.PackedBytes}, {cl.StatsBytes}, {cl.TotalBytes}, {cl.InputBytes}, {cl.Block}, {cl.Alpha:R}), "
                + $"native ({nl.NumBlocks}, {nl.WordsPerBlock}, {nl.PackedBytes}, {nl.StatsBytes}, {nl.TotalBytes}, {nl.InputBytes}, {nl.Block}, {nl.Alpha:R})");
        }
    }

    /// <summary>Shapes x bits x blocks x dtype x stats x uniform/clipnorm levels (about 40,000 descriptors).</summary>
    [Test]
    public void EveryFieldAndMessageMatchesTheNativePlanOverTheSweep()
    {
        long[] dims = [0, 1, 3, 31, 32, 33, 1000, 1023, 1024, 1025, 169_343, 1L << 31, (1L << 31) + 7, 3_037_000_499, 1L << 40, long.MaxValue / 3, long.MaxValue, -1, long.MinValue];
        int[] bits = [0, 1, 2, 3, 4, 8, 16, -2];
        int[] blocks = [0, 32, 48, 64, 96, 1024, 4096, 8160, 8192, 8224, 16384, 31, -32];
        int[] dtypes = [0, 1, 2, 3, 4, -1];
        int[] stats = [0, 2, 1, 3];
        int accepted = 0, rejected = 0;
        foreach (long rows in dims)
        {
            foreach (long cols in dims)
            {
                foreach (int b in bits)
                {
                    foreach (int block in blocks)
                    {
                        foreach (int dt in (rows == 1000 && cols == 33) || (rows == 0 && cols == 0) ? dtypes : [0, 2])
                        {
                            foreach (int st in (rows == 1000 && cols == 33) ? stats : [0, 2])
                            {
                                foreach (int lv in new[] { 0, 1 })
                                {
                                    var d = new GkQuantDesc { Rows = rows, Cols = cols, Bits = b, Block = block, Dtype = dt, StatsDtype = st, Levels = lv };
                                    int before = rejected;
                                    Compare(d, null, () => $"rows {rows}, cols {cols}, bits {b}, block {block}, dtype {dt}, stats {st}, levels {lv}", ref rejected);
                                    accepted += rejected == before ? 1 : 0;
                                }
                            }
                        }
                    }
                }
            }
        }

        TestContext.Out.WriteLine($"{accepted} accepted and {rejected} rejected descriptors identical");
        Assert.That(accepted, Is.GreaterThan(1000), "the sweep must reach the success path");
        Assert.That(rejected, Is.GreaterThan(1000), "and the error paths");
    }

    /// <summary>Fields a C# caller cannot set wrongly through QuantizationOptions (ld, reserved, max_grid) and odd level modes.</summary>
    [Test]
    public void DescriptorFieldsOutsideTheOptionsMatch()
    {
        int rejected = 0;
        var baseDesc = new GkQuantDesc { Rows = 100, Cols = 40, Bits = 2, Block = 64 };
        foreach (long ld in new long[] { 0, 39, 40, 41, -5 })
        {
            Compare(baseDesc with { Ld = ld }, null, $"ld {ld}", ref rejected);
        }

        foreach (int reserved in new[] { 0, 1, -7 })
        {
            Compare(baseDesc with { Reserved = reserved }, null, $"reserved {reserved}", ref rejected);
        }

        foreach (int maxGrid in new[] { 0, 1, 1 << 20, -1, int.MinValue })
        {
            Compare(baseDesc with { MaxGrid = maxGrid }, null, $"max_grid {maxGrid}", ref rejected);
        }

        foreach (int levels in new[] { 3, -1, 100 })
        {
            Compare(baseDesc with { Levels = levels }, null, $"levels {levels}", ref rejected);
        }

        Compare(baseDesc with { Levels = 2 }, null, "table mode without a table", ref rejected);
        Compare(baseDesc with { Levels = 1, Bits = 4 }, null, "clipnorm2 at 4 bits", ref rejected);
        Compare(baseDesc with { Rows = -3, Cols = -4, Bits = 3 }, null, "several errors: the first in native order wins", ref rejected);
        Assert.That(rejected, Is.EqualTo(12));
    }

    /// <summary>
    /// i-EXACT alphas (given and from the fit, every block size) and the %g of the rejected ones:
    /// NaN of either sign, infinities, ties at the sixth digit (1234565 = 1.23456e+06 by half-even),
    /// subnormals, values printed in fixed and exponent notation.
    /// </summary>
    [Test]
    public void AlphaAndItsMessagesMatch()
    {
        int rejected = 0;
        float[] alphas =
        [
            0f, -0f, -1f, 0.5f, 1.1f, 1.4999999f, 1.5f, 1.5000001f, 2f, 1234565f, 1234575f, 999999.5f, 9999995f, 123456.5f,
            0.0001f, 0.00001234565f, 3.4028235e38f, float.Epsilon, float.PositiveInfinity, float.NegativeInfinity,
            float.NaN, BitConverter.UInt32BitsToSingle(0x7FC00000u), BitConverter.UInt32BitsToSingle(0x7F800001u), BitConverter.UInt32BitsToSingle(0xFFC12345u),
            100f, 1e6f, 1e-4f, 1e-5f, 0.1f, 7.77777e10f, -2.5e-7f,
        ];
        foreach (float a in alphas)
        {
            foreach (int block in new[] { 0, 32, 1024, 8192 })
            {
                Compare(new GkQuantDesc { Rows = 7, Cols = 5, Bits = 2, Block = block, Levels = 1, Alpha = a }, null, $"alpha {a:R} (0x{BitConverter.SingleToUInt32Bits(a):X8}), block {block}", ref rejected);
            }
        }

        var rng = new SplitMix64(17);
        for (int i = 0; i < 3000; i++)
        {
            float a = BitConverter.UInt32BitsToSingle((uint)rng.NextUInt64());
            Compare(new GkQuantDesc { Rows = 7, Cols = 5, Bits = 2, Block = 96, Levels = 1, Alpha = a }, null, $"alpha 0x{BitConverter.SingleToUInt32Bits(a):X8}", ref rejected);
        }

        Assert.That(rejected, Is.GreaterThan(500), "about a quarter of random bit patterns are >= 1.5 or NaN");
        var api = Native;
        for (int block = -40; block <= 9000; block++)
        {
            float native = api.gk_quant_alpha(block);
            if (BitConverter.SingleToUInt32Bits(Quantization.Alpha(block)) != BitConverter.SingleToUInt32Bits(native))
            {
                Assert.Fail($"Quantization.Alpha({block}) = {Quantization.Alpha(block):R}, gk_quant_alpha {native:R}");
            }
        }

        foreach (int block in new[] { int.MinValue, int.MaxValue })
        {
            Assert.That(Quantization.Alpha(block), Is.EqualTo(api.gk_quant_alpha(block)), $"alpha({block})");
        }
    }

    /// <summary>Level tables of every width, good and bad (first/last level, not increasing, NaN, -0, subnormal steps), random ones included.</summary>
    [Test]
    public void LevelTablesAndTheirMessagesMatch()
    {
        int rejected = 0, accepted = 0;
        var rng = new SplitMix64(0x7AB1E);
        foreach (int b in new[] { 1, 2, 4, 8 })
        {
            int l = (1 << b) - 1;
            var good = new float[l + 1];
            for (int k = 0; k <= l; k++) good[k] = k;
            var variants = new List<(string, float[])> { ("uniform", good) };
            for (int k = 0; k <= l; k++)
            {
                foreach (float v in new[] { float.NaN, -0f, 0f, l, k + 0.5f, k - 1e-7f, float.Epsilon, -float.Epsilon, float.PositiveInfinity, 1234565f, 0.00001234565f })
                {
                    var t = (float[])good.Clone();
                    t[k] = v;
                    variants.Add(($"t[{k}] = {v:R}", t));
                }
            }

            for (int i = 0; i < 200; i++)
            {
                // Random increasing interior levels, sometimes with one swapped pair or a repeated level.
                var t = new float[l + 1];
                t[l] = l;
                for (int k = 1; k < l; k++) t[k] = (float)(rng.NextDouble() * l);
                Array.Sort(t, 1, Math.Max(0, l - 1));
                if (i % 3 == 1 && l > 2) (t[1], t[2]) = (t[2], t[1]);
                if (i % 3 == 2 && l > 2) t[2] = t[1];
                variants.Add(($"random {i}", t));
            }

            foreach (var (name, t) in variants)
            {
                int before = rejected;
                Compare(new GkQuantDesc { Rows = 9, Cols = 11, Bits = b, Block = 32, Levels = 2 }, t, $"{b} bits, {name}", ref rejected);
                accepted += before == rejected ? 1 : 0;
            }
        }

        TestContext.Out.WriteLine($"{accepted} tables accepted, {rejected} rejected, identically");
        Assert.That(accepted, Is.GreaterThan(100));
        Assert.That(rejected, Is.GreaterThan(100));
    }

    /// <summary>printf("%g") of doubles (the port's formatter) against known glibc outputs, independent of the native library.</summary>
    [TestCase(1.5, "1.5")]
    [TestCase(0.0001, "0.0001")]
    [TestCase(0.00001, "1e-05")]
    [TestCase(123456.0, "123456")]
    [TestCase(1234565.0, "1.23456e+06")]   // an exact tie rounds half to even
    [TestCase(1234575.0, "1.23458e+06")]
    [TestCase(999999.5, "1e+06")]
    [TestCase(3.4028234663852886e38, "3.40282e+38")]
    [TestCase(4.9406564584124654e-324, "4.94066e-324")]
    [TestCase(-2.5, "-2.5")]
    [TestCase(-0.0, "-0")]
    [TestCase(100.0, "100")]
    [TestCase(1e100, "1e+100")]
    [TestCase(0.000123456789, "0.000123457")]
    public void PercentGFormatsLikeGlibc(double value, string expected)
        => Assert.That(QuantizationLayout.G(value), Is.EqualTo(expected));

    /// <summary>Through the public API: the same exception type, status and message whether or not the native library is consulted.</summary>
    [Test]
    public void PublicPlanThrowsTheNativeSentence()
    {
        var ex = Assert.Throws<GraphKernelsException>(() => Quantization.Plan(4, 4, new QuantizationOptions { Levels = QuantLevels.Table, LevelTable = [0f, 1f, float.NaN, 3f] }));
        var desc = new GkQuantDesc { Rows = 4, Cols = 4, Bits = 2, Block = 1024, Levels = 2 };
        var (status, _, message) = RunNative(desc, [0f, 1f, float.NaN, 3f]);
        Assert.That(ex!.Status, Is.EqualTo(status));
        Assert.That(ex.Message, Is.EqualTo(message));
        Assert.That(message, Does.Contain("(nan after 1)").Or.Contain("(-nan after 1)"));
    }

    /// <summary>gk_quant_projection_scale for every K up to 2^18 and the ends of int.</summary>
    [Test]
    public void ProjectionScaleMatchesTheNativeFunction()
    {
        var api = Native;
        foreach (int k in Enumerable.Range(-3, (1 << 18) + 4).Concat([int.MaxValue, int.MinValue]))
        {
            float native = api.gk_quant_projection_scale(k);
            if (BitConverter.SingleToUInt32Bits(Quantization.ProjectionScale(k)) != BitConverter.SingleToUInt32Bits(native))
            {
                Assert.Fail($"ProjectionScale({k}) = {Quantization.ProjectionScale(k):R}, native {native:R}");
            }
        }
    }
}
