using System.Collections.Generic;
using System.Linq;
using BenchmarkDotNet.Attributes;
using GraphKernels.BenchData;

namespace GraphKernels.Bench;

/// <summary>
/// SpMM (copy_u/sum and u_mul_e/sum, fp32, int32 CSR) on the shared inputs (the files the peers
/// read: GK_BENCH_DATA), on the device <see cref="GraphDevice.Open"/> picks. Each invocation waits
/// for the device, so the time is the kernel's, not the launch's. Bytes (ByteModel.Spmm, the
/// compulsory traffic of research/message_passing.md §4.2):
/// copy_u: (M+1)·4 + E·4 + K·F·4 + M·F·4; u_mul_e: the same + E·4 of edge weights.
/// </summary>
[Config(typeof(BenchConfig))]
public class SpmmBenchmark : ITrafficBenchmark
{
    private GraphDevice _device = null!;
    private CsrGraph _graph = null!;
    private DeviceBuffer<float> _x = null!;
    private DeviceBuffer<float> _y = null!;
    private DeviceBuffer<float> _w = null!;

    /// <summary>Dataset names from the manifest (graphs and the molecular batch).</summary>
    /// <returns>Names.</returns>
    public static IEnumerable<string> DatasetNames() => BenchInputs.Names();

    /// <summary>Feature widths: GK_BENCH_FEATURES, at most the stored width.</summary>
    /// <returns>Widths.</returns>
    public static IEnumerable<int> FeatureWidths()
    {
        int stored = BenchInputs.Manifest.Datasets.Min(d => d.Features);
        return BenchEnv.Features.Where(f => f <= stored);
    }

    /// <summary>Dataset.</summary>
    [ParamsSource(nameof(DatasetNames))]
    public string Dataset { get; set; } = "";

    /// <summary>Feature width F.</summary>
    [ParamsSource(nameof(FeatureWidths))]
    public int Features { get; set; }

    /// <inheritdoc/>
    public BenchCaseInfo? Describe(string method)
    {
        string op = method == nameof(UMulESum) ? "u_mul_e_sum" : "copy_u_sum";
        var ds = BenchInputs.Manifest.Get(Dataset);
        return new BenchCaseInfo("spmm", op, Dataset, Features, "fp32", ByteModel.For("spmm", op, ds, Features)!.Value);
    }

    /// <summary>Reads the dataset's files and uploads them.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _device = GraphDevice.Open();
        var ds = BenchInputs.Manifest.Get(Dataset);
        _graph = CsrGraph.Upload(_device, BenchInputs.Array<int>(Dataset, "row_ptr"), BenchInputs.Array<int>(Dataset, "col_idx"), ds.Nodes);
        _x = _device.Upload<float>(BenchInputs.Features(Dataset, Features));
        _w = _device.Upload<float>(BenchInputs.Array<float>(Dataset, "w"));
        _y = _device.Allocate<float>(ds.Nodes * Features);
    }

    /// <summary>Frees everything.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _y.Dispose();
        _w.Dispose();
        _x.Dispose();
        _graph.Dispose();
        _device.Dispose();
    }

    /// <summary>Y = A·X: copy_u/sum, then a device synchronisation.</summary>
    [Benchmark(Description = "SpMM copy_u/sum")]
    public void CopyUSum()
    {
        MessagePassing.SpMM(_graph, Message.CopyU, Reduce.Sum, Features, _x, _y);
        _device.Synchronize();
    }

    /// <summary>Y = A_w·X: u_mul_e/sum with the dataset's edge weights, then a device synchronisation.</summary>
    [Benchmark(Description = "SpMM u_mul_e/sum")]
    public void UMulESum()
    {
        MessagePassing.SpMM(_graph, Message.UMulE, Reduce.Sum, Features, _x, _y, edgeWeight: _w);
        _device.Synchronize();
    }
}
