namespace GraphKernels.Tests.Support;

/// <summary>
/// A tiny seeded generator (SplitMix64) so every graph and input of the suite is reproducible
/// from its seed, independent of System.Random's implementation across .NET versions.
/// </summary>
public sealed class SplitMix64
{
    private ulong state;

    public SplitMix64(ulong seed) => state = seed;

    public ulong NextUInt64()
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, n).</summary>
    public long NextLong(long n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n));
        return (long)(NextUInt64() % (ulong)n);
    }

    public int NextInt(int n) => (int)NextLong(n);

    /// <summary>Uniform integer in [lo, hi] (inclusive).</summary>
    public int NextInt(int lo, int hi) => lo + NextInt(hi - lo + 1);

    public float NextFloat(float lo, float hi) => (float)(lo + (hi - lo) * NextDouble());

    public bool Chance(double p) => NextDouble() < p;

    public void Shuffle<T>(T[] a)
    {
        for (int i = a.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (a[i], a[j]) = (a[j], a[i]);
        }
    }
}
