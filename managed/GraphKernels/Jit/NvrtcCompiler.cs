using System;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.IO;
using System.Text;
using GraphKernels.Interop;

namespace GraphKernels.Jit;

/// <summary>What NvrtcCompiler.Compile produces.</summary>
public enum NvrtcOutput
{
    /// <summary>PTX text (NUL-terminated, ready for cuModuleLoadData); needs <c>--gpu-architecture=compute_XY</c>.</summary>
    Ptx,

    /// <summary>A CUBIN for one real architecture; needs <c>--gpu-architecture=sm_XY</c>.</summary>
    Cubin,
}

/// <summary>The output of a successful NVRTC compilation.</summary>
public sealed class NvrtcResult
{
    internal NvrtcResult(NvrtcOutput kind, byte[] image, string log, IReadOnlyDictionary<string, string> loweredNames)
    {
        Kind = kind;
        Image = image;
        Log = log;
        LoweredNames = loweredNames;
    }

    /// <summary>PTX or CUBIN.</summary>
    public NvrtcOutput Kind { get; }

    /// <summary>The image bytes (PTX includes its terminating NUL, as cuModuleLoadData expects).</summary>
    public byte[] Image { get; }

    /// <summary>The compiler log (warnings); may be empty.</summary>
    public string Log { get; }

    /// <summary>For every name expression passed to Compile, its lowered (mangled) name.</summary>
    public IReadOnlyDictionary<string, string> LoweredNames { get; }

    /// <summary>The PTX as text (only for <see cref="NvrtcOutput.Ptx"/>).</summary>
    /// <returns>The PTX source.</returns>
    public string PtxText()
    {
        if (Kind != NvrtcOutput.Ptx)
        {
            throw new InvalidOperationException("The image is a CUBIN, not PTX.");
        }

        int length = Array.IndexOf(Image, (byte)0);
        return Encoding.UTF8.GetString(Image, 0, length < 0 ? Image.Length : length);
    }
}

/// <summary>NVRTC rejected the program; <see cref="Log"/> holds the full compiler log.</summary>
public sealed class NvrtcCompileException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="programName">The program name given to Compile.</param>
    /// <param name="result">The nvrtcResult code.</param>
    /// <param name="resultText">nvrtcGetErrorString of the code.</param>
    /// <param name="log">The full compiler log.</param>
    public NvrtcCompileException(string programName, int result, string resultText, string log)
        : base($"NVRTC failed to compile {programName}: {resultText}{Environment.NewLine}{log}")
    {
        ProgramName = programName;
        Result = result;
        Log = log;
    }

    /// <summary>The program name given to Compile.</summary>
    public string ProgramName { get; }

    /// <summary>The nvrtcResult code (6 = NVRTC_ERROR_COMPILATION).</summary>
    public int Result { get; }

    /// <summary>The full compiler log.</summary>
    public string Log { get; }
}

/// <summary>
/// The NVRTC runtime compiler, loaded from the CUDA toolkit (libnvrtc.so.13/.12/.11.2, nvrtc64_*.dll).
/// Thread-safe: each Compile uses its own nvrtcProgram.
/// </summary>
public sealed unsafe class NvrtcCompiler
{
    private readonly Nvrtc _nvrtc;

    private NvrtcCompiler(Nvrtc nvrtc)
    {
        _nvrtc = nvrtc;
    }

    /// <summary>NVRTC's version (nvrtcVersion).</summary>
    public (int Major, int Minor) Version => (_nvrtc.Major, _nvrtc.Minor);

    /// <summary>The NVRTC library file in use.</summary>
    public string LibraryPath => _nvrtc.Path;

    /// <summary>Architectures this NVRTC can target (e.g. 90 for sm_90); empty when the library cannot say (before 11.2).</summary>
    public IReadOnlyList<int> SupportedArchitectures => _nvrtc.SupportedArchs;

    /// <summary>Loads NVRTC (once per process).</summary>
    /// <param name="compiler">The compiler, or null.</param>
    /// <param name="whyNot">Why NVRTC could not be loaded, listing every name and path tried ("" on success).</param>
    /// <returns>Whether NVRTC was loaded.</returns>
    public static bool TryLoad([NotNullWhen(true)] out NvrtcCompiler? compiler, out string whyNot)
    {
        if (Nvrtc.TryLoad(out var nvrtc, out whyNot))
        {
            compiler = new NvrtcCompiler(nvrtc);
            return true;
        }

        compiler = null;
        return false;
    }

    /// <summary>Loads NVRTC or throws <see cref="DllNotFoundException"/> listing every name and path tried.</summary>
    /// <returns>The compiler.</returns>
    public static NvrtcCompiler Load()
        => TryLoad(out var compiler, out string whyNot) ? compiler : throw new DllNotFoundException(whyNot);

    /// <summary>
    /// Finds the toolkit include folder holding cuda_fp16.h (NVRTC 11.x needs it passed with -I).
    /// Searches $CUDA_PATH/include, /usr/local/cuda/include and /usr/include (Debian's package).
    /// </summary>
    /// <param name="searched">The folders searched, for error messages.</param>
    /// <returns>The folder, or null when none holds cuda_fp16.h.</returns>
    public static string? FindToolkitIncludeDirectory(out string searched)
    {
        var dirs = new List<string>();
        string? cudaPath = Environment.GetEnvironmentVariable("CUDA_PATH");
        if (!string.IsNullOrEmpty(cudaPath))
        {
            dirs.Add(Path.Combine(cudaPath, "include"));
        }

        if (!OperatingSystem.IsWindows())
        {
            dirs.Add("/usr/local/cuda/include");
            dirs.Add("/usr/include");
        }

        searched = dirs.Count == 0 ? "(no candidate folders: CUDA_PATH is not set)" : string.Join(", ", dirs);
        foreach (var dir in dirs)
        {
            if (File.Exists(Path.Combine(dir, "cuda_fp16.h")))
            {
                return dir;
            }
        }

        return null;
    }

    /// <summary>Compiles CUDA C++ <paramref name="source"/> to PTX or CUBIN.</summary>
    /// <param name="source">The CUDA C++ source.</param>
    /// <param name="name">The program name (used in diagnostics, e.g. "spmm_custom.cu").</param>
    /// <param name="options">NVRTC options, e.g. "--gpu-architecture=sm_90", "-std=c++17", "-I/usr/include".</param>
    /// <param name="nameExpressions">Name expressions (e.g. "&amp;kernel&lt;float&gt;") to resolve to lowered names.</param>
    /// <param name="kind">PTX or CUBIN.</param>
    /// <returns>The image, the log and the lowered names.</returns>
    /// <exception cref="NvrtcCompileException">The program did not compile; the exception carries the full log.</exception>
    public NvrtcResult Compile(string source, string name, IEnumerable<string> options, IEnumerable<string> nameExpressions, NvrtcOutput kind)
        => Compile(source, name, options, nameExpressions, kind, []);

    /// <summary>
    /// Compiles CUDA C++ <paramref name="source"/> to PTX or CUBIN, with in-memory headers: an
    /// <c>#include "x"</c> whose name matches a header's name is served from <paramref name="headers"/>
    /// (NVRTC's headers/includeNames), before any -I folder is searched.
    /// </summary>
    /// <param name="source">The CUDA C++ source.</param>
    /// <param name="name">The program name (used in diagnostics).</param>
    /// <param name="options">NVRTC options.</param>
    /// <param name="nameExpressions">Name expressions to resolve to lowered names.</param>
    /// <param name="kind">PTX or CUBIN.</param>
    /// <param name="headers">(include name, text) pairs, e.g. ("common/gk_device.cuh", "...").</param>
    /// <returns>The image, the log and the lowered names.</returns>
    /// <exception cref="NvrtcCompileException">The program did not compile; the exception carries the full log.</exception>
    public NvrtcResult Compile(string source, string name, IEnumerable<string> options, IEnumerable<string> nameExpressions, NvrtcOutput kind,
        IReadOnlyList<KeyValuePair<string, string>> headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(nameExpressions);
        if (kind is not (NvrtcOutput.Ptx or NvrtcOutput.Cubin))
        {
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "kind must be Ptx or Cubin.");
        }

        var optionList = new List<byte[]>();
        foreach (var option in options)
        {
            optionList.Add(LibraryProbe.ToUtf8Z(option ?? throw new ArgumentException("An option is null.", nameof(options))));
        }

        var expressions = new List<string>();
        foreach (var expression in nameExpressions)
        {
            expressions.Add(expression ?? throw new ArgumentException("A name expression is null.", nameof(nameExpressions)));
        }

        byte[] src = LibraryProbe.ToUtf8Z(source);
        byte[] programName = LibraryProbe.ToUtf8Z(name);
        nint program = 0;
        try
        {
            var headerBytes = new List<byte[]>(headers.Count * 2);
            foreach (var header in headers)
            {
                headerBytes.Add(LibraryProbe.ToUtf8Z(header.Value ?? throw new ArgumentException("A header text is null.", nameof(headers))));
                headerBytes.Add(LibraryProbe.ToUtf8Z(header.Key ?? throw new ArgumentException("A header name is null.", nameof(headers))));
            }

            var headerHandles = new System.Runtime.InteropServices.GCHandle[headerBytes.Count];
            try
            {
                var texts = new nint[headers.Count];
                var names = new nint[headers.Count];
                for (int i = 0; i < headerBytes.Count; i++)
                {
                    headerHandles[i] = System.Runtime.InteropServices.GCHandle.Alloc(headerBytes[i], System.Runtime.InteropServices.GCHandleType.Pinned);
                    (i % 2 == 0 ? texts : names)[i / 2] = headerHandles[i].AddrOfPinnedObject();
                }

                fixed (byte* pSrc = src)
                fixed (byte* pName = programName)
                fixed (nint* pTexts = texts)
                fixed (nint* pNames = names)
                {
                    _nvrtc.Check(
                        _nvrtc.nvrtcCreateProgram(&program, pSrc, pName, headers.Count, headers.Count == 0 ? null : (byte**)pTexts, headers.Count == 0 ? null : (byte**)pNames),
                        "nvrtcCreateProgram");
                }
            }
            finally
            {
                foreach (var handle in headerHandles)
                {
                    if (handle.IsAllocated)
                    {
                        handle.Free();
                    }
                }
            }

            foreach (var expression in expressions)
            {
                fixed (byte* e = LibraryProbe.ToUtf8Z(expression))
                {
                    _nvrtc.Check(_nvrtc.nvrtcAddNameExpression(program, e), "nvrtcAddNameExpression");
                }
            }

            var handles = new System.Runtime.InteropServices.GCHandle[optionList.Count];
            var pointers = new nint[optionList.Count];
            int compileResult;
            try
            {
                for (int i = 0; i < optionList.Count; i++)
                {
                    handles[i] = System.Runtime.InteropServices.GCHandle.Alloc(optionList[i], System.Runtime.InteropServices.GCHandleType.Pinned);
                    pointers[i] = handles[i].AddrOfPinnedObject();
                }

                fixed (nint* opts = pointers)
                {
                    compileResult = _nvrtc.nvrtcCompileProgram(program, optionList.Count, (byte**)opts);
                }
            }
            finally
            {
                foreach (var handle in handles)
                {
                    if (handle.IsAllocated)
                    {
                        handle.Free();
                    }
                }
            }

            string log = ReadLog(program);
            if (compileResult != Nvrtc.Success)
            {
                throw new NvrtcCompileException(name, compileResult, _nvrtc.ErrorString(compileResult), log);
            }

            var lowered = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var expression in expressions)
            {
                byte* loweredName = null;
                fixed (byte* e = LibraryProbe.ToUtf8Z(expression))
                {
                    _nvrtc.Check(_nvrtc.nvrtcGetLoweredName(program, e, &loweredName), "nvrtcGetLoweredName");
                }

                lowered[expression] = LibraryProbe.Utf8(loweredName);
            }

            nuint size = 0;
            byte[] image;
            if (kind == NvrtcOutput.Ptx)
            {
                _nvrtc.Check(_nvrtc.nvrtcGetPTXSize(program, &size), "nvrtcGetPTXSize");
                image = new byte[(int)size];
                fixed (byte* p = image)
                {
                    _nvrtc.Check(_nvrtc.nvrtcGetPTX(program, p), "nvrtcGetPTX");
                }
            }
            else
            {
                int cubinResult = _nvrtc.nvrtcGetCUBINSize(program, &size);
                if (cubinResult != Nvrtc.Success || size == 0)
                {
                    throw new InvalidOperationException(
                        $"NVRTC produced no CUBIN for {name} ({_nvrtc.ErrorString(cubinResult)}): pass --gpu-architecture=sm_XY (a real architecture), not compute_XY.");
                }

                image = new byte[(int)size];
                fixed (byte* p = image)
                {
                    _nvrtc.Check(_nvrtc.nvrtcGetCUBIN(program, p), "nvrtcGetCUBIN");
                }
            }

            return new NvrtcResult(kind, image, log, lowered);
        }
        finally
        {
            if (program != 0)
            {
                _nvrtc.nvrtcDestroyProgram(&program);
            }
        }
    }

    private string ReadLog(nint program)
    {
        nuint size = 0;
        if (_nvrtc.nvrtcGetProgramLogSize(program, &size) != Nvrtc.Success || size <= 1)
        {
            return string.Empty;
        }

        var buffer = new byte[(int)size];
        fixed (byte* p = buffer)
        {
            if (_nvrtc.nvrtcGetProgramLog(program, p) != Nvrtc.Success)
            {
                return string.Empty;
            }
        }

        return Encoding.UTF8.GetString(buffer, 0, (int)size - 1).TrimEnd('\0', '\n', '\r');
    }

    /// <inheritdoc/>
    public override string ToString() => $"NVRTC {Version.Major}.{Version.Minor} ({LibraryPath})";
}
