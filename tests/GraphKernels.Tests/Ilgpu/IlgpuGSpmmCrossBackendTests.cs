using GraphKernels.Ilgpu;
using GraphKernels.Tests.Spmm;

namespace GraphKernels.Tests.IlgpuBackend;

/// <summary>
/// The graph plan, the generalized SpMM (plain and chunked), its backward and the multi-reducer SpMM on ILGPU's
/// CPU accelerator against the emulated CUDA library, bit for bit. Equal by design, not by tolerance:
///  - plan: integers only; the counts are exact whatever the order of the atomics, the scans are exact, and
///    the per-source sort by CSR position makes the transpose's order unique, so every buffer is identical.
///  - forward (every message, edge shape, reducer, value type): each output element has one owner that folds
///    the row's messages in CSR order in fp32 with the same operations as the CUDA lane (the same message
///    formula, the same max/min/NaN rule, one division for mean) and rounds once with the same
///    round-to-nearest-even conversion; neither side contracts to FMA (RyuJIT does not; the emulated library
///    is built for baseline x86-64, which has none) and neither uses atomics.
///  - chunked: the same per-item partials at the same workspace layout, combined per row in item order.
///  - backward: dX per source in ascending CSR position over the same transpose, dE per edge in feature order,
///    the mul reducer's prefix/suffix products in the same order.
///  - multi: the same single pass (sum, min, max and Welford's n, mean, M2 in the same order; sqrt is
///    correctly rounded on both).
/// The oracle checks of these ops run in GSpmmTests, GSpmmMultiTests and GraphPlanTests (Ilgpu fixtures);
/// here only equality is asserted.
/// </summary>
[TestFixture]
[Category("Ilgpu")]
[Category("MessagePassing")]
public sealed class IlgpuGSpmmCrossBackendTests : CrossBackendFixture
{
    /// <summary>Every seventh case of GSpmmTests (11 cases: each reducer, every message but copy_u (it is in the multi and chunked cases), each edge shape, value type and index type occurs).</summary>
    public static IEnumerable<TestCaseData> Cases() =>
        GSpmmTests.Cases().Where((_, i) => i % 7 == 3);

    [TestCaseSource(nameof(Cases))]
    public void ForwardAndBackwardAreBitwiseEqualToTheEmulatedCudaKernels(GSpmmCase c)
    {
        using var a = new GSpmmRun(emulated!, c);
        using var b = new GSpmmRun(ilgpu!, c);
        var (ya, arga) = a.Forward();
        var (yb, argb) = b.Forward();
        Assert.That(GSpmmHarness.Bits(yb), Is.EqualTo(GSpmmHarness.Bits(ya)), $"{c}: y");
        if (arga is not null)
        {
            Assert.That(GSpmmHarness.Bits(argb!), Is.EqualTo(GSpmmHarness.Bits(arga)), $"{c}: arg");
        }

        var (dxa, dea) = a.Backward(arga);
        var (dxb, deb) = b.Backward(argb);
        if (dxa is not null)
        {
            Assert.That(GSpmmHarness.Bits(dxb!), Is.EqualTo(GSpmmHarness.Bits(dxa)), $"{c}: dX");
        }

        if (dea is not null)
        {
            Assert.That(GSpmmHarness.Bits(deb!), Is.EqualTo(GSpmmHarness.Bits(dea)), $"{c}: dE");
        }
    }

    /// <summary>The chunked path (hub rows cut into items, fixed second pass), every reducer, with EmptyInfinity/Accumulate.</summary>
    [TestCase(Reduce.Sum, 64, IndexType.Int32, ValType.F32, SpMMFlags.Chunked)]
    [TestCase(Reduce.Mean, 16, IndexType.Int64, ValType.BF16, SpMMFlags.Chunked | SpMMFlags.Accumulate)]
    [TestCase(Reduce.Max, 7, IndexType.Int32, ValType.F16, SpMMFlags.Chunked | SpMMFlags.EmptyInfinity)]
    [TestCase(Reduce.Min, 100, IndexType.Int64, ValType.F32, SpMMFlags.Chunked)]
    [TestCase(Reduce.Mul, 3, IndexType.Int32, ValType.F32, SpMMFlags.Chunked)]
    public void ChunkedIsBitwiseEqualToTheEmulatedCudaKernels(Reduce r, long chunk, IndexType index, ValType t, SpMMFlags flags)
    {
        string graph = r == Reduce.Mul ? "molecules" : "powerlaw-big";
        var c = new GSpmmCase(graph, index, Message.UMulE, EdgeOperand.Full, 0, r, 5, t, 71);
        using var a = new GSpmmRun(emulated!, c, flags, chunk);
        using var b = new GSpmmRun(ilgpu!, c, flags, chunk);
        var (ya, arga) = a.Forward();
        var (yb, argb) = b.Forward();
        Assert.That(GSpmmHarness.Bits(yb), Is.EqualTo(GSpmmHarness.Bits(ya)), $"{c}: y");
        if (arga is not null)
        {
            Assert.That(GSpmmHarness.Bits(argb!), Is.EqualTo(GSpmmHarness.Bits(arga)), $"{c}: arg");
        }
    }

    [TestCase("molecules", IndexType.Int32, Message.UMulE, EdgeOperand.Full, ValType.F32)]
    [TestCase("powerlaw", IndexType.Int64, Message.UDivE, EdgeOperand.PerHead, ValType.F16)]
    [TestCase("emptyrows", IndexType.Int32, Message.CopyU, EdgeOperand.None, ValType.BF16)]
    [TestCase("hugerow", IndexType.Int64, Message.CopyE, EdgeOperand.Scalar, ValType.F32)]
    public void MultiIsBitwiseEqualToTheEmulatedCudaKernel(string graph, IndexType index, Message m, EdgeOperand mode, ValType t)
    {
        var c = new GSpmmCase(graph, index, m, mode, mode == EdgeOperand.PerHead ? 2 : 0, Reduce.Sum, 6, t, 72);
        long[][] Run(GraphDevice d)
        {
            using var run = new GSpmmRun(d, c);
            var outs = Enumerable.Range(0, 6).Select(_ => run.NewValues(run.Host.NumRows * c.Features)).ToArray();
            MessagePassing.SpMMMulti(run.Graph, run.Options, c.Features, m == Message.CopyE ? null : run.XBuf, run.EBuf,
                outs[0], outs[1], outs[2], outs[3], outs[4], outs[5]);
            return outs.Select(GSpmmHarness.Bits).ToArray();
        }

        long[][] want = Run(emulated!), got = Run(ilgpu!);
        string[] names = { "sum", "mean", "min", "max", "var", "std" };
        for (int k = 0; k < 6; k++)
        {
            Assert.That(got[k], Is.EqualTo(want[k]), $"{c}: {names[k]}");
        }
    }

    /// <summary>
    /// The multi-reducer backward (gk_spmm_multi_backward), bit for bit: equal by design, as each pass has one owner
    /// per element with the native operations in the native order. Pass 1 (one owner per (row, f)) refolds the row
    /// exactly as the multi forward (same fp32 sum, Welford and first-wins winners), then writes
    /// (gS + gMean/deg) + (2 gVar/deg + gStd/(deg std))·(m − mean) (+ gMin, + gMax at the winners) with the same
    /// operations in the same order (sqrt correctly rounded on both, no FMA on either); dX and dE are the mul
    /// reducer's passes over that workspace, already equal above. Values are dyadic (k/4), so there are many tied
    /// minima/maxima (the winner rule is exercised); "emptyrows" has empty rows, "duplicates" repeated edges,
    /// "noedges" E = 0 (no workspace, dX all zero). Every statistic alone occurs, and all six together.
    /// </summary>
    [TestCase("molecules", IndexType.Int32, Message.UMulE, EdgeOperand.Full, 5, ValType.F32, 63u)]
    [TestCase("emptyrows", IndexType.Int64, Message.CopyU, EdgeOperand.None, 4, ValType.F16, 63u)]
    [TestCase("duplicates", IndexType.Int32, Message.UDivE, EdgeOperand.Scalar, 3, ValType.BF16, 12u)]
    [TestCase("hugerow", IndexType.Int64, Message.UAddE, EdgeOperand.PerHead, 4, ValType.F32, 48u)]
    [TestCase("powerlaw", IndexType.Int32, Message.CopyE, EdgeOperand.Full, 6, ValType.F16, 3u)]
    [TestCase("emptyrows", IndexType.Int64, Message.USubE, EdgeOperand.Scalar, 7, ValType.BF16, 1u)]
    [TestCase("molecules-small", IndexType.Int64, Message.UMulE, EdgeOperand.PerHead, 4, ValType.F32, 2u)]
    [TestCase("duplicates", IndexType.Int64, Message.CopyU, EdgeOperand.None, 5, ValType.F32, 4u)]
    [TestCase("er", IndexType.Int32, Message.UAddE, EdgeOperand.Full, 3, ValType.BF16, 8u)]
    [TestCase("emptyrows", IndexType.Int32, Message.UMulE, EdgeOperand.Scalar, 4, ValType.F16, 16u)]
    [TestCase("powerlaw", IndexType.Int64, Message.UDivE, EdgeOperand.Full, 3, ValType.F32, 32u)]
    [TestCase("noedges", IndexType.Int64, Message.USubE, EdgeOperand.Scalar, 3, ValType.BF16, 63u)]
    public void MultiBackwardIsBitwiseEqualToTheEmulatedCudaKernels(string graph, IndexType index, Message m, EdgeOperand mode, int f,
        ValType t, uint stats)
    {
        int heads = mode == EdgeOperand.PerHead ? 2 : 0;
        // Reduce = Max in the case draws dyadic values (ties); the calls use the multi-reducer's options.
        var c = new GSpmmCase(graph, index, m, mode, heads, Reduce.Max, f, t, 75);
        var o = new SpMMOptions(m, Reduce.Sum, mode, heads);
        (long[]? Dx, long[]? De) Run(GraphDevice d)
        {
            using var run = new GSpmmRun(d, c);
            var rng = new GraphKernels.Tests.Support.SplitMix64(76);
            var g = new DeviceBuffer?[6];
            long n = run.Host.NumRows * f;
            for (int k = 0; k < 6; k++)
            {
                float[] h = Enumerable.Range(0, (int)Math.Max(1, n)).Select(_ => rng.NextInt(-8, 9) / 8f).ToArray();
                g[k] = ((stats >> k) & 1) != 0 ? run.Own(GSpmmHarness.Upload(d, t, h)) : null;
            }

            int width = GraphKernels.Tests.Oracle.GSpmmReference.EdgeWidth(mode, heads, f);
            DeviceBuffer? dx = m == Message.CopyE ? null : run.NewValues(run.Host.NumCols * f);
            DeviceBuffer? de = width == 0 ? null : run.NewValues(run.Host.Nnz * width);
            long bytes = MessagePassing.SpMMMultiBackwardWorkspaceBytes(run.Graph, o, f);
            DeviceBuffer? ws = bytes > 0 ? run.Own(d.Allocate<byte>(bytes)) : null;
            MessagePassing.SpMMMultiBackward(run.Graph, run.Plan, o, f, m == Message.CopyE ? null : run.XBuf, run.EBuf,
                g[0], g[1], g[2], g[3], g[4], g[5], dx, de, ws);
            d.Synchronize();
            return (dx is null ? null : GSpmmHarness.Bits(dx), de is null ? null : GSpmmHarness.Bits(de));
        }

        var (dxa, dea) = Run(emulated!);
        var (dxb, deb) = Run(ilgpu!);
        Assert.That(dxb, Is.EqualTo(dxa), "dX");
        Assert.That(deb, Is.EqualTo(dea), "dE");
    }

    /// <summary>gk_spmm_multi_backward's own refusals (made by the backend, not by C#) on ILGPU: same status and sentence as native.</summary>
    [Test]
    public void MultiBackwardRefusalsMatchTheNativeLibrary()
    {
        const int f = 4;
        var o = new SpMMOptions(Message.UMulE, Reduce.Sum, EdgeOperand.Full);
        var c = new GSpmmCase("er", IndexType.Int32, Message.UMulE, EdgeOperand.Full, 0, Reduce.Max, f, ValType.F32, 77);
        (GkStatus, string)[] Refusals(GraphDevice d)
        {
            using var run = new GSpmmRun(d, c);
            var dx = run.NewValues(run.Host.NumCols * f);
            var de = run.NewValues(run.Host.Nnz * f);
            using var small = d.Allocate<byte>(run.Host.Nnz * f * 4 - 4);
            using var ws = d.Allocate<byte>(run.Host.Nnz * f * 4);
            var list = new List<(GkStatus, string)>();
            void Expect(Action call)
            {
                var ex = Assert.Throws<GraphKernelsException>(() => call());
                list.Add((ex!.Status, ex.Message));
            }

            Expect(() => MessagePassing.SpMMMultiBackward(run.Graph, run.Plan, o, f, run.XBuf, run.EBuf, run.GYBuf, null, null, null, null, null, dx, de));
            Expect(() => MessagePassing.SpMMMultiBackward(run.Graph, run.Plan, o, f, run.XBuf, run.EBuf, run.GYBuf, null, null, null, null, null, dx, de, small));
            Expect(() => MessagePassing.SpMMMultiBackward(run.Graph, run.Plan, o, f, run.XBuf, run.EBuf, run.GYBuf, null, null, null, null, null, run.XBuf, de, ws));
            Expect(() => MessagePassing.SpMMMultiBackward(run.Graph, run.Plan, new SpMMOptions(Message.UMulE, Reduce.Max, EdgeOperand.Full), f, run.XBuf, run.EBuf,
                run.GYBuf, null, null, null, null, null, dx, de, ws));
            Expect(() => MessagePassing.SpMMMultiBackwardWorkspaceBytes(run.Graph, new SpMMOptions(Message.UMulE, Reduce.Sum, EdgeOperand.Full, 0, SpMMFlags.Chunked), f));
            return list.ToArray();
        }

        var want = Refusals(emulated!);
        Assert.That(Refusals(ilgpu!), Is.EqualTo(want));
        Assert.That(want[0].Item1, Is.EqualTo(GkStatus.Workspace));
        Assert.That(want[2].Item2, Does.Contain("grad_x overlaps x"));
    }

    [TestCase("powerlaw-big", IndexType.Int32, 16)]
    [TestCase("hub", IndexType.Int64, 0)]
    [TestCase("emptyrows", IndexType.Int32, 1)]
    [TestCase("norows", IndexType.Int64, 7)]
    [TestCase("noedges", IndexType.Int32, 3)]
    public void PlanBuffersAreBitwiseEqualToTheEmulatedBuild(string name, IndexType index, long chunk)
    {
        long[][] Build(GraphDevice d)
        {
            var g = GSpmmHarness.Graph(name);
            using var graph = GSpmmHarness.UploadGraph(d, g, index);
            using var plan = GraphPlan.Build(graph, chunk);
            // The written elements only (a buffer of 0 elements is allocated with 1, never written).
            long[] Head(DeviceBuffer b, long n) => GSpmmHarness.Bits(b).Take((int)n).ToArray();
            return new[]
            {
                Head(plan.Transpose.RowPtr, g.NumCols + 1), Head(plan.Transpose.ColIdx, g.Nnz), Head(plan.TransposePermutation, g.Nnz),
                Head(plan.InDegree, g.NumRows), Head(plan.OutDegree, g.NumCols), plan.RowItemPtr.ToArray(), Head(plan.ItemRow, plan.MaxItems),
                new[] { plan.Chunk, plan.MaxItems },
            };
        }

        long[][] want = Build(emulated!), got = Build(ilgpu!);
        string[] names = { "t_row_ptr", "t_col_idx", "perm", "in_degree", "out_degree", "row_item_ptr", "item_row", "chunk/max_items" };
        for (int k = 0; k < want.Length; k++)
        {
            Assert.That(got[k], Is.EqualTo(want[k]), $"{name}: {names[k]}");
        }
    }

    /// <summary>A user-written fused message is CUDA C for NVRTC: ILGPU refuses it naming the op and the backend.</summary>
    [Test]
    public void FusedMessageUserExpressionIsRefusedNamingOpAndBackend()
    {
        var ex = Assert.Throws<NotSupportedException>(() => FusedMessage.Create(ilgpu!, "src[f] * edge[0] + dst[f]", Reduce.Sum));
        Assert.That(ex!.Message, Does.Contain("FusedMessage.Create").And.Contain("ILGPU").And.Contain("NVRTC"));
        // An invalid expression is still reported as such (validation comes first, as on every device).
        Assert.Throws<FusedMessageException>(() => FusedMessage.Create(ilgpu!, "src[f] * weight", Reduce.Sum));
    }

    /// <summary>
    /// The built-in fused messages (gk_fused_message) on ILGPU, bit for bit against the emulated kernel (itself checked
    /// against the double oracle in FusedMessageEmulatedTests): one owner per element folding from 0 in CSR order with
    /// the same message formula and rule, so equal by design; widths 16 and 64 are the emulated fixed-width variants.
    /// </summary>
    [TestCase(FusedBuiltin.CopyU, Reduce.Sum, 5, IndexType.Int32)]
    [TestCase(FusedBuiltin.UMulE, Reduce.Max, 16, IndexType.Int64)]
    [TestCase(FusedBuiltin.UAddV, Reduce.Mean, 64, IndexType.Int32)]
    [TestCase(FusedBuiltin.UMulEFeat, Reduce.Min, 7, IndexType.Int64)]
    [TestCase(FusedBuiltin.UAddV, Reduce.Max, 3, IndexType.Int64)]
    [TestCase(FusedBuiltin.UMulEFeat, Reduce.Sum, 16, IndexType.Int32)]
    public void FusedBuiltinsAreBitwiseEqualToTheEmulatedKernel(FusedBuiltin builtin, Reduce r, int f, IndexType index)
    {
        var host = GSpmmHarness.Graph("emptyrows");
        var rng = new GraphKernels.Tests.Support.SplitMix64(74);
        float[] Fill(long n) => Enumerable.Range(0, (int)Math.Max(1, n)).Select(_ => rng.NextFloat(-1f, 1f)).ToArray();
        int width = builtin switch { FusedBuiltin.UMulE => 1, FusedBuiltin.UMulEFeat => f, _ => 0 };
        float[] src = Fill(host.NumCols * f), dst = Fill(host.NumRows * f), edge = Fill(host.Nnz * Math.Max(1, width));
        // A NaN source value: the NaN rule of max/min must agree too.
        src[3] = float.NaN;
        long[] Run(GraphDevice d)
        {
            using var g = GSpmmHarness.UploadGraph(d, host, index);
            using var xs = d.Upload<float>(src);
            using var xd = d.Upload<float>(dst);
            using var e = d.Upload<float>(edge);
            using var y = d.Upload<float>(Enumerable.Repeat(777f, (int)(host.NumRows * f)).ToArray());
            using var fm = FusedMessage.Create(d, builtin, r);
            fm.Run(g, f, xs, builtin == FusedBuiltin.UAddV ? xd : null, width > 0 ? e : null, width, y);
            return GSpmmHarness.Bits(y);
        }

        long[] want = Run(emulated!), got = Run(ilgpu!);
        Assert.That(got, Is.EqualTo(want));
        Assert.That(want, Does.Not.Contain(BitConverter.SingleToInt32Bits(777f)), "every element written");
    }

    /// <summary>gk_fused_message's refusal on ILGPU: y overlapping an input, same status and sentence as native.</summary>
    [Test]
    public void FusedBuiltinRefusesInPlace()
    {
        foreach (var d in new[] { emulated!, ilgpu! })
        {
            var host = GSpmmHarness.Graph("er");
            using var g = GSpmmHarness.UploadGraph(d, host, IndexType.Int32);
            using var x = d.Upload<float>(Enumerable.Repeat(1f, (int)(Math.Max(host.NumCols, host.NumRows) * 4)).ToArray());
            using var fm = FusedMessage.Create(d, FusedBuiltin.CopyU, Reduce.Sum);
            var ex = Assert.Throws<GraphKernelsException>(() => fm.Run(g, 4, x, null, null, 0, x));
            Assert.That(ex!.Status, Is.EqualTo(GkStatus.InvalidArgument));
            Assert.That(ex.Message, Does.Contain("gk_fused_message: y overlaps x_src; in-place fused message passing is not supported"), d.Kind.ToString());
        }
    }

    /// <summary>FusedMessage.SpMM on ILGPU falls back to MessagePassing.SpMM (returns false) with the same bits as the emulated fused kernel.</summary>
    [TestCase(Message.UMulE, Reduce.Max, 16)]
    [TestCase(Message.CopyU, Reduce.Mean, 64)]
    public void FusedSpmmFallsBackToSpmmOnIlgpu(Message m, Reduce r, int f)
    {
        var c = new GSpmmCase("powerlaw", IndexType.Int32, m, m == Message.UMulE ? EdgeOperand.Scalar : EdgeOperand.None, 0, r, f, ValType.F32, 73);
        long[] Run(GraphDevice d, bool expectFused)
        {
            using var run = new GSpmmRun(d, c);
            var y = (DeviceBuffer<float>)run.NewValues(run.Host.NumRows * f);
            bool fused = FusedMessage.SpMM(run.Graph, m, r, f, (DeviceBuffer<float>)run.XBuf, y, run.EBuf as DeviceBuffer<float>);
            Assert.That(fused, Is.EqualTo(expectFused), $"{d.Kind}: fused kernel ran");
            return GSpmmHarness.Bits(y);
        }

        Assert.That(Run(ilgpu!, false), Is.EqualTo(Run(emulated!, true)));
    }
}
