using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;

namespace GraphKernels.Jit;

/// <summary>
/// The device code of <c>kernels/</c> (every <c>.cuh</c>, <c>common/</c> included), embedded in
/// GraphKernels.dll at build time: the same text CMake compiles into the fatbin, so a runtime
/// compilation never depends on a checkout or an installed source tree.
/// </summary>
public static partial class KernelSources
{
    private const string Prefix = "kernels/";
    private static readonly Lazy<IReadOnlyDictionary<string, string>> s_sources = new(Load);

    /// <summary>Every embedded header, by its path under <c>kernels/</c> with '/' separators (e.g. "common/gk_device.cuh").</summary>
    public static IReadOnlyCollection<string> Names => (IReadOnlyCollection<string>)s_sources.Value.Keys;

    /// <summary>The text of one embedded header.</summary>
    /// <param name="name">Its path under kernels/, e.g. "spmm.cuh".</param>
    /// <returns>The source text.</returns>
    /// <exception cref="KeyNotFoundException">No such header is embedded (the message lists those that are).</exception>
    public static string Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return s_sources.Value.TryGetValue(name, out string? text)
            ? text
            : throw new KeyNotFoundException($"kernels/{name} is not embedded in GraphKernels.dll; embedded: {string.Join(", ", s_sources.Value.Keys.Order(StringComparer.Ordinal))}.");
    }

    /// <summary>
    /// The embedded headers a program text includes, directly or through other headers
    /// (<c>#include "name"</c> matched against <see cref="Names"/>; system headers such as
    /// <c>&lt;cuda_fp16.h&gt;</c> are left to NVRTC), sorted by name.
    /// </summary>
    /// <param name="programText">The program's own text.</param>
    /// <returns>(name, text) pairs, ready for NVRTC's in-memory headers.</returns>
    public static IReadOnlyList<KeyValuePair<string, string>> IncludedBy(string programText)
    {
        ArgumentNullException.ThrowIfNull(programText);
        var found = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var pending = new Stack<string>();
        pending.Push(programText);
        while (pending.Count > 0)
        {
            foreach (Match m in IncludePattern().Matches(pending.Pop()))
            {
                string name = m.Groups[1].Value;
                if (!found.ContainsKey(name) && s_sources.Value.TryGetValue(name, out string? text))
                {
                    found.Add(name, text);
                    pending.Push(text);
                }
            }
        }

        return found.ToList();
    }

    [GeneratedRegex("^[ \\t]*#[ \\t]*include[ \\t]*\"([^\"]+)\"", RegexOptions.Multiline)]
    private static partial Regex IncludePattern();

    private static IReadOnlyDictionary<string, string> Load()
    {
        var assembly = typeof(KernelSources).Assembly;
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string resource in assembly.GetManifestResourceNames())
        {
            string normalized = resource.Replace('\\', '/');
            if (!normalized.StartsWith(Prefix, StringComparison.Ordinal))
            {
                continue;
            }

            using var stream = assembly.GetManifestResourceStream(resource)
                ?? throw new InvalidOperationException($"GraphKernels.dll lists resource {resource} but cannot open it.");
            using var reader = new StreamReader(stream, Encoding.UTF8);
            result[normalized[Prefix.Length..]] = reader.ReadToEnd();
        }

        return result;
    }
}
