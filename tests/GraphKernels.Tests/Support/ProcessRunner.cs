using System.Diagnostics;
using System.Text;

namespace GraphKernels.Tests.Support;

/// <summary>Runs a tool to completion with a timeout, capturing stdout and stderr together.</summary>
public static class ProcessRunner
{
    public sealed record Result(int ExitCode, string Output, TimeSpan Elapsed);

    public static Result Run(string fileName, IEnumerable<string> args, TimeSpan timeout,
        IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (string a in args) psi.ArgumentList.Add(a);
        // The tools run here (nvcc, ptxas, python3) are not under test: under the managed ASan run the
        // sanitizer runtime preloaded into the test host must not follow them (LSan reports their own leaks).
        psi.Environment.Remove("LD_PRELOAD");
        if (environment != null)
        {
            foreach (var (k, v) in environment) psi.Environment[k] = v;
        }

        var output = new StringBuilder();
        var sw = Stopwatch.StartNew();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data != null) lock (output) output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (output) output.AppendLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            lock (output) return new Result(-1, output + $"\n[timed out after {timeout}]", sw.Elapsed);
        }

        p.WaitForExit();
        lock (output) return new Result(p.ExitCode, output.ToString(), sw.Elapsed);
    }

    /// <summary>The full path of a program on PATH or at one of the given fallback paths, else null.</summary>
    public static string? Which(string program, params string[] fallbacks)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator))
        {
            if (dir.Length == 0) continue;
            string candidate = Path.Combine(dir, program);
            if (File.Exists(candidate)) return candidate;
        }

        return fallbacks.FirstOrDefault(File.Exists);
    }
}
