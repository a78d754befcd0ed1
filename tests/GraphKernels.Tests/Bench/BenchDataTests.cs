using System.IO.Hashing;
using GraphKernels.BenchData;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Bench;

/// <summary>
/// The shared benchmark inputs: generators are deterministic and produce valid CSR / radius graphs,
/// the binary format round-trips and detects corruption, the Python peers' reader accepts what C#
/// writes, the peer scripts compile, and the byte formulas reproduce research/message_passing.md §4.3.
/// </summary>
[TestFixture]
[Category("MessagePassing")]
[Parallelizable(ParallelScope.Self)]
public sealed class BenchDataTests
{
    private string dir = "";
    private BenchManifest manifest = null!;

    [OneTimeSetUp]
    public void Generate()
    {
        dir = Path.Combine(Path.GetTempPath(), "gk-benchdata-" + Guid.NewGuid().ToString("N"));
        manifest = new BenchManifest { Scale = 0.0005 };
        foreach (string p in Datasets.PresetNames) manifest.Datasets.Add(Datasets.Generate(Datasets.Preset(p, 0.0005), dir, 24));
        manifest.Save(dir);
    }

    [OneTimeTearDown]
    public void Remove()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    [Test]
    public void GeneratingTwiceGivesIdenticalFiles()
    {
        string again = dir + "-again";
        try
        {
            var e = Datasets.Generate(Datasets.Preset("reddit2", 0.0005), again, 24);
            var first = manifest.Get("reddit2");
            Assert.That(e.Arrays.ToDictionary(kv => kv.Key, kv => kv.Value.Crc32), Is.EqualTo(first.Arrays.ToDictionary(kv => kv.Key, kv => kv.Value.Crc32)));
        }
        finally
        {
            if (Directory.Exists(again)) Directory.Delete(again, recursive: true);
        }
    }

    [TestCase("arxiv")]
    [TestCase("reddit")]
    [TestCase("reddit2")]
    [TestCase("products")]
    [TestCase("molecular")]
    public void CsrIsValidAndHasTheManifestCounts(string name)
    {
        var e = manifest.Get(name);
        int[] rp = BinaryArray.Read<int>(Path.Combine(dir, e.Arrays["row_ptr"].File));
        int[] col = BinaryArray.Read<int>(Path.Combine(dir, e.Arrays["col_idx"].File));
        var spec = Datasets.Preset(name, 0.0005);
        Assert.Multiple(() =>
        {
            Assert.That(rp, Has.Length.EqualTo(e.Nodes + 1));
            Assert.That(col, Has.Length.EqualTo(e.Edges));
            if (spec.Kind == "graph") Assert.That((e.Nodes, e.Edges), Is.EqualTo((spec.Nodes, spec.Edges)), "exact preset counts");
            Assert.That(rp[0], Is.Zero);
            Assert.That(rp[^1], Is.EqualTo(col.Length));
        });
        for (int r = 0; r < e.Nodes; r++)
        {
            Assert.That(rp[r + 1], Is.GreaterThanOrEqualTo(rp[r]), $"row_ptr decreases at {r}");
            for (int k = rp[r]; k < rp[r + 1]; k++)
            {
                Assert.That(col[k], Is.InRange(0, (int)e.Nodes - 1), $"column {k} out of range");
                if (k > rp[r]) Assert.That(col[k], Is.GreaterThanOrEqualTo(col[k - 1]), $"row {r} not sorted");
            }
        }
    }

    [Test]
    public void PowerLawPresetsHaveHubRows()
    {
        var spec = Datasets.Preset("products", 0.01);
        var (rp, _) = Datasets.PowerLawCsr(spec);
        int max = Enumerable.Range(0, rp.Length - 1).Max(r => rp[r + 1] - rp[r]);
        Assert.That(max, Is.GreaterThan(5 * spec.Edges / spec.Nodes), "the heaviest row is far above the mean degree");
    }

    [Test]
    public void MolecularEdgesAreExactlyThePairsWithinTheCutoff()
    {
        var m = Datasets.MolecularBatch(3, 7);
        int n = m.BatchPtr[^1];
        Assert.That(m.Positions, Has.Length.EqualTo(3 * n));
        int edges = 0;
        for (int b = 0; b < 3; b++)
        {
            int count = m.BatchPtr[b + 1] - m.BatchPtr[b];
            Assert.That(count, Is.InRange(Datasets.MinAtoms, Datasets.MaxAtoms));
            for (int i = m.BatchPtr[b]; i < m.BatchPtr[b + 1]; i++)
            {
                for (int k = m.RowPtr[i]; k < m.RowPtr[i + 1]; k++)
                {
                    int j = m.ColIdx[k];
                    Assert.That(j, Is.InRange(m.BatchPtr[b], m.BatchPtr[b + 1] - 1), "edges stay inside their structure");
                    double d2 = 0;
                    for (int c = 0; c < 3; c++)
                    {
                        double shift = 0;
                        for (int a = 0; a < 3; a++) shift += m.UnitShifts[(3 * k) + a] * (double)m.Cells[(9 * b) + (3 * a) + c];
                        double d = m.Positions[(3 * j) + c] + shift - m.Positions[(3 * i) + c];
                        d2 += d * d;
                    }

                    Assert.That(Math.Sqrt(d2), Is.LessThan(Datasets.Cutoff + 1e-4).And.GreaterThan(0));
                    edges++;
                }
            }
        }

        double perAtom = (double)edges / n;
        Assert.That(perAtom, Is.InRange(20, 70), "≈ density × 4/3 π r_c³ ≈ 42 neighbours per atom");
    }

    [Test]
    public void BinaryArrayRoundTripsAndDetectsCorruption()
    {
        string path = Path.Combine(dir, "roundtrip.gkb");
        var data = Enumerable.Range(0, 1000).Select(i => (float)i / 7).ToArray();
        var h = BinaryArray.Write<float>(path, data, 10, 100);
        Assert.Multiple(() =>
        {
            Assert.That(h.Crc32, Is.EqualTo(Crc32.HashToUInt32(System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan()))));
            Assert.That(new FileInfo(path).Length, Is.EqualTo(64 + 4000));
            Assert.That(BinaryArray.ReadHeader(path).Shape, Is.EqualTo(new long[] { 10, 100 }));
            Assert.That(BinaryArray.Read<float>(path), Is.EqualTo(data));
            Assert.That(() => BinaryArray.Read<int>(path), Throws.TypeOf<InvalidDataException>(), "dtype mismatch");
        });
        var bytes = File.ReadAllBytes(path);
        bytes[100] ^= 1;
        File.WriteAllBytes(path, bytes);
        Assert.That(() => BinaryArray.Read<float>(path), Throws.TypeOf<InvalidDataException>().With.Message.Contains("CRC"));
    }

    [Test]
    public void CounterBasedValuesAreExactAndInRange()
    {
        var x = new float[4096];
        Datasets.FillSigned(123, 1000, x);
        Assert.That(x.All(v => v >= -1 && v < 1), Is.True);
        Assert.That(x[5], Is.EqualTo(GraphKernels.BenchData.SplitMix64.SignedUnitFloat(GraphKernels.BenchData.SplitMix64.At(123, 1005))));
    }

    /// <summary>research/message_passing.md §4.3 at F = 128, fp32, int32 indices.</summary>
    [TestCase(232_965L, 114_615_892L, 0.70, 59.3)]
    [TestCase(2_449_029L, 123_718_280L, 3.0, 65.1)]
    public void SpmmBytesMatchTheResearchTable(long nodes, long edges, double compulsoryGb, double noReuseGb)
    {
        var t = ByteModel.Spmm(nodes, nodes, edges, 128, 4, 4, weighted: false);
        Assert.Multiple(() =>
        {
            Assert.That(t.Bytes / 1e9, Is.EqualTo(compulsoryGb).Within(0.05));
            Assert.That(ByteModel.SpmmNoReuse(nodes, edges, 128, 4, 4, false) / 1e9, Is.EqualTo(noReuseGb).Within(0.1));
            Assert.That(t.Flops, Is.EqualTo(edges * 128));
        });
    }

    [Test]
    public void RooflinePeaksByNvidiaSmiName()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Roofline.Find("NVIDIA H200")!.BytesPerSecond, Is.EqualTo(4.8e12));
            Assert.That(Roofline.Find("NVIDIA H100 80GB HBM3")!.BytesPerSecond, Is.EqualTo(3.35e12));
            Assert.That(Roofline.Find("NVIDIA H100 PCIe")!.BytesPerSecond, Is.EqualTo(2.0e12));
            Assert.That(Roofline.Find("CPU emulation of the CUDA execution model"), Is.Null);
        });
    }

    /// <summary>The peers' stdlib-only reader accepts every file C# wrote (headers, sizes, CRC-32 against the manifest).</summary>
    [Test]
    public void PythonReaderAcceptsTheGeneratedFiles()
    {
        string python = Python();
        var r = ProcessRunner.Run(python, [Path.Combine(RepoPaths.Root, "bench", "peers", "gkbench.py"), "check", dir], TimeSpan.FromMinutes(2));
        Assert.That(r.ExitCode, Is.Zero, r.Output);
        Assert.That(r.Output, Does.Contain($"{manifest.Datasets.Sum(d => d.Arrays.Count)} arrays ok"));
    }

    /// <summary>The peer scripts at least compile (CI has no PyTorch; they run on the GPU machine).</summary>
    [Test]
    public void PeerScriptsCompile()
    {
        string python = Python();
        var scripts = Directory.GetFiles(Path.Combine(RepoPaths.Root, "bench", "peers"), "*.py");
        Assert.That(scripts, Has.Length.GreaterThanOrEqualTo(4));
        // compile() without writing __pycache__ into the source tree.
        string code = "import sys\nfor p in sys.argv[1:]:\n    compile(open(p, encoding='utf-8').read(), p, 'exec')\nprint('compiled', len(sys.argv) - 1)";
        var r = ProcessRunner.Run(python, ["-c", code, .. scripts], TimeSpan.FromMinutes(1));
        Assert.That(r.ExitCode, Is.Zero, r.Output);
    }

    private static string Python()
    {
        string? p = ProcessRunner.Which("python3", "/usr/bin/python3", "/usr/local/bin/python3");
        if (p == null) Assert.Ignore("python3 not found: the peer scripts and their reader cannot be checked (CI must install python3)");
        return p!;
    }
}
