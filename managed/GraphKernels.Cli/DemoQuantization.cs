using System;
using System.Diagnostics;

namespace GraphKernels.Cli;

/// <summary>
/// The quantization part of <c>graphkernels demo</c>: a hidden layer's activations (ReLU of a
/// Gaussian pre-activation, [nodes, 128]) quantized block-wise as GNN training would save them for
/// the backward pass, dequantized, and checked: bytes saved (from the library's plan), error, and
/// the properties stochastic rounding guarantees (every value within one level spacing, no bias).
/// </summary>
public static class DemoQuantization
{
    private const int Width = 128;

    /// <summary>Runs INT2 (i-EXACT levels) and INT8; returns whether both behave.</summary>
    /// <param name="device">The device.</param>
    /// <param name="nodes">Rows of the activation.</param>
    /// <param name="seed">Data seed.</param>
    /// <returns>True when both pass.</returns>
    public static bool Run(GraphDevice device, int nodes, ulong seed)
    {
        Console.WriteLine();
        Console.WriteLine($"GraphKernels demo: block-wise activation quantization of a [{nodes}, {Width}] ReLU layer");
        var rng = new XorShift(seed + 17);
        var x = new float[(long)nodes * Width];
        for (long i = 0; i < x.Length; i++)
        {
            double u1 = 1.0 - ((rng.Next() >> 11) * (1.0 / (1UL << 53))), u2 = (rng.Next() >> 11) * (1.0 / (1UL << 53));
            x[i] = (float)Math.Max(0, Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }

        using var dx = device.Upload<float>(x);
        bool ok = RunCase(device, dx, x, nodes, QuantizationOptions.IExact, "INT2, B=1024, i-EXACT levels");
        ok &= RunCase(device, dx, x, nodes, new QuantizationOptions { Bits = 8 }, "INT8, B=1024, uniform");
        ok &= RunProjected(dx, x, nodes);
        return ok;
    }

    /// <summary>EXACT's pipeline: D/8 random projection, INT2, back; the error is dominated by the projection ((D - 1) / K of |x|^2 in expectation).</summary>
    private static bool RunProjected(DeviceBuffer<float> dx, float[] x, int nodes)
    {
        var proj = RandomProjection.Exact(Width, seed: 7);
        var o = QuantizationOptions.IExact;
        var plan = Quantization.Plan(nodes, proj.ProjDim, o);
        using var dp = Quantization.Project(dx, nodes, proj);
        using var q = Quantization.Quantize(dp, nodes, proj.ProjDim, o, seed: 2024, offset: 2);
        using var dph = Quantization.Dequantize(q);
        using var dxh = Quantization.Unproject(dph, nodes, proj);
        using var dxp = Quantization.Unproject(dp, nodes, proj);
        float[] y = dxh.ToArray(), yp = dxp.ToArray();
        double sq = 0, sqp = 0, sqx = 0;
        for (long i = 0; i < x.Length; i++)
        {
            sq += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
            sqp += ((double)yp[i] - x[i]) * ((double)yp[i] - x[i]);
            sqx += (double)x[i] * x[i];
        }

        double fp32 = 4.0 * nodes * Width;
        double predicted = Math.Sqrt((Width - 1.0) / proj.ProjDim);
        bool ok = double.IsFinite(sq) && Math.Sqrt(sqp / sqx) > 0.75 * predicted && Math.Sqrt(sqp / sqx) < 1.25 * predicted;
        Console.WriteLine($"{"INT2 after D/8 projection",-30} {plan.TotalBytes,12:N0} bytes vs {fp32:N0} fp32 ({100 * (1 - (plan.TotalBytes / fp32)):F1} % saved)");
        Console.WriteLine($"{string.Empty,-30} relative RMS error {Math.Sqrt(sq / sqx):F2} (projection alone {Math.Sqrt(sqp / sqx):F2}, expected {predicted:F2}: unbiased but noisy)  {(ok ? "PASS" : "FAIL")}");
        return ok;
    }

    private static bool RunCase(GraphDevice device, DeviceBuffer<float> dx, float[] x, int nodes, QuantizationOptions o, string name)
    {
        var plan = Quantization.Plan(nodes, Width, o);
        var sw = Stopwatch.StartNew();
        using var q = Quantization.Quantize(dx, nodes, Width, o, seed: 2024, offset: 1);
        using var dy = Quantization.Dequantize(q);
        device.Synchronize();
        double ms = sw.Elapsed.TotalMilliseconds;
        float[] y = dy.ToArray();
        float[] step = ((DeviceBuffer<float>)q.Step).ToArray();
        double maxSpacing = o.Levels == QuantLevels.ClipNormal2 ? Math.Max(plan.Alpha, 3 - (2 * plan.Alpha)) : 1.0;
        double sq = 0, sqx = 0, bias = 0, varSum = 0, worst = 0;
        for (long i = 0; i < x.Length; i++)
        {
            double s = step[i / plan.BlockSize], e = (double)y[i] - x[i];
            sq += e * e;
            sqx += (double)x[i] * x[i];
            bias += e;
            varSum += s * s * maxSpacing * maxSpacing / 4;   // an upper bound of each element's variance
            worst = Math.Max(worst, Math.Abs(e) / (s * maxSpacing));
        }

        double z = bias / Math.Sqrt(varSum);
        bool ok = worst <= 1 + 1e-6 && Math.Abs(z) < 5;
        Console.WriteLine($"{name,-30} {plan.TotalBytes,12:N0} bytes vs {plan.InputBytes:N0} fp32 ({plan.CompressionRatio:F1}x, {100 * (1 - (1 / plan.CompressionRatio)):F1} % saved, {plan.BitsPerElement:F3} bits/element)");
        Console.WriteLine($"{string.Empty,-30} relative RMS error {Math.Sqrt(sq / sqx):E2}, worst |error| {worst:F3} of a level spacing, mean error {bias / x.Length:E2} (z = {z:F2})  {(ok ? "PASS" : "FAIL")}  {ms:F1} ms{(device.Kind == DeviceKind.Emulated ? " (emulated)" : device.Kind == DeviceKind.Ilgpu ? " (ILGPU)" : string.Empty)}");
        return ok;
    }
}
