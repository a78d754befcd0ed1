using System;
using System.Threading;
using ILGPU;

namespace GraphKernels.Ilgpu;

/// <summary>
/// The edge ops (SDDMM and backward, edge softmax and backward, segment reduce / gather, COO → CSR, degree) on ILGPU.
/// The public ops have already made their C# checks (dense tensors of one element type, lengths, index types);
/// here come the checks only native/src/edge_ops.cu makes, in its order and with its status and sentence
/// (overlapping outputs, the transpose's shape, sizes an int32 index cannot hold, the COO workspace and index
/// ranges), then the kernels of <see cref="EdgeOpsKernels"/>. Nothing is written before every check has passed.
/// </summary>
internal sealed unsafe partial class IlgpuBackend
{
    private EdgeOpsKernels? _edgeOps;
    private object? _edgeOpsLock;

    private EdgeOpsKernels EdgeOps => LazyInitializer.EnsureInitialized(ref _edgeOps, ref _edgeOpsLock, () => new EdgeOpsKernels(_accelerator));

    public void Sddmm(CsrGraph graph, SddmmOp op, long features, int heads, EdgeTarget lhsTarget, DeviceBuffer lhs,
        EdgeTarget rhsTarget, DeviceBuffer rhs, DeviceBuffer output)
    {
        const string kOp = "gk_sddmm";
        CheckCsrSizes(kOp, graph);
        int dtype = DtypeOf(lhs);
        long es = dtype == 0 ? 4 : 2;
        long nnz = graph.Nnz;
        long width = op == SddmmOp.Dot ? heads : features;
        long isz = IndexSize(graph.IndexType);
        CheckOverlaps(kOp,
            [
                new("lhs", lhs, nnz > 0 ? TargetRows(graph, lhsTarget) * features * es : 0),
                new("rhs", rhs, nnz > 0 ? TargetRows(graph, rhsTarget) * features * es : 0),
                new("csr->row_ptr", graph.RowPtr, (graph.NumRows + 1) * isz),
                new("csr->col_idx", graph.ColIdx, nnz * isz),
            ],
            [new("out", output, nnz * width * es)]);
        if (nnz == 0)
        {
            return;
        }

        var p = new SddmmKernelParams
        {
            NumRows = graph.NumRows,
            Features = features,
            Width = width,
            HeadDim = features / heads,
            Op = (int)op,
            LhsTarget = (int)lhsTarget,
            RhsTarget = (int)rhsTarget,
        };
        var leases = default(BufferLeases);
        try
        {
            leases.Add(graph.RowPtr);
            leases.Add(graph.ColIdx);
            leases.Add(lhs);
            leases.Add(rhs);
            leases.Add(output);
            EdgeOps.Sddmm(p, graph, EdgeOpsKernels.Tensor(lhs, dtype), EdgeOpsKernels.Tensor(rhs, dtype), EdgeOpsKernels.Tensor(output, dtype));
        }
        finally
        {
            leases.Dispose();
        }
    }

    public void SddmmBackward(CsrGraph graph, SddmmOp op, long features, int heads, EdgeTarget lhsTarget, DeviceBuffer lhs,
        EdgeTarget rhsTarget, DeviceBuffer rhs, DeviceBuffer gradOutput, DeviceBuffer? gradLhs, DeviceBuffer? gradRhs,
        CsrGraph? transpose, DeviceBuffer? permutation)
    {
        const string kOp = "gk_sddmm_backward";
        CheckCsrSizes(kOp, graph);
        int dtype = DtypeOf(lhs);
        long es = dtype == 0 ? 4 : 2;
        long nnz = graph.Nnz;
        long width = op == SddmmOp.Dot ? heads : features;
        long rowsL = TargetRows(graph, lhsTarget), rowsR = TargetRows(graph, rhsTarget);
        bool needT = (gradLhs is not null && lhsTarget == EdgeTarget.Source) || (gradRhs is not null && rhsTarget == EdgeTarget.Source);
        long isz = IndexSize(graph.IndexType);
        if (needT)
        {
            var t = transpose ?? throw new ArgumentNullException(nameof(transpose));
            CheckCsrSizes(kOp, t);
            if (t.IndexType != graph.IndexType || t.NumRows != graph.NumCols || t.NumCols != graph.NumRows || t.Nnz != graph.Nnz)
            {
                throw new GraphKernelsException(GkStatus.InvalidArgument,
                    $"{kOp}: transpose (num_rows = {t.NumRows}, num_cols = {t.NumCols}, nnz = {t.Nnz}, index_type = {(int)t.IndexType}) " +
                    $"is not the transpose of csr ({graph.NumRows} x {graph.NumCols}, nnz = {nnz}, index_type = {(int)graph.IndexType})");
            }

            _ = permutation ?? throw new ArgumentNullException(nameof(permutation));
        }

        CheckOverlaps(kOp,
            [
                new("lhs", lhs, nnz > 0 ? rowsL * features * es : 0),
                new("rhs", rhs, nnz > 0 ? rowsR * features * es : 0),
                new("grad_out", gradOutput, nnz * width * es),
                new("csr->row_ptr", graph.RowPtr, (graph.NumRows + 1) * isz),
                new("csr->col_idx", graph.ColIdx, nnz * isz),
                new("transpose->row_ptr", needT ? transpose!.RowPtr : null, needT ? (transpose!.NumRows + 1) * isz : 0),
                new("transpose->col_idx", needT ? transpose!.ColIdx : null, needT ? nnz * isz : 0),
                new("perm", needT ? permutation : null, needT ? nnz * isz : 0),
            ],
            [
                new("grad_lhs", gradLhs, gradLhs is null ? 0 : rowsL * features * es),
                new("grad_rhs", gradRhs, gradRhs is null ? 0 : rowsR * features * es),
            ]);

        var leases = default(BufferLeases);
        try
        {
            leases.Add(graph.RowPtr);
            leases.Add(graph.ColIdx);
            leases.Add(lhs);
            leases.Add(rhs);
            leases.Add(gradOutput);
            leases.Add(gradLhs);
            leases.Add(gradRhs);
            if (needT)
            {
                leases.Add(transpose!.RowPtr);
                leases.Add(transpose.ColIdx);
                leases.Add(permutation);
            }

            var tl = EdgeOpsKernels.Tensor(lhs, dtype);
            var tr = EdgeOpsKernels.Tensor(rhs, dtype);
            var tg = EdgeOpsKernels.Tensor(gradOutput, dtype);
            for (int side = 0; side < 2; side++)
            {
                DeviceBuffer? grad = side == 0 ? gradLhs : gradRhs;
                EdgeTarget self = side == 0 ? lhsTarget : rhsTarget;
                if (grad is null)
                {
                    continue;
                }

                CsrGraph walk = self == EdgeTarget.Source ? transpose! : graph;
                if (walk.NumRows == 0)
                {
                    continue;
                }

                var p = new SddmmKernelParams
                {
                    NumRows = walk.NumRows,
                    Features = features,
                    Width = width,
                    HeadDim = features / heads,
                    Op = (int)op,
                    LhsTarget = (int)lhsTarget,
                    RhsTarget = (int)rhsTarget,
                    Side = side,
                    SelfTarget = (int)self,
                    Trans = self == EdgeTarget.Source ? 1 : 0,
                };
                EdgeOps.SddmmBackward(p, walk, self == EdgeTarget.Source ? permutation : null, tl, tr, tg, EdgeOpsKernels.Tensor(grad, dtype));
            }
        }
        finally
        {
            leases.Dispose();
        }
    }

    public void EdgeSoftmax(CsrGraph graph, long heads, DeviceBuffer scores, DeviceBuffer output, DeviceBuffer<float>? rowMax, DeviceBuffer<float>? rowSum)
    {
        const string kOp = "gk_edge_softmax";
        CheckCsrSizes(kOp, graph);
        int dtype = DtypeOf(scores);
        long es = dtype == 0 ? 4 : 2;
        long nnz = graph.Nnz, rows = graph.NumRows;
        CheckOverlaps(kOp,
            [
                new("scores", scores, nnz * heads * es),
                new("csr->row_ptr", graph.RowPtr, (rows + 1) * IndexSize(graph.IndexType)),
            ],
            [
                new("out", output, nnz * heads * es),
                new("row_max", rowMax, rowMax is null ? 0 : rows * heads * 4),
                new("row_sum", rowSum, rowSum is null ? 0 : rows * heads * 4),
            ]);
        if (rows == 0)
        {
            return;
        }

        var p = new SoftmaxKernelParams
        {
            NumRows = rows,
            Heads = heads,
            HasMax = rowMax is null ? 0 : 1,
            HasSum = rowSum is null ? 0 : 1,
        };
        var leases = default(BufferLeases);
        try
        {
            leases.Add(graph.RowPtr);
            leases.Add(scores);
            leases.Add(output);
            leases.Add(rowMax);
            leases.Add(rowSum);
            var to = EdgeOpsKernels.Tensor(output, dtype);
            // Absent row_max/row_sum: the kernel never reads the placeholder view (HasMax/HasSum = 0).
            var placeholder = View<float>(graph.RowPtr.MemoryHandle.ManagedAllocation!);
            EdgeOps.Softmax(p, graph, EdgeOpsKernels.Tensor(scores, dtype), to,
                rowMax is null ? placeholder : View<float>(rowMax), rowSum is null ? placeholder : View<float>(rowSum));
        }
        finally
        {
            leases.Dispose();
        }
    }

    public void EdgeSoftmaxBackward(CsrGraph graph, long heads, DeviceBuffer output, DeviceBuffer gradOutput, DeviceBuffer gradScores)
    {
        const string kOp = "gk_edge_softmax_backward";
        CheckCsrSizes(kOp, graph);
        int dtype = DtypeOf(output);
        long es = dtype == 0 ? 4 : 2;
        long nnz = graph.Nnz, rows = graph.NumRows;
        CheckOverlaps(kOp,
            [
                new("y", output, nnz * heads * es),
                new("grad_out", gradOutput, nnz * heads * es),
                new("csr->row_ptr", graph.RowPtr, (rows + 1) * IndexSize(graph.IndexType)),
            ],
            [new("grad_scores", gradScores, nnz * heads * es)]);
        if (rows == 0 || nnz == 0)
        {
            return;
        }

        var p = new SoftmaxKernelParams { NumRows = rows, Heads = heads };
        var leases = default(BufferLeases);
        try
        {
            leases.Add(graph.RowPtr);
            leases.Add(output);
            leases.Add(gradOutput);
            leases.Add(gradScores);
            EdgeOps.SoftmaxBackward(p, graph, EdgeOpsKernels.Tensor(output, dtype), EdgeOpsKernels.Tensor(gradOutput, dtype),
                EdgeOpsKernels.Tensor(gradScores, dtype));
        }
        finally
        {
            leases.Dispose();
        }
    }

    public void SegmentReduce(DeviceBuffer ptr, long numSegments, DeviceBuffer? permutation, long numSource, int reduce, long features,
        DeviceBuffer source, DeviceBuffer output, DeviceBuffer? argOut)
    {
        const string kOp = "gk_segment_reduce";
        IndexType index = ptr.ElementType == typeof(int) ? IndexType.Int32 : IndexType.Int64;
        CheckSegmentSizes(kOp, index, numSegments, "num_src", numSource);
        int dtype = DtypeOf(source);
        long es = dtype == 0 ? 4 : 2;
        long isz = IndexSize(index);
        CheckOverlaps(kOp,
            [
                new("src", source, numSource * features * es),
                new("ptr", ptr, (numSegments + 1) * isz),
                new("perm", permutation, permutation is null ? 0 : numSource * isz),
            ],
            [
                new("out", output, numSegments * features * es),
                new("arg_out", argOut, argOut is null ? 0 : numSegments * features * isz),
            ]);
        if (numSegments == 0)
        {
            return;
        }

        var p = new SegmentKernelParams
        {
            NumSegments = numSegments,
            Features = features,
            Mode = reduce,
            HasPerm = permutation is null ? 0 : 1,
            HasArg = argOut is null ? 0 : 1,
        };
        var leases = default(BufferLeases);
        try
        {
            leases.Add(ptr);
            leases.Add(permutation);
            leases.Add(source);
            leases.Add(output);
            leases.Add(argOut);
            EdgeOps.SegmentReduce(p, ptr, permutation, EdgeOpsKernels.Tensor(source, dtype), EdgeOpsKernels.Tensor(output, dtype), argOut);
        }
        finally
        {
            leases.Dispose();
        }
    }

    public void SegmentGather(DeviceBuffer ptr, long numSegments, DeviceBuffer? permutation, long numOutput, int mode, long features,
        DeviceBuffer source, DeviceBuffer? arg, DeviceBuffer output)
    {
        const string kOp = "gk_segment_gather";
        IndexType index = ptr.ElementType == typeof(int) ? IndexType.Int32 : IndexType.Int64;
        CheckSegmentSizes(kOp, index, numSegments, "num_out", numOutput);
        if (mode == 2 && arg is null && numSegments > 0)
        {
            throw new GraphKernelsException(GkStatus.InvalidArgument,
                $"{kOp}: arg is NULL; mode = 2 (GK_GATHER_ARG) needs the forward's arg_out");
        }

        int dtype = DtypeOf(source);
        long es = dtype == 0 ? 4 : 2;
        long isz = IndexSize(index);
        CheckOverlaps(kOp,
            [
                new("src", source, numSegments * features * es),
                new("ptr", ptr, (numSegments + 1) * isz),
                new("perm", permutation, permutation is null ? 0 : numOutput * isz),
                new("arg", arg, arg is null ? 0 : numSegments * features * isz),
            ],
            [new("out", output, numOutput * features * es)]);
        if (numSegments == 0)
        {
            return;
        }

        var p = new SegmentKernelParams
        {
            NumSegments = numSegments,
            Features = features,
            Mode = mode,
            HasPerm = permutation is null ? 0 : 1,
            HasArg = arg is null ? 0 : 1,
        };
        var leases = default(BufferLeases);
        try
        {
            leases.Add(ptr);
            leases.Add(permutation);
            leases.Add(source);
            leases.Add(arg);
            leases.Add(output);
            EdgeOps.SegmentGather(p, ptr, permutation, EdgeOpsKernels.Tensor(source, dtype), arg, EdgeOpsKernels.Tensor(output, dtype));
        }
        finally
        {
            leases.Dispose();
        }
    }

    public void CooToCsr(DeviceBuffer destination, DeviceBuffer? source, long numRows, long numCols, DeviceBuffer rowPtr,
        DeviceBuffer? colIdx, DeviceBuffer permutation, DeviceBuffer workspace)
    {
        const string kOp = "gk_coo_to_csr";
        IndexType index = destination.ElementType == typeof(int) ? IndexType.Int32 : IndexType.Int64;
        long nnz = destination.Length;
        if (nnz < 0 || numRows < 0 || numCols < 0)
        {
            throw new GraphKernelsException(GkStatus.InvalidArgument,
                $"{kOp}: sizes must be non-negative (nnz = {nnz}, num_rows = {numRows}, num_cols = {numCols})");
        }

        long lim = IndexMax(index);
        if (nnz > lim || numRows >= lim || numCols > lim)
        {
            throw new GraphKernelsException(GkStatus.IndexOverflow,
                $"{kOp}: sizes (nnz = {nnz}, num_rows = {numRows}, num_cols = {numCols}) do not fit int32 indices; use GK_INDEX_INT64");
        }

        if ((source is null) != (colIdx is null) && nnz > 0)
        {
            throw new GraphKernelsException(GkStatus.InvalidArgument,
                $"{kOp}: src and col_idx must both be given or both be NULL (src = {PointerText(source)}, col_idx = {PointerText(colIdx)})");
        }

        long need = (numRows + 2) * 8;
        if (workspace.SizeInBytes < need)
        {
            throw new GraphKernelsException(GkStatus.Workspace, $"{kOp}: workspace_bytes = {workspace.SizeInBytes}, needs {need}");
        }

        long isz = IndexSize(index);
        CheckOverlaps(kOp,
            [
                new("dst", destination, nnz * isz),
                new("src", source, source is null ? 0 : nnz * isz),
                new("workspace", workspace, need),
            ],
            [
                new("row_ptr", rowPtr, (numRows + 1) * isz),
                new("col_idx", colIdx, colIdx is null ? 0 : nnz * isz),
                new("perm", permutation, nnz * isz),
            ]);

        var leases = default(BufferLeases);
        try
        {
            leases.Add(destination);
            leases.Add(source);
            leases.Add(rowPtr);
            leases.Add(colIdx);
            leases.Add(permutation);
            leases.Add(workspace);
            var ws = View<byte>(workspace.MemoryHandle.ManagedAllocation!).SubView(0, need).Cast<ulong>();
            EdgeOps.CooCount(destination, source, nnz, numRows, numCols, ws);

            // The range check is read back before any output is written (the native op synchronises here too).
            Span<ulong> bad = stackalloc ulong[2];
            fixed (ulong* b = bad)
            {
                CopyToHost(b, workspace.MemoryHandle.ManagedAllocation!, 0, 16);
            }

            for (int k = 0; k < 2; k++)
            {
                if (bad[k] == ulong.MaxValue)
                {
                    continue;
                }

                long i = (long)bad[k];
                DeviceBuffer where = k == 0 ? destination : source!;
                long value = ReadIndex(where, i);
                throw new GraphKernelsException(GkStatus.InvalidGraph,
                    $"{kOp}: {(k == 0 ? "dst" : "src")}[{i}] = {value} is outside [0, {(k == 0 ? "num_rows" : "num_cols")} = {(k == 0 ? numRows : numCols)})");
            }

            EdgeOps.CooBuild(destination, source, nnz, numRows, rowPtr, colIdx, permutation, ws);
        }
        finally
        {
            leases.Dispose();
        }
    }

    public void Degree(CsrGraph graph, DegreeKind kind, DeviceBuffer output)
    {
        const string kOp = "gk_degree";
        CheckCsrSizes(kOp, graph);
        long n = kind == DegreeKind.In ? graph.NumRows : graph.NumCols;
        long isz = IndexSize(graph.IndexType);
        CheckOverlaps(kOp,
            [
                new("csr->row_ptr", graph.RowPtr, (graph.NumRows + 1) * isz),
                new("csr->col_idx", graph.ColIdx, graph.Nnz * isz),
            ],
            [new("out", output, n * isz)]);
        if (n == 0)
        {
            return;
        }

        var leases = default(BufferLeases);
        try
        {
            leases.Add(graph.RowPtr);
            leases.Add(graph.ColIdx);
            leases.Add(output);
            if (kind == DegreeKind.In)
            {
                EdgeOps.InDegree(graph, output);
            }
            else
            {
                // Zero the counters (after the queued work), then count with integer atomics.
                var allocation = output.MemoryHandle.ManagedAllocation!;
                Span<byte> zero = stackalloc byte[8];
                zero.Clear();
                Fill(allocation, n, (int)isz, zero[..(int)isz]);
                EdgeOps.OutDegree(graph, output);
            }
        }
        finally
        {
            leases.Dispose();
        }
    }

    // ------------------------------------------------------------- the C ABI's checks ----

    /// <summary>One extent of an overlap check: a buffer (null: absent) and the bytes the op touches from its start.</summary>
    private readonly record struct Extent(string Name, DeviceBuffer? Buffer, long Bytes);

    /// <summary>
    /// check_overlaps of edge_ops.cu: each output against every input, then against the earlier outputs. Every buffer
    /// here is its own allocation starting at its first element, so two extents overlap when they are the same buffer
    /// and both touch at least one byte.
    /// </summary>
    private static void CheckOverlaps(string op, ReadOnlySpan<Extent> inputs, ReadOnlySpan<Extent> outputs)
    {
        for (int o = 0; o < outputs.Length; o++)
        {
            foreach (var input in inputs)
            {
                if (Overlap(outputs[o], input))
                {
                    throw new GraphKernelsException(GkStatus.InvalidArgument,
                        $"{op}: {outputs[o].Name} overlaps {input.Name}; in-place is not supported");
                }
            }

            for (int k = 0; k < o; k++)
            {
                if (Overlap(outputs[o], outputs[k]))
                {
                    throw new GraphKernelsException(GkStatus.InvalidArgument, $"{op}: {outputs[o].Name} overlaps {outputs[k].Name}");
                }
            }
        }
    }

    private static bool Overlap(in Extent a, in Extent b)
        => a.Buffer is not null && b.Buffer is not null && a.Bytes > 0 && b.Bytes > 0
           && ReferenceEquals(a.Buffer.MemoryHandle, b.Buffer.MemoryHandle);

    /// <summary>The size rule of check_csr_header (the other header fields are guaranteed by CsrGraph).</summary>
    private static void CheckCsrSizes(string op, CsrGraph g)
    {
        long lim = IndexMax(g.IndexType);
        if (g.Nnz > lim || g.NumRows >= lim || g.NumCols > lim)
        {
            throw new GraphKernelsException(GkStatus.IndexOverflow,
                $"{op}: csr sizes (num_rows = {g.NumRows}, num_cols = {g.NumCols}, nnz = {g.Nnz}) do not fit int32 indices; use GK_INDEX_INT64");
        }
    }

    /// <summary>The size rule of check_segment_common.</summary>
    private static void CheckSegmentSizes(string op, IndexType index, long numSegments, string rowsName, long rows)
    {
        long lim = IndexMax(index);
        if (numSegments >= lim || rows > lim)
        {
            throw new GraphKernelsException(GkStatus.IndexOverflow,
                $"{op}: sizes (num_segments = {numSegments}, {rowsName} = {rows}) do not fit int32 indices; use GK_INDEX_INT64");
        }
    }

    private static long IndexMax(IndexType t) => t == IndexType.Int32 ? int.MaxValue : long.MaxValue;

    private static long IndexSize(IndexType t) => t == IndexType.Int32 ? 4 : 8;

    private static long TargetRows(CsrGraph g, EdgeTarget t)
        => t == EdgeTarget.Source ? g.NumCols : t == EdgeTarget.Destination ? g.NumRows : g.Nnz;

    /// <summary>gk_dtype of a feature tensor: float 0, Half 1, ushort (bf16 bits) 2 (checked by the public op).</summary>
    private static int DtypeOf(DeviceBuffer b) => b.ElementType == typeof(float) ? 0 : b.ElementType == typeof(System.Half) ? 1 : 2;

    /// <summary>A pointer as glibc's %p prints it.</summary>
    private static string PointerText(DeviceBuffer? b) => b is null ? "(nil)" : "0x" + ((long)b.Pointer).ToString("x", System.Globalization.CultureInfo.InvariantCulture);

    private long ReadIndex(DeviceBuffer buffer, long i)
    {
        long value = 0;
        CopyToHost(&value, buffer.MemoryHandle.ManagedAllocation!, i * IndexSize(buffer.ElementType == typeof(int) ? IndexType.Int32 : IndexType.Int64),
            buffer.ElementType == typeof(int) ? 4 : 8);
        return buffer.ElementType == typeof(int) ? (int)value : value;
    }
}
