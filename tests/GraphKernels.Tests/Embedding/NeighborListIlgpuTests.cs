using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Embedding;

/// <summary>
/// The ILGPU neighbour list (brute-force search on the ILGPU CPU accelerator) against the emulated device,
/// BIT FOR BIT: src_ptr, edges, shifts, dst_perm and the fp32 edge vectors. Bitwise by design: both decide
/// every candidate with the same double test r = d + (s0 L0 + s1 L1 + s2 L2) evaluated in the same order from
/// the same fp32 inputs and round r once to fp32 (no FMA contraction in .NET's JIT or in the x86-64 host build
/// of the emulation); the candidate sets differ (the emulated device uses its cell list on the large
/// structures of the batch) but both are supersets, so the edge set and its documented order are the same.
/// Small batches (a mixed batch of 1264 atoms at most) keep the ILGPU CPU accelerator's brute force short.
/// </summary>
[TestFixture]
[Category("Embedding")]
[Category("Ilgpu")]
[NonParallelizable]
public sealed class NeighborListIlgpuTests
{
    private static NeighborBatch Mixed()
    {
        // A 20 Å cube of 300 atoms (cell list on the emulated device, rule: 4 x 4 x 4 bins at cutoff 4.5),
        // the small triclinic / molecule / empty / unwrapped batch of NeighborBatch.Mixed, and a molecule of 200 atoms.
        var rng = new Random(77);
        var cube = new float[300 * 3];
        for (int k = 0; k < cube.Length; k++)
        {
            cube[k] = (float)((rng.NextDouble() * 20.0) + (k % 7 == 0 ? 20.0 * rng.Next(-2, 3) : 0.0));
        }

        var small = NeighborBatch.Mixed(13);
        float[] mol = NeighborBatch.Molecule(200, 78, 12.0);
        return new NeighborBatch
        {
            GraphAtomPtr = [0, 300, .. small.GraphAtomPtr.Skip(1).Select(v => v + 300), 300 + small.NumAtoms + 200],
            Positions = [.. cube, .. small.Positions, .. mol],
            Cell = [20f, 0, 0, 0, 20f, 0, 0, 0, 20f, .. small.Cell, .. new float[9]],
            Periodic = [1, .. small.Periodic, 0],
        };
    }

    private static (long[] Ints, float[] Vec, long Max, long MaxAtom) Run(GraphDevice d, NeighborBatch b, double cutoff, IndexType it)
    {
        using var pos = d.Upload<float>(b.Positions);
        using var cell = d.Upload<float>(b.Cell);
        using var per = d.Upload<byte>(b.Periodic);
        using var nl = NeighborList.Build(d, b.GraphAtomPtr, pos, cell, per, cutoff, new NeighborListOptions { IndexType = it });
        long[] ints = [.. nl.ToHost(nl.SrcPtr), .. nl.ToHost(nl.EdgeSrc), .. nl.ToHost(nl.EdgeDst), .. nl.ToHost(nl.DstPerm!), .. nl.Shifts.ToArray().Select(v => (long)v)];
        return (ints, nl.EdgeVectors!.ToArray(), nl.MaxNeighborCount, nl.MaxNeighborAtom);
    }

    [TestCase(IndexType.Int32)]
    [TestCase(IndexType.Int64)]
    public void MatchesTheEmulatedDeviceBitForBit(IndexType it)
    {
        using var emu = TestDevices.OpenOrIgnore(DeviceKind.Emulated);
        using var ilgpu = TestDevices.OpenOrIgnore(DeviceKind.Ilgpu);
        var b = Mixed();
        const double cutoff = 4.5;
        var want = Run(emu, b, cutoff, it);
        var got = Run(ilgpu, b, cutoff, it);
        Assert.That(got.Ints, Is.EqualTo(want.Ints), "src_ptr, edges, dst_perm, shifts");
        Assert.That(got.Vec.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(want.Vec.Select(BitConverter.SingleToInt32Bits)), "edge vectors, bit for bit");
        Assert.That((got.Max, got.MaxAtom), Is.EqualTo((want.Max, want.MaxAtom)));
        Assert.That(want.Ints.Length, Is.GreaterThan(b.NumAtoms + 1 + 1000), "the batch must have edges");
    }

    [Test]
    public void MaxNeighborsRefusalIsTheNativeOne()
    {
        using var emu = TestDevices.OpenOrIgnore(DeviceKind.Emulated);
        using var ilgpu = TestDevices.OpenOrIgnore(DeviceKind.Ilgpu);
        var b = NeighborBatch.Mixed(21);
        GraphKernelsException Refuse(GraphDevice d)
        {
            using var pos = d.Upload<float>(b.Positions);
            using var cell = d.Upload<float>(b.Cell);
            using var per = d.Upload<byte>(b.Periodic);
            return Assert.Throws<GraphKernelsException>(() => NeighborList.Build(d, b.GraphAtomPtr, pos, cell, per, 3.3, new NeighborListOptions { MaxNeighbors = 3 }))!;
        }

        var want = Refuse(emu);
        var got = Refuse(ilgpu);
        Assert.That((got.Status, got.Message, got.Data["OverflowAtom"], got.Data["OverflowCount"]),
            Is.EqualTo((want.Status, want.Message, want.Data["OverflowAtom"], want.Data["OverflowCount"])));
    }
}
