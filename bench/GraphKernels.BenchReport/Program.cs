using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using GraphKernels.BenchData;

namespace GraphKernels.BenchReport;

/// <summary>
/// Commands (bench/README.md):
/// <list type="bullet">
/// <item><c>report --results DIR --out DIR [--data DIR] [--device NAME]</c>: one markdown table and one PNG per family.</item>
/// <item><c>generate --out DIR [--scale S] [--features F] [--presets a,b]</c>: the shared inputs.</item>
/// <item><c>ptxas-gate --lib PATH [--budgets FILE] [--arch sm_90] [--report FILE]</c>: the static budgets.</item>
/// </list>
/// </summary>
public static class Program
{
    /// <summary>Runs a command.</summary>
    /// <param name="args">Arguments.</param>
    /// <returns>Exit code: 0 ok, 1 failed (gate exceeded, a peer failed), 2 usage.</returns>
    public static int Main(string[] args)
    {
        if (args.Length == 0) return Usage();
        string Opt(string name, string? fallback = null)
        {
            int i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1]
                : fallback ?? throw new ArgumentException($"{args[0]}: {name} is required");
        }

        try
        {
            switch (args[0])
            {
                case "report":
                    return Report.Run(Opt("--results"), Opt("--out"), Opt("--data", ""), Opt("--device", ""));
                case "generate":
                    return Generate(Opt("--out"), double.Parse(Opt("--scale", "1"), CultureInfo.InvariantCulture),
                        int.Parse(Opt("--features", "256"), CultureInfo.InvariantCulture),
                        Opt("--presets", string.Join(",", Datasets.PresetNames)).Split(',', StringSplitOptions.RemoveEmptyEntries),
                        "GraphKernels.BenchReport " + string.Join(' ', args));
                case "ptxas-gate":
                {
                    string lib = Opt("--lib", "build/cuda/lib/libgraphkernels.so");
                    string arch = Opt("--arch", "sm_90");
                    var result = PtxasGate.Run(lib, Opt("--budgets", $"bench/budgets/ptxas_{arch.Replace("_", "", StringComparison.Ordinal)}.txt"), arch);
                    string report = Opt("--report", Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetFullPath(lib)))!, $"ptxas-gate-{arch}.md"));
                    File.WriteAllText(report, result.ToMarkdown());
                    Console.WriteLine($"ptxas gate {arch}: {(result.Passed ? "PASSED" : "FAILED")}, {result.Verdicts.Count} kernels, report {report}");
                    foreach (var v in result.Verdicts.Where(v => v.Violations.Count > 0)) Console.WriteLine($"  {v.Kernel.Mangled}: {string.Join("; ", v.Violations)}");
                    foreach (var p in result.Problems) Console.WriteLine("  problem: " + p);
                    return result.Passed ? 0 : 1;
                }

                default:
                    return Usage();
            }
        }
        catch (Exception e) when (e is ArgumentException or IOException or FormatException or KeyNotFoundException)
        {
            Console.Error.WriteLine($"GraphKernels.BenchReport {args[0]}: {e.Message}");
            return 2;
        }
    }

    private static int Generate(string outDir, double scale, int features, string[] presets, string command)
    {
        Directory.CreateDirectory(outDir);
        var manifest = new BenchManifest { Scale = scale, Command = command };
        foreach (string p in presets)
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var e = Datasets.Generate(Datasets.Preset(p, scale), outDir, features);
            manifest.Datasets.Add(e);
            Console.WriteLine(FormattableString.Invariant($"generated {p,-10} {e.Nodes,10:N0} nodes {e.Edges,13:N0} edges F={features} in {sw.Elapsed.TotalSeconds:F1} s"));
        }

        manifest.Save(outDir);
        return 0;
    }

    private static int Usage()
    {
        Console.Error.WriteLine("""
            usage: GraphKernels.BenchReport report --results DIR --out DIR [--data DIR] [--device NAME]
                   GraphKernels.BenchReport generate --out DIR [--scale S] [--features F] [--presets arxiv,reddit,reddit2,products,molecular]
                   GraphKernels.BenchReport ptxas-gate [--lib build/cuda/lib/libgraphkernels.so] [--budgets bench/budgets/ptxas_sm90.txt] [--arch sm_90] [--report FILE]
            """);
        return 2;
    }
}
