using System.Diagnostics;
using System.Text;

namespace GraphKernels.Tests.Embedding;

/// <summary>
/// What we ship can be consumed: packs GraphKernels and GraphKernels.Native into a local feed, creates a
/// fresh console project in a temporary directory outside the tree, adds both packages from that feed
/// only (nuget.config with &lt;clear/&gt;, an empty package cache), and runs SpMM on the emulated device.
/// The expected row sums are written in the program by hand.
/// </summary>
[TestFixture]
[Category("Embedding")]
[NonParallelizable]
public sealed class NuGetConsumerTests
{
    private const string ConsumerProgram = """
        using GraphKernels;

        using var device = GraphDevice.Emulated();
        // Destination-major CSR: row 0 <- sources {1, 2}, row 1 <- {0}, row 2 <- {} (empty row -> 0).
        using var graph = CsrGraph.Upload(device, new int[] { 0, 2, 3, 3 }, new int[] { 1, 2, 0 }, 3);
        using var x = device.Upload<float>(new float[] { 1, 2, 3, 4, 5, 6 });
        using var y = device.Allocate<float>(6);
        MessagePassing.SpMM(graph, Message.CopyU, Reduce.Sum, 2, x, y);
        float[] got = y.ToArray();
        float[] want = { 8, 10, 1, 2, 0, 0 };
        bool ok = got.AsSpan().SequenceEqual(want);
        Console.WriteLine((ok ? "SPMM OK " : "SPMM MISMATCH ") + string.Join(",", got));
        Console.WriteLine("NATIVE " + device.NativeLibraryPath);
        return ok ? 0 : 1;
        """;

    [Test]
    [CancelAfter(900_000)]
    public void AFreshConsoleProjectRunsSpmmFromTheLocalFeed()
    {
        string repo = RepoRoot();
        string tmp = Path.Combine(Path.GetTempPath(), "gk-nuget-" + Guid.NewGuid().ToString("N"));
        string feed = Path.Combine(tmp, "feed"), app = Path.Combine(tmp, "app"), cache = Path.Combine(tmp, "packages");
        Directory.CreateDirectory(feed);
        try
        {
            string version = "0.1.0-consumer" + DateTime.UtcNow.ToString("yyyyMMddHHmmss", System.Globalization.CultureInfo.InvariantCulture);
            // Separate output folders: the pack must not touch the build the tests run from.
            Dotnet(repo, null, "pack", Path.Combine(repo, "managed/GraphKernels/GraphKernels.csproj"), "-c", "Release", "-o", feed,
                $"-p:Version={version}", $"-p:OutputPath={Path.Combine(tmp, "bin-managed")}/");
            Dotnet(repo, null, "pack", Path.Combine(repo, "packaging/GraphKernels.Native/GraphKernels.Native.csproj"), "-c", "Release", "-o", feed,
                $"-p:Version={version}", $"-p:OutputPath={Path.Combine(tmp, "bin-native")}/");
            Assert.That(File.Exists(Path.Combine(feed, $"GraphKernels.{version}.nupkg")));
            using (var zip = System.IO.Compression.ZipFile.OpenRead(Path.Combine(feed, $"GraphKernels.Native.{version}.nupkg")))
            {
                Assert.That(zip.Entries.Select(e => e.FullName), Does.Contain("runtimes/linux-x64/native/libgraphkernels_emulated.so"));
            }

            using (var zip = System.IO.Compression.ZipFile.OpenRead(Path.Combine(feed, $"GraphKernels.{version}.nupkg")))
            {
                Assert.That(zip.Entries.Select(e => e.FullName), Is.SupersetOf(new[] { "lib/net10.0/GraphKernels.dll", "lib/net10.0/GraphKernels.xml" }));
            }

            File.WriteAllText(Path.Combine(tmp, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <clear />
                    <add key="local" value="{feed}" />
                  </packageSources>
                </configuration>
                """);
            Dotnet(tmp, cache, "new", "console", "-o", app, "--no-restore");
            Dotnet(app, cache, "add", "package", "GraphKernels", "--version", version, "--no-restore");
            Dotnet(app, cache, "add", "package", "GraphKernels.Native", "--version", version, "--no-restore");
            File.WriteAllText(Path.Combine(app, "Program.cs"), ConsumerProgram);
            string output = Dotnet(app, cache, "run");
            Assert.That(output, Does.Contain("SPMM OK 8,10,1,2,0,0"));
            // Loaded from the package's runtime asset (the SDK copies runtimes/linux-x64/native into the app's
            // output), not from the repository's build.
            Assert.That(output, Does.Contain("NATIVE " + Path.Combine(app, "bin")).And.Contain("runtimes/linux-x64/native/libgraphkernels_emulated.so"));
        }
        finally
        {
            try
            {
                Directory.Delete(tmp, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "GraphKernels.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }

    private static string Dotnet(string workDir, string? packageCache, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = workDir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        // A sanitizer run's preload and library override must not leak into the consumer.
        psi.Environment.Remove("LD_PRELOAD");
        psi.Environment.Remove("GRAPHKERNELS_NATIVE_DIR");
        // MSBuild variables of the test host's own build must not leak either.
        psi.Environment.Remove("MSBuildExtensionsPath");
        psi.Environment.Remove("MSBUILD_EXE_PATH");
        psi.Environment.Remove("MSBuildSDKsPath");
        if (packageCache is not null)
        {
            psi.Environment["NUGET_PACKAGES"] = packageCache;
        }

        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start dotnet");
        var err = new StringBuilder();
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (err) { err.AppendLine(e.Data); } } };
        p.BeginErrorReadLine();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.That(p.ExitCode, Is.EqualTo(0), $"dotnet {string.Join(' ', args)} failed:\n{output}\n{err}");
        return output;
    }
}
