using System;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.OpenCL;

namespace GraphKernels.Ilgpu;

/// <summary>Which ILGPU accelerator a device runs on.</summary>
public enum IlgpuAccelerator
{
    /// <summary>An OpenCL GPU if one is present, else the CPU accelerator.</summary>
    Best,

    /// <summary>
    /// ILGPU's CPU accelerator, created with <c>CPUDeviceKind.Nvidia</c> settings: warp size 32 and
    /// 1024-thread groups (the default CPU device allows only 16 threads per group).
    /// </summary>
    Cpu,

    /// <summary>An OpenCL GPU (AMD, Intel, NVIDIA through its OpenCL driver).</summary>
    OpenCL,
}

/// <summary>
/// Opens GraphKernels devices on ILGPU accelerators: <c>GraphDevice.Ilgpu(...)</c> (an extension of
/// <see cref="GraphDevice"/> with <c>using GraphKernels.Ilgpu;</c>) or <see cref="Open"/>.
/// </summary>
public static class IlgpuDevices
{
    /// <summary>Opens an ILGPU device.</summary>
    /// <param name="accelerator">Which accelerator (default: an OpenCL GPU, else the CPU).</param>
    /// <param name="ordinal">Which OpenCL GPU when there are several (ignored for the CPU).</param>
    /// <returns>A device of kind <see cref="DeviceKind.Ilgpu"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The ordinal is negative or the accelerator value is unknown.</exception>
    /// <exception cref="InvalidOperationException">An OpenCL GPU was asked for and none (or not that many) is present.</exception>
    public static GraphDevice Open(IlgpuAccelerator accelerator = IlgpuAccelerator.Best, int ordinal = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ordinal);
        if ((uint)accelerator > (uint)IlgpuAccelerator.OpenCL)
        {
            throw new ArgumentOutOfRangeException(nameof(accelerator), accelerator, $"accelerator = {accelerator} is not an IlgpuAccelerator value.");
        }

        return OpenCore(accelerator, ordinal, $"requested with GraphDevice.Ilgpu({accelerator})");
    }

    /// <summary>
    /// Called by <see cref="GraphDevice.Open"/> through reflection: an OpenCL GPU, else the CPU
    /// accelerator; <paramref name="reason"/> is extended with which and why.
    /// </summary>
    /// <param name="reason">Why ILGPU was chosen.</param>
    /// <returns>The device.</returns>
    public static GraphDevice OpenBest(string reason) => OpenCore(IlgpuAccelerator.Best, 0, reason);

    /// <summary>
    /// Report for <c>graphkernels info</c>: the ILGPU version, its CPU accelerator's settings and the
    /// OpenCL GPUs found (or that there are none).
    /// </summary>
    /// <returns>A multi-line report.</returns>
    public static string Describe()
    {
        var sb = new System.Text.StringBuilder();
        sb.AppendLine($"ILGPU:        {typeof(Context).Assembly.GetName().Version} (GraphKernels.Ilgpu; ops: SpMM, CSR validation; see docs/ilgpu.md)");
        try
        {
            using var context = CreateContext(withOpenCL: true);
            foreach (var d in context.GetDevices<CPUDevice>())
            {
                sb.AppendLine($"  CPU accelerator: warp {d.WarpSize}, {d.MaxNumThreadsPerGroup} threads per group, {d.NumMultiprocessors} multiprocessor(s) (CPUDeviceKind.Nvidia)");
                break;
            }

            int gpus = 0;
            foreach (var d in context.GetDevices<CLDevice>())
            {
                if (d.DeviceType == CLDeviceType.CL_DEVICE_TYPE_GPU)
                {
                    sb.AppendLine($"  OpenCL GPU {gpus++}: {d.Name} ({d.VendorName}, OpenCL C {d.CVersion})");
                }
            }

            if (gpus == 0)
            {
                sb.AppendLine("  OpenCL GPUs: none found (no OpenCL driver with a GPU device)");
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or NotSupportedException or DllNotFoundException or TypeInitializationException)
        {
            sb.AppendLine("  could not enumerate ILGPU devices: " + ex.Message);
        }

        return sb.ToString().TrimEnd();
    }

    private static GraphDevice OpenCore(IlgpuAccelerator which, int ordinal, string reason)
    {
        Context? context = null;
        Accelerator? accelerator = null;
        try
        {
            string why;
            if (which == IlgpuAccelerator.Cpu)
            {
                context = CreateContext(withOpenCL: false);
                accelerator = CreateCpu(context);
                why = "ILGPU CPU accelerator";
            }
            else
            {
                context = CreateContext(withOpenCL: true);
                var gpus = new System.Collections.Generic.List<CLDevice>();
                foreach (var d in context.GetDevices<CLDevice>())
                {
                    if (d.DeviceType == CLDeviceType.CL_DEVICE_TYPE_GPU)
                    {
                        gpus.Add(d);
                    }
                }

                if (ordinal < gpus.Count)
                {
                    accelerator = gpus[ordinal].CreateAccelerator(context);
                    why = $"OpenCL GPU {ordinal} of {gpus.Count}";
                }
                else if (which == IlgpuAccelerator.OpenCL)
                {
                    throw new InvalidOperationException(gpus.Count == 0
                        ? "GraphDevice.Ilgpu(OpenCL): no OpenCL GPU is present (ILGPU found no OpenCL GPU device; is an OpenCL driver installed?)"
                        : $"GraphDevice.Ilgpu(OpenCL, {ordinal}): there are only {gpus.Count} OpenCL GPU(s)");
                }
                else
                {
                    accelerator = CreateCpu(context);
                    why = "no OpenCL GPU, so ILGPU's CPU accelerator";
                }
            }

            var backend = new IlgpuBackend(context, accelerator);
            return GraphDevice.FromManagedBackend(backend, $"{reason}: {why}");
        }
        catch
        {
            accelerator?.Dispose();
            context?.Dispose();
            throw;
        }
    }

    private static Context CreateContext(bool withOpenCL)
        => Context.Create(builder =>
        {
            // IEEE fp32 everywhere (no fast math), so results match the CUDA kernels bit for bit where the order matches.
            builder.CPU(CPUDeviceKind.Nvidia).Optimize(OptimizationLevel.O1);
            if (withOpenCL)
            {
                builder.OpenCL(d => d.DeviceType == CLDeviceType.CL_DEVICE_TYPE_GPU);
            }
        });

    private static Accelerator CreateCpu(Context context)
    {
        foreach (var d in context.GetDevices<CPUDevice>())
        {
            // Parallel always (Auto picks Sequential under a debugger, about 30x slower per launch here).
            return d.CreateCPUAccelerator(context, CPUAcceleratorMode.Parallel);
        }

        throw new InvalidOperationException("ILGPU registered no CPU device.");
    }
}

/// <summary><c>GraphDevice.Ilgpu(...)</c>.</summary>
public static class GraphDeviceIlgpuExtensions
{
    extension(GraphDevice)
    {
        /// <summary>Opens a GraphKernels device on an ILGPU accelerator (see <see cref="IlgpuDevices.Open"/>).</summary>
        /// <param name="accelerator">Which accelerator (default: an OpenCL GPU, else the CPU).</param>
        /// <param name="ordinal">Which OpenCL GPU when there are several.</param>
        /// <returns>A device of kind <see cref="DeviceKind.Ilgpu"/>.</returns>
        public static GraphDevice Ilgpu(IlgpuAccelerator accelerator = IlgpuAccelerator.Best, int ordinal = 0)
            => IlgpuDevices.Open(accelerator, ordinal);
    }
}
