using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using GraphKernels.BenchData;

namespace GraphKernels.BenchReport;

/// <summary>
/// Reads our report-gk JSON and the peers' JSON from one run, and writes per family a markdown
/// table and a PNG chart: ours, each peer, and the roofline floor (bytes / the device's peak DRAM
/// bandwidth), plus index.md with the run's metadata (meta.txt written by bench/run-gpu.sh).
/// </summary>
public static class Report
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Runs the report.</summary>
    /// <param name="resultsDir">Folder with *-report-gk.json, peers-*.json and meta.txt.</param>
    /// <param name="outDir">Output folder.</param>
    /// <param name="dataDir">Data folder (for bytes of peer-only rows), or "".</param>
    /// <param name="deviceOverride">Device name, or "" to take it from the results.</param>
    /// <returns>0, or 1 when a peer recorded a failure or nothing was found.</returns>
    public static int Run(string resultsDir, string outDir, string dataDir, string deviceOverride)
    {
        Directory.CreateDirectory(outDir);
        var files = Results.Load(resultsDir);
        var manifest = dataDir.Length > 0 && File.Exists(Path.Combine(dataDir, BenchManifest.FileName)) ? BenchManifest.Load(dataDir) : null;
        // BenchmarkDotNet's joined summary repeats rows of the per-class files: keep the first of each case.
        var records = files.SelectMany(f => f.File.Records.Select(r => (f.Path, r)))
            .DistinctBy(x => (x.r.Impl, x.r.Family, x.r.Op, x.r.Dataset, x.r.Features, x.r.Dtype)).ToList();
        var problems = new List<string>();
        if (files.Count == 0) problems.Add($"no *-report-gk.json or peers-*.json under {resultsDir}");
        foreach (var (path, r) in records.Where(x => x.r.Note.StartsWith("FAILED", StringComparison.Ordinal)))
        {
            problems.Add($"{Path.GetFileName(path)}: {r.Impl} {r.Family}/{r.Op} on {r.Dataset} F={r.Features}: {r.Note}");
        }

        string device = files.Select(f => f.File).FirstOrDefault(f => !f.Emulated)?.Device ?? files.FirstOrDefault().File?.Device ?? "unknown";
        bool emulated = files.Count > 0 && files.Where(f => f.File.Tool.Contains("GraphKernels.Bench", StringComparison.Ordinal)).All(f => f.File.Emulated);
        // An explicit --device sets the floor even for emulated rows (the dry run exercises the column that way).
        var peak = Roofline.Find(deviceOverride.Length > 0 ? deviceOverride : emulated ? null : device);
        string meta = File.Exists(Path.Combine(resultsDir, "meta.txt")) ? File.ReadAllText(Path.Combine(resultsDir, "meta.txt")).Trim() : "";

        var index = new StringBuilder();
        index.AppendLine(Inv, $"# Benchmark results: {device}").AppendLine();
        if (emulated) index.AppendLine("**Emulated, not a GPU figure**: our rows ran on the CPU emulation of the CUDA model; they show that the suite runs, not how fast anything is.").AppendLine();
        index.AppendLine(Inv, $"Roofline floor: {(peak == null ? "n/a (no peak bandwidth known for this device)" : $"bytes / {peak.BytesPerSecond / 1e12:F2} TB/s ({peak.Name}, {peak.Source}{(emulated ? "; the device named with --device, not the one that ran" : "")})")}.  ");
        index.AppendLine("Bytes = the compulsory traffic of each op (formulas in bench/README.md); copy fraction = time of a device-to-device copy moving the same bytes, measured in the same process, / op time.").AppendLine();
        if (meta.Length > 0) index.AppendLine("## Run").AppendLine().AppendLine("```").AppendLine(meta).AppendLine("```").AppendLine();
        index.AppendLine("## Source files").AppendLine();
        foreach (var (p, f) in files) index.AppendLine(Inv, $"- `{Path.GetRelativePath(resultsDir, p)}` — {f.Tool}, {f.Records.Count} rows{(f.Emulated ? ", emulated" : "")}");
        index.AppendLine();

        foreach (var family in records.Select(x => x.r.Family).Distinct().Order(StringComparer.Ordinal))
        {
            var rows = records.Where(x => x.r.Family == family).Select(x => x.r).ToList();
            string md = family == "overhead" ? OverheadTable(rows) : FamilyTable(family, rows, manifest, peak, emulated, out var chartRows);
            File.WriteAllText(Path.Combine(outDir, family + ".md"), md);
            index.AppendLine(Inv, $"## {family}").AppendLine().AppendLine(md);
            if (family != "overhead")
            {
                Chart.Write(Path.Combine(outDir, family + ".png"), family, device, emulated, FamilyCases(rows), peak, manifest);
                index.AppendLine(Inv, $"![{family}]({family}.png)").AppendLine();
            }
        }

        if (problems.Count > 0)
        {
            index.AppendLine("## Failures").AppendLine();
            foreach (var p in problems) index.AppendLine("- " + p);
        }

        File.WriteAllText(Path.Combine(outDir, "index.md"), index.ToString());
        Console.WriteLine($"report: {records.Count} rows from {files.Count} files → {outDir}/index.md{(emulated ? " (emulated, not a GPU figure)" : "")}");
        foreach (var p in problems) Console.Error.WriteLine("report: FAILED: " + p);
        return problems.Count == 0 ? 0 : 1;
    }

    /// <summary>Cases of a family: (op, dataset, F, dtype) → the rows of every implementation.</summary>
    /// <param name="rows">Rows of one family.</param>
    /// <returns>Grouped rows in a stable order.</returns>
    public static List<IGrouping<(string Op, string Dataset, int Features, string Dtype), ResultRecord>> FamilyCases(List<ResultRecord> rows)
        => rows.GroupBy(r => (r.Op, r.Dataset, r.Features, r.Dtype))
            .OrderBy(g => g.Key.Dataset, StringComparer.Ordinal).ThenBy(g => g.Key.Op, StringComparer.Ordinal).ThenBy(g => g.Key.Features).ToList();

    /// <summary>Bytes of a case: from our row, else from the formula and the manifest.</summary>
    /// <param name="family">Family.</param>
    /// <param name="g">Case.</param>
    /// <param name="manifest">Manifest or null.</param>
    /// <returns>Bytes or 0.</returns>
    public static long Bytes(string family, IGrouping<(string Op, string Dataset, int Features, string Dtype), ResultRecord> g, BenchManifest? manifest)
    {
        long b = g.Select(r => r.Bytes).FirstOrDefault(x => x > 0);
        if (b > 0 || manifest == null) return b;
        var ds = manifest.Datasets.Find(d => d.Name == g.Key.Dataset);
        return ds == null ? 0 : ByteModel.For(family, g.Key.Op, ds, g.Key.Features, g.Key.Dtype)?.Bytes ?? 0;
    }

    private static string FamilyTable(string family, List<ResultRecord> rows, BenchManifest? manifest, DevicePeak? peak, bool emulated, out int count)
    {
        var impls = rows.Select(r => r.Impl).Distinct().OrderBy(i => i == "graphkernels" ? "" : i, StringComparer.Ordinal).ToList();
        var sb = new StringBuilder();
        if (emulated) sb.AppendLine("*Emulated, not a GPU figure.*").AppendLine();
        sb.Append("| op | dataset | F | dtype | bytes |");
        foreach (var i in impls) sb.Append(Inv, $" {i} ms |");
        sb.AppendLine(" floor ms | ours GB/s | ours % of peak | ours copy frac | best peer / ours |");
        sb.Append("|---|---|---|---|---|");
        foreach (var _ in impls) sb.Append("---|");
        sb.AppendLine("---|---|---|---|---|");
        var cases = FamilyCases(rows);
        foreach (var g in cases)
        {
            long bytes = Bytes(family, g, manifest);
            sb.Append(Inv, $"| {g.Key.Op} | {g.Key.Dataset} | {g.Key.Features} | {g.Key.Dtype} | {(bytes > 0 ? ByteModel.Human(bytes) : "-")} |");
            foreach (var i in impls)
            {
                var r = g.FirstOrDefault(x => x.Impl == i);
                sb.Append(r == null ? " - |" : r.Note.StartsWith("FAILED", StringComparison.Ordinal) ? " FAILED |"
                    : r.Note.StartsWith("OOM", StringComparison.Ordinal) ? " OOM |" : " " + Ms(r.MedianMs) + " |");
            }

            var ours = g.FirstOrDefault(x => x.Impl == "graphkernels" && x.MedianMs > 0);
            double? floor = peak != null && bytes > 0 ? Roofline.FloorMs(bytes, peak) : null;
            var bestPeer = g.Where(x => x.Impl != "graphkernels" && x.MedianMs > 0).MinBy(x => x.MedianMs);
            sb.Append(Inv, $" {(floor is double f ? Ms(f) : "n/a")} |");
            sb.Append(Inv, $" {(ours != null && bytes > 0 ? (bytes / (ours.MedianMs * 1e-3) / 1e9).ToString("F1", Inv) : "-")} |");
            sb.Append(Inv, $" {(ours != null && floor is double f2 ? (f2 / ours.MedianMs * 100).ToString("F0", Inv) + " %" : "-")} |");
            sb.Append(Inv, $" {(ours != null && ours.CopyFraction > 0 ? ours.CopyFraction.ToString("G3", Inv) : "-")} |");
            sb.AppendLine(Inv, $" {(ours != null && bestPeer != null ? (bestPeer.MedianMs / ours.MedianMs).ToString("F2", Inv) + "×" : "-")} |");
        }

        var mem = rows.Where(r => r.PeakMemBytes > 0).ToList();
        if (mem.Count > 0)
        {
            sb.AppendLine().AppendLine("Peak device memory: " + string.Join("; ", mem.Select(r => $"{r.Impl} {r.Op} {r.Dataset}: {ByteModel.Human(r.PeakMemBytes)}")));
        }

        count = cases.Count;
        return sb.ToString();
    }

    private static string OverheadTable(List<ResultRecord> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine("*Managed overhead, measured on the emulated device (the cost of the C# layer, not a GPU figure). Target: 0 B/op, and the typed call ≤ 200 ns above the bare native call.*").AppendLine();
        sb.AppendLine("| call | median ns | allocated B/op | within target |").AppendLine("|---|---|---|---|");
        foreach (var r in rows.OrderBy(r => r.Op, StringComparer.Ordinal))
        {
            var bare = rows.FirstOrDefault(x => x.Op.StartsWith("Native", StringComparison.Ordinal) && Suffix(x.Op) == Suffix(r.Op));
            double extra = bare == null ? double.NaN : (r.MedianMs - bare.MedianMs) * 1e6;
            bool ok = r.AllocatedBytesPerOp == 0 && (double.IsNaN(extra) || extra <= 200);
            string verdict = r.N < 5 ? "not measured (dry run: one invocation)" : ok ? "yes" : "NO";
            sb.AppendLine(Inv, $"| {r.Op} | {r.MedianMs * 1e6:F0} | {r.AllocatedBytesPerOp} | {verdict}{(double.IsNaN(extra) ? "" : $" ({extra:+0;-0} ns vs the bare call)")} |");
        }

        return sb.ToString();
    }

    private static string Suffix(string op) => op.Contains('/', StringComparison.Ordinal) ? op[op.IndexOf('/', StringComparison.Ordinal)..] : "";

    private static string Ms(double ms) => ms >= 100 ? ms.ToString("F0", Inv) : ms >= 1 ? ms.ToString("F2", Inv) : ms.ToString("G3", Inv);
}
