using System.Runtime.InteropServices;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.IlgpuBackend;

/// <summary>
/// "The demo runs on ILGPU's CPU accelerator on a machine with nothing but .NET": the CLI is run in a
/// child process from a folder that holds a copy of the test output's managed assemblies but no
/// native GraphKernels library, with GRAPHKERNELS_NATIVE_DIR pointing at an empty folder and
/// LD_LIBRARY_PATH / GRAPHKERNELS_DEVICE removed, so every candidate NativeApi probes (that folder, the
/// assembly's folder, the app's folder, the host's native search folders, the loader's default search)
/// fails. <c>demo</c> must then choose ILGPU by itself (GraphDevice.Open), run SpMM and the
/// quantization family (plan in C#, quantize/dequantize, project/unproject) with every check PASS, report
/// a family whose ops ILGPU does not have yet as "not on this backend" rather than crash, and exit 0.
/// <c>info</c> must work there too and say why no native library was found.
/// </summary>
[TestFixture]
[Category("Ilgpu")]
[Category("Embedding")]
[NonParallelizable]
public sealed class IlgpuDemoWithoutNativeTests
{
    private string? root;
    private string? appDir;
    private string? emptyDir;

    [OneTimeSetUp]
    public void MakeManagedOnlyFolder()
    {
        string source = AppContext.BaseDirectory;
        Assert.That(File.Exists(Path.Combine(source, "GraphKernels.Cli.dll")), "GraphKernels.Cli.dll next to the tests (project reference)");
        Assert.That(File.Exists(Path.Combine(source, "GraphKernels.Cli.runtimeconfig.json")), "the CLI's runtimeconfig.json next to the tests");
        root = Path.Combine(Path.GetTempPath(), "gk-ilgpu-only-" + Guid.NewGuid().ToString("N"));
        appDir = Path.Combine(root, "app");
        emptyDir = Path.Combine(root, "no-native");
        Directory.CreateDirectory(emptyDir);
        Mirror(source, appDir);
        Assert.That(Directory.EnumerateFiles(appDir, "*graphkernels*", SearchOption.AllDirectories).Where(IsNativeLibrary), Is.Empty, "no native library in the folder");
    }

    [OneTimeTearDown]
    public void Remove()
    {
        if (root is not null && Directory.Exists(root))
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Test]
    public void DemoChoosesIlgpuAndPassesWithoutTheNativeLibrary()
    {
        var r = RunCli("demo", "--nodes", "1200", "--features", "16", "--seed", "3");
        TestContext.Out.WriteLine(r.Output);
        Assert.That(r.ExitCode, Is.EqualTo(0), "exit code (output above)");
        Assert.That(r.Output, Does.Contain("[Ilgpu]"), "the device chosen");
        Assert.That(r.Output, Does.Contain("no emulated library").And.Contain("so ILGPU was chosen"), "the reason names the missing library");
        Assert.That(r.Output, Does.Contain("library   none: the ILGPU backend"));
        Assert.That(r.Output, Does.Not.Contain("Unhandled exception").And.Not.Contain("FAIL"));
        foreach (string line in new[] { "u_mul_e/sum", "copy_u/max", "INT2, B=1024, i-EXACT levels", "INT8, B=1024, uniform" })
        {
            string? found = r.Output.Split('\n').FirstOrDefault(l => l.StartsWith(line, StringComparison.Ordinal));
            Assert.That(found, Is.Not.Null, $"a line for {line}");
        }

        // The result lines of each check (the quantization cases print their verdict on the line after the name).
        int passes = r.Output.Split('\n').Count(l => l.TrimEnd().EndsWith("PASS", StringComparison.Ordinal) || l.Contains("  PASS  ", StringComparison.Ordinal));
        Assert.That(passes, Is.GreaterThanOrEqualTo(6), "SpMM sum, SpMM max, INT2, INT8, INT2 after projection, overall");
        Assert.That(r.Output, Does.Contain("relative RMS error").And.Contain("projection alone"), "the projected quantization ran on ILGPU");
        Assert.That(r.Output, Does.Not.Contain("quantization: not on this backend"), "quantization is complete on ILGPU");
        // Force/stress runs on ILGPU too (readout, backward, head): the demo must run it, not annotate it.
        Assert.That(r.Output, Does.Contain("GraphKernels demo: fused force/stress readout"), "force/stress ran on ILGPU");
        Assert.That(r.Output, Does.Not.Contain("not on this backend"), "every demo family runs on ILGPU");

        Assert.That(r.Output.TrimEnd().Split('\n')[^1].Trim(), Is.EqualTo("PASS"), "the verdict");
    }

    [Test]
    public void InfoWorksAndSaysWhyNoNativeLibraryWasFound()
    {
        var r = RunCli("info");
        TestContext.Out.WriteLine(r.Output);
        Assert.That(r.ExitCode, Is.EqualTo(0));
        Assert.That(r.Output, Does.Contain("libgraphkernels_emulated").And.Contain("no such file"), "the probe trace names the library and why it failed");
        Assert.That(r.Output, Does.Contain("ILGPU"));
    }

    private ProcessRunner.Result RunCli(params string[] args)
    {
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)
            ? host
            : Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : ProcessRunner.Which("dotnet") ?? "dotnet";
        var env = new Dictionary<string, string>
        {
            ["GRAPHKERNELS_NATIVE_DIR"] = emptyDir!,
            ["GRAPHKERNELS_DEVICE"] = string.Empty,
            ["LD_LIBRARY_PATH"] = string.Empty,
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
        };
        return ProcessRunner.Run(dotnet, new[] { Path.Combine(appDir!, "GraphKernels.Cli.dll") }.Concat(args), TimeSpan.FromMinutes(5), env, root);
    }

    private static bool IsNativeLibrary(string path)
    {
        string name = Path.GetFileName(path);
        return name.StartsWith("libgraphkernels", StringComparison.Ordinal)
            || name.Equals("graphkernels_emulated.dll", StringComparison.OrdinalIgnoreCase)
            || (name.Equals("graphkernels.dll", StringComparison.Ordinal) && RuntimeInformation.IsOSPlatform(OSPlatform.Windows));
    }

    /// <summary>
    /// The test output folder without the native libraries, copied (the .NET host resolves symbolic links
    /// of the app to their targets, which would put the native library back next to it); of runtimes/
    /// only this platform's folders.
    /// </summary>
    private static void Mirror(string from, string to, bool top = true)
    {
        Directory.CreateDirectory(to);
        foreach (string file in Directory.EnumerateFiles(from))
        {
            if (!IsNativeLibrary(file))
            {
                File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
            }
        }

        foreach (string dir in Directory.EnumerateDirectories(from))
        {
            string name = Path.GetFileName(dir);
            if (top && name == "runtimes")
            {
                string rid = RuntimeInformation.RuntimeIdentifier;
                foreach (string platform in Directory.EnumerateDirectories(dir).Where(d => Path.GetFileName(d) is var n && (n == rid || n == "unix" || n == "linux" || n == "any")))
                {
                    Mirror(platform, Path.Combine(to, name, Path.GetFileName(platform)), false);
                }

                continue;
            }

            Mirror(dir, Path.Combine(to, name), false);
        }
    }
}
