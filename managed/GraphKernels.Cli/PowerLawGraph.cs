using System;

namespace GraphKernels.Cli;

/// <summary>
/// A deterministic power-law CSR graph: in-degrees drawn from a Pareto distribution (alpha = 2, so the
/// mean is twice the minimum) capped at a tenth of the nodes, plus a few hub rows with many in-edges;
/// sources are uniform, sorted within each row. Everything comes from one xorshift64* stream.
/// </summary>
public sealed class PowerLawGraph
{
    private PowerLawGraph(int nodes, int[] rowPtr, int[] colIdx)
    {
        Nodes = nodes;
        RowPtr = rowPtr;
        ColIdx = colIdx;
    }

    /// <summary>Number of nodes (rows and columns).</summary>
    public int Nodes { get; }

    /// <summary>Row offsets, Nodes + 1 entries.</summary>
    public int[] RowPtr { get; }

    /// <summary>Source node per CSR position.</summary>
    public int[] ColIdx { get; }

    /// <summary>Number of edges.</summary>
    public int Edges => ColIdx.Length;

    /// <summary>The largest in-degree.</summary>
    public int MaxDegree
    {
        get
        {
            int max = 0;
            for (int r = 0; r < Nodes; r++)
            {
                max = Math.Max(max, RowPtr[r + 1] - RowPtr[r]);
            }

            return max;
        }
    }

    /// <summary>Generates the graph.</summary>
    /// <param name="nodes">Number of nodes.</param>
    /// <param name="meanDegree">Approximate mean in-degree.</param>
    /// <param name="rng">The random stream.</param>
    /// <returns>The graph.</returns>
    public static PowerLawGraph Generate(int nodes, int meanDegree, XorShift rng)
    {
        double minDegree = Math.Max(1.0, meanDegree / 2.0);
        int cap = Math.Max(1, Math.Min(nodes, Math.Max(meanDegree * 4, nodes / 10)));
        int hubs = Math.Min(nodes, Math.Max(1, nodes / 2000));
        var degree = new int[nodes];
        long total = 0;
        for (int r = 0; r < nodes; r++)
        {
            double u = 1.0 - rng.NextDouble();                  // (0, 1]
            int d = (int)Math.Min(cap, Math.Floor(minDegree / Math.Sqrt(u)));
            degree[r] = d;
            total += d;
        }

        for (int h = 0; h < hubs; h++)
        {
            int r = (int)rng.NextBelow((ulong)nodes);
            degree[r] = Math.Min(nodes, Math.Max(degree[r], Math.Min(nodes / 5, 50 * meanDegree)));
        }

        // A few empty rows exercise the "empty row -> 0, arg -1" rule.
        for (int k = 0; k < Math.Max(1, nodes / 1000); k++)
        {
            degree[(int)rng.NextBelow((ulong)nodes)] = 0;
        }

        total = 0;
        foreach (int d in degree)
        {
            total += d;
        }

        if (total > int.MaxValue)
        {
            throw new InvalidOperationException($"{total} edges do not fit int32 indices; use fewer nodes.");
        }

        var rowPtr = new int[nodes + 1];
        var colIdx = new int[total];
        int e = 0;
        for (int r = 0; r < nodes; r++)
        {
            rowPtr[r] = e;
            for (int k = 0; k < degree[r]; k++)
            {
                colIdx[e + k] = (int)rng.NextBelow((ulong)nodes);
            }

            Array.Sort(colIdx, e, degree[r]);
            e += degree[r];
        }

        rowPtr[nodes] = e;
        return new PowerLawGraph(nodes, rowPtr, colIdx);
    }
}

/// <summary>xorshift64* — small, fast and identical on every platform.</summary>
public sealed class XorShift
{
    private ulong _state;

    /// <summary>Seeds the generator (any seed, 0 included).</summary>
    /// <param name="seed">The seed.</param>
    public XorShift(ulong seed)
    {
        _state = (seed * 0x9E3779B97F4A7C15UL) ^ 0xD1B54A32D192ED03UL;
        if (_state == 0)
        {
            _state = 0x2545F4914F6CDD1DUL;
        }
    }

    /// <summary>The next 64 random bits.</summary>
    /// <returns>The bits.</returns>
    public ulong Next()
    {
        _state ^= _state >> 12;
        _state ^= _state << 25;
        _state ^= _state >> 27;
        return _state * 0x2545F4914F6CDD1DUL;
    }

    /// <summary>Uniform in [0, 1).</summary>
    /// <returns>The value.</returns>
    public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [0, bound).</summary>
    /// <param name="bound">The exclusive upper bound (&gt; 0).</param>
    /// <returns>The value.</returns>
    public ulong NextBelow(ulong bound) => (ulong)(((UInt128)Next() * bound) >> 64);

    /// <summary>Uniform float in [-1, 1).</summary>
    /// <returns>The value.</returns>
    public float NextSigned() => (float)((NextDouble() * 2.0) - 1.0);
}
