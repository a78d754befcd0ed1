using GraphKernels.BenchData;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Bench;

/// <summary>
/// The static performance gate: every kernel of the sm_90 build against bench/budgets/ptxas_sm90.txt
/// (registers, spill bytes, stack, shared memory; a kernel without a budget line fails). Builds
/// build/cuda itself (incremental: a no-op when CudaLibraryBuildTests already built it; this fixture
/// is NonParallelizable so the two never run CMake on the same folder at once) and writes the
/// report to build/cuda/ptxas-gate-sm_90.md. Skipped with the reason where nvcc is not installed;
/// CI installs the toolkit.
/// </summary>
[TestFixture]
[Category("NativeBuild")]
[NonParallelizable]
public sealed class PtxasBudgetTests
{
    private GateResult? gate;
    private string? skipReason;
    private string? failure;

    private static string BudgetFile => Path.Combine(RepoPaths.Root, "bench", "budgets", "ptxas_sm90.txt");

    private GateResult Gate
    {
        get
        {
            if (skipReason != null) Assert.Ignore(skipReason);
            if (failure != null) Assert.Fail(failure);
            return gate!;
        }
    }

    [OneTimeSetUp]
    public void BuildAndMeasure()
    {
        var built = NativeBuild.CudaLibraryBuild.Get();
        if (built.SkipReason != null) { skipReason = built.SkipReason; return; }
        if (built.Failure != null) { failure = built.Failure; return; }
        string lib = built.Library!, nvcc = built.Nvcc!;
        string buildDir = Path.GetDirectoryName(Path.GetDirectoryName(lib)!)!;
        string bin = Path.GetDirectoryName(nvcc)!;
        gate = PtxasGate.Run(lib, BudgetFile, "sm_90", bin);
        string report = Path.Combine(buildDir, "ptxas-gate-sm_90.md");
        File.WriteAllText(report, gate.ToMarkdown());
        TestContext.Progress.WriteLine($"ptxas gate sm_90: {(gate.Passed ? "passed" : "FAILED")}, {gate.Verdicts.Count} kernels, report {report}");
    }

    [Test]
    public void EveryKernelOfTheSm90BuildIsWithinItsBudget()
    {
        var g = Gate;
        Assert.Multiple(() =>
        {
            Assert.That(g.Problems, Is.Empty, "problems while measuring");
            Assert.That(g.Verdicts, Is.Not.Empty, "no sm_90 kernel found: the gate checked nothing");
            Assert.That(g.Verdicts.Where(v => v.Violations.Count > 0).Select(v => $"{v.Kernel.Mangled}: {string.Join("; ", v.Violations)}"),
                Is.Empty, "kernels over budget (report: build/cuda/ptxas-gate-sm_90.md)");
        });
    }

    [Test]
    public void SpillBytesWereMeasuredForEveryKernel()
    {
        var g = Gate;
        Assert.That(g.Verdicts.Where(v => v.Kernel.SpillStores < 0).Select(v => v.Kernel.Mangled), Is.Empty,
            "ptxas -v on the library's own PTX did not report these kernels");
    }

    /// <summary>The gate can fail: the same figures against a budget one register tighter than the worst SpMM kernel.</summary>
    [Test]
    public void LoweringABudgetBelowTheMeasuredFigureFailsTheGate()
    {
        var g = Gate;
        var kernels = g.Verdicts.Select(v => v.Kernel).ToList();
        int worst = kernels.Where(k => k.Qualified == "gk::spmm_kernel").Max(k => k.Registers);
        var budgets = PtxasGate.ParseBudgets(File.ReadAllText(BudgetFile))
            .Select(b => b.Pattern == "gk::spmm_kernel" ? b with { MaxRegisters = worst - 1 } : b).ToList();
        var lowered = PtxasGate.Check("sm_90", "test", kernels, budgets);
        Assert.Multiple(() =>
        {
            Assert.That(lowered.Passed, Is.False);
            Assert.That(NewlyFailing(g, lowered), Is.EqualTo(new[] { "gk::spmm_kernel" }));
        });
    }

    [Test]
    public void AKernelWithoutABudgetLineFailsTheGate()
    {
        var g = Gate;
        var budgets = PtxasGate.ParseBudgets(File.ReadAllText(BudgetFile)).Where(b => b.Pattern != "gk::csr_validate_kernel").ToList();
        var result = PtxasGate.Check("sm_90", "test", g.Verdicts.Select(v => v.Kernel).ToList(), budgets);
        Assert.That(NewlyFailing(g, result), Is.EqualTo(new[] { "gk::csr_validate_kernel" }));
    }

    /// <summary>Kernel templates that fail in <paramref name="after"/> but not in <paramref name="before"/>.</summary>
    private static string[] NewlyFailing(GateResult before, GateResult after)
    {
        var failedBefore = before.Verdicts.Where(v => v.Violations.Count > 0).Select(v => v.Kernel.Mangled).ToHashSet();
        return after.Verdicts.Where(v => v.Violations.Count > 0 && !failedBefore.Contains(v.Kernel.Mangled))
            .Select(v => v.Kernel.Qualified).Distinct().ToArray();
    }
}

/// <summary>The gate's parsers on fixed text (no toolkit needed).</summary>
[TestFixture]
[Category("NativeBuild")]
[Parallelizable(ParallelScope.All)]
public sealed class PtxasGateParserTests
{
    private const string ResourceUsage = """
        Fatbin elf code:
        ================
        arch = sm_80
        identifier = /src/native/src/spmm.cu

        Resource usage:
         Function _ZN2gk11spmm_kernelIlLi0ELi3ELi1EEEvPKT_S3_PKfS5_lPflPS1_llli:
          REG:36 STACK:0 SHARED:0 LOCAL:0 CONSTANT[0]:444 TEXTURE:0 SURFACE:0 SAMPLER:0

        Fatbin ptx code:
        ================
        arch = sm_90
        identifier = /src/native/src/spmm.cu

        Fatbin elf code:
        ================
        arch = sm_90
        identifier = /src/native/src/spmm.cu

        Resource usage:
         Function _ZN2gk11spmm_kernelIlLi0ELi3ELi1EEEvPKT_S3_PKfS5_lPflPS1_llli:
          REG:32 STACK:16 SHARED:128 LOCAL:8 CONSTANT[0]:620 TEXTURE:0 SURFACE:0 SAMPLER:0
         Function my_c_kernel:
          REG:10 STACK:0 SHARED:0 LOCAL:0 CONSTANT[0]:620 TEXTURE:0 SURFACE:0 SAMPLER:0
        """;

    [Test]
    public void KeepsOnlyTheElfSectionsOfTheRequestedArch()
    {
        var k = PtxasGate.ParseResourceUsage(ResourceUsage, "sm_90");
        Assert.That(k, Has.Count.EqualTo(2));
        Assert.Multiple(() =>
        {
            Assert.That((k[0].Qualified, k[0].Registers, k[0].Stack, k[0].Shared, k[0].Local), Is.EqualTo(("gk::spmm_kernel", 32, 16, 128, 8)));
            Assert.That(k[1].Qualified, Is.EqualTo("my_c_kernel"));
        });
    }

    [Test]
    public void ReadsSpillsAndRegistersFromPtxasVerbose()
    {
        const string text = """
            ptxas info    : Compiling entry function '_ZN2gk3fooEv' for 'sm_90'
            ptxas info    : Function properties for _ZN2gk3fooEv
                24 bytes stack frame, 8 bytes spill stores, 12 bytes spill loads
            ptxas info    : Used 255 registers, 288 bytes smem, 380 bytes cmem[0]
            """;
        var m = PtxasGate.ParsePtxasVerbose(text);
        Assert.That(m["_ZN2gk3fooEv"], Is.EqualTo((255, 8, 12, 288)));
    }

    [Test]
    public void ASpillFailsEvenWithinTheRegisterBudget()
    {
        var k = new KernelUsage { Mangled = "_ZN2gk3fooEv", Qualified = "gk::foo", Registers = 10, SpillStores = 4, SpillLoads = 4 };
        var r = PtxasGate.Check("sm_90", "t", [k], PtxasGate.ParseBudgets("gk::foo 32 0 0 0 # test"));
        Assert.That(r.Passed, Is.False);
    }

    [Test]
    public void AnEmptyLibraryIsNotAPass()
    {
        Assert.That(PtxasGate.Check("sm_90", "t", [], PtxasGate.ParseBudgets("gk::* 32 0 0 0")).Passed, Is.False);
    }

    [TestCase("_ZN2gk11spmm_kernelIlLi0ELi3ELi1EEEvPKT_S3_PKfS5_lPflPS1_llli", "gk::spmm_kernel")]
    [TestCase("_Z3fooPf", "foo")]
    [TestCase("extern_c_kernel", "extern_c_kernel")]
    public void QualifiedNames(string mangled, string expected) => Assert.That(PtxasGate.QualifiedName(mangled), Is.EqualTo(expected));

    [Test]
    public void TheCheckedInBudgetFileParses()
    {
        var b = PtxasGate.ParseBudgets(File.ReadAllText(Path.Combine(RepoPaths.Root, "bench", "budgets", "ptxas_sm90.txt")));
        Assert.Multiple(() =>
        {
            Assert.That(b.Single(x => x.Pattern == "gk::spmm_kernel").MaxRegisters, Is.EqualTo(48), "kernels/spmm.cuh states 32-45 registers: budget 48");
            Assert.That(b.All(x => x.MaxSpillBytes == 0), Is.True, "no spills at all");
        });
    }
}
