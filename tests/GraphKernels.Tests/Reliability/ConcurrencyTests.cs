using System.Collections.Concurrent;
using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Reliability;

/// <summary>
/// Issue 11, concurrency and determinism on the emulated device: many .NET threads issuing SpMM
/// at once (each on its own Stream) give bitwise the serial results; disposing a buffer or graph
/// while another thread uses it gives ObjectDisposedException or a correct result, never a crash
/// or a wrong number; SpMM is bitwise identical over 10 runs and over the vector widths the
/// launcher picks from alignment (the spec: one lane per output element, CSR order).
/// </summary>
[TestFixture]
[Category("Emulation")]
[Category("MessagePassing")]
[NonParallelizable]
public sealed class ConcurrencyTests
{
    private GraphDevice device = null!;

    [OneTimeSetUp]
    public void OpenDevice() => device = GraphDevice.Emulated();

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    private static HostCsr Graph(ulong seed) =>
        GraphGenerators.PowerLaw(1500, 1200, 6.0, new[] { 300, 120 }, seed);

    private static float[] RandomFeatures(long n, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var a = new float[n];
        for (long i = 0; i < n; i++) a[i] = rng.NextFloat(-2f, 2f);
        return a;
    }

    /// <summary>One SpMM into a fresh output (poisoned with NaN first), returned as raw bits.</summary>
    private static uint[] Run(GraphDevice d, CsrGraph g, Message msg, Reduce red, long f,
        DeviceBuffer<float> x, DeviceBuffer<float>? w, Stream? stream, long ldx = 0, long ldy = 0)
    {
        long ly = ldy == 0 ? f : ldy;
        using DeviceBuffer<float> y = d.Allocate<float>(g.NumRows * ly);
        y.Fill(float.NaN);
        MessagePassing.SpMM(g, msg, red, f, x, y, msg == Message.UMulE ? w : null, ldx: ldx, ldy: ldy, stream: stream);
        float[] host = y.ToArray();
        var bits = new uint[g.NumRows * f];
        for (long r = 0; r < g.NumRows; r++)
            for (long c = 0; c < f; c++)
                bits[r * f + c] = BitConverter.SingleToUInt32Bits(host[r * ly + c]);
        return bits;
    }

    [Test]
    public void ThreadsOnTheirOwnStreamsMatchSerialRunsBitwise([Values] IndexType index)
    {
        HostCsr h = Graph(11);
        const long F = 36;
        using CsrGraph g = index == IndexType.Int32
            ? CsrGraph.Upload(device, h.RowPtr32(), h.ColIdx32(), h.NumCols)
            : CsrGraph.Upload(device, h.RowPtr, h.ColIdx, h.NumCols);
        using DeviceBuffer<float> x = device.Upload<float>(RandomFeatures(h.NumCols * F, 5));
        using DeviceBuffer<float> w = device.Upload<float>(RandomFeatures(h.Nnz, 6));

        var combos = new List<(Message, Reduce)>();
        foreach (Message m in GraphKernels.Tests.Spmm.SpmmCases.LegacyMessages)
            foreach (Reduce r in GraphKernels.Tests.Spmm.SpmmCases.LegacyReducers) combos.Add((m, r));
        var serial = combos.Select(c => Run(device, g, c.Item1, c.Item2, F, x, w, null)).ToArray();

        const int threads = 8, iterations = 6;
        var failures = new ConcurrentQueue<string>();
        using var start = new Barrier(threads);
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            try
            {
                using Stream s = device.CreateStream();
                start.SignalAndWait();
                for (int i = 0; i < iterations; i++)
                {
                    int k = (t + i) % combos.Count;
                    uint[] got = Run(device, g, combos[k].Item1, combos[k].Item2, F, x, w, s);
                    if (!got.AsSpan().SequenceEqual(serial[k]))
                        failures.Enqueue($"thread {t} iteration {i} ({combos[k]}): differs from the serial run");
                }
            }
            catch (Exception e)
            {
                failures.Enqueue($"thread {t}: {e.GetType().Name}: {e.Message}");
            }
        })).ToArray();
        foreach (var th in workers) th.Start();
        foreach (var th in workers) th.Join();
        Assert.That(failures, Is.Empty);
    }

    [Test]
    public void SpmmIsBitwiseIdenticalOverTenRuns([ValueSource(typeof(GraphKernels.Tests.Spmm.SpmmCases), nameof(GraphKernels.Tests.Spmm.SpmmCases.LegacyReducers))] Reduce reduce, [Values] IndexType index)
    {
        HostCsr h = Graph(21);
        const long F = 24;
        using CsrGraph g = index == IndexType.Int32
            ? CsrGraph.Upload(device, h.RowPtr32(), h.ColIdx32(), h.NumCols)
            : CsrGraph.Upload(device, h.RowPtr, h.ColIdx, h.NumCols);
        using DeviceBuffer<float> x = device.Upload<float>(RandomFeatures(h.NumCols * F, 7));
        using DeviceBuffer<float> w = device.Upload<float>(RandomFeatures(h.Nnz, 8));
        uint[] first = Run(device, g, Message.UMulE, reduce, F, x, w, null);
        for (int run = 1; run < 10; run++)
        {
            uint[] again = Run(device, g, Message.UMulE, reduce, F, x, w, null);
            Assert.That(again.AsSpan().SequenceEqual(first), Is.True, $"run {run} differs from run 0");
        }
    }

    /// <summary>
    /// F = 24 with ldx = ldy = 24 runs 4-wide vectors; ldx = 25 / ldy = 26 force 1- and 2-wide
    /// vectors, so more lanes and another group size. The spec (one lane per output element,
    /// CSR order) makes the result independent of that choice: bitwise.
    /// </summary>
    [Test]
    public void SpmmIsBitwiseIdenticalOverVectorWidths([Values(Reduce.Sum, Reduce.Mean, Reduce.Max)] Reduce reduce)
    {
        HostCsr h = Graph(31);
        const long F = 24;
        using CsrGraph g = CsrGraph.Upload(device, h.RowPtr32(), h.ColIdx32(), h.NumCols);
        float[] xs = RandomFeatures(h.NumCols * F, 9);
        using DeviceBuffer<float> w = device.Upload<float>(RandomFeatures(h.Nnz, 10));
        using DeviceBuffer<float> x = device.Upload<float>(xs);
        uint[] wide = Run(device, g, Message.UMulE, reduce, F, x, w, null);
        foreach (long ldx in new long[] { 25, 26 })
        {
            var strided = new float[h.NumCols * ldx];
            for (long r = 0; r < h.NumCols; r++) Array.Copy(xs, r * F, strided, r * ldx, F);
            using DeviceBuffer<float> xl = device.Upload<float>(strided);
            uint[] narrow = Run(device, g, Message.UMulE, reduce, F, xl, w, null, ldx: ldx, ldy: ldx);
            Assert.That(narrow.AsSpan().SequenceEqual(wide), Is.True, $"ldx = ldy = {ldx} differs from the 4-wide run");
        }
    }

    public enum Victim { X, Y, EdgeWeight, Graph, ArgOut }

    /// <summary>
    /// One thread calls SpMM in a loop; another disposes one of its operands at a random moment.
    /// Every call must either succeed with the exact serial result (checked while the output is
    /// still alive) or throw ObjectDisposedException; anything else (another exception, a wrong
    /// number, a crash of the test host) fails.
    /// </summary>
    [Test]
    public void DisposeRacingWithSpmmGivesObjectDisposedOrTheRightResult([Values] Victim victim)
    {
        HostCsr h = Graph(41);
        const long F = 8;
        float[] xs = RandomFeatures(h.NumCols * F, 11), ws = RandomFeatures(h.Nnz, 12);
        uint[] expected;
        var timer = System.Diagnostics.Stopwatch.StartNew();
        using (CsrGraph g0 = CsrGraph.Upload(device, h.RowPtr32(), h.ColIdx32(), h.NumCols))
        using (DeviceBuffer<float> x0 = device.Upload<float>(xs))
        using (DeviceBuffer<float> w0 = device.Upload<float>(ws))
            expected = Run(device, g0, Message.UMulE, Reduce.Max, F, x0, w0, null);

        // One call and read-back take callUs here (much longer under ASan): early rounds dispose
        // within the first call, later ones after a few calls, so both outcomes occur.
        int callUs = Math.Max(200, (int)(timer.Elapsed.TotalMilliseconds * 1000));

        var rng = new SplitMix64(99 + (ulong)victim);
        int disposedSeen = 0, successes = 0;
        for (int round = 0; round < 25; round++)
        {
            var g = CsrGraph.Upload(device, h.RowPtr32(), h.ColIdx32(), h.NumCols);
            var x = device.Upload<float>(xs);
            var w = device.Upload<float>(ws);
            var y = device.Allocate<float>(h.NumRows * F);
            var arg = device.Allocate<int>(h.NumRows * F);
            IDisposable target = victim switch
            {
                Victim.X => x, Victim.Y => y, Victim.EdgeWeight => w, Victim.Graph => g, _ => arg,
            };
            Exception? unexpected = null;
            int delayUs = round < 10 ? rng.NextInt(0, callUs) : rng.NextInt(2 * callUs, 6 * callUs);
            var user = new Thread(() =>
            {
                try
                {
                    for (int i = 0; i < 1000; i++)
                    {
                        try
                        {
                            MessagePassing.SpMM(g, Message.UMulE, Reduce.Max, F, x, y, w, arg);
                        }
                        catch (ObjectDisposedException)
                        {
                            Interlocked.Increment(ref disposedSeen);
                            return;
                        }

                        // Read back under the buffer's own reference; a concurrent Dispose of y
                        // makes this throw ObjectDisposedException, never read freed memory.
                        float[] host;
                        try
                        {
                            host = y.ToArray();
                        }
                        catch (ObjectDisposedException)
                        {
                            Interlocked.Increment(ref disposedSeen);
                            return;
                        }

                        for (int k = 0; k < host.Length; k++)
                        {
                            if (BitConverter.SingleToUInt32Bits(host[k]) != expected[k])
                                throw new InvalidOperationException($"wrong result at {k} in call {i}");
                        }

                        Interlocked.Increment(ref successes);
                    }
                }
                catch (Exception e)
                {
                    unexpected = e;
                }
            });
            user.Start();
            var sw = System.Diagnostics.Stopwatch.StartNew();
            while (sw.Elapsed.TotalMilliseconds * 1000 < delayUs) Thread.SpinWait(50);
            target.Dispose();
            user.Join();
            Assert.That(unexpected, Is.Null, $"round {round}: {unexpected}");
            foreach (IDisposable d in new IDisposable[] { g, x, w, y, arg }) d.Dispose();
        }

        // Both outcomes must have been seen, or the race was not exercised.
        Assert.That(disposedSeen, Is.GreaterThan(0), "no call ever saw the disposal");
        Assert.That(successes, Is.GreaterThan(0), "no call ever completed");
    }
}
