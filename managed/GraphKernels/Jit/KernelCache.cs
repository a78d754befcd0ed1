using System;
using System.Collections.Generic;
using System.IO;
using System.Security.Cryptography;
using System.Text;

namespace GraphKernels.Jit;

/// <summary>
/// The on-disk cache of compiled images: one file <c>&lt;key&gt;.gkjit</c> per (program text, included
/// headers, options, name expressions, target, NVRTC version) key. Files are written to a unique
/// temporary name in the same folder and renamed into place, so a reader never sees a torn entry;
/// each entry ends with a SHA-256 of its contents, and an entry that fails the check is treated as a
/// miss (and replaced). Safe for many threads and processes sharing the folder.
/// </summary>
public sealed class KernelCache
{
    /// <summary>Environment variable that overrides the cache folder.</summary>
    public const string DirectoryVariable = "GRAPHKERNELS_CACHE_DIR";

    private const string Extension = ".gkjit";
    private static readonly byte[] Magic = "GKJIT01\n"u8.ToArray();

    /// <summary>Creates a cache over <paramref name="directory"/> (created on first write).</summary>
    /// <param name="directory">The folder.</param>
    public KernelCache(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory = Path.GetFullPath(directory);
    }

    /// <summary>The cache folder.</summary>
    public string Directory { get; }

    /// <summary>
    /// The default folder: <c>$GRAPHKERNELS_CACHE_DIR</c> when set; otherwise
    /// <c>$XDG_CACHE_HOME/graphkernels/nvrtc</c> (or <c>~/.cache/graphkernels/nvrtc</c>) on Linux,
    /// <c>~/Library/Caches/GraphKernels/nvrtc</c> on macOS, <c>%LOCALAPPDATA%\GraphKernels\nvrtc</c> on Windows.
    /// </summary>
    public static string DefaultDirectory
    {
        get
        {
            string? overridden = Environment.GetEnvironmentVariable(DirectoryVariable);
            if (!string.IsNullOrWhiteSpace(overridden))
            {
                return Path.GetFullPath(overridden);
            }

            if (OperatingSystem.IsWindows())
            {
                return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "GraphKernels", "nvrtc");
            }

            string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            if (OperatingSystem.IsMacOS())
            {
                return Path.Combine(home, "Library", "Caches", "GraphKernels", "nvrtc");
            }

            string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            string root = !string.IsNullOrWhiteSpace(xdg) && Path.IsPathRooted(xdg) ? xdg : Path.Combine(home, ".cache");
            return Path.Combine(root, "graphkernels", "nvrtc");
        }
    }

    /// <summary>The file an entry lives in.</summary>
    /// <param name="key">The entry's key (hex).</param>
    /// <returns>The path.</returns>
    public string PathOf(string key) => Path.Combine(Directory, key + Extension);

    /// <summary>Reads an entry; false when absent or corrupt.</summary>
    /// <param name="key">The key.</param>
    /// <param name="kind">The image kind.</param>
    /// <param name="image">The image bytes.</param>
    /// <param name="loweredNames">Name expression to lowered name.</param>
    /// <returns>Whether a valid entry was found.</returns>
    public bool TryRead(string key, out NvrtcOutput kind, out byte[] image, out Dictionary<string, string> loweredNames)
    {
        kind = NvrtcOutput.Ptx;
        image = [];
        loweredNames = new Dictionary<string, string>(StringComparer.Ordinal);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(PathOf(key));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }

        if (bytes.Length < Magic.Length + 32 || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic))
        {
            return false;
        }

        int body = bytes.Length - 32;
        if (!SHA256.HashData(bytes.AsSpan(0, body)).AsSpan().SequenceEqual(bytes.AsSpan(body)))
        {
            return false;
        }

        try
        {
            using var reader = new BinaryReader(new MemoryStream(bytes, Magic.Length, body - Magic.Length), Encoding.UTF8);
            kind = (NvrtcOutput)reader.ReadInt32();
            int count = reader.ReadInt32();
            for (int i = 0; i < count; i++)
            {
                string expression = reader.ReadString();
                loweredNames[expression] = reader.ReadString();
            }

            image = reader.ReadBytes(reader.ReadInt32());
            return kind is NvrtcOutput.Ptx or NvrtcOutput.Cubin && image.Length > 0;
        }
        catch (EndOfStreamException)
        {
            return false;
        }
    }

    /// <summary>Writes an entry atomically (temporary file + rename); a concurrent writer of the same key wins or loses whole.</summary>
    /// <param name="key">The key.</param>
    /// <param name="kind">The image kind.</param>
    /// <param name="image">The image bytes.</param>
    /// <param name="loweredNames">Name expression to lowered name.</param>
    public void Write(string key, NvrtcOutput kind, byte[] image, IReadOnlyDictionary<string, string> loweredNames)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(loweredNames);
        var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(Magic);
            writer.Write((int)kind);
            writer.Write(loweredNames.Count);
            foreach (var pair in loweredNames)
            {
                writer.Write(pair.Key);
                writer.Write(pair.Value);
            }

            writer.Write(image.Length);
            writer.Write(image);
        }

        byte[] content = buffer.ToArray();
        byte[] hash = SHA256.HashData(content);
        System.IO.Directory.CreateDirectory(Directory);
        string final = PathOf(key);
        string temp = Path.Combine(Directory, $"{key}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                file.Write(content);
                file.Write(hash);
                file.Flush(flushToDisk: true);
            }

            File.Move(temp, final, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Another process holds the entry open (Windows) or the folder is read-only: the image is
            // still returned to the caller, only not cached.
            TryDelete(temp);
        }
    }

    /// <summary>The keys of the entries present (for tests and diagnostics).</summary>
    /// <returns>The keys.</returns>
    public IReadOnlyList<string> Keys()
    {
        if (!System.IO.Directory.Exists(Directory))
        {
            return [];
        }

        var keys = new List<string>();
        foreach (string file in System.IO.Directory.EnumerateFiles(Directory, "*" + Extension))
        {
            keys.Add(Path.GetFileNameWithoutExtension(file));
        }

        return keys;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Left behind; a later cleanup may remove it.
        }
    }
}
