using System.Runtime.InteropServices;
using GraphKernels.Ilgpu;
using GraphKernels.Tests.EdgeOps;
using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Oracle;
using GraphKernels.Tests.Spmm;
using GraphKernels.Tests.Support;
using static GraphKernels.Tests.EdgeOps.EdgeTensors;

namespace GraphKernels.Tests.IlgpuBackend;

/// <summary>
/// The edge ops on ILGPU's CPU accelerator against the emulated CUDA library, bit for bit. Every edge op is bitwise
/// equal by design: each output element has one owner on both backends (a CUDA lane, an ILGPU thread) which folds its
/// terms in ascending CSR/segment position in fp32 from 0 with the same operations in the same order — SDDMM dot
/// (d ascending) and the elementwise ops, the backward terms (g·o, ±g, g / b, (−g·a) / (b·b)) summed over the CSR row or
/// the transpose's row, the softmax's max rule, Σ exp(s − m), exp(s − m) / (sum + 1e-16) and its backward's Σ y·g,
/// segment sum / mean (÷ (float)count) / the max-min-NaN rule and the gathers — with the same fp16/bf16 conversions
/// (round to nearest-even on store). Neither backend contracts a·b + c into an FMA (RyuJIT does not; the emulated
/// library is built for baseline x86-64) and neither uses floating-point atomics, so the launch shape does not matter.
/// exp: both call the C library's expf (the emulation links the host libm; MathF.Exp on .NET/Linux calls the same
/// libm), so the softmax is bitwise equal here too; on another OS or on an OpenCL device that is not by design.
/// COO → CSR, degrees and the scatter plan's permutation are integers and must be identical. The oracle checks of
/// the same ops run in EdgeOpsTests (fixture DeviceKind.Ilgpu); here only equality is asserted. The errors that only
/// the C ABI raises (overlaps, transpose shape, COO workspace and ranges) must be the same status and sentence.
/// </summary>
[TestFixture]
[Category("Ilgpu")]
[Category("MessagePassing")]
public sealed class IlgpuEdgeOpsCrossBackendTests : CrossBackendFixture
{
    private sealed class Owned : IDisposable
    {
        private readonly List<IDisposable> items = new();

        public T Own<T>(T d) where T : IDisposable
        {
            items.Add(d);
            return d;
        }

        public void Dispose()
        {
            foreach (var d in items) d.Dispose();
        }
    }

    private static byte[] Bytes(DeviceBuffer b) => b switch
    {
        DeviceBuffer<float> f => MemoryMarshal.AsBytes<float>(f.ToArray()).ToArray(),
        DeviceBuffer<Half> h => MemoryMarshal.AsBytes<Half>(h.ToArray()).ToArray(),
        DeviceBuffer<ushort> u => MemoryMarshal.AsBytes<ushort>(u.ToArray()).ToArray(),
        DeviceBuffer<int> i => MemoryMarshal.AsBytes<int>(i.ToArray()).ToArray(),
        DeviceBuffer<long> l => MemoryMarshal.AsBytes<long>(l.ToArray()).ToArray(),
        _ => throw new ArgumentException("unexpected buffer type"),
    };

    /// <summary>Runs <paramref name="work"/> on both devices and asserts every returned output is byte for byte equal.</summary>
    private void AssertSameBytes(string what, Func<GraphDevice, Owned, (string Name, DeviceBuffer Out)[]> work)
    {
        using var oe = new Owned();
        using var oi = new Owned();
        var expected = work(emulated!, oe).Select(o => (o.Name, Bytes(o.Out))).ToArray();
        var actual = work(ilgpu!, oi).Select(o => (o.Name, Bytes(o.Out))).ToArray();
        Assert.That(actual.Length, Is.EqualTo(expected.Length));
        for (int k = 0; k < expected.Length; k++)
        {
            var (name, e) = expected[k];
            var a = actual[k].Item2;
            Assert.That(a.Length, Is.EqualTo(e.Length), $"{what}: {name} length");
            int first = Enumerable.Range(0, e.Length).FirstOrDefault(i => a[i] != e[i], -1);
            Assert.That(first, Is.EqualTo(-1), $"{what}: {name} differs first at byte {first} (ILGPU vs emulated)");
        }
    }

    /// <summary>Graph, op, target pair, index type, element type: every op, every target, both index types and all three element types occur.</summary>
    public static IEnumerable<TestCaseData> SddmmCases()
    {
        var pairs = new[]
        {
            (EdgeTarget.Source, EdgeTarget.Destination), (EdgeTarget.Edge, EdgeTarget.Source), (EdgeTarget.Destination, EdgeTarget.Edge),
            (EdgeTarget.Source, EdgeTarget.Source), (EdgeTarget.Destination, EdgeTarget.Destination),
        };
        string[] graphs = { "powerlaw", "emptyrows", "molecules" };
        int k = 0;
        foreach (string g in graphs)
        {
            for (int op = 0; op < 5; op++, k++)
            {
                var (l, r) = pairs[k % pairs.Length];
                var index = k % 2 == 0 ? IndexType.Int32 : IndexType.Int64;
                var t = (Elem)(k % 3);
                yield return new TestCaseData(g, (SddmmOp)op, l, r, index, t)
                    .SetArgDisplayNames(g, ((SddmmOp)op).ToString(), $"{l}-{r}", index.ToString(), t.ToString());
            }
        }
    }

    [TestCaseSource(nameof(SddmmCases))]
    public void SddmmAndBackwardAreBitwiseEqual(string graphName, SddmmOp op, EdgeTarget l, EdgeTarget r, IndexType index, Elem t)
    {
        HostCsr g = EdgeGraphs.Get(graphName);
        int f = op == SddmmOp.Dot ? 12 : 5, h = op == SddmmOp.Dot ? 3 : 1;
        long w = op == SddmmOp.Dot ? h : f;
        var rng = new SplitMix64(1000 + (ulong)op);
        var a = Random(rng, t, EdgeOpsReference.TargetRows(g, l) * f, -2, 2);
        var b = op == SddmmOp.Div ? RandomDivisors(rng, t, EdgeOpsReference.TargetRows(g, r) * f) : Random(rng, t, EdgeOpsReference.TargetRows(g, r) * f, -2, 2);
        var go = Random(rng, t, g.Nnz * w, -1, 1);
        var (tg, perm) = EdgeOpsReference.Transpose(g);
        AssertSameBytes($"{graphName} {op} {l}-{r} {index} {t}", (d, o) =>
        {
            var graph = o.Own(SpmmRunner.UploadGraph(d, g, index));
            var tgraph = o.Own(SpmmRunner.UploadGraph(d, tg, index));
            var dperm = o.Own(UploadIndex(d, index, perm));
            var da = o.Own(Upload(d, t, a));
            var db = o.Own(Upload(d, t, b));
            var dout = o.Own(Poisoned(d, t, g.Nnz * w));
            var dga = o.Own(Poisoned(d, t, a.Length));
            var dgb = o.Own(Poisoned(d, t, b.Length));
            GraphKernels.MessagePassing.Sddmm(graph, op, f, h, l, da, r, db, dout);
            GraphKernels.MessagePassing.SddmmBackward(graph, op, f, h, l, da, r, db, o.Own(Upload(d, t, go)), dga, dgb, tgraph, dperm);
            return new[] { ("out", dout), ("grad_lhs", dga), ("grad_rhs", dgb) };
        });
    }

    [TestCase("powerlaw", 3, IndexType.Int32, Elem.F32)]
    [TestCase("onehub", 1, IndexType.Int64, Elem.F32)]
    [TestCase("emptyrows", 2, IndexType.Int64, Elem.F16)]
    [TestCase("molecules", 4, IndexType.Int32, Elem.BF16)]
    public void EdgeSoftmaxAndBackwardAreBitwiseEqual(string graphName, int h, IndexType index, Elem t)
    {
        HostCsr g = EdgeGraphs.Get(graphName);
        var rng = new SplitMix64(1100);
        var s = Random(rng, t, g.Nnz * h, -8, 8);
        // Planted specials: -inf (a fully masked head gives m = 0), NaN (a NaN row), and ties.
        for (long i = 0; i < s.Length; i += 97) s[i] = double.NegativeInfinity;
        for (long i = 50; i < s.Length; i += 997) s[i] = double.NaN;
        for (long i = 3; i < s.Length; i += 13) s[i] = 1.0;
        var go = Random(rng, t, g.Nnz * h, -1, 1);
        AssertSameBytes($"{graphName} H{h} {index} {t}", (d, o) =>
        {
            var graph = o.Own(SpmmRunner.UploadGraph(d, g, index));
            var dout = o.Own(Poisoned(d, t, g.Nnz * h));
            var dmax = o.Own(d.Allocate<float>(Math.Max(1, g.NumRows * h)));
            var dsum = o.Own(d.Allocate<float>(Math.Max(1, g.NumRows * h)));
            dmax.Fill(-5f);
            dsum.Fill(-5f);
            var dgs = o.Own(Poisoned(d, t, g.Nnz * h));
            GraphKernels.MessagePassing.EdgeSoftmax(graph, h, o.Own(Upload(d, t, s)), dout, dmax, dsum);
            GraphKernels.MessagePassing.EdgeSoftmaxBackward(graph, h, dout, o.Own(Upload(d, t, go)), dgs);
            return new[] { ("out", dout), ("row_max", (DeviceBuffer)dmax), ("row_sum", dsum), ("grad_scores", dgs) };
        });
    }

    [TestCase(Reduce.Sum, IndexType.Int32, false, Elem.F32)]
    [TestCase(Reduce.Mean, IndexType.Int64, true, Elem.F32)]
    [TestCase(Reduce.Max, IndexType.Int32, true, Elem.F16)]
    [TestCase(Reduce.Min, IndexType.Int64, false, Elem.BF16)]
    [TestCase(Reduce.Mean, IndexType.Int32, false, Elem.BF16)]
    [TestCase(Reduce.Max, IndexType.Int64, false, Elem.F32)]
    public void SegmentReduceGatherAndBackwardAreBitwiseEqual(Reduce reduce, IndexType index, bool withPerm, Elem t)
    {
        HostCsr g = EdgeGraphs.Get("emptyrows");
        const int f = 6;
        var rng = new SplitMix64(1200);
        bool extreme = reduce is Reduce.Max or Reduce.Min;
        var src = extreme ? Array.ConvertAll(new double[g.Nnz * f], _ => (double)rng.NextInt(-3, 3)) : Random(rng, t, g.Nnz * f, -2, 2);
        for (long i = 7; i < src.Length; i += 211) src[i] = double.NaN;
        long[]? perm = null;
        if (withPerm)
        {
            perm = new long[g.Nnz];
            for (long i = 0; i < perm.Length; i++) perm[i] = i;
            rng.Shuffle(perm);
        }

        var gout = Random(rng, t, g.NumRows * f, -1, 1);
        AssertSameBytes($"{reduce} {index} {(withPerm ? "perm" : "noperm")} {t}", (d, o) =>
        {
            var ptr = o.Own(UploadIndex(d, index, g.RowPtr));
            var dperm = perm is null ? null : o.Own(UploadIndex(d, index, perm));
            var dout = o.Own(Poisoned(d, t, g.NumRows * f));
            var darg = extreme ? o.Own(IndexFilled(d, index, g.NumRows * f, -77)) : null;
            var dgs = o.Own(Poisoned(d, t, g.Nnz * f));
            var dgat = o.Own(Poisoned(d, t, g.Nnz * f));
            var dgo = o.Own(Upload(d, t, gout));
            GraphKernels.MessagePassing.SegmentReduce(ptr, reduce, f, o.Own(Upload(d, t, src)), dout, darg, dperm);
            GraphKernels.MessagePassing.SegmentReduceBackward(ptr, reduce, f, dgo, dgs, darg, dperm);
            GraphKernels.MessagePassing.GatherCsr(ptr, f, dgo, dgat, dperm);
            var outs = new List<(string, DeviceBuffer)> { ("out", dout), ("grad_src", dgs), ("gather", dgat) };
            if (darg is not null) outs.Add(("arg", darg));
            return outs.ToArray();
        });
    }

    [TestCase(IndexType.Int32)]
    [TestCase(IndexType.Int64)]
    public void CooToCsrDegreesAndScatterAreIdentical(IndexType index)
    {
        const int rows = 300, cols = 40, nnz = 2500, f = 3;
        var rng = new SplitMix64(1300);
        var dst = new long[nnz];
        var src = new long[nnz];
        for (int i = 0; i < nnz; i++)
        {
            long d = rng.Chance(0.25) ? 0 : rng.NextLong(rows);
            dst[i] = d % 7 == 6 ? d - 1 : d;   // every 7th row empty, row 0 a hub
            src[i] = rng.NextLong(cols);
        }

        var vals = Random(rng, Elem.F32, nnz * f, -2, 2);
        AssertSameBytes($"coo {index}", (d, o) =>
        {
            var ddst = o.Own(UploadIndex(d, index, dst));
            var rp = o.Own(IndexFilled(d, index, rows + 1, -5));
            var col = o.Own(IndexFilled(d, index, nnz, -5));
            var perm = o.Own(IndexFilled(d, index, nnz, -5));
            var ws = o.Own(d.Allocate<byte>(GraphKernels.MessagePassing.CooToCsrWorkspaceBytes(d, rows)));
            GraphKernels.MessagePassing.CooToCsr(ddst, o.Own(UploadIndex(d, index, src)), rows, cols, rp, col, perm, ws);
            var host = new HostCsr("coo", rows, cols, ReadIndex(rp), ReadIndex(col));
            var graph = o.Own(SpmmRunner.UploadGraph(d, host, index));
            var din = o.Own(IndexFilled(d, index, rows, -5));
            var dout = o.Own(IndexFilled(d, index, cols, -5));
            GraphKernels.MessagePassing.Degree(graph, DegreeKind.In, din);
            GraphKernels.MessagePassing.Degree(graph, DegreeKind.Out, dout);
            var plan = o.Own(ScatterPlan.Create(ddst, rows));
            var sum = o.Own(Poisoned(d, Elem.F32, rows * f));
            var max = o.Own(Poisoned(d, Elem.F32, rows * f));
            var arg = o.Own(IndexFilled(d, index, rows * f, -77));
            var dvals = o.Own(Upload(d, Elem.F32, vals));
            plan.Reduce(Reduce.Sum, f, dvals, sum);
            plan.Reduce(Reduce.Max, f, dvals, max, arg);
            return new[]
            {
                ("row_ptr", rp), ("col_idx", col), ("perm", perm), ("in_degree", din), ("out_degree", dout),
                ("plan.Ptr", plan.Ptr), ("plan.Permutation", plan.Permutation), ("scatter sum", sum), ("scatter max", max), ("scatter arg", arg),
            };
        });
    }

    /// <summary>The checks only the C ABI makes, reached through the managed API: same exception type, status and sentence on
    /// both backends (the sentence with pointers is compared up to its pointers); the COO outputs must stay poisoned (the other
    /// ops' poisoned outputs are checked by EdgeOpsBadInputTests on its ILGPU fixture).</summary>
    [Test]
    [Category("BadInput")]
    public void NativeOnlyChecksGiveTheSameStatusAndSentence()
    {
        HostCsr g = GraphGenerators.ErdosRenyi(40, 30, 0.2, seed: 5, name: "er40x30");
        var (tg, tperm) = EdgeOpsReference.Transpose(g);
        const int f = 4;
        var calls = new (string Name, Action<GraphDevice, Owned> Call, bool HasPointers)[]
        {
            ("sddmm out = edge lhs", (d, o) =>
            {
                var graph = o.Own(SpmmRunner.UploadGraph(d, g, IndexType.Int32));
                var e = o.Own(Poisoned(d, Elem.F32, g.Nnz * f));
                GraphKernels.MessagePassing.Sddmm(graph, SddmmOp.Add, f, 1, EdgeTarget.Edge, e, EdgeTarget.Destination, o.Own(Upload(d, Elem.F32, new double[g.NumRows * f])), e);
            }, false),
            ("sddmm backward grad_rhs = grad_lhs", (d, o) =>
            {
                var graph = o.Own(SpmmRunner.UploadGraph(d, g, IndexType.Int64));
                var y = o.Own(Upload(d, Elem.F32, new double[g.NumRows * f]));
                var gy = o.Own(Poisoned(d, Elem.F32, g.NumRows * f));
                GraphKernels.MessagePassing.SddmmBackward(graph, SddmmOp.Mul, f, 1, EdgeTarget.Destination, y, EdgeTarget.Destination, y,
                    o.Own(Upload(d, Elem.F32, new double[g.Nnz * f])), gy, gy);
            }, false),
            ("sddmm backward, transpose of another shape", (d, o) =>
            {
                var graph = o.Own(SpmmRunner.UploadGraph(d, g, IndexType.Int32));
                GraphKernels.MessagePassing.SddmmBackward(graph, SddmmOp.Dot, f, 2, EdgeTarget.Source, o.Own(Upload(d, Elem.F32, new double[g.NumCols * f])),
                    EdgeTarget.Destination, o.Own(Upload(d, Elem.F32, new double[g.NumRows * f])), o.Own(Upload(d, Elem.F32, new double[g.Nnz * 2])),
                    o.Own(Poisoned(d, Elem.F32, g.NumCols * f)), null, graph, o.Own(UploadIndex(d, IndexType.Int32, tperm)));
            }, false),
            ("sddmm backward, transpose of another index type", (d, o) =>
            {
                var graph = o.Own(SpmmRunner.UploadGraph(d, g, IndexType.Int32));
                GraphKernels.MessagePassing.SddmmBackward(graph, SddmmOp.Dot, f, 2, EdgeTarget.Source, o.Own(Upload(d, Elem.F32, new double[g.NumCols * f])),
                    EdgeTarget.Destination, o.Own(Upload(d, Elem.F32, new double[g.NumRows * f])), o.Own(Upload(d, Elem.F32, new double[g.Nnz * 2])),
                    o.Own(Poisoned(d, Elem.F32, g.NumCols * f)), null, o.Own(SpmmRunner.UploadGraph(d, tg, IndexType.Int64)), o.Own(UploadIndex(d, IndexType.Int32, tperm)));
            }, false),
            ("edge softmax row_sum = row_max", (d, o) =>
            {
                var graph = o.Own(SpmmRunner.UploadGraph(d, g, IndexType.Int64));
                var m = o.Own(d.Allocate<float>(g.NumRows));
                GraphKernels.MessagePassing.EdgeSoftmax(graph, 1, o.Own(Upload(d, Elem.F16, new double[g.Nnz])), o.Own(Poisoned(d, Elem.F16, g.Nnz)), m, m);
            }, false),
            ("edge softmax backward grad = grad_out", (d, o) =>
            {
                var graph = o.Own(SpmmRunner.UploadGraph(d, g, IndexType.Int32));
                var gg = o.Own(Poisoned(d, Elem.BF16, g.Nnz * 2));
                GraphKernels.MessagePassing.EdgeSoftmaxBackward(graph, 2, o.Own(Upload(d, Elem.BF16, new double[g.Nnz * 2])), gg, gg);
            }, false),
            ("segment reduce out = src", (d, o) =>
            {
                var seg = o.Own(Poisoned(d, Elem.F32, g.Nnz * f));
                GraphKernels.MessagePassing.SegmentReduce(o.Own(UploadIndex(d, IndexType.Int64, g.RowPtr)), Reduce.Sum, f, seg, seg);
            }, false),
            ("gather out = src", (d, o) =>
            {
                var seg = o.Own(Poisoned(d, Elem.F32, g.Nnz * f));
                GraphKernels.MessagePassing.GatherCsr(o.Own(UploadIndex(d, IndexType.Int32, g.RowPtr)), f, seg, seg);
            }, false),
            ("segment backward out = arg's perm", (d, o) =>
            {
                var perm = o.Own(UploadIndex(d, IndexType.Int32, Enumerable.Range(0, (int)g.Nnz).Select(i => (long)i).ToArray()));
                GraphKernels.MessagePassing.SegmentReduce(o.Own(UploadIndex(d, IndexType.Int32, g.RowPtr)), Reduce.Max, 1,
                    o.Own(Upload(d, Elem.F32, new double[g.Nnz])), o.Own(Poisoned(d, Elem.F32, g.NumRows)), perm, perm);
            }, false),
            ("coo out of range dst", (d, o) => Coo(d, o, new long[] { 0, 3, 9, 1, -2 }, new long[] { 0, 1, 1, 1, 1 }, 5, 3, 5, true), false),
            ("coo out of range src", (d, o) => Coo(d, o, new long[] { 0, 3, 2, 1, 4 }, new long[] { 0, 1, 1, 3, 7 }, 5, 3, 5, true), false),
            ("coo small workspace", (d, o) => Coo(d, o, new long[] { 0, 3 }, new long[] { 0, 1 }, 8, 3, 5, true), false),
            ("coo negative num_cols", (d, o) => Coo(d, o, new long[] { 0, 3 }, new long[] { 0, 1 }, 5, -1, 5, true), false),
            ("coo src without col_idx", (d, o) => Coo(d, o, new long[] { 0, 3 }, new long[] { 0, 1 }, 5, 3, 5, false), true),
            ("coo workspace size", (d, o) => GraphKernels.MessagePassing.CooToCsrWorkspaceBytes(d, long.MaxValue / 4), false),
            ("degree out = col_idx", (d, o) =>
            {
                var graph = o.Own(SpmmRunner.UploadGraph(d, g, IndexType.Int32));
                GraphKernels.MessagePassing.Degree(graph, DegreeKind.Out, graph.ColIdx);
            }, false),
        };

        foreach (var (name, call, hasPointers) in calls)
        {
            using var oe = new Owned();
            using var oi = new Owned();
            var expected = Assert.Throws<GraphKernelsException>(() => call(emulated!, oe), name + " on the emulated device")!;
            var actual = Assert.Throws<GraphKernelsException>(() => call(ilgpu!, oi), name + " on ILGPU")!;
            Assert.That(actual.Status, Is.EqualTo(expected.Status), name);
            string Strip(string m) => hasPointers ? System.Text.RegularExpressions.Regex.Replace(m, "0x[0-9a-f]+|\\(nil\\)", "P") : m;
            Assert.That(Strip(actual.Message), Is.EqualTo(Strip(expected.Message)), name);
        }
    }

    /// <summary>COO → CSR with poisoned outputs that must stay poisoned (every call here is refused).</summary>
    private static void Coo(GraphDevice d, Owned o, long[] dst, long[] src, long rows, long cols, long wsRows, bool withCol)
    {
        var rp = o.Own(IndexFilled(d, IndexType.Int64, rows + 1, -5));
        var col = o.Own(IndexFilled(d, IndexType.Int64, dst.Length, -5));
        var perm = o.Own(IndexFilled(d, IndexType.Int64, dst.Length, -5));
        try
        {
            GraphKernels.MessagePassing.CooToCsr(o.Own(UploadIndex(d, IndexType.Int64, dst)), o.Own(UploadIndex(d, IndexType.Int64, src)), rows, cols,
                rp, withCol ? col : null, perm, o.Own(d.Allocate<byte>((wsRows + 2) * 8)));
        }
        finally
        {
            Assert.That(ReadIndex(rp).Concat(ReadIndex(col)).Concat(ReadIndex(perm)), Is.All.EqualTo(-5L), "COO outputs untouched");
        }
    }
}
