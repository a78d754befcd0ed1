using System.Collections.Concurrent;
using GraphKernels.Tests.ForceStressTests;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Reliability;

/// <summary>
/// Issue 11, concurrency and determinism for the force/stress and quantization families on the
/// emulated device (the SpMM counterparts are in <see cref="ConcurrencyTests"/>): 8 .NET threads,
/// each on its own <see cref="Stream"/>, give bitwise the serial results; every op documented as
/// deterministic (force/stress readout without Fast, its backward, quantize with a fixed seed and
/// offset, dequantize, project/unproject) is bitwise identical over 10 runs; disposing the topology
/// or the quantized tensor while another thread uses it gives ObjectDisposedException or the exact
/// result, never a crash. (Quantization over launch configurations — MaxGrid 0, 1, 3, 7 — is
/// QuantizationDeviceTests / QuantizationProjectionTests; force/stress has no launch knob.)
/// </summary>
[TestFixture]
[Category("Emulation")]
[Category("ForceStress")]
[Category("Quantization")]
[NonParallelizable]
public sealed class FamilyConcurrencyTests
{
    private const int Threads = 8, Iterations = 3, Runs = 10;
    private GraphDevice device = null!;

    [OneTimeSetUp]
    public void OpenDevice() => device = GraphDevice.Emulated();

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    private static float[] Random(long n, ulong seed, float lo = -1f, float hi = 1f)
    {
        var rng = new SplitMix64(seed);
        var a = new float[n];
        for (long i = 0; i < n; i++) a[i] = rng.NextFloat(lo, hi);
        return a;
    }

    private static uint[] Bits(float[] a) => a.Select(BitConverter.SingleToUInt32Bits).ToArray();

    /// <summary>Runs `body` on Threads threads (each with its own stream), Iterations times each; collects failures.</summary>
    private void OnThreads(Func<Stream, int, string?> body)
    {
        var failures = new ConcurrentQueue<string>();
        using var start = new Barrier(Threads);
        var workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            try
            {
                using Stream s = device.CreateStream();
                start.SignalAndWait();
                for (int i = 0; i < Iterations; i++)
                {
                    string? f = body(s, t);
                    if (f != null) failures.Enqueue($"thread {t} iteration {i}: {f}");
                }
            }
            catch (Exception ex)
            {
                failures.Enqueue($"thread {t}: {ex}");
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        Assert.That(failures, Is.Empty);
    }

    // ------------------------------------------------------------------ force/stress

    private sealed class FsCase : IDisposable
    {
        public FsCase(GraphDevice device)
        {
            Batch = AtomicBatch.SmallTriclinic(3.2, seed: 3);
            Run = new ForceStressRunner(device, Batch);
            Geometry = Run.Geometry(GeometrySource.Positions);
            Q = device.Upload<float>(Run.Topology.SortEdgeData<float>(Random(3L * Batch.NumEdges, 41), 3));
            GradF = device.Upload<float>(Random(3L * Batch.NumAtoms, 42));
            GradS = device.Upload<float>(Random(6L * Batch.NumGraphs, 43));
        }

        public AtomicBatch Batch { get; }

        public ForceStressRunner Run { get; }

        public EdgeGeometry Geometry { get; }

        public DeviceBuffer<float> Q { get; }

        public DeviceBuffer<float> GradF { get; }

        public DeviceBuffer<float> GradS { get; }

        public static ForceStressOptions Options => new() { Layout = StressLayout.VoigtAse, Output = StressOutput.StressGpa };

        /// <summary>Readout (forces, stress, per-atom virial) then backward, into fresh NaN-poisoned outputs: all bits.</summary>
        public uint[] Once(GraphDevice d, Stream? stream)
        {
            var b = Batch;
            using var f = d.Allocate<float>(3L * b.NumAtoms);
            using var s = d.Allocate<float>(6L * b.NumGraphs);
            using var w = d.Allocate<float>(6L * b.NumAtoms);
            using var gq = d.Allocate<float>(3L * b.NumEdges);
            using var gr = d.Allocate<float>(3L * b.NumEdges);
            foreach (var buf in new[] { f, s, w, gq, gr }) buf.Fill(float.NaN);
            ForceStress.Readout(Run.Topology, Geometry, Q, f, s, Options, w, stream: stream);
            ForceStress.Backward(Run.Topology, Geometry, Q, GradF, GradS, gq, Options, gr, stream);
            stream?.Synchronize();
            d.Synchronize();
            return new[] { f, s, w, gq, gr }.SelectMany(x => Bits(x.ToArray())).ToArray();
        }

        public void Dispose()
        {
            Q.Dispose();
            GradF.Dispose();
            GradS.Dispose();
            Run.Dispose();
        }
    }

    [Test]
    public void ForceStressThreadsOnTheirOwnStreamsMatchSerialRunsBitwise()
    {
        using var c = new FsCase(device);
        uint[] serial = c.Once(device, null);
        Assert.That(serial.Any(v => float.IsNaN(BitConverter.UInt32BitsToSingle(v))), Is.False, "a NaN-poisoned output was not written");
        OnThreads((s, _) => c.Once(device, s).SequenceEqual(serial) ? null : "force/stress result differs from the serial run");
    }

    [Test]
    public void ForceStressReadoutAndBackwardAreBitwiseIdenticalOverTenRuns()
    {
        using var c = new FsCase(device);
        uint[] first = c.Once(device, null);
        for (int run = 1; run < Runs; run++)
            Assert.That(c.Once(device, null), Is.EqualTo(first), $"run {run}");
    }

    // ------------------------------------------------------------------ quantization

    private const long QRows = 53, QCols = 96;

    private static QuantizationOptions QOptions(int bits) => new() { Bits = bits, BlockSize = 64, Levels = bits == 2 ? QuantLevels.ClipNormal2 : QuantLevels.Uniform };

    /// <summary>Quantize (seed 77, offset 5) + dequantize + project + unproject into fresh outputs: all bits.</summary>
    private static uint[] QuantOnce(GraphDevice d, DeviceBuffer<float> x, int bits, Stream? stream)
    {
        using var q = Quantization.Allocate(d, QRows, QCols, QOptions(bits));
        q.Packed.Fill(0xA5A5A5A5u);
        Quantization.QuantizeInto(x, q, seed: 77, offset: 5, stream: stream);
        using var y = d.Allocate<float>(QRows * QCols);
        y.Fill(float.NaN);
        Quantization.Dequantize(q, y, stream: stream);
        var proj = new RandomProjection((int)QCols, 12, 0xFEED);
        using var p = d.Allocate<float>(QRows * 12);
        using var xh = d.Allocate<float>(QRows * QCols);
        p.Fill(float.NaN);
        xh.Fill(float.NaN);
        Quantization.Project(x, p, QRows, proj, stream: stream);
        Quantization.Unproject(p, xh, QRows, proj, stream: stream);
        stream?.Synchronize();
        d.Synchronize();
        return q.Packed.ToArray()
            .Concat(Bits(((DeviceBuffer<float>)q.Zero).ToArray()))
            .Concat(Bits(((DeviceBuffer<float>)q.Step).ToArray()))
            .Concat(Bits(y.ToArray())).Concat(Bits(p.ToArray())).Concat(Bits(xh.ToArray())).ToArray();
    }

    [Test]
    public void QuantizationThreadsOnTheirOwnStreamsMatchSerialRunsBitwise()
    {
        using var x = device.Upload<float>(Random(QRows * QCols, 61, -3f, 3f));
        var serial = new[] { 1, 2, 4, 8 }.ToDictionary(b => b, b => QuantOnce(device, x, b, null));
        foreach (var kv in serial)
            Assert.That(kv.Value.TakeLast((int)(QRows * ((2 * QCols) + 12))).Any(v => float.IsNaN(BitConverter.UInt32BitsToSingle(v))), Is.False, $"{kv.Key} bits: an output was not written");
        OnThreads((s, t) =>
        {
            int bits = new[] { 1, 2, 4, 8 }[t % 4];
            return QuantOnce(device, x, bits, s).SequenceEqual(serial[bits]) ? null : $"{bits}-bit result differs from the serial run";
        });
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(4)]
    [TestCase(8)]
    public void QuantizationIsBitwiseIdenticalOverTenRuns(int bits)
    {
        using var x = device.Upload<float>(Random(QRows * QCols, 62, -3f, 3f));
        uint[] first = QuantOnce(device, x, bits, null);
        for (int run = 1; run < Runs; run++)
            Assert.That(QuantOnce(device, x, bits, null), Is.EqualTo(first), $"run {run}");
    }

    // ------------------------------------------------------------------ disposal racing with use

    [Test]
    public void DisposingTheTopologyWhileAnotherThreadReadsOutGivesObjectDisposedOrTheExactResult()
    {
        int completed = 0, disposed = 0;
        for (int round = 0; round < 12; round++)
        {
            using var c = new FsCase(device);
            uint[] want = c.Once(device, null);
            var sw = System.Diagnostics.Stopwatch.StartNew();
            c.Once(device, null);
            int callMs = Math.Max(1, (int)sw.ElapsedMilliseconds);
            string? failure = null;
            var user = new Thread(() =>
            {
                try
                {
                    for (int i = 0; i < 4; i++)
                    {
                        if (!c.Once(device, null).SequenceEqual(want)) failure = "a call after a racing Dispose returned a wrong result";
                        Interlocked.Increment(ref completed);
                    }
                }
                catch (ObjectDisposedException)
                {
                    Interlocked.Increment(ref disposed);
                }
                catch (Exception ex)
                {
                    failure = ex.ToString();
                }
            });
            int before = Volatile.Read(ref completed);
            user.Start();
            if (round % 2 == 1)
            {
                // Odd rounds dispose only after a call has completed (then race the remaining calls), so a
                // loaded machine whose thread start is slower than the sleeps below still exercises both outcomes.
                SpinWait.SpinUntil(() => Volatile.Read(ref completed) > before || !user.IsAlive, 10_000);
            }
            else
            {
                Thread.Sleep(round * callMs / 3);
            }

            c.Run.Topology.Dispose();
            user.Join();
            Assert.That(failure, Is.Null);
        }

        Assert.That(completed, Is.GreaterThan(0), "no call ever completed: the race was not exercised");
        Assert.That(disposed, Is.GreaterThan(0), "no call ever saw the disposal: the race was not exercised");
    }

    [Test]
    public void DisposingTheQuantizedTensorWhileAnotherThreadUsesItGivesObjectDisposedOrTheExactResult()
    {
        using var x = device.Upload<float>(Random(QRows * QCols, 63, -3f, 3f));
        int completed = 0, disposed = 0;
        for (int round = 0; round < 12; round++)
        {
            var q = Quantization.Allocate(device, QRows, QCols, QOptions(4));
            Quantization.QuantizeInto(x, q, 9, 1);
            using var y0 = Quantization.Dequantize(q);
            uint[] want = Bits(y0.ToArray());
            var sw = System.Diagnostics.Stopwatch.StartNew();
            Quantization.QuantizeInto(x, q, 9, 1);
            int callMs = Math.Max(1, (int)sw.ElapsedMilliseconds);
            string? failure = null;
            var user = new Thread(() =>
            {
                try
                {
                    for (int i = 0; i < 6; i++)
                    {
                        Quantization.QuantizeInto(x, q, 9, 1);
                        using var y = Quantization.Dequantize(q);
                        if (!Bits(y.ToArray()).SequenceEqual(want)) failure = "a call after a racing Dispose returned a wrong result";
                        Interlocked.Increment(ref completed);
                    }
                }
                catch (ObjectDisposedException)
                {
                    Interlocked.Increment(ref disposed);
                }
                catch (Exception ex)
                {
                    failure = ex.ToString();
                }
            });
            user.Start();
            Thread.Sleep(round * callMs);
            q.Dispose();
            user.Join();
            Assert.That(failure, Is.Null);
        }

        Assert.That(completed, Is.GreaterThan(0), "no call ever completed: the race was not exercised");
        Assert.That(disposed, Is.GreaterThan(0), "no call ever saw the disposal: the race was not exercised");
    }
}
