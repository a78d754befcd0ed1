using GraphKernels.Jit;
using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Jit;

/// <summary>
/// User-defined fused message functions through NVRTC without a device: the generated program
/// compiles for sm_80 and sm_90 with every index type and specialised width; NVRTC's errors are
/// mapped back to the user's line; the specialised built-in variants compile. On a GPU (category
/// Gpu) the kernels run against the double oracle.
/// </summary>
[TestFixture]
[Category("Jit")]
public sealed class FusedMessageJitTests
{
    private string _dir = null!;

    [SetUp]
    public void Cache() => _dir = Path.Combine(Path.GetTempPath(), "gk-fused-test-" + Guid.NewGuid().ToString("N"));

    [TearDown]
    public void Remove()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private JitCompiler Service()
    {
        if (!NvrtcCompiler.TryLoad(out var nvrtc, out string whyNot)) Assert.Ignore("NVRTC not found: " + whyNot);
        return new JitCompiler(nvrtc!, new KernelCache(_dir));
    }

    [TestCase(80, "src[f] * edge[0] + dst[f]", Reduce.Sum)]
    [TestCase(90, "src[f] * edge[0] + dst[f]", Reduce.Max)]
    [TestCase(90, "tanhf(src[f] - dst[f])\n  * expf(-edge[1] * edge[1])", Reduce.Mean)]
    public void UserExpressionCompilesForEveryIndexTypeAndWidth(int arch, string expression, Reduce reduce)
    {
        var jit = Service();
        JitImage image = FusedMessage.Compile(jit, expression, reduce, new JitTarget(arch, NvrtcOutput.Ptx));
        string ptx = System.Text.Encoding.UTF8.GetString(image.Image).TrimEnd('\0');
        var names = FusedMessage.NameExpressions("gk_user::Message", reduce);
        Assert.That(names, Has.Count.EqualTo(12));
        foreach (string name in names)
        {
            Assert.That(ptx, Does.Contain(".entry " + image.LoweredNames[name]), name);
        }
    }

    [Test]
    public void NvrtcErrorIsReportedAtTheUsersLine()
    {
        var jit = Service();
        // Valid for the validator (allowed tokens, balanced), invalid C: float + pointer on line 3.
        const string expression = "src[f] *\n  edge[0]\n  + dst";
        var ex = Assert.Throws<FusedMessageException>(() => FusedMessage.Compile(jit, expression, Reduce.Sum, new JitTarget(90, NvrtcOutput.Cubin)));
        TestContext.Out.WriteLine(ex!.Message);
        Assert.That(ex.Line, Is.EqualTo(3), ex.CompilerLog);
        Assert.That(ex.Message, Does.StartWith("message expression, line 3: NVRTC:"));
        Assert.That(ex.CompilerLog, Does.Contain("message(3)"));
    }

    [Test]
    public void ValidationRunsBeforeNvrtc()
    {
        var jit = Service();
        var ex = Assert.Throws<FusedMessageException>(() => FusedMessage.Compile(jit, "src[f];\n}", Reduce.Sum, new JitTarget(90, NvrtcOutput.Cubin)));
        Assert.That((ex!.Line, ex.Column), Is.EqualTo((1, 7)));
        Assert.That(jit.Compilations, Is.EqualTo(0));
    }

    /// <summary>Every specialised variant (F = 16 ... 256) of the built-ins used for SpMM on CUDA compiles for sm_80 and sm_90.</summary>
    [Test]
    public void SpecialisedBuiltinVariantsCompile(
        [Values(FusedBuiltin.CopyU, FusedBuiltin.UMulE)] FusedBuiltin builtin,
        [Values(Reduce.Sum, Reduce.Mean, Reduce.Max, Reduce.Min)] Reduce reduce,
        [Values(80, 90)] int arch)
    {
        var jit = Service();
        var image = FusedMessage.Compile(jit, FusedMessage.BuiltinExpression(builtin), reduce, new JitTarget(arch, NvrtcOutput.Cubin));
        foreach (string name in FusedMessage.NameExpressions(FusedMessage.KernelStruct(builtin), reduce))
        {
            Assert.That(image.LoweredNames.ContainsKey(name), Is.True, name);
            Assert.That(System.Text.Encoding.Latin1.GetString(image.Image), Does.Contain(image.LoweredNames[name]), name);
        }

        Assert.That(FusedMessage.SpecializedWidths, Is.EqualTo(new[] { 16, 32, 64, 128, 256 }));
    }
}

/// <summary>On a CUDA device: user-defined messages against the oracle, specialised widths against the generic kernel.</summary>
[TestFixture]
[Category("Gpu")]
[Category("Jit")]
public sealed class FusedMessageGpuTests
{
    [Test]
    public void UserDefinedMessageMatchesTheOracle([Values(Reduce.Sum, Reduce.Mean, Reduce.Max, Reduce.Min)] Reduce reduce, [Values] IndexType index, [Values(7, 32, 64, 256)] int features)
    {
        using GraphDevice device = TestDevices.OpenOrIgnore(DeviceKind.Cuda);
        var g = GraphGenerators.WithEmptyRows(300, 200, 0.1, 20, 11);
        var rng = new SplitMix64(3);
        float[] Fill(long n) => Enumerable.Range(0, (int)n).Select(_ => rng.NextFloat(-1f, 1f)).ToArray();
        float[] src = Fill(g.NumCols * features), dst = Fill(g.NumRows * features), edge = Fill(g.Nnz * 2);
        const string expression = "src[f] * edge[0] + dst[f] * edge[1]";
        using var fm = FusedMessage.Create(device, expression, reduce);
        Assert.That(fm.Builtin, Is.Null);
        using CsrGraph graph = index == IndexType.Int32
            ? CsrGraph.Upload(device, g.RowPtr32(), g.ColIdx32(), g.NumCols)
            : CsrGraph.Upload(device, g.RowPtr, g.ColIdx, g.NumCols);
        using var dSrc = device.Upload<float>(src);
        using var dDst = device.Upload<float>(dst);
        using var dEdge = device.Upload<float>(edge);
        using var y = device.Allocate<float>(g.NumRows * features);
        y.Fill(float.NaN);
        fm.Run(graph, features, dSrc, dDst, dEdge, 2, y);
        float[] got = y.ToArray();
        var (want, abs) = FusedMessageOracle.Run(g, features, src, dst, edge, 2,
            (s, d, e, f) => ((double)s[f] * e[0]) + ((double)d[f] * e[1]), reduce);
        for (long i = 0; i < got.Length; i++)
        {
            long deg = g.Degree(i / features);
            // fp32 message (three roundings; contraction to FMA allowed) plus one rounding per summed term.
            double tol = (deg + 4) * Math.Pow(2, -23) * Math.Max(abs[i], Math.Abs(want[i]));
            Assert.That(got[i], Is.EqualTo(want[i]).Within(tol), $"element {i}");
        }
    }

    [Test]
    public void SpecialisedWidthsMatchTheGenericKernel([Values(FusedBuiltin.CopyU, FusedBuiltin.UMulE)] FusedBuiltin builtin, [Values(Reduce.Sum, Reduce.Mean, Reduce.Max, Reduce.Min)] Reduce reduce,
        [Values(16, 32, 64, 128, 256)] int features)
    {
        using GraphDevice device = TestDevices.OpenOrIgnore(DeviceKind.Cuda);
        var g = GraphGenerators.WithEmptyRows(500, 300, 0.1, 30, 5);
        var rng = new SplitMix64(9);
        float[] src = Enumerable.Range(0, (int)(g.NumCols * (features + 1))).Select(_ => rng.NextFloat(-1f, 1f)).ToArray();
        float[] w = Enumerable.Range(0, (int)g.Nnz).Select(_ => rng.NextFloat(-1f, 1f)).ToArray();
        using var fm = FusedMessage.Create(device, builtin, reduce);
        using CsrGraph graph = CsrGraph.Upload(device, g.RowPtr32(), g.ColIdx32(), g.NumCols);
        using var dW = device.Upload<float>(w);
        DeviceBuffer<float>? edge = builtin == FusedBuiltin.UMulE ? dW : null;

        // Specialised: F = features. Generic: the same columns as a prefix of width features + 1,
        // computed by the F = 0 kernel, then compared on the shared columns bitwise (same order).
        using var x = device.Upload<float>(src.AsSpan(0, (int)(g.NumCols * features)));
        using var y = device.Allocate<float>(g.NumRows * features);
        fm.Run(graph, features, x, null, edge, 1, y);
        float[] special = y.ToArray();

        float[] wide = new float[g.NumCols * (features + 1)];
        for (long r = 0; r < g.NumCols; r++)
            for (int f = 0; f < features; f++) wide[r * (features + 1) + f] = src[r * features + f];
        using var xw = device.Upload<float>(wide);
        using var yw = device.Allocate<float>(g.NumRows * (features + 1));
        fm.Run(graph, features + 1, xw, null, edge, 1, yw);
        float[] generic = yw.ToArray();
        for (long r = 0; r < g.NumRows; r++)
            for (int f = 0; f < features; f++)
                Assert.That(BitConverter.SingleToInt32Bits(special[r * features + f]), Is.EqualTo(BitConverter.SingleToInt32Bits(generic[r * (features + 1) + f])), $"row {r} f {f}");
    }
    [Test]
    public void SpecialisedSpmmMatchesTheOracle([Values(Message.CopyU, Message.UMulE)] Message message, [Values(Reduce.Sum, Reduce.Mean, Reduce.Max, Reduce.Min)] Reduce reduce, [Values(16, 32, 64, 128, 256)] int features)
    {
        using GraphDevice device = TestDevices.OpenOrIgnore(DeviceKind.Cuda);
        var g = GraphGenerators.WithEmptyRows(400, 250, 0.1, 25, 8);
        var rng = new SplitMix64(4);
        float[] x = Enumerable.Range(0, (int)(g.NumCols * features)).Select(_ => rng.NextFloat(-1f, 1f)).ToArray();
        float[] w = Enumerable.Range(0, (int)g.Nnz).Select(_ => rng.NextFloat(-1f, 1f)).ToArray();
        using CsrGraph graph = CsrGraph.Upload(device, g.RowPtr32(), g.ColIdx32(), g.NumCols);
        using var dx = device.Upload<float>(x);
        using var dw = message == Message.UMulE ? device.Upload<float>(w) : null;
        using var y = device.Allocate<float>(g.NumRows * features);
        y.Fill(float.NaN);
        Assert.That(FusedMessage.SpMM(graph, message, reduce, features, dx, y, dw), Is.True, "a specialised width on CUDA runs the JIT kernel");
        float[] got = y.ToArray();
        var builtin = message == Message.UMulE ? FusedBuiltin.UMulE : FusedBuiltin.CopyU;
        var (want, abs) = FusedMessageOracle.Run(g, features, x, [], message == Message.UMulE ? w : [], message == Message.UMulE ? 1 : 0,
            FusedMessageOracle.For(builtin), reduce);
        for (long i = 0; i < got.Length; i++)
        {
            long deg = g.Degree(i / features);
            // fp32: one rounding per message and per summed term (FMA contraction only removes roundings).
            double tol = (deg + 2) * Math.Pow(2, -24) * Math.Max(abs[i], Math.Abs(want[i]));
            Assert.That(got[i], Is.EqualTo(want[i]).Within(tol), $"element {i}");
        }
    }
}
