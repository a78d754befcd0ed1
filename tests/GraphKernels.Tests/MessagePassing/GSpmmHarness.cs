using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Oracle;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Spmm;

/// <summary>Value types of the generalized SpMM tests: float32, fp16 (Half) and bf16 (ushort bits).</summary>
public enum ValType
{
    F32,
    F16,
    BF16,
}

/// <summary>Host-side helpers: rounding to the value type, upload/download, graphs of the g-SpMM tests.</summary>
public static class GSpmmHarness
{
    /// <summary>Unit roundoff of the stored value type (fp32 2^-24, fp16 2^-11, bf16 2^-8).</summary>
    public static double Unit(ValType t) => t switch
    {
        ValType.F32 => Math.Pow(2, -24),
        ValType.F16 => Math.Pow(2, -11),
        _ => Math.Pow(2, -8),
    };

    /// <summary>
    /// Absolute rounding error floor of the stored type: half the spacing of its subnormals (fp32 2^-150,
    /// fp16 2^-25, bf16 2^-134); a result below the normal range is rounded on that grid.
    /// </summary>
    public static double Tiny(ValType t) => t switch
    {
        ValType.F32 => Math.Pow(2, -150),
        ValType.F16 => Math.Pow(2, -25),
        _ => Math.Pow(2, -134),
    };

    /// <summary>bf16 bits of a float, round to nearest even (the test's own conversion).</summary>
    public static ushort ToBf16(float f)
    {
        uint b = BitConverter.SingleToUInt32Bits(f);
        if (float.IsNaN(f)) return 0x7FC0;
        uint lsb = (b >> 16) & 1;
        return (ushort)((b + 0x7FFF + lsb) >> 16);
    }

    public static float FromBf16(ushort b) => BitConverter.UInt32BitsToSingle((uint)b << 16);

    /// <summary>The value the device will see after the upload.</summary>
    public static float Round(ValType t, float v) => t switch
    {
        ValType.F32 => v,
        ValType.F16 => (float)(Half)v,
        _ => FromBf16(ToBf16(v)),
    };

    public static double[] RoundAll(ValType t, float[] v) => Array.ConvertAll(v, a => (double)Round(t, a));

    public static DeviceBuffer Upload(GraphDevice d, ValType t, float[] v)
    {
        float[] src = v.Length == 0 ? new float[1] : v;
        return t switch
        {
            ValType.F32 => d.Upload<float>(src),
            ValType.F16 => d.Upload<Half>(Array.ConvertAll(src, a => (Half)a)),
            _ => d.Upload<ushort>(Array.ConvertAll(src, ToBf16)),
        };
    }

    public static double[] Download(DeviceBuffer b) => b switch
    {
        DeviceBuffer<float> f => Array.ConvertAll(f.ToArray(), a => (double)a),
        DeviceBuffer<Half> h => Array.ConvertAll(h.ToArray(), a => (double)(float)a),
        DeviceBuffer<ushort> u => Array.ConvertAll(u.ToArray(), a => (double)FromBf16(a)),
        _ => throw new ArgumentException("not a value buffer"),
    };

    /// <summary>Raw bits of a buffer (bitwise comparisons).</summary>
    public static long[] Bits(DeviceBuffer b) => b switch
    {
        DeviceBuffer<float> f => Array.ConvertAll(f.ToArray(), a => (long)BitConverter.SingleToInt32Bits(a)),
        DeviceBuffer<Half> h => Array.ConvertAll(h.ToArray(), a => (long)BitConverter.HalfToInt16Bits(a)),
        DeviceBuffer<ushort> u => Array.ConvertAll(u.ToArray(), a => (long)a),
        DeviceBuffer<int> i => Array.ConvertAll(i.ToArray(), a => (long)a),
        DeviceBuffer<long> l => l.ToArray(),
        _ => throw new ArgumentException("unknown buffer"),
    };

    public static DeviceBuffer AllocIndex(GraphDevice d, IndexType index, long n, long fill = 0x5A5A5A5A) =>
        index == IndexType.Int32
            ? d.Upload<int>(Enumerable.Repeat((int)fill, (int)Math.Max(1, n)).ToArray())
            : d.Upload<long>(Enumerable.Repeat(fill, (int)Math.Max(1, n)).ToArray());

    /// <summary>
    /// Many small molecules (5-24 atoms each) in one batch: atom i bonded to atoms within 3 positions of
    /// it in the same molecule, both directions (a radius graph of a chain), destination-major.
    /// </summary>
    public static HostCsr MolecularBatch(int molecules, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var rows = new List<List<long>>();
        long offset = 0;
        for (int m = 0; m < molecules; m++)
        {
            int n = rng.NextInt(5, 24);
            for (int i = 0; i < n; i++)
            {
                var r = new List<long>();
                for (int j = Math.Max(0, i - 3); j <= Math.Min(n - 1, i + 3); j++)
                {
                    if (j != i) r.Add(offset + j);
                }

                rows.Add(r);
            }

            offset += n;
        }

        return HostCsr.FromRows($"molecules{molecules}", offset, rows);
    }

    /// <summary>One row holding every edge (the "one huge row" degenerate case), plus empty rows.</summary>
    public static HostCsr OneHugeRow(int degree, int numCols, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var rows = new List<List<long>> { new(), new(), new() };
        for (int i = 0; i < degree; i++) rows[1].Add(rng.NextInt(numCols));
        return HostCsr.FromRows($"hugerow{degree}", numCols, rows);
    }

    private static readonly Dictionary<string, Lazy<HostCsr>> Own = new()
    {
        ["molecules"] = new(() => MolecularBatch(30, 21)),
        ["molecules-small"] = new(() => MolecularBatch(2, 22)),
        ["hugerow"] = new(() => OneHugeRow(3000, 200, 23)),
    };

    public static HostCsr Graph(string name) => Own.TryGetValue(name, out var g) ? g.Value : GraphCatalog.Get(name);

    public static CsrGraph UploadGraph(GraphDevice device, HostCsr g, IndexType index) =>
        index == IndexType.Int32
            ? CsrGraph.Upload(device, g.RowPtr32(), g.ColIdx32(), g.NumCols)
            : CsrGraph.Upload(device, g.RowPtr, g.ColIdx, g.NumCols);
}

/// <summary>One generalized SpMM case.</summary>
public sealed record GSpmmCase(string GraphName, IndexType Index, Message Message, EdgeOperand Mode, int Heads, Reduce Reduce,
    int Features, ValType Type, ulong Seed)
{
    public bool Extreme => Reduce is Reduce.Max or Reduce.Min;

    /// <summary>Max/min use dyadic values (messages exact in every value type, so the winner is unambiguous).</summary>
    public bool Dyadic => Extreme;

    public override string ToString() =>
        $"{GraphName}/{Index}/{Message}/{Mode}{(Mode == EdgeOperand.PerHead ? Heads.ToString() : "")}/{Reduce}/F{Features}/{Type}";
}

/// <summary>Inputs of one case on the host (rounded to the value type) and on a device.</summary>
public sealed class GSpmmRun : IDisposable
{
    private readonly List<IDisposable> owned = new();

    public GSpmmRun(GraphDevice device, GSpmmCase c, SpMMFlags flags = SpMMFlags.None, long chunk = 0)
    {
        Device = device;
        Case = c;
        Host = GSpmmHarness.Graph(c.GraphName);
        var rng = new SplitMix64(c.Seed);
        int f = c.Features;
        int width = GSpmmReference.EdgeWidth(c.Mode, c.Heads, f);
        float Draw(bool edge)
        {
            if (c.Dyadic && edge && c.Message == Message.UDivE)
            {
                // Powers of two, so x / e is exact too.
                float p2 = new[] { 0.5f, 1f, 2f }[rng.NextInt(3)];
                return rng.Chance(0.5) ? -p2 : p2;
            }

            if (c.Dyadic) return rng.NextInt(-8, 8) / 4f;
            if (edge && (c.Message == Message.UDivE || c.Reduce == Reduce.Mul))
            {
                // Away from 0 (division) and near 1 (products of many factors stay O(1)).
                float m = rng.NextFloat(0.5f, 1.5f);
                return rng.Chance(0.3) ? -m : m;
            }

            if (c.Reduce == Reduce.Mul) return rng.NextFloat(0.6f, 1.4f) * (rng.Chance(0.2) ? -1 : 1);
            return rng.NextFloat(-1, 1);
        }

        float[] xf = new float[Host.NumCols * f];
        for (int i = 0; i < xf.Length; i++) xf[i] = Draw(false);
        float[] ef = new float[Host.Nnz * width];
        for (int i = 0; i < ef.Length; i++)
        {
            ef[i] = Draw(true);
        }

        float[] gyf = new float[Host.NumRows * f];
        for (int i = 0; i < gyf.Length; i++) gyf[i] = rng.NextFloat(-1, 1);
        X = GSpmmHarness.RoundAll(c.Type, xf);
        E = width > 0 ? GSpmmHarness.RoundAll(c.Type, ef) : null;
        GY = GSpmmHarness.RoundAll(c.Type, gyf);
        Graph = Own(GSpmmHarness.UploadGraph(device, Host, c.Index));
        Plan = Own(GraphPlan.Build(Graph, chunk));
        XBuf = Own(GSpmmHarness.Upload(device, c.Type, xf));
        EBuf = width > 0 ? Own(GSpmmHarness.Upload(device, c.Type, ef)) : null;
        GYBuf = Own(GSpmmHarness.Upload(device, c.Type, gyf));
        Options = new SpMMOptions(c.Message, c.Reduce, c.Mode, c.Heads, flags);
    }

    public GraphDevice Device { get; }
    public GSpmmCase Case { get; }
    public HostCsr Host { get; }
    public double[] X { get; }
    public double[]? E { get; }
    public double[] GY { get; }
    public CsrGraph Graph { get; }
    public GraphPlan Plan { get; }
    public DeviceBuffer XBuf { get; }
    public DeviceBuffer? EBuf { get; }
    public DeviceBuffer GYBuf { get; }
    public SpMMOptions Options;

    public T Own<T>(T d) where T : IDisposable
    {
        owned.Add(d);
        return d;
    }

    public DeviceBuffer NewValues(long n, float fill = 777f) =>
        Own(GSpmmHarness.Upload(Device, Case.Type, Enumerable.Repeat(fill, (int)Math.Max(1, n)).ToArray()));

    /// <summary>Runs the forward; returns y and arg (null unless max/min) as device buffers.</summary>
    public (DeviceBuffer Y, DeviceBuffer? Arg) Forward(bool withArg = true, DeviceBuffer? workspace = null)
    {
        var y = NewValues(Host.NumRows * Case.Features);
        DeviceBuffer? arg = Case.Extreme && withArg ? Own(GSpmmHarness.AllocIndex(Device, Case.Index, Host.NumRows * Case.Features)) : null;
        if ((Options.Flags & SpMMFlags.Chunked) != 0 && workspace is null)
        {
            long bytes = MessagePassing.SpMMWorkspaceBytes(Graph, Options, Case.Features, y.ElementType, Plan);
            workspace = Own(Device.Allocate<byte>(Math.Max(8, bytes)));
        }

        MessagePassing.SpMM(Graph, Options, Case.Features, Case.Message == Message.CopyE ? null : XBuf, EBuf, y, arg, Plan, workspace);
        Device.Synchronize();
        return (y, arg);
    }

    /// <summary>Runs the backward (both gradients the message has) from the forward's arg.</summary>
    public (DeviceBuffer? Dx, DeviceBuffer? De) Backward(DeviceBuffer? arg)
    {
        int f = Case.Features;
        int width = GSpmmReference.EdgeWidth(Case.Mode, Case.Heads, f);
        DeviceBuffer? dx = Case.Message == Message.CopyE ? null : NewValues(Host.NumCols * f);
        DeviceBuffer? de = width == 0 ? null : NewValues(Host.Nnz * width);
        long wsBytes = MessagePassing.SpMMBackwardWorkspaceBytes(Graph, Options, f);
        DeviceBuffer? ws = wsBytes > 0 ? Own(Device.Allocate<byte>(wsBytes)) : null;
        MessagePassing.SpMMBackward(Graph, Plan, Options, f, Case.Message == Message.CopyE ? null : XBuf, EBuf, arg, GYBuf, dx, de, ws);
        Device.Synchronize();
        return (dx, de);
    }

    public void Dispose()
    {
        for (int i = owned.Count - 1; i >= 0; i--) owned[i].Dispose();
    }
}
