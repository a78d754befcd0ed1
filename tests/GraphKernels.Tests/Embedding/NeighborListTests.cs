using GraphKernels.Interop;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Embedding;

/// <summary>
/// The device neighbour list against the brute-force double oracle of <see cref="NeighborBatch"/>:
/// exact edge set, order, shifts and CSR; edge vectors within 1 fp32 ulp (the kernel and the oracle both
/// form r in double from the same fp32 inputs and round once to fp32; the sums may associate differently,
/// so the last double bit, and rarely the fp32 rounding, can differ); the destination permutation; and
/// bitwise determinism over 10 runs.
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[TestFixture(DeviceKind.Ilgpu, Category = "Ilgpu")]
[Category("Embedding")]
[Parallelizable(ParallelScope.All)]
public sealed unsafe class NeighborListTests
{
    private readonly DeviceKind kind;
    private GraphDevice? device;

    public NeighborListTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    public static IEnumerable<TestCaseData> Cases()
    {
        foreach (var it in new[] { IndexType.Int32, IndexType.Int64 })
        {
            var (c, p) = NeighborBatch.Triclinic(4, 11);
            yield return new TestCaseData("triclinic-small-cell", NeighborBatch.Single(c, p, true), 4.0, it).SetArgDisplayNames("triclinic cell < 2 rc", it.ToString());
            yield return new TestCaseData("molecule", NeighborBatch.Single(new float[9], NeighborBatch.Molecule(12, 5, 3.0), false), 2.7, it).SetArgDisplayNames("molecule", it.ToString());
            yield return new TestCaseData("batch-mix", NeighborBatch.Mixed(21), 3.3, it).SetArgDisplayNames("batch mix", it.ToString());
        }

        var (c1, p1) = NeighborBatch.Triclinic(1, 3, scale: 0.8);
        yield return new TestCaseData("single-atom", NeighborBatch.Single(c1, p1, true), 5.0, IndexType.Int32).SetArgDisplayNames("one atom, self images only", "Int32");
    }

    private NeighborList Build(NeighborBatch b, double cutoff, IndexType it, long maxNeighbors = 0)
    {
        using var pos = Device.Upload<float>(b.Positions);
        using var cell = Device.Upload<float>(b.Cell);
        using var per = Device.Upload<byte>(b.Periodic);
        return NeighborList.Build(Device, b.GraphAtomPtr, pos, cell, per, cutoff, new NeighborListOptions { IndexType = it, MaxNeighbors = maxNeighbors });
    }

    [TestCaseSource(nameof(Cases))]
    public void MatchesBruteForceOracle(string name, NeighborBatch b, double cutoff, IndexType it)
    {
        var expected = b.Edges(cutoff);
        using var nl = Build(b, cutoff, it);
        Assert.That(nl.NumEdges, Is.EqualTo(expected.Count), $"{name}: edge count");
        Assert.That(nl.IndexType, Is.EqualTo(it));
        Assert.That(nl.SrcPtr.ElementType, Is.EqualTo(it == IndexType.Int64 ? typeof(long) : typeof(int)));

        long[] srcPtr = nl.ToHost(nl.SrcPtr), src = nl.ToHost(nl.EdgeSrc), dst = nl.ToHost(nl.EdgeDst);
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
            Assert.That((src[e], dst[e], shifts[3 * e], shifts[(3 * e) + 1], shifts[(3 * e) + 2]), Is.EqualTo((x.Src, x.Dst, x.S0, x.S1, x.S2)), $"{name}: edge {e}");
            double[] r = [x.Rx, x.Ry, x.Rz];
            for (int c = 0; c < 3; c++)
            {
                float want = (float)r[c];
                Assert.That(Math.Abs(vec[(3 * e) + c] - want), Is.LessThanOrEqualTo(MathF.BitIncrement(MathF.Abs(want)) - MathF.Abs(want)), $"{name}: r of edge {e}, component {c}");
            }
        }

        Assert.That(nl.MaxNeighborCount, Is.EqualTo(Enumerable.Range(0, (int)b.NumAtoms).Select(i => wantPtr[i + 1] - wantPtr[i]).DefaultIfEmpty(0).Max()));
        if (name == "triclinic-small-cell")
        {
            Assert.That(expected.Any(e => e.Src == e.Dst), "the small cell must produce self-image edges");
            Assert.That(expected.GroupBy(e => (e.Src, e.Dst)).Any(g => g.Count() > 1), "the small cell must produce several images of a pair");
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void DstPermListsTheEdgesByDestination(string name, NeighborBatch b, double cutoff, IndexType it)
    {
        using var nl = Build(b, cutoff, it);
        long[] srcPtr = nl.ToHost(nl.SrcPtr), dst = nl.ToHost(nl.EdgeDst), perm = nl.ToHost(nl.DstPerm!);
        // Independent: the edges with dst = i in increasing position, laid out from an in-degree scan.
        var inPtr = new long[b.NumAtoms + 1];
        foreach (long d in dst)
        {
            inPtr[d + 1]++;
        }

        for (int i = 0; i < b.NumAtoms; i++)
        {
            inPtr[i + 1] += inPtr[i];
        }

        Assert.That(inPtr, Is.EqualTo(srcPtr), $"{name}: in-degree = out-degree (symmetric list), so dst_ptr = src_ptr");
        var want = new long[dst.Length];
        var fill = (long[])inPtr.Clone();
        for (int e = 0; e < dst.Length; e++)
        {
            want[fill[dst[e]]++] = e;
        }

        Assert.That(perm, Is.EqualTo(want), $"{name}: dst_perm");
    }

    [Test]
    public void FeedsTheForceStressReadoutDirectly([Values(IndexType.Int32, IndexType.Int64)] IndexType it)
    {
        var b = NeighborBatch.Mixed(7);
        const double cutoff = 3.3;
        using var nl = Build(b, cutoff, it);
        if (kind == DeviceKind.Ilgpu)
        {
            // The raw C ABI readout has no ILGPU implementation: the refusal names the backend.
            Assert.That(Assert.Throws<NotSupportedException>(() => _ = Device.Api)!.Message, Does.Contain("ILGPU"));
            return;
        }

        using var cell = Device.Upload<float>(b.Cell);
        using var per = Device.Upload<byte>(b.Periodic);
        GkFsTopology t;
        t.NumAtoms = nl.NumAtoms;
        t.NumEdges = nl.NumEdges;
        t.NumGraphs = nl.NumGraphs;
        t.IndexType = (int)it;
        t.Reserved = 0;
        t.GraphAtomPtr = nl.GraphAtomPtr.Pointer;
        t.SrcPtr = nl.SrcPtr.Pointer;
        t.EdgeSrc = nl.EdgeSrc.Pointer;
        t.EdgeDst = nl.EdgeDst.Pointer;
        t.DstPtr = nl.SrcPtr.Pointer;   // symmetric list: dst_ptr = src_ptr
        t.DstPerm = nl.DstPerm!.Pointer;
        GkFsGeometry g = default;
        g.EdgeVec = nl.EdgeVectors!.Pointer;
        g.Cell = cell.Pointer;
        g.Periodic = per.Pointer;
        using var ws = Device.Allocate<byte>(Math.Max(8, Device.Api.ForceStressValidateWorkspaceBytes));
        Device.Api.Check(Device.Api.gk_force_stress_validate(&t, &g, (void*)ws.Pointer, (nuint)ws.Length, null), "gk_force_stress_validate");

        // Direct mode with s_e = 1: F_i = sum over out-edges of r̂ minus sum over in-edges of r̂ = 2 sum_out r̂
        // (each in-edge is the reverse of an out-edge); the oracle computes it from its own edges.
        var edges = b.Edges(cutoff);
        using var s = Device.Upload<float>(Enumerable.Repeat(1f, (int)nl.NumEdges).ToArray());
        using var forces = Device.Allocate<float>(3 * nl.NumAtoms);
        Device.Api.Check(Device.Api.gk_force_stress_readout(&t, &g, 1, (float*)s.Pointer, 0, 0, (float*)forces.Pointer, null, null, null, 0, null), "gk_force_stress_readout");
        var want = new double[3 * b.NumAtoms];
        foreach (var e in edges)
        {
            double n = Math.Sqrt((e.Rx * e.Rx) + (e.Ry * e.Ry) + (e.Rz * e.Rz));
            want[(3 * e.Src) + 0] += 2 * e.Rx / n;
            want[(3 * e.Src) + 1] += 2 * e.Ry / n;
            want[(3 * e.Src) + 2] += 2 * e.Rz / n;
        }

        float[] got = forces.ToArray();
        // fp32 accumulation of up to ~100 unit vectors: 1e-4 absolute is ~10x the expected rounding.
        Assert.That(got.Select(v => (double)v), Is.EqualTo(want).Within(1e-4));
    }

    [Test]
    public void TenRunsAreBitwiseIdentical()
    {
        var b = NeighborBatch.Mixed(33);
        byte[]? first = null;
        for (int run = 0; run < 10; run++)
        {
            using var nl = Build(b, 3.3, IndexType.Int32);
            var bytes = new List<byte>();
            foreach (long v in nl.ToHost(nl.SrcPtr).Concat(nl.ToHost(nl.EdgeSrc)).Concat(nl.ToHost(nl.EdgeDst)).Concat(nl.ToHost(nl.DstPerm!)))
            {
                bytes.AddRange(BitConverter.GetBytes(v));
            }

            foreach (int v in nl.Shifts.ToArray())
            {
                bytes.AddRange(BitConverter.GetBytes(v));
            }

            foreach (float v in nl.EdgeVectors!.ToArray())
            {
                bytes.AddRange(BitConverter.GetBytes(v));
            }

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

    [Test]
    public void MaxNeighborsWithinTheLimitSucceeds()
    {
        var b = NeighborBatch.Mixed(21);
        var edges = b.Edges(3.3);
        long max = edges.GroupBy(e => e.Src).Max(g => g.Count());
        using var nl = Build(b, 3.3, IndexType.Int32, maxNeighbors: max);
        Assert.That(nl.NumEdges, Is.EqualTo(edges.Count));
        Assert.That(nl.MaxNeighborCount, Is.EqualTo(max));
    }
}
