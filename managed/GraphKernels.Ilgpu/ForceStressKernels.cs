using System;
using ILGPU;
using ILGPU.Runtime;

namespace GraphKernels.Ilgpu;

/// <summary>Three floats (an edge vector, g_e, a force).</summary>
internal struct FsVec3
{
    public float X;
    public float Y;
    public float Z;
}

/// <summary>g_e and the direct-mode factor c = s / |r| (0 in conservative mode).</summary>
internal struct FsEdgeG
{
    public FsVec3 G;
    public float C;
}

/// <summary>A 3x3 tensor of doubles, row-major (A0 = xx, A1 = xy, ..., A8 = zz).</summary>
internal struct FsT9
{
    public double A0;
    public double A1;
    public double A2;
    public double A3;
    public double A4;
    public double A5;
    public double A6;
    public double A7;
    public double A8;
}

/// <summary>What one CUDA lane of an atom's group accumulates: force (fp32), Σ r⊗g of out-edges and of in-edges (fp64).</summary>
internal struct FsLane
{
    public FsVec3 F;
    public FsT9 S;
    public FsT9 D;
}

/// <summary>Every argument of every force/stress kernel (unused views point at a small dummy buffer).</summary>
internal struct FsArgs<TIndex>
    where TIndex : struct, IIndexView
{
    public TIndex GraphAtomPtr;
    public TIndex SrcPtr;
    public TIndex EdgeSrc;
    public TIndex EdgeDst;
    public TIndex DstPtr;
    public TIndex DstPerm;
    public ArrayView<float> EdgeVec;
    public ArrayView<float> Positions;
    public ArrayView<float> Shifts;
    public ArrayView<float> Cell;
    public ArrayView<byte> Periodic;
    public ArrayView<float> Quantity;
    public ArrayView<float> HeadH;
    public ArrayView<float> HeadW;
    public ArrayView<float> HeadBias;
    public ArrayView<float> Forces;
    public ArrayView<float> Stress;
    public ArrayView<float> AtomVirial;
    public ArrayView<double> Partial;      // readout: [9, N]; head backward: [P, C + 1]
    public ArrayView<float> GradForces;
    public ArrayView<float> GradOut;
    public ArrayView<float> GradQuantity;
    public ArrayView<float> GradEdgeVec;
    public ArrayView<float> GradH;
    public ArrayView<float> GradW;
    public ArrayView<float> GradBias;
    public long Channels;
    public long Ld;
    public long GradLd;
    public long HeadBlocks;
    public long NumAtoms;
    public long NumEdges;
    public long NumGraphs;
    public long Stride;
    public double Scale;
    public int Mode;          // 0 conservative, 1 direct, 2 direct with the fused head
    public int FromPos;
    public int Layout;
    public int OutKind;       // 0 stress (scale / V, 0 when not periodic), 1 virial (-scale)
    public int GroupLog2;
    public int HasBias;
    public int HasPeriodic;
    public int WantPartial;
    public int WantAtomVirial;
    public int HasGradForces;
    public int HasGradOut;
    public int HasGradQuantity;
    public int HasGradEdgeVec;
    public int HasGradH;
    public int HasGradW;
    public int HasGradBias;
}

/// <summary>
/// The force/stress kernels of kernels/force_stress.cuh on ILGPU, with the same floating-point operations
/// in the same order wherever the CUDA kernel's order is fixed, so the deterministic readout, the backward
/// and the head backward are bitwise equal to the CUDA/emulated kernels by design:
/// <list type="bullet">
/// <item><b>Readout</b> (<see cref="AtomKernel{TIndex}"/>): one thread owns one atom (grid-stride). CUDA gives an atom
/// to a group of G lanes (G from the mean degree, as the native launcher picks it); here the thread runs the G
/// lanes one after the other, each walking exactly the CUDA lane's edges (out-edges j, j + G, ..., then
/// in-edges through dst_perm) with the same fp32 force and fp64 r⊗g accumulation, and combines the lanes with
/// the same xor-butterfly tree: the lanes are visited in bit-reversed order and pairwise-summed on a 6-deep
/// stack, which forms exactly the sums ((v0 + v[G/2]) + (v[G/4] + v[3G/4])) + ... that lane 0 holds after the
/// shuffles (fp addition is commutative bit for bit). The atom's force and its 9 fp64 partials go to forces and
/// workspace [9][N] as in CUDA.</item>
/// <item><b>Stress</b> (<see cref="GraphKernel{TIndex}"/>): one thread per structure replays the CUDA block of 128
/// threads: thread t's strided fp64 sum, each warp's butterfly (bit-reversed pairwise sums of its 32 lanes),
/// then the 4 warp sums in order; V = |det L| in fp64; the same fs_store_tensor rounding.</item>
/// <item><b>Fast mode</b>: CUDA's GK_FS_FAST uses atomics and is not reproducible; here it is mapped to the
/// deterministic atom kernel for forces and per-atom virial (the same bits as the default mode) and
/// <see cref="FastStressKernel{TIndex}"/>: one thread per structure sums r⊗g over the structure's edges in edge
/// order in fp64 (needs none of the [B, 9] workspace the API still asks for). Deterministic; agrees with the
/// default mode to fp64 rounding of Σ, far inside the 1e-6 documented for fast mode.</item>
/// <item><b>Backward</b> (<see cref="BackwardKernel{TIndex}"/>): one thread per edge, the body of fs_backward_edge.</item>
/// <item><b>Head backward</b> (<see cref="HeadBackwardKernel{TIndex}"/>): ONE group of 256 threads replays the CUDA
/// blocks p = 0 .. P − 1 (P = fs_head_blocks(E)) one after the other, each over its tiles p, p + P, ... with the
/// tile's dL/ds in shared memory, thread t owning channels t, t + 256, ... and its fp64 running sum in
/// workspace[p][c]; <see cref="HeadReduceKernel{TIndex}"/> sums the P rows in order (phase 2). Blocks only write
/// their own rows, so running them in sequence gives CUDA's bits.</item>
/// </list>
/// FMAs are MathF.FusedMultiplyAdd where CUDA writes __fmaf_rn; nothing else is contracted on either side (RyuJIT
/// does not contract; the emulated library is built for baseline x86-64). Every index is 64-bit.
/// </summary>
internal sealed class ForceStressKernels : IDisposable
{
    public const int HeadThreads = 256;

    private readonly Action<Index1D, FsArgs<Index32>> _atom32;
    private readonly Action<Index1D, FsArgs<Index64>> _atom64;
    private readonly Action<Index1D, FsArgs<Index32>> _graph32;
    private readonly Action<Index1D, FsArgs<Index64>> _graph64;
    private readonly Action<Index1D, FsArgs<Index32>> _fast32;
    private readonly Action<Index1D, FsArgs<Index64>> _fast64;
    private readonly Action<Index1D, FsArgs<Index32>> _backward32;
    private readonly Action<Index1D, FsArgs<Index64>> _backward64;
    private readonly Action<KernelConfig, FsArgs<Index32>> _headBackward32;
    private readonly Action<KernelConfig, FsArgs<Index64>> _headBackward64;
    private readonly Action<Index1D, FsArgs<Index32>> _headReduce;
    private readonly MemoryBuffer1D<byte, Stride1D.Dense> _dummy;

    public ForceStressKernels(Accelerator accelerator)
    {
        Cap = Launch.CapFor(accelerator);
        _dummy = accelerator.Allocate1D<byte>(64);
        _atom32 = accelerator.LoadAutoGroupedStreamKernel<Index1D, FsArgs<Index32>>(AtomKernel);
        _atom64 = accelerator.LoadAutoGroupedStreamKernel<Index1D, FsArgs<Index64>>(AtomKernel);
        _graph32 = accelerator.LoadAutoGroupedStreamKernel<Index1D, FsArgs<Index32>>(GraphKernel);
        _graph64 = accelerator.LoadAutoGroupedStreamKernel<Index1D, FsArgs<Index64>>(GraphKernel);
        _fast32 = accelerator.LoadAutoGroupedStreamKernel<Index1D, FsArgs<Index32>>(FastStressKernel);
        _fast64 = accelerator.LoadAutoGroupedStreamKernel<Index1D, FsArgs<Index64>>(FastStressKernel);
        _backward32 = accelerator.LoadAutoGroupedStreamKernel<Index1D, FsArgs<Index32>>(BackwardKernel);
        _backward64 = accelerator.LoadAutoGroupedStreamKernel<Index1D, FsArgs<Index64>>(BackwardKernel);
        _headBackward32 = accelerator.LoadStreamKernel<FsArgs<Index32>>(HeadBackwardKernel);
        _headBackward64 = accelerator.LoadStreamKernel<FsArgs<Index64>>(HeadBackwardKernel);
        _headReduce = accelerator.LoadAutoGroupedStreamKernel<Index1D, FsArgs<Index32>>(HeadReduceKernel);
    }

    /// <summary>The most threads a grid-stride launch uses.</summary>
    public int Cap { get; }

    /// <summary>A 64-byte view for the arguments a launch does not use.</summary>
    public ArrayView<T> Dummy<T>()
        where T : unmanaged
        => _dummy.View.AsContiguous().Cast<T>();

    public void Atom(Index1D n, FsArgs<Index32> a) => _atom32(n, a);

    public void Atom(Index1D n, FsArgs<Index64> a) => _atom64(n, a);

    public void Graph(Index1D n, FsArgs<Index32> a) => _graph32(n, a);

    public void Graph(Index1D n, FsArgs<Index64> a) => _graph64(n, a);

    public void Fast(Index1D n, FsArgs<Index32> a) => _fast32(n, a);

    public void Fast(Index1D n, FsArgs<Index64> a) => _fast64(n, a);

    public void Backward(Index1D n, FsArgs<Index32> a) => _backward32(n, a);

    public void Backward(Index1D n, FsArgs<Index64> a) => _backward64(n, a);

    public void HeadBackward(FsArgs<Index32> a) => _headBackward32(new KernelConfig(1, HeadThreads), a);

    public void HeadBackward(FsArgs<Index64> a) => _headBackward64(new KernelConfig(1, HeadThreads), a);

    public void HeadReduce(Index1D n, FsArgs<Index32> a) => _headReduce(n, a);

    public void Dispose() => _dummy.Dispose();

    // ------------------------------------------------------------------ device helpers ----------

    /// <summary>fs_graph_of: the largest b with graph_atom_ptr[b] &lt;= atom.</summary>
    private static long GraphOf<TIndex>(TIndex ptr, long numGraphs, long atom)
        where TIndex : struct, IIndexView
    {
        long lo = 0, hi = numGraphs;
        while (hi - lo > 1)
        {
            long mid = lo + ((hi - lo) >> 1);
            if (ptr.Get(mid) <= atom)
            {
                lo = mid;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    /// <summary>r_e from edge_vec, or fs_edge_vector_pos: (x_dst − x_src) + fma(s2, L[6+k], fma(s1, L[3+k], s0 L[k])).</summary>
    private static FsVec3 EdgeVector<TIndex>(FsArgs<TIndex> a, long b, long src, long dst, long e)
        where TIndex : struct, IIndexView
    {
        FsVec3 r;
        if (a.FromPos == 0)
        {
            r.X = a.EdgeVec[3 * e];
            r.Y = a.EdgeVec[(3 * e) + 1];
            r.Z = a.EdgeVec[(3 * e) + 2];
            return r;
        }

        float s0 = a.Shifts[3 * e], s1 = a.Shifts[(3 * e) + 1], s2 = a.Shifts[(3 * e) + 2];
        long cb = 9 * b;
        r.X = (a.Positions[3 * dst] - a.Positions[3 * src])
              + MathF.FusedMultiplyAdd(s2, a.Cell[cb + 6], MathF.FusedMultiplyAdd(s1, a.Cell[cb + 3], s0 * a.Cell[cb]));
        r.Y = (a.Positions[(3 * dst) + 1] - a.Positions[(3 * src) + 1])
              + MathF.FusedMultiplyAdd(s2, a.Cell[cb + 7], MathF.FusedMultiplyAdd(s1, a.Cell[cb + 4], s0 * a.Cell[cb + 1]));
        r.Z = (a.Positions[(3 * dst) + 2] - a.Positions[(3 * src) + 2])
              + MathF.FusedMultiplyAdd(s2, a.Cell[cb + 8], MathF.FusedMultiplyAdd(s1, a.Cell[cb + 5], s0 * a.Cell[cb + 2]));
        return r;
    }

    /// <summary>fs_head_scalar: fp32 FMAs over the channels from 0, then + b.</summary>
    private static float HeadScalar<TIndex>(FsArgs<TIndex> a, long e)
        where TIndex : struct, IIndexView
    {
        long row = e * a.Ld;
        float s = 0.0f;
        for (long c = 0; c < a.Channels; c++)
        {
            s = MathF.FusedMultiplyAdd(a.HeadH[row + c], a.HeadW[c], s);
        }

        return a.HasBias != 0 ? s + a.HeadBias[0] : s;
    }

    /// <summary>fs_edge_g: g_e and c = s / |r| (direct modes).</summary>
    private static FsEdgeG EdgeG<TIndex>(FsArgs<TIndex> a, long e, FsVec3 r)
        where TIndex : struct, IIndexView
    {
        FsEdgeG o;
        if (a.Mode == 0)
        {
            o.G.X = a.Quantity[3 * e];
            o.G.Y = a.Quantity[(3 * e) + 1];
            o.G.Z = a.Quantity[(3 * e) + 2];
            o.C = 0.0f;
            return o;
        }

        float s = a.Mode == 2 ? HeadScalar(a, e) : a.Quantity[e];
        float rr = MathF.FusedMultiplyAdd(r.Z, r.Z, MathF.FusedMultiplyAdd(r.Y, r.Y, r.X * r.X));
        float c = rr > 0.0f ? s / MathF.Sqrt(rr) : 0.0f;
        o.G.X = c * r.X;
        o.G.Y = c * r.Y;
        o.G.Z = c * r.Z;
        o.C = c;
        return o;
    }

    /// <summary>fs_accumulate: acc += r ⊗ g in fp64; direct modes form c (r_a r_b) with the product exact.</summary>
    private static FsT9 Accumulate(FsT9 t, FsVec3 r, FsEdgeG g, int mode)
    {
        double r0 = r.X, r1 = r.Y, r2 = r.Z;
        if (mode == 0)
        {
            double g0 = g.G.X, g1 = g.G.Y, g2 = g.G.Z;
            t.A0 += r0 * g0;
            t.A1 += r0 * g1;
            t.A2 += r0 * g2;
            t.A3 += r1 * g0;
            t.A4 += r1 * g1;
            t.A5 += r1 * g2;
            t.A6 += r2 * g0;
            t.A7 += r2 * g1;
            t.A8 += r2 * g2;
        }
        else
        {
            double c = g.C;
            t.A0 += c * (r0 * r0);
            t.A1 += c * (r0 * r1);
            t.A2 += c * (r0 * r2);
            t.A3 += c * (r1 * r0);
            t.A4 += c * (r1 * r1);
            t.A5 += c * (r1 * r2);
            t.A6 += c * (r2 * r0);
            t.A7 += c * (r2 * r1);
            t.A8 += c * (r2 * r2);
        }

        return t;
    }

    private static FsT9 Add(FsT9 a, FsT9 b)
    {
        a.A0 += b.A0;
        a.A1 += b.A1;
        a.A2 += b.A2;
        a.A3 += b.A3;
        a.A4 += b.A4;
        a.A5 += b.A5;
        a.A6 += b.A6;
        a.A7 += b.A7;
        a.A8 += b.A8;
        return a;
    }

    private static FsLane Add(FsLane a, FsLane b)
    {
        a.F.X += b.F.X;
        a.F.Y += b.F.Y;
        a.F.Z += b.F.Z;
        a.S = Add(a.S, b.S);
        a.D = Add(a.D, b.D);
        return a;
    }

    private static int BitReverse(int m, int bits)
    {
        int r = 0;
        for (int i = 0; i < bits; i++)
        {
            r = (r << 1) | ((m >> i) & 1);
        }

        return r;
    }

    /// <summary>fs_store_tensor: 9 row-major values, or 6 Voigt values in the layout's order (off-diagonals (t_ab + t_ba) / 2).</summary>
    private static void Store(FsT9 t, double scale, int layout, ArrayView<float> o, long off)
    {
        if (layout == 0)
        {
            o[off] = (float)(scale * t.A0);
            o[off + 1] = (float)(scale * t.A1);
            o[off + 2] = (float)(scale * t.A2);
            o[off + 3] = (float)(scale * t.A3);
            o[off + 4] = (float)(scale * t.A4);
            o[off + 5] = (float)(scale * t.A5);
            o[off + 6] = (float)(scale * t.A6);
            o[off + 7] = (float)(scale * t.A7);
            o[off + 8] = (float)(scale * t.A8);
            return;
        }

        double xy = 0.5 * (t.A1 + t.A3), xz = 0.5 * (t.A2 + t.A6), yz = 0.5 * (t.A5 + t.A7);
        o[off] = (float)(scale * t.A0);
        o[off + 1] = (float)(scale * t.A4);
        o[off + 2] = (float)(scale * t.A8);
        if (layout == 1)
        {
            o[off + 3] = (float)(scale * yz);
            o[off + 4] = (float)(scale * xz);
            o[off + 5] = (float)(scale * xy);
        }
        else if (layout == 2)
        {
            o[off + 3] = (float)(scale * xy);
            o[off + 4] = (float)(scale * xz);
            o[off + 5] = (float)(scale * yz);
        }
        else
        {
            o[off + 3] = (float)(scale * xy);
            o[off + 4] = (float)(scale * yz);
            o[off + 5] = (float)(scale * xz);
        }
    }

    /// <summary>|det L_b| in fp64 (fs_volume and the graph pass).</summary>
    private static double Volume(ArrayView<float> cell, long b)
    {
        long o = 9 * b;
        double l0 = cell[o], l1 = cell[o + 1], l2 = cell[o + 2], l3 = cell[o + 3], l4 = cell[o + 4],
            l5 = cell[o + 5], l6 = cell[o + 6], l7 = cell[o + 7], l8 = cell[o + 8];
        double v = (l0 * ((l4 * l8) - (l5 * l7))) - (l1 * ((l3 * l8) - (l5 * l6))) + (l2 * ((l3 * l7) - (l4 * l6)));
        return v < 0.0 ? -v : v;
    }

    /// <summary>Structure b's output from Σ_b: virial −scale Σ, 0 for a non-periodic structure, else scale Σ / V.</summary>
    private static void StoreStructure<TIndex>(FsArgs<TIndex> a, long b, FsT9 s)
        where TIndex : struct, IIndexView
    {
        int width = a.Layout == 0 ? 9 : 6;
        long off = width * b;
        if (a.OutKind == 1)
        {
            Store(s, -a.Scale, a.Layout, a.Stress, off);
        }
        else if (a.HasPeriodic != 0 && a.Periodic[b] == 0)
        {
            for (int k = 0; k < width; k++)
            {
                a.Stress[off + k] = 0.0f;
            }
        }
        else
        {
            Store(s, a.Scale / Volume(a.Cell, b), a.Layout, a.Stress, off);
        }
    }

    // ------------------------------------------------------------------ kernels ----------

    /// <summary>force_stress_atom_kernel, one thread per atom replaying the atom's G lanes (see the class summary).</summary>
    internal static void AtomKernel<TIndex>(Index1D index, FsArgs<TIndex> a)
        where TIndex : struct, IIndexView
    {
        int group = 1 << a.GroupLog2;
        bool wantS = a.WantPartial != 0 || a.WantAtomVirial != 0;
        bool av = a.WantAtomVirial != 0;
        var stack = LocalMemory.Allocate<FsLane>(6);
        for (long atom = index; atom < a.NumAtoms; atom += a.Stride)
        {
            long b = a.FromPos != 0 ? GraphOf(a.GraphAtomPtr, a.NumGraphs, atom) : 0;
            long s0 = a.SrcPtr.Get(atom), s1 = a.SrcPtr.Get(atom + 1);
            long d0 = a.DstPtr.Get(atom), d1 = a.DstPtr.Get(atom + 1);
            int top = 0;
            for (int m = 0; m < group; m++)
            {
                int j = BitReverse(m, a.GroupLog2);
                FsLane lane = default;
                for (long e = s0 + j; e < s1; e += group)
                {
                    long dst = a.FromPos != 0 ? a.EdgeDst.Get(e) : 0;
                    FsVec3 r = EdgeVector(a, b, atom, dst, e);
                    FsEdgeG g = EdgeG(a, e, r);
                    if (wantS)
                    {
                        lane.S = Accumulate(lane.S, r, g, a.Mode);
                    }

                    lane.F.X += g.G.X;
                    lane.F.Y += g.G.Y;
                    lane.F.Z += g.G.Z;
                }

                for (long k0 = d0 + j; k0 < d1; k0 += group)
                {
                    long e = a.DstPerm.Get(k0);
                    long src = a.FromPos != 0 ? a.EdgeSrc.Get(e) : 0;
                    FsVec3 r = EdgeVector(a, b, src, atom, e);
                    FsEdgeG g = EdgeG(a, e, r);
                    if (av)
                    {
                        lane.D = Accumulate(lane.D, r, g, a.Mode);
                    }

                    lane.F.X -= g.G.X;
                    lane.F.Y -= g.G.Y;
                    lane.F.Z -= g.G.Z;
                }

                // The xor butterfly of warp_reduce_sum as pairwise sums over the lanes in bit-reversed order.
                stack[top] = lane;
                top++;
                for (int k = m + 1; (k & 1) == 0; k >>= 1)
                {
                    stack[top - 2] = Add(stack[top - 2], stack[top - 1]);
                    top--;
                }
            }

            FsLane sum = stack[0];
            a.Forces[3 * atom] = sum.F.X;
            a.Forces[(3 * atom) + 1] = sum.F.Y;
            a.Forces[(3 * atom) + 2] = sum.F.Z;
            if (a.WantPartial != 0)
            {
                long n = a.NumAtoms;
                a.Partial[atom] = sum.S.A0;
                a.Partial[n + atom] = sum.S.A1;
                a.Partial[(2 * n) + atom] = sum.S.A2;
                a.Partial[(3 * n) + atom] = sum.S.A3;
                a.Partial[(4 * n) + atom] = sum.S.A4;
                a.Partial[(5 * n) + atom] = sum.S.A5;
                a.Partial[(6 * n) + atom] = sum.S.A6;
                a.Partial[(7 * n) + atom] = sum.S.A7;
                a.Partial[(8 * n) + atom] = sum.S.A8;
            }

            if (av)
            {
                Store(Add(sum.S, sum.D), -0.5, a.Layout, a.AtomVirial, (a.Layout == 0 ? 9 : 6) * atom);
            }
        }
    }

    /// <summary>One component of force_stress_graph_kernel's block sum for structure [a0, a1) (see the class summary).</summary>
    private static double GraphComponent(ArrayView<double> partial, long n, long a0, long a1, int k, ArrayView<double> stack)
    {
        double x = 0.0;
        for (int w = 0; w < 4; w++)
        {
            int top = 0;
            for (int m = 0; m < 32; m++)
            {
                long t = (32 * w) + BitReverse(m, 5);
                double acc = 0.0;
                for (long at = a0 + t; at < a1; at += 128)
                {
                    acc += partial[(k * n) + at];
                }

                stack[top] = acc;
                top++;
                for (int q = m + 1; (q & 1) == 0; q >>= 1)
                {
                    stack[top - 2] = stack[top - 2] + stack[top - 1];
                    top--;
                }
            }

            x = w == 0 ? stack[0] : x + stack[0];
        }

        return x;
    }

    /// <summary>force_stress_graph_kernel: one thread per structure, the CUDA block's summation order.</summary>
    internal static void GraphKernel<TIndex>(Index1D index, FsArgs<TIndex> a)
        where TIndex : struct, IIndexView
    {
        var stack = LocalMemory.Allocate<double>(6);
        for (long b = index; b < a.NumGraphs; b += a.Stride)
        {
            long a0 = a.GraphAtomPtr.Get(b), a1 = a.GraphAtomPtr.Get(b + 1), n = a.NumAtoms;
            FsT9 s;
            s.A0 = GraphComponent(a.Partial, n, a0, a1, 0, stack);
            s.A1 = GraphComponent(a.Partial, n, a0, a1, 1, stack);
            s.A2 = GraphComponent(a.Partial, n, a0, a1, 2, stack);
            s.A3 = GraphComponent(a.Partial, n, a0, a1, 3, stack);
            s.A4 = GraphComponent(a.Partial, n, a0, a1, 4, stack);
            s.A5 = GraphComponent(a.Partial, n, a0, a1, 5, stack);
            s.A6 = GraphComponent(a.Partial, n, a0, a1, 6, stack);
            s.A7 = GraphComponent(a.Partial, n, a0, a1, 7, stack);
            s.A8 = GraphComponent(a.Partial, n, a0, a1, 8, stack);
            StoreStructure(a, b, s);
        }
    }

    /// <summary>Fast mode's stress on ILGPU: one thread per structure sums r ⊗ g over its edges in edge order (fp64).</summary>
    internal static void FastStressKernel<TIndex>(Index1D index, FsArgs<TIndex> a)
        where TIndex : struct, IIndexView
    {
        for (long b = index; b < a.NumGraphs; b += a.Stride)
        {
            long e0 = a.SrcPtr.Get(a.GraphAtomPtr.Get(b)), e1 = a.SrcPtr.Get(a.GraphAtomPtr.Get(b + 1));
            FsT9 s = default;
            for (long e = e0; e < e1; e++)
            {
                FsVec3 r = EdgeVector(a, b, a.EdgeSrc.Get(e), a.EdgeDst.Get(e), e);
                s = Accumulate(s, r, EdgeG(a, e, r), a.Mode);
            }

            StoreStructure(a, b, s);
        }
    }

    /// <summary>fs_expand_grad times c: K = c H as 3x3 (a Voigt off-diagonal gives half to (a,b) and (b,a)).</summary>
    private static void ExpandGrad(ArrayView<float> h, long off, int layout, double c, ArrayView<double> k)
    {
        if (layout == 0)
        {
            for (int i = 0; i < 9; i++)
            {
                k[i] = h[off + i];
            }
        }
        else
        {
            k[0] = h[off];
            k[4] = h[off + 1];
            k[8] = h[off + 2];
            double xy, xz, yz;
            if (layout == 1)
            {
                yz = h[off + 3];
                xz = h[off + 4];
                xy = h[off + 5];
            }
            else if (layout == 2)
            {
                xy = h[off + 3];
                xz = h[off + 4];
                yz = h[off + 5];
            }
            else
            {
                xy = h[off + 3];
                yz = h[off + 4];
                xz = h[off + 5];
            }

            k[1] = k[3] = 0.5 * xy;
            k[2] = k[6] = 0.5 * xz;
            k[5] = k[7] = 0.5 * yz;
        }

        for (int i = 0; i < 9; i++)
        {
            k[i] *= c;
        }
    }

    /// <summary>fs_backward_edge: writes edge e's dL/dq and dL/dr; returns dL/ds_e (0 in conservative mode).</summary>
    private static float BackwardEdge<TIndex>(FsArgs<TIndex> a, long e, ArrayView<double> k)
        where TIndex : struct, IIndexView
    {
        int width = a.Layout == 0 ? 9 : 6;
        long src = a.EdgeSrc.Get(e);
        long dst = a.EdgeDst.Get(e);
        long b = GraphOf(a.GraphAtomPtr, a.NumGraphs, src);
        FsVec3 r = EdgeVector(a, b, src, dst, e);
        float u0 = 0.0f, u1 = 0.0f, u2 = 0.0f;
        if (a.HasGradForces != 0)
        {
            u0 = a.GradForces[3 * src] - a.GradForces[3 * dst];
            u1 = a.GradForces[(3 * src) + 1] - a.GradForces[(3 * dst) + 1];
            u2 = a.GradForces[(3 * src) + 2] - a.GradForces[(3 * dst) + 2];
        }

        for (int i = 0; i < 9; i++)
        {
            k[i] = 0.0;
        }

        if (a.HasGradOut != 0)
        {
            double c = -a.Scale;
            if (a.OutKind == 0)
            {
                bool periodic = a.HasPeriodic == 0 || a.Periodic[b] != 0;
                c = periodic ? a.Scale / Volume(a.Cell, b) : 0.0;
            }

            ExpandGrad(a.GradOut, width * b, a.Layout, c, k);
        }

        double r0 = r.X, r1 = r.Y, r2 = r.Z;
        u0 = (float)(u0 + ((k[0] * r0) + (k[3] * r1) + (k[6] * r2)));
        u1 = (float)(u1 + ((k[1] * r0) + (k[4] * r1) + (k[7] * r2)));
        u2 = (float)(u2 + ((k[2] * r0) + (k[5] * r1) + (k[8] * r2)));
        bool wantDr = a.HasGradEdgeVec != 0;
        FsEdgeG g = default;
        if (a.Mode == 1 || wantDr)
        {
            g = EdgeG(a, e, r);
        }

        if (a.Mode == 0)
        {
            a.GradQuantity[3 * e] = u0;
            a.GradQuantity[(3 * e) + 1] = u1;
            a.GradQuantity[(3 * e) + 2] = u2;
        }

        float ur = 0.0f;
        float h0 = 0.0f, h1 = 0.0f, h2 = 0.0f;
        if (a.Mode != 0)
        {
            float rr = MathF.FusedMultiplyAdd(r.Z, r.Z, MathF.FusedMultiplyAdd(r.Y, r.Y, r.X * r.X));
            if (rr > 0.0f)
            {
                float inv = 1.0f / MathF.Sqrt(rr);
                h0 = r.X * inv;
                h1 = r.Y * inv;
                h2 = r.Z * inv;
                ur = MathF.FusedMultiplyAdd(u2, h2, MathF.FusedMultiplyAdd(u1, h1, u0 * h0));
            }

            if (a.Mode == 1 || a.HasGradQuantity != 0)
            {
                a.GradQuantity[e] = ur;
            }
        }

        if (wantDr)
        {
            double g0 = g.G.X, g1 = g.G.Y, g2 = g.G.Z;
            float v0 = (float)((k[0] * g0) + (k[1] * g1) + (k[2] * g2));
            float v1 = (float)((k[3] * g0) + (k[4] * g1) + (k[5] * g2));
            float v2 = (float)((k[6] * g0) + (k[7] * g1) + (k[8] * g2));
            if (a.Mode != 0)
            {
                v0 += g.C * (u0 - (ur * h0));
                v1 += g.C * (u1 - (ur * h1));
                v2 += g.C * (u2 - (ur * h2));
            }

            a.GradEdgeVec[3 * e] = v0;
            a.GradEdgeVec[(3 * e) + 1] = v1;
            a.GradEdgeVec[(3 * e) + 2] = v2;
        }

        return ur;
    }

    /// <summary>force_stress_backward_kernel: one thread per edge (grid-stride).</summary>
    internal static void BackwardKernel<TIndex>(Index1D index, FsArgs<TIndex> a)
        where TIndex : struct, IIndexView
    {
        var k = LocalMemory.Allocate<double>(9);
        for (long e = index; e < a.NumEdges; e += a.Stride)
        {
            BackwardEdge(a, e, k);
        }
    }

    /// <summary>force_stress_head_backward_kernel's P blocks, one after the other, in one group of 256 threads.</summary>
    internal static void HeadBackwardKernel<TIndex>(FsArgs<TIndex> a)
        where TIndex : struct, IIndexView
    {
        var tile = SharedMemory.Allocate<float>(HeadThreads);
        var k = LocalMemory.Allocate<double>(9);
        int t = Group.IdxX;
        long c1 = a.Channels;
        long blocks = a.HeadBlocks;
        bool wantPartial = a.WantPartial != 0;
        bool channelPass = wantPartial || a.HasGradH != 0;
        long tileStride = blocks * HeadThreads;
        for (long p = 0; p < blocks; p++)
        {
            long part = p * (c1 + 1);
            bool first = true;
            for (long bse = p * HeadThreads; bse < a.NumEdges; bse += tileStride)
            {
                long e = bse + t;
                float d = 0.0f;
                if (e < a.NumEdges)
                {
                    d = BackwardEdge(a, e, k);
                }

                if (channelPass)
                {
                    tile[t] = d;
                    Group.Barrier();
                    long rem = a.NumEdges - bse;
                    int n = rem < HeadThreads ? (int)rem : HeadThreads;
                    for (long c = t; c <= c1; c += HeadThreads)
                    {
                        if (c < c1)
                        {
                            float wc = a.HeadW[c];
                            if (a.HasGradH != 0)
                            {
                                for (int j = 0; j < n; j++)
                                {
                                    a.GradH[((bse + j) * a.GradLd) + c] = tile[j] * wc;
                                }
                            }

                            if (wantPartial)
                            {
                                double acc = first ? 0.0 : a.Partial[part + c];
                                for (int j = 0; j < n; j++)
                                {
                                    acc += (double)tile[j] * (double)a.HeadH[((bse + j) * a.Ld) + c];
                                }

                                a.Partial[part + c] = acc;
                            }
                        }
                        else if (wantPartial)
                        {
                            double acc = first ? 0.0 : a.Partial[part + c];
                            for (int j = 0; j < n; j++)
                            {
                                acc += (double)tile[j];
                            }

                            a.Partial[part + c] = acc;
                        }
                    }

                    Group.Barrier();
                }

                first = false;
            }
        }
    }

    /// <summary>force_stress_head_reduce_kernel: thread c sums workspace[0..P−1][c] in order (fp64), writes dL/dw[c] or dL/db.</summary>
    internal static void HeadReduceKernel<TIndex>(Index1D index, FsArgs<TIndex> a)
        where TIndex : struct, IIndexView
    {
        for (long c = index; c <= a.Channels; c += a.Stride)
        {
            double s = 0.0;
            for (long q = 0; q < a.HeadBlocks; q++)
            {
                s += a.Partial[(q * (a.Channels + 1)) + c];
            }

            if (c < a.Channels)
            {
                if (a.HasGradW != 0)
                {
                    a.GradW[c] = (float)s;
                }
            }
            else if (a.HasGradBias != 0)
            {
                a.GradBias[0] = (float)s;
            }
        }
    }
}
