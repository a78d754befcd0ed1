using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Oracle;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Spmm;

/// <summary>The graph plan (gk_plan_build) against the host's stable counting-sort transpose and the schedule definition.</summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[TestFixture(DeviceKind.Ilgpu, Category = "Ilgpu")]
[Category("MessagePassing")]
[Parallelizable(ParallelScope.All)]
public sealed class GraphPlanTests
{
    private readonly DeviceKind kind;
    private GraphDevice? device;

    public GraphPlanTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    public static IEnumerable<TestCaseData> Cases()
    {
        string[] graphs = { "er", "powerlaw", "emptyrows", "selfloops", "duplicates", "noedges", "norows", "hub", "molecules", "hugerow", "wide", "tall", "powerlaw-big" };
        long[] chunks = { 0, 1, 7, 64 };
        int i = 0;
        foreach (string g in graphs)
        {
            foreach (IndexType index in Enum.GetValues<IndexType>())
            {
                long chunk = chunks[i++ % chunks.Length];
                yield return new TestCaseData(g, index, chunk).SetArgDisplayNames($"{g}/{index}/chunk{chunk}");
            }
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void PlanMatchesHostTransposeAndSchedule(string name, IndexType index, long chunk)
    {
        HostCsr g = GSpmmHarness.Graph(name);
        using CsrGraph graph = GSpmmHarness.UploadGraph(Device, g, index);
        using GraphPlan plan = GraphPlan.Build(graph, chunk);
        Device.Synchronize();
        long c = chunk == 0 ? 256 : chunk;
        Assert.That(plan.Chunk, Is.EqualTo(c));
        Assert.That(plan.MaxItems, Is.EqualTo(g.NumRows + g.Nnz / c));

        var (rp, col, perm) = GSpmmReference.Transpose(g);
        Assert.That(plan.Transpose.NumRows, Is.EqualTo(g.NumCols));
        Assert.That(plan.Transpose.NumCols, Is.EqualTo(g.NumRows));
        Assert.That(plan.Transpose.Nnz, Is.EqualTo(g.Nnz));
        Assert.That(plan.Transpose.IndexType, Is.EqualTo(index));
        Assert.That(Head(plan.Transpose.RowPtr, g.NumCols + 1), Is.EqualTo(rp), "transposed row_ptr");
        Assert.That(Head(plan.Transpose.ColIdx, g.Nnz), Is.EqualTo(col), "transposed col_idx (destinations)");
        Assert.That(Head(plan.TransposePermutation, g.Nnz), Is.EqualTo(perm), "perm");

        var inDeg = new long[g.NumRows];
        for (long v = 0; v < g.NumRows; v++) inDeg[v] = g.Degree(v);
        var outDeg = new long[g.NumCols];
        foreach (long u in g.ColIdx) outDeg[u]++;
        Assert.That(Head(plan.InDegree, g.NumRows), Is.EqualTo(inDeg), "in-degree");
        Assert.That(Head(plan.OutDegree, g.NumCols), Is.EqualTo(outDeg), "out-degree");

        var rip = new long[g.NumRows + 1];
        var items = new List<long>();
        for (long v = 0; v < g.NumRows; v++)
        {
            long n = Math.Max(1, (g.Degree(v) + c - 1) / c);
            rip[v + 1] = rip[v] + n;
            for (long j = 0; j < n; j++) items.Add(v);
        }

        while (items.Count < plan.MaxItems) items.Add(-1);
        Assert.That(plan.RowItemPtr.ToArray(), Is.EqualTo(rip), "row_item_ptr");
        Assert.That(Head(plan.ItemRow, plan.MaxItems), Is.EqualTo(items.ToArray()), "item_row");
    }

    /// <summary>Ten builds of the hub-heavy graph's plan are bitwise identical (the scatter uses atomics; the sort fixes the order).</summary>
    [TestCase(IndexType.Int32)]
    [TestCase(IndexType.Int64)]
    public void TenBuildsAreBitwiseIdentical(IndexType index)
    {
        HostCsr g = GSpmmHarness.Graph("powerlaw-big");
        using CsrGraph graph = GSpmmHarness.UploadGraph(Device, g, index);
        long[][]? first = null;
        for (int k = 0; k < 10; k++)
        {
            using GraphPlan plan = GraphPlan.Build(graph, 16);
            Device.Synchronize();
            long[][] all =
            {
                GSpmmHarness.Bits(plan.Transpose.RowPtr), GSpmmHarness.Bits(plan.Transpose.ColIdx), GSpmmHarness.Bits(plan.TransposePermutation),
                GSpmmHarness.Bits(plan.InDegree), GSpmmHarness.Bits(plan.OutDegree), plan.RowItemPtr.ToArray(), plan.ItemRow.ToArray(),
            };
            if (first is null)
            {
                first = all;
                continue;
            }

            for (int b = 0; b < all.Length; b++) Assert.That(all[b], Is.EqualTo(first[b]), $"build {k}, buffer {b}");
        }
    }

    /// <summary>The transpose is a valid CSR (gk_csr_validate accepts it) and a plan outlives nothing it needs.</summary>
    [Test]
    public void TransposeValidates()
    {
        HostCsr g = GSpmmHarness.Graph("duplicates");
        using CsrGraph graph = GSpmmHarness.UploadGraph(Device, g, IndexType.Int64);
        using GraphPlan plan = GraphPlan.Build(graph);
        Assert.DoesNotThrow(() => plan.Transpose.Validate());
    }

    private static long[] Head(DeviceBuffer b, long n) => GSpmmHarness.Bits(b).Take((int)n).ToArray();
}
