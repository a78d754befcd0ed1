using System;

namespace GraphKernels.BenchData;

/// <summary>A device's peak DRAM bandwidth, by its nvidia-smi name.</summary>
/// <param name="Match">Substring of the nvidia-smi name (case-insensitive).</param>
/// <param name="Name">Marketing name.</param>
/// <param name="BytesPerSecond">Vendor peak DRAM bandwidth.</param>
/// <param name="Source">Where the figure comes from.</param>
public sealed record DevicePeak(string Match, string Name, double BytesPerSecond, string Source);

/// <summary>
/// The roofline floor of a memory-bound op: bytes it must move ÷ peak bandwidth. Peaks are the
/// vendor datasheet figures (research/message_passing.md §4.1); a copy measured in the same run is
/// the practical ceiling and is reported beside it (≈4.3 TB/s was measured on a loaned H200).
/// </summary>
public static class Roofline
{
    /// <summary>Known devices, the more specific names first.</summary>
    public static readonly DevicePeak[] Devices =
    [
        new("H200", "NVIDIA H200 (141 GB HBM3e)", 4.8e12, "vendor datasheet"),
        new("H100 NVL", "NVIDIA H100 NVL", 3.9e12, "vendor datasheet"),
        new("H100 PCIe", "NVIDIA H100 PCIe", 2.0e12, "vendor datasheet"),
        new("H100", "NVIDIA H100 SXM (80 GB HBM3)", 3.35e12, "vendor datasheet"),
        new("GH200", "NVIDIA GH200", 4.0e12, "vendor datasheet"),
        new("A100-SXM4-80GB", "NVIDIA A100 SXM 80 GB", 2.039e12, "vendor datasheet"),
        new("A100 80GB PCIe", "NVIDIA A100 PCIe 80 GB", 1.935e12, "vendor datasheet"),
        new("A100", "NVIDIA A100 40 GB", 1.555e12, "vendor datasheet"),
        new("L40S", "NVIDIA L40S", 0.864e12, "vendor datasheet"),
    ];

    /// <summary>The peak for an nvidia-smi device name, or null when unknown (and for the emulated device).</summary>
    /// <param name="deviceName">e.g. "NVIDIA H100 80GB HBM3".</param>
    /// <returns>The entry or null.</returns>
    public static DevicePeak? Find(string? deviceName)
    {
        if (string.IsNullOrWhiteSpace(deviceName)) return null;
        foreach (var d in Devices)
        {
            if (d.Match == "H100" && deviceName.Contains("GH200", StringComparison.OrdinalIgnoreCase)) continue;
            if (deviceName.Contains(d.Match, StringComparison.OrdinalIgnoreCase)) return d;
        }

        return null;
    }

    /// <summary>The floor in milliseconds: bytes / peak.</summary>
    /// <param name="bytes">Bytes the op must move.</param>
    /// <param name="peak">Device peak.</param>
    /// <returns>Milliseconds.</returns>
    public static double FloorMs(long bytes, DevicePeak peak) => bytes / peak.BytesPerSecond * 1e3;
}
