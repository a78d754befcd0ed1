using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Oracle;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.EdgeOps;

/// <summary>The feature element types the edge ops take.</summary>
public enum Elem
{
    F32,
    F16,
    BF16,
}

/// <summary>Host-side tensors in each element type: exact rounding, upload, download, poisoning.</summary>
public static class EdgeTensors
{
    /// <summary>The value poisoned outputs hold (exactly representable in every element type).</summary>
    public const double Poison = -1234.0;

    /// <summary>Unit roundoff of storing a result in the element type (fp32 results are stored exactly as computed).</summary>
    public static double StoreUlp(Elem t) => t switch { Elem.F32 => 0, Elem.F16 => Math.Pow(2, -11), _ => Math.Pow(2, -8) };

    /// <summary>Absolute rounding bound below the normal range: fp16 subnormals are spaced 2^-24 apart (half of that is the
    /// rounding error); fp32 and bf16 share fp32's exponent range, so their relative bound holds down to 1e-38.</summary>
    public static double StoreAbs(Elem t) => t == Elem.F16 ? Math.Pow(2, -25) : 0;

    public static ushort Bf16Bits(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if (float.IsNaN(f)) return 0x7fc0;
        uint rounding = 0x7fff + ((u >> 16) & 1);  // round to nearest even
        return (ushort)((u + rounding) >> 16);
    }

    public static float Bf16Value(ushort b) => BitConverter.UInt32BitsToSingle((uint)b << 16);

    /// <summary>v rounded to the element type, as a double.</summary>
    public static double Round(Elem t, double v) => t switch
    {
        Elem.F32 => (float)v,
        Elem.F16 => (double)(float)(Half)(float)v,
        _ => Bf16Value(Bf16Bits((float)v)),
    };

    public static double[] Random(SplitMix64 rng, Elem t, long n, double lo, double hi)
    {
        var v = new double[n];
        for (long i = 0; i < n; i++) v[i] = Round(t, lo + (hi - lo) * rng.NextDouble());
        return v;
    }

    /// <summary>Random values bounded away from zero (divisors): magnitude in [0.5, 2], random sign.</summary>
    public static double[] RandomDivisors(SplitMix64 rng, Elem t, long n)
    {
        var v = new double[n];
        for (long i = 0; i < n; i++) v[i] = Round(t, (rng.Chance(0.5) ? -1 : 1) * (0.5 + 1.5 * rng.NextDouble()));
        return v;
    }

    public static DeviceBuffer Upload(GraphDevice d, Elem t, double[] v)
    {
        // A zero-length buffer still gets one element so that its pointer is not null.
        int n = Math.Max(1, v.Length);
        switch (t)
        {
            case Elem.F32:
            {
                var a = new float[n];
                for (int i = 0; i < v.Length; i++) a[i] = (float)v[i];
                var b = d.Allocate<float>(v.Length == 0 ? 1 : v.Length);
                b.CopyFrom(a.AsSpan(0, (int)b.Length));
                return b;
            }

            case Elem.F16:
            {
                var a = new Half[n];
                for (int i = 0; i < v.Length; i++) a[i] = (Half)(float)v[i];
                var b = d.Allocate<Half>(v.Length == 0 ? 1 : v.Length);
                b.CopyFrom(a.AsSpan(0, (int)b.Length));
                return b;
            }

            default:
            {
                var a = new ushort[n];
                for (int i = 0; i < v.Length; i++) a[i] = Bf16Bits((float)v[i]);
                var b = d.Allocate<ushort>(v.Length == 0 ? 1 : v.Length);
                b.CopyFrom(a.AsSpan(0, (int)b.Length));
                return b;
            }
        }
    }

    /// <summary>A buffer of n elements (at least one) filled with <see cref="Poison"/>.</summary>
    public static DeviceBuffer Poisoned(GraphDevice d, Elem t, long n)
    {
        var v = new double[Math.Max(1, n)];
        Array.Fill(v, Poison);
        return Upload(d, t, v);
    }

    public static double[] Read(DeviceBuffer b) => b switch
    {
        DeviceBuffer<float> f => Array.ConvertAll(f.ToArray(), x => (double)x),
        DeviceBuffer<Half> h => Array.ConvertAll(h.ToArray(), x => (double)(float)x),
        DeviceBuffer<ushort> u => Array.ConvertAll(u.ToArray(), x => (double)Bf16Value(x)),
        _ => throw new ArgumentException("not a feature buffer"),
    };

    public static DeviceBuffer UploadIndex(GraphDevice d, IndexType t, long[] v)
    {
        long[] data = v.Length == 0 ? new long[1] : v;
        return t == IndexType.Int32 ? d.Upload<int>(Array.ConvertAll(data, x => checked((int)x))) : d.Upload<long>(data);
    }

    public static DeviceBuffer IndexFilled(GraphDevice d, IndexType t, long n, long value)
    {
        var v = new long[Math.Max(1, n)];
        Array.Fill(v, value);
        return UploadIndex(d, t, v);
    }

    public static long[] ReadIndex(DeviceBuffer b) => b switch
    {
        DeviceBuffer<int> i => Array.ConvertAll(i.ToArray(), x => (long)x),
        DeviceBuffer<long> l => l.ToArray(),
        _ => throw new ArgumentException("not an index buffer"),
    };

    /// <summary>
    /// |dev - ref| &lt;= (2 n + 8) 2^-24 mag + u |ref| + 1e-30 per element: fp32 accumulation over n terms of total magnitude
    /// mag (a worst-case bound for sequential summation, plus a few ulp for exp/division), and one rounding to the element type.
    /// </summary>
    public static void AssertClose(double[] dev, double[] expected, double[] mag, long n, Elem t, string what, long count = -1)
    {
        long len = count < 0 ? expected.Length : count;
        double eps = Math.Pow(2, -24);
        double u = StoreUlp(t);
        for (long i = 0; i < len; i++)
        {
            double r = expected[i], x = dev[i];
            if (double.IsNaN(r))
            {
                Assert.That(double.IsNaN(x), $"{what}[{i}]: expected NaN, got {x}");
                continue;
            }

            double tol = ((2 * n) + 8) * eps * mag[i] + (u * Math.Abs(r)) + StoreAbs(t) + 1e-30;
            if (!(Math.Abs(x - r) <= tol))
            {
                Assert.Fail($"{what}[{i}] = {x:R}, expected {r:R} (tolerance {tol:G3}, magnitude {mag[i]:G3}, n = {n})");
            }
        }
    }

    public static void AssertAllPoison(double[] dev, string what)
    {
        for (int i = 0; i < dev.Length; i++)
        {
            if (dev[i] != Poison) Assert.Fail($"{what}[{i}] = {dev[i]} was written (expected the poison {Poison})");
        }
    }
}

/// <summary>Graphs for the edge-op tests: the shared catalogue plus a molecular batch and a hub row.</summary>
public static class EdgeGraphs
{
    private static readonly Dictionary<string, Lazy<HostCsr>> Extra = new()
    {
        ["molecules"] = new(() => MolecularBatch(40, 5, 30, seed: 31)),
        ["onehub"] = new(() => GraphGenerators.SingleHub(2500, 600, seed: 32)),
        ["tiny"] = new(() => HostCsr.FromRows("tiny", 4, new List<List<long>>
        {
            new() { 1, 2 }, new(), new() { 0, 0, 3 }, new() { 2 },   // duplicate 0->2, self loop 3->3 absent, 2->3
        })),
    };

    public static HostCsr Get(string name) => Extra.TryGetValue(name, out var g) ? g.Value : GraphCatalog.Get(name);

    /// <summary>
    /// Many small molecules in one batch (block-diagonal): n_atoms in [minAtoms, maxAtoms] each, every atom bonded
    /// to 1-4 random atoms of its own molecule in both directions (so in-degrees are small, ~2-8), atoms of a molecule
    /// contiguous.
    /// </summary>
    public static HostCsr MolecularBatch(int molecules, int minAtoms, int maxAtoms, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var rows = new List<List<long>>();
        int offset = 0;
        for (int m = 0; m < molecules; m++)
        {
            int n = rng.NextInt(minAtoms, maxAtoms);
            var local = new List<long>[n];
            for (int i = 0; i < n; i++) local[i] = new List<long>();
            for (int i = 0; i < n; i++)
            {
                int bonds = rng.NextInt(1, 4);
                for (int b = 0; b < bonds; b++)
                {
                    int j = rng.NextInt(n);
                    if (j == i) continue;
                    local[j].Add(offset + i);
                    local[i].Add(offset + j);
                }
            }

            rows.AddRange(local);
            offset += n;
        }

        return HostCsr.FromRows($"molecules{molecules}", offset, rows);
    }
}
