using System;
using System.Collections.Generic;

namespace GraphKernels;

/// <summary>The force/stress family's part of the managed-backend seam (docs/force_stress.md, docs/ilgpu.md).</summary>
internal unsafe partial interface IManagedBackend
{
    /// <summary>
    /// ForceStressTopology.Validate (and Build's validation): the checks and messages of gk_force_stress_validate
    /// (status InvalidGraph for the topology, InvalidArgument for the cells), nothing written.
    /// </summary>
    void ForceStressValidate(ForceStressTopology topology, EdgeGeometry? geometry)
        => throw ManagedBackends.NotSupported("ForceStressTopology.Validate", Name);

    /// <summary>
    /// ForceStress.Readout (<paramref name="head"/> null: s_e / g_e from <paramref name="edgeQuantity"/>) and the
    /// fused-head readout (<paramref name="edgeQuantity"/> null, direct mode), after the op's argument checks and
    /// <see cref="ForceStressHostChecks"/>. <paramref name="workspace"/> is non-null exactly when stress is requested.
    /// </summary>
    void ForceStressReadout(ForceStressTopology topology, EdgeGeometry geometry, ForceStressMode mode, DeviceBuffer<float>? edgeQuantity,
        ForceStressHead? head, StressLayout layout, uint flags, DeviceBuffer<float> forces, DeviceBuffer<float>? stress,
        DeviceBuffer<float>? atomVirial, DeviceBuffer<byte>? workspace)
        => throw ManagedBackends.NotSupported("ForceStress.Readout", Name);

    /// <summary>
    /// ForceStress.Backward (<paramref name="head"/> null) and the fused-head backward (<paramref name="gradQuantity"/> is then
    /// gradients.Scalar, may be null), after the op's argument checks and <see cref="ForceStressHostChecks"/>.
    /// <paramref name="workspace"/> is non-null when the head's dL/dw or dL/db is requested and needs bytes.
    /// </summary>
    void ForceStressBackward(ForceStressTopology topology, EdgeGeometry geometry, ForceStressMode mode, DeviceBuffer<float>? edgeQuantity,
        ForceStressHead? head, StressLayout layout, uint flags, DeviceBuffer<float>? gradForces, DeviceBuffer<float>? gradStress,
        DeviceBuffer<float>? gradQuantity, DeviceBuffer<float>? gradFeatures, long gradLd, DeviceBuffer<float>? gradWeight,
        DeviceBuffer<float>? gradBias, DeviceBuffer<float>? gradEdgeVectors, DeviceBuffer<byte>? workspace)
        => throw ManagedBackends.NotSupported("ForceStress.Backward", Name);
}

/// <summary>
/// The host-side checks of native/src/force_stress.cu that the shared C# argument checks do not already make
/// (workspace size, output overlaps, the workspace-size formulas), for managed backends: the same status and
/// the same sentence as the native library, in the same order. Buffers of a managed backend are whole
/// allocations (no views, no WrapBuffer), so two regions overlap exactly when they are the same allocation
/// and both have bytes (gk::overlaps with equal base addresses).
/// </summary>
internal static class ForceStressHostChecks
{
    private const long HeadMaxBlocks = 1024;   // kFsHeadMaxBlocks
    private const long EdgeBlockThreads = 256;  // kFsEdgeBlockThreads

    /// <summary>gk_force_stress_workspace_size: 9 doubles per atom, or per structure with GK_FS_FAST.</summary>
    public static long WorkspaceBytes(ForceStressTopology t, uint flags)
        => 9 * ((flags & 4u) != 0 ? t.NumGraphs : t.NumAtoms) * sizeof(double);

    /// <summary>fs_head_blocks(E): blocks (and workspace rows) of the head backward, a function of E only.</summary>
    public static long HeadBlocks(long numEdges)
    {
        long tiles = (numEdges + EdgeBlockThreads - 1) / EdgeBlockThreads;
        return Math.Min(tiles, HeadMaxBlocks);
    }

    /// <summary>gk_force_stress_backward_head_workspace_size, with its channel check.</summary>
    public static long HeadWorkspaceBytes(ForceStressTopology t, long channels)
    {
        const string op = "gk_force_stress_backward_head_workspace_size";
        if (channels < 1)
        {
            throw new GraphKernelsException(GkStatus.InvalidArgument, $"{op}: head->channels = {channels}, must be >= 1");
        }

        if (channels > (1L << 40))
        {
            throw new GraphKernelsException(GkStatus.IndexOverflow, $"{op}: head->channels = {channels} is too large");
        }

        return HeadBlocks(t.NumEdges) * (channels + 1) * sizeof(double);
    }

    private readonly record struct Region(string Name, DeviceBuffer? Buffer, long Bytes);

    private static long HeadFeatureBytes(ForceStressHead? head, long e)
        => head is null || e == 0 ? 0 : (((e - 1) * head.LeadingDimension) + head.Channels) * 4;

    private static void AddInputs(List<Region> inputs, ForceStressMode mode, DeviceBuffer<float>? edgeQuantity, ForceStressHead? head, long e)
    {
        inputs.Add(new Region("edge_quantity", edgeQuantity, (mode == ForceStressMode.Direct ? e : 3 * e) * 4));
        inputs.Add(new Region("head->features", head?.Features, HeadFeatureBytes(head, e)));
        inputs.Add(new Region("head->weight", head?.Weight, (head?.Channels ?? 0) * 4));
        inputs.Add(new Region("head->bias", head?.Bias, 4));
    }

    private static void AddGeometry(List<Region> inputs, EdgeGeometry g, long n, long e, long b)
    {
        inputs.Add(new Region("geometry->edge_vec", g.EdgeVectors, 3 * e * 4));
        inputs.Add(new Region("geometry->positions", g.Positions, 3 * n * 4));
        inputs.Add(new Region("geometry->shifts", g.Shifts, 3 * e * 4));
        inputs.Add(new Region("geometry->cell", g.Cell, 9 * b * 4));
        inputs.Add(new Region("geometry->periodic", g.Periodic, b));
    }

    private static bool Overlaps(in Region a, in Region b)
        => a.Buffer is not null && b.Buffer is not null && a.Bytes > 0 && b.Bytes > 0
           && ReferenceEquals(a.Buffer.MemoryHandle.ManagedAllocation, b.Buffer.MemoryHandle.ManagedAllocation);

    private static void CheckOverlaps(string op, List<Region> inputs, Region[] outputs)
    {
        for (int o = 0; o < outputs.Length; o++)
        {
            foreach (var input in inputs)
            {
                if (Overlaps(outputs[o], input))
                {
                    throw new GraphKernelsException(GkStatus.InvalidArgument, $"{op}: {outputs[o].Name} overlaps {input.Name}");
                }
            }

            for (int q = o + 1; q < outputs.Length; q++)
            {
                if (Overlaps(outputs[o], outputs[q]))
                {
                    throw new GraphKernelsException(GkStatus.InvalidArgument, $"{op}: {outputs[o].Name} overlaps {outputs[q].Name}");
                }
            }
        }
    }

    /// <summary>readout_impl's workspace and overlap checks (gk_force_stress_readout / _readout_head).</summary>
    public static void Readout(ForceStressTopology t, EdgeGeometry geometry, ForceStressMode mode, DeviceBuffer<float>? edgeQuantity,
        ForceStressHead? head, StressLayout layout, uint flags, DeviceBuffer<float> forces, DeviceBuffer<float>? stress,
        DeviceBuffer<float>? atomVirial, DeviceBuffer<byte>? workspace)
    {
        string op = head is null ? "gk_force_stress_readout" : "gk_force_stress_readout_head";
        long n = t.NumAtoms, e = t.NumEdges, b = t.NumGraphs;
        int width = layout == StressLayout.Tensor ? 9 : 6;
        long need = stress is not null ? WorkspaceBytes(t, flags) : 0;
        if (need > 0)
        {
            if (workspace is null)
            {
                throw new GraphKernelsException(GkStatus.Workspace, $"{op}: workspace is NULL (stress needs {need} bytes; see gk_force_stress_workspace_size)");
            }

            if (workspace.Length < need)
            {
                throw new GraphKernelsException(GkStatus.Workspace, $"{op}: workspace_bytes = {workspace.Length}, needs {need}");
            }
        }

        var inputs = new List<Region>(12);
        AddInputs(inputs, mode, head is null ? edgeQuantity : null, head, e);
        AddGeometry(inputs, geometry, n, e, b);
        CheckOverlaps(op, inputs,
        [
            new Region("forces", forces, 3 * n * 4),
            new Region("stress", stress, width * b * 4),
            new Region("atom_virial", atomVirial, width * n * 4),
            new Region("workspace", need > 0 ? workspace : null, need),
        ]);
    }

    /// <summary>backward_impl's workspace and overlap checks (gk_force_stress_backward / _backward_head).</summary>
    public static void Backward(ForceStressTopology t, EdgeGeometry geometry, ForceStressMode mode, DeviceBuffer<float>? edgeQuantity,
        ForceStressHead? head, StressLayout layout, DeviceBuffer<float>? gradForces, DeviceBuffer<float>? gradStress,
        DeviceBuffer<float>? gradQuantity, DeviceBuffer<float>? gradFeatures, long gradLd, DeviceBuffer<float>? gradWeight,
        DeviceBuffer<float>? gradBias, DeviceBuffer<float>? gradEdgeVectors, DeviceBuffer<byte>? workspace)
    {
        string op = head is null ? "gk_force_stress_backward" : "gk_force_stress_backward_head";
        long n = t.NumAtoms, e = t.NumEdges, b = t.NumGraphs;
        int width = layout == StressLayout.Tensor ? 9 : 6;
        long need = 0;
        if (head is not null && (gradWeight is not null || gradBias is not null))
        {
            need = HeadBlocks(e) * (head.Channels + 1) * sizeof(double);
            if (need > 0)
            {
                if (workspace is null)
                {
                    throw new GraphKernelsException(GkStatus.Workspace, $"{op}: workspace is NULL (dL/dw and dL/db need {need} bytes; see gk_force_stress_backward_head_workspace_size)");
                }

                if (workspace.Length < need)
                {
                    throw new GraphKernelsException(GkStatus.Workspace, $"{op}: workspace_bytes = {workspace.Length}, needs {need}");
                }
            }
        }

        var inputs = new List<Region>(14);
        AddInputs(inputs, mode, head is null ? edgeQuantity : null, head, e);
        inputs.Add(new Region("grad_forces", gradForces, 3 * n * 4));
        inputs.Add(new Region("grad_stress", gradStress, width * b * 4));
        AddGeometry(inputs, geometry, n, e, b);
        long gradHBytes = gradFeatures is not null && e > 0 ? (((e - 1) * gradLd) + head!.Channels) * 4 : 0;
        CheckOverlaps(op, inputs,
        [
            new Region(head is null ? "grad_quantity" : "grads->grad_scalar", gradQuantity, (mode == ForceStressMode.Direct ? e : 3 * e) * 4),
            new Region("grad_edge_vec", gradEdgeVectors, 3 * e * 4),
            new Region("grads->grad_features", gradFeatures, gradHBytes),
            new Region("grads->grad_weight", gradWeight, (head?.Channels ?? 0) * 4),
            new Region("grads->grad_bias", gradBias, 4),
            new Region("workspace", need > 0 ? workspace : null, need),
        ]);
    }
}
