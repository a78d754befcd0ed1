using System;
using System.Collections.Generic;
using GraphKernels.Interop;

namespace GraphKernels;

/// <summary>Width-specialised SpMM through the fused template.</summary>
public sealed unsafe partial class FusedMessage
{
    private static readonly int[] AotWidths = [16, 64];

    /// <summary>
    /// The widths the native libraries instantiate ahead of time for every built-in (F a template
    /// constant), so that the emulated device runs them too. copy_u and u_mul_e (the SpMM messages)
    /// have every width of <see cref="SpecializedWidths"/> ahead of time.
    /// </summary>
    public static IReadOnlyList<int> AheadOfTimeWidths => AotWidths;

    /// <summary>
    /// SpMM (<c>copy_u</c> / <c>u_mul_e</c> × sum/mean/max/min, no arg output) through the fused
    /// template with F a compile-time constant whenever <paramref name="features"/> is one of
    /// <see cref="SpecializedWidths"/>: on a CUDA device the same JIT-compiled kernel that
    /// <see cref="MessagePassing.SpMM(CsrGraph, Message, Reduce, long, DeviceBuffer{float}, DeviceBuffer{float}, DeviceBuffer{float}?, DeviceBuffer?, long, long, long, Stream?)"/>
    /// already picks automatically there; on the emulated device the ahead-of-time instantiation
    /// (which MessagePassing.SpMM does not use: this is how the CPU tests run the specialised
    /// variants). Otherwise, or where the specialised kernel cannot be had (no NVRTC, a compile
    /// failure, GRAPHKERNELS_JIT=0 on CUDA), it is exactly MessagePassing.SpMM. Same result either
    /// way (per-element CSR order in fp32, empty rows 0); contiguous x and y.
    /// </summary>
    /// <param name="graph">The CSR graph.</param>
    /// <param name="message">CopyU or UMulE.</param>
    /// <param name="reduce">The reducer.</param>
    /// <param name="features">F.</param>
    /// <param name="x">Source features [NumCols, F].</param>
    /// <param name="y">Output [NumRows, F].</param>
    /// <param name="edgeWeight">One weight per CSR position for UMulE; null for CopyU.</param>
    /// <param name="stream">The stream.</param>
    /// <returns>Whether the specialised fused kernel ran (false: the fatbin's SpMM did).</returns>
    public static bool SpMM(CsrGraph graph, Message message, Reduce reduce, long features, DeviceBuffer<float> x, DeviceBuffer<float> y,
        DeviceBuffer<float>? edgeWeight = null, Stream? stream = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        GraphDevice device = graph.Device;
        bool eligible = (uint)message <= (uint)Message.UMulE && (uint)reduce <= (uint)Reduce.Min
            && Array.IndexOf(Widths, (int)Math.Min(features, int.MaxValue)) >= 0
            && (device.Kind == DeviceKind.Emulated || (device.Kind == DeviceKind.Cuda && !SpecialisedSpmm.DisabledByEnvironment));
        FusedMessage? fused = eligible ? SpecialisedSpmm.Acquire(device, message, reduce, SpmmFactory) : null;
        if (fused is null)
        {
            MessagePassing.SpMM(graph, message, reduce, features, x, y, edgeWeight, stream: stream);
            return false;
        }

        if (message == Message.UMulE && edgeWeight is null)
        {
            throw new ArgumentNullException(nameof(edgeWeight), "Message.UMulE needs one edge weight per CSR position; edgeWeight is null.");
        }

        if (message == Message.CopyU && edgeWeight is not null)
        {
            throw new ArgumentException("Message.CopyU uses no edge weights; edgeWeight must be null.", nameof(edgeWeight));
        }

        fused.Run(graph, features, x, null, edgeWeight, message == Message.UMulE ? 1 : 0, y, stream);
        return true;
    }

    private static readonly Func<GraphDevice, Message, Reduce, FusedMessage> SpmmFactory = static (device, message, reduce) =>
        Create(device, message == Message.UMulE ? FusedBuiltin.UMulE : FusedBuiltin.CopyU, reduce);

    /// <summary>
    /// Launches this (JIT-compiled, copy_u or u_mul_e) kernel as SpMM over raw pointers with leading
    /// dimensions: the width-specialised variant for F in <see cref="SpecializedWidths"/>. For
    /// MessagePassing.SpMM, which has checked every argument and holds the leases. Allocates nothing.
    /// </summary>
    /// <exception cref="GraphKernelsException">cuLaunchKernel refused the launch.</exception>
    internal void LaunchSpmm(in GkCsr csr, long features, nint x, long ldx, nint w, nint y, long ldy, nint stream)
    {
        if (_module is null || csr.NumRows == 0)
        {
            throw new InvalidOperationException("LaunchSpmm needs a JIT-compiled kernel and at least one row.");
        }

        int slot = Array.IndexOf(Widths, (int)Math.Min(features, int.MaxValue)) + 1;
        int group = slot == 1 ? 16 : 32;   // kernels/fused_message.cuh: G = F for F = 16, else a warp
        nint function = _functions[((csr.IndexType == (int)IndexType.Int64 ? 1 : 0) * 6) + slot];
        long rowsPerBlock = BlockThreads / group;
        uint grid = (uint)Math.Min((csr.NumRows + rowsPerBlock - 1) / rowsPerBlock, 1L << 20);
        nint rowPtr = csr.RowPtr, colIdx = csr.ColIdx, dst = 0;
        long ldDst = 0, ldEdge = 1, rows = csr.NumRows, feat = features;
        void** args = stackalloc void*[12];
        args[0] = &rowPtr;
        args[1] = &colIdx;
        args[2] = &x;
        args[3] = &ldx;
        args[4] = &dst;
        args[5] = &ldDst;
        args[6] = &w;
        args[7] = &ldEdge;
        args[8] = &y;
        args[9] = &ldy;
        args[10] = &rows;
        args[11] = &feat;
        _module.Launch(function, grid, BlockThreads, stream, args);
    }
}
