using System.Collections.Generic;
using System.Linq;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace GraphKernels.Bench;

/// <summary>
/// Shared configuration. Benchmarks run in process (the native libraries sit next to this assembly,
/// and the generated out-of-process project would inherit the repository's warnings-as-errors
/// settings). On the emulated device the job is short and every row is marked as not a GPU figure.
/// </summary>
public sealed class BenchConfig : ManualConfig
{
    /// <summary>Builds the configuration for the device <see cref="GraphDevice.Open"/> picks.</summary>
    public BenchConfig()
    {
        var kind = DeviceInfo.Kind;
        // GPU: 100 ms iterations keep a case to a few seconds, so a whole family fits the GPU
        // machine's 10-minute command limit; GK_BENCH_JOB=dry is CI's one-iteration dry run.
        Job job = BenchEnv.Job == "dry" ? Job.Dry
            : kind == DeviceKind.Emulated || BenchEnv.Job == "short"
                ? Job.ShortRun.WithWarmupCount(1).WithIterationCount(3).WithLaunchCount(1)
                : Job.Default.WithWarmupCount(3).WithIterationCount(10).WithLaunchCount(1)
                    .WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(100));
        string id = BenchEnv.Job == "dry" ? "Dry" : kind == DeviceKind.Emulated ? "EmulatedShort" : "Cuda";
        AddJob(job.WithToolchain(InProcessEmitToolchain.Instance).WithId(id));
        AddColumn(new DeviceColumn());
        AddTrafficColumnsAndExporters(this);
        AddLogicalGroupRules(BenchmarkLogicalGroupRule.ByCategory);
        WithOptions(ConfigOptions.JoinSummary);
    }

    /// <summary>The Bytes, GB/s and copy-fraction columns, and the JSON and report-gk exporters (BenchmarkDotNet's defaults add CSV, HTML and GitHub markdown).</summary>
    /// <param name="config">Config to extend.</param>
    public static void AddTrafficColumnsAndExporters(ManualConfig config)
    {
        config.AddColumn(new TrafficColumn(TrafficColumn.Kind.Bytes), new TrafficColumn(TrafficColumn.Kind.GBps), new TrafficColumn(TrafficColumn.Kind.CopyFraction));
        config.AddExporter(BenchmarkDotNet.Exporters.Json.JsonExporter.Full, new GkResultsExporter());
    }
}

/// <summary>
/// For <see cref="ManagedOverheadBenchmark"/>: always on the emulated device, with enough iterations
/// to resolve sub-microsecond differences.
/// </summary>
public sealed class OverheadConfig : ManualConfig
{
    /// <summary>Builds the configuration.</summary>
    public OverheadConfig()
    {
        Job job = BenchEnv.Job == "dry" ? Job.Dry : Job.Default.WithWarmupCount(3).WithIterationCount(10).WithLaunchCount(1);
        AddJob(job.WithToolchain(InProcessEmitToolchain.Instance).WithId("Overhead"));
        AddColumn(new DeviceColumn());
        AddExporter(BenchmarkDotNet.Exporters.Json.JsonExporter.Full, new GkResultsExporter());
    }
}

/// <summary>The device of the run, once per process.</summary>
public static class DeviceInfo
{
    private static readonly (DeviceKind Kind, string Name) Info = Probe();

    /// <summary>What <see cref="GraphDevice.Open"/> returns here.</summary>
    public static DeviceKind Kind => Info.Kind;

    /// <summary>The device name.</summary>
    public static string Name => Info.Name;

    private static (DeviceKind, string) Probe()
    {
        using var device = GraphDevice.Open();
        if (device.Kind != DeviceKind.Cuda && System.Environment.GetEnvironmentVariable("GK_BENCH_REQUIRE_GPU") == "1")
        {
            // bench/run-gpu.sh sets this: on a GPU machine an emulated run would be a vacuous result.
            throw new System.InvalidOperationException($"GK_BENCH_REQUIRE_GPU=1 but the device is {device.Kind} ({device.SelectionReason})");
        }

        return (device.Kind, device.Name);
    }
}

/// <summary>A "Device" column: the GPU name, or "emulated, not a GPU figure".</summary>
public sealed class DeviceColumn : IColumn
{
    /// <inheritdoc/>
    public string Id => nameof(DeviceColumn);

    /// <inheritdoc/>
    public string ColumnName => "Device";

    /// <inheritdoc/>
    public bool AlwaysShow => true;

    /// <inheritdoc/>
    public ColumnCategory Category => ColumnCategory.Job;

    /// <inheritdoc/>
    public int PriorityInCategory => 0;

    /// <inheritdoc/>
    public bool IsNumeric => false;

    /// <inheritdoc/>
    public UnitType UnitType => UnitType.Dimensionless;

    /// <inheritdoc/>
    public string Legend => "Device that ran the benchmark; emulated rows are CPU emulation timings, not GPU figures";

    /// <inheritdoc/>
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => Value(benchmarkCase);

    /// <inheritdoc/>
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => Value(benchmarkCase);

    /// <inheritdoc/>
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    /// <inheritdoc/>
    public bool IsAvailable(Summary summary) => true;

    private static string Value(BenchmarkCase benchmarkCase)
    {
        bool forcedEmulated = benchmarkCase.Descriptor.Type == typeof(ManagedOverheadBenchmark);
        return forcedEmulated || DeviceInfo.Kind == DeviceKind.Emulated
            ? "emulated, not a GPU figure"
            : DeviceInfo.Name;
    }
}

/// <summary>Deterministic power-law CSR for the benchmarks (Pareto in-degrees, uniform sources).</summary>
public static class BenchGraph
{
    /// <summary>Generates row offsets and column indices.</summary>
    /// <param name="nodes">Number of nodes.</param>
    /// <param name="meanDegree">Approximate mean in-degree.</param>
    /// <param name="seed">Seed.</param>
    /// <returns>The CSR arrays.</returns>
    public static (int[] RowPtr, int[] ColIdx) PowerLaw(int nodes, int meanDegree, int seed)
    {
        var rng = new System.Random(seed);
        int cap = System.Math.Max(meanDegree * 4, nodes / 10);
        var rowPtr = new int[nodes + 1];
        var cols = new List<int>(nodes * meanDegree);
        for (int r = 0; r < nodes; r++)
        {
            double u = 1.0 - rng.NextDouble();
            int d = (int)System.Math.Min(cap, System.Math.Floor(meanDegree / 2.0 / System.Math.Sqrt(u)));
            int start = cols.Count;
            for (int k = 0; k < d; k++)
            {
                cols.Add(rng.Next(nodes));
            }

            cols.Sort(start, d, Comparer<int>.Default);
            rowPtr[r + 1] = cols.Count;
        }

        return (rowPtr, cols.ToArray());
    }

    /// <summary>Uniform random floats in [-1, 1).</summary>
    /// <param name="count">How many.</param>
    /// <param name="seed">Seed.</param>
    /// <returns>The values.</returns>
    public static float[] Features(long count, int seed)
    {
        var rng = new System.Random(seed);
        return Enumerable.Range(0, checked((int)count)).Select(_ => (float)((rng.NextDouble() * 2) - 1)).ToArray();
    }
}
