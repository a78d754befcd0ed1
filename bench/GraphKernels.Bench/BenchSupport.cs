using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using GraphKernels.BenchData;

namespace GraphKernels.Bench;

/// <summary>What one benchmark case measures: the key shared with the peers' result records, and the bytes it must move.</summary>
/// <param name="Family">"spmm", "forcestress", "quantization", ... (one table and chart per family).</param>
/// <param name="Op">Op name, the same string the peer scripts write (e.g. "copy_u_sum").</param>
/// <param name="Dataset">Dataset name from the manifest.</param>
/// <param name="Features">Feature width F (0 where it does not apply).</param>
/// <param name="DType">"fp32" or "bf16".</param>
/// <param name="Traffic">Bytes the op must move (a <see cref="ByteModel"/> formula).</param>
public sealed record BenchCaseInfo(string Family, string Op, string Dataset, int Features, string DType, Traffic Traffic);

/// <summary>
/// The contract a family benchmark implements to get the GB/s, copy-fraction and bytes columns and
/// its rows in the side-by-side report. <see cref="Describe"/> must be computable from the
/// benchmark's [Params] alone (it is called on a fresh instance with only the parameters set, no
/// GlobalSetup): use <see cref="BenchInputs.Manifest"/> for dataset sizes and a
/// <see cref="ByteModel"/> formula for the bytes.
/// </summary>
public interface ITrafficBenchmark
{
    /// <summary>Describes the case of benchmark method <paramref name="method"/> under the current parameters.</summary>
    /// <param name="method">The [Benchmark] method's name.</param>
    /// <returns>The description, or null for a method that is not an op (it then gets no traffic columns).</returns>
    BenchCaseInfo? Describe(string method);
}

/// <summary>Environment switches of the suites (bench/README.md).</summary>
public static class BenchEnv
{
    /// <summary>GK_BENCH_DATA: the data folder made by `generate` (default: bench/data/auto-&lt;scale&gt;, generated on first use).</summary>
    public static string? DataDir => Environment.GetEnvironmentVariable("GK_BENCH_DATA");

    /// <summary>GK_BENCH_FEATURES: comma-separated widths (default 16 emulated, 32,128 on a GPU).</summary>
    public static int[] Features => Parse("GK_BENCH_FEATURES", DeviceInfo.Kind == DeviceKind.Emulated ? [16] : [32, 128]);

    /// <summary>GK_BENCH_DATASETS: comma-separated names (default: every graph in the manifest, plus the molecular batch).</summary>
    public static string[]? Datasets => Environment.GetEnvironmentVariable("GK_BENCH_DATASETS")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>GK_BENCH_JOB: "dry" (one iteration: CI's dry run), "short" or unset (the device's default).</summary>
    public static string Job => Environment.GetEnvironmentVariable("GK_BENCH_JOB") ?? "";

    private static int[] Parse(string name, int[] fallback)
    {
        string? v = Environment.GetEnvironmentVariable(name);
        return string.IsNullOrWhiteSpace(v) ? fallback : v.Split(',').Select(s => int.Parse(s.Trim(), CultureInfo.InvariantCulture)).ToArray();
    }
}

/// <summary>
/// The shared inputs, read from the files the Python peers read (bench/FORMAT.md), cached per
/// process so the cases of one dataset load it once.
/// </summary>
public static class BenchInputs
{
    private static readonly Lazy<(string Dir, BenchManifest Manifest)> Data = new(Locate);
    private static readonly ConcurrentDictionary<string, Array> Cache = new();

    /// <summary>The data folder.</summary>
    public static string DataDir => Data.Value.Dir;

    /// <summary>Its manifest.</summary>
    public static BenchManifest Manifest => Data.Value.Manifest;

    /// <summary>The dataset names to run, of the given kind ("graph", "molecular" or null for both).</summary>
    /// <param name="kind">Kind filter.</param>
    /// <returns>Names.</returns>
    public static IEnumerable<string> Names(string? kind = null)
    {
        var wanted = BenchEnv.Datasets;
        return Manifest.Datasets.Where(d => (kind == null || d.Kind == kind) && (wanted == null || wanted.Contains(d.Name))).Select(d => d.Name);
    }

    /// <summary>An array of a dataset (cached).</summary>
    /// <typeparam name="T">Element type.</typeparam>
    /// <param name="dataset">Dataset name.</param>
    /// <param name="array">Array name (row_ptr, col_idx, x, w, pos, ...).</param>
    /// <returns>The elements.</returns>
    public static T[] Array<T>(string dataset, string array) where T : unmanaged
    {
        var entry = Manifest.Get(dataset);
        if (!entry.Arrays.TryGetValue(array, out var a)) throw new KeyNotFoundException($"dataset {dataset} has no array '{array}'");
        return (T[])Cache.GetOrAdd(dataset + "/" + array, _ => BinaryArray.Read<T>(Path.Combine(DataDir, a.File)));
    }

    /// <summary>The first <paramref name="features"/> columns of the dataset's x, contiguous.</summary>
    /// <param name="dataset">Dataset name.</param>
    /// <param name="features">F ≤ the stored width.</param>
    /// <returns>[nodes, F] row-major.</returns>
    public static float[] Features(string dataset, int features)
    {
        var entry = Manifest.Get(dataset);
        if (features > entry.Features) throw new ArgumentOutOfRangeException(nameof(features), $"dataset {dataset} stores {entry.Features} features, asked for {features}");
        float[] x = Array<float>(dataset, "x");
        if (features == entry.Features) return x;
        var y = new float[entry.Nodes * features];
        for (long r = 0; r < entry.Nodes; r++) x.AsSpan((int)(r * entry.Features), features).CopyTo(y.AsSpan((int)(r * features)));
        return y;
    }

    /// <summary>Drops the cached arrays (between families, to bound memory).</summary>
    public static void Clear() => Cache.Clear();

    private static (string, BenchManifest) Locate()
    {
        string? dir = BenchEnv.DataDir;
        if (dir == null)
        {
            // No data folder given: make a small one next to the sources once (emulated: tiny).
            double scale = DeviceInfo.Kind == DeviceKind.Emulated ? 0.0005 : 0.05;
            dir = Path.Combine(FindBenchDir(), "data", FormattableString.Invariant($"auto-{scale}"));
            if (!File.Exists(Path.Combine(dir, BenchManifest.FileName)))
            {
                Console.WriteLine($"// GK_BENCH_DATA not set: generating the inputs at scale {scale} into {dir}");
                Generator.Run(dir, scale, 64, ["arxiv", "reddit2", "molecular"], "auto (GK_BENCH_DATA unset)");
            }
        }

        return (dir, BenchManifest.Load(dir));
    }

    private static string FindBenchDir()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "GraphKernels.sln"))) return Path.Combine(d.FullName, "bench");
        }

        return Path.Combine(Path.GetTempPath(), "graphkernels-bench");
    }
}

/// <summary>Runs the generators (the `generate` command of both executables).</summary>
public static class Generator
{
    /// <summary>Generates <paramref name="presets"/> into <paramref name="dir"/> and writes the manifest.</summary>
    /// <param name="dir">Data folder.</param>
    /// <param name="scale">Size factor.</param>
    /// <param name="features">Stored feature width.</param>
    /// <param name="presets">Preset names.</param>
    /// <param name="command">The command, recorded in the manifest.</param>
    /// <returns>The manifest.</returns>
    public static BenchManifest Run(string dir, double scale, int features, IEnumerable<string> presets, string command)
    {
        Directory.CreateDirectory(dir);
        var manifest = new BenchManifest { Scale = scale, Command = command };
        foreach (string p in presets)
        {
            var sw = Stopwatch.StartNew();
            var entry = Datasets.Generate(Datasets.Preset(p, scale), dir, features);
            manifest.Datasets.Add(entry);
            Console.WriteLine(FormattableString.Invariant($"generated {p,-10} {entry.Nodes,10:N0} nodes {entry.Edges,13:N0} edges F={features} in {sw.Elapsed.TotalSeconds:F1} s"));
        }

        manifest.Save(dir);
        return manifest;
    }
}

/// <summary>
/// A device-to-device copy moving the same number of bytes as an op (B/2 read + B/2 written),
/// timed in this process the way the suites time an op (one copy, then a device synchronisation;
/// the median of 30 after 5 warm-ups). On the emulated device it is a host memcpy.
/// </summary>
public static unsafe class CopyBaseline
{
    private static readonly ConcurrentDictionary<long, double> Medians = new();

    /// <summary>Median milliseconds of a copy moving <paramref name="bytes"/> bytes in total.</summary>
    /// <param name="bytes">Bytes read + written.</param>
    /// <returns>Milliseconds.</returns>
    public static double Milliseconds(long bytes) => Medians.GetOrAdd(Math.Max(2, bytes & ~1L), Measure);

    private static double Measure(long bytes)
    {
        long half = bytes / 2;
        using var device = GraphDevice.Open();
        using var src = device.Allocate<byte>(half);
        using var dst = device.Allocate<byte>(half);
        var times = new List<double>();
        for (int i = 0; i < 35; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            if (device.Kind == DeviceKind.Emulated)
            {
                Buffer.MemoryCopy((void*)src.Pointer, (void*)dst.Pointer, half, half);
            }
            else
            {
                device.EnsureContext();
                var d = device.Driver!;
                d.Check(d.cuMemcpyDtoDAsync_v2((ulong)dst.Pointer, (ulong)src.Pointer, (nuint)half, 0), "cuMemcpyDtoDAsync_v2");
                device.Synchronize();
            }

            if (i >= 5) times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }

        times.Sort();
        return times[times.Count / 2];
    }
}

/// <summary>Resolves the <see cref="BenchCaseInfo"/> of a BenchmarkDotNet case (cached).</summary>
public static class CaseInfo
{
    private static readonly ConcurrentDictionary<BenchmarkCase, BenchCaseInfo?> Cache = new();

    /// <summary>The description, or null when the benchmark does not implement <see cref="ITrafficBenchmark"/>.</summary>
    /// <param name="c">The case.</param>
    /// <returns>Info or null.</returns>
    public static BenchCaseInfo? Of(BenchmarkCase c) => Cache.GetOrAdd(c, Resolve);

    private static BenchCaseInfo? Resolve(BenchmarkCase c)
    {
        var type = c.Descriptor.Type;
        if (!typeof(ITrafficBenchmark).IsAssignableFrom(type)) return null;
        var instance = (ITrafficBenchmark)Activator.CreateInstance(type)!;
        foreach (var p in c.Parameters.Items)
        {
            var prop = type.GetProperty(p.Name);
            if (prop != null) { prop.SetValue(instance, p.Value); continue; }
            type.GetField(p.Name)?.SetValue(instance, p.Value);
        }

        return instance.Describe(c.Descriptor.WorkloadMethod.Name);
    }
}

/// <summary>Bytes, effective GB/s and the fraction of an equal-traffic device copy, per case.</summary>
public sealed class TrafficColumn : IColumn
{
    /// <summary>Which figure.</summary>
    public enum Kind
    {
        /// <summary>Bytes the op must move.</summary>
        Bytes,

        /// <summary>Bytes / median time.</summary>
        GBps,

        /// <summary>Copy time / op time for the same bytes.</summary>
        CopyFraction,
    }

    private readonly Kind _kind;

    /// <summary>Creates the column.</summary>
    /// <param name="kind">Which figure.</param>
    public TrafficColumn(Kind kind) => _kind = kind;

    /// <inheritdoc/>
    public string Id => "Traffic" + _kind;

    /// <inheritdoc/>
    public string ColumnName => _kind switch { Kind.Bytes => "Bytes", Kind.GBps => "GB/s", _ => "Copy frac" };

    /// <inheritdoc/>
    public bool AlwaysShow => true;

    /// <inheritdoc/>
    public ColumnCategory Category => ColumnCategory.Custom;

    /// <inheritdoc/>
    public int PriorityInCategory => (int)_kind;

    /// <inheritdoc/>
    public bool IsNumeric => true;

    /// <inheritdoc/>
    public UnitType UnitType => UnitType.Dimensionless;

    /// <inheritdoc/>
    public string Legend => _kind switch
    {
        Kind.Bytes => "Bytes the op must move (compulsory traffic, bench/README.md formulas)",
        Kind.GBps => "Effective bandwidth: Bytes / median time",
        _ => "Time of a device-to-device copy moving the same bytes, measured in this process, / median op time (1 = copy speed)",
    };

    /// <inheritdoc/>
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    /// <inheritdoc/>
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var info = CaseInfo.Of(benchmarkCase);
        if (info == null) return "-";
        if (_kind == Kind.Bytes) return ByteModel.Human(info.Traffic.Bytes);
        double? ms = MedianMs(summary, benchmarkCase);
        if (ms is not > 0) return "?";
        return _kind == Kind.GBps
            ? (info.Traffic.Bytes / (ms.Value * 1e-3) / 1e9).ToString("F2", CultureInfo.InvariantCulture)
            : (CopyBaseline.Milliseconds(info.Traffic.Bytes) / ms.Value).ToString("G3", CultureInfo.InvariantCulture);
    }

    /// <summary>The median of a case in milliseconds, or null.</summary>
    /// <param name="summary">Summary.</param>
    /// <param name="c">Case.</param>
    /// <returns>Milliseconds.</returns>
    public static double? MedianMs(Summary summary, BenchmarkCase c) => summary[c]?.ResultStatistics?.Median / 1e6;

    /// <inheritdoc/>
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    /// <inheritdoc/>
    public bool IsAvailable(Summary summary) => true;
}

/// <summary>
/// Writes &lt;title&gt;-report-gk.json: every case of a traffic benchmark, and every
/// <see cref="ManagedOverheadBenchmark"/> case (family "overhead"), in the schema the peers write.
/// </summary>
public sealed class GkResultsExporter : ExporterBase
{
    /// <inheritdoc/>
    protected override string FileExtension => "json";

    /// <inheritdoc/>
    protected override string FileCaption => "report-gk";

    /// <inheritdoc/>
    public override void ExportToLog(Summary summary, ILogger logger)
    {
        bool emulated = DeviceInfo.Kind == DeviceKind.Emulated;
        var file = new ResultFile { Tool = "bench/GraphKernels.Bench (BenchmarkDotNet)", Device = DeviceInfo.Name, Emulated = emulated };
        foreach (var report in summary.Reports)
        {
            var c = report.BenchmarkCase;
            var stats = report.ResultStatistics;
            if (stats == null) continue;
            var info = CaseInfo.Of(c);
            bool overhead = c.Descriptor.Type == typeof(ManagedOverheadBenchmark);
            if (info == null && !overhead) continue;
            var r = new ResultRecord
            {
                Family = info?.Family ?? "overhead",
                Op = info?.Op ?? c.Descriptor.WorkloadMethod.Name + (c.HasParameters ? "/" + c.Parameters.PrintInfo : ""),
                Dataset = info?.Dataset ?? "",
                Features = info?.Features ?? 0,
                Dtype = info?.DType ?? "",
                Device = overhead ? "emulated (managed overhead)" : DeviceInfo.Name,
                Emulated = emulated || overhead,
                MedianMs = stats.Median / 1e6,
                MeanMs = stats.Mean / 1e6,
                StddevMs = stats.StandardDeviation / 1e6,
                N = stats.N,
                AllocatedBytesPerOp = report.GcStats.GetBytesAllocatedPerOperation(c) ?? -1,
                Note = emulated || overhead ? "emulated, not a GPU figure" : "",
            };
            if (info != null)
            {
                r.Bytes = info.Traffic.Bytes;
                r.Gbps = r.MedianMs > 0 ? info.Traffic.Bytes / (r.MedianMs * 1e-3) / 1e9 : 0;
                r.CopyMs = CopyBaseline.Milliseconds(info.Traffic.Bytes);
                r.CopyFraction = r.MedianMs > 0 ? r.CopyMs / r.MedianMs : 0;
            }

            file.Records.Add(r);
        }

        logger.WriteLine(JsonSerializer.Serialize(file, BenchManifest.Json));
    }
}
