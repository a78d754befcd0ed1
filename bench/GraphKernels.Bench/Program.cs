using BenchmarkDotNet.Running;

namespace GraphKernels.Bench;

/// <summary>Entry point: <c>dotnet run -c Release --project bench/GraphKernels.Bench -- --filter '*'</c>.</summary>
public static class Program
{
    /// <summary>Runs the benchmarks selected on the command line (BenchmarkDotNet's switcher).</summary>
    /// <param name="args">BenchmarkDotNet arguments, e.g. <c>--filter '*'</c>.</param>
    public static void Main(string[] args)
        => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
