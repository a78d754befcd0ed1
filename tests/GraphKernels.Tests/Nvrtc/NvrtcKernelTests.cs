using System.Text;
using GraphKernels.Jit;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Nvrtc;

/// <summary>
/// NVRTC compiles every kernel instantiation listed in kernels/nvrtc_manifest.txt
/// (<c>header-under-kernels/ TAB name-expression</c>, # comments) for sm_80 and sm_90 (CUBIN) and
/// compute_90 (PTX), from the kernels/ folder of this checkout (found by <see cref="RepoPaths"/>,
/// passed with -I). Where NVRTC is not installed the tests are skipped with the reason; CI installs
/// the toolkit so they run there.
/// </summary>
[TestFixture]
[Category("Nvrtc")]
[Parallelizable(ParallelScope.All)]
public sealed class NvrtcKernelTests
{
    public static string ManifestPath => Path.Combine(RepoPaths.Kernels, "nvrtc_manifest.txt");

    /// <summary>The manifest's entries grouped by header (read at discovery; a missing file fails the tests below clearly).</summary>
    public static IReadOnlyList<(string Header, string Expression)> ReadManifest()
    {
        if (!File.Exists(ManifestPath))
        {
            throw new FileNotFoundException("kernels/nvrtc_manifest.txt is missing: it must list every kernel instantiation", ManifestPath);
        }

        var entries = new List<(string, string)>();
        int lineNo = 0;
        foreach (string raw in File.ReadLines(ManifestPath))
        {
            lineNo++;
            string line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            string[] parts = line.Split('\t');
            if (parts.Length != 2 || parts[0].Trim().Length == 0 || parts[1].Trim().Length == 0)
            {
                throw new FormatException($"{ManifestPath}:{lineNo}: expected '<header>\\t<name expression>', got '{raw}'");
            }

            entries.Add((parts[0].Trim(), parts[1].Trim()));
        }

        return entries;
    }

    public static IEnumerable<TestCaseData> Targets()
    {
        foreach (var (arch, kind) in new[] { ("sm_80", NvrtcOutput.Cubin), ("sm_90", NvrtcOutput.Cubin), ("compute_90", NvrtcOutput.Ptx) })
        {
            yield return new TestCaseData(arch, kind).SetArgDisplayNames(arch, kind.ToString());
        }
    }

    private static NvrtcCompiler LoadOrIgnore()
    {
        if (!NvrtcCompiler.TryLoad(out NvrtcCompiler? compiler, out string whyNot))
        {
            Assert.Ignore("NVRTC not found: " + whyNot);
        }

        return compiler!;
    }

    [Test]
    public void ManifestListsEveryLaunchedInstantiation()
    {
        var entries = ReadManifest();
        var expressions = entries.Select(e => Normalize(e.Expression)).ToHashSet();
        Assert.That(expressions, Has.Count.EqualTo(entries.Count), "duplicate name expressions in the manifest");
        foreach (var (header, _) in entries)
        {
            Assert.That(File.Exists(Path.Combine(RepoPaths.Kernels, header)), Is.True, $"manifest names kernels/{header}, which does not exist");
        }

        // native/src/spmm.cu dispatches index type x message x reducer x vector width; csr.cu dispatches index type.
        var missing = new List<string>();
        foreach (string index in new[] { "int", "long long" })
        {
            foreach (int msg in new[] { 0, 1 })
            {
                foreach (int red in new[] { 0, 1, 2, 3 })
                {
                    foreach (int v in new[] { 1, 2, 4 })
                    {
                        string e = $"gk::spmm_kernel<{index}, {msg}, {red}, {v}>";
                        if (!expressions.Contains(Normalize(e))) missing.Add(e);
                    }
                }
            }

            string c = $"gk::csr_validate_kernel<{index}>";
            if (!expressions.Contains(Normalize(c))) missing.Add(c);

            // native/src/fused_message.cu: forward I x builtin x RED x F (every built-in 0/16/64, copy_u and
            // u_mul_e also 32/128/256: the widths MessagePassing.SpMM specialises on CUDA); backward I x
            // derivative struct x sum/mean x three kernels.
            string[] builtins = ["FusedCopyU", "FusedUMulE", "FusedUAddV", "FusedUMulEFeat"];
            foreach (string b in builtins)
            {
                int[] widths = b is "FusedCopyU" or "FusedUMulE" ? [0, 16, 32, 64, 128, 256] : [0, 16, 64];
                foreach (int red in new[] { 0, 1, 2, 3 })
                {
                    foreach (int w in widths)
                    {
                        string e = $"gk::fused_message_kernel<{index}, gk::{b}, {red}, {w}>";
                        if (!expressions.Contains(Normalize(e))) missing.Add(e);
                    }
                }

                foreach (int red in new[] { 0, 1 })
                {
                    foreach (string k in new[] { "grad_src", "grad_dst", "grad_edge" })
                    {
                        string e = $"gk::fused_message_{k}_kernel<{index}, gk::{b}Grad, {red}>";
                        if (!expressions.Contains(Normalize(e))) missing.Add(e);
                    }
                }
            }
        }

        Assert.That(missing, Is.Empty, "instantiations launched by native/src but absent from the manifest");
    }

    [TestCaseSource(nameof(Targets))]
    public void EveryManifestKernelCompiles(string arch, NvrtcOutput kind)
    {
        var entries = ReadManifest();
        Assert.That(entries, Is.Not.Empty, "the manifest lists no kernel");
        var compiler = LoadOrIgnore();
        TestContext.Out.WriteLine($"{compiler} compiling {entries.Count} instantiations for {arch}");

        foreach (var group in entries.GroupBy(e => e.Header))
        {
            string header = group.Key;
            var names = group.Select(e => e.Expression).ToList();
            string source = $"#include \"{header}\"\n";
            var options = new List<string> { "--std=c++17", $"-arch={arch}", "-I" + RepoPaths.Kernels };
            // Kernels using __half / __nv_bfloat16 include cuda_fp16.h / cuda_bf16.h, which NVRTC 11.8
            // finds only through the toolkit's include folder (DESIGN.md, toolchain notes).
            string? toolkitInclude = NvrtcCompiler.FindToolkitIncludeDirectory(out string searched);
            if (toolkitInclude is not null)
            {
                options.Add("-I" + toolkitInclude);
            }
            else if (File.ReadAllText(Path.Combine(RepoPaths.Kernels, header)).Contains("cuda_fp16.h", StringComparison.Ordinal))
            {
                Assert.Fail($"kernels/{header} needs cuda_fp16.h but no toolkit include folder was found (searched {searched})");
            }

            NvrtcResult result;
            try
            {
                result = compiler.Compile(source, Path.GetFileNameWithoutExtension(header) + "_nvrtc.cu", options, names, kind);
            }
            catch (NvrtcCompileException ex)
            {
                Assert.Fail($"NVRTC failed on kernels/{header} for {arch}:\n{ex.Log}");
                throw;
            }

            Assert.That(result.Kind, Is.EqualTo(kind));
            Assert.That(result.Image, Is.Not.Empty, $"{header}: empty image for {arch}");
            if (!string.IsNullOrWhiteSpace(result.Log)) TestContext.Out.WriteLine($"{header} log:\n{result.Log}");

            string imageText = kind == NvrtcOutput.Ptx ? result.PtxText() : Encoding.Latin1.GetString(result.Image);
            if (kind == NvrtcOutput.Cubin)
            {
                Assert.That(result.Image.Take(4), Is.EqualTo(new byte[] { 0x7F, (byte)'E', (byte)'L', (byte)'F' }), $"{header}: the CUBIN is not an ELF image");
            }
            else
            {
                Assert.That(imageText, Does.Contain(".target sm_90"), $"{header}: PTX is not for sm_90");
            }

            foreach (string name in names)
            {
                Assert.That(result.LoweredNames.TryGetValue(name, out string? lowered), Is.True, $"{header}: no lowered name for '{name}'");
                Assert.That(lowered, Does.StartWith("_Z"), $"{header}: '{name}' lowered to '{lowered}'");
                // The kernel must really be in the image: a PTX entry point, or a symbol of the CUBIN.
                string expectedText = kind == NvrtcOutput.Ptx ? ".entry " + lowered : lowered!;
                Assert.That(imageText, Does.Contain(expectedText), $"{header}: '{name}' ({lowered}) is not in the {arch} image");
            }
        }
    }

    private static string Normalize(string expression) => expression.Replace(" ", string.Empty).TrimStart('&');
}
