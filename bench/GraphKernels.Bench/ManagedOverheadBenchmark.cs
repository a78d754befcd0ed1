using BenchmarkDotNet.Attributes;
using GraphKernels.Interop;

namespace GraphKernels.Bench;

/// <summary>
/// The managed cost of one SpMM call on the emulated device: argument checks, handle leases, the
/// function-pointer call. Target: 0 B allocated per call. With Rows = 0 the native library returns
/// after its own checks (no kernel), so the difference to the bare native call is the managed
/// overhead; with Rows = 4 (a 4-node ring plus a self-loop, F = 4) the emulated launch dominates.
/// The raw-pointer overload and the bare native call are the baselines.
/// </summary>
[Config(typeof(OverheadConfig))]
[MemoryDiagnoser]
public class ManagedOverheadBenchmark
{
    private const int Features = 4;
    private GraphDevice _device = null!;
    private CsrGraph _graph = null!;
    private DeviceBuffer<float> _x = null!;
    private DeviceBuffer<float> _y = null!;
    private DeviceBuffer<float> _w = null!;

    /// <summary>Rows of the graph: 0 (no kernel launch) or 4.</summary>
    [Params(0, 4)]
    public int Rows { get; set; }

    /// <summary>Uploads the graph (empty, or a 4-node ring with one self-loop) and F = 4 features.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _device = GraphDevice.Emulated();
        _graph = Rows == 0
            ? CsrGraph.Upload(_device, new[] { 0 }, System.Array.Empty<int>(), 4)
            : CsrGraph.Upload(_device, new[] { 0, 1, 2, 3, 5 }, new[] { 3, 0, 1, 2, 3 }, 4);
        _x = _device.Upload<float>(new float[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 });
        _y = _device.Allocate<float>(16);
        _w = _device.Upload<float>(new float[] { 1, 2, 3, 4, 5 });
    }

    /// <summary>Frees everything.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _w.Dispose();
        _y.Dispose();
        _x.Dispose();
        _graph.Dispose();
        _device.Dispose();
    }

    /// <summary>The typed API, copy_u/sum.</summary>
    [Benchmark(Baseline = true, Description = "SpMM typed copy_u/sum")]
    public void Typed() => MessagePassing.SpMM(_graph, Message.CopyU, Reduce.Sum, Features, _x, _y);

    /// <summary>The typed API with edge weights, u_mul_e/sum.</summary>
    [Benchmark(Description = "SpMM typed u_mul_e/sum")]
    public void TypedWeighted() => MessagePassing.SpMM(_graph, Message.UMulE, Reduce.Sum, Features, _x, _y, edgeWeight: _w);

    /// <summary>The raw-pointer overload.</summary>
    [Benchmark(Description = "SpMM raw pointers")]
    public void Raw() => MessagePassing.SpMM(_device, _graph.RowPtr.Pointer, _graph.ColIdx.Pointer, _graph.NumRows, 4, _graph.Nnz, IndexType.Int32,
        Message.CopyU, Reduce.Sum, Features, _x.Pointer, Features, 0, _y.Pointer, Features, 0, Features, 0);

    /// <summary>gk_spmm through the function pointer, no managed checks.</summary>
    [Benchmark(Description = "gk_spmm bare call")]
    public unsafe int Native()
    {
        GkCsr csr = _graph.ToNative("graph");
        return _device.Api.gk_spmm(&csr, 0, 0, NativeApi.DtypeF32, Features, (void*)_x.Pointer, Features, null,
            (void*)_y.Pointer, Features, null, Features, null);
    }
}
