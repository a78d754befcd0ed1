using GraphKernels.Ilgpu;
using GraphKernels.Tests.Quant;

namespace GraphKernels.Tests.IlgpuBackend;

/// <summary>
/// Block-wise quantization on ILGPU's CPU accelerator against the emulated CUDA library, bit for bit:
/// packed codes, zero and step bits, and dequantized values (fp32/fp16/bf16 out). Equal by design: the
/// statistics are order-independent (min/max, a zero minimum canonicalised to +0) and use the same fp64
/// directed corrections; every code uses the same Philox4x32-10 draw (counter (i &gt;&gt; 3, offset), key
/// seed) and the same separately rounded fp32 operations (the CUDA quantize path has no fmaf; the
/// dequantize fmaf is mirrored by MathF.FusedMultiplyAdd). The oracle checks of the same kernels run in
/// QuantizationDeviceTests (fixture DeviceKind.Ilgpu, against QuantReference); here only equality with
/// the emulated CUDA kernels is asserted. Sizes are kept small (the CPU accelerator simulates threads).
/// </summary>
[TestFixture]
[Category("Ilgpu")]
[Category("Quantization")]
public sealed class IlgpuQuantizationCrossBackendTests : CrossBackendFixture
{
    private static readonly (ulong Seed, ulong Offset)[] Streams =
    [
        (0, 0),
        (0x5EED, 77),
        (0xFFFF_FFFF_0000_0001UL, 0x1_0000_0003UL),   // high words of seed and offset in play
        (0x0123_4567_89AB_CDEFUL, ulong.MaxValue - 5),
    ];

    public static IEnumerable<TestCaseData> Cases()
    {
        var specs = new List<QuantizationOptions>();
        foreach (int bits in new[] { 1, 2, 4, 8 })
        {
            specs.Add(new QuantizationOptions { Bits = bits, BlockSize = 64, Levels = QuantLevels.Uniform });
        }

        specs.Add(QuantizationOptions.IExact with { BlockSize = 256 });
        specs.Add(new QuantizationOptions { Bits = 2, BlockSize = 96, Levels = QuantLevels.ClipNormal2, Alpha = 0.7f, StatsType = QuantElementType.BFloat16 });
        specs.Add(new QuantizationOptions { Bits = 4, BlockSize = 32, Levels = QuantLevels.Uniform, StatsType = QuantElementType.BFloat16 });
        specs.Add(new QuantizationOptions { Bits = 2, BlockSize = 32, Levels = QuantLevels.Table, LevelTable = [0f, 0.25f, 2.5f, 3f] });
        specs.Add(new QuantizationOptions { Bits = 8, BlockSize = 128, Levels = QuantLevels.Uniform, StatsType = QuantElementType.BFloat16 });
        var inputs = new[] { QuantElementType.Float32, QuantElementType.Float16, QuantElementType.BFloat16 };
        int c = 0;
        foreach (var o in specs)
        {
            for (int s = 0; s < Streams.Length; s++, c++)
            {
                var type = inputs[c % 3];
                // rows x cols with a partial last block; every other case strided (ld > cols).
                long rows = 7 + (c % 5), cols = 37 + (3 * (c % 4));
                long ld = c % 2 == 0 ? cols : cols + 5;
                yield return new TestCaseData(o, type, rows, cols, ld, Streams[s].Seed, Streams[s].Offset, (ulong)(100 + c))
                    .SetArgDisplayNames($"{o.Bits}b/B{o.BlockSize}/{o.Levels}/{o.StatsType}", type.ToString(), $"{rows}x{cols} ld {ld}", $"seed {Streams[s].Seed:X}", $"offset {Streams[s].Offset:X}", $"data {100 + c}");
            }
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void CodesStatsAndDequantizedValuesAreBitwiseEqualToTheEmulatedCudaKernels(QuantizationOptions o, QuantElementType type,
        long rows, long cols, long ld, ulong seed, ulong offset, ulong dataSeed)
    {
        float[] x = QuantHarness.Generate(rows * cols, DataKind.Mixed, dataSeed, o.BlockSize, type);
        if (dataSeed % 3 == 0)
        {
            Plant(x, o.BlockSize);
        }

        var (pe, ze, se, ye) = Run(emulated!, o, type, x, rows, cols, ld, seed, offset);
        var (pi, zi, si, yi) = Run(ilgpu!, o, type, x, rows, cols, ld, seed, offset);
        Assert.That(QuantHarness.FirstMismatch(pi, pe), Is.EqualTo(-1), "packed words: first differing index");
        Assert.That(QuantHarness.FirstMismatch(zi, ze), Is.EqualTo(-1), "zero bits: first differing block");
        Assert.That(QuantHarness.FirstMismatch(si, se), Is.EqualTo(-1), "step bits: first differing block");
        for (int t = 0; t < 3; t++)
        {
            Assert.That(QuantHarness.FirstMismatch(yi[t], ye[t]), Is.EqualTo(-1), $"dequantized {(QuantElementType)t} output bits (padding included): first differing index");
        }
    }

    /// <summary>Ten quantizations of the same input on ILGPU give identical bytes.</summary>
    [Test]
    public void TenRunsAreBitwiseIdentical()
    {
        var o = QuantizationOptions.IExact with { BlockSize = 128 };
        float[] x = QuantHarness.Generate(40 * 50, DataKind.Mixed, 9, o.BlockSize, QuantElementType.Float32);
        var first = Run(ilgpu!, o, QuantElementType.Float32, x, 40, 50, 50, 3, 4);
        for (int i = 1; i < 10; i++)
        {
            var again = Run(ilgpu!, o, QuantElementType.Float32, x, 40, 50, 50, 3, 4);
            Assert.That(again.Packed, Is.EqualTo(first.Packed), $"run {i} packed");
            Assert.That(again.Zero, Is.EqualTo(first.Zero), $"run {i} zero");
            Assert.That(again.Step, Is.EqualTo(first.Step), $"run {i} step");
        }
    }

    /// <summary>
    /// The exact-split sign of d - q L that replaces CUDA's fp64 fma(-q, L, d) in the step computation,
    /// against Math.FusedMultiplyAdd (correctly rounded, so its sign is the exact remainder's) over
    /// random positive d across the fp32-difference range and every L used (1, 3, 15, 255).
    /// </summary>
    [Test]
    public void RemainderSignMatchesFusedMultiplyAdd()
    {
        var rng = new Random(7);
        int positive = 0, checkedCount = 0;
        foreach (double ld in new[] { 1.0, 3.0, 15.0, 255.0 })
        {
            for (int i = 0; i < 200_000; i++)
            {
                double d = Math.ScaleB(1.0 + rng.NextDouble(), rng.Next(-160, 130));
                if (i % 7 == 0)
                {
                    d = BitConverter.Int64BitsToDouble(BitConverter.DoubleToInt64Bits(d) | 0xFFFFFFF); // long low significand
                }

                double q = d / ld;
                bool expect = Math.FusedMultiplyAdd(-q, ld, d) > 0.0;
                Assert.That(QuantKernels.RemainderPositive(d, q, ld), Is.EqualTo(expect), $"d = {d:R}, L = {ld}");
                positive += expect ? 1 : 0;
                checkedCount++;
            }
        }

        Assert.That(positive, Is.InRange(checkedCount / 10, checkedCount - (checkedCount / 10)), "both signs occur (L = 1 is always exact, so well below all)");
    }

    /// <summary>Special blocks: tiny (subnormal-range) spreads, constants, a NaN, an infinity and an overflowing range.</summary>
    private static void Plant(float[] x, int block)
    {
        int blocks = x.Length / block;
        for (int b = 0; b < blocks; b++)
        {
            int s = b * block;
            switch (b % 6)
            {
                case 0:
                    for (int t = 0; t < block; t++) x[s + t] = BitConverter.Int32BitsToSingle(t * 3);   // subnormals: step < 2^-100
                    break;
                case 1:
                    for (int t = 0; t < block; t++) x[s + t] = -0.0f;
                    break;
                case 2:
                    x[s + 1] = float.NaN;
                    break;
                case 3:
                    x[s] = -3e38f;
                    x[s + 2] = 3e38f;
                    break;
                case 4:
                    x[s + 3] = float.PositiveInfinity;
                    break;
            }
        }
    }

    private static (uint[] Packed, uint[] Zero, uint[] Step, uint[][] Y) Run(GraphDevice d, QuantizationOptions o, QuantElementType type,
        float[] x, long rows, long cols, long ld, ulong seed, ulong offset)
    {
        using var dx = QuantHarness.Upload(d, x, rows, cols, ld, type);
        using var q = Quantization.Quantize(dx, rows, cols, o, seed, offset, ld);
        uint[] packed = q.Packed.ToArray();
        var (zero, step) = QuantHarness.StatsBits(q);
        long ldOut = cols + 3;
        var ys = new uint[3][];
        foreach (var t in new[] { QuantElementType.Float32, QuantElementType.Float16, QuantElementType.BFloat16 })
        {
            using var y = QuantHarness.AllocateOut(d, rows, cols, ldOut, t, 1.5f);
            Quantization.Dequantize(q, y, ldOut);
            ys[(int)t] = y switch
            {
                DeviceBuffer<float> f => f.ToArray().Select(BitConverter.SingleToUInt32Bits).ToArray(),
                DeviceBuffer<Half> h => h.ToArray().Select(v => (uint)BitConverter.HalfToUInt16Bits(v)).ToArray(),
                DeviceBuffer<ushort> u => u.ToArray().Select(v => (uint)v).ToArray(),
                _ => throw new InvalidOperationException(),
            };
        }

        return (packed, zero, step, ys);
    }
}
