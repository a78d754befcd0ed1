using System;
using System.Collections.Generic;
using BenchmarkDotNet.Attributes;
using GraphKernels.BenchData;

namespace GraphKernels.Bench;

/// <summary>
/// Force/stress readout (issue 5, docs/force_stress.md "Benchmark"), direct mode (g_e = s_e r̂_e) from
/// edge vectors, 3x3 stress, int32 indices, on a synthetic batch of periodic structures (Structures x
/// AtomsPerStructure atoms, Degree out-edges per atom to random atoms of the same structure, |r_e| in
/// [1, 5) Å): the fused deterministic readout and the fused fast (atomics) readout against the
/// unfused three-launch baseline (ForceStress.UnfusedBaseline: launch 1 writes g [E,3], launch 2
/// scatters forces with atomics, launch 3 reduces stress per graph; the baseline row, so the Ratio
/// column is the time relative to it). Each invocation waits for the device. Bytes per edge
/// (compulsory, int32): fused deterministic 2 x (12 r + 4 s) + 4 dst_perm = 36 B (each edge is visited
/// from both ends); fused fast 12 r + 4 s + 8 src/dst = 24 B + 6 fp32 atomics; unfused
/// 16 + 12 (launch 1: r, s read, g written) + 12 + 8 (launch 2: g read back, src/dst) + 24 (launch 3:
/// r and g read back) = 72 B + 6 fp32 atomics. The fused readout head rows (s_e = w·h_e + b from
/// h [E, HeadChannels], computed in the kernel) replace the 4 B of s by 4 C B of h per read of an edge:
/// deterministic 2 x (12 r + 4 C h) + 4 = 28 + 8 C B/edge (h is read from both ends), fast
/// 12 + 4 C + 8 = 20 + 4 C B/edge + atomics (docs/force_stress.md, "Fused readout head").
/// On the emulated device (the CPU) the numbers are emulation times, not GPU figures, and are labelled so.
/// </summary>
[Config(typeof(BenchConfig))]
public class ForceStressBenchmark : ITrafficBenchmark
{
    private GraphDevice _device = null!;
    private ForceStressTopology _topo = null!;
    private DeviceBuffer<float> _r = null!;
    private DeviceBuffer<float> _s = null!;
    private DeviceBuffer<float> _cell = null!;
    private DeviceBuffer<float> _g = null!;
    private DeviceBuffer<float> _forces = null!;
    private DeviceBuffer<float> _stress = null!;
    private EdgeGeometry _geometry = null!;
    private DeviceBuffer<float> _h = null!;
    private DeviceBuffer<float> _w = null!;
    private ForceStressHead _head = null!;

    /// <summary>Structures B: 32 on the emulated device, 512 on a GPU.</summary>
    /// <returns>Sizes.</returns>
    public static IEnumerable<int> StructureCounts() => DeviceInfo.Kind == DeviceKind.Emulated ? [32] : [512];

    /// <summary>Number of structures B.</summary>
    [ParamsSource(nameof(StructureCounts))]
    public int Structures { get; set; }

    /// <summary>Atoms per structure.</summary>
    [Params(64)]
    public int AtomsPerStructure { get; set; }

    /// <summary>Out-edges per atom (mean degree E/N).</summary>
    [Params(32)]
    public int Degree { get; set; }

    /// <summary>C, the edge-feature width of the fused readout head rows.</summary>
    [Params(16)]
    public int HeadChannels { get; set; }

    /// <inheritdoc/>
    public BenchCaseInfo? Describe(string method)
    {
        string op = method switch
        {
            nameof(Unfused) => "readout_direct_unfused",
            nameof(FusedFast) => "readout_direct_fast",
            nameof(FusedHead) => "readout_head_fused",
            nameof(FusedHeadFast) => "readout_head_fast",
            _ => "readout_direct_fused",
        };
        long n = (long)Structures * AtomsPerStructure;
        if (method is nameof(FusedHead) or nameof(FusedHeadFast))
        {
            // Compulsory traffic: the direct readout's with s (4 B/edge) replaced by h (4 C B/edge) and w (4 C B).
            long e = n * Degree, c = HeadChannels;
            var d = ByteModel.ForceStressDirect(n, e, Structures);
            return new BenchCaseInfo("forcestress", op, $"synthetic[B={Structures},n={AtomsPerStructure},deg={Degree},C={c}]", 3, "fp32",
                new Traffic(d.Bytes - (4 * e) + (4 * c * e) + (4 * c), d.Flops + (2 * c * e), d.Formula.Replace("16·E (r, s)", "12·E (r) + 4·C·E (h) + 4·C (w)", StringComparison.Ordinal)));
        }

        return new BenchCaseInfo("forcestress", op, $"synthetic[B={Structures},n={AtomsPerStructure},deg={Degree}]", 3, "fp32",
            ByteModel.ForceStressDirect(n, n * Degree, Structures));
    }

    /// <summary>Builds the batch, the topology and the buffers.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _device = GraphDevice.Open();
        int n = Structures * AtomsPerStructure, e = n * Degree;
        var rng = new Random(3);
        var ptr = new long[Structures + 1];
        var src = new int[e];
        var dst = new int[e];
        var r = new float[3 * e];
        var s = new float[e];
        var cell = new float[9 * Structures];
        for (int b = 0; b < Structures; b++)
        {
            ptr[b + 1] = (long)(b + 1) * AtomsPerStructure;
            cell[(9 * b) + 0] = 10f + (float)rng.NextDouble();
            cell[(9 * b) + 3] = 0.5f;
            cell[(9 * b) + 4] = 10f + (float)rng.NextDouble();
            cell[(9 * b) + 7] = -0.3f;
            cell[(9 * b) + 8] = 10f + (float)rng.NextDouble();
        }

        for (int i = 0, k = 0; i < n; i++)
        {
            int first = i / AtomsPerStructure * AtomsPerStructure;
            for (int d = 0; d < Degree; d++, k++)
            {
                src[k] = i;
                dst[k] = first + rng.Next(AtomsPerStructure);
                double len = 1 + (4 * rng.NextDouble()), z = (2 * rng.NextDouble()) - 1, phi = 2 * Math.PI * rng.NextDouble();
                double rho = Math.Sqrt(1 - (z * z));
                r[3 * k] = (float)(len * rho * Math.Cos(phi));
                r[(3 * k) + 1] = (float)(len * rho * Math.Sin(phi));
                r[(3 * k) + 2] = (float)(len * z);
                s[k] = (float)((2 * rng.NextDouble()) - 1);
            }
        }

        _topo = ForceStressTopology.Build(_device, ptr, src, dst);
        _r = _device.Upload<float>(_topo.SortEdgeData<float>(r, 3));
        _s = _device.Upload<float>(_topo.SortEdgeData<float>(s, 1));
        _cell = _device.Upload<float>(cell);
        _g = _device.Allocate<float>(3L * e);
        _forces = _device.Allocate<float>(3L * n);
        _stress = _device.Allocate<float>(9L * Structures);
        _geometry = EdgeGeometry.FromEdgeVectors(_r, _cell);
        var h = new float[(long)e * HeadChannels];
        for (int i = 0; i < h.Length; i++) h[i] = (float)((2 * rng.NextDouble()) - 1);
        var w = new float[HeadChannels];
        for (int i = 0; i < w.Length; i++) w[i] = (float)(((2 * rng.NextDouble()) - 1) / Math.Sqrt(HeadChannels));
        _h = _device.Upload<float>(_topo.SortEdgeData<float>(h, HeadChannels));
        _w = _device.Upload<float>(w);
        _head = new ForceStressHead(_h, _w, HeadChannels);
        bool emulated = _device.Kind == DeviceKind.Emulated;
        Console.WriteLine($"// device: {_device.Name} [{_device.Kind}]{(emulated ? " (emulated on the CPU: not GPU speed)" : string.Empty)}");
        Console.WriteLine($"// batch: B = {Structures}, N = {n}, E = {e}; compulsory bytes (int32): fused {36L * e} (36 B/edge), fast {24L * e} (24 B/edge + atomics), unfused {72L * e} (72 B/edge + atomics)");
        Console.WriteLine($"// head (C = {HeadChannels}): fused deterministic {(28L + (8L * HeadChannels)) * e} ({28 + (8 * HeadChannels)} B/edge, h read from both ends), fast {(20L + (4L * HeadChannels)) * e} ({20 + (4 * HeadChannels)} B/edge + atomics)");
    }

    /// <summary>Frees everything.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _w.Dispose();
        _h.Dispose();
        _stress.Dispose();
        _forces.Dispose();
        _g.Dispose();
        _cell.Dispose();
        _s.Dispose();
        _r.Dispose();
        _topo.Dispose();
        _device.Dispose();
    }

    /// <summary>Unfused: g written, forces scattered with atomics, stress reduced per graph (three launches).</summary>
    [Benchmark(Baseline = true, Description = "unfused 3 launches (g materialised)")]
    public void Unfused()
    {
        ForceStress.UnfusedBaseline(_topo, _r, _cell, _s, _g, _forces, _stress);
        _device.Synchronize();
    }

    /// <summary>Fused deterministic readout (atom pass + graph pass, no atomics, g never written).</summary>
    [Benchmark(Description = "fused deterministic")]
    public void Fused()
    {
        ForceStress.Readout(_topo, _geometry, _s, _forces, _stress,
            new ForceStressOptions { Mode = ForceStressMode.Direct, Layout = StressLayout.Tensor });
        _device.Synchronize();
    }

    /// <summary>Fused fast readout (one atomics pass over the edges, g never written).</summary>
    [Benchmark(Description = "fused fast (atomics)")]
    public void FusedFast()
    {
        ForceStress.Readout(_topo, _geometry, _s, _forces, _stress,
            new ForceStressOptions { Mode = ForceStressMode.Direct, Layout = StressLayout.Tensor, Fast = true });
        _device.Synchronize();
    }

    /// <summary>Fused deterministic readout with the readout head (s_e = w·h_e computed in the kernel, never written).</summary>
    [Benchmark(Description = "fused head deterministic (C features)")]
    public void FusedHead()
    {
        ForceStress.Readout(_topo, _geometry, _head, _forces, _stress,
            new ForceStressOptions { Mode = ForceStressMode.Direct, Layout = StressLayout.Tensor });
        _device.Synchronize();
    }

    /// <summary>Fused fast readout with the readout head.</summary>
    [Benchmark(Description = "fused head fast (atomics, C features)")]
    public void FusedHeadFast()
    {
        ForceStress.Readout(_topo, _geometry, _head, _forces, _stress,
            new ForceStressOptions { Mode = ForceStressMode.Direct, Layout = StressLayout.Tensor, Fast = true });
        _device.Synchronize();
    }
}
