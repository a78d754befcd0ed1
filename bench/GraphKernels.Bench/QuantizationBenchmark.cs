using System;
using BenchmarkDotNet.Attributes;
using GraphKernels.BenchData;

namespace GraphKernels.Bench;

/// <summary>
/// Block-wise quantize (fp32 -> codes + fp32 stats, one read of the input) and dequantize (codes ->
/// fp32) of a [rows, 128] N(0, 1) activation. Bytes (ByteModel.BlockQuantize): N·F·4 +
/// ⌈N·F/B⌉·(B·b/8 + 8); the shared traffic columns give GB/s and the fraction of a same-size
/// device-to-device copy measured in the same process (BenchSupport), so at the bandwidth limit
/// INT2 quantize moves about 4.26 bytes per element against a copy's 2 × 4.26.
/// </summary>
[Config(typeof(BenchConfig))]
public class QuantizationBenchmark : ITrafficBenchmark
{
    private GraphDevice _device = null!;
    private DeviceBuffer<float> _x = null!;
    private DeviceBuffer<float> _y = null!;
    private QuantizedTensor _q = null!;
    private ulong _offset;

    /// <summary>Rows of the [rows, 128] activation (2^15 rows = 2^22 elements, 16 MiB of fp32).</summary>
    [Params(1 << 15)]
    public int Rows { get; set; }

    /// <summary>Bits per code.</summary>
    [Params(2, 8)]
    public int Bits { get; set; }

    /// <summary>Uploads N(0, 1) activations and allocates the quantized tensor.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _device = GraphDevice.Open();
        long n = (long)Rows * 128;
        var host = new float[n];
        var rng = new Random(1);
        for (long i = 0; i < n; i++)
        {
            host[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        }

        _x = _device.Upload<float>(host);
        _y = _device.Allocate<float>(n);
        var options = new QuantizationOptions { Bits = Bits, BlockSize = 1024, Levels = Bits == 2 ? QuantLevels.ClipNormal2 : QuantLevels.Uniform };
        _q = Quantization.Allocate(_device, Rows, 128, options);
        Quantization.QuantizeInto(_x, _q, 1, 0);
        Console.WriteLine($"// device: {_device.Name} [{_device.Kind}]{(_device.Kind == DeviceKind.Emulated ? " (emulated on the CPU: not GPU speed)" : string.Empty)}");
        Console.WriteLine($"// plan: {_q.Plan.TotalBytes} bytes for {_q.Plan.InputBytes} input bytes ({_q.CompressionRatio:F2}x)");
    }

    /// <summary>Frees the buffers.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _q.Dispose();
        _y.Dispose();
        _x.Dispose();
        _device.Dispose();
    }

    /// <inheritdoc/>
    public BenchCaseInfo? Describe(string method)
    {
        string op = method == nameof(Dequantize) ? $"block_dequantize_int{Bits}" : $"block_quantize_int{Bits}";
        return new BenchCaseInfo("quantization", op, $"normal[{Rows},128]", 128, "fp32", ByteModel.BlockQuantize(Rows, 128, Bits, 1024, 4));
    }

    /// <summary>fp32 -> packed codes + stats (a new offset each call).</summary>
    [Benchmark]
    public void Quantize()
    {
        Quantization.QuantizeInto(_x, _q, 1, ++_offset);
        _device.Synchronize();
    }

    /// <summary>Packed codes -> fp32.</summary>
    [Benchmark]
    public void Dequantize()
    {
        Quantization.Dequantize(_q, _y);
        _device.Synchronize();
    }
}
