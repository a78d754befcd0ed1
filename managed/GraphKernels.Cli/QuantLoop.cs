using System;

namespace GraphKernels.Cli;

/// <summary>
/// The plain single-threaded C# loop of <c>graphkernels backends</c>' quantization rows: block-wise
/// quantization of a dense fp32 [rows, cols] matrix as docs/quantization.md defines it (fp32
/// statistics; uniform or ClipNormal2/table levels), block by block, element by element, and its
/// dequantization to fp32. Written from the specification for this comparison (not shared with the
/// library or the tests); the comparison checks that its bytes equal both backends'.
/// </summary>
public static class QuantLoop
{
    /// <summary>Quantizes x (contiguous, Rows * Cols elements) into packed codes and per-block zero and step.</summary>
    /// <param name="x">The input.</param>
    /// <param name="plan">The layout (fp32 statistics).</param>
    /// <param name="seed">Philox key.</param>
    /// <param name="offset">Philox counter words 2 and 3.</param>
    /// <param name="packed">NumBlocks * WordsPerBlock words.</param>
    /// <param name="zero">NumBlocks.</param>
    /// <param name="step">NumBlocks.</param>
    public static void Quantize(float[] x, QuantizationPlan plan, ulong seed, ulong offset, uint[] packed, float[] zero, float[] step)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(plan);
        int bits = plan.Options.Bits, l = (1 << bits) - 1, block = plan.BlockSize, wpb = (int)plan.WordsPerBlock;
        var (t, rd) = Levels(plan);
        long n = plan.Rows * plan.Cols;
        Span<uint> r = stackalloc uint[4];
        for (long j = 0; j < plan.NumBlocks; j++)
        {
            long start = j * block;
            int valid = (int)Math.Min(block, n - start);
            float mn = float.PositiveInfinity, mx = float.NegativeInfinity;
            bool nonfinite = false;
            for (int e = 0; e < valid; e++)
            {
                float v = x[start + e];
                nonfinite |= !float.IsFinite(v);
                mn = Math.Min(mn, v);
                mx = Math.Max(mx, v);
            }

            bool ok = Stats(mn, mx, nonfinite, l, out float z, out float s);
            zero[j] = ok ? z : BitConverter.UInt32BitsToSingle(0x7FFFFFFFu);
            step[j] = ok ? s : BitConverter.UInt32BitsToSingle(0x7FFFFFFFu);
            Array.Clear(packed, (int)(j * wpb), wpb);
            if (!ok || !(s > 0f))
            {
                continue;
            }

            float sc = s < 7.888609052210118e-31f ? 1.2676506002282294e30f : 1f;   // 2^-100, 2^100
            float inv = 1f / (s * sc);
            for (int e = 0; e < valid; e++)
            {
                ulong i = (ulong)(start + e);
                if (e == 0 || (i & 7) == 0)
                {
                    Philox(seed, offset, i >> 3, r);
                }

                float xs = Math.Clamp(((x[start + e] - z) * sc) * inv, 0f, l);
                int k;
                float p;
                if (t is null)
                {
                    k = Math.Min((int)xs, l - 1);
                    p = xs - k;
                }
                else
                {
                    k = l - 1;
                    while (k > 0 && t[k] > xs)
                    {
                        k--;
                    }

                    p = (xs - t[k]) * rd![k];
                }

                uint word = r[(int)((i >> 1) & 3)];
                uint h = (i & 1) != 0 ? word >> 16 : word & 0xFFFF;
                float u = (h + 0.5f) * 1.52587890625e-05f;
                uint code = (uint)(k + (u < p ? 1 : 0));
                packed[(j * wpb) + ((long)e * bits / 32)] |= code << ((e * bits) % 32);
            }
        }
    }

    /// <summary>y = fma(step, t[code], zero), fp32, contiguous.</summary>
    /// <param name="packed">The codes.</param>
    /// <param name="zero">Per-block zero.</param>
    /// <param name="step">Per-block step.</param>
    /// <param name="plan">The layout.</param>
    /// <param name="y">Rows * Cols outputs.</param>
    public static void Dequantize(uint[] packed, float[] zero, float[] step, QuantizationPlan plan, float[] y)
    {
        ArgumentNullException.ThrowIfNull(packed);
        ArgumentNullException.ThrowIfNull(plan);
        int bits = plan.Options.Bits, block = plan.BlockSize, wpb = (int)plan.WordsPerBlock;
        uint mask = (1u << bits) - 1;
        var (t, _) = Levels(plan);
        long n = plan.Rows * plan.Cols;
        for (long i = 0; i < n; i++)
        {
            long j = i / block;
            int e = (int)(i - (j * block));
            uint code = (packed[(j * wpb) + ((long)e * bits / 32)] >> ((e * bits) % 32)) & mask;
            y[i] = MathF.FusedMultiplyAdd(step[j], t is null ? code : t[code], zero[j]);
        }
    }

    private static (float[]? Levels, float[]? RDelta) Levels(QuantizationPlan plan)
    {
        var o = plan.Options;
        if (o.Levels == QuantLevels.Uniform)
        {
            return (null, null);
        }

        float[] t = o.Levels == QuantLevels.ClipNormal2 ? [0f, plan.Alpha, 3f - plan.Alpha, 3f] : [.. o.LevelTable!];
        var rd = new float[t.Length];
        for (int k = 0; k + 1 < t.Length; k++)
        {
            rd[k] = 1f / (t[k + 1] - t[k]);
        }

        return (t, rd);
    }

    /// <summary>
    /// zero = min (+0 for a zero minimum); step = the smallest float with L * step &gt;= max - zero (the
    /// difference and the quotient in double with their exact errors, each bumped one ulp up when the
    /// error is positive, then rounded up to float). False: poison (non-finite input or statistics).
    /// </summary>
    private static bool Stats(float mn, float mx, bool nonfinite, int l, out float zero, out float step)
    {
        zero = mn + 0f;
        step = 0f;
        if (nonfinite || !float.IsFinite(mx - mn))
        {
            return false;
        }

        if (mx > zero)
        {
            double a = mx, b = -(double)zero, d = a + b, bb = d - a;
            if ((a - (d - bb)) + (b - bb) > 0)
            {
                d = Math.BitIncrement(d);
            }

            double q = d / l;
            if (Math.FusedMultiplyAdd(-q, l, d) > 0)
            {
                q = Math.BitIncrement(q);
            }

            step = (float)q;
            if (step < q)
            {
                step = MathF.BitIncrement(step);
            }
        }

        return float.IsFinite(step);
    }

    /// <summary>Philox4x32-10 (Random123): counter (lo(ctr), hi(ctr), lo(offset), hi(offset)), key (lo(seed), hi(seed)).</summary>
    private static void Philox(ulong seed, ulong offset, ulong ctr, Span<uint> r)
    {
        uint c0 = (uint)ctr, c1 = (uint)(ctr >> 32), c2 = (uint)offset, c3 = (uint)(offset >> 32);
        uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
        for (int round = 0; round < 10; round++)
        {
            ulong p0 = 0xD2511F53UL * c0, p1 = 0xCD9E8D57UL * c2;
            (c0, c1, c2, c3) = ((uint)(p1 >> 32) ^ c1 ^ k0, (uint)p1, (uint)(p0 >> 32) ^ c3 ^ k1, (uint)p0);
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }

        r[0] = c0;
        r[1] = c1;
        r[2] = c2;
        r[3] = c3;
    }
}
