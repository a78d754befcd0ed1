using System;
using System.Threading;
using ILGPU;
using ILGPU.Runtime;

namespace GraphKernels.Ilgpu;

/// <summary>Scalar arguments of the projection kernel.</summary>
internal struct ProjectionKernelParams
{
    public long Rows;
    public long LdIn;       // elements
    public long LdOut;
    public long Stride;     // threads launched
    public int K;           // proj_dim
    public int InCols;      // D (project) or K (unproject)
    public int OutCols;     // K (project) or D (unproject)
    public int Unproject;   // 1: out[r, d] = s * sum_c +-in[r, c]
    public float Scale;     // fp32(1 / sqrt(K))
}

/// <summary>
/// EXACT's random projection on ILGPU with the definition of docs/quantization.md and the arithmetic
/// of <c>projection_kernel</c> in kernels/quantization.cuh. Two launches on the default stream, under
/// one lock so that pairs do not interleave:
/// <list type="number">
/// <item>the sign bits of R: thread g (grid-stride) writes words 4g..4g+3 of
/// Philox4x32-10(counter (g, 0, 0x52505247, 0xFFFFFFFF), key (lo(seed), hi(seed))) into a persistent
/// 32 KB + 4 B buffer (D * K &lt;= 2^18 bits, one zero word after the last, as the CUDA kernel's shared
/// copy); the stream order makes the next call's signs wait for this call's projection;</item>
/// <item>one thread owns one output element (r, o) at a time (grid-stride over rows * out_cols, 64-bit
/// indices): project out[r, c] = fl(scale * fl(sum_{d ascending} +-in[r, d])) with the sign of bit
/// d K + c, unproject out[r, d] = fl(scale * fl(sum_{c ascending} +-in[r, c])) with bit d K + c.</item>
/// </list>
/// Bitwise equal to the CUDA/emulated kernel by design: the same owner per output, the same ascending
/// order, the same separately rounded fp32 additions of the negated or plain value and one final
/// multiplication (C# never contracts; the emulated library has no FMA). Bytes per output element:
/// n inputs of 4 B read (the CUDA kernel broadcasts a row's loads to its warp; here each thread reads
/// them, from cache), n sign bits from the 32 KB buffer, 4 B written (n = D or K). No atomics.
/// </summary>
internal sealed partial class QuantKernels
{
    private const uint RpTag0 = 0x52505247u;   // "GRPR": counter word 2 of the sign stream
    private const uint RpTag1 = 0xFFFFFFFFu;   // counter word 3

    private readonly Lock _projectionLock = new();
    private Action<Index1D, ArrayView<uint>, int, ulong, long>? _signKernel;
    private Action<Index1D, ProjectionKernelParams, ArrayView<float>, ArrayView<float>, ArrayView<uint>>? _projectionKernel;
    private MemoryBuffer1D<uint, Stride1D.Dense>? _signs;

    /// <summary>Runs the projection (or its transpose) after every check: rows &gt; 0, D * K &lt;= 2^18, ld* resolved.</summary>
    public void Projection(bool unproject, DeviceBuffer<float> input, long ldIn, DeviceBuffer<float> output, long ldOut, long rows, RandomProjection projection)
    {
        int dim = projection.Dim, k = projection.ProjDim;
        int signWords = (int)((((long)dim * k) + 31) / 32);
        int outCols = unproject ? dim : k;
        lock (_projectionLock)
        {
            _signKernel ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<uint>, int, ulong, long>(SignKernel);
            _projectionKernel ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ProjectionKernelParams, ArrayView<float>, ArrayView<float>, ArrayView<uint>>(ProjectionKernel);
            _signs ??= _accelerator.Allocate1D<uint>((QuantizationLayout.MaxProjectionSignBits / 32) + 1);
            int groups = (signWords + 3) / 4;
            int signThreads = Launch.Threads(groups, _cap);
            _signKernel(signThreads, _signs.View, signWords, projection.Seed, signThreads);
            int threads = Launch.Threads(rows * outCols, _cap);
            var p = new ProjectionKernelParams
            {
                Rows = rows,
                LdIn = ldIn,
                LdOut = ldOut,
                Stride = threads,
                K = k,
                InCols = unproject ? k : dim,
                OutCols = outCols,
                Unproject = unproject ? 1 : 0,
                Scale = QuantizationLayout.ProjectionScale(k),
            };
            _projectionKernel(threads, p, IlgpuBackend.View<float>(input), IlgpuBackend.View<float>(output), _signs.View);
        }
    }

    private void DisposeProjection()
    {
        lock (_projectionLock)
        {
            _signs?.Dispose();
            _signs = null;
        }
    }

    /// <summary>rp_fill_signs: words 4g..4g+3 of the sign stream for each group g (grid-stride); one zero word after the last.</summary>
    private static void SignKernel(Index1D index, ArrayView<uint> signs, int signWords, ulong seed, long stride)
    {
        int groups = (signWords + 3) >> 2;
        for (long g = index; g < groups; g += stride)
        {
            Philox(seed, ((ulong)RpTag1 << 32) | RpTag0, (ulong)g, out uint r0, out uint r1, out uint r2, out uint r3);
            long w = 4 * g;
            if (w < signWords) signs[w] = r0;
            if (w + 1 < signWords) signs[w + 1] = r1;
            if (w + 2 < signWords) signs[w + 2] = r2;
            if (w + 3 < signWords) signs[w + 3] = r3;
        }

        if (index == 0)
        {
            signs[signWords] = 0u;
        }
    }

    private static void ProjectionKernel(Index1D index, ProjectionKernelParams p, ArrayView<float> input, ArrayView<float> output, ArrayView<uint> signs)
    {
        long total = p.Rows * p.OutCols;
        for (long t = index; t < total; t += p.Stride)
        {
            long r = t / p.OutCols;
            int o = (int)(t - (r * p.OutCols));
            long inRow = r * p.LdIn;
            float acc = 0.0f;
            if (p.Unproject != 0)
            {
                // Output d = o: bits d K + c, c = 0..K-1.
                int e0 = o * p.K;
                for (int c = 0; c < p.InCols; c++)
                {
                    int e = e0 + c;
                    float v = input[inRow + c];
                    acc += ((signs[e >> 5] >> (e & 31)) & 1u) != 0 ? -v : v;
                }
            }
            else
            {
                // Output c = o: bits d K + c, d = 0..D-1.
                for (int d = 0; d < p.InCols; d++)
                {
                    int e = (d * p.K) + o;
                    float v = input[inRow + d];
                    acc += ((signs[e >> 5] >> (e & 31)) & 1u) != 0 ? -v : v;
                }
            }

            output[(r * p.LdOut) + o] = acc * p.Scale;
        }
    }
}
