using System.Numerics;

namespace GraphKernels.Tests.Quant;

/// <summary>What a quantization call is asked to do (the reference's own copy of the options).</summary>
public sealed record QuantSpec(int Bits, int Block, QuantLevels Levels, bool StatsBf16, float Alpha = 0, float[]? Table = null)
{
    public int L => (1 << Bits) - 1;

    public int WordsPerBlock => Block * Bits / 32;

    public QuantizationOptions ToOptions(int maxGrid = 0) => new()
    {
        Bits = Bits,
        BlockSize = Block,
        Levels = Levels,
        Alpha = Alpha,
        LevelTable = Table,
        StatsType = StatsBf16 ? QuantElementType.BFloat16 : QuantElementType.Float32,
        MaxGrid = maxGrid,
    };

    public override string ToString() =>
        $"{Bits}b/B{Block}/{Levels}{(Alpha > 0 ? "(" + Alpha.ToString("R") + ")" : string.Empty)}/{(StatsBf16 ? "bf16" : "f32")}-stats";
}

/// <summary>The reference's result: codes, statistics as stored (bits), and the levels used.</summary>
public sealed class QuantResult
{
    public required uint[] Packed { get; init; }

    /// <summary>Stored zero as a float (bf16 statistics widened exactly).</summary>
    public required float[] Zero { get; init; }

    public required float[] Step { get; init; }

    public required float[] Levels { get; init; }

    public required bool[] Poisoned { get; init; }

    public required int[] Codes { get; init; }
}

/// <summary>
/// Plain C# reference of docs/quantization.md, written from the definition and never shared with
/// the code under test: Philox4x32-10 from its published description, the step rounded up by exact
/// rational arithmetic (BigInteger), bf16 rounding by comparing distances, levels by linear search.
/// It mirrors the definition's fp32 operation order with float arithmetic (no FMA contraction in .NET).
/// </summary>
public static class QuantReference
{
    public const uint PoisonF32Bits = 0x7FFFFFFF;
    public const ushort PoisonBf16Bits = 0x7FFF;

    // ------------------------------------------------------------------ RNG -------------------
    public static (uint, uint, uint, uint) Philox(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        for (int round = 0; round < 10; round++)
        {
            if (round > 0)
            {
                k0 += 0x9E3779B9u;
                k1 += 0xBB67AE85u;
            }

            ulong p0 = 0xD2511F53ul * c0;
            ulong p1 = 0xCD9E8D57ul * c2;
            uint hi0 = (uint)(p0 >> 32), lo0 = (uint)p0;
            uint hi1 = (uint)(p1 >> 32), lo1 = (uint)p1;
            (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0);
        }

        return (c0, c1, c2, c3);
    }

    /// <summary>The 16-bit draw h_i of flat element i.</summary>
    public static uint Draw16(ulong seed, ulong offset, long i)
    {
        ulong g = (ulong)i >> 3;
        var (a, b, c, d) = Philox((uint)g, (uint)(g >> 32), (uint)offset, (uint)(offset >> 32), (uint)seed, (uint)(seed >> 32));
        uint word = ((i >> 1) & 3) switch { 0 => a, 1 => b, 2 => c, _ => d };
        return (i & 1) == 0 ? word & 0xFFFF : word >> 16;
    }

    /// <summary>u_i = (h_i + 0.5) 2^-16 (exact in float).</summary>
    public static float Uniform(ulong seed, ulong offset, long i) => (Draw16(seed, offset, i) + 0.5f) * (1.0f / 65536.0f);

    // ------------------------------------------------------------------ random projection -----
    /// <summary>
    /// Whether R's entry (d, c) of a [dim x projDim] projection is negative: bit e = d * projDim + c,
    /// bit (e % 32) of word (e / 32) % 4 of Philox(counter (e / 128, 0, "GRPR" = 0x52505247, 0xFFFFFFFF), key seed).
    /// </summary>
    public static bool ProjectionNegative(ulong seed, int projDim, int d, int c)
    {
        long e = ((long)d * projDim) + c;
        var (a, b, cc, dd) = Philox((uint)(e >> 7), 0u, 0x52505247u, 0xFFFFFFFFu, (uint)seed, (uint)(seed >> 32));
        uint word = ((e >> 5) & 3) switch { 0 => a, 1 => b, 2 => cc, _ => dd };
        return ((word >> (int)(e & 31)) & 1) != 0;
    }

    /// <summary>R as +-1 signs, [dim, projDim] row-major.</summary>
    public static sbyte[] ProjectionSigns(ulong seed, int dim, int projDim)
    {
        var s = new sbyte[(long)dim * projDim];
        for (int d = 0; d < dim; d++)
        {
            for (int c = 0; c < projDim; c++) s[((long)d * projDim) + c] = ProjectionNegative(seed, projDim, d, c) ? (sbyte)-1 : (sbyte)1;
        }

        return s;
    }

    /// <summary>x R in double (exact R = +-1/sqrt(K)), rows of x dense [rows, dim].</summary>
    public static double[] ProjectDouble(ReadOnlySpan<float> x, long rows, int dim, int projDim, sbyte[] signs)
    {
        var p = new double[rows * projDim];
        double scale = 1.0 / Math.Sqrt(projDim);
        for (long r = 0; r < rows; r++)
        {
            for (int c = 0; c < projDim; c++)
            {
                double acc = 0;
                for (int d = 0; d < dim; d++) acc += signs[((long)d * projDim) + c] * (double)x[(int)((r * dim) + d)];
                p[(r * projDim) + c] = acc * scale;
            }
        }

        return p;
    }

    /// <summary>p R^T in double, p dense [rows, projDim].</summary>
    public static double[] UnprojectDouble(ReadOnlySpan<float> p, long rows, int dim, int projDim, sbyte[] signs)
    {
        var x = new double[rows * dim];
        double scale = 1.0 / Math.Sqrt(projDim);
        for (long r = 0; r < rows; r++)
        {
            for (int d = 0; d < dim; d++)
            {
                double acc = 0;
                for (int c = 0; c < projDim; c++) acc += signs[((long)d * projDim) + c] * (double)p[(int)((r * projDim) + c)];
                x[(r * dim) + d] = acc * scale;
            }
        }

        return x;
    }

    // ------------------------------------------------------------------ levels ----------------
    public static float AlphaFit(int block)
    {
        double b = Math.Clamp((double)block, 4.0, 2047.0);
        return (float)(0.83162565 + (0.02993653 * Math.Log(116.05528511 * b)) + (1.225e-5 * b) - (0.00171617 * Math.Sqrt(b)));
    }

    public static float[] LevelsOf(QuantSpec s)
    {
        switch (s.Levels)
        {
            case QuantLevels.Uniform:
                return Enumerable.Range(0, s.L + 1).Select(k => (float)k).ToArray();
            case QuantLevels.ClipNormal2:
                float a = s.Alpha > 0 ? s.Alpha : AlphaFit(s.Block);
                return [0f, a, 3f - a, 3f];
            default:
                return s.Table!.ToArray();
        }
    }

    // ------------------------------------------------------------------ 16-bit floats ---------
    /// <summary>float -> bf16 bits, round to nearest, ties to even, by comparing the two candidates' distances.</summary>
    public static ushort ToBf16Bits(float x)
    {
        if (float.IsNaN(x)) return PoisonBf16Bits;
        uint bits = BitConverter.SingleToUInt32Bits(x);
        uint lo = bits & 0xFFFF0000u;
        if (lo == bits) return (ushort)(bits >> 16);
        uint hi = lo + 0x10000u;   // next in magnitude (0x7F80.. = inf stands for 2^128)
        double dx = Math.Abs((double)x);
        double dlo = Math.Abs((double)BitConverter.UInt32BitsToSingle(lo));
        double dhi = (hi & 0x7FFFFFFFu) == 0x7F800000u ? Math.Pow(2, 128) : Math.Abs((double)BitConverter.UInt32BitsToSingle(hi));
        double a = dx - dlo, b = dhi - dx;
        if (a < b) return (ushort)(lo >> 16);
        if (b < a) return (ushort)(hi >> 16);
        return ((lo >> 16) & 1) == 0 ? (ushort)(lo >> 16) : (ushort)(hi >> 16);
    }

    public static float FromBf16Bits(ushort b) => BitConverter.UInt32BitsToSingle((uint)b << 16);

    public static float RoundToInput(float x, QuantElementType t) => t switch
    {
        QuantElementType.Float16 => (float)(Half)x,
        QuantElementType.BFloat16 => FromBf16Bits(ToBf16Bits(x)),
        _ => x,
    };

    // ------------------------------------------------------------------ exact helpers ---------
    /// <summary>x * 2^149 as an exact integer (every finite float is a multiple of 2^-149).</summary>
    public static BigInteger Scaled(float x)
    {
        uint bits = BitConverter.SingleToUInt32Bits(x);
        int e = (int)((bits >> 23) & 0xFF);
        uint m = bits & 0x7FFFFFu;
        BigInteger v = e == 0 ? new BigInteger(m) : new BigInteger(m | 0x800000u) << (e - 1);
        return (bits & 0x80000000u) != 0 ? -v : v;
    }

    /// <summary>The smallest float f &gt;= 0 with f * L &gt;= D * 2^-149 (D &gt;= 0), or +inf.</summary>
    public static float RoundUpQuotient(BigInteger d, int l)
    {
        float f = (float)((double)d / l * Math.Pow(2, -149));
        if (float.IsInfinity(f)) f = float.MaxValue;
        while (!float.IsInfinity(f) && Scaled(f) * l < d) f = MathF.BitIncrement(f);
        while (f > 0 && Scaled(MathF.BitDecrement(f)) * l >= d) f = MathF.BitDecrement(f);
        return f;
    }

    /// <summary>Round a float toward -inf to bf16 precision: the largest bf16 value &lt;= x.</summary>
    public static float Bf16Down(float x)
    {
        float t = FromBf16Bits((ushort)(BitConverter.SingleToUInt32Bits(x) >> 16));   // truncation
        return t <= x ? t : FromBf16Bits((ushort)((BitConverter.SingleToUInt32Bits(x) >> 16) + 1));
    }

    /// <summary>Round a float &gt;= 0 toward +inf to bf16 precision: the smallest bf16 value &gt;= x.</summary>
    public static float Bf16Up(float x)
    {
        float t = FromBf16Bits((ushort)(BitConverter.SingleToUInt32Bits(x) >> 16));
        return t >= x ? t : FromBf16Bits((ushort)((BitConverter.SingleToUInt32Bits(x) >> 16) + 1));
    }

    // ------------------------------------------------------------------ quantize --------------
    /// <summary>Quantizes values x (logical row-major order, already exact in the input type); x[0] is flat element baseIndex (a multiple of the block) of the tensor.</summary>
    public static QuantResult Quantize(ReadOnlySpan<float> x, QuantSpec s, ulong seed, ulong offset, long baseIndex = 0)
    {
        long n = x.Length;
        int bsz = s.Block, l = s.L;
        long nb = n == 0 ? 0 : ((n - 1) / bsz) + 1;
        float[] t = LevelsOf(s);
        float[] rd = new float[l];
        for (int k = 0; k < l; k++) rd[k] = 1f / (t[k + 1] - t[k]);
        var packed = new uint[nb * s.WordsPerBlock];
        var zero = new float[nb];
        var step = new float[nb];
        var poisoned = new bool[nb];
        var codes = new int[n];
        float poison = BitConverter.UInt32BitsToSingle(PoisonF32Bits);

        for (long j = 0; j < nb; j++)
        {
            long start = j * bsz;
            int valid = (int)Math.Min(bsz, n - start);
            float m = float.PositiveInfinity, mx = float.NegativeInfinity;
            bool bad = false;
            for (int e = 0; e < valid; e++)
            {
                float v = x[(int)(start + e)];
                if (!float.IsFinite(v)) bad = true;
                else
                {
                    m = Math.Min(m, v);
                    mx = Math.Max(mx, v);
                }
            }

            float z = 0, st = 0;
            bool ok = !bad && float.IsFinite(mx - m);
            if (ok)
            {
                z = m == 0 ? 0f : m;                       // +0 for a zero minimum
                if (s.StatsBf16) z = Bf16Down(z);
                ok = float.IsFinite(z);
            }

            if (ok && mx > z)
            {
                st = RoundUpQuotient(Scaled(mx) - Scaled(z), l);
                if (s.StatsBf16) st = Bf16Up(st);
                ok = float.IsFinite(st);
            }

            if (!ok)
            {
                zero[j] = poison;
                step[j] = poison;
                poisoned[j] = true;
                continue;                                   // codes stay 0
            }

            zero[j] = z;
            step[j] = st;
            if (st == 0) continue;                          // constant block: codes 0

            float sc = st < MathF.Pow(2, -100) ? MathF.Pow(2, 100) : 1f;
            float inv = 1f / (st * sc);
            for (int e = 0; e < valid; e++)
            {
                long i = start + e;
                float xs = ((x[(int)i] - z) * sc) * inv;
                xs = Math.Clamp(xs, 0f, l);
                int k = 0;
                for (int c = 1; c <= l - 1; c++)
                {
                    if (t[c] <= xs) k = c;
                }

                float p = (xs - t[k]) * rd[k];
                int code = k + (Uniform(seed, offset, baseIndex + i) < p ? 1 : 0);
                codes[i] = code;
                packed[(j * s.WordsPerBlock) + (e * s.Bits / 32)] |= (uint)code << (e * s.Bits % 32);
            }
        }

        return new QuantResult { Packed = packed, Zero = zero, Step = step, Levels = t, Poisoned = poisoned, Codes = codes };
    }

    /// <summary>y_i = fma(step, t[code_i], zero) in float (then rounded to the output type by the caller).</summary>
    public static float[] Dequantize(QuantResult q, QuantSpec s, long n)
    {
        var y = new float[n];
        for (long i = 0; i < n; i++)
        {
            long j = i / s.Block;
            int e = (int)(i % s.Block);
            uint word = q.Packed[(j * s.WordsPerBlock) + (e * s.Bits / 32)];
            int code = (int)((word >> (e * s.Bits % 32)) & (uint)s.L);
            y[i] = MathF.FusedMultiplyAdd(q.Step[j], q.Levels[code], q.Zero[j]);
        }

        return y;
    }
}
