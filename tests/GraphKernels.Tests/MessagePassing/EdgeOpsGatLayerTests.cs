using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Oracle;
using GraphKernels.Tests.Spmm;
using GraphKernels.Tests.Support;
using static GraphKernels.Tests.EdgeOps.EdgeTensors;

namespace GraphKernels.Tests.EdgeOps;

/// <summary>
/// A single-head GAT-style attention layer written only from the public ops, forward and backward, checked by finite
/// differences: s[e] = q[u]·k[v] (SDDMM dot), a = edge softmax(s), Y[v] = Σ_e a[e] x[u] (SpMM u_mul_e sum), L = Σ W ⊙ Y.
/// Backward: dA = SDDMM dot(dY[v], x[u]); dX = Σ_e a[e] dY[v] = the lhs gradient of SDDMM dot(x_src, dY_dst) with
/// grad_out = a (over the transpose, no atomics); dS = edge-softmax backward; dQ, dK = SDDMM dot backward.
/// The finite differences are of a double-precision host forward (h = 1e-5; tolerance 1e-4 relative + 2e-5 absolute:
/// fp32 forward/backward on small values).
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[TestFixture(DeviceKind.Ilgpu, Category = "Ilgpu")]
[Category("MessagePassing")]
public sealed class EdgeOpsGatLayerTests
{
    private readonly DeviceKind kind;
    private GraphDevice? device;

    public EdgeOpsGatLayerTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    [TestCase(IndexType.Int32)]
    [TestCase(IndexType.Int64)]
    public void GatLayerGradientsMatchFiniteDifferences(IndexType index)
    {
        HostCsr g = EdgeGraphs.MolecularBatch(3, 3, 6, seed: 901);
        const int f = 3;
        long n = g.NumRows;
        var rng = new SplitMix64(902);
        var q = Random(rng, Elem.F32, n * f, -1, 1);
        var k = Random(rng, Elem.F32, n * f, -1, 1);
        var x = Random(rng, Elem.F32, n * f, -1, 1);
        var w = Random(rng, Elem.F32, n * f, -1, 1);
        var (tg, perm) = EdgeOpsReference.Transpose(g);

        using var graph = SpmmRunner.UploadGraph(Device, g, index);
        using var tgraph = SpmmRunner.UploadGraph(Device, tg, index);
        using var dperm = UploadIndex(Device, index, perm);
        using var dq = (DeviceBuffer<float>)Upload(Device, Elem.F32, q);
        using var dk = (DeviceBuffer<float>)Upload(Device, Elem.F32, k);
        using var dx = (DeviceBuffer<float>)Upload(Device, Elem.F32, x);
        using var dW = (DeviceBuffer<float>)Upload(Device, Elem.F32, w);
        using var s = Device.Allocate<float>(g.Nnz);
        using var a = Device.Allocate<float>(g.Nnz);
        using var y = Device.Allocate<float>(n * f);
        using var dA = Device.Allocate<float>(g.Nnz);
        using var dS = Device.Allocate<float>(g.Nnz);
        using var gq = Device.Allocate<float>(n * f);
        using var gk = Device.Allocate<float>(n * f);
        using var gx = Device.Allocate<float>(n * f);

        GraphKernels.MessagePassing.Sddmm(graph, SddmmOp.Dot, f, 1, EdgeTarget.Source, dq, EdgeTarget.Destination, dk, s);
        GraphKernels.MessagePassing.EdgeSoftmax(graph, 1, s, a);
        GraphKernels.MessagePassing.SpMM(graph, Message.UMulE, Reduce.Sum, f, dx, y, edgeWeight: a);
        // dY = W.
        GraphKernels.MessagePassing.Sddmm(graph, SddmmOp.Dot, f, 1, EdgeTarget.Destination, dW, EdgeTarget.Source, dx, dA);
        GraphKernels.MessagePassing.SddmmBackward(graph, SddmmOp.Dot, f, 1, EdgeTarget.Source, dx, EdgeTarget.Destination, dW, a, gx, null, tgraph, dperm);
        GraphKernels.MessagePassing.EdgeSoftmaxBackward(graph, 1, a, dA, dS);
        GraphKernels.MessagePassing.SddmmBackward(graph, SddmmOp.Dot, f, 1, EdgeTarget.Source, dq, EdgeTarget.Destination, dk, dS, gq, gk, tgraph, dperm);

        double Loss()
        {
            var (sc, _) = EdgeOpsReference.Sddmm(g, SddmmOp.Dot, f, 1, EdgeTarget.Source, q, EdgeTarget.Destination, k);
            var (al, _, _) = EdgeOpsReference.EdgeSoftmax(g, 1, sc);
            double l = 0;
            for (long v = 0; v < n; v++)
            {
                for (long e = g.RowPtr[v]; e < g.RowPtr[v + 1]; e++)
                {
                    for (int c = 0; c < f; c++) l += w[(v * f) + c] * al[e] * x[(g.ColIdx[e] * f) + c];
                }
            }

            return l;
        }

        // The forward itself agrees with the host (fp32 vs double).
        double lossDevice = 0;
        var yh = y.ToArray();
        for (int i = 0; i < yh.Length; i++) lossDevice += w[i] * yh[i];
        Assert.That(lossDevice, Is.EqualTo(Loss()).Within(1e-4));

        const double step = 1e-5;
        foreach (var (name, param, grad) in new[] { ("dQ", q, gq.ToArray()), ("dK", k, gk.ToArray()), ("dX", x, gx.ToArray()) })
        {
            for (int i = 0; i < param.Length; i++)
            {
                double keep = param[i];
                param[i] = keep + step;
                double up = Loss();
                param[i] = keep - step;
                double down = Loss();
                param[i] = keep;
                double fd = (up - down) / (2 * step);
                Assert.That(grad[i], Is.EqualTo(fd).Within((1e-4 * Math.Abs(fd)) + 2e-5), $"{name}[{i}]");
            }
        }
    }
}
