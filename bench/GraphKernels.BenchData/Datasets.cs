using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Threading.Tasks;

namespace GraphKernels.BenchData;

/// <summary>A dataset to generate: a preset at a scale.</summary>
/// <param name="Name">Preset name.</param>
/// <param name="Kind">"graph" or "molecular".</param>
/// <param name="ShapeOf">What it imitates.</param>
/// <param name="Nodes">Nodes (graphs).</param>
/// <param name="Edges">Edges (graphs).</param>
/// <param name="InSkew">Pareto exponent of the in-degrees (smaller = heavier tail).</param>
/// <param name="SourceSkew">Sources are perm[floor(N·u^SourceSkew)]: 1 = uniform, larger = hub sources.</param>
/// <param name="Structures">Structures (molecular).</param>
/// <param name="Seed">Seed.</param>
public sealed record DatasetSpec(string Name, string Kind, string ShapeOf, long Nodes, long Edges, double InSkew, double SourceSkew,
    int Structures, ulong Seed);

/// <summary>
/// The shared benchmark inputs. Every generator is deterministic in (preset, scale, seed): element
/// values come from <see cref="SplitMix64.At"/> of their index, so the output does not depend on the
/// number of threads. Sizes follow research/message_passing.md §2.1.
/// </summary>
public static class Datasets
{
    /// <summary>Bumped whenever a generator's output changes for the same inputs.</summary>
    public const int GeneratorVersion = 1;

    /// <summary>Molecular batch: atoms per Å³ (between silicon's 0.05 and water's 0.1).</summary>
    public const double AtomDensity = 0.08;

    /// <summary>Molecular batch: radius-graph cutoff in Å (MACE uses 5–6).</summary>
    public const double Cutoff = 5.0;

    /// <summary>Molecular batch: atoms per structure, inclusive range.</summary>
    public const int MinAtoms = 25, MaxAtoms = 200;

    /// <summary>Preset names in generation order.</summary>
    public static readonly string[] PresetNames = ["arxiv", "reddit", "reddit2", "products", "molecular"];

    /// <summary>The preset <paramref name="name"/> at <paramref name="scale"/> (nodes and edges both scaled, so the mean degree stays).</summary>
    /// <param name="name">Preset.</param>
    /// <param name="scale">Size factor in (0, 1].</param>
    /// <returns>The spec.</returns>
    public static DatasetSpec Preset(string name, double scale)
    {
        if (!(scale > 0 && scale <= 1)) throw new ArgumentOutOfRangeException(nameof(scale), scale, "scale must be in (0, 1]");
        DatasetSpec Graph(string n, string of, long nodes, long edges, double inSkew, double srcSkew, ulong seed)
        {
            long v = Math.Max(64, (long)Math.Round(nodes * scale));
            long e = Math.Max(v, (long)Math.Round(edges * scale));
            return new DatasetSpec(n, "graph", of, v, e, inSkew, srcSkew, 0, seed);
        }

        return name switch
        {
            "arxiv" => Graph(name, "ogbn-arxiv (169,343 nodes, 1,166,243 directed edges)", 169_343, 1_166_243, 2.0, 1.5, 0xA5C1),
            "reddit" => Graph(name, "Reddit (232,965 nodes, 114,615,892 edges)", 232_965, 114_615_892, 1.5, 1.3, 0x5EDD17),
            "reddit2" => Graph(name, "Reddit2, the scaled-down Reddit (232,965 nodes, 23,213,838 edges)", 232_965, 23_213_838, 1.5, 1.3, 0x5EDD2),
            "products" => Graph(name, "ogbn-products (2,449,029 nodes, 123,718,280 directed edges), power-law", 2_449_029, 123_718_280, 1.8, 1.5, 0x9D0C),
            "molecular" => new DatasetSpec(name, "molecular",
                $"a batch of 128 periodic structures of {MinAtoms}-{MaxAtoms} atoms, radius graph r_c = {Cutoff} Å",
                0, 0, 0, 0, Math.Max(2, (int)Math.Round(128 * scale)), 0x30L),
            _ => throw new ArgumentException($"unknown preset '{name}' (known: {string.Join(", ", PresetNames)})", nameof(name)),
        };
    }

    /// <summary>Generates <paramref name="spec"/> into <paramref name="dataDir"/>/<c>name</c>/ and returns its manifest entry.</summary>
    /// <param name="spec">What to generate.</param>
    /// <param name="dataDir">Data folder.</param>
    /// <param name="features">Width of the stored feature matrix.</param>
    /// <returns>The entry.</returns>
    public static DatasetEntry Generate(DatasetSpec spec, string dataDir, int features)
    {
        if (features < 1) throw new ArgumentOutOfRangeException(nameof(features));
        var entry = new DatasetEntry { Name = spec.Name, Kind = spec.Kind, ShapeOf = spec.ShapeOf, Features = features, Seed = spec.Seed };
        string dir = Path.Combine(dataDir, spec.Name);
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        Directory.CreateDirectory(dir);

        int[] rowPtr, colIdx;
        if (spec.Kind == "graph")
        {
            (rowPtr, colIdx) = PowerLawCsr(spec);
            entry.Parameters["in_skew"] = spec.InSkew;
            entry.Parameters["source_skew"] = spec.SourceSkew;
        }
        else
        {
            var mol = MolecularBatch(spec.Structures, spec.Seed);
            rowPtr = mol.RowPtr;
            colIdx = mol.ColIdx;
            entry.Structures = spec.Structures;
            entry.Parameters["atom_density_per_A3"] = AtomDensity;
            entry.Parameters["cutoff_A"] = Cutoff;
            long n = mol.Positions.Length / 3, e = colIdx.Length;
            Add(entry, dataDir, "pos", BinaryArray.Write(Path.Combine(dir, "pos.gkb"), mol.Positions, n, 3));
            Add(entry, dataDir, "cell", BinaryArray.Write(Path.Combine(dir, "cell.gkb"), mol.Cells, spec.Structures, 3, 3));
            Add(entry, dataDir, "batch_ptr", BinaryArray.Write(Path.Combine(dir, "batch_ptr.gkb"), mol.BatchPtr, spec.Structures + 1));
            Add(entry, dataDir, "unit_shift", BinaryArray.Write(Path.Combine(dir, "unit_shift.gkb"), mol.UnitShifts, e, 3));
            ulong gseed = SplitMix64.Mix(spec.Seed ^ 0xED6E);
            Add(entry, dataDir, "edge_grad", BinaryArray.WriteGenerated<float>(Path.Combine(dir, "edge_grad.gkb"), [e, 3],
                (start, span) => FillSigned(gseed, start, span)));
        }

        long nodes = rowPtr.Length - 1, edges = colIdx.Length;
        entry.Nodes = nodes;
        entry.Edges = edges;
        Add(entry, dataDir, "row_ptr", BinaryArray.Write(Path.Combine(dir, "row_ptr.gkb"), rowPtr, nodes + 1));
        Add(entry, dataDir, "col_idx", BinaryArray.Write(Path.Combine(dir, "col_idx.gkb"), colIdx, edges));
        ulong wseed = SplitMix64.Mix(spec.Seed ^ 0x3E16), xseed = SplitMix64.Mix(spec.Seed ^ 0xFEA7);
        Add(entry, dataDir, "w", BinaryArray.WriteGenerated<float>(Path.Combine(dir, "w.gkb"), [edges],
            (start, span) => FillPositive(wseed, start, span)));
        Add(entry, dataDir, "x", BinaryArray.WriteGenerated<float>(Path.Combine(dir, "x.gkb"), [nodes, features],
            (start, span) => FillSigned(xseed, start, span)));
        return entry;
    }

    /// <summary>Element i = SignedUnitFloat(At(seed, start + i)), in parallel.</summary>
    /// <param name="seed">Stream.</param>
    /// <param name="start">Index of span[0].</param>
    /// <param name="span">Destination.</param>
    public static void FillSigned(ulong seed, long start, Span<float> span)
    {
        unsafe
        {
            fixed (float* p = span)
            {
                float* q = p;
                int n = span.Length;
                Parallel.For(0, (n + 65535) / 65536, b =>
                {
                    int end = Math.Min(n, (b + 1) * 65536);
                    for (int i = b * 65536; i < end; i++) q[i] = SplitMix64.SignedUnitFloat(SplitMix64.At(seed, (ulong)(start + i)));
                });
            }
        }
    }

    /// <summary>Element i = ((At(seed, start + i) &gt;&gt; 40) + 1) / 2^24, in (0, 1].</summary>
    /// <param name="seed">Stream.</param>
    /// <param name="start">Index of span[0].</param>
    /// <param name="span">Destination.</param>
    public static void FillPositive(ulong seed, long start, Span<float> span)
    {
        for (int i = 0; i < span.Length; i++) span[i] = ((SplitMix64.At(seed, (ulong)(start + i)) >> 40) + 1) * (1.0f / (1 << 24));
    }

    private static void Add(DatasetEntry entry, string dataDir, string name, ArrayHeader h)
    {
        entry.Arrays[name] = new ArrayEntry
        {
            File = $"{entry.Name}/{name}.gkb",
            Dtype = BinaryArray.Name(h.DType),
            Shape = h.Shape,
            Crc32 = h.Crc32.ToString("x8", CultureInfo.InvariantCulture),
        };
        _ = dataDir;
    }

    /// <summary>
    /// A CSR with exactly spec.Edges edges: in-degrees proportional to Pareto(InSkew) draws, capped at
    /// max(2 × mean, min(N, max(64, 50 × mean))), remainder spread over random rows; sources drawn as
    /// perm[floor(N·u^SourceSkew)] over a fixed random permutation, so popular sources are scattered
    /// over the id range; every row's columns sorted (duplicates allowed, as in a multigraph).
    /// </summary>
    /// <param name="spec">Graph spec.</param>
    /// <returns>Row offsets and column indices (int32: every preset has fewer than 2^31 edges).</returns>
    public static (int[] RowPtr, int[] ColIdx) PowerLawCsr(DatasetSpec spec)
    {
        long n = spec.Nodes, e = spec.Edges;
        if (e > int.MaxValue) throw new NotSupportedException("more than 2^31-1 edges: int32 CSR");
        ulong degSeed = SplitMix64.Mix(spec.Seed ^ 0xDE6), colSeed = SplitMix64.Mix(spec.Seed ^ 0xC01);
        var weight = new double[n];
        double sum = 0;
        for (long i = 0; i < n; i++)
        {
            double u = (SplitMix64.At(degSeed, (ulong)i) >> 11) * (1.0 / (1UL << 53));
            weight[i] = Math.Pow(1.0 - u, -1.0 / spec.InSkew);
            sum += weight[i];
        }

        // Cap hubs at min(N, 50 × mean) — but never below twice the mean, which tiny scaled-down
        // dense graphs (Reddit at --scale 0.001) need, with duplicate edges, to hold E at all.
        long maxDeg = Math.Max(2 * ((e + n - 1) / n), Math.Min(n, Math.Max(64, 50 * e / n)));
        var deg = new int[n];
        long total = 0;
        for (long i = 0; i < n; i++)
        {
            deg[i] = (int)Math.Min(maxDeg, Math.Floor(e * weight[i] / sum));
            total += deg[i];
        }

        var rng = new SplitMix64(SplitMix64.Mix(spec.Seed ^ 0x4E3));
        while (total < e)
        {
            long r = rng.NextLong(n);
            if (deg[r] < maxDeg) { deg[r]++; total++; }
        }

        var rowPtr = new int[n + 1];
        for (long i = 0; i < n; i++) rowPtr[i + 1] = rowPtr[i] + deg[i];

        var perm = new int[n];
        for (int i = 0; i < n; i++) perm[i] = i;
        var prng = new SplitMix64(SplitMix64.Mix(spec.Seed ^ 0x9E4));
        for (long i = n - 1; i > 0; i--)
        {
            long j = prng.NextLong(i + 1);
            (perm[i], perm[j]) = (perm[j], perm[i]);
        }

        var colIdx = new int[e];
        double beta = spec.SourceSkew;
        Parallel.For(0, (int)((n + 1023) / 1024), b =>
        {
            long end = Math.Min(n, (b + 1) * 1024L);
            for (long row = b * 1024L; row < end; row++)
            {
                var r = new SplitMix64(SplitMix64.At(colSeed, (ulong)row));
                int s = rowPtr[row], t = rowPtr[row + 1];
                for (int k = s; k < t; k++)
                {
                    double u = r.NextDouble();
                    long idx = Math.Min(n - 1, (long)(n * (beta == 1.0 ? u : Math.Pow(u, beta))));
                    colIdx[k] = perm[idx];
                }

                Array.Sort(colIdx, s, t - s);
            }
        });
        return (rowPtr, colIdx);
    }

    /// <summary>A molecular batch: arrays of <see cref="MolecularBatch(int, ulong)"/>.</summary>
    /// <param name="BatchPtr">Atom offsets of the structures [B+1].</param>
    /// <param name="Cells">Cell vectors as rows [B,3,3] (Å).</param>
    /// <param name="Positions">Cartesian positions [N,3] (Å).</param>
    /// <param name="RowPtr">CSR over receivers [N+1].</param>
    /// <param name="ColIdx">Sender of each edge [E] (global atom index).</param>
    /// <param name="UnitShifts">Integer cell shift S of each edge [E,3].</param>
    public sealed record Molecular(int[] BatchPtr, float[] Cells, float[] Positions, int[] RowPtr, int[] ColIdx, int[] UnitShifts);

    /// <summary>
    /// <paramref name="structures"/> periodic structures of 25–200 atoms at <see cref="AtomDensity"/>:
    /// a near-cubic triclinic cell (off-diagonal terms up to 10 % of the edge), uniform fractional
    /// positions. Edges i ← j for every image j + S·cell within <see cref="Cutoff"/> of i (S integer,
    /// self-images included, i = j with S = 0 excluded); the edge vector is
    /// r_ij = pos[j] + S·cell − pos[i]. Rows sorted by (j, S).
    /// </summary>
    /// <param name="structures">Batch size.</param>
    /// <param name="seed">Seed.</param>
    /// <returns>The arrays.</returns>
    public static Molecular MolecularBatch(int structures, ulong seed)
    {
        var batchPtr = new int[structures + 1];
        var cells = new float[structures * 9];
        var pos = new List<float>();
        var rowPtr = new List<int> { 0 };
        var cols = new List<int>();
        var shifts = new List<int>();
        for (int b = 0; b < structures; b++)
        {
            var rng = new SplitMix64(SplitMix64.At(seed, (ulong)b));
            int n = MinAtoms + (int)rng.NextLong(MaxAtoms - MinAtoms + 1);
            double edge = Math.Cbrt(n / AtomDensity);
            var cell = new double[9];
            for (int r = 0; r < 3; r++)
            {
                for (int c = 0; c < 3; c++) cell[(3 * r) + c] = r == c ? edge : (c < r ? (rng.NextDouble() - 0.5) * 0.2 * edge : 0.0);
            }

            for (int k = 0; k < 9; k++) cells[(9 * b) + k] = (float)cell[k];
            int first = batchPtr[b];
            batchPtr[b + 1] = first + n;
            var p = new double[n * 3];
            for (int a = 0; a < n; a++)
            {
                double f0 = rng.NextDouble(), f1 = rng.NextDouble(), f2 = rng.NextDouble();
                for (int c = 0; c < 3; c++)
                {
                    // Round through float so the edges are decided on exactly the stored positions.
                    p[(3 * a) + c] = (float)((f0 * cell[c]) + (f1 * cell[3 + c]) + (f2 * cell[6 + c]));
                    pos.Add((float)p[(3 * a) + c]);
                }
            }

            // Images needed along each cell vector: ceil(r_c / plane spacing), spacing = V / |b × c|.
            var cf = Array.ConvertAll(cells[(9 * b)..((9 * b) + 9)], v => (double)v);
            double vol = Math.Abs(Det(cf));
            int[] reach = new int[3];
            for (int ax = 0; ax < 3; ax++)
            {
                int u = (ax + 1) % 3, v = (ax + 2) % 3;
                double cx = (cf[(3 * u) + 1] * cf[(3 * v) + 2]) - (cf[(3 * u) + 2] * cf[(3 * v) + 1]);
                double cy = (cf[(3 * u) + 2] * cf[3 * v]) - (cf[3 * u] * cf[(3 * v) + 2]);
                double cz = (cf[3 * u] * cf[(3 * v) + 1]) - (cf[(3 * u) + 1] * cf[3 * v]);
                reach[ax] = (int)Math.Ceiling(Cutoff / (vol / Math.Sqrt((cx * cx) + (cy * cy) + (cz * cz))));
            }

            double rc2 = Cutoff * Cutoff;
            for (int i = 0; i < n; i++)
            {
                for (int j = 0; j < n; j++)
                {
                    for (int s0 = -reach[0]; s0 <= reach[0]; s0++)
                    for (int s1 = -reach[1]; s1 <= reach[1]; s1++)
                    for (int s2 = -reach[2]; s2 <= reach[2]; s2++)
                    {
                        if (i == j && s0 == 0 && s1 == 0 && s2 == 0) continue;
                        double d2 = 0;
                        for (int c = 0; c < 3; c++)
                        {
                            double d = p[(3 * j) + c] + (s0 * cf[c]) + (s1 * cf[3 + c]) + (s2 * cf[6 + c]) - p[(3 * i) + c];
                            d2 += d * d;
                        }

                        if (d2 < rc2)
                        {
                            cols.Add(first + j);
                            shifts.Add(s0);
                            shifts.Add(s1);
                            shifts.Add(s2);
                        }
                    }
                }

                rowPtr.Add(cols.Count);
            }
        }

        return new Molecular(batchPtr, cells, pos.ToArray(), rowPtr.ToArray(), cols.ToArray(), shifts.ToArray());
    }

    private static double Det(double[] m) =>
        (m[0] * ((m[4] * m[8]) - (m[5] * m[7]))) - (m[1] * ((m[3] * m[8]) - (m[5] * m[6]))) + (m[2] * ((m[3] * m[7]) - (m[4] * m[6])));
}
