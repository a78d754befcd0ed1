using System;
using System.Runtime.InteropServices;
using System.Text;
using GraphKernels.Interop;
using GraphKernels.Jit;

namespace GraphKernels;

/// <summary>Builds the text of <see cref="GraphDevice.Describe"/>.</summary>
internal static unsafe class DeviceReport
{
    public static string Build()
    {
        var sb = new StringBuilder();
        sb.AppendLine($"GraphKernels managed {typeof(GraphDevice).Assembly.GetName().Version?.ToString(3)} on {RuntimeInformation.FrameworkDescription}, {RuntimeInformation.RuntimeIdentifier}");

        // CUDA driver and devices.
        if (!CudaDriver.TryLoad(out var driver, out string whyNoDriver))
        {
            sb.AppendLine("CUDA driver:  none");
            sb.AppendLine("  " + whyNoDriver);
        }
        else
        {
            sb.AppendLine($"CUDA driver:  {driver.DriverVersionText} ({driver.Path})");
            if (driver.InitResult != CudaDriver.Success)
            {
                sb.AppendLine($"CUDA devices: none (cuInit: {driver.Describe(driver.InitResult)})");
            }
            else
            {
                int count = 0;
                int result = driver.cuDeviceGetCount(&count);
                if (result != CudaDriver.Success)
                {
                    sb.AppendLine($"CUDA devices: unknown (cuDeviceGetCount: {driver.Describe(result)})");
                }
                else
                {
                    sb.AppendLine($"CUDA devices: {count}");
                    for (int i = 0; i < count; i++)
                    {
                        int dev;
                        if (driver.cuDeviceGet(&dev, i) != CudaDriver.Success)
                        {
                            continue;
                        }

                        nuint bytes = 0;
                        driver.cuDeviceTotalMem_v2(&bytes, dev);
                        int sms = 0;
                        driver.cuDeviceGetAttribute(&sms, CudaDriver.AttributeMultiprocessorCount, dev);
                        sb.AppendLine($"  [{i}] {GraphDevice.DeviceName(driver, dev)}, {bytes / (1024.0 * 1024 * 1024):F1} GiB, {sms} SMs");
                    }
                }
            }
        }

        // NVRTC.
        if (NvrtcCompiler.TryLoad(out var nvrtc, out string whyNoNvrtc))
        {
            var archs = nvrtc.SupportedArchitectures;
            string archText = archs.Count == 0 ? "not reported" : $"sm_{archs[0]} .. sm_{archs[archs.Count - 1]}";
            sb.AppendLine($"NVRTC:        {nvrtc.Version.Major}.{nvrtc.Version.Minor} ({nvrtc.LibraryPath}), architectures {archText}");
        }
        else
        {
            sb.AppendLine("NVRTC:        none");
            sb.AppendLine("  " + whyNoNvrtc);
        }

        sb.AppendLine(SpecialisedSpmm.Describe());

        string? include = NvrtcCompiler.FindToolkitIncludeDirectory(out string searched);
        sb.AppendLine(include is null
            ? $"CUDA headers: cuda_fp16.h not found (searched {searched})"
            : $"CUDA headers: {include} (cuda_fp16.h)");

        // Native libraries.
        sb.AppendLine("Native libraries:");
        foreach (var kind in new[] { DeviceKind.Cuda, DeviceKind.Emulated })
        {
            string label = kind == DeviceKind.Cuda ? "CUDA    " : "emulated";
            if (NativeApi.TryLoad(kind, out var api, out string whyNot))
            {
                sb.AppendLine($"  {label} {api.Path}");
                sb.AppendLine($"           version {api.Version}; {api.BuildInfo}");
            }
            else
            {
                sb.AppendLine($"  {label} not available: {whyNot.Replace(Environment.NewLine, Environment.NewLine + "           ")}");
            }
        }

        // What Open() would pick.
        try
        {
            using var device = GraphDevice.Open();
            sb.AppendLine($"GraphDevice.Open(): {device.Kind}, {device.Name}");
            sb.AppendLine($"  reason: {device.SelectionReason}");
        }
        catch (Exception ex) when (ex is DllNotFoundException or GraphKernelsException or ArgumentException)
        {
            sb.AppendLine($"GraphDevice.Open(): no device ({ex.Message})");
        }

        return sb.ToString().TrimEnd();
    }
}
