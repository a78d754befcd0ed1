using System.Collections.Generic;
using System.IO;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace GraphKernels.BenchData;

/// <summary>One array file of a dataset, as listed in manifest.json.</summary>
public sealed class ArrayEntry
{
    /// <summary>Path relative to the data folder.</summary>
    public string File { get; set; } = "";

    /// <summary>"i32", "i64", "f32", "bf16" or "u8" (JSON key "dtype").</summary>
    public string Dtype { get; set; } = "";

    /// <summary>Dimensions.</summary>
    public long[] Shape { get; set; } = [];

    /// <summary>CRC-32 of the payload, 8 hex digits.</summary>
    public string Crc32 { get; set; } = "";
}

/// <summary>One generated dataset (a graph or a molecular batch).</summary>
public sealed class DatasetEntry
{
    /// <summary>Preset name ("arxiv", "reddit", "reddit2", "products", "molecular").</summary>
    public string Name { get; set; } = "";

    /// <summary>"graph" or "molecular".</summary>
    public string Kind { get; set; } = "";

    /// <summary>What it imitates, with the real counts.</summary>
    public string ShapeOf { get; set; } = "";

    /// <summary>Nodes (atoms for a molecular batch) = rows = columns of the CSR.</summary>
    public long Nodes { get; set; }

    /// <summary>Edges = nnz of the CSR.</summary>
    public long Edges { get; set; }

    /// <summary>Structures in a molecular batch (0 for a graph).</summary>
    public int Structures { get; set; }

    /// <summary>Width of the stored feature matrix x; benchmarks use its first F columns.</summary>
    public int Features { get; set; }

    /// <summary>Seed of the generator.</summary>
    public ulong Seed { get; set; }

    /// <summary>Generator parameters (skews, density, cutoff...).</summary>
    public Dictionary<string, double> Parameters { get; set; } = new();

    /// <summary>The arrays by name (row_ptr, col_idx, x, w, and for molecular batches pos, cell, batch_ptr, unit_shift, edge_grad).</summary>
    public Dictionary<string, ArrayEntry> Arrays { get; set; } = new();
}

/// <summary>manifest.json of a data folder.</summary>
public sealed class BenchManifest
{
    /// <summary>File name inside the data folder.</summary>
    public const string FileName = "manifest.json";

    /// <summary>Format tag.</summary>
    public string Format { get; set; } = "gkbench-1";

    /// <summary>Bumped whenever a generator changes its output for the same seed.</summary>
    public int GeneratorVersion { get; set; } = GraphKernels.BenchData.Datasets.GeneratorVersion;

    /// <summary>The --scale the data was generated at (1 = the real sizes).</summary>
    public double Scale { get; set; }

    /// <summary>The command that made it.</summary>
    public string Command { get; set; } = "";

    /// <summary>The datasets.</summary>
    public List<DatasetEntry> Datasets { get; set; } = new();

    /// <summary>Serializer options used for every JSON file of the bench tooling.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Loads the manifest of a data folder.</summary>
    /// <param name="dataDir">Folder holding manifest.json.</param>
    /// <returns>The manifest.</returns>
    public static BenchManifest Load(string dataDir)
    {
        string path = Path.Combine(dataDir, FileName);
        return JsonSerializer.Deserialize<BenchManifest>(System.IO.File.ReadAllText(path), Json)
            ?? throw new InvalidDataException($"{path} is empty");
    }

    /// <summary>Writes the manifest into a data folder.</summary>
    /// <param name="dataDir">Folder.</param>
    public void Save(string dataDir) => System.IO.File.WriteAllText(Path.Combine(dataDir, FileName), JsonSerializer.Serialize(this, Json));

    /// <summary>The dataset called <paramref name="name"/>.</summary>
    /// <param name="name">Name.</param>
    /// <returns>The entry.</returns>
    public DatasetEntry Get(string name) => Datasets.Find(d => d.Name == name)
        ?? throw new KeyNotFoundException($"dataset '{name}' is not in the manifest (has: {string.Join(", ", Datasets.ConvertAll(d => d.Name))})");
}
