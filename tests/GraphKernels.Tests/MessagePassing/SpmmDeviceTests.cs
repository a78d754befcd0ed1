using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Oracle;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Spmm;

/// <summary>
/// SpMM against the oracle on one device. The same fixture, with the same case tables, runs on
/// the CPU emulation (always) and on a CUDA device (skipped with the reason where there is none).
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[TestFixture(DeviceKind.Ilgpu, Category = "Ilgpu")]
[Category("MessagePassing")]
[Parallelizable(ParallelScope.All)]
public sealed class SpmmDeviceTests
{
    private readonly DeviceKind kind;
    private GraphDevice? device;

    public SpmmDeviceTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice()
    {
        device = TestDevices.OpenOrIgnore(kind);
        Assert.That(device.Kind, Is.EqualTo(kind));
    }

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    [TestCaseSource(typeof(SpmmCases), nameof(SpmmCases.Small))]
    public void MatchesOracle(SpmmCase c)
    {
        using var run = new SpmmRunner(Device, c);
        run.AssertMatchesOracle(run.Run());
    }

    [TestCaseSource(typeof(SpmmCases), nameof(SpmmCases.Big))]
    public void MatchesOracleOnPowerLawGraph(SpmmCase c)
    {
        using var run = new SpmmRunner(Device, c);
        Assert.That(run.Host.MaxDegree, Is.GreaterThanOrEqualTo(2000), "the big graph must have a hub of thousands of in-edges");
        run.AssertMatchesOracle(run.Run());
    }

    /// <summary>Two runs of the same call give bitwise-identical y (and arg): the order-sensitive reducers on the hub-heavy graph.</summary>
    [TestCase(Reduce.Sum, Message.UMulE, IndexType.Int32, 33)]
    [TestCase(Reduce.Mean, Message.CopyU, IndexType.Int64, 128)]
    [TestCase(Reduce.Max, Message.UMulE, IndexType.Int64, 257)]
    public void RerunIsBitwiseIdentical(Reduce reduce, Message message, IndexType index, int features)
    {
        bool extreme = reduce is Reduce.Max or Reduce.Min;
        var c = new SpmmCase("powerlaw-big", index, message, reduce, features, 0, 0, ValueKind.Random, extreme, 0, 4242);
        using var run = new SpmmRunner(Device, c);
        var first = run.Run();
        var second = run.Run();
        SpmmRunner.AssertBitwiseEqual(first, second, c.ToString());
        run.AssertMatchesOracle(first);
    }

    public static IEnumerable<TestCaseData> RawCases() =>
        SpmmCases.SmallCases().Where((_, i) => i % 23 == 0).Select(c => new TestCaseData(c).SetArgDisplayNames(c.ToString()));

    /// <summary>The raw-pointer overload (device pointers + stream handle) gives exactly the managed overload's result.</summary>
    [TestCaseSource(nameof(RawCases))]
    public void RawPointerOverloadGivesSameResult(SpmmCase c)
    {
        if (TestDevices.IlgpuRefusesRawPointers(Device)) return;
        using var run = new SpmmRunner(Device, c);
        var managed = run.Run();
        var raw = run.RunRaw();
        SpmmRunner.AssertBitwiseEqual(managed, raw, c.ToString());
        run.AssertMatchesOracle(raw);
    }

    [Test]
    public void RunsOnACreatedStream()
    {
        var c = new SpmmCase("powerlaw", IndexType.Int32, Message.UMulE, Reduce.Mean, 32, 0, 0, ValueKind.Dyadic, false, 0, 99);
        using var run = new SpmmRunner(Device, c);
        using var stream = Device.CreateStream();
        run.AssertMatchesOracle(run.Run(stream));
    }

    // ---- handcrafted cases whose expected values are written out by hand (they check the oracle too) ----

    /// <summary>
    /// F = 2. X: u0 = [1, 7], u1 = [3, 7], u2 = [3, −2], u3 = [−1, −2].
    /// Rows (CSR positions): r0 = u0@0 u1@1 u2@2; r1 empty; r2 = u3@3 u2@4 u2@5 u1@6; r3 = u2@7 u2@8.
    /// Args are CSR positions (not offsets within the row); ties go to the lowest position.
    /// </summary>
    private static readonly HostCsr TieGraph = HostCsr.FromRows("ties", 4, new List<List<long>>
    {
        new() { 0, 1, 2 }, new(), new() { 3, 2, 2, 1 }, new() { 2, 2 },
    });

    private static readonly float[] TieX = { 1, 7, 3, 7, 3, -2, -1, -2 };

    [TestCase(Reduce.Max, IndexType.Int32, new float[] { 3, 7, 0, 0, 3, 7, 3, -2 }, new long[] { 1, 0, -1, -1, 4, 6, 7, 7 })]
    [TestCase(Reduce.Max, IndexType.Int64, new float[] { 3, 7, 0, 0, 3, 7, 3, -2 }, new long[] { 1, 0, -1, -1, 4, 6, 7, 7 })]
    [TestCase(Reduce.Min, IndexType.Int32, new float[] { 1, -2, 0, 0, -1, -2, 3, -2 }, new long[] { 0, 2, -1, -1, 3, 3, 7, 7 })]
    [TestCase(Reduce.Min, IndexType.Int64, new float[] { 1, -2, 0, 0, -1, -2, 3, -2 }, new long[] { 0, 2, -1, -1, 3, 3, 7, 7 })]
    public void TiesGoToTheLowestCsrPosition(Reduce reduce, IndexType index, float[] expectedY, long[] expectedArg)
    {
        var (y, arg) = RunHandcrafted(TieGraph, index, reduce, 2, TieX, null, withArg: true);
        Assert.Multiple(() =>
        {
            Assert.That(y, Is.EqualTo(expectedY));
            Assert.That(arg, Is.EqualTo(expectedArg));
        });

        // The oracle must agree with the hand-written answer.
        var exp = SpmmReference.Compute(TieGraph, Message.CopyU, reduce, 2, TieX, 2, null);
        Assert.That(exp.Arg, Is.EqualTo(expectedArg));
    }

    /// <summary>
    /// F = 1. X: u0 = 1, u1 = NaN, u2 = 5, u3 = NaN, u4 = −∞.
    /// Rows: r0 = u0@0 u1@1 u2@2 u3@3 → NaN, arg 1 (first NaN); r1 = u2@4 u0@5; r2 = u3@6 → NaN, arg 6;
    /// r3 = u4@7 u0@8; r4 empty.
    /// </summary>
    private static readonly HostCsr NaNGraph = HostCsr.FromRows("nan", 5, new List<List<long>>
    {
        new() { 0, 1, 2, 3 }, new() { 2, 0 }, new() { 3 }, new() { 4, 0 }, new(),
    });

    private static readonly float[] NaNX = { 1, float.NaN, 5, float.NaN, float.NegativeInfinity };

    [TestCase(Reduce.Max, Message.CopyU, new float[] { float.NaN, 5, float.NaN, 1, 0 }, new long[] { 1, 4, 6, 8, -1 })]
    [TestCase(Reduce.Min, Message.CopyU, new float[] { float.NaN, 1, float.NaN, float.NegativeInfinity, 0 }, new long[] { 1, 5, 6, 7, -1 })]
    [TestCase(Reduce.Max, Message.UMulE, new float[] { float.NaN, 10, float.NaN, 2, 0 }, new long[] { 1, 4, 6, 8, -1 })]
    [TestCase(Reduce.Min, Message.UMulE, new float[] { float.NaN, 2, float.NaN, float.NegativeInfinity, 0 }, new long[] { 1, 5, 6, 7, -1 })]
    [TestCase(Reduce.Sum, Message.CopyU, new float[] { float.NaN, 6, float.NaN, float.NegativeInfinity, 0 }, null)]
    [TestCase(Reduce.Mean, Message.UMulE, new float[] { float.NaN, 6, float.NaN, float.NegativeInfinity, 0 }, null)]
    public void NaNPropagatesWithTheFirstNaNAsArg(Reduce reduce, Message message, float[] expectedY, long[]? expectedArg)
    {
        // UMulE: every weight is 2 (finite, positive: −∞ · 2 = −∞, no new NaN).
        float[]? w = message == Message.UMulE ? Enumerable.Repeat(2f, (int)NaNGraph.Nnz).ToArray() : null;
        bool extreme = reduce is Reduce.Max or Reduce.Min;
        foreach (IndexType index in Enum.GetValues<IndexType>())
        {
            var (y, arg) = RunHandcrafted(NaNGraph, index, reduce, 1, NaNX, w, withArg: extreme);
            Assert.That(y, Is.EqualTo(expectedY), $"{index}: y");  // NUnit's EqualTo treats NaN as equal to NaN
            if (extreme) Assert.That(arg, Is.EqualTo(expectedArg), $"{index}: arg");
        }
    }

    private (float[] Y, long[]? Arg) RunHandcrafted(HostCsr g, IndexType index, Reduce reduce, int f, float[] x, float[]? w, bool withArg)
    {
        using var graph = SpmmRunner.UploadGraph(Device, g, index);
        using var xb = Device.Upload<float>(x);
        using var wb = w is null ? null : Device.Upload<float>(w);
        using var yb = Device.Upload<float>(SpmmInputs.PoisonedY(g.NumRows, f));
        using DeviceBuffer? argb = !withArg ? null
            : index == IndexType.Int32 ? Device.Upload<int>(Enumerable.Repeat(SpmmInputs.ArgSentinel32, (int)g.NumRows * f).ToArray())
            : Device.Upload<long>(Enumerable.Repeat(SpmmInputs.ArgSentinel64, (int)g.NumRows * f).ToArray());
        GraphKernels.MessagePassing.SpMM(graph, w is null ? Message.CopyU : Message.UMulE, reduce, f, xb, yb, wb, argb);
        Device.Synchronize();
        long[]? arg = argb switch
        {
            DeviceBuffer<int> a => Array.ConvertAll(a.ToArray(), v => (long)v),
            DeviceBuffer<long> a => a.ToArray(),
            _ => null,
        };
        return (yb.ToArray(), arg);
    }
}
