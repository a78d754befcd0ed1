using System;
using GraphKernels.Interop;

namespace GraphKernels;

/// <summary>
/// The fused readout head of direct mode (<c>gk_fs_head</c>): <c>s_e = w · h_e + b</c> from edge features
/// <c>h</c> [E, C] (row e at <c>e · LeadingDimension</c>, in the topology's edge order), computed inside the
/// readout so <c>s_e</c> is never written to memory. Holds references to the buffers, owns nothing.
/// </summary>
public sealed class ForceStressHead
{
    /// <summary>Describes a head.</summary>
    /// <param name="features">h, [E, leadingDimension] fp32 (only the first <paramref name="channels"/> columns are read).</param>
    /// <param name="weight">w, at least <paramref name="channels"/> floats.</param>
    /// <param name="channels">C ≥ 1, the width of h_e and w.</param>
    /// <param name="bias">A one-element buffer holding b, or null for b = 0.</param>
    /// <param name="leadingDimension">Floats between consecutive rows of <paramref name="features"/>; 0 means C.</param>
    /// <exception cref="ArgumentNullException">features or weight is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">channels &lt; 1 or leadingDimension &lt; channels.</exception>
    /// <exception cref="ArgumentException">weight or bias is too short, or the buffers are on different devices.</exception>
    public ForceStressHead(DeviceBuffer<float> features, DeviceBuffer<float> weight, long channels, DeviceBuffer<float>? bias = null,
        long leadingDimension = 0)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(weight);
        if (channels < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(channels), channels, $"channels = {channels}: the head needs C >= 1 (the width of h_e and w).");
        }

        long ld = leadingDimension == 0 ? channels : leadingDimension;
        if (ld < channels)
        {
            throw new ArgumentOutOfRangeException(nameof(leadingDimension), leadingDimension,
                $"leadingDimension = {leadingDimension} is less than channels = {channels} (row e of h starts at e x leadingDimension).");
        }

        if (weight.Length < channels)
        {
            throw new ArgumentException($"weight has {weight.Length} elements but channels = {channels}.", nameof(weight));
        }

        if (bias is not null && bias.Length < 1)
        {
            throw new ArgumentException("bias is empty; it must hold b (one float), or pass null for b = 0.", nameof(bias));
        }

        if (!ReferenceEquals(weight.DeviceCore, features.DeviceCore) || (bias is not null && !ReferenceEquals(bias.DeviceCore, features.DeviceCore)))
        {
            throw new ArgumentException("features, weight and bias must be on the same device instance.", nameof(weight));
        }

        Features = features;
        Weight = weight;
        Bias = bias;
        Channels = channels;
        LeadingDimension = ld;
    }

    /// <summary>h, [E, <see cref="LeadingDimension"/>].</summary>
    public DeviceBuffer<float> Features { get; }

    /// <summary>w, [C].</summary>
    public DeviceBuffer<float> Weight { get; }

    /// <summary>b as a one-element buffer, or null (b = 0).</summary>
    public DeviceBuffer<float>? Bias { get; }

    /// <summary>C, the width of h_e and w.</summary>
    public long Channels { get; }

    /// <summary>Floats between consecutive rows of <see cref="Features"/> (≥ C).</summary>
    public long LeadingDimension { get; }
}

/// <summary>
/// Outputs of the head's backward (<c>gk_fs_head_grad</c>); each may be null (not computed). Every given
/// buffer is overwritten.
/// </summary>
public sealed class ForceStressHeadGradients
{
    /// <summary>dL/ds_e, [E], or null.</summary>
    public DeviceBuffer<float>? Scalar { get; init; }

    /// <summary>dL/dh = dL/ds_e · w, [E, <see cref="FeaturesLeadingDimension"/>] (columns ≥ C untouched), or null.</summary>
    public DeviceBuffer<float>? Features { get; init; }

    /// <summary>Floats between rows of <see cref="Features"/>; 0 means the head's channel count C.</summary>
    public long FeaturesLeadingDimension { get; init; }

    /// <summary>dL/dw = Σ_e dL/ds_e h_e, [C] (deterministic two-phase reduction), or null.</summary>
    public DeviceBuffer<float>? Weight { get; init; }

    /// <summary>dL/db = Σ_e dL/ds_e, one float, or null.</summary>
    public DeviceBuffer<float>? Bias { get; init; }
}

/// <content>The fused readout head (<see cref="ForceStressHead"/>): forward and backward.</content>
public static unsafe partial class ForceStress
{
    /// <summary>
    /// Bytes of workspace <see cref="Backward(ForceStressTopology, EdgeGeometry, ForceStressHead, DeviceBuffer{float}?, DeviceBuffer{float}?, ForceStressHeadGradients, ForceStressOptions, DeviceBuffer{float}?, DeviceBuffer{byte}?, Stream?)"/>
    /// needs for dL/dw and dL/db: min(⌈E/256⌉, 1024) × (C + 1) doubles.
    /// </summary>
    /// <param name="topology">The batch's topology.</param>
    /// <param name="head">The head.</param>
    /// <returns>The bytes (0 when there are no edges).</returns>
    public static long HeadBackwardWorkspaceBytes(ForceStressTopology topology, ForceStressHead head)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(head);
        GkFsTopology t = topology.ToNative();
        if (topology.Device.Managed is not null)
        {
            return ForceStressHostChecks.HeadWorkspaceBytes(topology, head.Channels);
        }

        GkFsHead h = default;
        h.Channels = head.Channels;
        h.Ld = head.LeadingDimension;
        nuint bytes;
        topology.Device.Api.Check(topology.Device.Api.gk_force_stress_backward_head_workspace_size(&t, &h, &bytes),
            "gk_force_stress_backward_head_workspace_size");
        return (long)bytes;
    }

    /// <summary>
    /// <see cref="Readout(ForceStressTopology, EdgeGeometry, DeviceBuffer{float}, DeviceBuffer{float}, DeviceBuffer{float}?, ForceStressOptions, DeviceBuffer{float}?, DeviceBuffer{byte}?, Stream?)"/>
    /// in direct mode with <c>s_e = w · h_e + b</c> computed in the kernel from <paramref name="head"/> (never
    /// written). <c>options.Mode</c> must be <see cref="ForceStressMode.Direct"/>; everything else (layout, output
    /// kind, fast mode, per-atom virial, workspace) is as for the plain readout.
    /// </summary>
    /// <param name="topology">The batch's neighbour-list topology.</param>
    /// <param name="geometry">Where r_e comes from.</param>
    /// <param name="head">The head: edge features, weight, bias.</param>
    /// <param name="forces">Output [N, 3], fully overwritten.</param>
    /// <param name="stress">Output [B, 9 or 6], or null for forces only.</param>
    /// <param name="options">Mode (Direct), layout and output kind.</param>
    /// <param name="atomVirial">Optional output [N, 9 or 6].</param>
    /// <param name="workspace">Workspace of at least <see cref="ForceStressTopology.WorkspaceBytesForOptions"/> bytes, or null to use the topology's own.</param>
    /// <param name="stream">The stream (default: the device's default stream).</param>
    /// <exception cref="ArgumentException">A length, device or option mismatch (ParamName says which argument).</exception>
    /// <exception cref="ObjectDisposedException">The topology or a buffer has been disposed.</exception>
    /// <exception cref="GraphKernelsException">The native library refused the call (e.g. an output overlaps the head's features).</exception>
    public static void Readout(ForceStressTopology topology, EdgeGeometry geometry, ForceStressHead head,
        DeviceBuffer<float> forces, DeviceBuffer<float>? stress = null, ForceStressOptions options = default,
        DeviceBuffer<float>? atomVirial = null, DeviceBuffer<byte>? workspace = null, Stream? stream = null)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(geometry);
        ArgumentNullException.ThrowIfNull(head);
        ArgumentNullException.ThrowIfNull(forces);
        CheckOptions(options);
        CheckHeadMode(options);

        GraphDevice device = topology.Device;
        GkFsTopology t = topology.ToNative();
        long n = topology.NumAtoms, e = topology.NumEdges, b = topology.NumGraphs;
        int width = options.TensorWidth;
        GkFsHead h = NativeHead(head, device, e);
        Check(forces, device, 3 * n, nameof(forces), "NumAtoms x 3");
        if (stress is not null)
        {
            Check(stress, device, width * b, nameof(stress), width == 9 ? "NumGraphs x 9" : "NumGraphs x 6");
        }

        if (atomVirial is not null)
        {
            Check(atomVirial, device, width * n, nameof(atomVirial), width == 9 ? "NumAtoms x 9" : "NumAtoms x 6");
        }

        GkFsGeometry g = NativeGeometry(geometry, device, n, e, b, stress is not null && options.Output != StressOutput.Virial);
        DeviceBuffer<byte>? ws = null;
        if (stress is not null)
        {
            ws = workspace ?? topology.OwnWorkspace(options.Flags);
            if (!ReferenceEquals(ws.DeviceCore, device))
            {
                ThrowArg(nameof(workspace), "workspace belongs to another device instance than the topology.");
            }
        }

        nint ps = StreamHandle(stream, device);
        var leases = default(BufferLeases);
        try
        {
            leases.Add(head.Features);
            leases.Add(head.Weight);
            leases.Add(head.Bias);
            leases.Add(forces);
            leases.Add(stress);
            leases.Add(atomVirial);
            leases.Add(ws);
            leases.Add(geometry.EdgeVectors);
            leases.Add(geometry.Positions);
            leases.Add(geometry.Shifts);
            leases.Add(geometry.Cell);
            leases.Add(geometry.Periodic);
            if (device.Managed is { } managed)
            {
                ForceStressHostChecks.Readout(topology, geometry, ForceStressMode.Direct, null, head, options.Layout, options.Flags, forces, stress, atomVirial, ws);
                managed.ForceStressReadout(topology, geometry, ForceStressMode.Direct, null, head, options.Layout, options.Flags, forces, stress, atomVirial, ws);
                return;
            }

            device.EnsureContext();
            int status = device.Api.gk_force_stress_readout_head(&t, &g, &h, (int)options.Layout, options.Flags,
                (float*)forces.PointerChecked(nameof(forces)),
                stress is null ? null : (float*)stress.PointerChecked(nameof(stress)),
                atomVirial is null ? null : (float*)atomVirial.PointerChecked(nameof(atomVirial)),
                ws is null ? null : (void*)ws.PointerChecked(nameof(workspace)), ws is null ? 0 : (nuint)ws.Length, (void*)ps);
            GC.KeepAlive(topology);
            if (status != 0)
            {
                device.Api.ThrowStatus(status, "gk_force_stress_readout_head");
            }
        }
        finally
        {
            leases.Dispose();
        }
    }

    /// <summary>
    /// Backward of the head readout (first order): with <c>d_e = dL/ds_e = u_e · r̂_e</c> as in
    /// <see cref="Backward(ForceStressTopology, EdgeGeometry, DeviceBuffer{float}, DeviceBuffer{float}?, DeviceBuffer{float}?, DeviceBuffer{float}, ForceStressOptions, DeviceBuffer{float}?, Stream?)"/>
    /// in direct mode (the head's s_e), writes the requested <paramref name="gradients"/>: <c>dL/ds_e</c>,
    /// <c>dL/dh_e = d_e w</c> (per-edge gather), <c>dL/dw = Σ_e d_e h_e</c> and <c>dL/db = Σ_e d_e</c> (two-phase
    /// fixed-order fp64 reduction through the workspace, no atomics: bitwise reproducible), and optionally
    /// <c>dL/dr_e</c> including the direct-mode term <c>(s_e/|r_e|)(u_e − (u_e·r̂_e) r̂_e)</c>. Stream-ordered.
    /// </summary>
    /// <param name="topology">The batch's neighbour-list topology.</param>
    /// <param name="geometry">Where r_e comes from (as in the forward).</param>
    /// <param name="head">The forward's head.</param>
    /// <param name="gradForces">dL/dF [N, 3], or null (zero).</param>
    /// <param name="gradStress">dL/d(stress output) [B, 9 or 6] in the forward's layout, or null (zero).</param>
    /// <param name="gradients">The outputs wanted.</param>
    /// <param name="options">The forward's options (Direct; Fast must be false).</param>
    /// <param name="gradEdgeVectors">Optional output dL/dr_e [E, 3].</param>
    /// <param name="workspace">Workspace of at least <see cref="HeadBackwardWorkspaceBytes"/> bytes when dL/dw or dL/db is wanted, or null to use the topology's own.</param>
    /// <param name="stream">The stream (default: the device's default stream).</param>
    /// <exception cref="ArgumentException">A length, device or option mismatch (ParamName says which argument).</exception>
    /// <exception cref="ObjectDisposedException">The topology or a buffer has been disposed.</exception>
    /// <exception cref="GraphKernelsException">The native library refused the call (e.g. an output overlaps an input).</exception>
    public static void Backward(ForceStressTopology topology, EdgeGeometry geometry, ForceStressHead head,
        DeviceBuffer<float>? gradForces, DeviceBuffer<float>? gradStress, ForceStressHeadGradients gradients,
        ForceStressOptions options = default, DeviceBuffer<float>? gradEdgeVectors = null, DeviceBuffer<byte>? workspace = null,
        Stream? stream = null)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(geometry);
        ArgumentNullException.ThrowIfNull(head);
        ArgumentNullException.ThrowIfNull(gradients);
        CheckOptions(options);
        CheckHeadMode(options);
        if (options.Fast)
        {
            ThrowArg(nameof(options), "options.Fast selects the forward's reduction; the backward has none of its own to choose: pass the options without it.");
        }

        GraphDevice device = topology.Device;
        GkFsTopology t = topology.ToNative();
        long n = topology.NumAtoms, e = topology.NumEdges, b = topology.NumGraphs;
        int width = options.TensorWidth;
        GkFsHead h = NativeHead(head, device, e);
        if (gradForces is not null)
        {
            Check(gradForces, device, 3 * n, nameof(gradForces), "NumAtoms x 3");
        }

        if (gradStress is not null)
        {
            Check(gradStress, device, width * b, nameof(gradStress), width == 9 ? "NumGraphs x 9" : "NumGraphs x 6");
        }

        if (gradEdgeVectors is not null)
        {
            Check(gradEdgeVectors, device, 3 * e, nameof(gradEdgeVectors), "NumEdges x 3");
        }

        GkFsHeadGrad hg = default;
        long gld = gradients.FeaturesLeadingDimension == 0 ? head.Channels : gradients.FeaturesLeadingDimension;
        if (gradients.Scalar is not null)
        {
            Check(gradients.Scalar, device, e, nameof(gradients), "NumEdges (gradients.Scalar)");
            hg.GradScalar = gradients.Scalar.PointerChecked(nameof(gradients));
        }

        if (gradients.Features is not null)
        {
            if (gld < head.Channels)
            {
                ThrowArg(nameof(gradients), $"gradients.FeaturesLeadingDimension = {gradients.FeaturesLeadingDimension} is less than head.Channels = {head.Channels}.");
            }

            Check(gradients.Features, device, e == 0 ? 0 : ((e - 1) * gld) + head.Channels, nameof(gradients), "(NumEdges - 1) x gradients.FeaturesLeadingDimension + head.Channels (gradients.Features)");
            hg.GradFeatures = gradients.Features.PointerChecked(nameof(gradients));
            hg.GradLd = gld;
        }

        if (gradients.Weight is not null)
        {
            Check(gradients.Weight, device, head.Channels, nameof(gradients), "head.Channels (gradients.Weight)");
            hg.GradWeight = gradients.Weight.PointerChecked(nameof(gradients));
        }

        if (gradients.Bias is not null)
        {
            Check(gradients.Bias, device, 1, nameof(gradients), "1 (gradients.Bias)");
            hg.GradBias = gradients.Bias.PointerChecked(nameof(gradients));
        }

        GkFsGeometry g = NativeGeometry(geometry, device, n, e, b, gradStress is not null && options.Output != StressOutput.Virial);
        DeviceBuffer<byte>? ws = null;
        if (gradients.Weight is not null || gradients.Bias is not null)
        {
            ws = workspace ?? topology.OwnWorkspaceBytes(HeadBackwardWorkspaceBytes(topology, head));
            if (!ReferenceEquals(ws.DeviceCore, device))
            {
                ThrowArg(nameof(workspace), "workspace belongs to another device instance than the topology.");
            }
        }

        nint ps = StreamHandle(stream, device);
        var inputs = default(BufferLeases);
        var outputs = default(BufferLeases);
        try
        {
            inputs.Add(head.Features);
            inputs.Add(head.Weight);
            inputs.Add(head.Bias);
            inputs.Add(gradForces);
            inputs.Add(gradStress);
            inputs.Add(geometry.EdgeVectors);
            inputs.Add(geometry.Positions);
            inputs.Add(geometry.Shifts);
            inputs.Add(geometry.Cell);
            inputs.Add(geometry.Periodic);
            outputs.Add(gradients.Scalar);
            outputs.Add(gradients.Features);
            outputs.Add(gradients.Weight);
            outputs.Add(gradients.Bias);
            outputs.Add(gradEdgeVectors);
            outputs.Add(ws);
            if (device.Managed is { } managed)
            {
                ForceStressHostChecks.Backward(topology, geometry, ForceStressMode.Direct, null, head, options.Layout, gradForces, gradStress,
                    gradients.Scalar, gradients.Features, gld, gradients.Weight, gradients.Bias, gradEdgeVectors, ws);
                managed.ForceStressBackward(topology, geometry, ForceStressMode.Direct, null, head, options.Layout, options.Flags, gradForces, gradStress,
                    gradients.Scalar, gradients.Features, gld, gradients.Weight, gradients.Bias, gradEdgeVectors, ws);
                return;
            }

            device.EnsureContext();
            int status = device.Api.gk_force_stress_backward_head(&t, &g, &h, (int)options.Layout, options.Flags,
                gradForces is null ? null : (float*)gradForces.PointerChecked(nameof(gradForces)),
                gradStress is null ? null : (float*)gradStress.PointerChecked(nameof(gradStress)), &hg,
                gradEdgeVectors is null ? null : (float*)gradEdgeVectors.PointerChecked(nameof(gradEdgeVectors)),
                ws is null ? null : (void*)ws.PointerChecked(nameof(workspace)), ws is null ? 0 : (nuint)ws.Length, (void*)ps);
            GC.KeepAlive(topology);
            if (status != 0)
            {
                device.Api.ThrowStatus(status, "gk_force_stress_backward_head");
            }
        }
        finally
        {
            outputs.Dispose();
            inputs.Dispose();
        }
    }

    private static void CheckHeadMode(in ForceStressOptions options)
    {
        if (options.Mode != ForceStressMode.Direct)
        {
            ThrowArg(nameof(options), $"options.Mode = {options.Mode}: a head computes the scalar s_e, which is direct mode; set options.Mode = ForceStressMode.Direct.");
        }
    }

    private static GkFsHead NativeHead(ForceStressHead head, GraphDevice device, long e)
    {
        long needed = e == 0 ? 0 : ((e - 1) * head.LeadingDimension) + head.Channels;
        Check(head.Features, device, needed, nameof(head), "(NumEdges - 1) x head.LeadingDimension + head.Channels (head.Features)");
        Check(head.Weight, device, head.Channels, nameof(head), "head.Channels (head.Weight)");
        GkFsHead h = default;
        h.Features = head.Features.PointerChecked(nameof(head));
        h.Weight = head.Weight.PointerChecked(nameof(head));
        if (head.Bias is not null)
        {
            Check(head.Bias, device, 1, nameof(head), "1 (head.Bias)");
            h.Bias = head.Bias.PointerChecked(nameof(head));
        }

        h.Channels = head.Channels;
        h.Ld = head.LeadingDimension;
        return h;
    }
}
