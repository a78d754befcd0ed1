using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Graphs;

/// <summary>
/// Seeded, deterministic graph generators. Each covers a shape the kernels must get right:
/// random sparsity, power-law rows with hubs (several hundred to a few thousand in-edges), empty
/// rows (first and last row included), self loops, duplicate edges, no edges, no rows, and
/// rectangular M != K. Column order inside a row is random unless stated (CSR does not require
/// sorted rows, and the kernels must not assume it).
/// </summary>
public static class GraphGenerators
{
    /// <summary>Erdős–Rényi: each (row, col) pair is an edge with probability p; columns sorted.</summary>
    public static HostCsr ErdosRenyi(int numRows, int numCols, double p, ulong seed, string? name = null)
    {
        var rng = new SplitMix64(seed);
        var rows = new List<List<long>>(numRows);
        for (int r = 0; r < numRows; r++)
        {
            var list = new List<long>();
            for (int c = 0; c < numCols; c++)
            {
                if (rng.Chance(p)) list.Add(c);
            }

            rows.Add(list);
        }

        return HostCsr.FromRows(name ?? $"er{numRows}x{numCols}", numCols, rows);
    }

    /// <summary>
    /// Power law: row in-degrees follow a Zipf-like law (degree of the i-th ranked row ~ c / (i+1)^alpha,
    /// rows randomly permuted), sources are drawn Zipf-like too (popular sources, so duplicate edges
    /// appear naturally), and the rows listed in <paramref name="hubDegrees"/> get exactly those degrees.
    /// </summary>
    public static HostCsr PowerLaw(int numRows, int numCols, double avgDegree, int[] hubDegrees, ulong seed,
        string? name = null, double alpha = 0.9)
    {
        var rng = new SplitMix64(seed);
        var weights = new double[numRows];
        double total = 0;
        for (int i = 0; i < numRows; i++) total += weights[i] = 1.0 / Math.Pow(i + 1, alpha);
        var degrees = new int[numRows];
        for (int i = 0; i < numRows; i++) degrees[i] = (int)Math.Floor(weights[i] / total * avgDegree * numRows + rng.NextDouble());
        rng.Shuffle(degrees);
        for (int h = 0; h < hubDegrees.Length && h < numRows; h++)
        {
            // Spread hubs over the row range (not all at the front): first, middle, last, ...
            int row = (int)((long)h * 7919 % numRows);
            degrees[row] = hubDegrees[h];
        }

        // Zipf-like source popularity via a cumulative table.
        var cum = new double[numCols];
        double acc = 0;
        for (int c = 0; c < numCols; c++) cum[c] = acc += 1.0 / Math.Pow(c + 1, 0.7);
        var colPerm = Enumerable.Range(0, numCols).Select(c => (long)c).ToArray();
        rng.Shuffle(colPerm);

        var rows = new List<List<long>>(numRows);
        for (int r = 0; r < numRows; r++)
        {
            var list = new List<long>(degrees[r]);
            for (int k = 0; k < degrees[r]; k++)
            {
                double u = rng.NextDouble() * acc;
                int idx = Array.BinarySearch(cum, u);
                if (idx < 0) idx = ~idx;
                if (idx >= numCols) idx = numCols - 1;
                list.Add(colPerm[idx]);
            }

            rows.Add(list);
        }

        return HostCsr.FromRows(name ?? $"powerlaw{numRows}x{numCols}", numCols, rows);
    }

    /// <summary>Random rows of which a fraction (always including the first and the last) are empty.</summary>
    public static HostCsr WithEmptyRows(int numRows, int numCols, double emptyFraction, int maxDegree, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var rows = new List<List<long>>(numRows);
        for (int r = 0; r < numRows; r++)
        {
            var list = new List<long>();
            bool empty = r == 0 || r == numRows - 1 || rng.Chance(emptyFraction);
            if (!empty)
            {
                int deg = rng.NextInt(1, maxDegree);
                for (int k = 0; k < deg; k++) list.Add(rng.NextLong(numCols));
            }

            rows.Add(list);
        }

        // A run of consecutive empty rows in the middle as well.
        for (int r = numRows / 2; r < Math.Min(numRows - 1, numRows / 2 + 5); r++) rows[r].Clear();
        return HostCsr.FromRows($"emptyrows{numRows}x{numCols}", numCols, rows);
    }

    /// <summary>Square graph where every row has a self loop at a random position among random neighbours;
    /// some rows have only the self loop, some have it twice.</summary>
    public static HostCsr SelfLoops(int n, int maxExtra, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var rows = new List<List<long>>(n);
        for (int r = 0; r < n; r++)
        {
            var list = new List<long>();
            int extra = rng.NextInt(0, maxExtra);
            for (int k = 0; k < extra; k++) list.Add(rng.NextLong(n));
            list.Insert(rng.NextInt(list.Count + 1), r);
            if (r % 7 == 3) list.Add(r);
            rows.Add(list);
        }

        return HostCsr.FromRows($"selfloops{n}", n, rows);
    }

    /// <summary>Rows with the same source repeated, adjacently and far apart (multigraph).</summary>
    public static HostCsr Duplicates(int numRows, int numCols, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var rows = new List<List<long>>(numRows);
        for (int r = 0; r < numRows; r++)
        {
            var list = new List<long>();
            int distinct = rng.NextInt(1, 6);
            for (int k = 0; k < distinct; k++)
            {
                long c = rng.NextLong(numCols);
                int copies = rng.NextInt(1, 4);
                for (int j = 0; j < copies; j++) list.Add(c);
            }

            // Repeat the first source again at the end (non-adjacent duplicate).
            list.Add(list[0]);
            if (r % 4 == 1)
            {
                var arr = list.ToArray();
                rng.Shuffle(arr);
                list = arr.ToList();
            }

            rows.Add(list);
        }

        return HostCsr.FromRows($"duplicates{numRows}x{numCols}", numCols, rows);
    }

    /// <summary>M rows, K columns, no edges at all (nnz = 0).</summary>
    public static HostCsr NoEdges(int numRows, int numCols) =>
        new($"noedges{numRows}x{numCols}", numRows, numCols, new long[numRows + 1], Array.Empty<long>());

    /// <summary>M = 0: row_ptr = [0], no edges.</summary>
    public static HostCsr NoRows(int numCols) => new($"norows0x{numCols}", 0, numCols, new long[1], Array.Empty<long>());

    /// <summary>A few rows, one of them a hub with thousands of in-edges drawn with replacement.</summary>
    public static HostCsr SingleHub(int hubDegree, int numCols, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var rows = new List<List<long>>
        {
            new() { rng.NextLong(numCols), rng.NextLong(numCols) },
            Enumerable.Range(0, hubDegree).Select(_ => rng.NextLong(numCols)).ToList(),
            new(),
            new() { rng.NextLong(numCols) },
        };
        return HostCsr.FromRows($"hub{hubDegree}x{numCols}", numCols, rows);
    }
}
