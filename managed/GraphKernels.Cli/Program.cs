using System;
using System.Globalization;

namespace GraphKernels.Cli;

/// <summary>Entry point of the <c>graphkernels</c> command.</summary>
public static class Program
{
    /// <summary>Exit code: the demo's results did not match the reference.</summary>
    public const int ExitMismatch = 1;

    /// <summary>Exit code: bad command line.</summary>
    public const int ExitUsage = 2;

    /// <summary>Exit code: the requested device or native library is not available.</summary>
    public const int ExitNoDevice = 3;

    private const string Usage = """
        graphkernels — CUDA graph kernels for GNNs, with a CPU emulation for machines without a GPU

        Usage:
          graphkernels info
              CUDA driver and devices, NVRTC, the native libraries found, and the device chosen.
          graphkernels demo [--device auto|cuda|emulated] [--nodes N] [--features F] [--seed S] [--degree D]
              SpMM (sum with edge weights, max with argmax) on a power-law graph, checked against a
              double-precision C# reference; prints the error, PASS/FAIL and the time per call.
          graphkernels bench
              Where the BenchmarkDotNet suites live and how to run them.
        """;

    /// <summary>Runs the command.</summary>
    /// <param name="args">The command line.</param>
    /// <returns>0 on success, <see cref="ExitMismatch"/>, <see cref="ExitUsage"/> or <see cref="ExitNoDevice"/>.</returns>
    public static int Main(string[] args)
    {
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            Console.WriteLine(Usage);
            return args.Length == 0 ? ExitUsage : 0;
        }

        try
        {
            switch (args[0])
            {
                case "info":
                    if (args.Length > 1)
                    {
                        return Fail($"info takes no options (got '{args[1]}').");
                    }

                    Console.WriteLine(GraphDevice.Describe());
                    Console.WriteLine($"JIT cache:    {GraphKernels.Jit.KernelCache.DefaultDirectory} (set {GraphKernels.Jit.KernelCache.DirectoryVariable} to move it; docs/jit.md)");
                    return 0;
                case "demo":
                    return DemoOptions.TryParse(args.AsSpan(1), out var options, out string error)
                        ? Demo.Run(options)
                        : Fail(error);
                case "bench":
                    Console.WriteLine("The benchmarks are BenchmarkDotNet suites in bench/GraphKernels.Bench. From the repository root:");
                    Console.WriteLine("  dotnet run -c Release --project bench/GraphKernels.Bench -- --filter '*'");
                    Console.WriteLine("SpmmBenchmark times SpMM on GraphDevice.Open() (a short job, marked as not a GPU figure, on the emulated device);");
                    Console.WriteLine("ManagedOverheadBenchmark measures the managed cost and allocations of one call.");
                    return 0;
                default:
                    return Fail($"unknown command '{args[0]}'.");
            }
        }
        catch (DllNotFoundException ex)
        {
            Console.Error.WriteLine("error: a native library is missing: " + ex.Message);
            return ExitNoDevice;
        }
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine("error: " + message);
        Console.Error.WriteLine();
        Console.Error.WriteLine(Usage);
        return ExitUsage;
    }
}
