using System;
using System.Globalization;
using System.Linq;
using BenchmarkDotNet.Running;
using GraphKernels.BenchData;

namespace GraphKernels.Bench;

/// <summary>
/// Entry point:
/// <c>dotnet run -c Release --project bench/GraphKernels.Bench -- --filter '*'</c> runs the suites
/// (BenchmarkDotNet's switcher; inputs from GK_BENCH_DATA), and
/// <c>... -- generate --out DIR [--scale S] [--features F] [--presets a,b]</c> writes the shared
/// inputs (the same command as GraphKernels.BenchReport's, here so the GPU machine needs one app).
/// </summary>
public static class Program
{
    /// <summary>Runs the benchmarks selected on the command line, or `generate`.</summary>
    /// <param name="args">BenchmarkDotNet arguments, e.g. <c>--filter '*'</c>, or `generate ...`.</param>
    /// <returns>Exit code.</returns>
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "generate")
        {
            string Opt(string name, string fallback)
            {
                int i = Array.IndexOf(args, name);
                return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
            }

            string outDir = Opt("--out", "bench/data/full");
            double scale = double.Parse(Opt("--scale", "1"), CultureInfo.InvariantCulture);
            int features = int.Parse(Opt("--features", "256"), CultureInfo.InvariantCulture);
            var presets = Opt("--presets", string.Join(",", Datasets.PresetNames)).Split(',', StringSplitOptions.RemoveEmptyEntries);
            Generator.Run(outDir, scale, features, presets, "GraphKernels.Bench " + string.Join(' ', args));
            return 0;
        }

        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        // Fail loudly: a case that errored must not look like a pass.
        bool failed = summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success))
            || (args.Contains("--filter") && summaries.Sum(s => s.Reports.Length) == 0);
        if (failed) Console.Error.WriteLine("GraphKernels.Bench: at least one benchmark case failed (see the log above)");
        return failed ? 1 : 0;
    }
}
