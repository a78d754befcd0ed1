using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Quant;

/// <summary>The reference's own building blocks against published values (it is only as good as these).</summary>
[TestFixture]
[Category("Quantization")]
public sealed class QuantReferenceSelfTests
{
    /// <summary>Random123's known-answer vectors for philox4x32-10.</summary>
    [TestCase(0u, 0u, 0u, 0u, 0u, 0u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [TestCase(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)]
    [TestCase(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u, 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u)]
    public void PhiloxKnownAnswers(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1, uint r0, uint r1, uint r2, uint r3)
        => Assert.That(QuantReference.Philox(c0, c1, c2, c3, k0, k1), Is.EqualTo((r0, r1, r2, r3)));

    /// <summary>alpha(B) against the research note's table of the fitted rule (3 decimals) and the native export.</summary>
    [TestCase(16, 1.050)]
    [TestCase(32, 1.068)]
    [TestCase(64, 1.086)]
    [TestCase(128, 1.101)]
    [TestCase(256, 1.116)]
    [TestCase(512, 1.128)]
    [TestCase(1024, 1.139)]
    public void AlphaMatchesTheFit(int block, double expected)
    {
        Assert.That(QuantReference.AlphaFit(block), Is.EqualTo(expected).Within(0.0006));
        Assert.That(Quantization.Alpha(block), Is.EqualTo(QuantReference.AlphaFit(block)), "native alpha(B)");
    }

    [Test]
    public void Bf16RoundingIsNearestEven()
    {
        Assert.That(QuantReference.ToBf16Bits(1.0f), Is.EqualTo((ushort)0x3F80));
        Assert.That(QuantReference.ToBf16Bits(BitConverter.UInt32BitsToSingle(0x3F808000)), Is.EqualTo((ushort)0x3F80), "tie to even (down)");
        Assert.That(QuantReference.ToBf16Bits(BitConverter.UInt32BitsToSingle(0x3F818000)), Is.EqualTo((ushort)0x3F82), "tie to even (up)");
        Assert.That(QuantReference.ToBf16Bits(BitConverter.UInt32BitsToSingle(0x3F808001)), Is.EqualTo((ushort)0x3F81));
        Assert.That(QuantReference.ToBf16Bits(float.MaxValue), Is.EqualTo((ushort)0x7F80), "overflows to inf");
        Assert.That(QuantReference.Bf16Down(-1.00001f), Is.EqualTo(-1.0078125f));
        Assert.That(QuantReference.Bf16Up(1.00001f), Is.EqualTo(1.0078125f));
    }

    [Test]
    public void StepIsTheSmallestFloatCoveringTheRange()
    {
        var rng = new SplitMix64(3);
        for (int n = 0; n < 2000; n++)
        {
            float lo = (float)QuantHarness.Gauss(rng) * MathF.Pow(10, rng.NextInt(-30, 30));
            float hi = lo + (MathF.Abs((float)QuantHarness.Gauss(rng)) * MathF.Pow(10, rng.NextInt(-30, 30)));
            if (!(hi > lo) || !float.IsFinite(hi)) continue;
            int l = 3;
            float step = QuantReference.RoundUpQuotient(QuantReference.Scaled(hi) - QuantReference.Scaled(lo), l);
            Assert.That(QuantReference.Scaled(step) * l, Is.GreaterThanOrEqualTo(QuantReference.Scaled(hi) - QuantReference.Scaled(lo)));
            Assert.That(QuantReference.Scaled(MathF.BitDecrement(step)) * l, Is.LessThan(QuantReference.Scaled(hi) - QuantReference.Scaled(lo)));
        }
    }
}

/// <summary>Plans, compression ratios, and the README memory table (GraphSAGE 3 x 128 on ogbn-arxiv).</summary>
[TestFixture]
[Category("Quantization")]
public sealed class QuantizationPlanTests
{
    [Test]
    public void PlanReportsTheLayout()
    {
        var p = Quantization.Plan(1000, 130, new QuantizationOptions { Bits = 2, BlockSize = 1024 });
        Assert.That(p.NumBlocks, Is.EqualTo(127));            // ceil(130000 / 1024)
        Assert.That(p.WordsPerBlock, Is.EqualTo(64));
        Assert.That(p.PackedBytes, Is.EqualTo(127 * 64 * 4));
        Assert.That(p.StatsBytes, Is.EqualTo(127 * 4));
        Assert.That(p.TotalBytes, Is.EqualTo((127 * 64 * 4) + (2 * 127 * 4)));
        Assert.That(p.InputBytes, Is.EqualTo(130000 * 4));
        Assert.That(p.CompressionRatio, Is.EqualTo(130000.0 * 4 / p.TotalBytes));
        var bf = Quantization.Plan(1000, 130, new QuantizationOptions { StatsType = QuantElementType.BFloat16 }, QuantElementType.BFloat16);
        Assert.That(bf.StatsBytes, Is.EqualTo(127 * 2));
        Assert.That(bf.InputBytes, Is.EqualTo(130000 * 2));
        Assert.That(Quantization.Plan(10, 10, QuantizationOptions.IExact).Alpha, Is.EqualTo(Quantization.Alpha(1024)));
    }

    [TestCase(3, 1024, QuantLevels.Uniform, "bits = 3")]
    [TestCase(2, 48, QuantLevels.Uniform, "block = 48")]
    [TestCase(2, 16384, QuantLevels.Uniform, "block = 16384")]
    [TestCase(4, 1024, QuantLevels.ClipNormal2, "needs bits = 2")]
    [TestCase(2, 1024, (QuantLevels)7, "levels = 7")]
    public void PlanRejectsBadOptions(int bits, int block, QuantLevels levels, string says)
    {
        var ex = Assert.Throws<GraphKernelsException>(() => Quantization.Plan(4, 4, new QuantizationOptions { Bits = bits, BlockSize = block, Levels = levels }));
        Assert.That(ex!.Message, Does.StartWith("gk_quant_plan: ").And.Contain(says));
        Assert.That(ex.Status, Is.EqualTo(GkStatus.InvalidArgument));
    }

    [Test]
    public void PlanRejectsBadTablesAndAlpha()
    {
        Assert.That(Assert.Throws<GraphKernelsException>(() => Quantization.Plan(4, 4, new QuantizationOptions { Levels = QuantLevels.Table, LevelTable = [0f, 2f, 1f, 3f] }))!.Message,
            Does.Contain("not strictly increasing at index 2"));
        Assert.That(Assert.Throws<GraphKernelsException>(() => Quantization.Plan(4, 4, new QuantizationOptions { Levels = QuantLevels.Table, LevelTable = [0f, 1f, 2f, 2.5f] }))!.Message,
            Does.Contain("must be 0 and 3"));
        Assert.That(Assert.Throws<GraphKernelsException>(() => Quantization.Plan(4, 4, new QuantizationOptions { Levels = QuantLevels.ClipNormal2, Alpha = 1.5f }))!.Message,
            Does.Contain("alpha = 1.5"));
        Assert.Throws<ArgumentException>(() => Quantization.Plan(4, 4, new QuantizationOptions { Levels = QuantLevels.Table, LevelTable = [0f, 3f] }));
        Assert.That(Assert.Throws<GraphKernelsException>(() => Quantization.Plan(long.MaxValue / 2, 3))!.Status, Is.EqualTo(GkStatus.IndexOverflow));
    }

    /// <summary>
    /// The README's memory table: activations a 3-layer GraphSAGE (128 hidden) saves for backward on
    /// ogbn-arxiv (169,343 nodes, 128 input features): per layer the input and the aggregated input
    /// of the linear maps (6 tensors of [N, 128]) and 2 batch-norm inputs of [N, 128] (i-EXACT's
    /// accounting). EXACT stores INT2 codes plus a bf16 min and a bf16 scale per row; the block-wise
    /// rows come from the library's plan. Projection D/8 turns the 6 linear inputs into [N, 16].
    /// </summary>
    [Test]
    public void ReadmeMemoryTable()
    {
        const long n = 169_343, d = 128, k = 16;
        long fp32 = 8 * n * d * 4;
        long exactRp = (6 * n * ((k * 2 / 8) + 4)) + (2 * n * ((d * 2 / 8) + 4));
        var o = new QuantizationOptions { Bits = 2, BlockSize = 1024 };
        long block = 8 * Quantization.Plan(n, d, o).TotalBytes;
        long blockRp = (6 * Quantization.Plan(n, k, o).TotalBytes) + (2 * Quantization.Plan(n, d, o).TotalBytes);
        var bf = o with { StatsType = QuantElementType.BFloat16 };
        long blockRpBf16 = (6 * Quantization.Plan(n, k, bf).TotalBytes) + (2 * Quantization.Plan(n, d, bf).TotalBytes);

        static string Row(string name, long bytes, long fp32) => $"| {name} | {bytes:N0} | {bytes / 1048576.0:F2} | {100.0 * (1 - ((double)bytes / fp32)):F1} % |";
        TestContext.Out.WriteLine("| configuration | bytes | MiB | saved vs FP32 |");
        TestContext.Out.WriteLine("|---|---:|---:|---:|");
        TestContext.Out.WriteLine(Row("FP32", fp32, fp32));
        TestContext.Out.WriteLine(Row("EXACT: per-row INT2, D/8 projection, bf16 min+scale per row", exactRp, fp32));
        TestContext.Out.WriteLine(Row("block INT2, B = 1024, fp32 stats, no projection", block, fp32));
        TestContext.Out.WriteLine(Row("block INT2, B = 1024, fp32 stats, D/8 projection", blockRp, fp32));
        TestContext.Out.WriteLine(Row("block INT2, B = 1024, bf16 stats, D/8 projection", blockRpBf16, fp32));

        Assert.That(fp32, Is.EqualTo(693_628_928));
        Assert.That(exactRp, Is.EqualTo(120 * n));   // 6 N (4 + 4) + 2 N (32 + 4)
        Assert.That(block, Is.EqualTo(8 * ((21_168 * 64 * 4) + (2 * 21_168 * 4))));
        Assert.That(blockRp, Is.EqualTo((6 * ((2_646 * 64 * 4) + (2 * 2_646 * 4))) + (2 * ((21_168 * 64 * 4) + (2 * 21_168 * 4)))));
        Assert.That(1 - ((double)blockRp / fp32), Is.GreaterThan(0.95), "> 95 % less than FP32 with INT2 after D/8 projection");
        // i-EXACT's logged saving over EXACT (4.91 MB of 30.47 MB total activation memory; the research
        // note derives 4.94 MiB for exactly these tensors): the same arithmetic with bf16 stats.
        Assert.That((exactRp - blockRpBf16) / 1048576.0, Is.EqualTo(4.94).Within(1).Percent, "block INT2 saving over EXACT, MiB");
    }
}

/// <summary>Bad arguments through the managed API: an exception naming the argument; the outputs keep their bytes.</summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[TestFixture(DeviceKind.Ilgpu, Category = "Ilgpu")]
[Category("Quantization")]
[Category("BadInput")]
public sealed class QuantizationBadInputTests
{
    private readonly DeviceKind kind;
    private GraphDevice? device;

    public QuantizationBadInputTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    [Test]
    public void RejectedCallsLeaveOutputsUntouched()
    {
        using var q = Quantization.Allocate(Device, 10, 40, new QuantizationOptions { BlockSize = 64 });
        q.Packed.Fill(0xA5A5A5A5u);
        ((DeviceBuffer<float>)q.Zero).Fill(-7f);
        ((DeviceBuffer<float>)q.Step).Fill(-9f);
        using var shortX = Device.Upload<float>(new float[399]);
        using var goodX = Device.Upload<float>(new float[400]);
        using var halfX = Device.Upload<Half>(new Half[400]);
        using var intX = Device.Upload<int>(new int[400]);
        using var other = GraphDevice.Emulated();
        using var foreignX = other.Upload<float>(new float[400]);

        Assert.That(Assert.Throws<ArgumentException>(() => Quantization.QuantizeInto(shortX, q, 1, 1))!.ParamName, Is.EqualTo("x"));
        Assert.That(Assert.Throws<ArgumentException>(() => Quantization.QuantizeInto(halfX, q, 1, 1))!.ParamName, Is.EqualTo("x"));
        Assert.That(Assert.Throws<ArgumentException>(() => Quantization.QuantizeInto(intX, q, 1, 1))!.ParamName, Is.EqualTo("x"));
        Assert.That(Assert.Throws<ArgumentException>(() => Quantization.QuantizeInto(foreignX, q, 1, 1))!.ParamName, Is.EqualTo("x"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => Quantization.QuantizeInto(goodX, q, 1, 1, ld: 39))!.ParamName, Is.EqualTo("ld"));
        Assert.That(Assert.Throws<ArgumentException>(() => Quantization.QuantizeInto(goodX, q, 1, 1, ld: 41))!.ParamName, Is.EqualTo("x"));

        Assert.That(q.Packed.ToArray(), Is.All.EqualTo(0xA5A5A5A5u));
        Assert.That(((DeviceBuffer<float>)q.Zero).ToArray(), Is.All.EqualTo(-7f));
        Assert.That(((DeviceBuffer<float>)q.Step).ToArray(), Is.All.EqualTo(-9f));
        Assert.That(q.HasData, Is.False);

        using var y = Device.Allocate<float>(400);
        y.Fill(3f);
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => Quantization.Dequantize(q, y, ldY: 20))!.ParamName, Is.EqualTo("ldY"));
        Assert.That(Assert.Throws<ArgumentException>(() => Quantization.Dequantize(q, y, ldY: 41))!.ParamName, Is.EqualTo("y"));
        Assert.That(y.ToArray(), Is.All.EqualTo(3f));
    }
}
