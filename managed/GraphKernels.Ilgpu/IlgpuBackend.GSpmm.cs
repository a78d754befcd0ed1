using System;
using System.Runtime.CompilerServices;
using GraphKernels.Interop;
using ILGPU;
using ILGPU.Runtime;

namespace GraphKernels.Ilgpu;

/// <summary>
/// The graph plan, the generalized SpMM (gk_spmm_ex), the multi-reducer SpMM and the SpMM backward on ILGPU.
/// Each op first applies, in the same order, the checks native/src/spmm.cu and graph_plan.cu apply after the
/// C# API's own checks, and throws the same status with the same sentence (the native "%p" alignment checks
/// cannot fail for ILGPU buffers and are left out); nothing is launched before every check has passed.
/// </summary>
internal sealed partial class IlgpuBackend
{
    private const string OpEx = "gk_spmm_ex";
    private const string OpBwd = "gk_spmm_backward";
    private const string OpMulti = "gk_spmm_multi";
    private const string OpMultiBwd = "gk_spmm_multi_backward";

    private static readonly string[] MultiNames =
        { "outputs[0] (sum)", "outputs[1] (mean)", "outputs[2] (min)", "outputs[3] (max)", "outputs[4] (var)", "outputs[5] (std)" };

    private static readonly string[] MultiGradNames =
        ["grad_outputs[0] (sum)", "grad_outputs[1] (mean)", "grad_outputs[2] (min)", "grad_outputs[3] (max)", "grad_outputs[4] (var)", "grad_outputs[5] (std)"];

    private PlanKernels? _plan;
    private GSpmmKernels? _gspmm;

    private PlanKernels PlanK => LazyInit(ref _plan, () => new PlanKernels(_accelerator));

    private GSpmmKernels GSpmm => LazyInit(ref _gspmm, () => new GSpmmKernels(_accelerator));

    private T LazyInit<T>(ref T? field, Func<T> make)
        where T : class
    {
        if (field is null)
        {
            lock (_lock)
            {
                field ??= make();
            }
        }

        return field;
    }

    // ------------------------------------------------------------------ plan ----------

    public void BuildPlan(CsrGraph graph, in GkPlan plan, DeviceBuffer tRowPtr, DeviceBuffer tColIdx, DeviceBuffer perm,
        DeviceBuffer inDegree, DeviceBuffer outDegree, DeviceBuffer<long> rowItemPtr, DeviceBuffer<long> itemRow, DeviceBuffer workspace)
    {
        var leases = default(BufferLeases);
        try
        {
            leases.Add(graph.RowPtr);
            leases.Add(graph.ColIdx);
            leases.Add(tRowPtr);
            leases.Add(tColIdx);
            leases.Add(perm);
            leases.Add(inDegree);
            leases.Add(outDegree);
            leases.Add(rowItemPtr);
            leases.Add(itemRow);
            leases.Add(workspace);
            PlanK.Build(graph, plan.Chunk, plan.MaxItems, tRowPtr, tColIdx, perm, inDegree, outDegree, rowItemPtr, itemRow, workspace);
        }
        finally
        {
            leases.Dispose();
        }
    }

    // ------------------------------------------------------------------ checks (as native/src/spmm.cu) ----------

    private struct Resolved
    {
        public long Ldx, Lde, Ldy, LdArg, Width, HeadWidth;
    }

    private static GraphKernelsException Fail(string message, GkStatus status = GkStatus.InvalidArgument) => new(status, message);

    private static long EdgeWidth(in GkSpmmDesc d) => d.EdgeMode == 1 ? 1 : d.EdgeMode == 2 ? d.Heads : d.Feat;

    private static Resolved CheckDesc(string op, in GkSpmmDesc d)
    {
        if (d.Message < 0 || d.Message > 5)
        {
            throw Fail($"{op}: desc->message = {d.Message} is not a gk_message (0 .. 5)");
        }

        if (d.Reduce < 0 || d.Reduce > 4)
        {
            throw Fail($"{op}: desc->reduce = {d.Reduce} is not a gk_reduce (0 .. 4)");
        }

        if (d.Dtype is not (0 or 1 or 2))
        {
            throw Fail($"{op}: desc->dtype = {d.Dtype} is not supported (0 = F32, 1 = F16, 2 = BF16)",
                d.Dtype == 3 ? GkStatus.Unsupported : GkStatus.InvalidArgument);
        }

        if (d.EdgeMode < 0 || d.EdgeMode > 3)
        {
            throw Fail($"{op}: desc->edge_mode = {d.EdgeMode} is not a gk_edge_operand (0 .. 3)");
        }

        if (d.Message == 0 && d.EdgeMode != 0)
        {
            throw Fail($"{op}: desc->edge_mode = {d.EdgeMode}, must be GK_EDGE_NONE (0) for GK_MESSAGE_COPY_U");
        }

        if (d.Message != 0 && d.EdgeMode == 0)
        {
            throw Fail($"{op}: desc->edge_mode = GK_EDGE_NONE but desc->message = {d.Message} reads an edge operand");
        }

        if (d.Feat < 1)
        {
            throw Fail($"{op}: desc->feat = {d.Feat}, must be >= 1");
        }

        if (d.EdgeMode == 2 && (d.Heads < 1 || d.Feat % d.Heads != 0))
        {
            throw Fail($"{op}: desc->heads = {d.Heads} must be >= 1 and divide desc->feat = {d.Feat}");
        }

        if ((d.Flags & ~7u) != 0)
        {
            throw Fail($"{op}: desc->flags = 0x{d.Flags:x} has unknown bits");
        }

        if (d.Reserved != 0)
        {
            throw Fail($"{op}: desc->reserved = {d.Reserved}, must be 0");
        }

        var r = default(Resolved);
        r.Width = d.EdgeMode == 0 ? 0 : EdgeWidth(d);
        r.HeadWidth = d.EdgeMode == 2 ? d.Feat / d.Heads : 1;
        r.Ldx = Ld(op, "desc->ldx", d.Ldx, d.Feat);
        r.Lde = Ld(op, "desc->lde", d.Lde, r.Width);
        r.Ldy = Ld(op, "desc->ldy", d.Ldy, d.Feat);
        r.LdArg = Ld(op, "desc->ld_arg", d.LdArg, d.Feat);
        if (r.Lde == 0)
        {
            r.Lde = 1;
        }

        return r;
    }

    private static long Ld(string op, string name, long v, long width)
    {
        if (v != 0 && v < width)
        {
            throw Fail($"{op}: {name} = {v} is less than its width {width}");
        }

        if (v < 0)
        {
            throw Fail($"{op}: {name} = {v} is negative");
        }

        return v == 0 ? width : v;
    }

    private static void CheckPlan(string op, CsrGraph graph, GraphPlan? plan)
    {
        if (plan is null)
        {
            throw Fail($"{op}: plan is NULL");
        }

        GkPlan p = plan.ToNative(nameof(plan));
        if (p.NumRows != graph.NumRows || p.NumCols != graph.NumCols || p.Nnz != graph.Nnz || p.IndexType != (int)graph.IndexType)
        {
            throw Fail($"{op}: plan was built for a {p.NumRows} x {p.NumCols} graph with {p.Nnz} edges (index type {p.IndexType}), "
                + $"not this csr ({graph.NumRows} x {graph.NumCols}, {graph.Nnz} edges, index type {(int)graph.IndexType})");
        }

        if (p.Chunk < 1 || p.MaxItems != graph.NumRows + (graph.Nnz / p.Chunk))
        {
            throw Fail($"{op}: plan->chunk = {p.Chunk} / plan->max_items = {p.MaxItems} are not those of a built plan");
        }
    }

    /// <summary>gk::check_matrix (the alignment check cannot fail for ILGPU buffers).</summary>
    private static void CheckMatrix(string op, string name, string ldName, DeviceBuffer? b, long rows, long width, long ld, long elemSize)
    {
        if (ld < width)
        {
            throw Fail($"{op}: {ldName} = {ld} is less than feat = {width}");
        }

        if (rows == 0)
        {
            return;
        }

        if (b is null)
        {
            throw Fail($"{op}: {name} is NULL (it has {rows} rows)");
        }

        bool overflow;
        try
        {
            _ = checked((((rows - 1) * ld) + width) * elemSize);
            overflow = false;
        }
        catch (OverflowException)
        {
            overflow = true;
        }

        if (overflow)
        {
            throw Fail($"{op}: {name} of {rows} rows with {ldName} = {ld} overflows 64-bit byte offsets", GkStatus.IndexOverflow);
        }
    }

    private static long MatrixBytes(long rows, long width, long ld, long elemSize) => rows == 0 ? 0 : (((rows - 1) * ld) + width) * elemSize;

    private readonly record struct SpmmExtent(string Name, nint P, long Bytes);

    private static SpmmExtent Ext(string name, DeviceBuffer? b, long bytes) => new(name, b is null ? 0 : b.Pointer, bytes);

    private static bool Overlaps(in SpmmExtent a, in SpmmExtent b)
    {
        if (a.P == 0 || b.P == 0 || a.Bytes <= 0 || b.Bytes <= 0)
        {
            return false;
        }

        ulong a0 = (ulong)a.P, b0 = (ulong)b.P;
        return a0 < b0 + (ulong)b.Bytes && b0 < a0 + (ulong)a.Bytes;
    }

    private static void CheckSpmmOverlaps(string op, ReadOnlySpan<SpmmExtent> outs, ReadOnlySpan<SpmmExtent> ins)
    {
        for (int i = 0; i < outs.Length; i++)
        {
            foreach (SpmmExtent input in ins)
            {
                if (Overlaps(outs[i], input))
                {
                    throw Fail($"{op}: {outs[i].Name} overlaps {input.Name}");
                }
            }

            for (int j = i + 1; j < outs.Length; j++)
            {
                if (Overlaps(outs[i], outs[j]))
                {
                    throw Fail($"{op}: {outs[i].Name} overlaps {outs[j].Name}");
                }
            }
        }
    }

    /// <summary>The kernel parameters every g-SpMM entry point shares: the graph's sizes and the descriptor's resolved shape.</summary>
    private static GSpmmParams ShapeParams(in GkSpmmDesc d, in Resolved r, long rows, long cols, long nnz) => new()
    {
        Rows = rows,
        Cols = cols,
        Nnz = nnz,
        Feat = d.Feat,
        Ldx = r.Ldx,
        Lde = r.Lde,
        HeadWidth = r.HeadWidth,
        Message = d.Message,
        EdgeMode = d.EdgeMode,
    };

    private static long ValueSize(in GkSpmmDesc d) => d.Dtype == 0 ? 4 : 2;

    private static long IndexSize(CsrGraph g) => g.IndexType == IndexType.Int32 ? 4 : 8;

    private static long ChunkWorkspaceBytes(in GkSpmmDesc d, in GkPlan p)
    {
        bool extreme = d.Reduce is 2 or 3;
        long n = p.MaxItems * d.Feat;
        return extreme ? ((((n * 4) + 7) / 8) * 8) + (n * 8) : n * 4;
    }

    // ------------------------------------------------------------------ workspace queries ----------

    public long SpMMWorkspaceBytes(CsrGraph graph, in GkSpmmDesc desc, GraphPlan? plan)
    {
        const string op = "gk_spmm_ex_workspace_size";
        CheckDesc(op, desc);
        if ((desc.Flags & 4u) == 0)
        {
            return 0;
        }

        CheckPlan(op, graph, plan);
        return ChunkWorkspaceBytes(desc, plan!.ToNative(nameof(plan)));
    }

    public long SpMMBackwardWorkspaceBytes(CsrGraph graph, in GkSpmmDesc desc)
    {
        CheckDesc("gk_spmm_backward_workspace_size", desc);
        return desc.Reduce == 4 ? graph.Nnz * desc.Feat * 4 : 0;
    }

    public long SpMMMultiBackwardWorkspaceBytes(CsrGraph graph, in GkSpmmDesc desc)
    {
        const string op = "gk_spmm_multi_backward_workspace_size";
        CheckMultiEntry(op, desc);
        return graph.Nnz * desc.Feat * 4;
    }

    /// <summary>check_multi_entry: check_desc, then reduce and flags 0 (stats is built from the buffers given, so it is a valid mask).</summary>
    private static Resolved CheckMultiEntry(string op, in GkSpmmDesc d)
    {
        Resolved r = CheckDesc(op, d);
        if (d.Reduce != 0 || d.Flags != 0)
        {
            throw Fail($"{op}: desc->reduce = {d.Reduce} and desc->flags = 0x{d.Flags:x} must both be 0 (the statistics come from stats)");
        }

        return r;
    }

    // ------------------------------------------------------------------ forward ----------

    public void SpMMEx(CsrGraph graph, in GkSpmmDesc desc, DeviceBuffer? x, DeviceBuffer? edge, DeviceBuffer y, DeviceBuffer? argOut,
        GraphPlan? plan, DeviceBuffer? workspace)
    {
        const string op = OpEx;
        Resolved r = CheckDesc(op, desc);
        GkSpmmDesc d = desc;
        long rows = graph.NumRows, cols = graph.NumCols, nnz = graph.Nnz;
        long vsz = ValueSize(d), isz = IndexSize(graph);
        bool readsX = d.Message != 2;
        bool extreme = d.Reduce is 2 or 3;
        if (!readsX && x is not null)
        {
            throw Fail($"{op}: x must be NULL for GK_MESSAGE_COPY_E");
        }

        if (readsX)
        {
            CheckMatrix(op, "x", "desc->ldx", x, nnz > 0 ? cols : 0, d.Feat, r.Ldx, vsz);
        }

        if (d.EdgeMode == 0 && edge is not null)
        {
            throw Fail($"{op}: edge must be NULL for GK_MESSAGE_COPY_U");
        }

        if (d.EdgeMode != 0)
        {
            CheckMatrix(op, "edge", "desc->lde", edge, nnz, r.Width, r.Lde, vsz);
        }

        CheckMatrix(op, "y", "desc->ldy", y, rows, d.Feat, r.Ldy, vsz);
        if (argOut is not null)
        {
            if (!extreme)
            {
                throw Fail($"{op}: arg_out must be NULL for reduce = {d.Reduce} (only max and min have an arg)");
            }

            CheckMatrix(op, "arg_out", "desc->ld_arg", argOut, rows, d.Feat, r.LdArg, isz);
        }

        bool chunked = (d.Flags & 4u) != 0;
        long wsNeed = 0;
        GkPlan p = default;
        if (chunked)
        {
            CheckPlan(op, graph, plan);
            p = plan!.ToNative(nameof(plan));
            wsNeed = ChunkWorkspaceBytes(d, p);
            long wsBytes = workspace?.SizeInBytes ?? 0;
            if (wsNeed > 0 && workspace is null)
            {
                throw Fail($"{op}: workspace is NULL (needs {wsNeed} bytes)", GkStatus.Workspace);
            }

            if (wsBytes < wsNeed)
            {
                throw Fail($"{op}: workspace_bytes = {wsBytes}, needs {wsNeed}", GkStatus.Workspace);
            }
        }

        ReadOnlySpan<SpmmExtent> ins =
        [
            Ext("x", x, readsX ? MatrixBytes(nnz > 0 ? cols : 0, d.Feat, r.Ldx, vsz) : 0),
            Ext("edge", edge, d.EdgeMode != 0 ? MatrixBytes(nnz, r.Width, r.Lde, vsz) : 0),
            Ext("csr->row_ptr", graph.RowPtr, (rows + 1) * isz),
            Ext("csr->col_idx", graph.ColIdx, nnz * isz),
        ];
        ReadOnlySpan<SpmmExtent> outs =
        [
            Ext("y", y, MatrixBytes(rows, d.Feat, r.Ldy, vsz)),
            Ext("arg_out", argOut, argOut is not null ? MatrixBytes(rows, d.Feat, r.LdArg, isz) : 0),
            Ext("workspace", workspace, chunked ? wsNeed : 0),
        ];
        CheckSpmmOverlaps(op, outs, ins);
        if (rows == 0)
        {
            return;
        }

        var a = ShapeParams(d, r, rows, cols, nnz) with
        {
            Ldy = r.Ldy,
            LdArg = r.LdArg,
            Reduce = d.Reduce,
            Flags = (int)d.Flags,
            HasArg = argOut is null ? 0 : 1,
        };
        if (chunked)
        {
            a.Chunk = p.Chunk;
            a.MaxItems = p.MaxItems;
            a.PartArgOffset = ((p.MaxItems * d.Feat * 4) + 7) / 8 * 8;
        }

        var leases = default(BufferLeases);
        try
        {
            leases.Add(graph.RowPtr);
            leases.Add(graph.ColIdx);
            leases.Add(x);
            leases.Add(edge);
            leases.Add(y);
            leases.Add(argOut);
            leases.Add(workspace);
            if (chunked)
            {
                leases.Add(plan!.RowItemPtr);
                leases.Add(plan.ItemRow);
            }

            var ops = new ExOp(this, graph, a, x, edge, y, argOut, chunked ? plan : null, workspace);
            Dispatch(graph, d.Dtype, ref ops);
        }
        finally
        {
            leases.Dispose();
        }
    }

    public void SpMMMulti(CsrGraph graph, in GkSpmmDesc desc, DeviceBuffer? x, DeviceBuffer? edge, DeviceBuffer? sum, DeviceBuffer? mean,
        DeviceBuffer? min, DeviceBuffer? max, DeviceBuffer? variance, DeviceBuffer? std)
    {
        const string op = OpMulti;
        Resolved r = CheckDesc(op, desc);
        GkSpmmDesc d = desc;
        if (d.Reduce != 0 || d.Flags != 0)
        {
            throw Fail($"{op}: desc->reduce = {d.Reduce} and desc->flags = 0x{d.Flags:x} must both be 0 (the statistics come from stats)");
        }

        long rows = graph.NumRows, cols = graph.NumCols, nnz = graph.Nnz;
        long vsz = ValueSize(d);
        bool readsX = d.Message != 2;
        if (!readsX && x is not null)
        {
            throw Fail($"{op}: x must be NULL for GK_MESSAGE_COPY_E");
        }

        if (readsX)
        {
            CheckMatrix(op, "x", "desc->ldx", x, nnz > 0 ? cols : 0, d.Feat, r.Ldx, vsz);
        }

        if (d.EdgeMode == 0 && edge is not null)
        {
            throw Fail($"{op}: edge must be NULL for GK_MESSAGE_COPY_U");
        }

        if (d.EdgeMode != 0)
        {
            CheckMatrix(op, "edge", "desc->lde", edge, nnz, r.Width, r.Lde, vsz);
        }

        // stats = the outputs given (the C# API builds the mask from them, so bit k is set exactly when output k is).
        var o = new OutputSix { B0 = sum, B1 = mean, B2 = min, B3 = max, B4 = variance, B5 = std };
        int mask = 0;
        var outStore = default(ExtentSix);
        Span<SpmmExtent> outs = outStore;
        for (int k = 0; k < 6; k++)
        {
            DeviceBuffer? b = o[k];
            if (b is not null)
            {
                mask |= 1 << k;
                CheckMatrix(op, MultiNames[k], "desc->ldy", b, rows, d.Feat, r.Ldy, vsz);
            }

            outs[k] = Ext(MultiNames[k], b, b is not null ? MatrixBytes(rows, d.Feat, r.Ldy, vsz) : 0);
        }

        long isz = IndexSize(graph);
        ReadOnlySpan<SpmmExtent> ins =
        [
            Ext("x", x, readsX ? MatrixBytes(nnz > 0 ? cols : 0, d.Feat, r.Ldx, vsz) : 0),
            Ext("edge", edge, d.EdgeMode != 0 ? MatrixBytes(nnz, r.Width, r.Lde, vsz) : 0),
            Ext("csr->row_ptr", graph.RowPtr, (rows + 1) * isz),
            Ext("csr->col_idx", graph.ColIdx, nnz * isz),
        ];
        CheckSpmmOverlaps(op, outs, ins);
        if (rows == 0)
        {
            return;
        }

        var a = ShapeParams(d, r, rows, cols, nnz) with
        {
            Ldy = r.Ldy,
            OutMask = mask,
        };
        var leases = default(BufferLeases);
        try
        {
            leases.Add(graph.RowPtr);
            leases.Add(graph.ColIdx);
            leases.Add(x);
            leases.Add(edge);
            for (int k = 0; k < 6; k++)
            {
                leases.Add(o[k]);
            }

            var ops = new MultiOp(this, graph, a, x, edge, o);
            Dispatch(graph, d.Dtype, ref ops);
        }
        finally
        {
            leases.Dispose();
        }
    }

    // ------------------------------------------------------------------ backward ----------

    public void SpMMBackward(CsrGraph graph, GraphPlan plan, in GkSpmmDesc desc, DeviceBuffer? x, DeviceBuffer? edge, DeviceBuffer? arg,
        DeviceBuffer gradY, long ldGradY, DeviceBuffer? gradX, long ldGradX, DeviceBuffer? gradEdge, long ldGradEdge, DeviceBuffer? workspace)
    {
        const string op = OpBwd;
        Resolved r = CheckDesc(op, desc);
        GkSpmmDesc d = desc;
        long rows = graph.NumRows, cols = graph.NumCols, nnz = graph.Nnz;
        long vsz = ValueSize(d), isz = IndexSize(graph);
        bool extreme = d.Reduce is 2 or 3;
        bool isMul = d.Reduce == 4;
        if (d.Message == 2 && gradX is not null)
        {
            throw Fail($"{op}: grad_x must be NULL for GK_MESSAGE_COPY_E (the message does not read x)");
        }

        if (d.Message == 0 && gradEdge is not null)
        {
            throw Fail($"{op}: grad_edge must be NULL for GK_MESSAGE_COPY_U (no edge operand)");
        }

        if (ldGradY < 0 || ldGradX < 0 || ldGradEdge < 0)
        {
            throw Fail($"{op}: ld_gy = {ldGradY}, ld_gx = {ldGradX}, ld_ge = {ldGradEdge}: none may be negative");
        }

        long lgy = ldGradY == 0 ? d.Feat : ldGradY;
        long lgx = ldGradX == 0 ? d.Feat : ldGradX;
        long lge = ldGradEdge == 0 ? (r.Width > 0 ? r.Width : 1) : ldGradEdge;
        bool needX = d.Message != 2 && (isMul || (gradEdge is not null && (d.Message == 1 || d.Message == 5)));
        bool needE = d.EdgeMode != 0 && (isMul || gradEdge is not null || (gradX is not null && (d.Message == 1 || d.Message == 5)));
        if (needX)
        {
            CheckMatrix(op, "x", "desc->ldx", x, nnz > 0 ? cols : 0, d.Feat, r.Ldx, vsz);
        }

        if (needE)
        {
            CheckMatrix(op, "edge", "desc->lde", edge, nnz, r.Width, r.Lde, vsz);
        }

        CheckMatrix(op, "grad_y", "ld_gy", gradY, nnz > 0 ? rows : 0, d.Feat, lgy, vsz);
        if (extreme && nnz > 0)
        {
            if (arg is null)
            {
                throw Fail($"{op}: arg is NULL; the max/min backward needs the forward's arg_out");
            }

            CheckMatrix(op, "arg", "desc->ld_arg", arg, rows, d.Feat, r.LdArg, isz);
        }

        if (gradX is not null)
        {
            CheckPlan(op, graph, plan);
            CheckMatrix(op, "grad_x", "ld_gx", gradX, cols, d.Feat, lgx, vsz);
        }

        if (gradEdge is not null)
        {
            CheckMatrix(op, "grad_edge", "ld_ge", gradEdge, nnz, r.Width, lge, vsz);
        }

        long wsNeed = isMul ? nnz * d.Feat * 4 : 0;
        if (wsNeed > 0)
        {
            if (workspace is null)
            {
                throw Fail($"{op}: workspace is NULL (needs {wsNeed} bytes)", GkStatus.Workspace);
            }

            if (workspace.SizeInBytes < wsNeed)
            {
                throw Fail($"{op}: workspace_bytes = {workspace.SizeInBytes}, needs {wsNeed}", GkStatus.Workspace);
            }
        }

        bool gx = gradX is not null;
        ReadOnlySpan<SpmmExtent> ins =
        [
            Ext("x", x, needX ? MatrixBytes(nnz > 0 ? cols : 0, d.Feat, r.Ldx, vsz) : 0),
            Ext("edge", edge, needE ? MatrixBytes(nnz, r.Width, r.Lde, vsz) : 0),
            Ext("arg", arg, extreme ? MatrixBytes(rows, d.Feat, r.LdArg, isz) : 0),
            Ext("grad_y", gradY, MatrixBytes(nnz > 0 ? rows : 0, d.Feat, lgy, vsz)),
            Ext("csr->row_ptr", graph.RowPtr, (rows + 1) * isz),
            Ext("csr->col_idx", graph.ColIdx, nnz * isz),
            Ext("plan->t_row_ptr", gx ? plan.TRowPtr : null, (cols + 1) * isz),
            Ext("plan->t_col_idx", gx ? plan.TColIdx : null, nnz * isz),
            Ext("plan->perm", gx ? plan.TransposePermutation : null, nnz * isz),
        ];
        ReadOnlySpan<SpmmExtent> outs =
        [
            Ext("grad_x", gradX, gx ? MatrixBytes(cols, d.Feat, lgx, vsz) : 0),
            Ext("grad_edge", gradEdge, gradEdge is not null ? MatrixBytes(nnz, r.Width, lge, vsz) : 0),
            Ext("workspace", workspace, wsNeed),
        ];
        CheckSpmmOverlaps(op, outs, ins);

        var a = ShapeParams(d, r, rows, cols, nnz) with
        {
            Heads = d.EdgeMode == 2 ? d.Heads : 1,
            LdArg = r.LdArg,
            LdGy = lgy,
            Reduce = d.Reduce,
        };
        var leases = default(BufferLeases);
        try
        {
            leases.Add(graph.RowPtr);
            leases.Add(graph.ColIdx);
            if (gx)
            {
                leases.Add(plan.TRowPtr);
                leases.Add(plan.TColIdx);
                leases.Add(plan.TransposePermutation);
            }

            leases.Add(x);
            leases.Add(edge);
            leases.Add(arg);
            leases.Add(gradY);
            leases.Add(gradX);
            leases.Add(gradEdge);
            leases.Add(workspace);
            var ops = new BwdOp(this, graph, a, gx ? plan : null, x, edge, extreme ? arg : null, gradY, gradX, lgx, gradEdge, lge,
                wsNeed > 0 ? workspace : null);
            Dispatch(graph, d.Dtype, ref ops);
        }
        finally
        {
            leases.Dispose();
        }
    }

    /// <summary>
    /// gk_spmm_multi_backward: check_multi_entry then prepare_backward with refold (x and the edge operand always read,
    /// the [E, F] fp32 workspace required when E·F > 0), in the native order; then the native passes: the refold into the
    /// workspace, dX over the transpose and dE per edge, both reading dL/dm as the mul reducer's backward does.
    /// </summary>
    public void SpMMMultiBackward(CsrGraph graph, GraphPlan plan, in GkSpmmDesc desc, DeviceBuffer? x, DeviceBuffer? edge, DeviceBuffer? gradSum,
        DeviceBuffer? gradMean, DeviceBuffer? gradMin, DeviceBuffer? gradMax, DeviceBuffer? gradVariance, DeviceBuffer? gradStd, long ldGrad,
        DeviceBuffer? gradX, long ldGradX, DeviceBuffer? gradEdge, long ldGradEdge, DeviceBuffer? workspace)
    {
        const string op = OpMultiBwd;
        Resolved r = CheckMultiEntry(op, desc);
        GkSpmmDesc d = desc;
        long rows = graph.NumRows, cols = graph.NumCols, nnz = graph.Nnz;
        long vsz = ValueSize(d), isz = IndexSize(graph);
        if (d.Message == 2 && gradX is not null)
        {
            throw Fail($"{op}: grad_x must be NULL for GK_MESSAGE_COPY_E (the message does not read x)");
        }

        if (d.Message == 0 && gradEdge is not null)
        {
            throw Fail($"{op}: grad_edge must be NULL for GK_MESSAGE_COPY_U (no edge operand)");
        }

        if (ldGrad < 0 || ldGradX < 0 || ldGradEdge < 0)
        {
            throw Fail($"{op}: ld_gy = {ldGrad}, ld_gx = {ldGradX}, ld_ge = {ldGradEdge}: none may be negative");
        }

        long lgy = ldGrad == 0 ? d.Feat : ldGrad;
        long lgx = ldGradX == 0 ? d.Feat : ldGradX;
        long lge = ldGradEdge == 0 ? (r.Width > 0 ? r.Width : 1) : ldGradEdge;
        bool needX = d.Message != 2;
        bool needE = d.EdgeMode != 0;
        if (needX)
        {
            CheckMatrix(op, "x", "desc->ldx", x, nnz > 0 ? cols : 0, d.Feat, r.Ldx, vsz);
        }

        if (needE)
        {
            CheckMatrix(op, "edge", "desc->lde", edge, nnz, r.Width, r.Lde, vsz);
        }

        var g = new OutputSix { B0 = gradSum, B1 = gradMean, B2 = gradMin, B3 = gradMax, B4 = gradVariance, B5 = gradStd };
        int mask = 0;
        for (int k = 0; k < 6; k++)
        {
            if (g[k] is { } b)
            {
                mask |= 1 << k;
                CheckMatrix(op, MultiGradNames[k], "ld_gy", b, nnz > 0 ? rows : 0, d.Feat, lgy, vsz);
            }
        }

        if (gradX is not null)
        {
            CheckPlan(op, graph, plan);
            CheckMatrix(op, "grad_x", "ld_gx", gradX, cols, d.Feat, lgx, vsz);
        }

        if (gradEdge is not null)
        {
            CheckMatrix(op, "grad_edge", "ld_ge", gradEdge, nnz, r.Width, lge, vsz);
        }

        long wsNeed = nnz * d.Feat * 4;
        if (wsNeed > 0)
        {
            if (workspace is null)
            {
                throw Fail($"{op}: workspace is NULL (needs {wsNeed} bytes)", GkStatus.Workspace);
            }

            if (workspace.SizeInBytes < wsNeed)
            {
                throw Fail($"{op}: workspace_bytes = {workspace.SizeInBytes}, needs {wsNeed}", GkStatus.Workspace);
            }
        }

        bool gx = gradX is not null;
        long gyBytes = MatrixBytes(nnz > 0 ? rows : 0, d.Feat, lgy, vsz);
        ReadOnlySpan<SpmmExtent> ins =
        [
            Ext("x", x, needX ? MatrixBytes(nnz > 0 ? cols : 0, d.Feat, r.Ldx, vsz) : 0),
            Ext("edge", edge, needE ? MatrixBytes(nnz, r.Width, r.Lde, vsz) : 0),
            Ext("csr->row_ptr", graph.RowPtr, (rows + 1) * isz),
            Ext("csr->col_idx", graph.ColIdx, nnz * isz),
            Ext(MultiGradNames[0], gradSum, gradSum is not null ? gyBytes : 0),
            Ext(MultiGradNames[1], gradMean, gradMean is not null ? gyBytes : 0),
            Ext(MultiGradNames[2], gradMin, gradMin is not null ? gyBytes : 0),
            Ext(MultiGradNames[3], gradMax, gradMax is not null ? gyBytes : 0),
            Ext(MultiGradNames[4], gradVariance, gradVariance is not null ? gyBytes : 0),
            Ext(MultiGradNames[5], gradStd, gradStd is not null ? gyBytes : 0),
            Ext("plan->t_row_ptr", gx ? plan.TRowPtr : null, (cols + 1) * isz),
            Ext("plan->t_col_idx", gx ? plan.TColIdx : null, nnz * isz),
            Ext("plan->perm", gx ? plan.TransposePermutation : null, nnz * isz),
        ];
        ReadOnlySpan<SpmmExtent> outs =
        [
            Ext("grad_x", gradX, gx ? MatrixBytes(cols, d.Feat, lgx, vsz) : 0),
            Ext("grad_edge", gradEdge, gradEdge is not null ? MatrixBytes(nnz, r.Width, lge, vsz) : 0),
            Ext("workspace", workspace, wsNeed),
        ];
        CheckSpmmOverlaps(op, outs, ins);

        var a = ShapeParams(d, r, rows, cols, nnz) with
        {
            Heads = d.EdgeMode == 2 ? d.Heads : 1,
            LdArg = r.LdArg,
            LdGy = lgy,
            Reduce = GSpmmKernels.Mul,
            OutMask = mask,
        };
        var leases = default(BufferLeases);
        try
        {
            leases.Add(graph.RowPtr);
            leases.Add(graph.ColIdx);
            if (gx)
            {
                leases.Add(plan.TRowPtr);
                leases.Add(plan.TColIdx);
                leases.Add(plan.TransposePermutation);
            }

            leases.Add(x);
            leases.Add(edge);
            for (int k = 0; k < 6; k++)
            {
                leases.Add(g[k]);
            }

            leases.Add(gradX);
            leases.Add(gradEdge);
            leases.Add(workspace);
            var ops = new MultiBwdOp(this, graph, a, gx ? plan : null, x, edge, g, gradX, lgx, gradEdge, lge, wsNeed > 0 ? workspace : null);
            Dispatch(graph, d.Dtype, ref ops);
        }
        finally
        {
            leases.Dispose();
        }
    }

    // ------------------------------------------------------------------ fused built-ins ----------

    public void FusedMessage(CsrGraph graph, FusedBuiltin builtin, Reduce reduce, long features, DeviceBuffer<float>? xSrc,
        DeviceBuffer<float>? xDst, DeviceBuffer<float>? edge, long edgeWidth, DeviceBuffer<float> y)
    {
        // gk_fused_message's checks in its order (FusedMessage.Run passes ld = the width for every operand).
        const string op = "gk_fused_message";
        int b = (int)builtin, red = (int)reduce;
        long feat = features, ldSrc = features, ldDst = features, ldEdge = edgeWidth, ldy = features;
        if (b < 0 || b > 3)
        {
            throw Fail($"{op}: builtin = {b} is not a gk_fused_builtin (0 = copy_u, 1 = u_mul_e, 2 = u_add_v, 3 = u_mul_e_feat)");
        }

        if (red < 0 || red > 3)
        {
            throw Fail($"{op}: reduce = {red} is not a gk_reduce (0 = sum, 1 = mean, 2 = max, 3 = min)");
        }

        if (feat < 1)
        {
            throw Fail($"{op}: feat = {feat}, must be >= 1");
        }

        long rows = graph.NumRows, cols = graph.NumCols, nnz = graph.Nnz;
        bool usesDst = b == 2;
        bool usesEdge = b is 1 or 3;
        long edgeNeed = b == 1 ? 1 : b == 3 ? feat : 0;
        CheckMatrix(op, "x_src", "ld_src", xSrc, nnz > 0 ? cols : 0, feat, ldSrc, 4);
        if (usesDst)
        {
            CheckMatrix(op, "x_dst", "ld_dst", xDst, nnz > 0 ? rows : 0, feat, ldDst, 4);
        }
        else if (xDst is not null)
        {
            throw Fail($"{op}: x_dst must be NULL for builtin = {b} (only u_add_v reads it)");
        }

        if (usesEdge)
        {
            if (edgeWidth < edgeNeed)
            {
                throw Fail($"{op}: edge_width = {edgeWidth}, builtin = {b} needs at least {edgeNeed}");
            }

            if (ldEdge < edgeWidth)
            {
                throw Fail($"{op}: ld_edge = {ldEdge} is less than edge_width = {edgeWidth}");
            }

            CheckMatrix(op, "edge", "ld_edge", edge, nnz, edgeWidth, ldEdge, 4);
        }
        else if (edge is not null || edgeWidth != 0)
        {
            throw Fail($"{op}: edge must be NULL and edge_width 0 for builtin = {b} (it reads no edge data); edge_width = {edgeWidth}");
        }

        CheckMatrix(op, "y", "ldy", y, rows, feat, ldy, 4);
        long isz = IndexSize(graph);
        SpmmExtent yExt = Ext("y", y, MatrixBytes(rows, feat, ldy, 4));
        ReadOnlySpan<SpmmExtent> ins =
        [
            Ext("x_src", xSrc, MatrixBytes(nnz > 0 ? cols : 0, feat, ldSrc, 4)),
            Ext("x_dst", xDst, usesDst ? MatrixBytes(nnz > 0 ? rows : 0, feat, ldDst, 4) : 0),
            Ext("edge", edge, usesEdge ? MatrixBytes(nnz, edgeWidth, ldEdge, 4) : 0),
            Ext("csr->row_ptr", graph.RowPtr, (rows + 1) * isz),
            Ext("csr->col_idx", graph.ColIdx, nnz * isz),
        ];
        foreach (SpmmExtent input in ins)
        {
            if (Overlaps(yExt, input))
            {
                throw Fail($"{op}: y overlaps {input.Name}; in-place fused message passing is not supported");
            }
        }

        if (rows == 0)
        {
            return;
        }

        var a = new GSpmmParams
        {
            Rows = rows,
            Cols = cols,
            Nnz = nnz,
            Feat = feat,
            Ldx = ldSrc,
            LdOut = ldDst,
            Lde = ldEdge,
            Ldy = ldy,
            Message = b,
            Reduce = red,
        };
        var leases = default(BufferLeases);
        try
        {
            leases.Add(graph.RowPtr);
            leases.Add(graph.ColIdx);
            leases.Add(xSrc);
            leases.Add(xDst);
            leases.Add(edge);
            leases.Add(y);
            var yv = View<float>(y);
            var sv = xSrc is null ? yv : View<float>(xSrc);
            var dv = xDst is null ? yv : View<float>(xDst);
            var ev = edge is null ? yv : View<float>(edge);
            if (graph.IndexType == IndexType.Int32)
            {
                GSpmm.Fused(a, Idx<Index32>(graph.RowPtr, graph.RowPtr), Idx<Index32>(graph.ColIdx, graph.RowPtr), sv, dv, ev, yv);
            }
            else
            {
                GSpmm.Fused(a, Idx<Index64>(graph.RowPtr, graph.RowPtr), Idx<Index64>(graph.ColIdx, graph.RowPtr), sv, dv, ev, yv);
            }
        }
        finally
        {
            leases.Dispose();
        }
    }

    // ------------------------------------------------------------------ typed dispatch ----------

    /// <summary>An op body generic over the index view and the value view.</summary>
    private interface ITypedOp
    {
        void Run<TI, TV>()
            where TI : struct, IIndexView
            where TV : struct, IValueView;
    }

    private static void Dispatch<TOp>(CsrGraph graph, int dtype, ref TOp op)
        where TOp : struct, ITypedOp
    {
        if (graph.IndexType == IndexType.Int32)
        {
            switch (dtype)
            {
                case 1: op.Run<Index32, F16Values>(); break;
                case 2: op.Run<Index32, Bf16Values>(); break;
                default: op.Run<Index32, F32Values>(); break;
            }
        }
        else
        {
            switch (dtype)
            {
                case 1: op.Run<Index64, F16Values>(); break;
                case 2: op.Run<Index64, Bf16Values>(); break;
                default: op.Run<Index64, F32Values>(); break;
            }
        }
    }

    /// <summary>An index view of <paramref name="b"/> (or of <paramref name="fallback"/> when b is null: never read).</summary>
    private static TI Idx<TI>(DeviceBuffer? b, DeviceBuffer fallback)
        where TI : struct, IIndexView
    {
        DeviceBuffer s = b ?? fallback;
        if (typeof(TI) == typeof(Index32))
        {
            var v = new Index32(View<int>(s));
            return Unsafe.As<Index32, TI>(ref v);
        }

        var w = new Index64(View<long>(s));
        return Unsafe.As<Index64, TI>(ref w);
    }

    /// <summary>A value view of <paramref name="b"/> (or of <paramref name="fallback"/> when b is null: never read).</summary>
    private static TV Val<TV>(DeviceBuffer? b, DeviceBuffer fallback)
        where TV : struct, IValueView
        => ValueViews.Make<TV>(Bytes(b ?? fallback));

    /// <summary>The buffer's bytes (its SizeInBytes, whatever its element type).</summary>
    private static ArrayView<byte> Bytes(DeviceBuffer b) => View<byte>(b.MemoryHandle.ManagedAllocation!).SubView(0, b.SizeInBytes);

    private struct ExOp(IlgpuBackend owner, CsrGraph g, GSpmmParams a, DeviceBuffer? x, DeviceBuffer? e, DeviceBuffer y, DeviceBuffer? arg,
        GraphPlan? plan, DeviceBuffer? ws) : ITypedOp
    {
        public readonly void Run<TI, TV>()
            where TI : struct, IIndexView
            where TV : struct, IValueView
        {
            var rp = Idx<TI>(g.RowPtr, g.RowPtr);
            var ci = Idx<TI>(g.ColIdx, g.RowPtr);
            var xv = Val<TV>(x, y);
            var ev = Val<TV>(e, y);
            var yv = Val<TV>(y, y);
            var av = Idx<TI>(arg, g.RowPtr);
            if (plan is null)
            {
                owner.GSpmm.Forward(a, rp, ci, xv, ev, yv, av);
                return;
            }

            var raw = Bytes(ws!);
            long n = a.MaxItems * a.Feat;
            var part = raw.SubView(0, Math.Max(1, n * 4)).Cast<float>();
            var partArg = a.Reduce is GSpmmKernels.Max or GSpmmKernels.Min
                ? raw.SubView(a.PartArgOffset, Math.Max(8, n * 8)).Cast<long>()
                : View<long>(plan.RowItemPtr);
            owner.GSpmm.Chunked(a, rp, ci, xv, ev, yv, av, View<long>(plan.RowItemPtr), View<long>(plan.ItemRow), part, partArg);
        }
    }

    [InlineArray(6)]
    private struct ExtentSix
    {
        private SpmmExtent _e;
    }

    [InlineArray(6)]
    private struct OutputSix
    {
        private DeviceBuffer? _b;

        public DeviceBuffer? B0 { readonly get => this[0]; set => this[0] = value; }

        public DeviceBuffer? B1 { readonly get => this[1]; set => this[1] = value; }

        public DeviceBuffer? B2 { readonly get => this[2]; set => this[2] = value; }

        public DeviceBuffer? B3 { readonly get => this[3]; set => this[3] = value; }

        public DeviceBuffer? B4 { readonly get => this[4]; set => this[4] = value; }

        public DeviceBuffer? B5 { readonly get => this[5]; set => this[5] = value; }
    }

    private struct MultiOp(IlgpuBackend owner, CsrGraph g, GSpmmParams a, DeviceBuffer? x, DeviceBuffer? e, OutputSix o) : ITypedOp
    {
        public readonly void Run<TI, TV>()
            where TI : struct, IIndexView
            where TV : struct, IValueView
        {
            DeviceBuffer any = (o[0] ?? o[1] ?? o[2] ?? o[3] ?? o[4] ?? o[5])!;
            owner.GSpmm.Multi(a, Idx<TI>(g.RowPtr, g.RowPtr), Idx<TI>(g.ColIdx, g.RowPtr), Val<TV>(x, any), Val<TV>(e, any),
                Val<TV>(o[0], any), Val<TV>(o[1], any), Val<TV>(o[2], any), Val<TV>(o[3], any), Val<TV>(o[4], any), Val<TV>(o[5], any));
        }
    }

    private struct MultiBwdOp(IlgpuBackend owner, CsrGraph g, GSpmmParams a, GraphPlan? plan, DeviceBuffer? x, DeviceBuffer? e, OutputSix gr,
        DeviceBuffer? gx, long ldGx, DeviceBuffer? ge, long ldGe, DeviceBuffer? ws) : ITypedOp
    {
        public readonly void Run<TI, TV>()
            where TI : struct, IIndexView
            where TV : struct, IValueView
        {
            var k = owner.GSpmm;
            DeviceBuffer any = (gr[0] ?? gr[1] ?? gr[2] ?? gr[3] ?? gr[4] ?? gr[5])!;
            var rp = Idx<TI>(g.RowPtr, g.RowPtr);
            var ci = Idx<TI>(g.ColIdx, g.RowPtr);
            var xv = Val<TV>(x, any);
            var ev = Val<TV>(e, any);
            var dm = ws is null ? Bytes(any).Cast<float>() : Bytes(ws).Cast<float>();  // ws null: E·F = 0, dm never read
            if (ws is not null && a.Rows > 0 && a.Nnz > 0)
            {
                k.MultiBackward(a, rp, ci, xv, ev, Val<TV>(gr[0], any), Val<TV>(gr[1], any), Val<TV>(gr[2], any), Val<TV>(gr[3], any),
                    Val<TV>(gr[4], any), Val<TV>(gr[5], any), dm);
            }

            var gyv = Val<TV>(any, any);
            if (gx is not null && a.Cols > 0)
            {
                var q = a;
                q.LdOut = ldGx;
                k.BackwardX(q, rp, Idx<TI>(plan!.TRowPtr, g.RowPtr), Idx<TI>(plan.TColIdx, g.RowPtr), Idx<TI>(plan.TransposePermutation, g.RowPtr),
                    rp, ev, gyv, Val<TV>(gx, any), dm);
            }

            if (ge is not null && a.Nnz > 0)
            {
                var q = a;
                q.LdOut = ldGe;
                k.BackwardE(q, rp, ci, rp, xv, ev, gyv, Val<TV>(ge, any), dm);
            }
        }
    }

    private struct BwdOp(IlgpuBackend owner, CsrGraph g, GSpmmParams a, GraphPlan? plan, DeviceBuffer? x, DeviceBuffer? e, DeviceBuffer? arg,
        DeviceBuffer gy, DeviceBuffer? gx, long ldGx, DeviceBuffer? ge, long ldGe, DeviceBuffer? ws) : ITypedOp
    {
        public readonly void Run<TI, TV>()
            where TI : struct, IIndexView
            where TV : struct, IValueView
        {
            var k = owner.GSpmm;
            var rp = Idx<TI>(g.RowPtr, g.RowPtr);
            var ci = Idx<TI>(g.ColIdx, g.RowPtr);
            var av = Idx<TI>(arg, g.RowPtr);
            var xv = Val<TV>(x, gy);
            var ev = Val<TV>(e, gy);
            var gyv = Val<TV>(gy, gy);
            var dm = ws is null ? Bytes(gy).Cast<float>() : Bytes(ws).Cast<float>();
            if (a.Reduce == GSpmmKernels.Mul && a.Rows > 0)
            {
                k.BackwardMul(a, rp, ci, xv, ev, gyv, dm);
            }

            if (gx is not null && a.Cols > 0)
            {
                var q = a;
                q.LdOut = ldGx;
                k.BackwardX(q, rp, Idx<TI>(plan!.TRowPtr, g.RowPtr), Idx<TI>(plan.TColIdx, g.RowPtr), Idx<TI>(plan.TransposePermutation, g.RowPtr),
                    av, ev, gyv, Val<TV>(gx, gy), dm);
            }

            if (ge is not null && a.Nnz > 0)
            {
                var q = a;
                q.LdOut = ldGe;
                k.BackwardE(q, rp, ci, av, xv, ev, gyv, Val<TV>(ge, gy), dm);
            }
        }
    }
}
