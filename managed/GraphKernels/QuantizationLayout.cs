using System;
using System.Globalization;
using System.Numerics;
using System.Text;
using GraphKernels.Interop;

namespace GraphKernels;

/// <summary>
/// The host-only part of the quantization C ABI in C#: <c>gk_quant_plan</c> (validation order, status
/// and message of <c>resolve</c> + <c>gk_quant_plan</c> in native/src/quantization.cu, word for word),
/// <c>gk_quant_alpha</c> and <c>gk_quant_projection_scale</c>. <see cref="Quantization.Plan"/>,
/// <see cref="Quantization.Allocate"/>, <see cref="Quantization.Alpha"/> and
/// <see cref="Quantization.ProjectionScale"/> use it on every backend, so planning needs no native
/// library (the ILGPU backend on a machine with nothing but .NET); the native functions stay for the C
/// ABI. QuantizationLayoutPortTests compares every field and every message with the native library.
/// </summary>
internal static class QuantizationLayout
{
    /// <summary>gk::kQuantMaxBlock.</summary>
    public const int MaxBlock = 8192;

    /// <summary>The block size that desc->block = 0 selects.</summary>
    public const int DefaultBlock = 1024;

    /// <summary>gk::kRpMaxSignBits: the largest D * K of a random projection.</summary>
    public const int MaxProjectionSignBits = 1 << 18;

    private const string Op = "gk_quant_plan";

    /// <summary>alpha_of_block: i-EXACT's fit in double, B clamped to [4, 2047] (same expression, same evaluation order).</summary>
    public static double AlphaOfBlock(int block)
    {
        double b = block;
        b = b < 4.0 ? 4.0 : (b > 2047.0 ? 2047.0 : b);
        return 0.83162565 + (0.02993653 * Math.Log(116.05528511 * b)) + (1.225e-5 * b) - (0.00171617 * Math.Sqrt(b));
    }

    /// <summary>gk_quant_alpha.</summary>
    public static float Alpha(int block) => (float)AlphaOfBlock(block);

    /// <summary>gk_quant_projection_scale: fp32(1 / sqrt(K)), 0 for K &lt; 1.</summary>
    public static float ProjectionScale(int projDim) => projDim < 1 ? 0.0f : (float)(1.0 / Math.Sqrt(projDim));

    /// <summary>
    /// gk_quant_plan on <paramref name="d"/> (its LevelTable pointer ignored: <paramref name="table"/>
    /// is the table, null for a NULL pointer; it must hold at least 2^bits floats when bits is valid and
    /// levels is TABLE). Returns the status; <paramref name="message"/> is the native sentence.
    /// </summary>
    public static GkStatus TryPlan(in GkQuantDesc d, float[]? table, out GkQuantLayout layout, out string message)
    {
        layout = default;
        message = string.Empty;
        static GkStatus Fail(GkStatus status, FormattableString text, out string msg)
        {
            msg = Op + ": " + FormattableString.Invariant(text);   // %d / %lld: no culture
            return status;
        }

        if (d.Reserved != 0)
        {
            return Fail(GkStatus.InvalidArgument, $"desc->reserved = {d.Reserved}, must be 0", out message);
        }

        if (d.Rows < 0)
        {
            return Fail(GkStatus.InvalidArgument, $"desc->rows = {d.Rows} is negative", out message);
        }

        if (d.Cols < 0)
        {
            return Fail(GkStatus.InvalidArgument, $"desc->cols = {d.Cols} is negative", out message);
        }

        long ld = d.Ld == 0 ? d.Cols : d.Ld;
        if (ld < d.Cols)
        {
            return Fail(GkStatus.InvalidArgument, $"desc->ld = {d.Ld} is less than desc->cols = {d.Cols}", out message);
        }

        if (d.Bits != 1 && d.Bits != 2 && d.Bits != 4 && d.Bits != 8)
        {
            return Fail(GkStatus.InvalidArgument, $"desc->bits = {d.Bits}, must be 1, 2, 4 or 8", out message);
        }

        int block = d.Block == 0 ? DefaultBlock : d.Block;
        if (block < 32 || block > MaxBlock || block % 32 != 0)
        {
            return Fail(GkStatus.InvalidArgument, $"desc->block = {d.Block}, must be a multiple of 32 in [32, {MaxBlock}] (0 = {DefaultBlock})", out message);
        }

        if (d.Dtype is not (0 or 1 or 2))
        {
            // GK_DTYPE_F64 (3) is a valid dtype this op does not do.
            return Fail(d.Dtype == 3 ? GkStatus.Unsupported : GkStatus.InvalidArgument,
                $"desc->dtype = {d.Dtype}, must be GK_DTYPE_F32 (0), F16 (1) or BF16 (2)", out message);
        }

        if (d.StatsDtype != 0 && d.StatsDtype != 2)
        {
            return Fail(GkStatus.InvalidArgument, $"desc->stats_dtype = {d.StatsDtype}, must be GK_DTYPE_F32 (0) or GK_DTYPE_BF16 (2)", out message);
        }

        if (d.MaxGrid < 0)
        {
            return Fail(GkStatus.InvalidArgument, $"desc->max_grid = {d.MaxGrid} is negative", out message);
        }

        if (d.Rows > 0 && d.Cols > 0 && d.Rows > long.MaxValue / d.Cols)
        {
            return Fail(GkStatus.IndexOverflow, $"desc->rows * desc->cols ({d.Rows} * {d.Cols}) overflows int64", out message);
        }

        long n = d.Rows * d.Cols;
        long numBlocks = n == 0 ? 0 : ((n - 1) / block) + 1;
        long wordsPerBlock = (long)block * d.Bits / 32;
        long statsBytes = numBlocks * (d.StatsDtype == 2 ? 2 : 4);
        if (numBlocks > long.MaxValue / 4 / wordsPerBlock)
        {
            return Fail(GkStatus.IndexOverflow, $"packed size of {numBlocks} blocks overflows int64", out message);
        }

        long packedBytes = numBlocks * wordsPerBlock * 4;
        int levels = (1 << d.Bits) - 1;
        float alpha = 0.0f;
        switch (d.Levels)
        {
            case 0:
                break;
            case 1:
                if (d.Bits != 2)
                {
                    return Fail(GkStatus.InvalidArgument, $"desc->levels = GK_QUANT_LEVELS_CLIPNORM2 needs bits = 2, got bits = {d.Bits}", out message);
                }

                if (float.IsNaN(d.Alpha) || d.Alpha >= 1.5f)
                {
                    return Fail(GkStatus.InvalidArgument, $"desc->alpha = {G(d.Alpha)}, must be in (0, 1.5) (or <= 0 for alpha(B))", out message);
                }

                alpha = d.Alpha > 0.0f ? d.Alpha : (float)AlphaOfBlock(block);
                break;
            case 2:
                if (table is null)
                {
                    return Fail(GkStatus.InvalidArgument, $"desc->level_table is NULL; GK_QUANT_LEVELS_TABLE needs {levels + 1} floats (host memory)", out message);
                }

                if (table.Length <= levels)
                {
                    throw new ArgumentException($"the level table has {table.Length} floats; {levels + 1} are read.", nameof(table));
                }

                if (table[0] != 0.0f || table[levels] != levels)
                {
                    return Fail(GkStatus.InvalidArgument, $"desc->level_table[0] = {G(table[0])} and [{levels}] = {G(table[levels])}, must be 0 and {levels}", out message);
                }

                for (int k = 0; k < levels; k++)
                {
                    if (!(table[k + 1] > table[k]))
                    {
                        return Fail(GkStatus.InvalidArgument, $"desc->level_table is not strictly increasing at index {k + 1} ({G(table[k + 1])} after {G(table[k])})", out message);
                    }
                }

                break;
            default:
                return Fail(GkStatus.InvalidArgument, $"desc->levels = {d.Levels} is not a gk_quant_levels (0 = uniform, 1 = clipnorm2, 2 = table)", out message);
        }

        // gk_quant_plan: every layout field is an int64.
        long elementSize = d.Dtype == 0 ? 4 : 2;
        if (n > long.MaxValue / elementSize || packedBytes > long.MaxValue - (2 * statsBytes))
        {
            return Fail(GkStatus.IndexOverflow, $"desc->rows * desc->cols = {n} elements: the byte sizes overflow int64", out message);
        }

        layout = new GkQuantLayout
        {
            NumBlocks = numBlocks,
            WordsPerBlock = wordsPerBlock,
            PackedBytes = packedBytes,
            StatsBytes = statsBytes,
            TotalBytes = packedBytes + (2 * statsBytes),
            InputBytes = n * elementSize,
            Block = block,
            Alpha = alpha,
        };
        return GkStatus.Success;
    }

    /// <summary>
    /// printf's <c>%g</c> of a float promoted to double, as glibc prints it: 6 significant digits of the
    /// exact decimal value rounded half to even, fixed notation when -4 &lt;= exponent &lt; 6 else
    /// d.ddddde+XX, trailing zeros removed; "inf", "-inf", "nan", "-nan" (the sign bit of a NaN is printed).
    /// </summary>
    internal static string G(double value)
    {
        const int precision = 6;
        long bits = BitConverter.DoubleToInt64Bits(value);
        bool negative = bits < 0;
        string sign = negative ? "-" : string.Empty;
        if (double.IsNaN(value))
        {
            return sign + "nan";
        }

        if (double.IsInfinity(value))
        {
            return sign + "inf";
        }

        if (value == 0.0)
        {
            return sign + "0";
        }

        // |value| = mantissa * 2^exp2 exactly; its decimal digits as one integer times 10^exp10.
        int biased = (int)((bits >> 52) & 0x7FF);
        long mantissa = bits & 0xFFFFFFFFFFFFFL;
        int exp2;
        if (biased == 0)
        {
            exp2 = -1074;
        }
        else
        {
            mantissa |= 1L << 52;
            exp2 = biased - 1075;
        }

        BigInteger digitsValue;
        int exp10;
        if (exp2 >= 0)
        {
            digitsValue = new BigInteger(mantissa) << exp2;
            exp10 = 0;
        }
        else
        {
            digitsValue = new BigInteger(mantissa) * BigInteger.Pow(5, -exp2);
            exp10 = exp2;
        }

        string all = digitsValue.ToString(CultureInfo.InvariantCulture);
        int x = all.Length - 1 + exp10;   // decimal exponent of the leading digit
        string kept;
        if (all.Length <= precision)
        {
            kept = all.PadRight(precision, '0');
        }
        else
        {
            kept = all[..precision];
            string rest = all[precision..];
            int cmp = rest[0] > '5' ? 1 : rest[0] < '5' ? -1 : (rest.AsSpan(1).TrimEnd('0').Length > 0 ? 1 : 0);
            bool up = cmp > 0 || (cmp == 0 && (kept[precision - 1] - '0') % 2 == 1);
            if (up)
            {
                var rounded = BigInteger.Parse(kept, CultureInfo.InvariantCulture) + 1;
                kept = rounded.ToString(CultureInfo.InvariantCulture);
                if (kept.Length > precision)
                {
                    kept = kept[..precision];
                    x++;
                }
            }
        }

        var sb = new StringBuilder(sign);
        if (x < -4 || x >= precision)
        {
            sb.Append(kept[0]);
            string frac = kept[1..].TrimEnd('0');
            if (frac.Length > 0)
            {
                sb.Append('.').Append(frac);
            }

            sb.Append('e').Append(x < 0 ? '-' : '+').Append(Math.Abs(x).ToString("00", CultureInfo.InvariantCulture));
            return sb.ToString();
        }

        if (x >= 0)
        {
            string intPart = kept[..(x + 1)];
            string frac = kept[(x + 1)..].TrimEnd('0');
            sb.Append(intPart);
            if (frac.Length > 0)
            {
                sb.Append('.').Append(frac);
            }
        }
        else
        {
            string frac = (new string('0', -x - 1) + kept).TrimEnd('0');
            sb.Append("0.").Append(frac);
        }

        return sb.ToString();
    }
}
