using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;

namespace GraphKernels.BenchData;

/// <summary>One line of the budget file.</summary>
/// <param name="Pattern">Glob ('*' any run of characters) over the kernel's qualified name, e.g. gk::spmm_kernel.</param>
/// <param name="MaxRegisters">Registers per thread.</param>
/// <param name="MaxSpillBytes">Spill stores + spill loads (ptxas -v), bytes.</param>
/// <param name="MaxStackBytes">Stack frame, bytes.</param>
/// <param name="MaxSharedBytes">Static shared memory, bytes.</param>
/// <param name="Source">The comment after '#': where the budget is stated.</param>
/// <param name="Line">Line number in the file.</param>
public sealed record KernelBudget(string Pattern, int MaxRegisters, int MaxSpillBytes, int MaxStackBytes, int MaxSharedBytes, string Source, int Line)
{
    /// <summary>True when <paramref name="qualifiedName"/> matches the pattern.</summary>
    /// <param name="qualifiedName">e.g. gk::spmm_kernel.</param>
    /// <returns>Whether it matches.</returns>
    public bool Matches(string qualifiedName)
        => Regex.IsMatch(qualifiedName, "^" + Regex.Escape(Pattern).Replace("\\*", ".*", StringComparison.Ordinal) + "$", RegexOptions.CultureInvariant);
}

/// <summary>The figures of one kernel of one architecture.</summary>
public sealed class KernelUsage
{
    /// <summary>Mangled name.</summary>
    public string Mangled { get; init; } = "";

    /// <summary>Namespace-qualified name without template arguments or parameters.</summary>
    public string Qualified { get; init; } = "";

    /// <summary>Source file the cubin came from (cuobjdump's identifier).</summary>
    public string Source { get; init; } = "";

    /// <summary>Registers per thread (cuobjdump REG).</summary>
    public int Registers { get; init; }

    /// <summary>Stack frame (cuobjdump STACK).</summary>
    public int Stack { get; init; }

    /// <summary>Shared memory in the cubin (cuobjdump SHARED; on sm_90 it includes 1 KB the system reserves in any block that uses shared memory).</summary>
    public int Shared { get; init; }

    /// <summary>The kernel's own static shared memory (ptxas -v "bytes smem"), -1 when not measured; the budget is checked against this.</summary>
    public int PtxasShared { get; set; } = -1;

    /// <summary>Local memory (cuobjdump LOCAL).</summary>
    public int Local { get; init; }

    /// <summary>Spill stores (ptxas -v on the library's own PTX), -1 when not measured.</summary>
    public int SpillStores { get; set; } = -1;

    /// <summary>Spill loads (ptxas -v), -1 when not measured.</summary>
    public int SpillLoads { get; set; } = -1;

    /// <summary>The shared memory the budget is checked against: ptxas's figure where measured, else the cubin's.</summary>
    public int EffectiveShared => PtxasShared >= 0 ? PtxasShared : Shared;

    /// <summary>Registers ptxas reported for the same PTX (a cross-check of REG), -1 when not measured.</summary>
    public int PtxasRegisters { get; set; } = -1;
}

/// <summary>The verdict on one kernel.</summary>
/// <param name="Kernel">Figures.</param>
/// <param name="Budget">The first matching budget line, or null (an unbudgeted kernel fails).</param>
/// <param name="Violations">Empty when within budget.</param>
public sealed record KernelVerdict(KernelUsage Kernel, KernelBudget? Budget, IReadOnlyList<string> Violations);

/// <summary>The gate's result.</summary>
/// <param name="Arch">e.g. sm_90.</param>
/// <param name="Library">The library checked.</param>
/// <param name="Verdicts">One per kernel.</param>
/// <param name="Problems">Failures that are not about one kernel (nothing found, tool failed).</param>
/// <param name="Notes">Warnings (unused budget lines, ptxas/cuobjdump register disagreements).</param>
public sealed record GateResult(string Arch, string Library, IReadOnlyList<KernelVerdict> Verdicts, IReadOnlyList<string> Problems, IReadOnlyList<string> Notes)
{
    /// <summary>True when every kernel has a budget, none exceeds it, and no problem occurred.</summary>
    public bool Passed => Problems.Count == 0 && Verdicts.Count > 0 && Verdicts.All(v => v.Violations.Count == 0);

    /// <summary>The report as markdown.</summary>
    /// <returns>Text.</returns>
    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"# ptxas budget gate, {Arch}: {(Passed ? "PASSED" : "FAILED")}");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Library: `{Library}`  ");
        sb.AppendLine("Figures: REG/STACK/SHARED/LOCAL from `cuobjdump --dump-resource-usage` of the shipped cubin; spill bytes from `ptxas -v` run on the library's own embedded PTX with its recorded options.");
        sb.AppendLine();
        sb.AppendLine("Shared = the kernel's own static shared memory from ptxas -v (the cubin's figure in brackets includes the 1 KB sm_90 reserves for the system).");
        sb.AppendLine();
        sb.AppendLine("| kernel | source | regs | spill st/ld | stack | shared | local | budget (regs/spill/stack/shared) | verdict |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var v in Verdicts.OrderBy(v => v.Kernel.Qualified, StringComparer.Ordinal).ThenBy(v => v.Kernel.Mangled, StringComparer.Ordinal))
        {
            var k = v.Kernel;
            string budget = v.Budget == null ? "none" : $"≤{v.Budget.MaxRegisters}/{v.Budget.MaxSpillBytes}/{v.Budget.MaxStackBytes}/{v.Budget.MaxSharedBytes} (line {v.Budget.Line})";
            string spill = k.SpillStores < 0 ? "n/a" : $"{k.SpillStores}/{k.SpillLoads}";
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| `{k.Mangled}` | {Path.GetFileName(k.Source)} | {k.Registers} | {spill} | {k.Stack} | {k.EffectiveShared} ({k.Shared}) | {k.Local} | {budget} | {(v.Violations.Count == 0 ? "ok" : string.Join("; ", v.Violations))} |");
        }

        if (Problems.Count > 0)
        {
            sb.AppendLine().AppendLine("## Problems");
            foreach (var p in Problems) sb.AppendLine(CultureInfo.InvariantCulture, $"- {p}");
        }

        if (Notes.Count > 0)
        {
            sb.AppendLine().AppendLine("## Notes");
            foreach (var p in Notes) sb.AppendLine(CultureInfo.InvariantCulture, $"- {p}");
        }

        var byName = Verdicts.GroupBy(v => v.Kernel.Qualified).OrderBy(g => g.Key, StringComparer.Ordinal);
        sb.AppendLine().AppendLine("## Summary per kernel template").AppendLine();
        sb.AppendLine("| kernel | instantiations | max regs | max spill bytes | max stack | max shared |").AppendLine("|---|---|---|---|---|---|");
        foreach (var g in byName)
        {
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {g.Key} | {g.Count()} | {g.Max(v => v.Kernel.Registers)} | {g.Max(v => Math.Max(0, v.Kernel.SpillStores) + Math.Max(0, v.Kernel.SpillLoads))} | {g.Max(v => v.Kernel.Stack)} | {g.Max(v => v.Kernel.EffectiveShared)} |");
        }

        return sb.ToString();
    }
}

/// <summary>
/// The static performance gate: every kernel of one architecture of a CUDA library against the
/// budgets kept in bench/budgets/ptxas_&lt;arch&gt;.txt. A kernel no budget line matches fails, so a new
/// kernel cannot slip in unbudgeted.
/// </summary>
public static class PtxasGate
{
    /// <summary>Parses a budget file: "pattern max_regs max_spill max_stack max_shared  # source".</summary>
    /// <param name="text">File text.</param>
    /// <returns>The budgets in file order.</returns>
    public static List<KernelBudget> ParseBudgets(string text)
    {
        var list = new List<KernelBudget>();
        int lineNo = 0;
        foreach (string raw in text.Split('\n'))
        {
            lineNo++;
            int hash = raw.IndexOf('#', StringComparison.Ordinal);
            string body = (hash >= 0 ? raw[..hash] : raw).Trim();
            string comment = hash >= 0 ? raw[(hash + 1)..].Trim() : "";
            if (body.Length == 0) continue;
            var f = body.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (f.Length != 5 || !f.Skip(1).All(x => int.TryParse(x, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
            {
                throw new FormatException($"budget line {lineNo}: expected 'pattern max_regs max_spill_bytes max_stack_bytes max_shared_bytes', got '{raw.Trim()}'");
            }

            int P(int i) => int.Parse(f[i], CultureInfo.InvariantCulture);
            list.Add(new KernelBudget(f[0], P(1), P(2), P(3), P(4), comment, lineNo));
        }

        return list;
    }

    /// <summary>
    /// Parses <c>cuobjdump --dump-resource-usage</c> output, keeping the ELF (SASS) sections of
    /// <paramref name="arch"/>.
    /// </summary>
    /// <param name="output">cuobjdump's output.</param>
    /// <param name="arch">e.g. sm_90.</param>
    /// <returns>The kernels.</returns>
    public static List<KernelUsage> ParseResourceUsage(string output, string arch)
    {
        var result = new List<KernelUsage>();
        bool elf = false, inArch = false;
        string source = "";
        string? pending = null;
        foreach (string raw in output.Split('\n'))
        {
            string line = raw.Trim();
            if (line.StartsWith("Fatbin elf code", StringComparison.Ordinal)) { elf = true; inArch = false; source = ""; continue; }
            if (line.StartsWith("Fatbin ptx code", StringComparison.Ordinal)) { elf = false; inArch = false; continue; }
            if (line.StartsWith("arch = ", StringComparison.Ordinal)) { inArch = elf && line[7..].Trim() == arch; continue; }
            if (line.StartsWith("identifier = ", StringComparison.Ordinal)) { source = line[13..].Trim(); continue; }
            if (!inArch) continue;
            var fm = Regex.Match(line, @"^Function (\S+):$");
            if (fm.Success) { pending = fm.Groups[1].Value; continue; }
            if (pending != null && line.StartsWith("REG:", StringComparison.Ordinal))
            {
                int Field(string name)
                {
                    var m = Regex.Match(line, $@"\b{name}:(\d+)");
                    return m.Success ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
                }

                result.Add(new KernelUsage
                {
                    Mangled = pending, Qualified = QualifiedName(pending), Source = source,
                    Registers = Field("REG"), Stack = Field("STACK"), Shared = Field("SHARED"), Local = Field("LOCAL"),
                });
                pending = null;
            }
        }

        return result;
    }

    /// <summary>
    /// Parses <c>ptxas -v</c> output: per function, registers and spill bytes.
    /// </summary>
    /// <param name="output">ptxas's stderr/stdout.</param>
    /// <returns>Mangled name → (registers, spill stores, spill loads, static shared bytes).</returns>
    public static Dictionary<string, (int Registers, int SpillStores, int SpillLoads, int Shared)> ParsePtxasVerbose(string output)
    {
        var map = new Dictionary<string, (int, int, int, int)>(StringComparer.Ordinal);
        string? current = null;
        int stores = 0, loads = 0;
        foreach (string raw in output.Split('\n'))
        {
            string line = raw.Trim();
            var props = Regex.Match(line, @"Function properties for (\S+)");
            if (props.Success) { current = props.Groups[1].Value; stores = loads = 0; continue; }
            var spill = Regex.Match(line, @"(\d+) bytes spill stores, (\d+) bytes spill loads");
            if (current != null && spill.Success)
            {
                stores = int.Parse(spill.Groups[1].Value, CultureInfo.InvariantCulture);
                loads = int.Parse(spill.Groups[2].Value, CultureInfo.InvariantCulture);
                map[current] = (-1, stores, loads, 0);
                continue;
            }

            var used = Regex.Match(line, @"Used (\d+) registers");
            if (current != null && used.Success)
            {
                var smem = Regex.Match(line, @"(\d+) bytes smem");
                map[current] = (int.Parse(used.Groups[1].Value, CultureInfo.InvariantCulture), stores, loads,
                    smem.Success ? int.Parse(smem.Groups[1].Value, CultureInfo.InvariantCulture) : 0);
                current = null;
            }
        }

        return map;
    }

    /// <summary>
    /// "ns::name" from an Itanium-mangled name (_ZN2gk11spmm_kernelI...E... → gk::spmm_kernel;
    /// _Z3fooPf → foo); an unmangled (extern "C") name is returned as is.
    /// </summary>
    /// <param name="mangled">Symbol.</param>
    /// <returns>Qualified name without template arguments.</returns>
    public static string QualifiedName(string mangled)
    {
        if (!mangled.StartsWith("_Z", StringComparison.Ordinal)) return mangled;
        int i = 2;
        bool nested = i < mangled.Length && mangled[i] == 'N';
        if (nested) i++;
        var parts = new List<string>();
        while (i < mangled.Length && char.IsAsciiDigit(mangled[i]))
        {
            int j = i;
            while (j < mangled.Length && char.IsAsciiDigit(mangled[j])) j++;
            int len = int.Parse(mangled.AsSpan(i, j - i), CultureInfo.InvariantCulture);
            if (j + len > mangled.Length) break;
            parts.Add(mangled.Substring(j, len));
            i = j + len;
            if (!nested) break;
        }

        return parts.Count == 0 ? mangled : string.Join("::", parts);
    }

    /// <summary>Checks kernels against budgets.</summary>
    /// <param name="arch">Architecture.</param>
    /// <param name="library">Library path, for the report.</param>
    /// <param name="kernels">Figures.</param>
    /// <param name="budgets">Budget lines.</param>
    /// <param name="problems">Failures found while collecting the figures.</param>
    /// <param name="notes">Warnings found while collecting the figures.</param>
    /// <returns>The result.</returns>
    public static GateResult Check(string arch, string library, IReadOnlyList<KernelUsage> kernels, IReadOnlyList<KernelBudget> budgets,
        List<string>? problems = null, List<string>? notes = null)
    {
        problems ??= new List<string>();
        notes ??= new List<string>();
        if (kernels.Count == 0) problems.Add($"no {arch} kernels found in {library}: nothing was checked (a vacuous pass is a failure)");
        var verdicts = new List<KernelVerdict>();
        var used = new HashSet<KernelBudget>();
        foreach (var k in kernels)
        {
            var b = budgets.FirstOrDefault(x => x.Matches(k.Qualified) || x.Matches(k.Mangled));
            var v = new List<string>();
            if (b == null)
            {
                v.Add($"no budget line matches '{k.Qualified}': add one to the budget file (the figure the kernel's header states)");
            }
            else
            {
                used.Add(b);
                if (k.Registers > b.MaxRegisters) v.Add($"{k.Registers} registers > {b.MaxRegisters}");
                if (k.SpillStores < 0) v.Add("spill bytes not measured (ptxas -v did not report this function)");
                else if (k.SpillStores + k.SpillLoads > b.MaxSpillBytes) v.Add($"spills {k.SpillStores}+{k.SpillLoads} bytes > {b.MaxSpillBytes}");
                if (k.Stack > b.MaxStackBytes) v.Add($"stack {k.Stack} bytes > {b.MaxStackBytes}");
                if (k.EffectiveShared > b.MaxSharedBytes) v.Add($"shared {k.EffectiveShared} bytes > {b.MaxSharedBytes}");
                if (k.Local > b.MaxStackBytes) v.Add($"local memory {k.Local} bytes > {b.MaxStackBytes}");
            }

            if (k.PtxasRegisters >= 0 && k.PtxasRegisters != k.Registers)
            {
                notes.Add($"{k.Mangled}: ptxas -v says {k.PtxasRegisters} registers, the shipped cubin {k.Registers} (another ptxas version built the library?)");
            }

            verdicts.Add(new KernelVerdict(k, b, v));
        }

        foreach (var b in budgets.Where(b => !used.Contains(b)))
        {
            notes.Add($"budget line {b.Line} ('{b.Pattern}') matches no {arch} kernel");
        }

        return new GateResult(arch, library, verdicts, problems, notes);
    }

    /// <summary>
    /// Runs the whole gate on a built library: cuobjdump for the shipped cubin's figures, then
    /// ptxas -v on the library's own PTX of <paramref name="arch"/> (same options as recorded in
    /// the fatbin) for the spill bytes.
    /// </summary>
    /// <param name="library">libgraphkernels.so.</param>
    /// <param name="budgetFile">bench/budgets/ptxas_sm90.txt.</param>
    /// <param name="arch">sm_90.</param>
    /// <param name="cudaBin">Folder holding cuobjdump and ptxas, or null to search PATH, /usr/local/cuda/bin, /usr/bin.</param>
    /// <returns>The result.</returns>
    public static GateResult Run(string library, string budgetFile, string arch = "sm_90", string? cudaBin = null)
    {
        var problems = new List<string>();
        var notes = new List<string>();
        var budgets = ParseBudgets(File.ReadAllText(budgetFile));
        string cuobjdump = Tool("cuobjdump", cudaBin);
        string ptxas = Tool("ptxas", cudaBin);
        var (rc, usageText) = Exec(cuobjdump, ["--dump-resource-usage", library], null);
        if (rc != 0) return new GateResult(arch, library, [], [$"cuobjdump --dump-resource-usage exited {rc}: {usageText}"], notes);
        var kernels = ParseResourceUsage(usageText, arch);

        string tmp = Path.Combine(Path.GetTempPath(), "gk-ptxas-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(tmp);
        try
        {
            var (xrc, xout) = Exec(cuobjdump, ["-xptx", "all", Path.GetFullPath(library)], tmp);
            if (xrc != 0) problems.Add($"cuobjdump -xptx all exited {xrc}: {xout}");
            var ptxasFigures = new Dictionary<string, (int Registers, int SpillStores, int SpillLoads, int Shared)>(StringComparer.Ordinal);
            var opts = Regex.Matches(xout, @"Extracting PTX file and ptxas options\s+\d+:\s+(\S+\.ptx)(.*)$", RegexOptions.Multiline);
            foreach (Match m in opts)
            {
                string file = m.Groups[1].Value;
                if (!file.EndsWith($".{arch}.ptx", StringComparison.Ordinal)) continue;
                var args = new List<string> { $"-arch={arch}" };
                foreach (string o in m.Groups[2].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    if (!o.StartsWith("-arch", StringComparison.Ordinal)) args.Add(o);
                }

                if (!args.Contains("-v")) args.Add("-v");
                args.AddRange([Path.Combine(tmp, file), "-o", Path.Combine(tmp, file + ".cubin")]);
                var (prc, pout) = Exec(ptxas, args, tmp);
                if (prc != 0) { problems.Add($"ptxas {string.Join(' ', args)} exited {prc}: {pout}"); continue; }
                foreach (var kv in ParsePtxasVerbose(pout)) ptxasFigures[kv.Key] = kv.Value;
            }

            if (opts.Count == 0) notes.Add($"the library embeds no PTX for {arch}: spill bytes could not be measured");
            foreach (var k in kernels)
            {
                if (ptxasFigures.TryGetValue(k.Mangled, out var f))
                {
                    k.SpillStores = f.SpillStores;
                    k.SpillLoads = f.SpillLoads;
                    k.PtxasRegisters = f.Registers;
                    k.PtxasShared = f.Shared;
                }
            }
        }
        finally
        {
            try { Directory.Delete(tmp, recursive: true); } catch (IOException) { }
        }

        return Check(arch, library, kernels, budgets, problems, notes);
    }

    /// <summary>Finds a CUDA tool.</summary>
    /// <param name="name">cuobjdump or ptxas.</param>
    /// <param name="cudaBin">Preferred folder or null.</param>
    /// <returns>Its path.</returns>
    public static string Tool(string name, string? cudaBin)
    {
        var dirs = new List<string>();
        if (cudaBin != null) dirs.Add(cudaBin);
        dirs.AddRange((Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        dirs.AddRange(["/usr/local/cuda/bin", "/usr/bin"]);
        foreach (string d in dirs)
        {
            string p = Path.Combine(d, name);
            if (File.Exists(p)) return p;
        }

        throw new FileNotFoundException($"{name} not found in {string.Join(", ", dirs.Distinct())}: the CUDA toolkit is not installed");
    }

    private static (int ExitCode, string Output) Exec(string exe, IEnumerable<string> args, string? cwd)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (cwd != null) psi.WorkingDirectory = cwd;
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.Environment.Remove("LD_PRELOAD");   // a sanitizer runtime preloaded into the caller must not follow the toolchain
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(300_000)) { p.Kill(true); return (-1, "timed out after 300 s"); }
        return (p.ExitCode, stdout + err.Result);
    }
}
