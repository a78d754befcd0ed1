using System.Collections.Generic;
using BenchmarkDotNet.Attributes;

namespace GraphKernels.Bench;

/// <summary>
/// SpMM (copy_u, sum, F = 64) on a power-law graph on the device <see cref="GraphDevice.Open"/> picks.
/// Each invocation waits for the device, so the time is the kernel's, not the launch's.
/// </summary>
[Config(typeof(BenchConfig))]
public class SpmmBenchmark
{
    private GraphDevice _device = null!;
    private CsrGraph _graph = null!;
    private DeviceBuffer<float> _x = null!;
    private DeviceBuffer<float> _y = null!;

    /// <summary>Feature width.</summary>
    public const int Features = 64;

    /// <summary>Node counts: small on the emulated device (a thread per CUDA thread), realistic on a GPU.</summary>
    /// <returns>The node counts.</returns>
    public static IEnumerable<int> NodeCounts()
        => DeviceInfo.Kind == DeviceKind.Emulated ? new[] { 2_000 } : new[] { 20_000, 200_000 };

    /// <summary>Number of nodes.</summary>
    [ParamsSource(nameof(NodeCounts))]
    public int Nodes { get; set; }

    /// <summary>Generates and uploads the graph and features.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _device = GraphDevice.Open();
        var (rowPtr, colIdx) = BenchGraph.PowerLaw(Nodes, 10, 1234);
        _graph = CsrGraph.Upload(_device, rowPtr, colIdx, Nodes);
        _x = _device.Upload<float>(BenchGraph.Features((long)Nodes * Features, 99));
        _y = _device.Allocate<float>((long)Nodes * Features);
    }

    /// <summary>Frees everything.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _y.Dispose();
        _x.Dispose();
        _graph.Dispose();
        _device.Dispose();
    }

    /// <summary>One SpMM sum, then a device synchronisation.</summary>
    [Benchmark(Description = "SpMM copy_u/sum F=64")]
    public void SpmmSum()
    {
        MessagePassing.SpMM(_graph, Message.CopyU, Reduce.Sum, Features, _x, _y);
        _device.Synchronize();
    }
}
