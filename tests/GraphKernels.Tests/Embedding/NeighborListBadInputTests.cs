using GraphKernels.Interop;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Embedding;

/// <summary>
/// Bad input to gk_neighbor_list_count / fill through the raw C ABI: the status, a message naming the
/// argument and the value, and the outputs untouched (poisoned before, compared bit for bit after).
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[Category("Embedding")]
[Category("BadInput")]
[Parallelizable(ParallelScope.All)]
public sealed unsafe class NeighborListBadInputTests
{
    private readonly DeviceKind kind;
    private GraphDevice? device;

    public NeighborListBadInputTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    private const int Poison = 0x7eadbeef;

    /// <summary>Runs gk_neighbor_list_count on a mutated copy of a batch; returns status, message, report and whether src_ptr kept its poison.</summary>
    private (GkStatus Status, string Message, GkNlReport Report, bool Untouched) Count(NeighborBatch b, double cutoff, long maxNeighbors,
        Action<NeighborBatch>? mutate = null, Func<GkNlBatch, GkNlBatch>? raw = null, long workspaceShort = 0)
    {
        mutate?.Invoke(b);
        using var gp = Device.Upload<int>(b.GraphAtomPtr.Select(v => (int)v).ToArray());
        using var pos = Device.Upload<float>(b.Positions);
        using var cell = Device.Upload<float>(b.Cell);
        using var per = Device.Upload<byte>(b.Periodic);
        GkNlBatch nb;
        nb.NumAtoms = b.NumAtoms;
        nb.NumGraphs = b.NumGraphs;
        nb.IndexType = 0;
        nb.Reserved = 0;
        nb.GraphAtomPtr = gp.Pointer;
        nb.Positions = pos.Pointer;
        nb.Cell = cell.Pointer;
        nb.Periodic = per.Pointer;
        if (raw is not null)
        {
            nb = raw(nb);
        }

        using var srcPtr = Device.Upload<int>(Enumerable.Repeat(Poison, (int)b.NumAtoms + 1).ToArray());
        // The documented size (graphkernels.h): (5 N + 14 B + 8) x 8 bytes; the query must agree with it.
        long wsBytes = ((5 * b.NumAtoms) + (14 * b.NumGraphs) + 8) * 8;
        GkNlBatch sizeQuery = nb;
        nuint queried;
        if (raw is null)
        {
            Device.Api.Check(Device.Api.gk_neighbor_list_workspace_size(&sizeQuery, &queried), "gk_neighbor_list_workspace_size");
            Assert.That((long)queried, Is.EqualTo(wsBytes), "gk_neighbor_list_workspace_size");
        }


        using var ws = Device.Allocate<byte>(wsBytes);
        GkNlReport report = default;
        report.OverflowAtom = -7;
        int status = Device.Api.gk_neighbor_list_count(&nb, cutoff, maxNeighbors, (void*)srcPtr.Pointer, (void*)ws.Pointer, (nuint)(wsBytes - workspaceShort), &report, null);
        string message = System.Runtime.InteropServices.Marshal.PtrToStringUTF8((nint)Device.Api.gk_last_error_message()) ?? string.Empty;
        bool untouched = srcPtr.ToArray().All(v => v == Poison);
        return ((GkStatus)status, message, report, untouched);
    }

    private static NeighborBatch Crystal()
    {
        var (c, p) = NeighborBatch.Triclinic(4, 11);
        return NeighborBatch.Single(c, p, true);
    }

    public static IEnumerable<TestCaseData> CountCases()
    {
        yield return new TestCaseData(0.0, 0L, null, null, 0L, GkStatus.InvalidArgument, "cutoff = 0").SetArgDisplayNames("cutoff 0");
        yield return new TestCaseData(double.NaN, 0L, null, null, 0L, GkStatus.InvalidArgument, "cutoff = NaN must be finite and > 0").SetArgDisplayNames("cutoff NaN");
        yield return new TestCaseData(-1.0, 0L, null, null, 0L, GkStatus.InvalidArgument, "cutoff = -1").SetArgDisplayNames("cutoff negative");
        yield return new TestCaseData(2.0, -3L, null, null, 0L, GkStatus.InvalidArgument, "max_neighbors = -3 is negative").SetArgDisplayNames("max_neighbors negative");
        yield return new TestCaseData(2.0, 0L, (Action<NeighborBatch>)(b => b.Cell[4] = float.NaN), null, 0L, GkStatus.InvalidArgument, "batch->cell of graph 0 is not finite (cell[0][1][1] = NaN)").SetArgDisplayNames("cell NaN");
        yield return new TestCaseData(2.0, 0L, (Action<NeighborBatch>)(b => { b.Cell[6] = b.Cell[0]; b.Cell[7] = b.Cell[1]; b.Cell[8] = b.Cell[2]; }), null, 0L, GkStatus.InvalidArgument, "graph 0 is periodic but its cell has zero volume").SetArgDisplayNames("cell singular");
        yield return new TestCaseData(5000.0, 0L, null, null, 0L, GkStatus.InvalidArgument, "images along lattice vector").SetArgDisplayNames("cutoff spans too many images");
        yield return new TestCaseData(2.0, 0L, null, (Func<GkNlBatch, GkNlBatch>)(n => { n.NumAtoms = 3; return n; }), 0L, GkStatus.InvalidArgument, "batch->graph_atom_ptr[1] = 4 (the last entry) must equal num_atoms = 3").SetArgDisplayNames("graph_atom_ptr end");
        yield return new TestCaseData(2.0, 0L, null, (Func<GkNlBatch, GkNlBatch>)(n => { n.Positions = 0; return n; }), 0L, GkStatus.InvalidArgument, "batch->positions is NULL").SetArgDisplayNames("positions NULL");
        yield return new TestCaseData(2.0, 0L, null, (Func<GkNlBatch, GkNlBatch>)(n => { n.Cell = 0; return n; }), 0L, GkStatus.InvalidArgument, "batch->cell is NULL but a structure is periodic").SetArgDisplayNames("cell NULL");
        yield return new TestCaseData(2.0, 0L, null, (Func<GkNlBatch, GkNlBatch>)(n => { n.IndexType = 5; return n; }), 0L, GkStatus.InvalidArgument, "batch->index_type = 5").SetArgDisplayNames("index type");
        yield return new TestCaseData(2.0, 0L, null, (Func<GkNlBatch, GkNlBatch>)(n => { n.NumGraphs = 0; return n; }), 0L, GkStatus.InvalidArgument, "batch->num_graphs = 0").SetArgDisplayNames("no graphs");
        yield return new TestCaseData(2.0, 0L, null, (Func<GkNlBatch, GkNlBatch>)(n => { n.NumAtoms = -2; return n; }), 0L, GkStatus.InvalidArgument, "batch->num_atoms = -2 is negative").SetArgDisplayNames("negative atoms");
        yield return new TestCaseData(2.0, 0L, null, null, 8L, GkStatus.Workspace, "workspace_bytes = 328, needs 336").SetArgDisplayNames("workspace short");
    }

    [TestCaseSource(nameof(CountCases))]
    public void CountRefusesAndLeavesSrcPtrUntouched(double cutoff, long maxNeighbors, Action<NeighborBatch>? mutate, object? raw,
        long workspaceShort, GkStatus want, string fragment)
    {
        // raw is a Func<GkNlBatch, GkNlBatch> (GkNlBatch is internal, so the public signature says object).
        var r = Count(Crystal(), cutoff, maxNeighbors, mutate, (Func<GkNlBatch, GkNlBatch>?)raw, workspaceShort);
        Assert.That(r.Status, Is.EqualTo(want), r.Message);
        Assert.That(r.Message, Does.StartWith("gk_neighbor_list_count: ").And.Contain(fragment));
        Assert.That(r.Untouched, "src_ptr was written by a refused call");
    }

    [Test]
    public void MaxNeighborsExceededNamesTheLowestAtomAndItsCount()
    {
        var b = NeighborBatch.Mixed(21);
        var edges = b.Edges(3.3);
        var counts = new long[b.NumAtoms];
        foreach (var e in edges)
        {
            counts[e.Src]++;
        }

        long limit = counts.Max() - 1;
        long atom = Array.FindIndex(counts, c => c > limit);
        var r = Count(b, 3.3, limit);
        Assert.That(r.Status, Is.EqualTo(GkStatus.InvalidArgument));
        Assert.That(r.Report.OverflowAtom, Is.EqualTo(atom));
        Assert.That(r.Report.OverflowCount, Is.EqualTo(counts[atom]));
        int graph = Array.FindLastIndex(b.GraphAtomPtr, p => p <= atom);
        Assert.That(r.Message, Does.Contain($"max_neighbors = {limit} is exceeded: atom {atom} (graph {graph}, atom {atom - b.GraphAtomPtr[graph]} of that graph) has {counts[atom]} neighbours"));
        Assert.That(r.Untouched, "src_ptr was written by a refused call");

        // The managed API carries the same report.
        using var pos = Device.Upload<float>(b.Positions);
        using var cell = Device.Upload<float>(b.Cell);
        using var per = Device.Upload<byte>(b.Periodic);
        var ex = Assert.Throws<GraphKernelsException>(() => NeighborList.Build(Device, b.GraphAtomPtr, pos, cell, per, 3.3, new NeighborListOptions { MaxNeighbors = limit }));
        Assert.That(ex!.Status, Is.EqualTo(GkStatus.InvalidArgument));
        Assert.That(ex.Data["OverflowAtom"], Is.EqualTo(atom));
        Assert.That(ex.Data["OverflowCount"], Is.EqualTo(counts[atom]));
    }

    [Test]
    public void FillRefusesMissingOrOverlappingOutputs()
    {
        var b = Crystal();
        using var gp = Device.Upload<int>(b.GraphAtomPtr.Select(v => (int)v).ToArray());
        using var pos = Device.Upload<float>(b.Positions);
        using var cell = Device.Upload<float>(b.Cell);
        GkNlBatch nb = default;
        nb.NumAtoms = b.NumAtoms;
        nb.NumGraphs = 1;
        nb.GraphAtomPtr = gp.Pointer;
        nb.Positions = pos.Pointer;
        nb.Cell = cell.Pointer;
        using var sp = Device.Upload<int>(new int[] { 0, 2, 4, 6, 8 });
        using var es = Device.Upload<int>(Enumerable.Repeat(Poison, 8).ToArray());
        using var ed = Device.Upload<int>(Enumerable.Repeat(Poison, 8).ToArray());
        using var sh = Device.Upload<int>(Enumerable.Repeat(Poison, 24).ToArray());
        int s1 = Device.Api.gk_neighbor_list_fill(&nb, 2.0, (void*)sp.Pointer, 8, (void*)es.Pointer, null, (int*)sh.Pointer, null, null, null);
        string m1 = System.Runtime.InteropServices.Marshal.PtrToStringUTF8((nint)Device.Api.gk_last_error_message()) ?? string.Empty;
        Assert.That((GkStatus)s1, Is.EqualTo(GkStatus.InvalidArgument));
        Assert.That(m1, Is.EqualTo("gk_neighbor_list_fill: edge_dst is NULL (num_edges = 8)"));
        int s2 = Device.Api.gk_neighbor_list_fill(&nb, 2.0, (void*)sp.Pointer, 8, (void*)es.Pointer, (void*)(es.Pointer + 4), (int*)sh.Pointer, null, null, null);
        string m2 = System.Runtime.InteropServices.Marshal.PtrToStringUTF8((nint)Device.Api.gk_last_error_message()) ?? string.Empty;
        Assert.That((GkStatus)s2, Is.EqualTo(GkStatus.InvalidArgument));
        Assert.That(m2, Is.EqualTo("gk_neighbor_list_fill: edge_dst overlaps edge_src"));
        int s3 = Device.Api.gk_neighbor_list_fill(&nb, 2.0, (void*)sp.Pointer, -1, (void*)es.Pointer, (void*)ed.Pointer, (int*)sh.Pointer, null, null, null);
        Assert.That((GkStatus)s3, Is.EqualTo(GkStatus.InvalidArgument));
        Assert.That(es.ToArray().Concat(ed.ToArray()).Concat(sh.ToArray()).All(v => v == Poison), "an output was written by a refused call");
    }

    [Test]
    public void FillWsRefusesAMissingShortOrOverlappingWorkspace()
    {
        var b = Crystal();
        using var gp = Device.Upload<int>(b.GraphAtomPtr.Select(v => (int)v).ToArray());
        using var pos = Device.Upload<float>(b.Positions);
        using var cell = Device.Upload<float>(b.Cell);
        GkNlBatch nb = default;
        nb.NumAtoms = b.NumAtoms;
        nb.NumGraphs = 1;
        nb.GraphAtomPtr = gp.Pointer;
        nb.Positions = pos.Pointer;
        nb.Cell = cell.Pointer;
        const long need = ((5 * 4) + 14 + 8) * 8;   // the documented (5 N + 14 B + 8) x 8 bytes, N = 4, B = 1
        using var ws = Device.Allocate<long>(need / 8);
        using var sp = Device.Upload<int>(new int[] { 0, 2, 4, 6, 8 });
        using var es = Device.Upload<int>(Enumerable.Repeat(Poison, 8).ToArray());
        using var ed = Device.Upload<int>(Enumerable.Repeat(Poison, 8).ToArray());
        using var sh = Device.Upload<int>(Enumerable.Repeat(Poison, 24).ToArray());
        (GkStatus, string) Call(void* w, long bytes, void* edgeDst)
        {
            GkNlBatch local = nb;
            int st = Device.Api.gk_neighbor_list_fill_ws(&local, 2.0, (void*)sp.Pointer, w, (nuint)bytes, 8, (void*)es.Pointer, edgeDst, (int*)sh.Pointer, null, null, null);
            return ((GkStatus)st, System.Runtime.InteropServices.Marshal.PtrToStringUTF8((nint)Device.Api.gk_last_error_message()) ?? string.Empty);
        }

        Assert.That(Call(null, need, (void*)ed.Pointer), Is.EqualTo((GkStatus.Workspace, $"gk_neighbor_list_fill_ws: workspace is NULL (pass the workspace of gk_neighbor_list_count, {need} bytes)")));
        Assert.That(Call((void*)ws.Pointer, need - 8, (void*)ed.Pointer), Is.EqualTo((GkStatus.Workspace, $"gk_neighbor_list_fill_ws: workspace_bytes = {need - 8}, needs {need}")));
        var (st, msg) = Call((void*)(ws.Pointer + 4), need, (void*)ed.Pointer);
        Assert.That(st, Is.EqualTo(GkStatus.InvalidArgument));
        Assert.That(msg, Does.StartWith("gk_neighbor_list_fill_ws: workspace (").And.EndWith(") must be 8-byte aligned"));
        Assert.That(Call((void*)ws.Pointer, need, (void*)ws.Pointer), Is.EqualTo((GkStatus.InvalidArgument, "gk_neighbor_list_fill_ws: edge_dst overlaps workspace")));
        Assert.That(es.ToArray().Concat(ed.ToArray()).Concat(sh.ToArray()).All(v => v == Poison), "an output was written by a refused call");
    }

    [Test]
    public void ManagedBuildNamesTheShortOrMissingArgument()
    {
        var b = Crystal();
        using var pos = Device.Upload<float>(b.Positions);
        using var shortPos = Device.Upload<float>(b.Positions.AsSpan(0, b.Positions.Length - 1).ToArray());
        using var cell = Device.Upload<float>(b.Cell);
        using var shortCell = Device.Upload<float>(new float[8]);
        using var noFlags = Device.Allocate<byte>(0);
        Assert.That(Assert.Throws<ArgumentException>(() => NeighborList.Build(Device, b.GraphAtomPtr, shortPos, cell, null, 2.0))!.ParamName, Is.EqualTo("positions"));
        Assert.That(Assert.Throws<ArgumentException>(() => NeighborList.Build(Device, b.GraphAtomPtr, pos, shortCell, null, 2.0))!.ParamName, Is.EqualTo("cell"));
        Assert.That(Assert.Throws<ArgumentException>(() => NeighborList.Build(Device, b.GraphAtomPtr, pos, cell, noFlags, 2.0))!.ParamName, Is.EqualTo("periodic"));
        Assert.That(Assert.Throws<ArgumentException>(() => NeighborList.Build(Device, new long[] { 4 }, pos, cell, null, 2.0))!.ParamName, Is.EqualTo("graphAtomPtr"));
        Assert.That(Assert.Throws<ArgumentNullException>(() => NeighborList.Build(Device, b.GraphAtomPtr, null!, cell, null, 2.0))!.ParamName, Is.EqualTo("positions"));
        var ex = Assert.Throws<GraphKernelsException>(() => NeighborList.Build(Device, b.GraphAtomPtr, pos, cell, null, -1.0));
        Assert.That(ex!.Status, Is.EqualTo(GkStatus.InvalidArgument));
        Assert.That(ex.Message, Does.Contain("cutoff = -1 must be finite and > 0"));
    }
}
