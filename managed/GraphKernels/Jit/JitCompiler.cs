using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Threading;

namespace GraphKernels.Jit;

/// <summary>What a runtime compilation targets: a real architecture (CUBIN) or a virtual one (PTX for the driver to JIT).</summary>
/// <param name="Arch">The architecture number, e.g. 90 for sm_90 / compute_90.</param>
/// <param name="Kind">CUBIN for sm_XX, PTX for compute_XX.</param>
public readonly record struct JitTarget(int Arch, NvrtcOutput Kind)
{
    /// <summary>The NVRTC option naming the target.</summary>
    public string Option => Kind == NvrtcOutput.Cubin
        ? "--gpu-architecture=sm_" + Arch.ToString(CultureInfo.InvariantCulture)
        : "--gpu-architecture=compute_" + Arch.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// The target for a device of compute capability <paramref name="deviceArch"/> (major * 10 + minor):
    /// a CUBIN for the device's own sm_XX when NVRTC supports it; otherwise PTX for the newest
    /// architecture NVRTC knows that is not newer than the device (the driver JIT-compiles it forward,
    /// e.g. NVRTC 11.8 on a compute-capability 10.0 GPU gives compute_90 PTX). With no list
    /// (NVRTC before 11.2 has no nvrtcGetSupportedArchs) PTX for min(device, 80).
    /// </summary>
    /// <param name="deviceArch">The device's compute capability, e.g. 90.</param>
    /// <param name="supported">NVRTC's supported architectures (<see cref="NvrtcCompiler.SupportedArchitectures"/>).</param>
    /// <returns>The target.</returns>
    /// <exception cref="NotSupportedException">The device is older than every architecture NVRTC supports.</exception>
    public static JitTarget Choose(int deviceArch, IReadOnlyList<int> supported)
    {
        ArgumentNullException.ThrowIfNull(supported);
        if (supported.Count == 0)
        {
            return new JitTarget(Math.Min(deviceArch, 80), NvrtcOutput.Ptx);
        }

        if (supported.Contains(deviceArch))
        {
            return new JitTarget(deviceArch, NvrtcOutput.Cubin);
        }

        int best = -1;
        foreach (int arch in supported)
        {
            if (arch <= deviceArch && arch > best)
            {
                best = arch;
            }
        }

        return best > 0
            ? new JitTarget(best, NvrtcOutput.Ptx)
            : throw new NotSupportedException(
                $"The device (compute capability {deviceArch / 10}.{deviceArch % 10}) is older than every architecture this NVRTC supports ({string.Join(", ", supported)}).");
    }
}

/// <summary>A compiled program: the image and the lowered name of every requested name expression.</summary>
public sealed class JitImage
{
    internal JitImage(string key, JitTarget target, NvrtcOutput kind, byte[] image, IReadOnlyDictionary<string, string> loweredNames, bool fromCache, string log)
    {
        Key = key;
        Target = target;
        Kind = kind;
        Image = image;
        LoweredNames = loweredNames;
        FromCache = fromCache;
        Log = log;
    }

    /// <summary>The cache key (SHA-256, hex).</summary>
    public string Key { get; }

    /// <summary>The target compiled for.</summary>
    public JitTarget Target { get; }

    /// <summary>PTX or CUBIN.</summary>
    public NvrtcOutput Kind { get; }

    /// <summary>The image (PTX NUL-terminated), ready for cuModuleLoadData.</summary>
    public byte[] Image { get; }

    /// <summary>Name expression to lowered (mangled) name.</summary>
    public IReadOnlyDictionary<string, string> LoweredNames { get; }

    /// <summary>Whether the image came from the disk cache (no NVRTC call).</summary>
    public bool FromCache { get; }

    /// <summary>NVRTC's log (warnings) when compiled now; empty when read from the cache.</summary>
    public string Log { get; }
}

/// <summary>
/// The runtime compilation service: compiles a program text that includes headers of <c>kernels/</c>
/// (served from the copies embedded in GraphKernels.dll, <see cref="KernelSources"/>) with NVRTC,
/// resolving name expressions (template instantiations) to lowered names, and caches the image on
/// disk (<see cref="KernelCache"/>) under a key that hashes the program text, every included
/// header, the options, the name expressions, the target and the NVRTC version. Thread-safe: callers
/// asking for the same key at once wait for one compilation.
/// </summary>
public sealed class JitCompiler
{
    private const string KeyFormat = "gk-jit-1";
    private static readonly object DefaultGate = new();
    private static JitCompiler? s_default;

    private readonly ConcurrentDictionary<string, object> _keyLocks = new(StringComparer.Ordinal);
    private long _hits;
    private long _compilations;

    /// <summary>Creates a service over an NVRTC and a cache.</summary>
    /// <param name="nvrtc">The compiler.</param>
    /// <param name="cache">The disk cache.</param>
    public JitCompiler(NvrtcCompiler nvrtc, KernelCache cache)
    {
        Nvrtc = nvrtc ?? throw new ArgumentNullException(nameof(nvrtc));
        Cache = cache ?? throw new ArgumentNullException(nameof(cache));
    }

    /// <summary>The NVRTC in use.</summary>
    public NvrtcCompiler Nvrtc { get; }

    /// <summary>The disk cache.</summary>
    public KernelCache Cache { get; }

    /// <summary>Compilations answered from the disk cache by this instance.</summary>
    public long CacheHits => Interlocked.Read(ref _hits);

    /// <summary>NVRTC compilations run by this instance.</summary>
    public long Compilations => Interlocked.Read(ref _compilations);

    /// <summary>The process-wide service over <see cref="KernelCache.DefaultDirectory"/> (NVRTC loaded once).</summary>
    /// <param name="compiler">The service, or null.</param>
    /// <param name="whyNot">Why NVRTC could not be loaded.</param>
    /// <returns>Whether the service is available.</returns>
    public static bool TryGetDefault([NotNullWhen(true)] out JitCompiler? compiler, out string whyNot)
    {
        lock (DefaultGate)
        {
            if (s_default is null)
            {
                if (!NvrtcCompiler.TryLoad(out var nvrtc, out whyNot))
                {
                    compiler = null;
                    return false;
                }

                s_default = new JitCompiler(nvrtc, new KernelCache(KernelCache.DefaultDirectory));
            }

            compiler = s_default;
            whyNot = string.Empty;
            return true;
        }
    }

    /// <summary>
    /// The options every GraphKernels compilation uses: C++17, the target, and -I to the toolkit's
    /// include folder where one is found (NVRTC 11.x needs it for cuda_fp16.h / cuda_bf16.h).
    /// </summary>
    /// <param name="target">The target.</param>
    /// <returns>The options.</returns>
    public static IReadOnlyList<string> StandardOptions(JitTarget target)
    {
        var options = new List<string> { "--std=c++17", target.Option };
        string? include = NvrtcCompiler.FindToolkitIncludeDirectory(out _);
        if (include is not null)
        {
            options.Add("-I" + include);
        }

        return options;
    }

    /// <summary>The cache key of a request (SHA-256 hex over every input of the compilation).</summary>
    /// <param name="programText">The program text.</param>
    /// <param name="options">The options.</param>
    /// <param name="nameExpressions">The name expressions.</param>
    /// <param name="target">The target.</param>
    /// <returns>The key.</returns>
    public string KeyOf(string programText, IReadOnlyList<string> options, IReadOnlyList<string> nameExpressions, JitTarget target)
        => KeyOf(programText, KernelSources.IncludedBy(programText), options, nameExpressions, target);

    private string KeyOf(string programText, IReadOnlyList<KeyValuePair<string, string>> headers, IReadOnlyList<string> options,
        IReadOnlyList<string> nameExpressions, JitTarget target)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add(string field)
        {
            hash.AppendData(Encoding.UTF8.GetBytes(field.Length.ToString(CultureInfo.InvariantCulture)));
            hash.AppendData(":"u8);
            hash.AppendData(Encoding.UTF8.GetBytes(field));
        }

        Add(KeyFormat);
        Add($"nvrtc {Nvrtc.Version.Major}.{Nvrtc.Version.Minor}");
        Add($"target {target.Arch} {target.Kind}");
        Add(programText);
        Add("headers " + headers.Count.ToString(CultureInfo.InvariantCulture));
        foreach (var header in headers)
        {
            Add(header.Key);
            Add(header.Value);
        }

        Add("options " + options.Count.ToString(CultureInfo.InvariantCulture));
        foreach (string option in options)
        {
            Add(option);
        }

        Add("names " + nameExpressions.Count.ToString(CultureInfo.InvariantCulture));
        foreach (string name in nameExpressions)
        {
            Add(name);
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>
    /// Compiles <paramref name="programText"/> (or returns the cached image): its
    /// <c>#include "x.cuh"</c> lines are served from the embedded <c>kernels/</c>.
    /// </summary>
    /// <param name="programText">The program, e.g. <c>#include "spmm.cuh"</c>.</param>
    /// <param name="programName">The program name NVRTC uses in diagnostics.</param>
    /// <param name="nameExpressions">Name expressions of the kernels to resolve (e.g. "gk::spmm_kernel&lt;int, 0, 0, 1&gt;").</param>
    /// <param name="target">The target; its option is added to <paramref name="extraOptions"/> with the standard ones.</param>
    /// <param name="extraOptions">More NVRTC options (e.g. "-DGK_X=1"), or null.</param>
    /// <returns>The image.</returns>
    /// <exception cref="NvrtcCompileException">NVRTC rejected the program; the exception carries the log.</exception>
    public JitImage Compile(string programText, string programName, IReadOnlyList<string> nameExpressions, JitTarget target,
        IReadOnlyList<string>? extraOptions = null)
    {
        ArgumentNullException.ThrowIfNull(programText);
        ArgumentNullException.ThrowIfNull(programName);
        ArgumentNullException.ThrowIfNull(nameExpressions);
        var options = new List<string>(StandardOptions(target));
        if (extraOptions is not null)
        {
            options.AddRange(extraOptions);
        }

        var headers = KernelSources.IncludedBy(programText);
        string key = KeyOf(programText, headers, options, nameExpressions, target);

        // One compilation per key in this process; other processes are kept consistent by the
        // cache's atomic rename (at worst two processes compile the same key once each).
        object gate = _keyLocks.GetOrAdd(key, static _ => new object());
        lock (gate)
        {
            if (Cache.TryRead(key, out var kind, out byte[] image, out var lowered)
                && kind == target.Kind
                && nameExpressions.All(lowered.ContainsKey))
            {
                Interlocked.Increment(ref _hits);
                return new JitImage(key, target, kind, image, lowered, fromCache: true, string.Empty);
            }

            Interlocked.Increment(ref _compilations);
            var result = Nvrtc.Compile(programText, programName, options, nameExpressions, target.Kind, headers);
            Cache.Write(key, result.Kind, result.Image, result.LoweredNames);
            return new JitImage(key, target, result.Kind, result.Image, result.LoweredNames, fromCache: false, result.Log);
        }
    }
}
