using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Oracle;

/// <summary>How the feature and weight values of a case are drawn.</summary>
public enum ValueKind
{
    /// <summary>x uniform in [−1, 1], w uniform in [−2, 2]: general rounding behaviour.</summary>
    Random,

    /// <summary>
    /// x = k/8 with k in [−8, 8], w = j/4 with j in [−8, 8]: every product and every partial sum
    /// (|Σ| ≤ 2·deg, in steps of 1/32, far below 2^24 steps) is exact in fp32, so sums must be
    /// exact whatever the order; the small value set makes ties in max/min frequent.
    /// </summary>
    Dyadic,

    /// <summary>Random plus about 4% of x entries set to NaN, +∞ or −∞ (NaN propagation, arg of the first NaN).</summary>
    Special,
}

/// <summary>Host inputs for one SpMM call: X as [K, ldx] with NaN in the padding, edge weights.</summary>
public sealed class SpmmInputs
{
    /// <summary>Bit pattern written to every element of y before a call: finite (≈3.3e38) so an
    /// unwritten element can never pass as an expected NaN, and compared bit-for-bit in the padding.</summary>
    public const int YSentinelBits = 0x7F7ABCDE;

    public static readonly float YSentinel = BitConverter.Int32BitsToSingle(YSentinelBits);
    public const int ArgSentinel32 = 0x5A5A5A5A;
    public const long ArgSentinel64 = 0x5A5A5A5A5A5A5A5AL;

    private SpmmInputs(float[] x, long ldx, float[]? weight)
    {
        X = x;
        Ldx = ldx;
        Weight = weight;
    }

    public float[] X { get; }
    public long Ldx { get; }
    public float[]? Weight { get; }

    public static SpmmInputs Make(HostCsr g, long features, long ldx, bool withWeight, ValueKind kind, ulong seed)
    {
        var rng = new SplitMix64(seed);
        // Padding columns hold NaN: a kernel reading past F in a row of X poisons its result.
        var x = new float[Math.Max(1, g.NumCols * ldx)];
        Array.Fill(x, float.NaN);
        for (long u = 0; u < g.NumCols; u++)
        {
            for (long f = 0; f < features; f++)
            {
                float v = kind == ValueKind.Dyadic ? rng.NextInt(-8, 8) / 8f : rng.NextFloat(-1f, 1f);
                if (kind == ValueKind.Special && rng.Chance(0.04))
                {
                    v = rng.NextInt(3) switch { 0 => float.NaN, 1 => float.PositiveInfinity, _ => float.NegativeInfinity };
                }

                x[u * ldx + f] = v;
            }
        }

        float[]? w = null;
        if (withWeight)
        {
            w = new float[g.Nnz];
            for (long e = 0; e < g.Nnz; e++)
            {
                w[e] = kind == ValueKind.Dyadic ? rng.NextInt(-8, 8) / 4f : rng.NextFloat(-2f, 2f);
            }
        }

        return new SpmmInputs(x, ldx, w);
    }

    public static float[] PoisonedY(long rows, long ldy)
    {
        var y = new float[Math.Max(1, rows * ldy)];
        Array.Fill(y, YSentinel);
        return y;
    }
}
