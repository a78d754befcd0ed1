using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;

namespace GraphKernels;

/// <summary>Width-specialised SpMM through the fused template.</summary>
public sealed partial class FusedMessage
{
    private static readonly int[] AotWidths = [16, 64];
    private static readonly ConditionalWeakTable<GraphDevice, FusedMessage?[]> SpmmKernels = new();
    private static readonly object SpmmGate = new();

    /// <summary>The widths the native libraries instantiate ahead of time (F a template constant), so that the emulated device runs them too.</summary>
    public static IReadOnlyList<int> AheadOfTimeWidths => AotWidths;

    /// <summary>
    /// SpMM (<c>copy_u</c> / <c>u_mul_e</c> × sum/mean/max/min, no arg output) that picks the
    /// width-specialised fused kernel automatically: on a CUDA device with NVRTC when
    /// <paramref name="features"/> is one of <see cref="SpecializedWidths"/> (JIT-compiled once per
    /// device, message and reducer, then cached for the device's lifetime); on the emulated device
    /// when it is one of <see cref="AheadOfTimeWidths"/>. Otherwise, or where NVRTC is missing, it is
    /// exactly <see cref="MessagePassing.SpMM(CsrGraph, Message, Reduce, long, DeviceBuffer{float}, DeviceBuffer{float}, DeviceBuffer{float}?, DeviceBuffer?, long, long, long, Stream?)"/>.
    /// Same semantics either way (per-element CSR order in fp32, empty rows 0); contiguous x and y.
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
        FusedMessage? fused = SpecialisedFor(graph.Device, message, reduce, features);
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

    private static FusedMessage? SpecialisedFor(GraphDevice device, Message message, Reduce reduce, long features)
    {
        if ((uint)message > (uint)Message.UMulE || (uint)reduce > (uint)Reduce.Min)
        {
            return null;   // MessagePassing.SpMM reports the bad value
        }

        if (device.Managed is not null)
        {
            return null;   // no fused kernels on a managed backend (ILGPU): MessagePassing.SpMM runs there
        }

        bool cuda = device.Kind == DeviceKind.Cuda;
        if (Array.IndexOf(cuda ? Widths : AotWidths, (int)Math.Min(features, int.MaxValue)) < 0)
        {
            return null;
        }

        int slot = ((int)message * 4) + (int)reduce;
        if (SpmmKernels.TryGetValue(device, out var kernels) && kernels[slot] is { } ready)
        {
            return ready;
        }

        lock (SpmmGate)
        {
            kernels = SpmmKernels.GetValue(device, static _ => new FusedMessage?[8]);

            if (kernels[slot] is null)
            {
                if (cuda && !Jit.JitCompiler.TryGetDefault(out _, out _))
                {
                    return null;   // no NVRTC: the fatbin's SpMM
                }

                kernels[slot] = Create(device, message == Message.UMulE ? FusedBuiltin.UMulE : FusedBuiltin.CopyU, reduce);
            }

            return kernels[slot];
        }
    }
}
