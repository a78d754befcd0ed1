using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;

namespace GraphKernels.BenchData;

/// <summary>One result row, the schema shared with the peer scripts (bench/README.md).</summary>
public sealed class ResultRecord
{
    /// <summary>Family.</summary>
    public string Family { get; set; } = "";

    /// <summary>Op.</summary>
    public string Op { get; set; } = "";

    /// <summary>Dataset.</summary>
    public string Dataset { get; set; } = "";

    /// <summary>F.</summary>
    public int Features { get; set; }

    /// <summary>dtype.</summary>
    public string Dtype { get; set; } = "fp32";

    /// <summary>Implementation ("graphkernels" for ours).</summary>
    public string Impl { get; set; } = "graphkernels";

    /// <summary>Device name.</summary>
    public string Device { get; set; } = "";

    /// <summary>True on the CPU emulation: not a GPU figure.</summary>
    public bool Emulated { get; set; }

    /// <summary>Median ms.</summary>
    public double MedianMs { get; set; }

    /// <summary>Mean ms.</summary>
    public double MeanMs { get; set; }

    /// <summary>Standard deviation ms.</summary>
    public double StddevMs { get; set; }

    /// <summary>Measurements.</summary>
    public int N { get; set; }

    /// <summary>Bytes the op must move.</summary>
    public long Bytes { get; set; }

    /// <summary>Bytes / median.</summary>
    public double Gbps { get; set; }

    /// <summary>Equal-traffic copy, median ms.</summary>
    public double CopyMs { get; set; }

    /// <summary>CopyMs / MedianMs.</summary>
    public double CopyFraction { get; set; }

    /// <summary>Managed allocations per op (BenchmarkDotNet MemoryDiagnoser), -1 when not measured.</summary>
    public long AllocatedBytesPerOp { get; set; } = -1;

    /// <summary>Peak device memory, -1 when not measured.</summary>
    public long PeakMemBytes { get; set; } = -1;

    /// <summary>Free text.</summary>
    public string Note { get; set; } = "";
}

/// <summary>A results file: ours (GraphKernels.Bench's report-gk exporter) or a peer script's.</summary>
public sealed class ResultFile
{
    /// <summary>Who wrote it.</summary>
    public string Tool { get; set; } = "";

    /// <summary>Device name.</summary>
    public string Device { get; set; } = "";

    /// <summary>True on the CPU emulation.</summary>
    public bool Emulated { get; set; }

    /// <summary>Rows.</summary>
    public List<ResultRecord> Records { get; set; } = new();
}

/// <summary>Loads every results file under a folder.</summary>
public static class Results
{
    /// <summary>Files named *-report-gk.json (ours) and peers-*.json (the peer scripts), recursively.</summary>
    /// <param name="dir">Results folder.</param>
    /// <returns>(path, file) pairs.</returns>
    public static List<(string Path, ResultFile File)> Load(string dir)
    {
        var list = new List<(string, ResultFile)>();
        foreach (string p in Directory.EnumerateFiles(dir, "*.json", SearchOption.AllDirectories).Order())
        {
            string name = Path.GetFileName(p);
            if (!name.EndsWith("-report-gk.json", System.StringComparison.Ordinal) && !name.StartsWith("peers-", System.StringComparison.Ordinal)) continue;
            var f = JsonSerializer.Deserialize<ResultFile>(File.ReadAllText(p), BenchManifest.Json)
                ?? throw new InvalidDataException($"{p} is empty");
            list.Add((p, f));
        }

        return list;
    }
}

