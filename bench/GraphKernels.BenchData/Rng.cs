using System;
using System.Runtime.CompilerServices;

namespace GraphKernels.BenchData;

/// <summary>
/// SplitMix64, used both as a sequential generator and as a counter-based hash
/// (<see cref="Mix"/>), so every array element can be generated from (seed, index) alone: the
/// output does not depend on how the work is split over threads, and the Python side could
/// regenerate any element with the same few integer operations.
/// </summary>
public struct SplitMix64
{
    private ulong _state;

    /// <summary>Starts the sequence at <paramref name="seed"/>.</summary>
    /// <param name="seed">Seed.</param>
    public SplitMix64(ulong seed) => _state = seed;

    /// <summary>The SplitMix64 finaliser of <paramref name="z"/> (a bijection on 64-bit values).</summary>
    /// <param name="z">Input.</param>
    /// <returns>The mixed value.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Element <paramref name="index"/> of the stream <paramref name="seed"/>: Mix(seed + (index + 1)·golden).</summary>
    /// <param name="seed">Stream seed.</param>
    /// <param name="index">Element index.</param>
    /// <returns>64 random bits.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong At(ulong seed, ulong index) => Mix(seed + ((index + 1) * 0x9E3779B97F4A7C15UL));

    /// <summary>An exact float in [-1, 1): ((bits &gt;&gt; 40) − 2^23) / 2^23, identical in any language.</summary>
    /// <param name="bits">64 random bits.</param>
    /// <returns>The value.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SignedUnitFloat(ulong bits) => ((long)(bits >> 40) - (1L << 23)) * (1.0f / (1 << 23));

    /// <summary>The next 64 random bits.</summary>
    /// <returns>Random bits.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong NextULong()
    {
        _state += 0x9E3779B97F4A7C15UL;
        return Mix(_state);
    }

    /// <summary>A double in [0, 1) with 53 random bits.</summary>
    /// <returns>The value.</returns>
    public double NextDouble() => (NextULong() >> 11) * (1.0 / (1UL << 53));

    /// <summary>An integer in [0, n) (multiply-shift, negligible bias for n ≪ 2^64).</summary>
    /// <param name="n">Exclusive bound, positive.</param>
    /// <returns>The value.</returns>
    public long NextLong(long n) => (long)Math.BigMul(NextULong(), (ulong)n, out _);
}
