using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Spmm;

/// <summary>
/// GNN layers written in C# from the message-passing ops (sparse parts on the device through
/// MessagePassing.SpMM / SpMMBackward, dense parts on the host in double), forward and backward; every
/// parameter gradient is checked against central finite differences of the forward loss.
///
/// Models: a two-layer GCN (symmetric-normalised u_mul_e sum with self loops, tanh between layers), a
/// GraphSAGE-mean layer (self weight + mean of neighbours, tanh) and a SchNet-style continuous-filter
/// convolution (per-edge filters W_e = tanh(a·d_e + b) of [E, F], u_mul_e Full, sum), and a two-head GAT
/// layer (per-head SDDMM dot scores, edge softmax per head, g-SpMM u_mul_e with the PerHead [E, H] operand;
/// backward SpMMBackward → EdgeSoftmaxBackward → SddmmBackward with the GraphPlan overload). Each model is
/// one entry of <see cref="Models"/>.
///
/// Finite differences: central, in double on the host, of the loss of the fp32 device forward.
/// Tolerance: L = Σ C ⊙ output is formed in double from fp32 device results, so its rounding error is
/// about 2^-24·Σ|terms| ≲ 1e-5; with h = 1e-2 that is ≲ 1e-3 in the difference quotient, and the O(h²)
/// truncation (h²/6 times the third derivative) of these smooth layers is ≲ 1e-4: tanh, and for the GAT a
/// softmax of O(1) scores (weights ≤ 0.8, 2 features per head, so |s| ≲ 2 and the third derivatives of the
/// loss are O(10) at most). A smaller h would let the fp32 rounding (∝ 1/h) dominate, a larger one the
/// truncation (∝ h²). Each gradient must agree within 5e-3·(1 + |g|), the same for every model.
/// </summary>
[TestFixture(DeviceKind.Emulated, Category = "Emulation")]
[TestFixture(DeviceKind.Cuda, Category = "Gpu")]
[TestFixture(DeviceKind.Ilgpu, Category = "Ilgpu")]
[Category("MessagePassing")]
public sealed class GnnLayerTests
{
    private readonly DeviceKind kind;
    private GraphDevice? device;

    public GnnLayerTests(DeviceKind kind) => this.kind = kind;

    private GraphDevice Device => device ?? throw new InvalidOperationException("no device");

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenOrIgnore(kind);

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    /// <summary>A model: named parameter arrays, a loss, and the analytic gradients (same order as the parameters).</summary>
    private interface IModel : IDisposable
    {
        IReadOnlyList<(string Name, double[] Values)> Parameters { get; }

        double Loss();

        double[][] Gradients();
    }

    public static IEnumerable<string> Models() => new[] { "gcn2", "sage-mean", "gat-2head", "schnet-cfconv" };

    /// <remarks>On ILGPU every layer runs in full too (graph plan, g-SpMM and its backward, SDDMM, edge softmax).</remarks>
    [TestCaseSource(nameof(Models))]
    public void GradientsMatchFiniteDifferences(string model) => CheckModel(model);

    private void CheckModel(string model)
    {
        using IModel m = model switch
        {
            "gcn2" => new Gcn2(Device),
            "sage-mean" => new SageMean(Device),
            "gat-2head" => new Gat2Head(Device),
            "schnet-cfconv" => new SchNetCfConv(Device),
            _ => throw new ArgumentException(model),
        };
        if (m is Gat2Head gat)
        {
            // The device forward against an independent double-precision host forward (fp32 scores, softmax and
            // sums over ≲ 10 in-edges of O(1) values: a few 1e-7 relative per term, ≲ 1e-5 in a sum of ~100 terms).
            Assert.That(gat.Loss(), Is.EqualTo(gat.HostLoss()).Within(1e-4), "gat-2head: device forward vs host double forward");
        }

        double[][] grads = m.Gradients();
        const double h = 1e-2;
        var rng = new SplitMix64(17);
        for (int p = 0; p < m.Parameters.Count; p++)
        {
            var (name, values) = m.Parameters[p];
            int probes = Math.Min(values.Length, 8);
            for (int t = 0; t < probes; t++)
            {
                int i = values.Length <= 8 ? t : rng.NextInt(values.Length);
                double keep = values[i];
                values[i] = keep + h;
                double lp = m.Loss();
                values[i] = keep - h;
                double lm = m.Loss();
                values[i] = keep;
                double fd = (lp - lm) / (2 * h);
                Assert.That(grads[p][i], Is.EqualTo(fd).Within(5e-3 * (1 + Math.Abs(fd))), $"{model}: dL/d{name}[{i}]");
            }
        }
    }

    // ---------------------------------------------------------------- host dense helpers -------

    private static double[] Rand(SplitMix64 rng, int n, double scale) =>
        Enumerable.Range(0, n).Select(_ => (rng.NextDouble() * 2 - 1) * scale).ToArray();

    /// <summary>C[r, c] = Σ_k A[r, k] B[k, c] (transposes by flag).</summary>
    private static double[] MatMul(double[] a, int rows, int inner, double[] b, int cols, bool ta = false, bool tb = false)
    {
        var c = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < cols; j++)
            {
                double s = 0;
                for (int k = 0; k < inner; k++)
                {
                    s += (ta ? a[k * rows + r] : a[r * inner + k]) * (tb ? b[j * inner + k] : b[k * cols + j]);
                }

                c[r * cols + j] = s;
            }
        }

        return c;
    }

    private static float[] F32(double[] a) => Array.ConvertAll(a, v => (float)v);

    private static double[] D(DeviceBuffer<float> b) => Array.ConvertAll(b.ToArray(), v => (double)v);

    /// <summary>The device side of a model: one graph, its plan, scratch buffers by size.</summary>
    private abstract class DeviceModel : IModel
    {
        private readonly List<IDisposable> owned = new();

        protected DeviceModel(GraphDevice device, HostCsr host)
        {
            Device = device;
            Host = host;
            Graph = Own(GSpmmHarness.UploadGraph(device, host, IndexType.Int32));
            Plan = Own(GraphPlan.Build(Graph));
        }

        protected GraphDevice Device { get; }
        protected HostCsr Host { get; }
        protected CsrGraph Graph { get; }
        protected GraphPlan Plan { get; }
        protected int N => (int)Host.NumRows;
        protected int E => (int)Host.Nnz;

        public abstract IReadOnlyList<(string Name, double[] Values)> Parameters { get; }

        public abstract double Loss();

        public abstract double[][] Gradients();

        protected T Own<T>(T d) where T : IDisposable
        {
            owned.Add(d);
            return d;
        }

        /// <summary>y = SpMM(x, edge) on the device (fp32), returned in double.</summary>
        protected double[] SpMM(in SpMMOptions o, int f, double[] x, double[]? edge)
        {
            using var xb = Device.Upload<float>(F32(x));
            using var eb = edge is null ? null : Device.Upload<float>(F32(edge));
            using var yb = Device.Allocate<float>(Math.Max(1, (long)N * f));
            MessagePassing.SpMM(Graph, o, f, xb, eb, yb);
            Device.Synchronize();
            return D(yb).Take(N * f).ToArray();
        }

        /// <summary>(dX, dE) of SpMM for upstream gy.</summary>
        protected (double[] Dx, double[]? De) SpMMBackward(in SpMMOptions o, int f, double[] x, double[]? edge, double[] gy)
        {
            int width = o.EdgeOperand switch { EdgeOperand.Scalar => 1, EdgeOperand.PerHead => (int)o.Heads, _ => f };
            using var xb = Device.Upload<float>(F32(x));
            using var eb = edge is null ? null : Device.Upload<float>(F32(edge));
            using var gyb = Device.Upload<float>(F32(gy));
            using var dx = Device.Allocate<float>(Math.Max(1, (long)Host.NumCols * f));
            using var de = edge is null ? null : Device.Allocate<float>(Math.Max(1, (long)E * width));
            MessagePassing.SpMMBackward(Graph, Plan, o, f, xb, eb, null, gyb, dx, de);
            Device.Synchronize();
            return (D(dx).Take((int)Host.NumCols * f).ToArray(), de is null ? null : D(de).Take(E * width).ToArray());
        }

        public void Dispose()
        {
            for (int i = owned.Count - 1; i >= 0; i--) owned[i].Dispose();
        }
    }

    /// <summary>The small molecular batch with a self loop added to every node (GCN's A + I).</summary>
    private static HostCsr WithSelfLoops(HostCsr g)
    {
        var rows = new List<List<long>>();
        for (long v = 0; v < g.NumRows; v++)
        {
            var r = new List<long> { v };
            for (long p = g.RowPtr[v]; p < g.RowPtr[v + 1]; p++) r.Add(g.ColIdx[p]);
            rows.Add(r);
        }

        return HostCsr.FromRows(g.Name + "+I", g.NumCols, rows);
    }

    /// <summary>Two-layer GCN: H1 = Â (X W1), A1 = tanh(H1), H2 = Â (A1 W2), L = Σ C ⊙ H2; Â = D^-½ (A + I) D^-½.</summary>
    private sealed class Gcn2 : DeviceModel
    {
        private const int Fin = 3, Fh = 4, Fo = 2;
        private readonly double[] x, w1, w2, c, norm;
        private readonly SpMMOptions opt = new(Message.UMulE, Reduce.Sum, EdgeOperand.Scalar);

        public Gcn2(GraphDevice d) : base(d, WithSelfLoops(GSpmmHarness.Graph("molecules-small")))
        {
            var rng = new SplitMix64(1);
            x = Rand(rng, N * Fin, 1);
            w1 = Rand(rng, Fin * Fh, 0.8);
            w2 = Rand(rng, Fh * Fo, 0.8);
            c = Rand(rng, N * Fo, 1);
            norm = new double[E];
            for (long v = 0; v < N; v++)
            {
                for (long p = Host.RowPtr[v]; p < Host.RowPtr[v + 1]; p++)
                {
                    norm[p] = 1 / Math.Sqrt(Host.Degree(v) * Host.Degree(Host.ColIdx[p]));
                }
            }
        }

        public override IReadOnlyList<(string Name, double[] Values)> Parameters => new[] { ("W1", w1), ("W2", w2), ("X", x), ("norm", norm) };

        private (double[] Z1, double[] A1, double[] Z2, double[] H2) Forward()
        {
            double[] z1 = MatMul(x, N, Fin, w1, Fh);
            double[] a1 = SpMM(opt, Fh, z1, norm).Select(Math.Tanh).ToArray();
            double[] z2 = MatMul(a1, N, Fh, w2, Fo);
            return (z1, a1, z2, SpMM(opt, Fo, z2, norm));
        }

        public override double Loss() => Forward().H2.Zip(c, (a, b) => a * b).Sum();

        public override double[][] Gradients()
        {
            var (z1, a1, z2, _) = Forward();
            var (gz2, gn2) = SpMMBackward(opt, Fo, z2, norm, c);
            double[] gw2 = MatMul(a1, Fh, N, gz2, Fo, ta: true);
            double[] ga1 = MatMul(gz2, N, Fo, w2, Fh, tb: true);
            double[] gh1 = ga1.Select((g, i) => g * (1 - a1[i] * a1[i])).ToArray();
            var (gz1, gn1) = SpMMBackward(opt, Fh, z1, norm, gh1);
            double[] gw1 = MatMul(x, Fin, N, gz1, Fh, ta: true);
            double[] gx = MatMul(gz1, N, Fh, w1, Fin, tb: true);
            return new[] { gw1, gw2, gx, gn1!.Zip(gn2!, (a, b) => a + b).ToArray() };
        }
    }

    /// <summary>GraphSAGE-mean: H = X Ws + mean_{u ∈ N(v)} (X Wn)[u], L = Σ C ⊙ tanh(H).</summary>
    private sealed class SageMean : DeviceModel
    {
        private const int Fin = 3, Fo = 4;
        private readonly double[] x, ws, wn, c;
        private readonly SpMMOptions opt = new(Message.CopyU, Reduce.Mean);

        public SageMean(GraphDevice d) : base(d, GSpmmHarness.Graph("molecules-small"))
        {
            var rng = new SplitMix64(2);
            x = Rand(rng, N * Fin, 1);
            ws = Rand(rng, Fin * Fo, 0.8);
            wn = Rand(rng, Fin * Fo, 0.8);
            c = Rand(rng, N * Fo, 1);
        }

        public override IReadOnlyList<(string Name, double[] Values)> Parameters => new[] { ("Ws", ws), ("Wn", wn), ("X", x) };

        private double[] Act()
        {
            double[] self = MatMul(x, N, Fin, ws, Fo);
            double[] agg = SpMM(opt, Fo, MatMul(x, N, Fin, wn, Fo), null);
            return self.Zip(agg, (a, b) => Math.Tanh(a + b)).ToArray();
        }

        public override double Loss() => Act().Zip(c, (a, b) => a * b).Sum();

        public override double[][] Gradients()
        {
            double[] a = Act();
            double[] gh = c.Select((g, i) => g * (1 - a[i] * a[i])).ToArray();
            double[] gws = MatMul(x, Fin, N, gh, Fo, ta: true);
            var (gz, _) = SpMMBackward(opt, Fo, MatMul(x, N, Fin, wn, Fo), null, gh);
            double[] gwn = MatMul(x, Fin, N, gz, Fo, ta: true);
            double[] gx1 = MatMul(gh, N, Fo, ws, Fin, tb: true);
            double[] gx2 = MatMul(gz, N, Fo, wn, Fin, tb: true);
            return new[] { gws, gwn, gx1.Zip(gx2, (p, q) => p + q).ToArray() };
        }
    }

    /// <summary>
    /// Two-head GAT: Q = X Wq, K = X Wk, V = X Wv ([N, F], F = H·Dh, head h owns features [h·Dh, (h+1)·Dh));
    /// s[e, h] = Q[v, h]·K[u, h] (SDDMM dot, v = destination, u = source, plain scores as the single-head
    /// edge-ops GAT test); α = edge softmax of s over each destination row, per head; Y[v, h·Dh + j] =
    /// Σ_e α[e, h] V[u, h·Dh + j] (g-SpMM u_mul_e sum, PerHead [E, H] operand); L = Σ C ⊙ Y.
    /// Backward on the device: SpMMBackward → (dV, dα), EdgeSoftmaxBackward → ds, SddmmBackward (plan
    /// overload) → (dQ, dK, the source one over the plan's transpose); the dense products on the host.
    /// </summary>
    private sealed class Gat2Head : DeviceModel
    {
        private const int Fin = 3, H = 2, Dh = 2, F = H * Dh;
        private readonly double[] x, wq, wk, wv, c;
        private readonly SpMMOptions opt = new(Message.UMulE, Reduce.Sum, EdgeOperand.PerHead, heads: H);

        public Gat2Head(GraphDevice d) : base(d, GSpmmHarness.Graph("molecules-small"))
        {
            var rng = new SplitMix64(4);
            x = Rand(rng, N * Fin, 1);
            wq = Rand(rng, Fin * F, 0.8);
            wk = Rand(rng, Fin * F, 0.8);
            wv = Rand(rng, Fin * F, 0.8);
            c = Rand(rng, N * F, 1);
        }

        public override IReadOnlyList<(string Name, double[] Values)> Parameters => new[] { ("Wq", wq), ("Wk", wk), ("Wv", wv), ("X", x) };

        /// <summary>Q, K, V on the host; α [E, H] from the device (SDDMM dot per head, edge softmax).</summary>
        private (double[] Q, double[] K, double[] V, double[] Alpha) Attention()
        {
            double[] q = MatMul(x, N, Fin, wq, F), k = MatMul(x, N, Fin, wk, F), v = MatMul(x, N, Fin, wv, F);
            using var qb = Device.Upload<float>(F32(q));
            using var kb = Device.Upload<float>(F32(k));
            using var sb = Device.Allocate<float>(Math.Max(1, (long)E * H));
            using var ab = Device.Allocate<float>(Math.Max(1, (long)E * H));
            MessagePassing.Sddmm(Graph, SddmmOp.Dot, F, H, EdgeTarget.Destination, qb, EdgeTarget.Source, kb, sb);
            MessagePassing.EdgeSoftmax(Graph, H, sb, ab);
            Device.Synchronize();
            return (q, k, v, D(ab).Take(E * H).ToArray());
        }

        public override double Loss()
        {
            var (_, _, v, alpha) = Attention();
            return SpMM(opt, F, v, alpha).Zip(c, (p, r) => p * r).Sum();
        }

        /// <summary>The same loss entirely in double on the host (independent of the device ops).</summary>
        public double HostLoss()
        {
            double[] q = MatMul(x, N, Fin, wq, F), k = MatMul(x, N, Fin, wk, F), v = MatMul(x, N, Fin, wv, F);
            double l = 0;
            for (int r = 0; r < N; r++)
            {
                int p0 = (int)Host.RowPtr[r], p1 = (int)Host.RowPtr[r + 1];
                for (int h = 0; h < H; h++)
                {
                    var s = new double[p1 - p0];
                    for (int p = p0; p < p1; p++)
                    {
                        long u = Host.ColIdx[p];
                        for (int j = 0; j < Dh; j++) s[p - p0] += q[r * F + h * Dh + j] * k[u * F + h * Dh + j];
                    }

                    double m = s.Length == 0 ? 0 : s.Max();
                    double z = s.Sum(t => Math.Exp(t - m));
                    for (int p = p0; p < p1; p++)
                    {
                        double a = Math.Exp(s[p - p0] - m) / z;
                        long u = Host.ColIdx[p];
                        for (int j = 0; j < Dh; j++) l += c[r * F + h * Dh + j] * a * v[u * F + h * Dh + j];
                    }
                }
            }

            return l;
        }

        public override double[][] Gradients()
        {
            var (q, k, v, alpha) = Attention();
            var (gv, galpha) = SpMMBackward(opt, F, v, alpha, c);
            using var ab = Device.Upload<float>(F32(alpha));
            using var gab = Device.Upload<float>(F32(galpha!));
            using var gsb = Device.Allocate<float>(Math.Max(1, (long)E * H));
            using var qb = Device.Upload<float>(F32(q));
            using var kb = Device.Upload<float>(F32(k));
            using var gqb = Device.Allocate<float>((long)N * F);
            using var gkb = Device.Allocate<float>((long)N * F);
            MessagePassing.EdgeSoftmaxBackward(Graph, H, ab, gab, gsb);
            MessagePassing.SddmmBackward(Graph, Plan, SddmmOp.Dot, F, H, EdgeTarget.Destination, qb, EdgeTarget.Source, kb, gsb, gqb, gkb);
            Device.Synchronize();
            double[] gq = D(gqb), gk = D(gkb);
            double[] gx = MatMul(gq, N, F, wq, Fin, tb: true);
            double[] gxk = MatMul(gk, N, F, wk, Fin, tb: true);
            double[] gxv = MatMul(gv, N, F, wv, Fin, tb: true);
            for (int i = 0; i < gx.Length; i++) gx[i] += gxk[i] + gxv[i];
            return new[]
            {
                MatMul(x, Fin, N, gq, F, ta: true), MatMul(x, Fin, N, gk, F, ta: true), MatMul(x, Fin, N, gv, F, ta: true), gx,
            };
        }
    }

    /// <summary>SchNet continuous-filter convolution: W_e = tanh(a ⊙ d_e + b) [E, F]; Y = Σ_e X[u] ⊙ W_e; L = Σ C ⊙ Y.</summary>
    private sealed class SchNetCfConv : DeviceModel
    {
        private const int F = 5;
        private readonly double[] x, a, b, dist, c;
        private readonly SpMMOptions opt = new(Message.UMulE, Reduce.Sum, EdgeOperand.Full);

        public SchNetCfConv(GraphDevice d) : base(d, GSpmmHarness.Graph("molecules-small"))
        {
            var rng = new SplitMix64(3);
            x = Rand(rng, N * F, 1);
            a = Rand(rng, F, 1);
            b = Rand(rng, F, 0.5);
            dist = Enumerable.Range(0, E).Select(_ => 0.8 + rng.NextDouble() * 2).ToArray();
            c = Rand(rng, N * F, 1);
        }

        public override IReadOnlyList<(string Name, double[] Values)> Parameters => new[] { ("a", a), ("b", b), ("X", x), ("dist", dist) };

        private double[] Filters()
        {
            var w = new double[E * F];
            for (int e = 0; e < E; e++)
            {
                for (int k = 0; k < F; k++) w[e * F + k] = Math.Tanh(a[k] * dist[e] + b[k]);
            }

            return w;
        }

        public override double Loss() => SpMM(opt, F, x, Filters()).Zip(c, (p, q) => p * q).Sum();

        public override double[][] Gradients()
        {
            double[] w = Filters();
            var (gx, gw) = SpMMBackward(opt, F, x, w, c);
            var ga = new double[F];
            var gb = new double[F];
            var gd = new double[E];
            for (int e = 0; e < E; e++)
            {
                for (int k = 0; k < F; k++)
                {
                    double g = gw![e * F + k] * (1 - w[e * F + k] * w[e * F + k]);
                    ga[k] += g * dist[e];
                    gb[k] += g;
                    gd[e] += g * a[k];
                }
            }

            return new[] { ga, gb, gx, gd };
        }
    }
}
