using System;
using System.Collections.Generic;

namespace GraphKernels.BenchData;

/// <summary>The bytes an op must move and its arithmetic, with the formula in words.</summary>
/// <param name="Bytes">Compulsory DRAM traffic: every input read once, every output written once.</param>
/// <param name="Flops">Floating-point operations (an FMA counts 2).</param>
/// <param name="Formula">The formula, as printed in tables.</param>
public readonly record struct Traffic(long Bytes, long Flops, string Formula);

/// <summary>
/// Bytes-moved formulas, one per op, in one place: the benchmark suites (effective GB/s, copy
/// fraction), the report tool (roofline floor) and bench/README.md all use these. Effective GB/s =
/// Bytes / time; it is a lower bound on the traffic really moved (gathers that miss L2 move more).
/// </summary>
public static class ByteModel
{
    /// <summary>
    /// CSR SpMM Y[M,F] = A[M,K]·X[K,F] (research/message_passing.md §4.2), compulsory traffic:
    /// (M+1)·I + E·(I + w) + K·F·s + M·F·s, with I the index size, w = s for u_mul_e (edge weights)
    /// and 0 for copy_u, s the value size. FLOPs: E·F (copy_u/sum) or 2·E·F (u_mul_e/sum).
    /// </summary>
    /// <param name="rows">M.</param>
    /// <param name="cols">K.</param>
    /// <param name="nnz">E.</param>
    /// <param name="features">F.</param>
    /// <param name="indexBytes">I.</param>
    /// <param name="valueBytes">s.</param>
    /// <param name="weighted">u_mul_e.</param>
    /// <returns>The traffic.</returns>
    public static Traffic Spmm(long rows, long cols, long nnz, long features, int indexBytes, int valueBytes, bool weighted)
    {
        long w = weighted ? valueBytes : 0;
        long bytes = ((rows + 1) * indexBytes) + (nnz * (indexBytes + w)) + (cols * features * valueBytes) + (rows * features * valueBytes);
        return new Traffic(bytes, (weighted ? 2 : 1) * nnz * features,
            weighted ? "(M+1)·I + E·(I+s) + K·F·s + M·F·s" : "(M+1)·I + E·I + K·F·s + M·F·s");
    }

    /// <summary>SpMM with no reuse of gathered rows: (M+1)·I + E·(I + w + F·s) + M·F·s (the upper end; §4.2).</summary>
    /// <param name="rows">M.</param>
    /// <param name="nnz">E.</param>
    /// <param name="features">F.</param>
    /// <param name="indexBytes">I.</param>
    /// <param name="valueBytes">s.</param>
    /// <param name="weighted">u_mul_e.</param>
    /// <returns>Bytes.</returns>
    public static long SpmmNoReuse(long rows, long nnz, long features, int indexBytes, int valueBytes, bool weighted)
        => ((rows + 1) * indexBytes) + (nnz * (indexBytes + (weighted ? valueBytes : 0) + (features * valueBytes))) + (rows * features * valueBytes);

    /// <summary>
    /// Force/stress readout from per-edge gradients g_e = ∂E/∂r_e [E,3] of a batch of B structures,
    /// N atoms: reads g (12·E), the CSR (4·(N+1) + 4·E), the integer shifts (12·E), positions
    /// (12·N), cells (36·B) and the batch offsets (4·(B+1)); writes forces (12·N) and stress (36·B).
    /// FLOPs ≈ 3·E (forces: 2 adds per component) + 18·E (stress: r ⊗ g accumulated).
    /// </summary>
    /// <param name="atoms">N.</param>
    /// <param name="edges">E.</param>
    /// <param name="structures">B.</param>
    /// <returns>The traffic.</returns>
    public static Traffic ForceStressReadout(long atoms, long edges, long structures)
        => new((12 * edges) + (4 * (atoms + 1)) + (4 * edges) + (12 * edges) + (12 * atoms) + (36 * structures) + (4 * (structures + 1))
                + (12 * atoms) + (36 * structures),
            21 * edges,
            "12·E (g) + 4·(N+1) + 4·E (CSR) + 12·E (shifts) + 12·N (pos) + 40·B + 4 (cells, offsets) + 12·N (F) + 36·B (σ)");

    /// <summary>
    /// Per-row b-bit min-max quantization of X[N,F] (EXACT-style): reads N·F·s, writes the packed
    /// codes N·⌈F·b/8⌉ and two fp32 per row (min, scale) = 8·N. Dequantization moves the same
    /// bytes the other way. FLOPs ≈ 4·N·F (subtract, scale, add noise, round).
    /// </summary>
    /// <param name="rows">N.</param>
    /// <param name="features">F.</param>
    /// <param name="bits">b.</param>
    /// <param name="valueBytes">s of the activations.</param>
    /// <returns>The traffic.</returns>
    public static Traffic Quantize(long rows, long features, int bits, int valueBytes)
        => new((rows * features * valueBytes) + (rows * ((features * bits) + 7) / 8) + (8 * rows), 4 * rows * features,
            "N·F·s (X) + N·⌈F·b/8⌉ (codes) + 8·N (min, scale)");

    /// <summary>
    /// Direct-mode force/stress readout from given edge vectors r_e [E,3] and scalars s_e [E]
    /// (ForceStressBenchmark), compulsory traffic with int32 indices: reads r (12·E), s (4·E), the
    /// by-source and by-destination CSR pointers (2·4·(N+1)), the destination permutation (4·E),
    /// cells (36·B) and the int64 atom pointer (8·(B+1)); writes forces (12·N) and the 3×3 stress
    /// (36·B). The same floor for the fused, fast and unfused variants: the unfused sequence moves
    /// g_e [E,3] three more times (write, two reads) on top of it. FLOPs ≈ 30·E.
    /// </summary>
    /// <param name="atoms">N.</param>
    /// <param name="edges">E.</param>
    /// <param name="structures">B.</param>
    /// <returns>The traffic.</returns>
    public static Traffic ForceStressDirect(long atoms, long edges, long structures)
        => new((16 * edges) + (8 * (atoms + 1)) + (4 * edges) + (36 * structures) + (8 * (structures + 1)) + (12 * atoms) + (36 * structures),
            30 * edges,
            "16·E (r, s) + 8·(N+1) (CSR pointers) + 4·E (permutation) + 36·B + 8·(B+1) (cells, offsets) + 12·N (F) + 36·B (σ)");

    /// <summary>
    /// Block-wise b-bit quantization of X[N,F] (GraphKernels' own layout, docs/quantization.md):
    /// reads N·F·s, writes the packed codes ⌈N·F/B⌉·B·b/8 and two fp32 per block (zero, step) =
    /// 8·⌈N·F/B⌉. Dequantization moves the same bytes the other way. FLOPs ≈ 4·N·F.
    /// </summary>
    /// <param name="rows">N.</param>
    /// <param name="features">F.</param>
    /// <param name="bits">b.</param>
    /// <param name="block">B, elements per block (a multiple of 32).</param>
    /// <param name="valueBytes">s of the activations.</param>
    /// <returns>The traffic.</returns>
    public static Traffic BlockQuantize(long rows, long features, int bits, int block, int valueBytes)
    {
        long blocks = ((rows * features) + block - 1) / block;
        return new((rows * features * valueBytes) + (blocks * block * bits / 8) + (8 * blocks), 4 * rows * features,
            "N·F·s (X) + ⌈N·F/B⌉·B·b/8 (codes) + 8·⌈N·F/B⌉ (zero, step)");
    }

    /// <summary>
    /// The traffic of a (family, op) on a dataset at width F, for every op the peers run; null when
    /// the op has no memory-bound floor (e.g. autograd through an energy model).
    /// </summary>
    /// <param name="family">"spmm", "forcestress" or "quantization".</param>
    /// <param name="op">Op name as in the result records.</param>
    /// <param name="ds">Dataset.</param>
    /// <param name="features">F (ignored by force/stress).</param>
    /// <param name="dtype">"fp32" or "bf16".</param>
    /// <returns>Traffic or null.</returns>
    public static Traffic? For(string family, string op, DatasetEntry ds, int features, string dtype = "fp32")
    {
        int s = dtype == "bf16" ? 2 : 4;
        return (family, op) switch
        {
            ("spmm", "copy_u_sum") => Spmm(ds.Nodes, ds.Nodes, ds.Edges, features, 4, s, weighted: false),
            ("spmm", "u_mul_e_sum") => Spmm(ds.Nodes, ds.Nodes, ds.Edges, features, 4, s, weighted: true),
            ("forcestress", "readout") => ForceStressReadout(ds.Nodes, ds.Edges, ds.Structures),
            ("quantization", "quantize_int2") or ("quantization", "dequantize_int2") => Quantize(ds.Nodes, features, 2, s),
            _ => null,
        };
    }

    /// <summary>Every (family, op) that <see cref="For"/> knows, with the formula, for README tables.</summary>
    public static IReadOnlyList<(string Family, string Op)> KnownOps { get; } =
    [
        ("spmm", "copy_u_sum"), ("spmm", "u_mul_e_sum"), ("forcestress", "readout"),
        ("quantization", "quantize_int2"), ("quantization", "dequantize_int2"),
    ];

    /// <summary>Bytes as "1.23 GB" (decimal units, as bandwidths are quoted).</summary>
    /// <param name="bytes">Bytes.</param>
    /// <returns>Text.</returns>
    public static string Human(double bytes) => bytes switch
    {
        >= 1e9 => FormattableString.Invariant($"{bytes / 1e9:F2} GB"),
        >= 1e6 => FormattableString.Invariant($"{bytes / 1e6:F2} MB"),
        >= 1e3 => FormattableString.Invariant($"{bytes / 1e3:F1} kB"),
        _ => FormattableString.Invariant($"{bytes:F0} B"),
    };
}
