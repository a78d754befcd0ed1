using System;
using System.Collections.Generic;
using System.Diagnostics;

namespace GraphKernels.Cli;

/// <summary><c>graphkernels demo</c>: SpMM on a power-law graph, checked and timed.</summary>
public static class Demo
{
    /// <summary>Runs the demo.</summary>
    /// <param name="options">The options.</param>
    /// <returns>The process exit code.</returns>
    public static int Run(DemoOptions options)
    {
        GraphDevice device;
        switch (options.Device)
        {
            case DeviceChoice.Cuda:
                if (!GraphDevice.TryCuda(0, out var cuda, out string whyNot))
                {
                    Console.Error.WriteLine("error: no CUDA device: " + whyNot);
                    return Program.ExitNoDevice;
                }

                device = cuda;
                break;
            case DeviceChoice.Emulated:
                device = GraphDevice.Emulated();
                break;
            case DeviceChoice.Ilgpu:
                device = GraphKernels.Ilgpu.IlgpuDevices.Open();
                break;
            default:
                device = GraphDevice.Open();
                break;
        }

        using (device)
        {
            return Run(device, options);
        }
    }

    private static int Run(GraphDevice device, DemoOptions options)
    {
        // The CPU emulation and ILGPU's CPU accelerator: fewer timed runs, and the time is not GPU speed.
        bool emulated = device.Kind == DeviceKind.Emulated || device.Name.Contains("CPU accelerator", StringComparison.Ordinal);
        int nodes = options.Nodes;
        int f = options.Features;

        Console.WriteLine("GraphKernels demo: SpMM on a power-law graph");
        Console.WriteLine($"device    {device.Name} [{device.Kind}]");
        Console.WriteLine($"          {device.SelectionReason}");
        if (device.Kind == DeviceKind.Ilgpu)
        {
            Console.WriteLine("library   none: the ILGPU backend (GraphKernels.Ilgpu) runs managed kernels");
        }
        else
        {
            Console.WriteLine($"library   {device.NativeLibraryPath} (version {device.NativeVersion})");
            Console.WriteLine($"          {device.NativeBuildInfo}");
        }

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

        Console.WriteLine($"graph     {nodes} nodes, {g.Edges} edges (mean in-degree {(double)g.Edges / nodes:F1}, max {g.MaxDegree}), int32 CSR, seed {options.Seed}");
        Console.WriteLine($"features  {f}");

        using var graph = CsrGraph.Upload(device, g.RowPtr, g.ColIdx, nodes);
        using var dx = device.Upload<float>(x);
        using var dw = device.Upload<float>(w);
        using var dy = device.Allocate<float>((long)nodes * f);
        using var darg = device.Allocate<int>((long)nodes * f);

        bool pass = true;

        // Sum with edge weights.
        dy.Fill(float.NaN);
        MessagePassing.SpMM(graph, Message.UMulE, Reduce.Sum, f, dx, dy, edgeWeight: dw);
        var ySum = dy.ToArray();
        var (sumErr, sumWorst) = CheckSum(g, x, w, f, ySum);
        bool sumOk = sumWorst <= 1.0;
        pass &= sumOk;
        double sumMs = Time(device, () => MessagePassing.SpMM(graph, Message.UMulE, Reduce.Sum, f, dx, dy, edgeWeight: dw), emulated, out int sumRuns);
        Console.WriteLine($"u_mul_e/sum  max abs error {sumErr:E2} ({sumWorst:F3} of tolerance)  {(sumOk ? "PASS" : "FAIL")}  {sumMs:F3} ms/call (median of {sumRuns})");

        // Max with argmax.
        dy.Fill(float.NaN);
        darg.Fill(int.MinValue);
        MessagePassing.SpMM(graph, Message.CopyU, Reduce.Max, f, dx, dy, argOut: darg);
        var yMax = dy.ToArray();
        var argMax = darg.ToArray();
        var (maxErr, argMismatch) = CheckMax(g, x, f, yMax, argMax);
        bool maxOk = maxErr == 0 && argMismatch == 0;
        pass &= maxOk;
        double maxMs = Time(device, () => MessagePassing.SpMM(graph, Message.CopyU, Reduce.Max, f, dx, dy, argOut: darg), emulated, out int maxRuns);
        Console.WriteLine($"copy_u/max   max abs error {maxErr:E2}, argmax mismatches {argMismatch}  {(maxOk ? "PASS" : "FAIL")}  {maxMs:F3} ms/call (median of {maxRuns})");

        if (emulated)
        {
            Console.WriteLine("note      run on the CPU: this time is not GPU speed");
        }

        // Each family runs on every backend; one whose ops a backend does not implement yet (ILGPU:
        // docs/ilgpu.md) throws NotSupportedException before writing anything, and is reported as not on
        // this backend instead of failing the demo.
        var missing = new List<string>();
        pass &= RunFamily(device, "force/stress", () => DemoForceStress.Run(device), missing);
        pass &= RunFamily(device, "quantization", () => DemoQuantization.Run(device, nodes, options.Seed), missing);
        if (missing.Count > 0)
        {
            Console.WriteLine();
            Console.WriteLine($"not on this backend: {string.Join(", ", missing)} ({device.Kind}; docs/ilgpu.md lists what it covers; --device emulated or cuda runs them)");
        }

        Console.WriteLine(pass ? "PASS" : "FAIL: the device results do not match the double-precision reference");
        return pass ? 0 : Program.ExitMismatch;
    }

    /// <summary>Runs one family of the demo; NotSupportedException from the backend is reported (and recorded in <paramref name="missing"/>), not a failure.</summary>
    private static bool RunFamily(GraphDevice device, string family, Func<bool> run, List<string> missing)
    {
        try
        {
            return run();
        }
        catch (NotSupportedException ex)
        {
            Console.WriteLine($"{family}: not on this backend ({device.Name}): {ex.Message}");
            missing.Add(family);
            return true;
        }
    }

    /// <summary>Max abs error and the worst error as a fraction of its tolerance (1e-5 of the sum of |terms|, plus 1e-6).</summary>
    private static (double MaxAbs, double WorstRatio) CheckSum(PowerLawGraph g, float[] x, float[] w, int f, float[] y)
    {
        double maxAbs = 0, worst = 0;
        var acc = new double[f];
        var mag = new double[f];
        for (int v = 0; v < g.Nodes; v++)
        {
            Array.Clear(acc);
            Array.Clear(mag);
            for (int e = g.RowPtr[v]; e < g.RowPtr[v + 1]; e++)
            {
                long src = (long)g.ColIdx[e] * f;
                for (int k = 0; k < f; k++)
                {
                    double term = (double)x[src + k] * w[e];
                    acc[k] += term;
                    mag[k] += Math.Abs(term);
                }
            }

            for (int k = 0; k < f; k++)
            {
                double got = y[((long)v * f) + k];
                double err = double.IsFinite(got) ? Math.Abs(got - acc[k]) : double.PositiveInfinity;
                maxAbs = Math.Max(maxAbs, err);
                worst = Math.Max(worst, err / ((1e-5 * mag[k]) + 1e-6));
            }
        }

        return (maxAbs, worst);
    }

    /// <summary>Max abs error of the values and the number of wrong argmax positions (lowest position wins ties; -1 and 0 for empty rows).</summary>
    private static (double MaxAbs, long ArgMismatches) CheckMax(PowerLawGraph g, float[] x, int f, float[] y, int[] arg)
    {
        double maxAbs = 0;
        long mismatches = 0;
        for (int v = 0; v < g.Nodes; v++)
        {
            int begin = g.RowPtr[v], end = g.RowPtr[v + 1];
            for (int k = 0; k < f; k++)
            {
                float best = 0;
                int bestE = -1;
                for (int e = begin; e < end; e++)
                {
                    float value = x[((long)g.ColIdx[e] * f) + k];
                    if (bestE < 0 || value > best)
                    {
                        best = value;
                        bestE = e;
                    }
                }

                long i = ((long)v * f) + k;
                double err = float.IsFinite(y[i]) ? Math.Abs((double)y[i] - best) : double.PositiveInfinity;
                maxAbs = Math.Max(maxAbs, err);
                if (arg[i] != bestE)
                {
                    mismatches++;
                }
            }
        }

        return (maxAbs, mismatches);
    }

    /// <summary>Median wall time per call after one warm-up; each sample ends with a device synchronisation.</summary>
    private static double Time(GraphDevice device, Action call, bool emulated, out int runs)
    {
        call();
        device.Synchronize();
        int maxRuns = emulated ? 5 : 50;
        double budgetMs = emulated ? 4000 : 2000;
        var samples = new List<double>();
        var total = Stopwatch.StartNew();
        while (samples.Count < maxRuns && (samples.Count < 3 || total.Elapsed.TotalMilliseconds < budgetMs))
        {
            long start = Stopwatch.GetTimestamp();
            call();
            device.Synchronize();
            samples.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }

        samples.Sort();
        runs = samples.Count;
        return samples[samples.Count / 2];
    }
}
