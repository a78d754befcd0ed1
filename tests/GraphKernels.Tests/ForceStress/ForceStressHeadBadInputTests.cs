using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.ForceStressTests;

/// <summary>
/// Bad input to the fused readout head (docs/reliability.md §5, "Force/stress readout head"): managed checks
/// (ArgumentException naming the parameter), native refusals reached through the C# API (overlaps), and in
/// every refused call the outputs keep their bits. NULL / misaligned pointers, channels &lt; 1 and ld &lt; C at
/// the C ABI are covered by tests/native/test_force_stress_abi.cpp.
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[TestFixture(DeviceKind.Ilgpu, Category = "Ilgpu")]
[Category("BadInput")]
[Category("ForceStress")]
[Parallelizable(ParallelScope.All)]
public sealed class ForceStressHeadBadInputTests
{
    private const int C = 4;
    private readonly DeviceKind kind;
    private GraphDevice? device;

    public ForceStressHeadBadInputTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    private static readonly ForceStressOptions Direct = new() { Mode = ForceStressMode.Direct };

    private static void AssertUntouched(DeviceBuffer<float> buffer, float[] before, string name)
    {
        buffer.Device.Synchronize();
        Assert.That(buffer.ToArray().Select(BitConverter.SingleToInt32Bits), Is.EqualTo(before.Select(BitConverter.SingleToInt32Bits)), $"{name} was written by a refused call");
    }

    private DeviceBuffer<float> Filled(long count, float value) => Device.Upload<float>(Enumerable.Repeat(value, checked((int)count)).ToArray());

    [Test]
    public void HeadDescriptorIsCheckedWhenBuilt()
    {
        using var h = Device.Allocate<float>(64);
        using var w = Device.Allocate<float>(C);
        using var bias0 = Device.Allocate<float>(0);
        var ex1 = Assert.Throws<ArgumentOutOfRangeException>(() => _ = new ForceStressHead(h, w, 0));
        Assert.That(ex1!.ParamName, Is.EqualTo("channels"));
        Assert.That(ex1.Message, Does.Contain("channels = 0"));
        var ex2 = Assert.Throws<ArgumentOutOfRangeException>(() => _ = new ForceStressHead(h, w, C, null, C - 1));
        Assert.That(ex2!.ParamName, Is.EqualTo("leadingDimension"));
        Assert.That(ex2.Message, Does.Contain($"leadingDimension = {C - 1} is less than channels = {C}"));
        var ex3 = Assert.Throws<ArgumentNullException>(() => _ = new ForceStressHead(h, null!, C));
        Assert.That(ex3!.ParamName, Is.EqualTo("weight"));
        var ex4 = Assert.Throws<ArgumentException>(() => _ = new ForceStressHead(h, w, C + 1));
        Assert.That(ex4!.ParamName, Is.EqualTo("weight"));
        var ex5 = Assert.Throws<ArgumentException>(() => _ = new ForceStressHead(h, w, C, bias0));
        Assert.That(ex5!.ParamName, Is.EqualTo("bias"));
    }

    public static IEnumerable<TestCaseData> ReadoutCases()
    {
        yield return new TestCaseData("features too short", "head").SetArgDisplayNames("features too short");
        yield return new TestCaseData("conservative mode", "options").SetArgDisplayNames("conservative options");
        yield return new TestCaseData("forces overlaps features", null).SetArgDisplayNames("forces overlaps head->features");
    }

    [TestCaseSource(nameof(ReadoutCases))]
    public void BadHeadReadoutIsRejectedAndOutputsAreUntouched(string what, string? param)
    {
        var b = AtomicBatch.MolecularBatch(3, 2.5, seed: 4);
        using var run = new ForceStressRunner(Device, b);
        int e = b.NumEdges;
        using var forces = Filled(Math.Max(3L * b.NumAtoms, (long)e * C), 1.5f);
        using var stress = Filled(9L * b.NumGraphs, 2.5f);
        using var feat = Filled(what == "features too short" ? ((long)e * C) - 1 : (long)e * C, 0.25f);
        using var w = Filled(C, 0.5f);
        var head = new ForceStressHead(what == "forces overlaps features" ? forces : feat, w, C);
        var o = what == "conservative mode" ? default : Direct;
        var f0 = forces.ToArray();
        var s0 = stress.ToArray();
        var geometry = run.Geometry(GeometrySource.EdgeVectors);
        if (param is null)
        {
            var ex = Assert.Throws<GraphKernelsException>(() => ForceStress.Readout(run.Topology, geometry, head, forces, stress, o));
            Assert.That(ex!.Status, Is.EqualTo(GkStatus.InvalidArgument));
            Assert.That(ex.Message, Does.Contain("gk_force_stress_readout_head: forces overlaps head->features"));
        }
        else
        {
            var ex = Assert.Throws<ArgumentException>(() => ForceStress.Readout(run.Topology, geometry, head, forces, stress, o));
            Assert.That(ex!.ParamName, Is.EqualTo(param));
        }

        AssertUntouched(forces, f0, "forces");
        AssertUntouched(stress, s0, "stress");
    }

    public static IEnumerable<TestCaseData> BackwardCases()
    {
        yield return new TestCaseData("grad ld < C", "gradients").SetArgDisplayNames("gradients.FeaturesLeadingDimension < C");
        yield return new TestCaseData("fast", "options").SetArgDisplayNames("fast options");
        yield return new TestCaseData("grad features too short", "gradients").SetArgDisplayNames("gradients.Features too short");
        yield return new TestCaseData("workspace too small", null).SetArgDisplayNames("workspace too small");
        yield return new TestCaseData("grad features overlaps features", null).SetArgDisplayNames("grad_features overlaps head->features");
        yield return new TestCaseData("grad weight overlaps grad scalar", null).SetArgDisplayNames("grad_weight overlaps grad_scalar");
    }

    [TestCaseSource(nameof(BackwardCases))]
    public void BadHeadBackwardIsRejectedAndOutputsAreUntouched(string what, string? param)
    {
        var b = AtomicBatch.MolecularBatch(3, 2.5, seed: 4);
        using var run = new ForceStressRunner(Device, b);
        int e = b.NumEdges;
        using var feat = Filled((long)e * C, 0.25f);
        using var w = Filled(C, 0.5f);
        var head = new ForceStressHead(feat, w, C);
        using var gf = Filled(3L * b.NumAtoms, 1f);
        using var dS = Filled(e + C, 3.5f);
        using var dH = Filled(what == "grad features too short" ? ((long)e * C) - 1 : (long)e * C, 4.5f);
        using var dW = Filled(C, 5.5f);
        using var dB = Filled(1, 6.5f);
        var grads = new ForceStressHeadGradients
        {
            Scalar = dS,
            Features = what == "grad features overlaps features" ? feat : dH,
            FeaturesLeadingDimension = what == "grad ld < C" ? C - 1 : 0,
            Weight = what == "grad weight overlaps grad scalar" ? dS : dW,
            Bias = dB,
        };
        var o = what == "fast" ? Direct with { Fast = true } : Direct;
        using var ws = Device.Allocate<byte>(what == "workspace too small" ? 8 : Math.Max(8, ForceStress.HeadBackwardWorkspaceBytes(run.Topology, head)));
        var before = new[] { dS, dH, dW, dB, feat }.Select(x => x.ToArray()).ToArray();
        var geometry = run.Geometry(GeometrySource.EdgeVectors);
        if (param is null)
        {
            var ex = Assert.Throws<GraphKernelsException>(() => ForceStress.Backward(run.Topology, geometry, head, gf, null, grads, o, null, ws));
            string expected = what switch
            {
                "workspace too small" => "gk_force_stress_backward_head: workspace_bytes = 8, needs",
                "grad features overlaps features" => "grads->grad_features overlaps head->features",
                _ => "grads->grad_scalar overlaps grads->grad_weight",
            };
            Assert.That(ex!.Status, Is.EqualTo(what == "workspace too small" ? GkStatus.Workspace : GkStatus.InvalidArgument));
            Assert.That(ex.Message, Does.Contain(expected));
        }
        else
        {
            var ex = Assert.Throws<ArgumentException>(() => ForceStress.Backward(run.Topology, geometry, head, gf, null, grads, o, null, ws));
            Assert.That(ex!.ParamName, Is.EqualTo(param));
        }

        var names = new[] { "gradients.Scalar", "gradients.Features", "gradients.Weight", "gradients.Bias", "head.Features" };
        var bufs = new[] { dS, dH, dW, dB, feat };
        for (int i = 0; i < bufs.Length; i++) AssertUntouched(bufs[i], before[i], names[i]);
    }
}
