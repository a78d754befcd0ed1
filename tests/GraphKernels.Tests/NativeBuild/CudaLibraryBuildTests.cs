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
    private string Library => CudaLibraryBuild.Get().RequireLibrary();

    /// <summary>Builds build/cuda (once per run, shared with the ptxas gate).</summary>
    [OneTimeSetUp]
    public void BuildCudaLibrary() => CudaLibraryBuild.Get();

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

}
