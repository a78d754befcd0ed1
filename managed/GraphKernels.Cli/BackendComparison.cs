using System;
using System.Collections.Generic;
using System.Diagnostics;
using GraphKernels.Ilgpu;

namespace GraphKernels.Cli;

/// <summary>
/// <c>graphkernels backends</c>: what the fallback costs. The same SpMM work (u_mul_e/sum and
/// copy_u/max with arg, fp32, int32 CSR, the demo's power-law graph) and the same quantize/dequantize
/// of the feature matrix (INT2, i-EXACT levels, B = 1024) on ILGPU's CPU accelerator, on the emulated
/// CUDA library and as a plain single-threaded C# loop; median wall time per call (including the
/// device synchronisation), and a bitwise comparison of the three results (SpMM folds in the same CSR
/// order; quantization uses the same Philox stream and fp32 operations, so they must agree exactly).
/// CPU times only: not GPU speed.
/// </summary>
public static class BackendComparison
{
    private const ulong QuantSeed = 2024, QuantOffset = 1;

    /// <summary>Runs the comparison.</summary>
    /// <param name="options">Graph size, features and seed (the demo's options; --device is ignored).</param>
    /// <returns>0, or <see cref="Program.ExitMismatch"/> when the backends disagree.</returns>
    public static int Run(DemoOptions options)
    {
        int nodes = options.Nodes, f = options.Features;
        var rng = new XorShift(options.Seed);
        var g = PowerLawGraph.Generate(nodes, options.Degree, rng);
        var x = new float[(long)nodes * f];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = rng.NextSigned();
        }

        var w = new float[g.Edges];
        for (int i = 0; i < w.Length; i++)
        {
            w[i] = rng.NextSigned();
        }

        Console.WriteLine($"SpMM backends on the CPU: {nodes} nodes, {g.Edges} edges (max in-degree {g.MaxDegree}), F = {f}, {Environment.ProcessorCount} logical CPUs");
        Console.WriteLine($"{"backend",-52} {"u_mul_e/sum ms",15} {"copy_u/max+arg ms",18}");

        var loopSum = new float[x.Length];
        var loopMax = new float[x.Length];
        var loopArg = new int[x.Length];
        double loopSumMs = Median(() => Loop(g, x, w, f, Reduce.Sum, loopSum, null));
        double loopMaxMs = Median(() => Loop(g, x, null, f, Reduce.Max, loopMax, loopArg));
        Console.WriteLine($"{"plain C# loop (1 thread, CSR order)",-52} {loopSumMs,15:F2} {loopMaxMs,18:F2}");

        // Quantization: the same INT2 (i-EXACT levels, B = 1024, fp32 statistics) quantize and
        // dequantize of x on every backend; the plain loop is QuantLoop.
        var qOptions = QuantizationOptions.IExact;
        var qPlan = Quantization.Plan(nodes, f, qOptions);
        var loopPacked = new uint[qPlan.PackedBytes / 4];
        var loopZero = new float[qPlan.NumBlocks];
        var loopStep = new float[qPlan.NumBlocks];
        var loopY = new float[x.Length];
        var quantRows = new List<string>();
        double loopQMs = Median(() => QuantLoop.Quantize(x, qPlan, QuantSeed, QuantOffset, loopPacked, loopZero, loopStep));
        double loopDqMs = Median(() => QuantLoop.Dequantize(loopPacked, loopZero, loopStep, qPlan, loopY));
        quantRows.Add($"{"plain C# loop (1 thread, block by block)",-52} {loopQMs,15:F2} {loopDqMs,18:F2}");

        bool same = true;
        foreach (var (label, open) in new (string, Func<GraphDevice>)[]
                 {
                     ("emulated CUDA kernel (libgraphkernels_emulated)", GraphDevice.Emulated),
                     ("ILGPU CPU accelerator (GraphKernels.Ilgpu)", () => IlgpuDevices.Open(IlgpuAccelerator.Cpu)),
                 })
        {
            GraphDevice device;
            try
            {
                device = open();
            }
            catch (DllNotFoundException ex)
            {
                Console.WriteLine($"{label,-52} not available: {ex.Message.Split('\n')[0]}");
                continue;
            }

            using (device)
            {
                using var graph = CsrGraph.Upload(device, g.RowPtr, g.ColIdx, nodes);
                using var dx = device.Upload<float>(x);
                using var dw = device.Upload<float>(w);
                using var dy = device.Allocate<float>(x.Length);
                using var darg = device.Allocate<int>(x.Length);
                double sumMs = Median(() =>
                {
                    MessagePassing.SpMM(graph, Message.UMulE, Reduce.Sum, f, dx, dy, edgeWeight: dw);
                    device.Synchronize();
                });
                same &= Same(dy.ToArray(), loopSum, null, null);
                double maxMs = Median(() =>
                {
                    MessagePassing.SpMM(graph, Message.CopyU, Reduce.Max, f, dx, dy, argOut: darg);
                    device.Synchronize();
                });
                same &= Same(dy.ToArray(), loopMax, darg.ToArray(), loopArg);
                Console.WriteLine($"{label,-52} {sumMs,15:F2} {maxMs,18:F2}");

                using var q = Quantization.Allocate(device, nodes, f, qOptions);
                double qMs = Median(() =>
                {
                    Quantization.QuantizeInto(dx, q, QuantSeed, QuantOffset);
                    device.Synchronize();
                });
                same &= q.Packed.ToArray().AsSpan().SequenceEqual(loopPacked)
                    && Same(((DeviceBuffer<float>)q.Zero).ToArray(), loopZero, null, null)
                    && Same(((DeviceBuffer<float>)q.Step).ToArray(), loopStep, null, null);
                double dqMs = Median(() =>
                {
                    Quantization.Dequantize(q, dy);
                    device.Synchronize();
                });
                same &= Same(dy.ToArray(), loopY, null, null);
                quantRows.Add($"{label,-52} {qMs,15:F2} {dqMs,18:F2}");
            }
        }

        Console.WriteLine();
        Console.WriteLine($"Quantization backends on the CPU: [{nodes}, {f}] fp32, INT2 i-EXACT levels, B = {qPlan.BlockSize}, fp32 statistics ({qPlan.NumBlocks} blocks)");
        Console.WriteLine($"{"backend",-52} {"quantize ms",15} {"dequantize ms",18}");
        foreach (string row in quantRows)
        {
            Console.WriteLine(row);
        }

        Console.WriteLine();

        Console.WriteLine(same
            ? "results: bitwise identical on every backend (SpMM: same CSR-order fp32 fold; quantization: same Philox stream, statistics and fp32 operations)"
            : "results: MISMATCH between backends");
        Console.WriteLine("note: CPU wall times on this machine, median of up to 7 calls after a warm-up; not GPU speed");
        return same ? 0 : Program.ExitMismatch;
    }

    /// <summary>The reference loop: for each row, each feature, fold the row's edges in CSR order in fp32.</summary>
    private static void Loop(PowerLawGraph g, float[] x, float[]? w, int f, Reduce reduce, float[] y, int[]? arg)
    {
        for (int v = 0; v < g.Nodes; v++)
        {
            int start = g.RowPtr[v], end = g.RowPtr[v + 1];
            for (int k = 0; k < f; k++)
            {
                float acc = 0f;
                int best = -1;
                for (int e = start; e < end; e++)
                {
                    float m = x[((long)g.ColIdx[e] * f) + k];
                    if (w is not null)
                    {
                        m *= w[e];
                    }

                    if (reduce == Reduce.Sum)
                    {
                        acc += m;
                    }
                    else if (best < 0 || (!float.IsNaN(acc) && (float.IsNaN(m) || m > acc)))
                    {
                        acc = m;
                        best = e;
                    }
                }

                y[((long)v * f) + k] = acc;
                if (arg is not null)
                {
                    arg[((long)v * f) + k] = best;
                }
            }
        }
    }

    private static bool Same(float[] a, float[] b, int[]? argA, int[]? argB)
    {
        for (long i = 0; i < a.LongLength; i++)
        {
            if (BitConverter.SingleToInt32Bits(a[i]) != BitConverter.SingleToInt32Bits(b[i]) || (argA is not null && argA[i] != argB![i]))
            {
                return false;
            }
        }

        return true;
    }

    private static double Median(Action call)
    {
        call();
        var samples = new List<double>();
        var total = Stopwatch.StartNew();
        while (samples.Count < 7 && (samples.Count < 3 || total.Elapsed.TotalMilliseconds < 5000))
        {
            long start = Stopwatch.GetTimestamp();
            call();
            samples.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }

        samples.Sort();
        return samples[samples.Count / 2];
    }
}
