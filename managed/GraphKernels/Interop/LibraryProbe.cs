using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;

namespace GraphKernels.Interop;

/// <summary>Loads native libraries from a list of candidates, recording why each one failed.</summary>
internal static unsafe class LibraryProbe
{
    /// <summary>
    /// Tries each candidate in order: a rooted path is loaded only if the file exists; a bare name goes
    /// through the platform loader's default search (dlopen / LoadLibrary). Every failure is appended to
    /// <paramref name="trace"/> as "candidate: reason". Returns 0 if none loaded.
    /// </summary>
    public static nint TryLoad(IEnumerable<string> candidates, List<string> trace, out string loadedFrom,
        Func<string, string?>? reject = null)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var candidate in candidates)
        {
            if (string.IsNullOrEmpty(candidate) || !seen.Add(candidate))
            {
                continue;
            }

            if (candidate.StartsWith('$'))
            {
                trace.Add(candidate);
                continue;
            }

            if (Path.IsPathRooted(candidate) && !File.Exists(candidate))
            {
                trace.Add($"{candidate}: no such file");
                continue;
            }

            nint handle;
            try
            {
                handle = NativeLibrary.Load(candidate);
            }
            catch (Exception ex) when (ex is DllNotFoundException or BadImageFormatException)
            {
                trace.Add($"{candidate}: {OneLine(ex.Message)}");
                continue;
            }

            string actual = candidate;
            if (reject is not null)
            {
                string? why = reject(candidate);
                if (why is not null)
                {
                    trace.Add($"{candidate}: {why}");
                    NativeLibrary.Free(handle);
                    continue;
                }
            }

            loadedFrom = actual;
            return handle;
        }

        loadedFrom = string.Empty;
        return 0;
    }

    /// <summary>Resolves a required export or explains which one is missing.</summary>
    public static nint Export(nint library, string libraryName, string symbol)
    {
        if (NativeLibrary.TryGetExport(library, symbol, out nint address))
        {
            return address;
        }

        throw new EntryPointNotFoundException(
            $"{libraryName} does not export {symbol} (an older or mismatched build?)");
    }

    /// <summary>Resolves an optional export; 0 when absent.</summary>
    public static nint OptionalExport(nint library, string symbol)
        => NativeLibrary.TryGetExport(library, symbol, out nint address) ? address : 0;

    /// <summary>The file a symbol was loaded from (dladdr on Unix), or null when it cannot be told.</summary>
    public static string? FileOfSymbol(nint symbol)
    {
        if (symbol == 0 || OperatingSystem.IsWindows())
        {
            return null;
        }

        try
        {
            var dladdr = Dladdr.Value;
            if (dladdr == 0)
            {
                return null;
            }

            DlInfo info;
            int ok = ((delegate* unmanaged[Cdecl]<nint, DlInfo*, int>)dladdr)(symbol, &info);
            if (ok == 0 || info.FileName == null)
            {
                return null;
            }

            string? file = Marshal.PtrToStringUTF8((nint)info.FileName);
            if (string.IsNullOrEmpty(file))
            {
                return null;
            }

            try
            {
                var resolved = new FileInfo(file).ResolveLinkTarget(returnFinalTarget: true);
                return resolved is null ? Path.GetFullPath(file) : resolved.FullName;
            }
            catch (IOException)
            {
                return file;
            }
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Reads a NUL-terminated UTF-8 string; "" for null.</summary>
    public static string Utf8(byte* text) => text == null ? string.Empty : Marshal.PtrToStringUTF8((nint)text) ?? string.Empty;

    /// <summary>Encodes a string as NUL-terminated UTF-8.</summary>
    public static byte[] ToUtf8Z(string text)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
        Encoding.UTF8.GetBytes(text, 0, text.Length, bytes, 0);
        return bytes;
    }

    private static string OneLine(string message)
    {
        // .NET wraps dlerror() in advice about strace/LD_DEBUG; keep the loader's own text.
        const string marker = "environment variable:";
        int at = message.IndexOf(marker, StringComparison.Ordinal);
        if (at >= 0)
        {
            message = message[(at + marker.Length)..];
        }

        return message.Replace('\n', ' ').Replace('\r', ' ').Trim();
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct DlInfo
    {
        public byte* FileName;
        public nint BaseAddress;
        public byte* SymbolName;
        public nint SymbolAddress;
    }

    private static readonly Lazy<nint> Dladdr = new(() =>
    {
        foreach (var name in new[] { "libc.so.6", "libdl.so.2", "libSystem.dylib", "libc" })
        {
            if (NativeLibrary.TryLoad(name, out nint lib) && NativeLibrary.TryGetExport(lib, "dladdr", out nint fn))
            {
                return fn;
            }
        }

        return 0;
    });
}
