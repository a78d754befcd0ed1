using System.Text.RegularExpressions;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.NativeBuild;

/// <summary>
/// Builds the real CUDA library with nvcc through CMake (once, in the fixture's OneTimeSetUp, into
/// build/cuda of this checkout) and inspects the result: SASS for sm_80 and sm_90, PTX for
/// compute_90, and the exported C ABI. Skipped with the reason where nvcc is not installed; CI
/// installs the toolkit so it runs there.
/// </summary>
[TestFixture]
[Category("NativeBuild")]
[Parallelizable(ParallelScope.Self)]
public sealed class CudaLibraryBuildTests
{
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(25);
    private string? library;
    private string? skipReason;
    private string? failure;

    private string Library
    {
        get
        {
            if (skipReason != null) Assert.Ignore(skipReason);
            if (failure != null) Assert.Fail(failure);
            return library!;
        }
    }

    [OneTimeSetUp]
    public void BuildCudaLibrary()
    {
        string? nvcc = ProcessRunner.Which("nvcc", "/usr/bin/nvcc", "/usr/local/cuda/bin/nvcc");
        if (nvcc == null)
        {
            skipReason = "nvcc not found on PATH, /usr/bin/nvcc or /usr/local/cuda/bin/nvcc: the CUDA toolkit is not installed";
            return;
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
            failure = "cmake configure failed:\n" + Tail(configure.Output);
            return;
        }

        var build = ProcessRunner.Run(cmake, new[] { "--build", buildDir, "--target", "graphkernels", "-j", "2" }, BuildTimeout, env);
        TestContext.Progress.WriteLine($"NativeBuild: cmake --build exited {build.ExitCode} after {build.Elapsed.TotalSeconds:F0}s");
        File.WriteAllText(Path.Combine(buildDir, "nativebuild-test.log"), configure.Output + build.Output);
        if (build.ExitCode != 0)
        {
            failure = "cmake --build --target graphkernels failed:\n" + Tail(build.Output);
            return;
        }

        library = Directory.EnumerateFiles(buildDir, "libgraphkernels.so*", SearchOption.AllDirectories)
            .OrderBy(p => p.Length).FirstOrDefault();
        if (library == null) failure = $"the build succeeded but no libgraphkernels.so was found under {buildDir}";
    }

    [Test]
    public void ContainsSassForSm80AndSm90()
    {
        var r = Tool("cuobjdump", "--list-elf", Library);
        Assert.Multiple(() =>
        {
            Assert.That(r.Output, Does.Match(@"\bsm_80\b"), r.Output);
            Assert.That(r.Output, Does.Match(@"\bsm_90\b"), r.Output);
        });
    }

    [Test]
    public void ContainsPtxForCompute90()
    {
        // cuobjdump names embedded PTX by the virtual architecture's number (e.g. "...sm_90.ptx").
        var r = Tool("cuobjdump", "--list-ptx", Library);
        Assert.That(r.Output, Does.Match(@"(compute|sm)_90"), r.Output);
    }

    [Test]
    public void ExportsTheCAbi()
    {
        var exports = DefinedExports(Library);
        Assert.That(exports, Is.SupersetOf(new[]
        {
            "gk_spmm", "gk_csr_validate", "gk_csr_validate_workspace_size", "gk_last_error_message",
            "gk_status_name", "gk_version_string", "gk_version", "gk_backend", "gk_build_info",
        }));
    }

    /// <summary>Only the C ABI is exported: no C++ (mangled) or CUDA-runtime symbols leak from the shared library.</summary>
    [Test]
    public void ExportsNothingButTheCAbi()
    {
        var leaked = DefinedExports(Library).Where(s => !s.StartsWith("gk_", StringComparison.Ordinal) && s is not ("_init" or "_fini")).ToList();
        Assert.That(leaked, Is.Empty, "symbols exported besides gk_*");
    }

    /// <summary>The emulated twin exports the same gk_* functions (the C# layer binds both through one set of imports).</summary>
    [Test]
    public void EmulatedLibraryExportsTheSameCAbi()
    {
        string emulated = Path.Combine(AppContext.BaseDirectory, "libgraphkernels_emulated.so");
        Assert.That(File.Exists(emulated), Is.True, $"{emulated} was not copied next to the tests");
        var cuda = DefinedExports(Library).Where(s => s.StartsWith("gk_", StringComparison.Ordinal)).ToHashSet();
        var emu = DefinedExports(emulated).Where(s => s.StartsWith("gk_", StringComparison.Ordinal)).ToHashSet();
        Assert.That(emu, Is.EquivalentTo(cuda));
    }

    private static List<string> DefinedExports(string lib)
    {
        var r = Tool("nm", "-D", "--defined-only", lib);
        // Lines look like "0000000000012340 T gk_spmm": every defined dynamic symbol is exported.
        return r.Output.Split('\n')
            .Select(l => Regex.Match(l.Trim(), @"^[0-9a-fA-F]+\s+\w\s+([^@\s]+)"))
            .Where(m => m.Success)
            .Select(m => m.Groups[1].Value)
            .ToList();
    }

    private static ProcessRunner.Result Tool(string name, params string[] args)
    {
        string? path = ProcessRunner.Which(name, "/usr/local/cuda/bin/" + name, "/usr/bin/" + name);
        if (path == null) Assert.Ignore($"{name} not found (the CUDA toolkit / binutils are not installed)");
        var r = ProcessRunner.Run(path!, args, TimeSpan.FromMinutes(2));
        Assert.That(r.ExitCode, Is.Zero, $"{name} {string.Join(' ', args)} failed:\n{r.Output}");
        return r;
    }

    private static string Tail(string s, int chars = 8000) => s.Length <= chars ? s : "..." + s[^chars..];
}
