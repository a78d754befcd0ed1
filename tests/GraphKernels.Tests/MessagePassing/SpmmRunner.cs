using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Oracle;

namespace GraphKernels.Tests.Spmm;

/// <summary>Host copies of what one SpMM call produced (whole buffers, padding included).</summary>
public sealed class SpmmOutput
{
    public SpmmOutput(float[] y, long[]? arg)
    {
        Y = y;
        Arg = arg;
    }

    public float[] Y { get; }
    public long[]? Arg { get; }
}

/// <summary>Uploads a case's graph and inputs to a device, runs SpMM, downloads the results.</summary>
public sealed class SpmmRunner : IDisposable
{
    private readonly List<IDisposable> owned = new();

    public SpmmRunner(GraphDevice device, SpmmCase c)
    {
        Device = device;
        Case = c;
        Host = c.HostGraph;
        Inputs = SpmmInputs.Make(Host, c.Features, c.Ldx, c.Message == Message.UMulE, c.Values, c.Seed);
        Graph = Own(UploadGraph(device, Host, c.Index));
        X = Own(device.Upload<float>(Inputs.X));
        Weight = Inputs.Weight is { } w ? Own(device.Upload<float>(w)) : null;
    }

    public GraphDevice Device { get; }
    public SpmmCase Case { get; }
    public HostCsr Host { get; }
    public SpmmInputs Inputs { get; }
    public CsrGraph Graph { get; }
    public DeviceBuffer<float> X { get; }
    public DeviceBuffer<float>? Weight { get; }

    public long YLength => Math.Max(1, Host.NumRows * Case.Ldy);
    public long ArgLength => Math.Max(1, Host.NumRows * Case.LdArg);

    public static CsrGraph UploadGraph(GraphDevice device, HostCsr g, IndexType index) =>
        index == IndexType.Int32
            ? CsrGraph.Upload(device, g.RowPtr32(), g.ColIdx32(), g.NumCols)
            : CsrGraph.Upload(device, g.RowPtr, g.ColIdx, g.NumCols);

    /// <summary>A y buffer filled with the sentinel (and an arg buffer filled with its sentinel when the case asks for one).</summary>
    public (DeviceBuffer<float> Y, DeviceBuffer? Arg) PoisonedOutputs()
    {
        var y = Own(Device.Upload<float>(SpmmInputs.PoisonedY(Host.NumRows, Case.Ldy)));
        DeviceBuffer? arg = null;
        if (Case.WithArg)
        {
            if (Case.Index == IndexType.Int32)
            {
                var a = Own(Device.Allocate<int>(ArgLength));
                a.Fill(SpmmInputs.ArgSentinel32);
                arg = a;
            }
            else
            {
                var a = Own(Device.Allocate<long>(ArgLength));
                a.Fill(SpmmInputs.ArgSentinel64);
                arg = a;
            }
        }

        return (y, arg);
    }

    /// <summary>Runs the managed overload into fresh poisoned outputs.</summary>
    public SpmmOutput Run(Stream? stream = null)
    {
        var (y, arg) = PoisonedOutputs();
        GraphKernels.MessagePassing.SpMM(Graph, Case.Message, Case.Reduce, Case.Features, X, y, Weight, arg,
            Case.Ldx, Case.Ldy, Case.WithArg ? Case.LdArg : 0, stream);
        return Download(y, arg, stream);
    }

    /// <summary>Runs the raw-pointer overload into fresh poisoned outputs.</summary>
    public SpmmOutput RunRaw()
    {
        var (y, arg) = PoisonedOutputs();
        GraphKernels.MessagePassing.SpMM(Device, Graph.RowPtr.Pointer, Graph.ColIdx.Pointer, Host.NumRows, Host.NumCols,
            Host.Nnz, Case.Index, Case.Message, Case.Reduce, Case.Features, X.Pointer, Case.Ldx,
            Weight?.Pointer ?? 0, y.Pointer, Case.Ldy, arg?.Pointer ?? 0, Case.WithArg ? Case.LdArg : 0,
            Device.DefaultStream.Handle);
        return Download(y, arg, null);
    }

    public SpmmOutput Download(DeviceBuffer<float> y, DeviceBuffer? arg, Stream? stream)
    {
        (stream ?? Device.DefaultStream).Synchronize();
        long[]? argHost = arg switch
        {
            null => null,
            DeviceBuffer<int> a32 => Array.ConvertAll(a32.ToArray(), v => (long)v),
            DeviceBuffer<long> a64 => a64.ToArray(),
            _ => throw new InvalidOperationException("unexpected arg buffer type"),
        };
        return new SpmmOutput(y.ToArray(), argHost);
    }

    /// <summary>
    /// Checks a result against the oracle, then that every element outside the F columns of y
    /// (and of arg) still holds its sentinel, bit for bit.
    /// </summary>
    public void AssertMatchesOracle(SpmmOutput output)
    {
        var c = Case;
        var exp = SpmmReference.Compute(Host, c.Message, c.Reduce, c.Features, Inputs.X, c.Ldx, Inputs.Weight);
        string? report = SpmmCompare.Check(exp, c.Reduce, c.Values == ValueKind.Dyadic, output.Y, c.Ldy,
            output.Arg, c.LdArg);
        Assert.That(report, Is.Null, $"{c} on {Host}: result differs from the oracle");
        AssertPaddingUntouched(output);
    }

    public void AssertPaddingUntouched(SpmmOutput output)
    {
        var c = Case;
        long written = Host.NumRows;
        for (long i = 0; i < output.Y.LongLength; i++)
        {
            bool inside = i / c.Ldy < written && i % c.Ldy < c.Features;
            if (!inside && BitConverter.SingleToInt32Bits(output.Y[i]) != SpmmInputs.YSentinelBits)
            {
                Assert.Fail($"{c}: y[{i}] (row {i / c.Ldy}, column {i % c.Ldy}) outside the F columns was overwritten with {output.Y[i]:R}");
            }
        }

        if (output.Arg is { } arg)
        {
            long sentinel = c.Index == IndexType.Int32 ? SpmmInputs.ArgSentinel32 : SpmmInputs.ArgSentinel64;
            for (long i = 0; i < arg.LongLength; i++)
            {
                bool inside = i / c.LdArg < written && i % c.LdArg < c.Features;
                if (!inside && arg[i] != sentinel)
                {
                    Assert.Fail($"{c}: arg[{i}] outside the F columns was overwritten with {arg[i]}");
                }
            }
        }
    }

    public static void AssertBitwiseEqual(SpmmOutput a, SpmmOutput b, string what)
    {
        Assert.That(b.Y, Has.Length.EqualTo(a.Y.Length));
        for (long i = 0; i < a.Y.LongLength; i++)
        {
            if (BitConverter.SingleToInt32Bits(a.Y[i]) != BitConverter.SingleToInt32Bits(b.Y[i]))
            {
                Assert.Fail($"{what}: y[{i}] differs: {a.Y[i]:R} vs {b.Y[i]:R}");
            }
        }

        Assert.That(b.Arg, Is.EqualTo(a.Arg), what + ": arg differs");
    }

    private T Own<T>(T d)
        where T : IDisposable
    {
        owned.Add(d);
        return d;
    }

    public void Dispose()
    {
        for (int i = owned.Count - 1; i >= 0; i--) owned[i].Dispose();
        owned.Clear();
    }
}
