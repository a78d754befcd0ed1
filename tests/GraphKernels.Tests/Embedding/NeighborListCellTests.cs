using GraphKernels.Interop;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Embedding;

/// <summary>
/// The cell-list search of the neighbour list on structures large enough for it to be chosen: a dense
/// liquid-like box with atoms outside the cell, a strongly skewed triclinic cell, atoms exactly on bin
/// boundaries (periodic and molecule), a cell shorter than the cutoff in two directions (several images,
/// self images) and a mixed batch of crystals and molecules. Checked against <see cref="PairRangeOracle"/>
/// (brute force over all images within the cutoff, double): exact edge set, order, shifts, CSR and
/// dst_perm; edge vectors within 1 fp32 ulp (both form r in double from the same fp32 inputs and round
/// once to fp32; the sums may associate differently, so the last bit of the double, and rarely the fp32
/// rounding, can differ). Also: which structures took the cell list (workspace statistics word 6, the
/// documented rule), the cell-list fill against the brute-force fill bit for bit, and 10-run determinism.
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[Category("Embedding")]
[Parallelizable(ParallelScope.All)]
public sealed unsafe class NeighborListCellTests
{
    private readonly DeviceKind kind;
    private GraphDevice? device;

    public NeighborListCellTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    // ------------------------------------------------------------------ structures -------------

    /// <summary>Random atoms in a cell; a fraction of them moved by integer lattice vectors (outside the cell).</summary>
    private static (float[] Cell, float[] Pos) Random(float[] cell, int atoms, int seed, double unwrapFraction)
    {
        var rng = new Random(seed);
        var pos = new float[atoms * 3];
        for (int a = 0; a < atoms; a++)
        {
            double[] f = [rng.NextDouble(), rng.NextDouble(), rng.NextDouble()];
            if (rng.NextDouble() < unwrapFraction)
            {
                for (int k = 0; k < 3; k++)
                {
                    f[k] += rng.Next(-3, 4);
                }
            }

            for (int c = 0; c < 3; c++)
            {
                pos[(a * 3) + c] = (float)((f[0] * cell[c]) + (f[1] * cell[3 + c]) + (f[2] * cell[6 + c]));
            }
        }

        return (cell, pos);
    }

    private static NeighborBatch Batch(params (float[] Cell, float[] Pos, bool Periodic)[] parts)
    {
        var gp = new List<long> { 0 };
        foreach (var p in parts)
        {
            gp.Add(gp[^1] + (p.Pos.Length / 3));
        }

        return new NeighborBatch
        {
            GraphAtomPtr = [.. gp],
            Positions = [.. parts.SelectMany(p => p.Pos)],
            Cell = [.. parts.SelectMany(p => p.Cell)],
            Periodic = [.. parts.Select(p => p.Periodic ? (byte)1 : (byte)0)],
        };
    }

    /// <summary>Dense liquid: 2000 atoms in a 45 Å cube (argon-liquid density 0.022 Å⁻³), 10 % outside the cell; cutoff 8.5: 5 bins per direction.</summary>
    private static NeighborBatch Liquid()
    {
        var (c, p) = Random([45f, 0, 0, 0, 45f, 0, 0, 0, 45f], 2000, 101, 0.1);
        return Batch((c, p, true));
    }

    /// <summary>Strongly skewed cell (a ∧ b = 32°, c leaning −15/9 over 24), 700 atoms; cutoff 3.5: 3 x 3 x 6 bins.</summary>
    private static NeighborBatch Skewed()
    {
        var (c, p) = Random([28f, 0, 0, 22f, 14f, 0, -15f, 9f, 24f], 700, 202, 0.2);
        return Batch((c, p, true));
    }

    /// <summary>
    /// Simple cubic lattice, spacing 2.5 Å, in a 20 Å cube: 512 atoms on multiples of 2.5, every fourth plane exactly on
    /// a bin boundary (cutoff 4.9: 4 bins of 5 Å); one atom in five moved by ±1 lattice vector (x = −20 .. 37.5, still on
    /// boundaries, fractional coordinates exactly 1.0 among them). Distances are 2.5 √m: none near 4.9.
    /// </summary>
    private static NeighborBatch Boundaries(bool periodic)
    {
        var rng = new Random(303);
        int side = periodic ? 8 : 9;   // the molecule: 0 .. 20 inclusive, so its box is 20 Å too (4 bins of 5 Å)
        var pos = new List<float>();
        for (int x = 0; x < side; x++)
        {
            for (int y = 0; y < side; y++)
            {
                for (int z = 0; z < side; z++)
                {
                    int[] v = [x, y, z];
                    if (periodic && rng.Next(5) == 0)
                    {
                        v[rng.Next(3)] += rng.Next(2) == 0 ? -8 : 8;
                    }

                    pos.AddRange(v.Select(t => t * 2.5f));
                }
            }
        }

        return Batch(([20f, 0, 0, 0, 20f, 0, 0, 0, 20f], [.. pos], periodic));
    }

    /// <summary>
    /// A needle cell 3.2 x 3.5 x 800 Å (slightly triclinic), 400 atoms, cutoff 5: two directions shorter than the cutoff
    /// (1 bin, ±2 images of it), 159 bins along the long one; the rule picks the cell list only for such long needles.
    /// </summary>
    private static (float[] Cell, float[] Pos) Needle(int seed) => Random([3.2f, 0, 0, 0.3f, 3.5f, 0, 0.4f, -0.3f, 800f], 400, seed, 0.3);

    private static NeighborBatch NeedleBatch()
    {
        var (c, p) = Needle(404);
        return Batch((c, p, true));
    }

    /// <summary>
    /// Mixed batch at cutoff 5: a 25 Å periodic cube of 600 atoms (cell list), a 300-atom molecule in a 30 Å box (cell
    /// list), a 5-atom triclinic crystal (brute force), an empty structure, a 9-atom molecule (brute force), the needle
    /// (cell list), and a 22 Å cube of 300 atoms all moved by up to ±3 cells (cell list): 4 cell-list structures.
    /// </summary>
    private static NeighborBatch Mixed()
    {
        float[] zero = new float[9];
        var (c0, p0) = Random([25f, 0, 0, 0, 25f, 0, 0, 0, 25f], 600, 505, 0.1);
        var (_, p1) = Random([30f, 0, 0, 0, 30f, 0, 0, 0, 30f], 300, 506, 0);
        var (c2, p2) = NeighborBatch.Triclinic(5, 507);
        float[] p4 = NeighborBatch.Molecule(9, 508, 2.5);
        var (c5, p5) = Needle(509);
        var (c6, p6) = Random([22f, 0, 0, 0, 22f, 0, 0, 0, 22f], 300, 510, 1.0);
        return Batch((c0, p0, true), (zero, p1, false), (c2, p2, true), (c0, [], true), (zero, p4, false), (c5, p5, true), (c6, p6, true));
    }

    public static IEnumerable<TestCaseData> Cases()
    {
        yield return new TestCaseData("liquid", 8.5, 1L, IndexType.Int32).SetArgDisplayNames("liquid 2000 atoms", "Int32");
        yield return new TestCaseData("skewed", 3.5, 1L, IndexType.Int64).SetArgDisplayNames("skewed triclinic 700 atoms", "Int64");
        yield return new TestCaseData("boundaries-periodic", 4.9, 1L, IndexType.Int32).SetArgDisplayNames("atoms on bin boundaries, periodic", "Int32");
        yield return new TestCaseData("boundaries-molecule", 4.9, 1L, IndexType.Int32).SetArgDisplayNames("atoms on bin boundaries, molecule", "Int32");
        yield return new TestCaseData("needle", 5.0, 1L, IndexType.Int32).SetArgDisplayNames("cutoff larger than the cell in 2 directions", "Int32");
        yield return new TestCaseData("mixed", 5.0, 4L, IndexType.Int64).SetArgDisplayNames("mixed batch", "Int64");
    }

    private static NeighborBatch Make(string name) => name switch
    {
        "liquid" => Liquid(),
        "skewed" => Skewed(),
        "boundaries-periodic" => Boundaries(true),
        "boundaries-molecule" => Boundaries(false),
        "needle" => NeedleBatch(),
        "mixed" => Mixed(),
        _ => throw new ArgumentException(name),
    };

    private NeighborList Build(NeighborBatch b, double cutoff, IndexType it)
    {
        using var pos = Device.Upload<float>(b.Positions);
        using var cell = Device.Upload<float>(b.Cell);
        using var per = Device.Upload<byte>(b.Periodic);
        return NeighborList.Build(Device, b.GraphAtomPtr, pos, cell, per, cutoff, new NeighborListOptions { IndexType = it });
    }

    [TestCaseSource(nameof(Cases))]
    public void MatchesTheBruteForceOracle(string name, double cutoff, long cellGraphs, IndexType it)
    {
        var b = Make(name);
        var expected = PairRangeOracle.Edges(b, cutoff);
        using var nl = Build(b, cutoff, it);
        Assert.That(nl.NumEdges, Is.EqualTo(expected.Count), $"{name}: edge count");
        long[] srcPtr = nl.ToHost(nl.SrcPtr), src = nl.ToHost(nl.EdgeSrc), dst = nl.ToHost(nl.EdgeDst), perm = nl.ToHost(nl.DstPerm!);
        int[] shifts = nl.Shifts.ToArray();
        float[] vec = nl.EdgeVectors!.ToArray();
        var wantPtr = new long[b.NumAtoms + 1];
        foreach (var e in expected)
        {
            wantPtr[e.Src + 1]++;
        }

        for (int i = 0; i < b.NumAtoms; i++)
        {
            wantPtr[i + 1] += wantPtr[i];
        }

        Assert.That(srcPtr, Is.EqualTo(wantPtr), $"{name}: src_ptr");
        for (int e = 0; e < expected.Count; e++)
        {
            var x = expected[e];
            if ((src[e], dst[e], shifts[3 * e], shifts[(3 * e) + 1], shifts[(3 * e) + 2]) != (x.Src, x.Dst, x.S0, x.S1, x.S2))
            {
                Assert.Fail($"{name}: edge {e} is ({src[e]} -> {dst[e]}, {shifts[3 * e]} {shifts[(3 * e) + 1]} {shifts[(3 * e) + 2]}), expected ({x.Src} -> {x.Dst}, {x.S0} {x.S1} {x.S2})");
            }

            double[] r = [x.Rx, x.Ry, x.Rz];
            for (int c = 0; c < 3; c++)
            {
                float want = (float)r[c];
                if (Math.Abs(vec[(3 * e) + c] - want) > MathF.BitIncrement(MathF.Abs(want)) - MathF.Abs(want))
                {
                    Assert.Fail($"{name}: r of edge {e}, component {c} = {vec[(3 * e) + c]:R}, expected {want:R} (1 ulp)");
                }
            }
        }

        // dst_perm, independently: the edges with dst = i in increasing position.
        var fill = (long[])wantPtr.Clone();
        var wantPerm = new long[dst.Length];
        for (int e = 0; e < dst.Length; e++)
        {
            wantPerm[fill[dst[e]]++] = e;
        }

        Assert.That(perm, Is.EqualTo(wantPerm), $"{name}: dst_perm");
        Assert.That(nl.MaxNeighborCount, Is.EqualTo(Enumerable.Range(0, (int)b.NumAtoms).Select(i => wantPtr[i + 1] - wantPtr[i]).Max()), $"{name}: max count");
        if (name == "needle")
        {
            Assert.That(expected.Any(e => e.Src == e.Dst), "the needle must produce self-image edges");
            Assert.That(expected.GroupBy(e => (e.Src, e.Dst)).Any(g => g.Count() > 2), "the needle must produce several images of a pair");
        }
    }

    /// <summary>Raw C ABI setup of a batch (int32 or int64 graph pointer) with its uploads.</summary>
    private sealed class RawBatch : IDisposable
    {
        public RawBatch(GraphDevice d, NeighborBatch b, IndexType it)
        {
            Gp = it == IndexType.Int64 ? d.Upload<long>(b.GraphAtomPtr) : d.Upload<int>(b.GraphAtomPtr.Select(v => (int)v).ToArray());
            Pos = d.Upload<float>(b.Positions);
            Cell = d.Upload<float>(b.Cell);
            Per = d.Upload<byte>(b.Periodic);
            Batch.NumAtoms = b.NumAtoms;
            Batch.NumGraphs = b.NumGraphs;
            Batch.IndexType = (int)it;
            Batch.Reserved = 0;
            Batch.GraphAtomPtr = Gp.Pointer;
            Batch.Positions = Pos.Pointer;
            Batch.Cell = Cell.Pointer;
            Batch.Periodic = Per.Pointer;
        }

        public GkNlBatch Batch;

        public DeviceBuffer Gp { get; }

        public DeviceBuffer<float> Pos { get; }

        public DeviceBuffer<float> Cell { get; }

        public DeviceBuffer<byte> Per { get; }

        public void Dispose()
        {
            Gp.Dispose();
            Pos.Dispose();
            Cell.Dispose();
            Per.Dispose();
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void TheDocumentedRuleChoosesTheCellList(string name, double cutoff, long cellGraphs, IndexType it)
    {
        var b = Make(name);
        using var raw = new RawBatch(Device, b, it);
        GkNlBatch nb = raw.Batch;
        nuint wsBytes;
        Device.Api.Check(Device.Api.gk_neighbor_list_workspace_size(&nb, &wsBytes), "gk_neighbor_list_workspace_size");
        Assert.That((long)wsBytes, Is.EqualTo(((5 * b.NumAtoms) + (14 * b.NumGraphs) + 8) * 8), "documented workspace size");
        using var ws = Device.Allocate<long>((long)wsBytes / 8);
        using var sp = it == IndexType.Int64 ? (DeviceBuffer)Device.Allocate<long>(b.NumAtoms + 1) : Device.Allocate<int>(b.NumAtoms + 1);
        GkNlReport report;
        Device.Api.Check(Device.Api.gk_neighbor_list_count(&nb, cutoff, 0, (void*)sp.Pointer, (void*)ws.Pointer, wsBytes, &report, null), "gk_neighbor_list_count");
        long[] header = ws.ToArray().AsSpan(0, 8).ToArray();
        Assert.That(header[6], Is.EqualTo(cellGraphs), $"{name}: structures searched with the cell list (statistics word 6)");

        // Pair tests of a brute force: the (pair, image) candidates of the oracle's exact per-pair image ranges.
        // The brute force computes an image range for every atom pair (sum N_b^2) and tests the images in it.
        PairRangeOracle.Edges(b, cutoff, out long bruteTests);
        long pairs = 0;
        for (int g = 0; g < b.NumGraphs; g++)
        {
            long n = b.GraphAtomPtr[g + 1] - b.GraphAtomPtr[g];
            pairs += n * n;
        }

        TestContext.Out.WriteLine($"{name}: N = {b.NumAtoms}, E = {report.NumEdges}, count pass: {header[5]} candidate tests; brute force: {pairs} pair ranges + {bruteTests} image tests");
        Assert.That(header[5], Is.LessThan(pairs + bruteTests), $"{name}: the cell list examines fewer candidates than a brute force");
    }

    [TestCase("mixed", 5.0, IndexType.Int64)]
    [TestCase("skewed", 3.5, IndexType.Int32)]
    [TestCase("needle", 5.0, IndexType.Int32)]
    public void CellListFillEqualsBruteForceFillBitForBit(string name, double cutoff, IndexType it)
    {
        var b = Make(name);
        using var raw = new RawBatch(Device, b, it);
        GkNlBatch nb = raw.Batch;
        nuint wsBytes;
        Device.Api.Check(Device.Api.gk_neighbor_list_workspace_size(&nb, &wsBytes), "gk_neighbor_list_workspace_size");
        using var ws = Device.Allocate<long>((long)wsBytes / 8);
        int isz = it == IndexType.Int64 ? 8 : 4;
        using var sp = Device.Allocate<byte>((b.NumAtoms + 1) * isz);
        GkNlReport report;
        Device.Api.Check(Device.Api.gk_neighbor_list_count(&nb, cutoff, 0, (void*)sp.Pointer, (void*)ws.Pointer, wsBytes, &report, null), "gk_neighbor_list_count");
        long e = report.NumEdges;
        byte[][] outs = new byte[2][];
        for (int pass = 0; pass < 2; pass++)
        {
            using var es = Device.Allocate<byte>(e * isz);
            using var ed = Device.Allocate<byte>(e * isz);
            using var sh = Device.Allocate<int>(3 * e);
            using var ev = Device.Allocate<float>(3 * e);
            using var pm = Device.Allocate<byte>(e * isz);
            int status = pass == 0
                ? Device.Api.gk_neighbor_list_fill(&nb, cutoff, (void*)sp.Pointer, e, (void*)es.Pointer, (void*)ed.Pointer, (int*)sh.Pointer, (float*)ev.Pointer, (void*)pm.Pointer, null)
                : Device.Api.gk_neighbor_list_fill_ws(&nb, cutoff, (void*)sp.Pointer, (void*)ws.Pointer, wsBytes, e, (void*)es.Pointer, (void*)ed.Pointer, (int*)sh.Pointer, (float*)ev.Pointer, (void*)pm.Pointer, null);
            Device.Api.Check(status, pass == 0 ? "gk_neighbor_list_fill" : "gk_neighbor_list_fill_ws");
            outs[pass] = [.. es.ToArray(), .. ed.ToArray(), .. sh.ToArray().SelectMany(BitConverter.GetBytes), .. ev.ToArray().SelectMany(BitConverter.GetBytes), .. pm.ToArray()];
        }

        Assert.That(outs[1], Is.EqualTo(outs[0]), $"{name}: the cell-list fill differs from the brute-force fill");
    }

    [Test]
    public void TenRunsAreBitwiseIdentical()
    {
        var b = Mixed();
        byte[]? first = null;
        for (int run = 0; run < 10; run++)
        {
            using var nl = Build(b, 5.0, IndexType.Int32);
            var bytes = new List<byte>();
            foreach (long v in nl.ToHost(nl.SrcPtr).Concat(nl.ToHost(nl.EdgeSrc)).Concat(nl.ToHost(nl.EdgeDst)).Concat(nl.ToHost(nl.DstPerm!)))
            {
                bytes.AddRange(BitConverter.GetBytes(v));
            }

            bytes.AddRange(nl.Shifts.ToArray().SelectMany(BitConverter.GetBytes));
            bytes.AddRange(nl.EdgeVectors!.ToArray().SelectMany(BitConverter.GetBytes));
            if (first is null)
            {
                first = [.. bytes];
            }
            else
            {
                Assert.That(bytes, Is.EqualTo(first), $"run {run} differs from run 0");
            }
        }
    }
}
