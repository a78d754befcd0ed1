using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.NativeBuild;

/// <summary>
/// Builds the real CUDA library with nvcc through CMake into build/cuda of this checkout, once per
/// test run, for every fixture that inspects it (exports, SASS/PTX, the ptxas gate). The first
/// caller builds; the others wait for it and share the outcome, so two fixtures never run CMake on
/// the same folder at once.
/// </summary>
internal static class CudaLibraryBuild
{
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(25);
    private static readonly Lazy<Outcome> Built = new(BuildOnce, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The result of the one build: the library and nvcc, or why there is none.</summary>
    /// <param name="Library">Path of libgraphkernels.so when built.</param>
    /// <param name="Nvcc">Path of the nvcc that built it.</param>
    /// <param name="SkipReason">Set when the toolkit is absent (the tests are skipped with it).</param>
    /// <param name="Failure">Set when the build failed (the tests fail with it).</param>
    internal sealed record Outcome(string? Library, string? Nvcc, string? SkipReason, string? Failure)
    {
        /// <summary>The library path; skips or fails the calling test when there is none.</summary>
        public string RequireLibrary()
        {
            if (SkipReason != null) Assert.Ignore(SkipReason);
            if (Failure != null) Assert.Fail(Failure);
            return Library!;
        }
    }

    /// <summary>Builds on first use; later calls return the same outcome.</summary>
    public static Outcome Get() => Built.Value;

    private static Outcome BuildOnce()
    {
        string? nvcc = ProcessRunner.Which("nvcc", "/usr/bin/nvcc", "/usr/local/cuda/bin/nvcc");
        if (nvcc == null)
        {
            return new Outcome(null, null, "nvcc not found on PATH, /usr/bin/nvcc or /usr/local/cuda/bin/nvcc: the CUDA toolkit is not installed", null);
        }

        string root = RepoPaths.Root;
        string buildDir = Path.Combine(root, "build", "cuda");
        var env = new Dictionary<string, string>();
        if (File.Exists("/usr/bin/clang++-14") && Environment.GetEnvironmentVariable("CUDAHOSTCXX") == null)
        {
            env["CUDAHOSTCXX"] = "/usr/bin/clang++-14";  // Debian's CUDA 11.8 rejects gcc 12 (DESIGN.md)
        }

        // CMake finds nvcc through CUDACXX or PATH; point it at the one found here.
        if (Environment.GetEnvironmentVariable("CUDACXX") == null) env["CUDACXX"] = nvcc;
        string cmake = ProcessRunner.Which("cmake") ?? "cmake";
        var configure = ProcessRunner.Run(cmake,
            new[] { "-S", root, "-B", buildDir, "-DCMAKE_BUILD_TYPE=Release", "-DGK_BUILD_CUDA=ON", "-DGK_BUILD_TESTS=OFF" },
            TimeSpan.FromMinutes(5), env);
        TestContext.Progress.WriteLine($"NativeBuild: cmake configure exited {configure.ExitCode} after {configure.Elapsed.TotalSeconds:F0}s");
        if (configure.ExitCode != 0)
        {
            return new Outcome(null, nvcc, null, "cmake configure failed:\n" + Tail(configure.Output));
        }

        var build = ProcessRunner.Run(cmake, new[] { "--build", buildDir, "--target", "graphkernels", "-j", "2" }, BuildTimeout, env);
        TestContext.Progress.WriteLine($"NativeBuild: cmake --build exited {build.ExitCode} after {build.Elapsed.TotalSeconds:F0}s");
        File.WriteAllText(Path.Combine(buildDir, "nativebuild-test.log"), configure.Output + build.Output);
        if (build.ExitCode != 0)
        {
            return new Outcome(null, nvcc, null, "cmake --build --target graphkernels failed:\n" + Tail(build.Output));
        }

        string lib = Path.Combine(buildDir, "lib", "libgraphkernels.so");
        return File.Exists(lib)
            ? new Outcome(lib, nvcc, null, null)
            : new Outcome(null, nvcc, null, $"the build succeeded but {lib} does not exist");
    }

    private static string Tail(string s, int chars = 8000) => s.Length <= chars ? s : "..." + s[^chars..];
}
