using System;
using ILGPU;
using ILGPU.Runtime;
using IlInterop = ILGPU.Interop;

namespace GraphKernels.Ilgpu;

/// <summary>Reads element i of a quantization input as fp32 (fp16/bf16 widened exactly).</summary>
internal interface IQuantInput
{
    float Get(long i);
}

/// <summary>fp32 input.</summary>
internal readonly struct F32Input : IQuantInput
{
    public readonly ArrayView<float> View;

    public F32Input(ArrayView<float> view) => View = view;

    public float Get(long i) => View[i];
}

/// <summary>fp16 input (bits in a ushort), widened as the emulation's f16_bits_to_f32 does.</summary>
internal readonly struct F16Input : IQuantInput
{
    public readonly ArrayView<ushort> View;

    public F16Input(ArrayView<ushort> view) => View = view;

    public float Get(long i) => QuantKernels.F16ToF32(View[i]);
}

/// <summary>bf16 input (bits in a ushort).</summary>
internal readonly struct Bf16Input : IQuantInput
{
    public readonly ArrayView<ushort> View;

    public Bf16Input(ArrayView<ushort> view) => View = view;

    public float Get(long i) => IlInterop.IntAsFloat((uint)View[i] << 16);
}

/// <summary>Per-block statistics storage: fp32, or bf16 bits in a ushort.</summary>
internal interface IQuantStats
{
    bool IsBf16 { get; }

    float Get(long j);

    void Set(long j, float v);
}

/// <summary>fp32 statistics.</summary>
internal readonly struct F32Stats : IQuantStats
{
    public readonly ArrayView<float> View;

    public F32Stats(ArrayView<float> view) => View = view;

    public bool IsBf16 => false;

    public float Get(long j) => View[j];

    public void Set(long j, float v) => View[j] = v;
}

/// <summary>bf16 statistics (values already representable in bf16, or NaN stored as 0x7FFF).</summary>
internal readonly struct Bf16Stats : IQuantStats
{
    public readonly ArrayView<ushort> View;

    public Bf16Stats(ArrayView<ushort> view) => View = view;

    public bool IsBf16 => true;

    public float Get(long j) => IlInterop.IntAsFloat((uint)View[j] << 16);

    public void Set(long j, float v) => View[j] = float.IsNaN(v) ? (ushort)0x7FFF : (ushort)(IlInterop.FloatAsInt(v) >> 16);
}

/// <summary>Writes one dequantized element, rounding fp32 to the output type to nearest-even.</summary>
internal interface IQuantOutput
{
    void Set(long i, float v);
}

/// <summary>fp32 output.</summary>
internal readonly struct F32Output : IQuantOutput
{
    public readonly ArrayView<float> View;

    public F32Output(ArrayView<float> view) => View = view;

    public void Set(long i, float v) => View[i] = v;
}

/// <summary>fp16 output (bits).</summary>
internal readonly struct F16Output : IQuantOutput
{
    public readonly ArrayView<ushort> View;

    public F16Output(ArrayView<ushort> view) => View = view;

    public void Set(long i, float v) => View[i] = QuantKernels.F32ToF16(v);
}

/// <summary>bf16 output (bits).</summary>
internal readonly struct Bf16Output : IQuantOutput
{
    public readonly ArrayView<ushort> View;

    public Bf16Output(ArrayView<ushort> view) => View = view;

    public void Set(long i, float v) => View[i] = QuantKernels.F32ToBf16(v);
}

/// <summary>Scalar arguments of the quantize and dequantize kernels.</summary>
internal struct QuantKernelParams
{
    public long N;           // rows * cols
    public long Cols;
    public long Ld;          // of the input (quantize) or the output (dequantize)
    public long NumBlocks;
    public long Stride;      // threads launched
    public ulong Seed;
    public ulong Offset;
    public int Block;
    public int WordsPerBlock;
    public int Bits;
    public int Uniform;      // 1: t_k = k (no table read)
}

/// <summary>
/// Block-wise quantization on ILGPU with the definition of docs/quantization.md and the arithmetic
/// of kernels/quantization.cuh, so packed codes and statistics are bit-identical to the CUDA/emulated
/// kernels. Work split: one thread owns one quantization block at a time (grid-stride over blocks, 64-bit
/// indices): pass 1 reads the block for min, max and the non-finite flag (order-independent; a zero
/// minimum becomes +0), the statistics follow with the same fp64 directed corrections as
/// <c>block_stats</c>, pass 2 reads the block again and builds its words LSB-first, drawing the same
/// Philox4x32-10 16-bit uniforms (counter (i &gt;&gt; 3, offset), key seed). fp32 operations are the
/// CUDA kernel's, each rounded separately: C# never contracts to FMA, and the kernel uses no fmaf in
/// quantize; dequantize's <c>__fmaf_rn</c> is mirrored by <see cref="MathF.FusedMultiplyAdd"/>. The
/// CUDA kernel's one FMA in the statistics (the sign of the remainder d - q L in fp64) is replaced by an
/// exact Dekker split (L &lt;= 255, so both partial products are exact), which gives the same sign.
/// Bytes per element: quantize reads the input twice (2 sizeof(T); CUDA stages it in shared memory
/// and reads it once) and writes bits / 8; dequantize reads bits / 8 and writes sizeof(TO). No shared
/// memory, no atomics.
/// </summary>
internal sealed partial class QuantKernels
{
    private readonly Accelerator _accelerator;
    private readonly int _cap;
    private readonly Lazy<Action<Index1D, QuantKernelParams, F32Input, F32Stats, F32Stats, ArrayView<uint>, ArrayView<float>>> _q32f;
    private readonly Lazy<Action<Index1D, QuantKernelParams, F32Input, Bf16Stats, Bf16Stats, ArrayView<uint>, ArrayView<float>>> _q32b;
    private readonly Lazy<Action<Index1D, QuantKernelParams, F16Input, F32Stats, F32Stats, ArrayView<uint>, ArrayView<float>>> _q16f;
    private readonly Lazy<Action<Index1D, QuantKernelParams, F16Input, Bf16Stats, Bf16Stats, ArrayView<uint>, ArrayView<float>>> _q16b;
    private readonly Lazy<Action<Index1D, QuantKernelParams, Bf16Input, F32Stats, F32Stats, ArrayView<uint>, ArrayView<float>>> _qbf;
    private readonly Lazy<Action<Index1D, QuantKernelParams, Bf16Input, Bf16Stats, Bf16Stats, ArrayView<uint>, ArrayView<float>>> _qbb;
    private readonly Lazy<Action<Index1D, QuantKernelParams, F32Output, F32Stats, F32Stats, ArrayView<uint>, ArrayView<float>>> _d32f;
    private readonly Lazy<Action<Index1D, QuantKernelParams, F32Output, Bf16Stats, Bf16Stats, ArrayView<uint>, ArrayView<float>>> _d32b;
    private readonly Lazy<Action<Index1D, QuantKernelParams, F16Output, F32Stats, F32Stats, ArrayView<uint>, ArrayView<float>>> _d16f;
    private readonly Lazy<Action<Index1D, QuantKernelParams, F16Output, Bf16Stats, Bf16Stats, ArrayView<uint>, ArrayView<float>>> _d16b;
    private readonly Lazy<Action<Index1D, QuantKernelParams, Bf16Output, F32Stats, F32Stats, ArrayView<uint>, ArrayView<float>>> _dbf;
    private readonly Lazy<Action<Index1D, QuantKernelParams, Bf16Output, Bf16Stats, Bf16Stats, ArrayView<uint>, ArrayView<float>>> _dbb;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _table;   // levels [0, 256), 1 / gaps [256, 512)
    private readonly System.Threading.Lock _tableLock = new();

    public QuantKernels(Accelerator accelerator)
    {
        _accelerator = accelerator;
        _cap = Launch.CapFor(accelerator);
        _q32f = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, QuantKernelParams, F32Input, F32Stats, F32Stats, ArrayView<uint>, ArrayView<float>>(QuantizeKernel));
        _q32b = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, QuantKernelParams, F32Input, Bf16Stats, Bf16Stats, ArrayView<uint>, ArrayView<float>>(QuantizeKernel));
        _q16f = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, QuantKernelParams, F16Input, F32Stats, F32Stats, ArrayView<uint>, ArrayView<float>>(QuantizeKernel));
        _q16b = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, QuantKernelParams, F16Input, Bf16Stats, Bf16Stats, ArrayView<uint>, ArrayView<float>>(QuantizeKernel));
        _qbf = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, QuantKernelParams, Bf16Input, F32Stats, F32Stats, ArrayView<uint>, ArrayView<float>>(QuantizeKernel));
        _qbb = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, QuantKernelParams, Bf16Input, Bf16Stats, Bf16Stats, ArrayView<uint>, ArrayView<float>>(QuantizeKernel));
        _d32f = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, QuantKernelParams, F32Output, F32Stats, F32Stats, ArrayView<uint>, ArrayView<float>>(DequantizeKernel));
        _d32b = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, QuantKernelParams, F32Output, Bf16Stats, Bf16Stats, ArrayView<uint>, ArrayView<float>>(DequantizeKernel));
        _d16f = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, QuantKernelParams, F16Output, F32Stats, F32Stats, ArrayView<uint>, ArrayView<float>>(DequantizeKernel));
        _d16b = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, QuantKernelParams, F16Output, Bf16Stats, Bf16Stats, ArrayView<uint>, ArrayView<float>>(DequantizeKernel));
        _dbf = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, QuantKernelParams, Bf16Output, F32Stats, F32Stats, ArrayView<uint>, ArrayView<float>>(DequantizeKernel));
        _dbb = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, QuantKernelParams, Bf16Output, Bf16Stats, Bf16Stats, ArrayView<uint>, ArrayView<float>>(DequantizeKernel));
        _table = accelerator.Allocate1D<float>(512);
    }

    /// <summary>Frees the level-table buffer and the projection's sign buffer.</summary>
    public void Dispose()
    {
        _table.Dispose();
        DisposeProjection();
    }

    public void Quantize(QuantizationPlan plan, DeviceBuffer x, long ld, DeviceBuffer<uint> packed, DeviceBuffer zero, DeviceBuffer step,
        ulong seed, ulong offset, float[] levels, float[] rdelta)
    {
        long n = plan.Rows * plan.Cols;
        if (n == 0 || plan.NumBlocks == 0)
        {
            return;
        }

        lock (_tableLock)
        {
            var p = Params(plan, ld, seed, offset, levels, rdelta, out int threads);
            var tv = _table.View;
            bool bf = plan.Options.StatsType == QuantElementType.BFloat16;
            var pv = IlgpuBackend.View<uint>(packed);
            switch (plan.InputType)
            {
                case QuantElementType.Float32:
                    var xf = new F32Input(IlgpuBackend.View<float>(x));
                    if (bf) _q32b.Value(threads, p, xf, BStats(zero), BStats(step), pv, tv);
                    else _q32f.Value(threads, p, xf, FStats(zero), FStats(step), pv, tv);
                    break;
                case QuantElementType.Float16:
                    var xh = new F16Input(IlgpuBackend.View<ushort>(x));
                    if (bf) _q16b.Value(threads, p, xh, BStats(zero), BStats(step), pv, tv);
                    else _q16f.Value(threads, p, xh, FStats(zero), FStats(step), pv, tv);
                    break;
                default:
                    var xb = new Bf16Input(IlgpuBackend.View<ushort>(x));
                    if (bf) _qbb.Value(threads, p, xb, BStats(zero), BStats(step), pv, tv);
                    else _qbf.Value(threads, p, xb, FStats(zero), FStats(step), pv, tv);
                    break;
            }
        }
    }

    public void Dequantize(QuantizationPlan plan, DeviceBuffer<uint> packed, DeviceBuffer zero, DeviceBuffer step,
        QuantElementType outType, DeviceBuffer y, long ldY, float[] levels, float[] rdelta)
    {
        long n = plan.Rows * plan.Cols;
        if (n == 0 || plan.NumBlocks == 0)
        {
            return;
        }

        lock (_tableLock)
        {
            var p = Params(plan, ldY, 0, 0, levels, rdelta, out int threads);
            var tv = _table.View;
            bool bf = plan.Options.StatsType == QuantElementType.BFloat16;
            var pv = IlgpuBackend.View<uint>(packed);
            switch (outType)
            {
                case QuantElementType.Float32:
                    var yf = new F32Output(IlgpuBackend.View<float>(y));
                    if (bf) _d32b.Value(threads, p, yf, BStats(zero), BStats(step), pv, tv);
                    else _d32f.Value(threads, p, yf, FStats(zero), FStats(step), pv, tv);
                    break;
                case QuantElementType.Float16:
                    var yh = new F16Output(IlgpuBackend.View<ushort>(y));
                    if (bf) _d16b.Value(threads, p, yh, BStats(zero), BStats(step), pv, tv);
                    else _d16f.Value(threads, p, yh, FStats(zero), FStats(step), pv, tv);
                    break;
                default:
                    var yb = new Bf16Output(IlgpuBackend.View<ushort>(y));
                    if (bf) _dbb.Value(threads, p, yb, BStats(zero), BStats(step), pv, tv);
                    else _dbf.Value(threads, p, yb, FStats(zero), FStats(step), pv, tv);
                    break;
            }
        }
    }

    private static F32Stats FStats(DeviceBuffer b) => new(IlgpuBackend.View<float>(b));

    private static Bf16Stats BStats(DeviceBuffer b) => new(IlgpuBackend.View<ushort>(b));

    /// <summary>Launch parameters; uploads the level table (after the previous work finished) unless uniform.</summary>
    private QuantKernelParams Params(QuantizationPlan plan, long ld, ulong seed, ulong offset, float[] levels, float[] rdelta, out int threads)
    {
        bool uniform = plan.Options.Levels == QuantLevels.Uniform;
        if (!uniform)
        {
            _accelerator.DefaultStream.Synchronize();   // an earlier launch may still read the table
            _table.View.SubView(0, levels.Length).CopyFromCPU(levels);
            _table.View.SubView(256, rdelta.Length).CopyFromCPU(rdelta);
        }

        threads = Launch.Threads(plan.NumBlocks, _cap);
        return new QuantKernelParams
        {
            N = plan.Rows * plan.Cols,
            Cols = plan.Cols,
            Ld = ld,
            NumBlocks = plan.NumBlocks,
            Stride = threads,
            Seed = seed,
            Offset = offset,
            Block = plan.BlockSize,
            WordsPerBlock = (int)plan.WordsPerBlock,
            Bits = plan.Options.Bits,
            Uniform = uniform ? 1 : 0,
        };
    }

    // ------------------------------------------------------------------ kernels ----------

    private static void QuantizeKernel<TIn, TStats>(Index1D index, QuantKernelParams p, TIn x, TStats zeroOut, TStats stepOut,
        ArrayView<uint> packed, ArrayView<float> table)
        where TIn : struct, IQuantInput
        where TStats : struct, IQuantStats
    {
        int bits = p.Bits;
        int L = (1 << bits) - 1;
        int epw = 32 / bits;
        bool statsBf16 = zeroOut.IsBf16;
        for (long j = index; j < p.NumBlocks; j += p.Stride)
        {
            long start = j * p.Block;
            long left = p.N - start;
            int valid = left < p.Block ? (int)left : p.Block;

            // Pass 1: min, max, non-finite.
            float mn = float.PositiveInfinity, mx = float.NegativeInfinity;
            bool nonfinite = false;
            for (int t = 0; t < valid; t++)
            {
                float v = Load(x, start + t, p);
                nonfinite |= !IsFinite(v);
                mn = v < mn ? v : mn;
                mx = v > mx ? v : mx;
            }

            mx += 0.0f;
            bool ok = BlockStats(mn, mx, nonfinite, L, statsBf16, out float zero, out float step);
            if (!ok)
            {
                zero = IlInterop.IntAsFloat(0x7fffffffu);
                step = zero;
            }

            bool coded = ok && step > 0.0f;
            float sc = step < 7.888609052210118e-31f ? 1.2676506002282294e30f : 1.0f;
            float inv = coded ? 1.0f / (step * sc) : 0.0f;

            // Pass 2: the block's words, LSB-first.
            long outBase = j * p.WordsPerBlock;
            for (int w = 0; w < p.WordsPerBlock; w++)
            {
                uint word = 0;
                int e0 = w * epw;
                if (coded && e0 < valid)
                {
                    for (int g = 0; g < epw; g += 8)
                    {
                        ulong i0 = (ulong)(start + e0 + g);
                        Philox(p.Seed, p.Offset, i0 >> 3, out uint r0, out uint r1, out uint r2, out uint r3);
                        int qn = epw < 8 ? epw : 8;
                        for (int q = 0; q < qn; q++)
                        {
                            int e = e0 + g + q;
                            if (e >= valid)
                            {
                                break;
                            }

                            float v = Load(x, start + e, p);
                            float xs = ((v - zero) * sc) * inv;
                            xs = xs > 0.0f ? xs : 0.0f;
                            xs = xs < (float)L ? xs : (float)L;
                            int k;
                            float prob;
                            if (p.Uniform != 0)
                            {
                                k = (int)xs;
                                k = k < L - 1 ? k : L - 1;
                                prob = xs - (float)k;
                            }
                            else
                            {
                                int lo = 0, hi = L - 1;
                                while (lo < hi)
                                {
                                    int mid = (lo + hi + 1) >> 1;
                                    if (table[mid] <= xs) lo = mid; else hi = mid - 1;
                                }

                                k = lo;
                                prob = (xs - table[k]) * table[256 + k];
                            }

                            uint ii = (uint)i0 + (uint)q;
                            uint wsel = (ii >> 1) & 3u;
                            uint rw = wsel == 0 ? r0 : (wsel == 1 ? r1 : (wsel == 2 ? r2 : r3));
                            uint h = (ii & 1u) != 0 ? (rw >> 16) : (rw & 0xffffu);
                            float u = ((float)h + 0.5f) * 1.52587890625e-05f;
                            uint code = (uint)(k + (u < prob ? 1 : 0));
                            word |= code << ((e * bits) & 31);
                        }
                    }
                }

                packed[outBase + w] = word;
            }

            zeroOut.Set(j, zero);
            stepOut.Set(j, step);
        }
    }

    private static void DequantizeKernel<TOut, TStats>(Index1D index, QuantKernelParams p, TOut y, TStats zeroIn, TStats stepIn,
        ArrayView<uint> packed, ArrayView<float> table)
        where TOut : struct, IQuantOutput
        where TStats : struct, IQuantStats
    {
        int bits = p.Bits;
        uint mask = (1u << bits) - 1u;
        int epw = 32 / bits;
        for (long j = index; j < p.NumBlocks; j += p.Stride)
        {
            long start = j * p.Block;
            long left = p.N - start;
            int valid = left < p.Block ? (int)left : p.Block;
            float zero = zeroIn.Get(j);
            float step = stepIn.Get(j);
            long wbase = j * p.WordsPerBlock;
            for (int t = 0; t < valid; t++)
            {
                uint code = (packed[wbase + (t / epw)] >> ((t * bits) & 31)) & mask;
                float level = p.Uniform != 0 ? (float)code : table[(int)code];
                long i = start + t;
                long r = i / p.Cols;
                long c = i - (r * p.Cols);
                y.Set((r * p.Ld) + c, MathF.FusedMultiplyAdd(step, level, zero));
            }
        }
    }

    private static float Load<TIn>(TIn x, long i, QuantKernelParams p)
        where TIn : struct, IQuantInput
    {
        long r = i / p.Cols;
        long c = i - (r * p.Cols);
        return x.Get((r * p.Ld) + c);
    }

    private static bool IsFinite(float v) => (IlInterop.FloatAsInt(v) & 0x7f800000u) != 0x7f800000u;

    private static float Bf16RoundDown(float f)
    {
        uint b = IlInterop.FloatAsInt(f);
        if ((b & 0xffffu) == 0)
        {
            return f;
        }

        b &= 0xffff0000u;
        if ((b & 0x80000000u) != 0)
        {
            b += 0x10000u;
        }

        return IlInterop.IntAsFloat(b);
    }

    private static float Bf16RoundUp(float f)
    {
        uint b = IlInterop.FloatAsInt(f);
        if ((b & 0xffffu) == 0)
        {
            return f;
        }

        return IlInterop.IntAsFloat((b & 0xffff0000u) + 0x10000u);
    }

    /// <summary>block_stats of kernels/quantization.cuh (the fp64 remainder sign by an exact split instead of an FMA).</summary>
    internal static bool BlockStats(float m, float M, bool nonfinite, int L, bool statsBf16, out float zeroOut, out float stepOut)
    {
        zeroOut = 0.0f;
        stepOut = 0.0f;
        if (nonfinite || !IsFinite(M - m))
        {
            return false;
        }

        float zero = m + 0.0f;
        if (statsBf16)
        {
            zero = Bf16RoundDown(zero);
        }

        if (!IsFinite(zero))
        {
            return false;
        }

        float step = 0.0f;
        if (M > zero)
        {
            double a = M, b = -(double)zero;
            double d = a + b;
            double bb = d - a;
            double err = (a - (d - bb)) + (b - bb);
            if (err > 0.0)
            {
                d = IlInterop.IntAsFloat(IlInterop.FloatAsInt(d) + 1UL);
            }

            double ld = L;
            double q = d / ld;
            if (RemainderPositive(d, q, ld))
            {
                q = IlInterop.IntAsFloat(IlInterop.FloatAsInt(q) + 1UL);
            }

            step = (float)q;
            if ((double)step < q)
            {
                step = IlInterop.IntAsFloat(IlInterop.FloatAsInt(step) + 1u);
            }

            if (statsBf16)
            {
                step = Bf16RoundUp(step);
            }

            if (!IsFinite(step))
            {
                return false;
            }
        }

        zeroOut = zero;
        stepOut = step;
        return true;
    }

    /// <summary>
    /// Whether d - q L &gt; 0 exactly (the sign of CUDA's fma(-q, L, d)), for d &gt; 0 finite, q = RN(d / L)
    /// and L an integer in [1, 255]: q = qh + ql with qh the top 26 significand bits, so qh L (34 bits) and
    /// ql L (35 bits) are exact; d - qh L is exact by Sterbenz (qh L is within a factor 2 of d); the last
    /// subtraction is rounded but keeps the sign of the exact difference.
    /// </summary>
    internal static bool RemainderPositive(double d, double q, double ld)
    {
        double qh = IlInterop.IntAsFloat(IlInterop.FloatAsInt(q) & 0xFFFFFFFFF8000000UL);
        double ql = q - qh;
        double t = d - (qh * ld);
        return t - (ql * ld) > 0.0;
    }

    /// <summary>Philox4x32-10 with counter (lo(group), hi(group), lo(offset), hi(offset)) and key (lo(seed), hi(seed)).</summary>
    internal static void Philox(ulong seed, ulong offset, ulong group, out uint c0, out uint c1, out uint c2, out uint c3)
    {
        c0 = (uint)group;
        c1 = (uint)(group >> 32);
        c2 = (uint)offset;
        c3 = (uint)(offset >> 32);
        uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
        for (int round = 0; round < 10; round++)
        {
            if (round > 0)
            {
                k0 += 0x9E3779B9u;
                k1 += 0xBB67AE85u;
            }

            ulong p0 = 0xD2511F53UL * c0;
            ulong p1 = 0xCD9E8D57UL * c2;
            uint hi0 = (uint)(p0 >> 32), lo0 = (uint)p0;
            uint hi1 = (uint)(p1 >> 32), lo1 = (uint)p1;
            uint n0 = hi1 ^ c1 ^ k0;
            uint n2 = hi0 ^ c3 ^ k1;
            c0 = n0;
            c1 = lo1;
            c2 = n2;
            c3 = lo0;
        }
    }

    /// <summary>fp16 bits to fp32 (exact), as the emulation's f16_bits_to_f32.</summary>
    internal static float F16ToF32(ushort h)
    {
        uint sign = (uint)(h & 0x8000u) << 16;
        uint e = (uint)(h >> 10) & 0x1fu, m = (uint)h & 0x3ffu;
        uint bits;
        if (e == 31)
        {
            bits = sign | 0x7f800000u | (m << 13);
        }
        else if (e == 0)
        {
            float v = (float)m * 5.9604644775390625e-8f;
            bits = IlInterop.FloatAsInt(v) | sign;
        }
        else
        {
            bits = sign | ((e + 112u) << 23) | (m << 13);
        }

        return IlInterop.IntAsFloat(bits);
    }

    /// <summary>fp32 to fp16 bits, round to nearest-even, NaN to 0x7FFF (as __float2half_rn in the emulation).</summary>
    internal static ushort F32ToF16(float f)
    {
        uint x = IlInterop.FloatAsInt(f);
        uint sign = (x >> 16) & 0x8000u;
        uint ax = x & 0x7fffffffu;
        if (ax > 0x7f800000u) return 0x7fff;
        if (ax >= 0x477ff000u) return (ushort)(sign | 0x7c00u);
        if (ax <= 0x33000000u) return (ushort)sign;
        uint q, rem, half;
        if (ax < 0x38800000u)
        {
            int shift = 126 - (int)(ax >> 23);
            uint m = (ax & 0x7fffffu) | 0x800000u;
            q = m >> shift;
            rem = m & ((1u << shift) - 1u);
            half = 1u << (shift - 1);
        }
        else
        {
            uint r = ax - 0x38000000u;
            q = r >> 13;
            rem = r & 0x1fffu;
            half = 0x1000u;
        }

        if (rem > half || (rem == half && (q & 1u) != 0)) q++;
        return (ushort)(sign | q);
    }

    /// <summary>fp32 to bf16 bits, round to nearest-even, NaN to 0x7FFF.</summary>
    internal static ushort F32ToBf16(float f)
    {
        uint x = IlInterop.FloatAsInt(f);
        if ((x & 0x7fffffffu) > 0x7f800000u) return 0x7fff;
        return (ushort)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
    }
}
