using System.Text.RegularExpressions;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.BadInput;

/// <summary>
/// gk_csr_validate through CsrGraph.Upload / FromDevice / Validate: bad CSR contents give
/// InvalidGraph with a message naming the array, the first bad position and its value.
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[TestFixture(DeviceKind.Ilgpu, Category = "Ilgpu")]
[Category("BadInput")]
[Parallelizable(ParallelScope.All)]
public sealed class CsrValidationTests
{
    private readonly DeviceKind kind;
    private GraphDevice? device;

    public CsrValidationTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    /// <summary>(what, rowPtr, colIdx, numCols, expected array name with position, expected value).</summary>
    public static IEnumerable<TestCaseData> BadGraphs()
    {
        foreach (IndexType index in Enum.GetValues<IndexType>())
        {
            yield return Case(index, "row_ptr not monotone", new long[] { 0, 2, 1, 3 }, new long[] { 0, 1, 2 }, 3, "row_ptr[2]", "1");
            yield return Case(index, "row_ptr[0] != 0", new long[] { 1, 2, 3 }, new long[] { 0, 1, 2 }, 3, "row_ptr[0]", "1");
            yield return Case(index, "row_ptr[M] < nnz", new long[] { 0, 2, 4 }, new long[] { 0, 1, 2, 3, 4 }, 5, "row_ptr[2]", "4");
            yield return Case(index, "row_ptr[M] > nnz", new long[] { 0, 2, 6 }, new long[] { 0, 1, 2, 3, 4 }, 5, "row_ptr[2]", "6");
            yield return Case(index, "negative row_ptr", new long[] { 0, -1, 2 }, new long[] { 0, 1 }, 2, "row_ptr[1]", "-1");
            yield return Case(index, "column == numCols", new long[] { 0, 4, 8 }, new long[] { 0, 1, 2, 3, 4, 5, 6, 10 }, 10, "col_idx[7]", "10");
            yield return Case(index, "negative column", new long[] { 0, 4 }, new long[] { 0, 1, 2, -3 }, 4, "col_idx[3]", "-3");
            yield return Case(index, "two bad columns: the lowest is named", new long[] { 0, 3, 6 }, new long[] { 0, 1, 99, 2, 3, -1 }, 5, "col_idx[2]", "99");
            yield return Case(index, "edges but no columns", new long[] { 0, 1 }, new long[] { 0 }, 0, "col_idx[0]", "0");

            // Large enough that many blocks run: the lowest bad position must win whatever the order.
            var rp = Enumerable.Range(0, 5001).Select(i => (long)i).ToArray();
            var ci = Enumerable.Range(0, 5000).Select(i => (long)(i % 300)).ToArray();
            ci[4999] = 300;
            ci[4321] = 777;
            ci[4500] = -5;
            yield return Case(index, "many blocks, bad columns at 4321, 4500, 4999", rp, ci, 300, "col_idx[4321]", "777");
            var rp2 = (long[])rp.Clone();
            rp2[3000] = 2990;  // below row_ptr[2999] = 2999
            rp2[4000] = 1;
            yield return Case(index, "many blocks, row_ptr decreasing at 3000 and 4000", rp2, ci.Select(c => c % 300 < 0 ? 0 : c % 300).ToArray(), 300, "row_ptr[3000]", "2990");
        }

        yield return Case(IndexType.Int64, "int64 column beyond 2^32", new long[] { 0, 2 }, new long[] { 1, 5_000_000_000 }, 10, "col_idx[1]", "5000000000");
    }

    private static TestCaseData Case(IndexType index, string what, long[] rowPtr, long[] colIdx, long numCols, string where, string value) =>
        new TestCaseData(index, rowPtr, colIdx, numCols, where, value).SetArgDisplayNames(index.ToString(), what);

    [TestCaseSource(nameof(BadGraphs))]
    public void UploadRejectsBadGraph(IndexType index, long[] rowPtr, long[] colIdx, long numCols, string where, string value)
    {
        var ex = Assert.Throws<GraphKernelsException>(() =>
        {
            using var g = index == IndexType.Int32
                ? CsrGraph.Upload(Device, Array.ConvertAll(rowPtr, v => checked((int)v)), Array.ConvertAll(colIdx, v => checked((int)v)), numCols)
                : CsrGraph.Upload(Device, rowPtr, colIdx, numCols);
        });
        AssertNamesEntry(ex!, where, value);
    }

    [TestCaseSource(nameof(BadGraphs))]
    public void FromDeviceAndValidateRejectBadGraph(IndexType index, long[] rowPtr, long[] colIdx, long numCols, string where, string value)
    {
        using DeviceBuffer rp = index == IndexType.Int32 ? Device.Upload<int>(Array.ConvertAll(rowPtr, v => checked((int)v))) : Device.Upload<long>(rowPtr);
        using DeviceBuffer ci = index == IndexType.Int32 ? Device.Upload<int>(Array.ConvertAll(colIdx, v => checked((int)v))) : Device.Upload<long>(colIdx);
        long numRows = rowPtr.Length - 1;

        var ex = Assert.Throws<GraphKernelsException>(() =>
        {
            using var g = CsrGraph.FromDevice(Device, rp, ci, numRows, numCols, colIdx.Length);
        });
        AssertNamesEntry(ex!, where, value);

        // Without validation the view is created; an explicit Validate() then finds the same entry.
        using var unchecked_ = CsrGraph.FromDevice(Device, rp, ci, numRows, numCols, colIdx.Length, validate: false);
        var ex2 = Assert.Throws<GraphKernelsException>(() => unchecked_.Validate());
        AssertNamesEntry(ex2!, where, value);
    }

    [Test]
    public void ValidGraphsPass([Values] IndexType index)
    {
        // Empty rows, duplicates, self loops, nnz = 0 and M = 0 are all valid CSR.
        var graphs = new (long[] Rp, long[] Ci, long K)[]
        {
            (new long[] { 0, 0, 3, 3, 5 }, new long[] { 2, 2, 0, 1, 4 }, 5),
            (new long[] { 0, 0, 0 }, Array.Empty<long>(), 7),
            (new long[] { 0 }, Array.Empty<long>(), 3),
            (new long[] { 0, 1 }, new long[] { 0 }, 1),
        };
        foreach (var (rp, ci, k) in graphs)
        {
            using var g = index == IndexType.Int32
                ? CsrGraph.Upload(Device, Array.ConvertAll(rp, v => (int)v), Array.ConvertAll(ci, v => (int)v), k)
                : CsrGraph.Upload(Device, rp, ci, k);
            Assert.Multiple(() =>
            {
                Assert.That(g.NumRows, Is.EqualTo(rp.Length - 1));
                Assert.That(g.NumCols, Is.EqualTo(k));
                Assert.That(g.Nnz, Is.EqualTo(ci.Length));
                Assert.That(g.IndexType, Is.EqualTo(index));
            });
            Assert.DoesNotThrow(() => g.Validate());
        }
    }

    [Test]
    public void ManagedShapeChecks()
    {
        using DeviceBuffer<int> rp = Device.Upload<int>(new[] { 0, 1, 2 });
        using DeviceBuffer<int> ci = Device.Upload<int>(new[] { 0, 1 });
        using DeviceBuffer<long> ci64 = Device.Upload<long>(new long[] { 0, 1 });
        using DeviceBuffer<float> cf = Device.Upload<float>(new float[] { 0, 1 });
        Assert.Multiple(() =>
        {
            Assert.That(() => CsrGraph.Upload(Device, ReadOnlySpan<int>.Empty, ReadOnlySpan<int>.Empty, 3),
                Throws.InstanceOf<ArgumentException>().With.Property("ParamName").EqualTo("rowPtr"));
            Assert.That(() => CsrGraph.Upload(Device, new[] { 0, 1 }, new[] { 0 }, -1),
                Throws.InstanceOf<ArgumentException>().With.Property("ParamName").EqualTo("numCols"));
            Assert.That(() => CsrGraph.FromDevice(Device, rp, ci64, 2, 2, 2),
                Throws.InstanceOf<ArgumentException>().With.Property("ParamName").EqualTo("colIdx"));
            Assert.That(() => CsrGraph.FromDevice(Device, cf, cf, 1, 2, 2),
                Throws.InstanceOf<ArgumentException>().With.Property("ParamName").EqualTo("rowPtr"));
            Assert.That(() => CsrGraph.FromDevice(Device, rp, ci, 3, 2, 2),
                Throws.InstanceOf<ArgumentException>().With.Property("ParamName").EqualTo("rowPtr"));
            Assert.That(() => CsrGraph.FromDevice(Device, rp, ci, 2, 2, 3),
                Throws.InstanceOf<ArgumentException>().With.Property("ParamName").EqualTo("colIdx"));
        });
    }

    private static void AssertNamesEntry(GraphKernelsException ex, string where, string value)
    {
        Assert.Multiple(() =>
        {
            Assert.That(ex.Status, Is.EqualTo(GkStatus.InvalidGraph), ex.Message);
            Assert.That(ex.Message, Does.Contain(where));
            // The value must follow the entry it belongs to ("row_ptr[2] = 1 ...").
            Assert.That(Regex.IsMatch(ex.Message, $@"{Regex.Escape(where)}[^\d\-]*{Regex.Escape(value)}(?!\d)"), Is.True,
                $"the message should state the bad value {value} of {where}: {ex.Message}");
        });
    }
}
