using GraphKernels.Ilgpu;
using GraphKernels.Tests.Quant;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.IlgpuBackend;

/// <summary>
/// EXACT's random projection on ILGPU's CPU accelerator against the emulated CUDA library, bit for bit
/// (whole output buffers, untouched padding included). Equal by design: both generate R's sign bits
/// from the same Philox4x32-10 stream (counter (e / 128, 0, 0x52505247, 0xFFFFFFFF), key seed), one
/// thread (CUDA: one lane) owns one output element and adds the n plain or negated inputs in ascending
/// index order in fp32, each addition rounded separately, then multiplies once by the same
/// fp32(1 / sqrt(K)); neither side contracts to FMA (RyuJIT does not; the emulated library is built for
/// baseline x86-64). The oracle checks (R bit for bit against QuantReference, double-precision error
/// bound, moments over seeds) run in QuantizationProjectionTests with the Ilgpu fixture.
/// Inputs include NaN, infinities, -0, subnormals and values whose sum overflows, so that the order
/// and the sign handling show in the bytes. Sizes are small (the CPU accelerator simulates threads).
/// </summary>
[TestFixture]
[Category("Ilgpu")]
[Category("Quantization")]
public sealed class IlgpuProjectionCrossBackendTests : CrossBackendFixture
{
    [TestCase(50, 128, 16, 130, 17, 0x5EEDul)]
    [TestCase(33, 37, 5, 37, 5, 0xFFFFFFFF00000001ul)]   // the key's high word
    [TestCase(9, 64, 100, 64, 101, 7ul)]                  // K > D
    [TestCase(3, 1000, 262, 1003, 262, 123456789ul)]      // D * K = 262,000: the whole sign buffer
    [TestCase(1, 1, 1, 1, 1, 0ul)]
    [TestCase(70, 33, 4, 40, 9, ulong.MaxValue)]
    public void ProjectAndUnprojectAreBitwiseEqualToTheEmulatedCudaKernels(int rows, int dim, int k, int ldX, int ldP, ulong seed)
    {
        var rng = new SplitMix64(seed ^ (ulong)(rows * 131 + dim));
        var x = new float[((long)(rows - 1) * ldX) + dim];
        for (long i = 0; i < x.Length; i++)
        {
            x[i] = (float)(QuantHarness.Gauss(rng) * Math.Pow(10, rng.NextInt(-4, 4)));
        }

        // Special values in a few rows: NaN, infinities (and both, giving NaN), -0 rows, subnormals, overflow.
        for (int r = 0; r < rows; r++)
        {
            long b = (long)r * ldX;
            switch (r % 7)
            {
                case 1: x[b + (r % dim)] = float.NaN; break;
                case 2: x[b] = float.PositiveInfinity; break;
                case 3: for (int d = 0; d < dim; d++) x[b + d] = -0.0f; break;
                case 4: for (int d = 0; d < dim; d++) x[b + d] = BitConverter.Int32BitsToSingle((d * 7919) + 1) * (d % 2 == 0 ? 1 : -1); break;
                case 5: for (int d = 0; d < dim; d++) x[b + d] = 3e38f * (d % 3 == 0 ? -1 : 1); break;
                case 6: x[b] = float.PositiveInfinity; x[b + dim - 1] = float.NegativeInfinity; break;
            }
        }

        var proj = new RandomProjection(dim, k, seed);
        uint[] pe = Project(emulated!, x, rows, proj, ldX, ldP, out uint[] xhe);
        uint[] pi = Project(ilgpu!, x, rows, proj, ldX, ldP, out uint[] xhi);
        Assert.That(QuantHarness.FirstMismatch(pi, pe), Is.EqualTo(-1), "projection bits (padding included): first differing index");
        Assert.That(QuantHarness.FirstMismatch(xhi, xhe), Is.EqualTo(-1), "reconstruction bits (padding included): first differing index");
        Assert.That(pe.Count(u => u == 0xBFC00000u), Is.EqualTo(rows > 1 ? (long)(rows - 1) * (ldP - k) : 0), "the padding sentinel -1.5 survives");
    }

    /// <summary>Ten projections and reconstructions of the same input on ILGPU give identical bytes.</summary>
    [Test]
    public void TenRunsAreBitwiseIdentical()
    {
        var rng = new SplitMix64(5);
        var x = new float[40 * 96];
        for (int i = 0; i < x.Length; i++) x[i] = (float)QuantHarness.Gauss(rng);
        var proj = RandomProjection.Exact(96, 0xABCul);
        uint[] p0 = Project(ilgpu!, x, 40, proj, 96, 12, out uint[] x0);
        for (int run = 1; run < 10; run++)
        {
            uint[] p = Project(ilgpu!, x, 40, proj, 96, 12, out uint[] xh);
            Assert.That(p, Is.EqualTo(p0), $"run {run} projection");
            Assert.That(xh, Is.EqualTo(x0), $"run {run} reconstruction");
        }
    }

    /// <summary>Rejected calls on ILGPU: the native library's status and sentence, outputs untouched.</summary>
    [Test]
    [Category("BadInput")]
    public void ChecksOfTheNativeLibraryGiveTheSameSentences()
    {
        foreach (var d in new[] { emulated!, ilgpu! })
        {
            using var x = d.Upload<float>(new float[40 * 16]);
            using var p = d.Allocate<float>(40 * 16);
            p.Fill(3f);
            var overlap = Assert.Throws<GraphKernelsException>(() => Quantization.Project(x, x, 40, new RandomProjection(16, 2, 1)));
            Assert.That(overlap!.Message, Is.EqualTo("gk_quant_project: p overlaps x"), d.Name);
            var overlapU = Assert.Throws<GraphKernelsException>(() => Quantization.Unproject(p, p, 40, new RandomProjection(2, 16, 1)));
            Assert.That(overlapU!.Message, Is.EqualTo("gk_quant_unproject: x_hat overlaps p"), d.Name);
            var big = Assert.Throws<GraphKernelsException>(() => Quantization.Unproject(x, p, 0, new RandomProjection(1024, 257, 1)));
            Assert.That(big!.Status, Is.EqualTo(GkStatus.Unsupported), d.Name);
            Assert.That(big.Message, Is.EqualTo("gk_quant_unproject: desc->dim * desc->proj_dim = 1024 * 257 exceeds 262144 (the sign bits of R are kept in 32 KB of shared memory)"), d.Name);
            var grid = Assert.Throws<GraphKernelsException>(() => Quantization.Project(x, p, 40, new RandomProjection(16, 2, 1) with { MaxGrid = -3 }));
            Assert.That(grid!.Message, Is.EqualTo("gk_quant_project: desc->max_grid = -3 is negative"), d.Name);
            Assert.That(p.ToArray(), Is.All.EqualTo(3f), d.Name);
            Quantization.Project(x, p, 0, new RandomProjection(16, 2, 1));   // zero rows: nothing to do, nothing written
            Assert.That(p.ToArray(), Is.All.EqualTo(3f), d.Name);
        }
    }

    private static uint[] Project(GraphDevice d, float[] x, int rows, RandomProjection proj, int ldX, int ldP, out uint[] reconstruction)
    {
        using var dx = d.Upload<float>(x);
        using var dp = d.Allocate<float>(((long)(rows - 1) * ldP) + proj.ProjDim);
        dp.Fill(-1.5f);
        Quantization.Project(dx, dp, rows, proj, ldX, ldP);
        using var dxh = d.Allocate<float>(((long)(rows - 1) * (ldX + 1)) + proj.Dim);
        dxh.Fill(-1.5f);
        Quantization.Unproject(dp, dxh, rows, proj, ldP, ldX + 1);
        reconstruction = dxh.ToArray().Select(BitConverter.SingleToUInt32Bits).ToArray();
        return dp.ToArray().Select(BitConverter.SingleToUInt32Bits).ToArray();
    }
}
