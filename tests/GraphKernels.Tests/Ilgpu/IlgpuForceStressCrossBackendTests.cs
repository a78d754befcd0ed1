using GraphKernels.Ilgpu;

namespace GraphKernels.Tests.IlgpuBackend;

/// <summary>
/// The force/stress family on ILGPU's CPU accelerator against the emulated CUDA library. The oracle and
/// finite-difference checks run in the shared ForceStress fixtures (fixture DeviceKind.Ilgpu); here:
/// <list type="bullet">
/// <item>Bitwise equal by design (asserted bit for bit): the deterministic readout (forces, stress/virial,
/// per-atom virial), the backward, the fused-head readout and the head backward (dL/ds, dL/dh, dL/dw, dL/db,
/// dL/dr). The ILGPU kernels replay the CUDA reduction order: an atom's G lanes (G from the mean degree,
/// the native launcher's rule) each fold their edges in the CUDA lane's order and are combined with the
/// xor-butterfly tree; the structure pass replays the 128-thread block (strided fp64 sums, warp butterflies,
/// warps in order); the backward is per edge; the head backward replays its P blocks' tiles and the
/// in-order phase 2. The same fp32 operations are used (__fmaf_rn = MathF.FusedMultiplyAdd, nothing else
/// contracted on either side). Mean degrees 1, 3, 9 and 40 give G = 1, 4, 16 and 32.</item>
/// <item>Fast mode: on CUDA it uses atomics (not reproducible); ILGPU maps it to the deterministic forces and
/// a per-structure fp64 sum in edge order. Forces and per-atom virial are asserted bitwise equal to the
/// deterministic mode; the stress only differs by the order of an fp64 sum, so it is asserted within
/// 1e-12 of Σ|r||g| scaled, plus one fp32 ulp of the value (the fp32 rounding of two fp64 sums that
/// differ in the last bits can land on neighbouring floats).</item>
/// <item>Errors: the same status and the same sentence on both backends for validation failures, workspace
/// sizes and overlaps (the native library's host checks are reproduced in C# for managed backends).</item>
/// </list>
/// </summary>
[TestFixture]
[Category("Ilgpu")]
[Category("ForceStress")]
public sealed class IlgpuForceStressCrossBackendTests : CrossBackendFixture
{
    /// <summary>A random batch: structures of 1..12 atoms, edges to random atoms of the same structure, random r_e and g_e / s_e.</summary>
    private sealed class Batch
    {
        public Batch(int graphs, double meanDegree, int seed)
        {
            var rng = new Random(seed);
            var ptr = new List<long> { 0 };
            var src = new List<int>();
            var dst = new List<int>();
            for (int b = 0; b < graphs; b++)
            {
                int atoms = 1 + rng.Next(12);
                int a0 = (int)ptr[^1];
                for (int i = 0; i < atoms; i++)
                {
                    int deg = (int)Math.Round(meanDegree * 2 * rng.NextDouble());
                    for (int k = 0; k < deg; k++)
                    {
                        src.Add(a0 + i);
                        dst.Add(a0 + rng.Next(atoms));
                    }
                }

                ptr.Add(a0 + atoms);
            }

            GraphAtomPtr = ptr.ToArray();
            Src = src.ToArray();
            Dst = dst.ToArray();
            int n = (int)ptr[^1], e = src.Count;
            float R() => (float)((rng.NextDouble() * 2) - 1);
            EdgeVectors = Enumerable.Range(0, 3 * e).Select(_ => 3 * R()).ToArray();
            Positions = Enumerable.Range(0, 3 * n).Select(_ => 4 * R()).ToArray();
            Shifts = Enumerable.Range(0, 3 * e).Select(_ => (float)rng.Next(-1, 2)).ToArray();
            Cells = Enumerable.Range(0, 9 * graphs).Select(i => (i % 9 is 0 or 4 or 8 ? 5f : 0f) + (0.5f * R())).ToArray();
            Periodic = Enumerable.Range(0, graphs).Select(b => b % 3 == 2 ? (byte)0 : (byte)1).ToArray();
            G = Enumerable.Range(0, 3 * e).Select(_ => R()).ToArray();
            S = Enumerable.Range(0, e).Select(_ => R()).ToArray();
            // A few r_e = 0 edges (direct mode gives g = 0 there).
            for (int i = 0; i < e; i += 17)
            {
                EdgeVectors[3 * i] = EdgeVectors[(3 * i) + 1] = EdgeVectors[(3 * i) + 2] = 0f;
            }
        }

        public long[] GraphAtomPtr { get; }

        public int[] Src { get; }

        public int[] Dst { get; }

        public float[] EdgeVectors { get; }

        public float[] Positions { get; }

        public float[] Shifts { get; }

        public float[] Cells { get; }

        public byte[] Periodic { get; }

        public float[] G { get; }

        public float[] S { get; }

        public int NumAtoms => (int)GraphAtomPtr[^1];

        public int NumEdges => Src.Length;

        public int NumGraphs => GraphAtomPtr.Length - 1;
    }

    /// <summary>One device's copy of a batch (per-edge data in the topology's order).</summary>
    private sealed class OnDevice : IDisposable
    {
        private readonly List<IDisposable> owned = new();

        public OnDevice(GraphDevice device, Batch b, IndexType index, bool fromPositions)
        {
            Device = device;
            Topology = ForceStressTopology.Build(device, b.GraphAtomPtr, b.Src, b.Dst, index);
            owned.Add(Topology);
            var cell = Up(b.Cells);
            var periodic = Up(b.Periodic);
            Geometry = fromPositions
                ? EdgeGeometry.FromPositions(Up(b.Positions), Up(Topology.SortEdgeData<float>(b.Shifts, 3)), cell, periodic)
                : EdgeGeometry.FromEdgeVectors(Up(Topology.SortEdgeData<float>(b.EdgeVectors, 3)), cell, periodic);
            G = Up(Topology.SortEdgeData<float>(b.G, 3));
            S = Up(Topology.SortEdgeData<float>(b.S, 1));
        }

        public GraphDevice Device { get; }

        public ForceStressTopology Topology { get; }

        public EdgeGeometry Geometry { get; }

        public DeviceBuffer<float> G { get; }

        public DeviceBuffer<float> S { get; }

        public DeviceBuffer<T> Up<T>(T[] host)
            where T : unmanaged
        {
            var buffer = Device.Upload<T>(host);
            owned.Add(buffer);
            return buffer;
        }

        public DeviceBuffer<float> Poisoned(long count)
        {
            var buffer = Device.Allocate<float>(Math.Max(1, count));
            buffer.Fill(float.NaN);
            owned.Add(buffer);
            return buffer;
        }

        public void Dispose()
        {
            for (int i = owned.Count - 1; i >= 0; i--) owned[i].Dispose();
        }
    }

    private static void AssertBitwise(float[] want, float[] got, string what)
    {
        Assert.That(got.Length, Is.EqualTo(want.Length), what + ": length");
        for (int i = 0; i < want.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(want[i]) != BitConverter.SingleToInt32Bits(got[i]))
            {
                Assert.Fail($"{what}[{i}]: ILGPU {got[i]:R} (0x{BitConverter.SingleToInt32Bits(got[i]):X8}) vs emulated {want[i]:R} (0x{BitConverter.SingleToInt32Bits(want[i]):X8})");
            }
        }
    }

    private static float[][] Readout(OnDevice d, Batch b, ForceStressOptions o, bool atomVirial, ForceStressHead? head = null)
    {
        var forces = d.Poisoned(3L * b.NumAtoms);
        var stress = d.Poisoned((long)o.TensorWidth * b.NumGraphs);
        var av = atomVirial ? d.Poisoned((long)o.TensorWidth * b.NumAtoms) : null;
        if (head is null)
        {
            ForceStress.Readout(d.Topology, d.Geometry, o.Mode == ForceStressMode.Direct ? d.S : d.G, forces, stress, o, av);
        }
        else
        {
            ForceStress.Readout(d.Topology, d.Geometry, head, forces, stress, o, av);
        }

        return av is null ? [forces.ToArray(), stress.ToArray()] : [forces.ToArray(), stress.ToArray(), av.ToArray()];
    }

    public static IEnumerable<TestCaseData> ReadoutCases()
    {
        int n = 0;
        foreach (double degree in new[] { 1.0, 3.0, 9.0, 40.0 })
        {
            foreach (var mode in new[] { ForceStressMode.Conservative, ForceStressMode.Direct })
            {
                foreach (bool fromPositions in new[] { false, true })
                {
                    var index = n % 2 == 0 ? IndexType.Int32 : IndexType.Int64;
                    var layout = (StressLayout)(n % 4);
                    var output = (StressOutput)((n / 2) % 3);
                    bool av = n % 3 != 0;
                    n++;
                    yield return new TestCaseData(degree, mode, fromPositions, index, layout, output, av)
                        .SetArgDisplayNames($"deg{degree}", mode.ToString(), fromPositions ? "positions" : "edgeVectors", index.ToString(), layout.ToString(), output.ToString(), av ? "atomVirial" : "noAtomVirial");
                }
            }
        }
    }

    [TestCaseSource(nameof(ReadoutCases))]
    public void DeterministicReadoutIsBitwiseEqualToTheEmulatedCudaKernel(double degree, ForceStressMode mode, bool fromPositions, IndexType index,
        StressLayout layout, StressOutput output, bool atomVirial)
    {
        var b = new Batch(graphs: 9, degree, seed: 31 + (int)(degree * 10));
        using var e = new OnDevice(emulated!, b, index, fromPositions);
        using var i = new OnDevice(ilgpu!, b, index, fromPositions);
        var o = new ForceStressOptions { Mode = mode, Layout = layout, Output = output };
        var want = Readout(e, b, o, atomVirial);
        var got = Readout(i, b, o, atomVirial);
        string[] names = ["forces", "stress", "atomVirial"];
        for (int k = 0; k < want.Length; k++) AssertBitwise(want[k], got[k], names[k]);
        Assert.That(got[0].Any(float.IsNaN), Is.False, "every force written");
    }

    [TestCase(ForceStressMode.Conservative, StressLayout.VoigtAse, StressOutput.StressGpa)]
    [TestCase(ForceStressMode.Direct, StressLayout.Tensor, StressOutput.Virial)]
    public void FastModeGivesTheDeterministicForcesAndTheStressToFp64Rounding(ForceStressMode mode, StressLayout layout, StressOutput output)
    {
        var b = new Batch(graphs: 7, meanDegree: 9, seed: 5);
        using var i = new OnDevice(ilgpu!, b, IndexType.Int32, fromPositions: false);
        var o = new ForceStressOptions { Mode = mode, Layout = layout, Output = output };
        var det = Readout(i, b, o, atomVirial: true);
        var fast = Readout(i, b, o with { Fast = true }, atomVirial: true);
        AssertBitwise(det[0], fast[0], "fast forces vs deterministic");
        AssertBitwise(det[2], fast[2], "fast atomVirial vs deterministic");

        // Σ|r_a||g_b| per structure (double), scaled as the output is: the fp64 sums of the two modes differ
        // only in summation order, by far less than 1e-12 of it.
        int w = o.TensorWidth;
        for (int g = 0; g < b.NumGraphs; g++)
        {
            double bound = 0;
            for (int e = 0; e < b.NumEdges; e++)
            {
                if (b.Src[e] < b.GraphAtomPtr[g] || b.Src[e] >= b.GraphAtomPtr[g + 1]) continue;
                double r = Math.Abs(b.EdgeVectors[3 * e]) + Math.Abs(b.EdgeVectors[(3 * e) + 1]) + Math.Abs(b.EdgeVectors[(3 * e) + 2]);
                double q = mode == ForceStressMode.Direct ? Math.Abs(b.S[e])
                    : Math.Abs(b.G[3 * e]) + Math.Abs(b.G[(3 * e) + 1]) + Math.Abs(b.G[(3 * e) + 2]);
                bound += r * q;
            }

            double scale = output == StressOutput.Virial ? 1 : output == StressOutput.StressGpa ? 160.21766208 : 1;
            if (output != StressOutput.Virial)
            {
                var c = b.Cells.AsSpan(9 * g, 9).ToArray().Select(v => (double)v).ToArray();
                double vol = Math.Abs((c[0] * ((c[4] * c[8]) - (c[5] * c[7]))) - (c[1] * ((c[3] * c[8]) - (c[5] * c[6]))) + (c[2] * ((c[3] * c[7]) - (c[4] * c[6]))));
                scale = b.Periodic[g] == 0 ? 0 : scale / vol;
            }

            for (int k = 0; k < w; k++)
            {
                float want = det[1][(w * g) + k], got = fast[1][(w * g) + k];
                double tol = (1e-12 * bound * scale) + (Math.Abs(want) * Math.Pow(2, -23));
                Assert.That(Math.Abs(got - want), Is.LessThanOrEqualTo(tol), $"stress[{g}][{k}] fast {got:R} vs deterministic {want:R}");
            }
        }
    }

    [TestCase(ForceStressMode.Conservative, false, StressLayout.Tensor, StressOutput.Stress, IndexType.Int32)]
    [TestCase(ForceStressMode.Conservative, true, StressLayout.VoigtLammps, StressOutput.Virial, IndexType.Int64)]
    [TestCase(ForceStressMode.Direct, false, StressLayout.VoigtAse, StressOutput.StressGpa, IndexType.Int64)]
    [TestCase(ForceStressMode.Direct, true, StressLayout.VoigtSevenNet, StressOutput.Stress, IndexType.Int32)]
    public void BackwardIsBitwiseEqualToTheEmulatedCudaKernel(ForceStressMode mode, bool fromPositions, StressLayout layout, StressOutput output, IndexType index)
    {
        var b = new Batch(graphs: 8, meanDegree: 5, seed: 77);
        var o = new ForceStressOptions { Mode = mode, Layout = layout, Output = output };
        var rng = new Random(3);
        var gf = Enumerable.Range(0, 3 * b.NumAtoms).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var gs = Enumerable.Range(0, o.TensorWidth * b.NumGraphs).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        float[][] Run(GraphDevice device)
        {
            using var d = new OnDevice(device, b, index, fromPositions);
            long per = mode == ForceStressMode.Direct ? b.NumEdges : 3L * b.NumEdges;
            var dq = d.Poisoned(per);
            var dr = d.Poisoned(3L * b.NumEdges);
            ForceStress.Backward(d.Topology, d.Geometry, mode == ForceStressMode.Direct ? d.S : d.G, d.Up(gf), d.Up(gs), dq, o, dr);
            return [dq.ToArray(), dr.ToArray()];
        }

        var want = Run(emulated!);
        var got = Run(ilgpu!);
        AssertBitwise(want[0], got[0], "gradQuantity");
        AssertBitwise(want[1], got[1], "gradEdgeVectors");
    }

    [TestCase(7, 0, true, IndexType.Int32)]
    [TestCase(300, 3, false, IndexType.Int64)]
    public void HeadReadoutAndBackwardAreBitwiseEqualToTheEmulatedCudaKernels(int channels, int pad, bool fromPositions, IndexType index)
    {
        // E > 256: several tiles, P = ceil(E / 256) blocks of the head backward; C = 300 > 256 threads per block.
        var b = new Batch(graphs: 12, meanDegree: 12, seed: 11);
        Assert.That(b.NumEdges, Is.GreaterThan(512));
        int ld = channels + pad;
        var rng = new Random(9);
        var h = Enumerable.Range(0, b.NumEdges * ld).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var wts = Enumerable.Range(0, channels).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var o = new ForceStressOptions { Mode = ForceStressMode.Direct, Layout = StressLayout.VoigtAse };
        var gf = Enumerable.Range(0, 3 * b.NumAtoms).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var gs = Enumerable.Range(0, 6 * b.NumGraphs).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        float[][] Run(GraphDevice device)
        {
            using var d = new OnDevice(device, b, index, fromPositions);
            var head = new ForceStressHead(d.Up(h), d.Up(wts), channels, d.Up(new[] { 0.125f }), ld);
            var fwd = Readout(d, b, o, atomVirial: true, head);
            var grads = new ForceStressHeadGradients
            {
                Scalar = d.Poisoned(b.NumEdges),
                Features = d.Poisoned((long)b.NumEdges * (channels + 1)),
                FeaturesLeadingDimension = channels + 1,
                Weight = d.Poisoned(channels),
                Bias = d.Poisoned(1),
            };
            var dr = d.Poisoned(3L * b.NumEdges);
            ForceStress.Backward(d.Topology, d.Geometry, head, d.Up(gf), d.Up(gs), grads, o, dr);
            return [.. fwd, grads.Scalar.ToArray(), grads.Features.ToArray(), grads.Weight.ToArray(), grads.Bias.ToArray(), dr.ToArray()];
        }

        var want = Run(emulated!);
        var got = Run(ilgpu!);
        string[] names = ["forces", "stress", "atomVirial", "dL/ds", "dL/dh", "dL/dw", "dL/db", "dL/dr"];
        for (int k = 0; k < want.Length; k++) AssertBitwise(want[k], got[k], names[k]);
    }

    [Test]
    public void HeadBackwardWithoutEdgesWritesZeroWeightAndBiasGradients()
    {
        long[] ptr = [0, 2];
        float[] Run(GraphDevice device)
        {
            using var topo = ForceStressTopology.Build(device, ptr, [], []);
            using var ev = device.Allocate<float>(1);
            using var h = device.Allocate<float>(1);
            using var w = device.Upload<float>(new[] { 1f, 2f, 3f });
            using var dw = device.Upload<float>(new[] { 9f, 9f, 9f });
            using var db = device.Upload<float>(new[] { 9f });
            var head = new ForceStressHead(h, w, 3);
            ForceStress.Backward(topo, EdgeGeometry.FromEdgeVectors(ev), head, null, null, new ForceStressHeadGradients { Weight = dw, Bias = db },
                new ForceStressOptions { Mode = ForceStressMode.Direct });
            return [.. dw.ToArray(), .. db.ToArray()];
        }

        Assert.That(Run(ilgpu!), Is.EqualTo(new float[4]));
        AssertBitwise(Run(emulated!), Run(ilgpu!), "E = 0 dL/dw, dL/db");
    }

    [Test]
    public void WorkspaceSizesAreTheSameOnBothBackends()
    {
        var b = new Batch(graphs: 5, meanDegree: 4, seed: 2);
        using var e = new OnDevice(emulated!, b, IndexType.Int32, false);
        using var i = new OnDevice(ilgpu!, b, IndexType.Int32, false);
        Assert.That(i.Topology.WorkspaceBytes, Is.EqualTo(e.Topology.WorkspaceBytes).And.EqualTo(72L * b.NumAtoms));
        var fast = new ForceStressOptions { Fast = true };
        Assert.That(i.Topology.WorkspaceBytesForOptions(fast), Is.EqualTo(e.Topology.WorkspaceBytesForOptions(fast)).And.EqualTo(72L * b.NumGraphs));
        foreach (int c in new[] { 1, 5, 300 })
        {
            using var he = e.Up(new float[c]);
            using var hi = i.Up(new float[c]);
            Assert.That(ForceStress.HeadBackwardWorkspaceBytes(i.Topology, new ForceStressHead(hi, hi, c)),
                Is.EqualTo(ForceStress.HeadBackwardWorkspaceBytes(e.Topology, new ForceStressHead(he, he, c))), $"C = {c}");
        }
    }

    private static GraphKernelsException Refusal(Action call) => Assert.Throws<GraphKernelsException>(call)!;

    /// <summary>Corrupt topologies and cells: the same status and sentence from gk_force_stress_validate and from ILGPU.</summary>
    [TestCase("crossing")]
    [TestCase("graph ptr")]
    [TestCase("NaN cell")]
    [TestCase("-inf cell")]
    [TestCase("flat cell")]
    public void ValidationRefusalsAreTheSameSentence(string what)
    {
        var b = new Batch(graphs: 6, meanDegree: 3, seed: 8);
        GraphKernelsException Run(GraphDevice device)
        {
            var ptr = b.GraphAtomPtr.ToArray();
            var dst = b.Dst.ToArray();
            if (what == "crossing") dst[Array.FindIndex(b.Src, s => s < ptr[1])] = b.NumAtoms - 1;
            if (what == "graph ptr") ptr[2] = ptr[1] - 1 < 0 ? ptr[3] + 1 : ptr[1] - 1;
            if (what is "crossing" or "graph ptr")
            {
                return Refusal(() => ForceStressTopology.Build(device, ptr, b.Src, dst).Dispose());
            }

            using var d = new OnDevice(device, b, IndexType.Int64, true);
            var cells = b.Cells.ToArray();
            if (what == "NaN cell") cells[(9 * 4) + 7] = float.NaN;
            if (what == "-inf cell") cells[(9 * 1) + 2] = float.NegativeInfinity;
            if (what == "flat cell") for (int k = 0; k < 3; k++) cells[(9 * 3) + 6 + k] = cells[(9 * 3) + k];   // c = a: zero volume to fp64 rounding
            var geometry = EdgeGeometry.FromPositions(d.Geometry.Positions!, d.Geometry.Shifts!, d.Up(cells), d.Geometry.Periodic);
            return Refusal(() => d.Topology.Validate(geometry));
        }

        var want = Run(emulated!);
        var got = Run(ilgpu!);
        Assert.That(got.Status, Is.EqualTo(want.Status));
        Assert.That(got.Message, Is.EqualTo(want.Message));
        TestContext.Out.WriteLine(got.Message);
    }

    /// <summary>Host checks of force_stress.cu reproduced for managed backends: same status, same sentence, outputs untouched.</summary>
    [TestCase("workspace too small")]
    [TestCase("stress is forces")]
    [TestCase("forces is edge quantity")]
    [TestCase("backward grad quantity is edge quantity")]
    [TestCase("backward grad edge vec is grad quantity")]
    public void HostRefusalsAreTheSameSentence(string what)
    {
        var b = new Batch(graphs: 4, meanDegree: 3, seed: 21);
        (GraphKernelsException, float[]) Run(GraphDevice device)
        {
            using var d = new OnDevice(device, b, IndexType.Int32, false);
            var big = d.Up(Enumerable.Repeat(1.5f, 9 * (b.NumAtoms + b.NumEdges + b.NumGraphs)).ToArray());
            var forces = d.Up(Enumerable.Repeat(2.5f, 3 * b.NumAtoms).ToArray());
            var stress = d.Up(Enumerable.Repeat(3.5f, 9 * b.NumGraphs).ToArray());
            var o = default(ForceStressOptions);
            using var small = device.Allocate<byte>(8);
            GraphKernelsException ex = what switch
            {
                "workspace too small" => Refusal(() => ForceStress.Readout(d.Topology, d.Geometry, d.G, forces, stress, o, null, small)),
                "stress is forces" => Refusal(() => ForceStress.Readout(d.Topology, d.Geometry, d.G, big, big, o)),
                "forces is edge quantity" => Refusal(() => ForceStress.Readout(d.Topology, d.Geometry, big, big, stress, o)),
                "backward grad quantity is edge quantity" => Refusal(() => ForceStress.Backward(d.Topology, d.Geometry, big, null, null, big, o)),
                _ => Refusal(() => ForceStress.Backward(d.Topology, d.Geometry, d.G, null, null, big, o, big)),
            };
            return (ex, big.ToArray().Concat(forces.ToArray()).Concat(stress.ToArray()).ToArray());
        }

        var (want, wantBits) = Run(emulated!);
        var (got, gotBits) = Run(ilgpu!);
        Assert.That(got.Status, Is.EqualTo(want.Status));
        Assert.That(got.Message, Is.EqualTo(want.Message));
        AssertBitwise(wantBits, gotBits, "inputs and outputs after the refusal");
        TestContext.Out.WriteLine(got.Message);
    }
}
