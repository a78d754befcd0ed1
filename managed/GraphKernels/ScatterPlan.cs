using System;

namespace GraphKernels;

/// <summary>
/// Deterministic scatter-reduce over an unsorted index (torch_scatter <c>scatter(src, index, dim_size, reduce)</c>):
/// built once per index with <see cref="MessagePassing.CooToCsr"/> (segment offsets and the stable permutation that
/// sorts the entries by index), then every <see cref="Reduce"/> is a <see cref="MessagePassing.SegmentReduce"/> through
/// that permutation, so each output element is reduced by one thread in ascending entry order: bitwise reproducible,
/// no atomics. There is no atomic fast mode. Owns its buffers (allocated once, in <see cref="Create"/>).
/// </summary>
public sealed class ScatterPlan : IDisposable
{
    private ScatterPlan(DeviceBuffer ptr, DeviceBuffer permutation, long dimSize, long count)
    {
        Ptr = ptr;
        Permutation = permutation;
        DimSize = dimSize;
        Count = count;
    }

    /// <summary>Segment offsets, [DimSize + 1] of the index's type.</summary>
    public DeviceBuffer Ptr { get; }

    /// <summary>Permutation, [Count]: entry positions sorted by index, ascending within an index value.</summary>
    public DeviceBuffer Permutation { get; }

    /// <summary>Number of output rows S.</summary>
    public long DimSize { get; }

    /// <summary>Number of scattered entries N (the index's length).</summary>
    public long Count { get; }

    /// <summary>
    /// Builds the plan. An index value outside [0, dimSize) throws <see cref="GraphKernelsException"/> (InvalidGraph)
    /// naming the first bad position. Synchronises the stream.
    /// </summary>
    /// <param name="index">[N] of int or long: the output row of each entry.</param>
    /// <param name="dimSize">Number of output rows S.</param>
    /// <param name="stream">The stream (default: the device's default stream).</param>
    /// <returns>The plan.</returns>
    /// <exception cref="ArgumentException">A bad argument.</exception>
    /// <exception cref="GraphKernelsException">The native library refused the call.</exception>
    public static ScatterPlan Create(DeviceBuffer index, long dimSize, Stream? stream = null)
    {
        ArgumentNullException.ThrowIfNull(index);
        if (dimSize < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(dimSize), dimSize, $"dimSize = {dimSize} must not be negative.");
        }

        GraphDevice device = index.Device;
        bool is32 = CsrGraph.IndexTypeOf(index.ElementType, nameof(index)) == IndexType.Int32;
        DeviceBuffer? ptr = null, perm = null;
        DeviceBuffer<byte>? workspace = null;
        try
        {
            ptr = is32 ? device.Allocate<int>(dimSize + 1) : device.Allocate<long>(dimSize + 1);
            perm = is32 ? device.Allocate<int>(index.Length) : device.Allocate<long>(index.Length);
            workspace = device.Allocate<byte>(MessagePassing.CooToCsrWorkspaceBytes(device, dimSize));
            MessagePassing.CooToCsr(index, null, dimSize, 0, ptr, null, perm, workspace, stream);
            var plan = new ScatterPlan(ptr, perm, dimSize, index.Length);
            ptr = perm = null;
            return plan;
        }
        finally
        {
            workspace?.Dispose();
            ptr?.Dispose();
            perm?.Dispose();
        }
    }

    /// <summary>output[s, :] = reduce over the entries i with index[i] = s of source[i, :] (empty: 0, arg -1; ties to the lowest i).</summary>
    /// <param name="reduce">The reducer.</param>
    /// <param name="features">Feature width F.</param>
    /// <param name="source">[Count, F] (float, Half or ushort bf16 bits).</param>
    /// <param name="output">[DimSize, F], fully overwritten.</param>
    /// <param name="argOut">Optional for Max/Min: [DimSize, F] of the index type, the winning entry i (-1 if empty).</param>
    /// <param name="stream">The stream.</param>
    /// <exception cref="ArgumentException">A bad argument.</exception>
    /// <exception cref="GraphKernelsException">The native library refused the call.</exception>
    public void Reduce(Reduce reduce, long features, DeviceBuffer source, DeviceBuffer output, DeviceBuffer? argOut = null, Stream? stream = null)
        => MessagePassing.SegmentReduce(Ptr, reduce, features, source, output, argOut, Permutation, stream);

    /// <summary>Backward of <see cref="Reduce"/>: gradSource [Count, F] from gradOutput [DimSize, F] (Max/Min need the forward's argOut).</summary>
    /// <param name="reduce">The forward's reducer.</param>
    /// <param name="features">Feature width F.</param>
    /// <param name="gradOutput">[DimSize, F].</param>
    /// <param name="gradSource">[Count, F], fully overwritten.</param>
    /// <param name="argOut">The forward's argOut (Max/Min).</param>
    /// <param name="stream">The stream.</param>
    /// <exception cref="ArgumentException">A bad argument.</exception>
    /// <exception cref="GraphKernelsException">The native library refused the call.</exception>
    public void Backward(Reduce reduce, long features, DeviceBuffer gradOutput, DeviceBuffer gradSource, DeviceBuffer? argOut = null, Stream? stream = null)
        => MessagePassing.SegmentReduceBackward(Ptr, reduce, features, gradOutput, gradSource, argOut, Permutation, stream);

    /// <summary>Frees the plan's buffers.</summary>
    public void Dispose()
    {
        Ptr.Dispose();
        Permutation.Dispose();
    }
}
