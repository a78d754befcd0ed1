using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Quant;

/// <summary>One bit-exactness case: shape, leading dimensions, input type, spec.</summary>
public sealed record QuantCase(string Name, long Rows, long Cols, long Ld, long LdOut, QuantElementType Input, QuantSpec Spec, DataKind Data, ulong Seed)
{
    public override string ToString() => $"{Name} {Rows}x{Cols} ld{Ld}/{LdOut} {Input} {Spec} {Data}";
}

public enum DataKind
{
    /// <summary>Blocks of Gaussian, ReLU-Gaussian (exact zeros), heavy-tailed, constant, outlier and offset data.</summary>
    Mixed,

    /// <summary>N(0, 1).</summary>
    Gaussian,
}

/// <summary>Host data generation, device upload/download, and comparisons shared by the quantization tests.</summary>
public static class QuantHarness
{
    public static float[] Generate(long n, DataKind kind, ulong seed, int block, QuantElementType type)
    {
        var rng = new SplitMix64(seed);
        var x = new float[n];
        int flavour = 0;
        for (long i = 0; i < n; i++)
        {
            if (i % block == 0) flavour = kind == DataKind.Gaussian ? 0 : rng.NextInt(6);
            double g = Gauss(rng);
            float v = flavour switch
            {
                0 => (float)g,
                1 => (float)Math.Max(0, g),                                   // ReLU: many exact zeros
                2 => (float)(g / Math.Max(1e-3, Math.Abs(Gauss(rng)))),         // heavy tails
                3 => 0.625f,                                                    // constant block
                4 => i % block == 7 ? 1e4f : (float)(0.01 * g),                 // one outlier
                _ => (float)(1000 + (0.25 * g)),                                // offset data
            };
            x[i] = QuantReference.RoundToInput(v, type);
        }

        return x;
    }

    public static double Gauss(SplitMix64 rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>Uploads logical [rows, cols] data with leading dimension ld; the padding holds NaN (it must never be read).</summary>
    public static DeviceBuffer Upload(GraphDevice d, float[] x, long rows, long cols, long ld, QuantElementType type)
    {
        long len = rows == 0 ? 0 : ((rows - 1) * ld) + cols;
        var host = new float[len];
        Array.Fill(host, float.NaN);
        for (long r = 0; r < rows; r++)
        {
            Array.Copy(x, r * cols, host, r * ld, cols);
        }

        return type switch
        {
            QuantElementType.Float16 => d.Upload<Half>(host.Select(v => (Half)v).ToArray()),
            QuantElementType.BFloat16 => d.Upload<ushort>(host.Select(QuantReference.ToBf16Bits).ToArray()),
            _ => d.Upload<float>(host),
        };
    }

    public static DeviceBuffer AllocateOut(GraphDevice d, long rows, long cols, long ld, QuantElementType type, float fill)
    {
        long len = rows == 0 ? 0 : ((rows - 1) * ld) + cols;
        switch (type)
        {
            case QuantElementType.Float16:
                var h = d.Allocate<Half>(len);
                h.Fill((Half)fill);
                return h;
            case QuantElementType.BFloat16:
                var b = d.Allocate<ushort>(len);
                b.Fill(QuantReference.ToBf16Bits(fill));
                return b;
            default:
                var f = d.Allocate<float>(len);
                f.Fill(fill);
                return f;
        }
    }

    /// <summary>Downloads a [rows, cols] matrix with leading dimension ld as floats (logical order), and the whole buffer raw.</summary>
    public static float[] Download(DeviceBuffer y, long rows, long cols, long ld, out float[] whole)
    {
        whole = y switch
        {
            DeviceBuffer<float> f => f.ToArray(),
            DeviceBuffer<Half> h => h.ToArray().Select(v => (float)v).ToArray(),
            DeviceBuffer<ushort> b => b.ToArray().Select(QuantReference.FromBf16Bits).ToArray(),
            _ => throw new ArgumentException("unexpected buffer type", nameof(y)),
        };
        var x = new float[rows * cols];
        for (long r = 0; r < rows; r++)
        {
            Array.Copy(whole, r * ld, x, r * cols, cols);
        }

        return x;
    }

    /// <summary>The stored statistics as raw bits (float bits, or bf16 bits widened to the float they denote).</summary>
    public static (uint[] Zero, uint[] Step) StatsBits(QuantizedTensor q)
    {
        if (q.Zero is DeviceBuffer<ushort> zb)
        {
            var sb = (DeviceBuffer<ushort>)q.Step;
            return (zb.ToArray().Select(b => (uint)b << 16).ToArray(), sb.ToArray().Select(b => (uint)b << 16).ToArray());
        }

        var zf = (DeviceBuffer<float>)q.Zero;
        var sf = (DeviceBuffer<float>)q.Step;
        return (zf.ToArray().Select(BitConverter.SingleToUInt32Bits).ToArray(), sf.ToArray().Select(BitConverter.SingleToUInt32Bits).ToArray());
    }

    /// <summary>Reference statistics as the bits the device must store.</summary>
    public static uint[] RefBits(float[] stats, bool bf16) =>
        stats.Select(v => float.IsNaN(v) ? (bf16 ? (uint)QuantReference.PoisonBf16Bits << 16 : QuantReference.PoisonF32Bits) : BitConverter.SingleToUInt32Bits(v)).ToArray();

    /// <summary>First index where two arrays differ, or -1.</summary>
    public static long FirstMismatch(uint[] a, uint[] b)
    {
        if (a.Length != b.Length) return Math.Min(a.Length, b.Length);
        for (long i = 0; i < a.Length; i++)
        {
            if (a[i] != b[i]) return i;
        }

        return -1;
    }

    /// <summary>Reference dequantized value rounded to the output type.</summary>
    public static float RoundOut(float y, QuantElementType t) => float.IsNaN(y) ? float.NaN : QuantReference.RoundToInput(y, t);

    /// <summary>Equal as values with NaN == NaN and +0 distinct from -0 (bit equality of the non-NaN floats).</summary>
    public static bool SameValue(float a, float b) =>
        (float.IsNaN(a) && float.IsNaN(b)) || BitConverter.SingleToUInt32Bits(a) == BitConverter.SingleToUInt32Bits(b);
}
