using System;
using System.Globalization;

namespace GraphKernels.Cli;

/// <summary>Which device the demo runs on.</summary>
public enum DeviceChoice
{
    /// <summary>GraphDevice.Open(): CUDA when available, else the emulation, else ILGPU.</summary>
    Auto,

    /// <summary>CUDA only.</summary>
    Cuda,

    /// <summary>The CPU emulation only.</summary>
    Emulated,

    /// <summary>ILGPU (GraphKernels.Ilgpu): an OpenCL GPU if present, else ILGPU's CPU accelerator.</summary>
    Ilgpu,
}

/// <summary>Options of <c>graphkernels demo</c>.</summary>
public sealed class DemoOptions
{
    /// <summary>Default node count (about 6 s for the whole demo on 2 cores with the emulated device).</summary>
    public const int DefaultNodes = 20_000;

    /// <summary>The device to use.</summary>
    public DeviceChoice Device { get; set; } = DeviceChoice.Auto;

    /// <summary>Number of nodes.</summary>
    public int Nodes { get; set; } = DefaultNodes;

    /// <summary>Feature width F.</summary>
    public int Features { get; set; } = 64;

    /// <summary>Seed of the graph and feature generator.</summary>
    public ulong Seed { get; set; } = 42;

    /// <summary>Mean in-degree of the generated graph.</summary>
    public int Degree { get; set; } = 10;

    /// <summary>Parses the options after the verb.</summary>
    /// <param name="args">The arguments.</param>
    /// <param name="options">The options, when parsing succeeded.</param>
    /// <param name="error">What is wrong, when it did not.</param>
    /// <returns>Whether parsing succeeded.</returns>
    public static bool TryParse(ReadOnlySpan<string> args, out DemoOptions options, out string error)
    {
        options = new DemoOptions();
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            string? value = null;
            int eq = arg.IndexOf('=');
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                value = arg[(eq + 1)..];
                arg = arg[..eq];
            }

            if (arg is not ("--device" or "--nodes" or "--features" or "--seed" or "--degree"))
            {
                error = $"unknown demo option '{args[i]}'.";
                return false;
            }

            if (value is null)
            {
                if (i + 1 >= args.Length)
                {
                    error = $"{arg} needs a value.";
                    return false;
                }

                value = args[++i];
            }

            switch (arg)
            {
                case "--device":
                    switch (value.ToLowerInvariant())
                    {
                        case "auto": options.Device = DeviceChoice.Auto; break;
                        case "cuda": options.Device = DeviceChoice.Cuda; break;
                        case "emulated": options.Device = DeviceChoice.Emulated; break;
                        case "ilgpu": options.Device = DeviceChoice.Ilgpu; break;
                        default:
                            error = $"--device must be auto, cuda, emulated or ilgpu (got '{value}').";
                            return false;
                    }

                    break;
                case "--nodes":
                    if (!int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int nodes) || nodes < 1 || nodes > 50_000_000)
                    {
                        error = $"--nodes must be an integer in [1, 50000000] (got '{value}').";
                        return false;
                    }

                    options.Nodes = nodes;
                    break;
                case "--features":
                    if (!int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int features) || features < 1 || features > 4096)
                    {
                        error = $"--features must be an integer in [1, 4096] (got '{value}').";
                        return false;
                    }

                    options.Features = features;
                    break;
                case "--seed":
                    if (!ulong.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out ulong seed))
                    {
                        error = $"--seed must be a non-negative integer (got '{value}').";
                        return false;
                    }

                    options.Seed = seed;
                    break;
                case "--degree":
                    if (!int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int degree) || degree < 1 || degree > 10_000)
                    {
                        error = $"--degree must be an integer in [1, 10000] (got '{value}').";
                        return false;
                    }

                    options.Degree = degree;
                    break;
            }
        }

        error = string.Empty;
        return true;
    }
}
