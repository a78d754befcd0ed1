using System;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using GraphKernels.Interop;

namespace GraphKernels;

/// <summary>Element type of a quantized tensor's input, output or statistics (<c>gk_dtype</c>).</summary>
public enum QuantElementType
{
    /// <summary>IEEE binary32 (<see cref="float"/>).</summary>
    Float32 = 0,

    /// <summary>IEEE binary16 (<see cref="Half"/>).</summary>
    Float16 = 1,

    /// <summary>bfloat16, carried as its bits in a <see cref="ushort"/>.</summary>
    BFloat16 = 2,
}

/// <summary>Placement of the quantization levels (<c>gk_quant_levels</c>).</summary>
public enum QuantLevels
{
    /// <summary>Uniform levels t_k = k (EXACT).</summary>
    Uniform = 0,

    /// <summary>INT2 only: the variance-minimising levels {0, a, 3 - a, 3} of i-EXACT (a = alpha(B) unless given).</summary>
    ClipNormal2 = 1,

    /// <summary>The caller's increasing table of 2^bits levels, t_0 = 0, t_L = L.</summary>
    Table = 2,
}

/// <summary>How to quantize: bit width, block size, levels and statistics type.</summary>
public sealed record QuantizationOptions
{
    /// <summary>Bits per code: 1, 2, 4 or 8 (default 2).</summary>
    public int Bits { get; init; } = 2;

    /// <summary>Elements per block B: a multiple of 32 in [32, 8192] (default 1024).</summary>
    public int BlockSize { get; init; } = 1024;

    /// <summary>Level placement (default <see cref="QuantLevels.Uniform"/>).</summary>
    public QuantLevels Levels { get; init; } = QuantLevels.Uniform;

    /// <summary>For <see cref="QuantLevels.ClipNormal2"/>: a in (0, 1.5); 0 means alpha(B) from i-EXACT's fit.</summary>
    public float Alpha { get; init; }

    /// <summary>For <see cref="QuantLevels.Table"/>: 2^bits increasing levels, first 0, last 2^bits - 1.</summary>
    public IReadOnlyList<float>? LevelTable { get; init; }

    /// <summary>Type of the per-block zero and step: <see cref="QuantElementType.Float32"/> (default) or <see cref="QuantElementType.BFloat16"/>.</summary>
    public QuantElementType StatsType { get; init; } = QuantElementType.Float32;

    /// <summary>0: automatic grid; otherwise a cap on the number of CTAs (tuning and tests; the result does not depend on it).</summary>
    public int MaxGrid { get; init; }

    /// <summary>i-EXACT's configuration: INT2, blocks of 1024, variance-minimising levels.</summary>
    public static QuantizationOptions IExact => new() { Bits = 2, BlockSize = 1024, Levels = QuantLevels.ClipNormal2 };
}

/// <summary>The sizes of a quantized tensor, computed on the host (the rules of gk_quant_plan) before anything is allocated.</summary>
public sealed record QuantizationPlan
{
    internal QuantizationPlan(long rows, long cols, QuantElementType inputType, QuantizationOptions options, in GkQuantLayout layout)
    {
        Rows = rows;
        Cols = cols;
        InputType = inputType;
        Options = options;
        NumBlocks = layout.NumBlocks;
        WordsPerBlock = layout.WordsPerBlock;
        PackedBytes = layout.PackedBytes;
        StatsBytes = layout.StatsBytes;
        TotalBytes = layout.TotalBytes;
        InputBytes = layout.InputBytes;
        BlockSize = layout.Block;
        Alpha = layout.Alpha;
    }

    /// <summary>Logical rows.</summary>
    public long Rows { get; }

    /// <summary>Logical columns.</summary>
    public long Cols { get; }

    /// <summary>Element type of the input the plan was made for.</summary>
    public QuantElementType InputType { get; }

    /// <summary>The options (as given).</summary>
    public QuantizationOptions Options { get; }

    /// <summary>Number of blocks, ceil(Rows * Cols / BlockSize).</summary>
    public long NumBlocks { get; }

    /// <summary>32-bit words of codes per block, BlockSize * Bits / 32.</summary>
    public long WordsPerBlock { get; }

    /// <summary>Bytes of packed codes.</summary>
    public long PackedBytes { get; }

    /// <summary>Bytes of the zero array (and again of the step array).</summary>
    public long StatsBytes { get; }

    /// <summary>PackedBytes + 2 * StatsBytes: the whole quantized tensor.</summary>
    public long TotalBytes { get; }

    /// <summary>Bytes of the dense input, Rows * Cols * element size.</summary>
    public long InputBytes { get; }

    /// <summary>The effective block size.</summary>
    public int BlockSize { get; }

    /// <summary>The effective a of <see cref="QuantLevels.ClipNormal2"/> (0 for other level modes).</summary>
    public float Alpha { get; }

    /// <summary>InputBytes / TotalBytes (0 for an empty tensor).</summary>
    public double CompressionRatio => TotalBytes == 0 ? 0 : (double)InputBytes / TotalBytes;

    /// <summary>Stored bits per element, codes and statistics included.</summary>
    public double BitsPerElement => Rows * Cols == 0 ? 0 : TotalBytes * 8.0 / (Rows * Cols);
}

/// <summary>
/// A quantized [Rows, Cols] tensor on a device: packed codes, per-block zero and step (it owns the
/// three buffers), the plan describing the layout, and the (seed, offset) it was last quantized with.
/// </summary>
public sealed class QuantizedTensor : IDisposable
{
    internal QuantizedTensor(GraphDevice device, QuantizationPlan plan, DeviceBuffer<uint> packed, DeviceBuffer zero, DeviceBuffer step)
    {
        Device = device;
        Plan = plan;
        Packed = packed;
        Zero = zero;
        Step = step;
    }

    /// <summary>The device holding the buffers.</summary>
    public GraphDevice Device { get; }

    /// <summary>The layout.</summary>
    public QuantizationPlan Plan { get; }

    /// <summary>Packed codes: NumBlocks * WordsPerBlock words, LSB-first within each word.</summary>
    public DeviceBuffer<uint> Packed { get; }

    /// <summary>Per-block zero: <c>DeviceBuffer&lt;float&gt;</c>, or <c>DeviceBuffer&lt;ushort&gt;</c> of bf16 bits.</summary>
    public DeviceBuffer Zero { get; }

    /// <summary>Per-block step, same type as <see cref="Zero"/>.</summary>
    public DeviceBuffer Step { get; }

    /// <summary>Logical rows.</summary>
    public long Rows => Plan.Rows;

    /// <summary>Logical columns.</summary>
    public long Cols => Plan.Cols;

    /// <summary>The seed of the last quantization into this tensor.</summary>
    public ulong Seed { get; internal set; }

    /// <summary>The offset of the last quantization into this tensor.</summary>
    public ulong Offset { get; internal set; }

    /// <summary>Whether data has been quantized into it.</summary>
    public bool HasData { get; internal set; }

    /// <summary>Dense input bytes / stored bytes.</summary>
    public double CompressionRatio => Plan.CompressionRatio;

    /// <summary>Frees the three buffers.</summary>
    public void Dispose()
    {
        Packed.Dispose();
        Zero.Dispose();
        Step.Dispose();
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"QuantizedTensor[{Rows}x{Cols}, {Plan.Options.Bits}-bit, B={Plan.BlockSize}, {Plan.Options.Levels}, {Plan.TotalBytes} bytes, {CompressionRatio:F2}x] on {Device.Name}";
}

/// <summary>
/// EXACT's random projection: a seeded Rademacher matrix R in {+-1/sqrt(ProjDim)}^{Dim x ProjDim},
/// generated on the fly from Philox (never stored). E[R R^T] = I, so projecting [rows, Dim] to
/// [rows, ProjDim] and back is an unbiased (but noisy: per-element variance
/// (|x|^2 - x_d^2) / ProjDim) reconstruction.
/// </summary>
/// <param name="Dim">D, the activation's width (>= 1).</param>
/// <param name="ProjDim">K, the projected width (>= 1; EXACT uses D / 8); Dim * ProjDim &lt;= 262144.</param>
/// <param name="Seed">Selects R; use a new seed per saved activation, and the same one to unproject.</param>
public sealed record RandomProjection(int Dim, int ProjDim, ulong Seed)
{
    /// <summary>0: automatic grid; otherwise a cap on the number of CTAs (the result does not depend on it).</summary>
    public int MaxGrid { get; init; }

    /// <summary>The magnitude of R's entries, fp32(1 / sqrt(ProjDim)).</summary>
    public float Scale => ProjDim < 1 ? 0f : (float)(1.0 / Math.Sqrt(ProjDim));

    /// <summary>EXACT's setting: ProjDim = ceil(Dim / 8).</summary>
    /// <param name="dim">D.</param>
    /// <param name="seed">The seed.</param>
    /// <returns>The projection.</returns>
    public static RandomProjection Exact(int dim, ulong seed) => new(dim, (dim + 7) / 8, seed);
}

/// <summary>Block-wise activation quantization with stochastic rounding (docs/quantization.md).</summary>
public static unsafe class Quantization
{
    /// <summary>i-EXACT's fitted variance-minimising INT2 level a(B) (B clamped to [4, 2047]).</summary>
    /// <param name="blockSize">The block size B.</param>
    /// <returns>a(B) rounded to float.</returns>
    public static float Alpha(int blockSize) => QuantizationLayout.Alpha(blockSize);

    /// <summary>The sizes of the quantized form of a [rows, cols] tensor; nothing is allocated.</summary>
    /// <param name="rows">Rows.</param>
    /// <param name="cols">Columns.</param>
    /// <param name="options">Options (default: INT2, B = 1024, uniform levels, fp32 statistics).</param>
    /// <param name="inputType">Element type of the dense input (for <see cref="QuantizationPlan.InputBytes"/>).</param>
    /// <returns>The plan.</returns>
    /// <exception cref="GraphKernelsException">The options are invalid (the message names the field).</exception>
    public static QuantizationPlan Plan(long rows, long cols, QuantizationOptions? options = null, QuantElementType inputType = QuantElementType.Float32)
        => PlanCore(rows, cols, options ?? new QuantizationOptions(), inputType);

    /// <summary>Allocates an empty quantized tensor for a [rows, cols] input (for <see cref="QuantizeInto"/>).</summary>
    /// <param name="device">The device.</param>
    /// <param name="rows">Rows.</param>
    /// <param name="cols">Columns.</param>
    /// <param name="options">Options.</param>
    /// <param name="inputType">Element type of the inputs it will hold.</param>
    /// <returns>The tensor (owning its buffers).</returns>
    public static QuantizedTensor Allocate(GraphDevice device, long rows, long cols, QuantizationOptions? options = null, QuantElementType inputType = QuantElementType.Float32)
    {
        ArgumentNullException.ThrowIfNull(device);
        device.ThrowIfDisposed();
        var plan = PlanCore(rows, cols, options ?? new QuantizationOptions(), inputType);
        DeviceBuffer<uint>? packed = null;
        DeviceBuffer? zero = null, step = null;
        try
        {
            packed = device.Allocate<uint>(plan.PackedBytes / 4);
            if (plan.Options.StatsType == QuantElementType.BFloat16)
            {
                zero = device.Allocate<ushort>(plan.NumBlocks);
                step = device.Allocate<ushort>(plan.NumBlocks);
            }
            else
            {
                zero = device.Allocate<float>(plan.NumBlocks);
                step = device.Allocate<float>(plan.NumBlocks);
            }

            return new QuantizedTensor(device, plan, packed, zero, step);
        }
        catch
        {
            packed?.Dispose();
            zero?.Dispose();
            step?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Quantizes x ([rows, cols], leading dimension ld) into a new <see cref="QuantizedTensor"/>.
    /// x is a <c>DeviceBuffer&lt;float&gt;</c>, <c>DeviceBuffer&lt;Half&gt;</c> or <c>DeviceBuffer&lt;ushort&gt;</c> (bf16 bits).
    /// </summary>
    /// <param name="x">The input.</param>
    /// <param name="rows">Rows.</param>
    /// <param name="cols">Columns.</param>
    /// <param name="options">Options.</param>
    /// <param name="seed">Random stream seed (keep per run).</param>
    /// <param name="offset">Random stream offset (change per call).</param>
    /// <param name="ld">Leading dimension of x in elements; 0 means cols.</param>
    /// <param name="stream">The stream (default: the device's default stream).</param>
    /// <returns>The quantized tensor.</returns>
    public static QuantizedTensor Quantize(DeviceBuffer x, long rows, long cols, QuantizationOptions? options = null,
        ulong seed = 0, ulong offset = 0, long ld = 0, Stream? stream = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        var q = Allocate(x.DeviceCore, rows, cols, options, TypeOf(x, nameof(x)));
        try
        {
            QuantizeInto(x, q, seed, offset, ld, stream);
            return q;
        }
        catch
        {
            q.Dispose();
            throw;
        }
    }

    /// <summary>Quantizes x into an existing tensor of the same shape and input type (no allocation).</summary>
    /// <param name="x">The input, [target.Rows, target.Cols] with leading dimension ld.</param>
    /// <param name="target">The tensor to overwrite.</param>
    /// <param name="seed">Random stream seed.</param>
    /// <param name="offset">Random stream offset.</param>
    /// <param name="ld">Leading dimension of x; 0 means cols.</param>
    /// <param name="stream">The stream.</param>
    public static void QuantizeInto(DeviceBuffer x, QuantizedTensor target, ulong seed, ulong offset, long ld = 0, Stream? stream = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(target);
        var plan = target.Plan;
        QuantElementType type = TypeOf(x, nameof(x));
        if (type != plan.InputType)
        {
            ThrowArg(nameof(x), $"x holds {type} but the tensor was planned for {plan.InputType} input.");
        }

        GraphDevice device = target.Device;
        CheckDevice(x, device, nameof(x));
        if (ld == 0)
        {
            ld = plan.Cols;
        }
        else if (ld < plan.Cols)
        {
            throw new ArgumentOutOfRangeException(nameof(ld), ld, $"ld = {ld} must be 0 (= cols) or at least cols = {plan.Cols}.");
        }

        CheckLength(x.Length, plan.Rows, ld, plan.Cols, nameof(x));
        nint ps = StreamHandle(stream, device);
        nint px = x.PointerChecked(nameof(x));
        nint pp = target.Packed.PointerChecked(nameof(target));
        nint pz = target.Zero.PointerChecked(nameof(target));
        nint pst = target.Step.PointerChecked(nameof(target));
        if (device.Managed is { } managed)
        {
            (float[] lv, float[] rd) = LevelTable(plan);
            managed.Quantize(plan, x, ld, target.Packed, target.Zero, target.Step, seed, offset, lv, rd);
            target.Seed = seed;
            target.Offset = offset;
            target.HasData = true;
            return;
        }

        float[]? table = plan.Options.LevelTable is null ? null : [.. plan.Options.LevelTable];
        GkQuantDesc desc = Desc(plan, ld);
        Lease lx = default, lp = default, lz = default, ls = default;
        try
        {
            lx = new Lease(x);
            lp = new Lease(target.Packed);
            lz = new Lease(target.Zero);
            ls = new Lease(target.Step);
            device.EnsureContext();
            int status;
            fixed (float* t = table)
            {
                desc.LevelTable = (nint)t;
                status = device.Api.gk_quant_quantize(&desc, (void*)px, (uint*)pp, (void*)pz, (void*)pst, seed, offset, (void*)ps);
            }

            if (status != 0)
            {
                device.Api.ThrowStatus(status, "gk_quant_quantize");
            }

            target.Seed = seed;
            target.Offset = offset;
            target.HasData = true;
        }
        finally
        {
            ls.Dispose();
            lz.Dispose();
            lp.Dispose();
            lx.Dispose();
        }
    }

    /// <summary>
    /// Dequantizes q into y ([Rows, Cols], leading dimension ldY): <c>DeviceBuffer&lt;float&gt;</c>,
    /// <c>DeviceBuffer&lt;Half&gt;</c> or <c>DeviceBuffer&lt;ushort&gt;</c> (bf16 bits).
    /// </summary>
    /// <param name="q">The quantized tensor.</param>
    /// <param name="y">The output.</param>
    /// <param name="ldY">Leading dimension of y; 0 means cols. Columns past cols are not touched.</param>
    /// <param name="stream">The stream.</param>
    public static void Dequantize(QuantizedTensor q, DeviceBuffer y, long ldY = 0, Stream? stream = null)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(y);
        var plan = q.Plan;
        QuantElementType type = TypeOf(y, nameof(y));
        GraphDevice device = q.Device;
        CheckDevice(y, device, nameof(y));
        if (ldY == 0)
        {
            ldY = plan.Cols;
        }
        else if (ldY < plan.Cols)
        {
            throw new ArgumentOutOfRangeException(nameof(ldY), ldY, $"ldY = {ldY} must be 0 (= cols) or at least cols = {plan.Cols}.");
        }

        CheckLength(y.Length, plan.Rows, ldY, plan.Cols, nameof(y));
        nint ps = StreamHandle(stream, device);
        nint py = y.PointerChecked(nameof(y));
        nint pp = q.Packed.PointerChecked(nameof(q));
        nint pz = q.Zero.PointerChecked(nameof(q));
        nint pst = q.Step.PointerChecked(nameof(q));
        if (device.Managed is { } managed)
        {
            (float[] lv, float[] rd) = LevelTable(plan);
            managed.Dequantize(plan, q.Packed, q.Zero, q.Step, type, y, ldY, lv, rd);
            return;
        }

        float[]? table = plan.Options.LevelTable is null ? null : [.. plan.Options.LevelTable];
        GkQuantDesc desc = Desc(plan, plan.Cols);
        Lease ly = default, lp = default, lz = default, ls = default;
        try
        {
            ly = new Lease(y);
            lp = new Lease(q.Packed);
            lz = new Lease(q.Zero);
            ls = new Lease(q.Step);
            device.EnsureContext();
            int status;
            fixed (float* t = table)
            {
                desc.LevelTable = (nint)t;
                status = device.Api.gk_quant_dequantize(&desc, (uint*)pp, (void*)pz, (void*)pst, (int)type, (void*)py, ldY, (void*)ps);
            }

            if (status != 0)
            {
                device.Api.ThrowStatus(status, "gk_quant_dequantize");
            }
        }
        finally
        {
            ls.Dispose();
            lz.Dispose();
            lp.Dispose();
            ly.Dispose();
        }
    }

    /// <summary>Dequantizes q into a new dense fp32 buffer of Rows * Cols elements.</summary>
    /// <param name="q">The quantized tensor.</param>
    /// <param name="stream">The stream.</param>
    /// <returns>The reconstruction.</returns>
    public static DeviceBuffer<float> Dequantize(QuantizedTensor q, Stream? stream = null)
    {
        ArgumentNullException.ThrowIfNull(q);
        var y = q.Device.Allocate<float>(q.Rows * q.Cols);
        try
        {
            Dequantize(q, y, 0, stream);
            return y;
        }
        catch
        {
            y.Dispose();
            throw;
        }
    }

    /// <summary>fp32(1 / sqrt(projDim)) as the native library computes it.</summary>
    /// <param name="projDim">K.</param>
    /// <returns>The magnitude of R's entries.</returns>
    public static float ProjectionScale(int projDim) => QuantizationLayout.ProjectionScale(projDim);

    /// <summary>p = x R: x [rows, Dim] (leading dimension ldX) to p [rows, ProjDim] (leading dimension ldP).</summary>
    /// <param name="x">The input.</param>
    /// <param name="p">The output; must not overlap x.</param>
    /// <param name="rows">Rows.</param>
    /// <param name="projection">R.</param>
    /// <param name="ldX">Leading dimension of x; 0 means Dim.</param>
    /// <param name="ldP">Leading dimension of p; 0 means ProjDim.</param>
    /// <param name="stream">The stream.</param>
    public static void Project(DeviceBuffer<float> x, DeviceBuffer<float> p, long rows, RandomProjection projection, long ldX = 0, long ldP = 0, Stream? stream = null)
        => RunProjection(false, x, p, rows, projection, ldX, ldP, stream);

    /// <summary>p = x R into a new dense [rows, ProjDim] buffer.</summary>
    /// <param name="x">The input [rows, Dim] (leading dimension ldX).</param>
    /// <param name="rows">Rows.</param>
    /// <param name="projection">R.</param>
    /// <param name="ldX">Leading dimension of x; 0 means Dim.</param>
    /// <param name="stream">The stream.</param>
    /// <returns>The projection.</returns>
    public static DeviceBuffer<float> Project(DeviceBuffer<float> x, long rows, RandomProjection projection, long ldX = 0, Stream? stream = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(projection);
        return RunProjectionIntoNew(false, x, rows, projection, ldX, projection.ProjDim, stream);
    }

    /// <summary>xHat = p R^T: p [rows, ProjDim] (leading dimension ldP) to xHat [rows, Dim] (leading dimension ldX).</summary>
    /// <param name="p">The projected input.</param>
    /// <param name="xHat">The reconstruction; must not overlap p.</param>
    /// <param name="rows">Rows.</param>
    /// <param name="projection">The R the projection used (same seed).</param>
    /// <param name="ldP">Leading dimension of p; 0 means ProjDim.</param>
    /// <param name="ldX">Leading dimension of xHat; 0 means Dim.</param>
    /// <param name="stream">The stream.</param>
    public static void Unproject(DeviceBuffer<float> p, DeviceBuffer<float> xHat, long rows, RandomProjection projection, long ldP = 0, long ldX = 0, Stream? stream = null)
        => RunProjection(true, p, xHat, rows, projection, ldP, ldX, stream);

    /// <summary>xHat = p R^T into a new dense [rows, Dim] buffer.</summary>
    /// <param name="p">The projected input [rows, ProjDim] (leading dimension ldP).</param>
    /// <param name="rows">Rows.</param>
    /// <param name="projection">The R the projection used.</param>
    /// <param name="ldP">Leading dimension of p; 0 means ProjDim.</param>
    /// <param name="stream">The stream.</param>
    /// <returns>The reconstruction.</returns>
    public static DeviceBuffer<float> Unproject(DeviceBuffer<float> p, long rows, RandomProjection projection, long ldP = 0, Stream? stream = null)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(projection);
        return RunProjectionIntoNew(true, p, rows, projection, ldP, projection.Dim, stream);
    }

    /// <summary>Runs a projection into a new dense [rows, width] buffer, freed again if the call fails.</summary>
    private static DeviceBuffer<float> RunProjectionIntoNew(bool transpose, DeviceBuffer<float> input, long rows,
        RandomProjection projection, long ldIn, long width, Stream? stream)
    {
        var output = input.DeviceCore.Allocate<float>(Math.Max(0, rows) * Math.Max(0, width));
        try
        {
            RunProjection(transpose, input, output, rows, projection, ldIn, 0, stream);
            return output;
        }
        catch
        {
            output.Dispose();
            throw;
        }
    }

    // ------------------------------------------------------------------ internals ----------

    /// <summary>
    /// The plan, computed in C# with the validation and messages of the native gk_quant_plan
    /// (<see cref="QuantizationLayout"/>), so planning needs no native library on any backend.
    /// </summary>
    private static QuantizationPlan PlanCore(long rows, long cols, QuantizationOptions options, QuantElementType inputType)
    {
        ArgumentNullException.ThrowIfNull(options);
        if ((uint)inputType > (uint)QuantElementType.BFloat16)
        {
            throw new ArgumentOutOfRangeException(nameof(inputType), inputType, "is not a QuantElementType value");
        }

        var plan = new QuantizationPlan(rows, cols, inputType, options, default);
        GkQuantDesc desc = Desc(plan, 0);
        float[]? table = options.LevelTable is null ? null : [.. options.LevelTable];
        if (table is not null && options.Levels == QuantLevels.Table && table.Length != 1 << Math.Clamp(options.Bits, 1, 8))
        {
            throw new ArgumentException($"LevelTable has {table.Length} levels; {options.Bits}-bit codes need {1 << options.Bits}.", nameof(options));
        }

        GkStatus status = QuantizationLayout.TryPlan(desc, table, out GkQuantLayout layout, out string message);
        if (status != GkStatus.Success)
        {
            throw new GraphKernelsException(status, message);
        }

        return new QuantizationPlan(rows, cols, inputType, options, layout);
    }

    private static void RunProjection(bool unproject, DeviceBuffer<float> input, DeviceBuffer<float> output, long rows, RandomProjection projection, long ldIn, long ldOut, Stream? stream)
    {
        string inName = unproject ? "p" : "x", outName = unproject ? "xHat" : "p";
        string ldInName = unproject ? "ldP" : "ldX", ldOutName = unproject ? "ldX" : "ldP";
        ArgumentNullException.ThrowIfNull(input, inName);
        ArgumentNullException.ThrowIfNull(output, outName);
        ArgumentNullException.ThrowIfNull(projection);
        GraphDevice device = input.DeviceCore;
        device.ThrowIfDisposed();
        CheckDevice(output, device, outName);
        long inCols = unproject ? projection.ProjDim : projection.Dim;
        long outCols = unproject ? projection.Dim : projection.ProjDim;
        if (inCols < 1 || outCols < 1 || rows < 0)
        {
            ThrowArg(nameof(projection), $"rows = {rows}, Dim = {projection.Dim} and ProjDim = {projection.ProjDim} must be >= 0, >= 1 and >= 1.");
        }

        if (ldIn == 0)
        {
            ldIn = inCols;
        }
        else if (ldIn < inCols)
        {
            throw new ArgumentOutOfRangeException(ldInName, ldIn, $"{ldInName} = {ldIn} must be 0 or at least {inCols}.");
        }

        if (ldOut == 0)
        {
            ldOut = outCols;
        }
        else if (ldOut < outCols)
        {
            throw new ArgumentOutOfRangeException(ldOutName, ldOut, $"{ldOutName} = {ldOut} must be 0 or at least {outCols}.");
        }

        CheckLength(input.Length, rows, ldIn, inCols, inName);
        CheckLength(output.Length, rows, ldOut, outCols, outName);
        nint ps = StreamHandle(stream, device);
        nint pi = input.PointerChecked(inName);
        nint po = output.PointerChecked(outName);
        if (device.Managed is { } managed)
        {
            // The checks the native run_projection makes after these, in its order, with its sentences.
            string op = unproject ? "gk_quant_unproject" : "gk_quant_project";
            if ((long)projection.Dim * projection.ProjDim > QuantizationLayout.MaxProjectionSignBits)
            {
                throw new GraphKernelsException(GkStatus.Unsupported, FormattableString.Invariant(
                    $"{op}: desc->dim * desc->proj_dim = {projection.Dim} * {projection.ProjDim} exceeds {QuantizationLayout.MaxProjectionSignBits} (the sign bits of R are kept in 32 KB of shared memory)"));
            }

            if (projection.MaxGrid < 0)
            {
                throw new GraphKernelsException(GkStatus.InvalidArgument, FormattableString.Invariant($"{op}: desc->max_grid = {projection.MaxGrid} is negative"));
            }

            // Separate allocations never overlap on a managed backend (no views or wrapped pointers there).
            if (rows > 0 && ReferenceEquals(input.MemoryHandle, output.MemoryHandle))
            {
                throw new GraphKernelsException(GkStatus.InvalidArgument, $"{op}: {(unproject ? "x_hat" : "p")} overlaps {(unproject ? "p" : "x")}");
            }

            if (rows > 0)
            {
                managed.Projection(unproject, input, ldIn, output, ldOut, rows, projection);
            }

            return;
        }

        var desc = new GkQuantProjDesc { Rows = rows, Dim = projection.Dim, ProjDim = projection.ProjDim, Seed = projection.Seed, MaxGrid = projection.MaxGrid, Reserved = 0 };
        Lease li = default, lo = default;
        try
        {
            li = new Lease(input);
            lo = new Lease(output);
            device.EnsureContext();
            int status = unproject
                ? device.Api.gk_quant_unproject(&desc, (float*)pi, ldIn, (float*)po, ldOut, (void*)ps)
                : device.Api.gk_quant_project(&desc, (float*)pi, ldIn, (float*)po, ldOut, (void*)ps);
            if (status != 0)
            {
                device.Api.ThrowStatus(status, unproject ? "gk_quant_unproject" : "gk_quant_project");
            }
        }
        finally
        {
            lo.Dispose();
            li.Dispose();
        }
    }

    /// <summary>
    /// The levels t_0..t_L and 1 / (t_{k+1} - t_k) (fp32, last 0) as the native launcher builds them, for
    /// managed backends; empty for uniform levels (t_k = k needs no table).
    /// </summary>
    private static (float[] Levels, float[] RDelta) LevelTable(QuantizationPlan plan)
    {
        var o = plan.Options;
        if (o.Levels == QuantLevels.Uniform)
        {
            return ([], []);
        }

        int levels = 1 << o.Bits;
        float[] t = o.Levels == QuantLevels.ClipNormal2 ? [0.0f, plan.Alpha, 3.0f - plan.Alpha, 3.0f] : [.. o.LevelTable!];
        var rd = new float[levels];
        for (int k = 0; k + 1 < levels; k++)
        {
            rd[k] = 1.0f / (t[k + 1] - t[k]);
        }

        return (t, rd);
    }

    private static GkQuantDesc Desc(QuantizationPlan plan, long ld)
    {
        var o = plan.Options;
        return new GkQuantDesc
        {
            Rows = plan.Rows,
            Cols = plan.Cols,
            Ld = ld,
            Bits = o.Bits,
            Block = o.BlockSize,
            Dtype = (int)plan.InputType,
            StatsDtype = (int)o.StatsType,
            Levels = (int)o.Levels,
            Alpha = o.Alpha,
            LevelTable = 0,
            MaxGrid = o.MaxGrid,
            Reserved = 0,
        };
    }

    private static QuantElementType TypeOf(DeviceBuffer buffer, string paramName)
    {
        Type t = buffer.ElementType;
        if (t == typeof(float))
        {
            return QuantElementType.Float32;
        }

        if (t == typeof(Half))
        {
            return QuantElementType.Float16;
        }

        if (t == typeof(ushort))
        {
            return QuantElementType.BFloat16;
        }

        ThrowArg(paramName, $"{paramName} has element type {t.Name}; expected float, Half or ushort (bf16 bits).");
        return default;
    }

    private static nint StreamHandle(Stream? stream, GraphDevice device)
    {
        if (stream is null)
        {
            return 0;
        }

        if (!ReferenceEquals(stream.Device, device))
        {
            ThrowArg(nameof(stream), "The stream belongs to another device (" + stream.Device.Name + ").");
        }

        if (stream.IsDisposed)
        {
            throw new ObjectDisposedException(nameof(stream), "The stream has been disposed.");
        }

        return stream.NativeHandle;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CheckDevice(DeviceBuffer buffer, GraphDevice device, string paramName)
    {
        if (!ReferenceEquals(buffer.DeviceCore, device))
        {
            ThrowArg(paramName, $"{paramName} belongs to another device instance ({buffer.DeviceCore.Name}) than the quantized tensor ({device.Name}).");
        }
    }

    private static void CheckLength(long length, long rows, long ld, long cols, string paramName)
    {
        if (rows <= 0 || cols <= 0)
        {
            return;
        }

        long needed = rows - 1 > (long.MaxValue - cols) / ld ? long.MaxValue : ((rows - 1) * ld) + cols;
        if (length < needed)
        {
            ThrowArg(paramName, $"{paramName} has {length} elements but needs {needed} ({rows} rows, leading dimension {ld}, cols = {cols}).");
        }
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowArg(string paramName, string message) => throw new ArgumentException(message, paramName);

    /// <summary>A DangerousAddRef/DangerousRelease pair on a buffer's handle, without allocating.</summary>
    private struct Lease
    {
        private readonly DeviceMemoryHandle? _handle;
        private bool _added;

        public Lease(DeviceBuffer? buffer)
        {
            _handle = null;
            _added = false;
            if (buffer is not null)
            {
                _handle = buffer.MemoryHandle;
                _handle.DangerousAddRef(ref _added);
            }
        }

        public void Dispose()
        {
            if (_added)
            {
                _handle!.DangerousRelease();
                _added = false;
            }
        }
    }
}
