using System;
using System.Buffers.Binary;
using System.IO;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;

namespace GraphKernels.BenchData;

/// <summary>Element types of the bench binary format (the code stored in the header).</summary>
public enum ArrayDType
{
    /// <summary>int32, little-endian.</summary>
    I32 = 1,

    /// <summary>int64, little-endian.</summary>
    I64 = 2,

    /// <summary>IEEE fp32, little-endian.</summary>
    F32 = 3,

    /// <summary>bfloat16 stored as its raw 16 bits (uint16, little-endian).</summary>
    BF16 = 4,

    /// <summary>Unsigned bytes.</summary>
    U8 = 5,
}

/// <summary>The header of one array file: element type, shape, CRC-32 of the payload.</summary>
/// <param name="DType">Element type.</param>
/// <param name="Shape">Dimensions, row-major, 1 to 4 of them.</param>
/// <param name="Crc32">CRC-32 (IEEE, as zlib.crc32) of the payload bytes.</param>
public sealed record ArrayHeader(ArrayDType DType, long[] Shape, uint Crc32)
{
    /// <summary>Number of elements.</summary>
    public long Count
    {
        get
        {
            long n = 1;
            foreach (long d in Shape) n = checked(n * d);
            return n;
        }
    }

    /// <summary>Size of one element in bytes.</summary>
    public int ElementSize => BinaryArray.SizeOf(DType);
}

/// <summary>
/// One array per file: a 64-byte header, then the elements, row-major, little-endian (bench/FORMAT.md).
/// <code>
///   0  8  magic "GKBENCH1"
///   8  4  int32 dtype code (1 i32, 2 i64, 3 f32, 4 bf16 raw uint16, 5 u8)
///  12  4  int32 ndim (1..4)
///  16 32  int64 dims[4] (unused = 0)
///  48  4  uint32 CRC-32 of the payload (zlib.crc32)
///  52 12  zero
///  64     payload: prod(dims) elements
/// </code>
/// numpy: <c>np.fromfile(path, dtype='&lt;f4', offset=64).reshape(dims)</c>.
/// </summary>
public static class BinaryArray
{
    /// <summary>Bytes before the payload.</summary>
    public const int HeaderSize = 64;

    /// <summary>The 8 magic bytes.</summary>
    public static ReadOnlySpan<byte> Magic => "GKBENCH1"u8;

    /// <summary>Size of an element of <paramref name="t"/> in bytes.</summary>
    /// <param name="t">Element type.</param>
    /// <returns>Bytes.</returns>
    public static int SizeOf(ArrayDType t) => t switch
    {
        ArrayDType.I32 or ArrayDType.F32 => 4,
        ArrayDType.I64 => 8,
        ArrayDType.BF16 => 2,
        ArrayDType.U8 => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "unknown dtype"),
    };

    /// <summary>The dtype code's short name as used in manifests and by numpy ("i32", "f32", ...).</summary>
    /// <param name="t">Element type.</param>
    /// <returns>Name.</returns>
    public static string Name(ArrayDType t) => t.ToString().ToLowerInvariant();

    /// <summary>The dtype of element type <typeparamref name="T"/>.</summary>
    /// <typeparam name="T">int, long, float, byte or ushort (bf16).</typeparam>
    /// <returns>The code.</returns>
    public static ArrayDType DTypeOf<T>() where T : unmanaged =>
        typeof(T) == typeof(int) ? ArrayDType.I32
        : typeof(T) == typeof(long) ? ArrayDType.I64
        : typeof(T) == typeof(float) ? ArrayDType.F32
        : typeof(T) == typeof(ushort) ? ArrayDType.BF16
        : typeof(T) == typeof(byte) ? ArrayDType.U8
        : throw new NotSupportedException($"no bench dtype for {typeof(T)}");

    /// <summary>Writes <paramref name="data"/> with <paramref name="shape"/> to <paramref name="path"/>.</summary>
    /// <typeparam name="T">Element type.</typeparam>
    /// <param name="path">File to create.</param>
    /// <param name="data">Elements, row-major.</param>
    /// <param name="shape">Dimensions; their product must be data.Length.</param>
    /// <returns>The header written.</returns>
    public static ArrayHeader Write<T>(string path, ReadOnlySpan<T> data, params long[] shape) where T : unmanaged
    {
        if (shape.Length is < 1 or > 4) throw new ArgumentException("1 to 4 dimensions", nameof(shape));
        var dtype = DTypeOf<T>();
        var bytes = MemoryMarshal.AsBytes(data);
        var header = new ArrayHeader(dtype, shape, Crc32.HashToUInt32(bytes));
        if (header.Count != data.Length)
        {
            throw new ArgumentException($"shape [{string.Join(",", shape)}] holds {header.Count} elements, data has {data.Length}");
        }

        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var f = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        f.Write(EncodeHeader(header));
        const int chunk = 1 << 26;  // Span-based writes of up to 64 MiB at a time
        for (int off = 0; off < bytes.Length; off += chunk)
        {
            f.Write(bytes.Slice(off, Math.Min(chunk, bytes.Length - off)));
        }

        return header;
    }

    /// <summary>
    /// Writes an array too large to hold twice in memory: <paramref name="fill"/> is called for
    /// consecutive chunks (start element, destination span) and may fill them in parallel itself.
    /// </summary>
    /// <typeparam name="T">Element type.</typeparam>
    /// <param name="path">File to create.</param>
    /// <param name="shape">Dimensions.</param>
    /// <param name="fill">Fills a chunk: (first element index, span to fill).</param>
    /// <returns>The header written.</returns>
    public static ArrayHeader WriteGenerated<T>(string path, long[] shape, Action<long, Span<T>> fill) where T : unmanaged
    {
        if (shape.Length is < 1 or > 4) throw new ArgumentException("1 to 4 dimensions", nameof(shape));
        var dtype = DTypeOf<T>();
        long count = new ArrayHeader(dtype, shape, 0).Count;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var crc = new Crc32();
        using (var f = new FileStream(path, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 20))
        {
            f.Write(new byte[HeaderSize]);
            var buffer = new T[(int)Math.Min(count, 1 << 24)];
            for (long start = 0; start < count; start += buffer.Length)
            {
                var span = buffer.AsSpan(0, (int)Math.Min(buffer.Length, count - start));
                fill(start, span);
                var bytes = MemoryMarshal.AsBytes(span);
                crc.Append(bytes);
                f.Write(bytes);
            }

            var header = new ArrayHeader(dtype, shape, crc.GetCurrentHashAsUInt32());
            f.Position = 0;
            f.Write(EncodeHeader(header));
            return header;
        }
    }

    /// <summary>Reads only the header of <paramref name="path"/>.</summary>
    /// <param name="path">Array file.</param>
    /// <returns>The header.</returns>
    public static ArrayHeader ReadHeader(string path)
    {
        using var f = File.OpenRead(path);
        Span<byte> h = stackalloc byte[HeaderSize];
        f.ReadExactly(h);
        return DecodeHeader(h, path, f.Length);
    }

    /// <summary>Reads an array, checking dtype, size and CRC.</summary>
    /// <typeparam name="T">Element type, matching the file's dtype.</typeparam>
    /// <param name="path">Array file.</param>
    /// <param name="header">The header read.</param>
    /// <returns>The elements.</returns>
    public static T[] Read<T>(string path, out ArrayHeader header) where T : unmanaged
    {
        using var f = File.OpenRead(path);
        Span<byte> h = stackalloc byte[HeaderSize];
        f.ReadExactly(h);
        header = DecodeHeader(h, path, f.Length);
        if (header.DType != DTypeOf<T>())
        {
            throw new InvalidDataException($"{path}: dtype {Name(header.DType)}, asked for {Name(DTypeOf<T>())}");
        }

        var data = new T[checked((int)header.Count)];
        var bytes = MemoryMarshal.AsBytes(data.AsSpan());
        f.ReadExactly(bytes);
        uint crc = Crc32.HashToUInt32(bytes);
        if (crc != header.Crc32) throw new InvalidDataException($"{path}: CRC-32 {crc:x8}, header says {header.Crc32:x8}");
        return data;
    }

    /// <summary>Reads an array.</summary>
    /// <typeparam name="T">Element type.</typeparam>
    /// <param name="path">Array file.</param>
    /// <returns>The elements.</returns>
    public static T[] Read<T>(string path) where T : unmanaged => Read<T>(path, out _);

    private static byte[] EncodeHeader(ArrayHeader header)
    {
        var h = new byte[HeaderSize];
        Magic.CopyTo(h);
        BinaryPrimitives.WriteInt32LittleEndian(h.AsSpan(8), (int)header.DType);
        BinaryPrimitives.WriteInt32LittleEndian(h.AsSpan(12), header.Shape.Length);
        for (int i = 0; i < header.Shape.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(h.AsSpan(16 + (8 * i)), header.Shape[i]);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(48), header.Crc32);
        return h;
    }

    private static ArrayHeader DecodeHeader(ReadOnlySpan<byte> h, string path, long fileLength)
    {
        if (!h[..8].SequenceEqual(Magic)) throw new InvalidDataException($"{path}: not a GKBENCH1 array (magic '{Encoding.ASCII.GetString(h[..8])}')");
        var dtype = (ArrayDType)BinaryPrimitives.ReadInt32LittleEndian(h[8..]);
        int ndim = BinaryPrimitives.ReadInt32LittleEndian(h[12..]);
        if (ndim is < 1 or > 4) throw new InvalidDataException($"{path}: ndim {ndim}");
        var shape = new long[ndim];
        for (int i = 0; i < ndim; i++) shape[i] = BinaryPrimitives.ReadInt64LittleEndian(h[(16 + (8 * i))..]);
        var header = new ArrayHeader(dtype, shape, BinaryPrimitives.ReadUInt32LittleEndian(h[48..]));
        long expected = HeaderSize + (header.Count * header.ElementSize);
        if (fileLength != expected) throw new InvalidDataException($"{path}: {fileLength} bytes, header implies {expected}");
        return header;
    }
}
