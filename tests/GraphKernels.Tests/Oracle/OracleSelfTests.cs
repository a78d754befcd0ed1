using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Spmm;

namespace GraphKernels.Tests.Oracle;

/// <summary>
/// Checks of the test machinery itself (no device): the generators produce the shapes they
/// promise, the oracle gives hand-computed answers, the comparison rejects wrong results, and the
/// case tables cover what they claim.
/// </summary>
[TestFixture]
[Category("MessagePassing")]
[Parallelizable(ParallelScope.All)]
public sealed class OracleSelfTests
{
    [Test]
    public void GeneratorsAreDeterministicAndHaveTheirShapes()
    {
        var a = GraphGenerators.PowerLaw(500, 400, 8, new[] { 900 }, seed: 3);
        var b = GraphGenerators.PowerLaw(500, 400, 8, new[] { 900 }, seed: 3);
        var c = GraphGenerators.PowerLaw(500, 400, 8, new[] { 900 }, seed: 4);
        Assert.Multiple(() =>
        {
            Assert.That(b.RowPtr, Is.EqualTo(a.RowPtr));
            Assert.That(b.ColIdx, Is.EqualTo(a.ColIdx));
            Assert.That(c.ColIdx, Is.Not.EqualTo(a.ColIdx));
            Assert.That(a.MaxDegree, Is.EqualTo(900));
        });

        var big = GraphCatalog.Get("powerlaw-big");
        var empty = GraphCatalog.Get("emptyrows");
        var loops = GraphCatalog.Get("selfloops");
        var dups = GraphCatalog.Get("duplicates");
        Assert.Multiple(() =>
        {
            Assert.That(big.MaxDegree, Is.EqualTo(2500));
            Assert.That(big.NumRows, Is.EqualTo(3000));
            Assert.That(empty.Degree(0), Is.Zero);
            Assert.That(empty.Degree(empty.NumRows - 1), Is.Zero);
            Assert.That(Enumerable.Range(0, (int)loops.NumRows).All(r => Row(loops, r).Contains(r)), Is.True);
            Assert.That(Enumerable.Range(0, (int)dups.NumRows).All(r => Row(dups, r).Distinct().Count() < Row(dups, r).Length), Is.True);
            Assert.That(GraphCatalog.Get("noedges").Nnz, Is.Zero);
            Assert.That(GraphCatalog.Get("norows").NumRows, Is.Zero);
            Assert.That(GraphCatalog.Get("wide").NumCols, Is.GreaterThan(GraphCatalog.Get("wide").NumRows));
            Assert.That(GraphCatalog.Get("tall").NumRows, Is.GreaterThan(GraphCatalog.Get("tall").NumCols));
            Assert.That(GraphCatalog.Get("hub").MaxDegree, Is.EqualTo(1500));
        });
    }

    [Test]
    public void OracleSumMeanByHand()
    {
        // Rows: r0 = {0, 1, 1}, r1 = {}, r2 = {2}; X (F = 2): u0 = [1, 2], u1 = [10, 20], u2 = [-4, 0.5]; w = [1, 2, 3, 4].
        var g = HostCsr.FromRows("hand", 3, new List<List<long>> { new() { 0, 1, 1 }, new(), new() { 2 } });
        float[] x = { 1, 2, 10, 20, -4, 0.5f };
        float[] w = { 1, 2, 3, 4 };
        var sum = SpmmReference.Compute(g, Message.UMulE, Reduce.Sum, 2, x, 2, w);
        var mean = SpmmReference.Compute(g, Message.CopyU, Reduce.Mean, 2, x, 2, null);
        var max = SpmmReference.Compute(g, Message.UMulE, Reduce.Max, 2, x, 2, w);
        Assert.Multiple(() =>
        {
            Assert.That(sum.Value, Is.EqualTo(new double[] { 1 + 20 + 30, 2 + 40 + 60, 0, 0, -16, 2 }));
            Assert.That(sum.AbsSum, Is.EqualTo(new double[] { 51, 102, 0, 0, 16, 2 }));
            Assert.That(mean.Value, Is.EqualTo(new double[] { 7, 14, 0, 0, -4, 0.5 }));
            Assert.That(max.Value, Is.EqualTo(new double[] { 30, 60, 0, 0, -16, 2 }));
            Assert.That(max.Arg, Is.EqualTo(new long[] { 2, 2, -1, -1, 3, 3 }));
        });
    }

    [Test]
    public void ComparisonRejectsWrongResults()
    {
        var g = GraphGenerators.ErdosRenyi(50, 50, 0.2, seed: 1);
        var inputs = SpmmInputs.Make(g, 3, 3, true, ValueKind.Random, 2);
        var exp = SpmmReference.Compute(g, Message.UMulE, Reduce.Sum, 3, inputs.X, 3, inputs.Weight);
        var y = exp.Value.Select(v => (float)v).ToArray();
        Assert.That(SpmmCompare.Check(exp, Reduce.Sum, false, y, 3, null, 3), Is.Null, "the rounded exact answer must pass");

        // Dropping one edge's contribution must fail (the tolerance is far below one term).
        long row = Enumerable.Range(0, 50).First(r => g.Degree(r) >= 3);
        long e = g.RowPtr[row];
        y[row * 3] -= inputs.X[g.ColIdx[e] * 3] * inputs.Weight![e];
        Assert.That(SpmmCompare.Check(exp, Reduce.Sum, false, y, 3, null, 3), Does.Contain($"y[{row},0]"));

        // A wrong arg fails for max even when the value is right.
        var maxExp = SpmmReference.Compute(g, Message.CopyU, Reduce.Max, 3, inputs.X, 3, null);
        var my = maxExp.Value.Select(v => (float)v).ToArray();
        var arg = (long[])maxExp.Arg!.Clone();
        Assert.That(SpmmCompare.Check(maxExp, Reduce.Max, false, my, 3, arg, 3), Is.Null);
        arg[row * 3 + 1] += 1;
        Assert.That(SpmmCompare.Check(maxExp, Reduce.Max, false, my, 3, arg, 3), Does.Contain("arg"));

        // An unwritten element (still the sentinel) fails.
        my[0] = SpmmInputs.YSentinel;
        Assert.That(SpmmCompare.Check(maxExp, Reduce.Max, false, my, 3, null, 3), Is.Not.Null);
    }

    [Test]
    public void DyadicInputsSumExactly()
    {
        // The premise of the exact comparison: a float sum in any order equals the double sum.
        var g = GraphCatalog.Get("powerlaw-big");
        var inputs = SpmmInputs.Make(g, 2, 2, true, ValueKind.Dyadic, 9);
        var exp = SpmmReference.Compute(g, Message.UMulE, Reduce.Sum, 2, inputs.X, 2, inputs.Weight);
        for (long v = 0; v < g.NumRows; v++)
        {
            float fwd = 0, bwd = 0;
            for (long e = g.RowPtr[v]; e < g.RowPtr[v + 1]; e++) fwd += inputs.X[g.ColIdx[e] * 2] * inputs.Weight![e];
            for (long e = g.RowPtr[v + 1] - 1; e >= g.RowPtr[v]; e--) bwd += inputs.X[g.ColIdx[e] * 2] * inputs.Weight![e];
            Assert.That(fwd, Is.EqualTo(exp.Value[v * 2]).Within(0));
            Assert.That(bwd, Is.EqualTo(exp.Value[v * 2]).Within(0));
        }
    }

    [Test]
    public void CaseTablesCoverTheMatrix()
    {
        var cases = SpmmCases.SmallCases().ToList();
        Assert.That(cases.Select(c => c.ToString()).Distinct().Count(), Is.EqualTo(cases.Count), "duplicate case names");
        foreach (Reduce r in GraphKernels.Tests.Spmm.SpmmCases.LegacyReducers)
        {
            foreach (Message m in GraphKernels.Tests.Spmm.SpmmCases.LegacyMessages)
            {
                foreach (IndexType i in Enum.GetValues<IndexType>())
                {
                    var sub = cases.Where(c => c.Reduce == r && c.Message == m && c.Index == i).ToList();
                    Assert.That(sub.Select(c => c.Graph).Distinct(), Is.EquivalentTo(GraphCatalog.SmallGraphs), $"{r} {m} {i}: graphs");
                }

                var rm = cases.Where(c => c.Reduce == r && c.Message == m).ToList();
                Assert.That(rm.Select(c => c.Features).Distinct(), Is.EquivalentTo(SpmmCases.Widths), $"{r} {m}: widths");
                Assert.That(rm.Select(c => c.Values).Distinct(), Is.EquivalentTo(Enum.GetValues<ValueKind>()), $"{r} {m}: value kinds");
                Assert.That(rm.Any(c => c.LdxPad > 0 && c.LdyPad > 0), Is.True, $"{r} {m}: padded leading dimensions");
            }
        }

        foreach (int f in SpmmCases.Widths)
        {
            Assert.That(cases.Where(c => c.Features == f).Select(c => c.Graph).Distinct().Count(), Is.GreaterThanOrEqualTo(5), $"F={f} meets few graphs");
        }

        var extreme = cases.Where(c => c.IsExtreme).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(extreme.Any(c => c.WithArg && c.LdArgPad > 0), Is.True, "arg with padded leading dimension");
            Assert.That(extreme.Any(c => !c.WithArg), Is.True, "max/min without arg");
            Assert.That(extreme.Count(c => c.WithArg && c.Values == ValueKind.Special), Is.GreaterThan(4), "NaN with arg");
            Assert.That(SpmmCases.BigCases().Select(c => c.Reduce), Is.EquivalentTo(GraphKernels.Tests.Spmm.SpmmCases.LegacyReducers));
        });
    }

    private static long[] Row(HostCsr g, long r) => g.ColIdx[(int)g.RowPtr[r]..(int)g.RowPtr[r + 1]];
}
