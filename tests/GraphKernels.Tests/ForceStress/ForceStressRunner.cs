namespace GraphKernels.Tests.ForceStressTests;

/// <summary>How a batch is fed to the readout.</summary>
public enum GeometrySource
{
    EdgeVectors,
    Positions,
}

/// <summary>Uploads an <see cref="AtomicBatch"/> and runs the readout through the public C# API.</summary>
public sealed class ForceStressRunner : IDisposable
{
    private readonly List<IDisposable> owned = new();

    public ForceStressRunner(GraphDevice device, AtomicBatch batch, IndexType index = IndexType.Int32)
    {
        Device = device;
        Batch = batch;
        Topology = ForceStressTopology.Build(device, batch.GraphAtomPtr.ToArray(), batch.Edges.Select(e => e.Src).ToArray(),
            batch.Edges.Select(e => e.Dst).ToArray(), index);
        owned.Add(Topology);
    }

    public GraphDevice Device { get; }

    public AtomicBatch Batch { get; }

    public ForceStressTopology Topology { get; }

    public sealed record Output(float[] Forces, float[] Stress, float[]? AtomVirial);

    private DeviceBuffer<T> Up<T>(T[] host)
        where T : unmanaged
    {
        var buf = Device.Upload<T>(host);
        owned.Add(buf);
        return buf;
    }

    /// <summary>Edge vectors as the kernel would form them from fp32 positions (same ops), in the batch's order.</summary>
    public float[] EdgeVectorsF32()
    {
        var r = new float[3 * Batch.NumEdges];
        for (int e = 0; e < Batch.NumEdges; e++)
        {
            var edge = Batch.Edges[e];
            int b = Batch.GraphOf(edge.Src);
            for (int k = 0; k < 3; k++)
            {
                float sh = MathF.FusedMultiplyAdd(edge.Sz, (float)Batch.Cells[(9 * b) + 6 + k],
                    MathF.FusedMultiplyAdd(edge.Sy, (float)Batch.Cells[(9 * b) + 3 + k], edge.Sx * (float)Batch.Cells[(9 * b) + k]));
                r[(3 * e) + k] = ((float)Batch.Positions[(3 * edge.Dst) + k] - (float)Batch.Positions[(3 * edge.Src) + k]) + sh;
            }
        }

        return r;
    }

    public EdgeGeometry Geometry(GeometrySource source, float[]? cellOverride = null)
    {
        var cell = Up(cellOverride ?? Batch.Cells.Select(v => (float)v).ToArray());
        var periodic = Up(Batch.Periodic.Select(p => p ? (byte)1 : (byte)0).ToArray());
        if (source == GeometrySource.EdgeVectors)
        {
            return EdgeGeometry.FromEdgeVectors(Up(Topology.SortEdgeData<float>(EdgeVectorsF32(), 3)), cell, periodic);
        }

        var shifts = Batch.Edges.SelectMany(e => new float[] { e.Sx, e.Sy, e.Sz }).ToArray();
        return EdgeGeometry.FromPositions(Up(Batch.Positions.Select(v => (float)v).ToArray()), Up(Topology.SortEdgeData<float>(shifts, 3)), cell, periodic);
    }

    /// <summary>Runs the readout; quantity is in the batch's edge order ([E,3] or [E]).</summary>
    public Output Run(float[] quantity, ForceStressOptions options, GeometrySource source = GeometrySource.EdgeVectors,
        bool atomVirial = false, EdgeGeometry? geometry = null)
    {
        int width = options.Mode == ForceStressMode.Direct ? 1 : 3;
        using var q = Device.Upload<float>(Topology.SortEdgeData<float>(quantity, width));
        using var forces = Device.Allocate<float>(3L * Batch.NumAtoms);
        using var stress = Device.Allocate<float>((long)options.TensorWidth * Batch.NumGraphs);
        using var aw = atomVirial ? Device.Allocate<float>((long)options.TensorWidth * Batch.NumAtoms) : null;
        forces.Fill(float.NaN);
        stress.Fill(float.NaN);
        aw?.Fill(float.NaN);
        ForceStress.Readout(Topology, geometry ?? Geometry(source), q, forces, stress, options, aw);
        Device.Synchronize();
        return new Output(forces.ToArray(), stress.ToArray(), aw?.ToArray());
    }

    public void Dispose()
    {
        for (int i = owned.Count - 1; i >= 0; i--) owned[i].Dispose();
    }
}
