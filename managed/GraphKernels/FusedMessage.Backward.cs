using System;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using GraphKernels.Interop;
using GraphKernels.Jit;

namespace GraphKernels;

/// <summary>
/// The derivatives of a message expression, for <see cref="FusedMessage.Backward"/>: CUDA C
/// expressions over the same operands (src, dst, edge, f; <see cref="Edge"/> also k), validated like
/// the message. A null derivative means that gradient is not wanted (asking for it is an error).
/// </summary>
/// <param name="Src">d msg_f / d src[f].</param>
/// <param name="Dst">d msg_f / d dst[f].</param>
/// <param name="Edge">d msg_f / d edge[k], k the edge column (e.g. <c>k == 0 ? src[f] : 0.0f</c> for <c>src[f] * edge[0]</c>).</param>
public sealed record MessageDerivatives(string? Src = null, string? Dst = null, string? Edge = null);

/// <summary>The fused backward (sum and mean).</summary>
public sealed unsafe partial class FusedMessage
{
    private static readonly MessageDerivatives[] BuiltinGrads =
    [
        new("1.0f", "0.0f", "0.0f"),
        new("edge[0]", "0.0f", "k == 0 ? src[f] : 0.0f"),
        new("1.0f", "1.0f", "0.0f"),
        new("edge[f]", "0.0f", "k == f ? src[f] : 0.0f"),
    ];

    private static readonly string[] BuiltinGradStructs = ["gk::FusedCopyUGrad", "gk::FusedUMulEGrad", "gk::FusedUAddVGrad", "gk::FusedUMulEFeatGrad"];
    private static readonly string[] BackwardKernels = ["gk::fused_message_grad_src_kernel", "gk::fused_message_grad_dst_kernel", "gk::fused_message_grad_edge_kernel"];
    private static readonly string[] DerivativeFiles = ["d_src", "d_dst", "d_edge"];

    private readonly object _backwardGate = new();
    private MessageDerivatives? _derivatives;
    private CudaModule? _backwardModule;
    private nint[]? _backwardFunctions;   // [index type * 3 + kernel]

    /// <summary>The derivatives the backward uses: the user's, or the built-in's; null when there is no backward (a user expression created without derivatives).</summary>
    public MessageDerivatives? Derivatives => _derivatives ?? (Builtin is { } b ? BuiltinGrads[(int)b] : null);

    /// <summary>The derivatives of a built-in, as expressions (what its ahead-of-time backward computes).</summary>
    /// <param name="builtin">The built-in.</param>
    /// <returns>Its derivatives.</returns>
    public static MessageDerivatives BuiltinDerivatives(FusedBuiltin builtin)
        => (uint)builtin < (uint)BuiltinGrads.Length
            ? BuiltinGrads[(int)builtin]
            : throw new ArgumentOutOfRangeException(nameof(builtin), builtin, "not a FusedBuiltin");

    /// <summary>
    /// Creates a fused message with a backward: <paramref name="derivatives"/> gives d msg / d src[f],
    /// d msg / d dst[f] and d msg / d edge[k]. The reducer must be Sum or Mean; the message may read
    /// src and dst only as <c>src[f]</c> and <c>dst[f]</c> (<see cref="MessageExpression.RequireElementwise"/>).
    /// On a CUDA device the backward kernels are generated from kernels/fused_message_backward.cuh and
    /// compiled with NVRTC now; on the emulated device the expression must be a built-in and each
    /// given derivative must be the built-in's (<see cref="BuiltinDerivatives"/>).
    /// </summary>
    /// <param name="device">The device.</param>
    /// <param name="messageExpression">The message.</param>
    /// <param name="reduce">Sum or Mean.</param>
    /// <param name="derivatives">The derivatives (null members: that gradient is not available).</param>
    /// <returns>The fused message.</returns>
    /// <exception cref="FusedMessageException">The message or a derivative is invalid (Snippet, Line and Column say where), or NVRTC rejected it.</exception>
    /// <exception cref="NotSupportedException">User-defined derivatives on the emulated device, or no NVRTC on CUDA.</exception>
    public static FusedMessage Create(GraphDevice device, string messageExpression, Reduce reduce, MessageDerivatives derivatives)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(messageExpression);
        ArgumentNullException.ThrowIfNull(derivatives);
        if (reduce is not (Reduce.Sum or Reduce.Mean))
        {
            throw new ArgumentOutOfRangeException(nameof(reduce), reduce, $"reduce = {reduce}: the fused backward covers Reduce.Sum and Reduce.Mean only.");
        }

        MessageExpression.Validate(messageExpression);
        MessageExpression.RequireElementwise(messageExpression);
        ValidateDerivatives(derivatives);
        bool isBuiltin = TryGetBuiltin(messageExpression, out FusedBuiltin builtin);
        if (device.Kind != DeviceKind.Cuda)
        {
            if (!isBuiltin)
            {
                throw new NotSupportedException($"A user-defined message with a backward needs NVRTC and a CUDA device; {device.Name} ({device.Kind}) runs only the built-ins.");
            }

            CheckBuiltinDerivatives(builtin, derivatives);
        }

        FusedMessage fm = Create(device, messageExpression, reduce);
        fm._derivatives = isBuiltin && device.Kind != DeviceKind.Cuda ? null : derivatives;
        if (device.Kind == DeviceKind.Cuda)
        {
            try
            {
                fm.EnsureBackwardModule();
            }
            catch
            {
                fm.Dispose();
                throw;
            }
        }

        return fm;
    }

    private static void ValidateDerivatives(MessageDerivatives d)
    {
        if (d.Src is not null)
        {
            MessageExpression.ValidateDerivative(d.Src, DerivativeOperand.Src);
        }

        if (d.Dst is not null)
        {
            MessageExpression.ValidateDerivative(d.Dst, DerivativeOperand.Dst);
        }

        if (d.Edge is not null)
        {
            MessageExpression.ValidateDerivative(d.Edge, DerivativeOperand.Edge);
        }
    }

    private static void CheckBuiltinDerivatives(FusedBuiltin builtin, MessageDerivatives d)
    {
        var b = BuiltinGrads[(int)builtin];
        void Same(string? given, string expected, DerivativeOperand which)
        {
            if (given is not null && MessageExpression.Canonical(given) != MessageExpression.Canonical(expected))
            {
                throw new NotSupportedException(
                    $"User-defined derivatives need NVRTC and a CUDA device; on this device {BuiltinExpression(builtin)} has only its built-in derivative {which} = {expected} (given: {given}).");
            }
        }

        Same(d.Src, b.Src!, DerivativeOperand.Src);
        Same(d.Dst, b.Dst!, DerivativeOperand.Dst);
        Same(d.Edge, b.Edge!, DerivativeOperand.Edge);
    }

    /// <summary>
    /// The CUDA program of a user backward: the struct <c>gk_user::Grad</c> whose members return the
    /// derivatives (each under <c>#line 1 "d_src"</c> / <c>"d_dst"</c> / <c>"d_edge"</c>, so NVRTC's
    /// errors name the snippet and its line; a missing derivative is 0), and kernels/fused_message_backward.cuh.
    /// </summary>
    /// <param name="derivatives">The (validated) derivatives.</param>
    /// <returns>The program text.</returns>
    public static string GenerateBackwardProgram(MessageDerivatives derivatives)
    {
        ArgumentNullException.ThrowIfNull(derivatives);
        var sb = new StringBuilder();
        sb.Append("#include \"fused_message_backward.cuh\"\n");
        sb.Append("namespace gk_user {\n");
        sb.Append("struct Grad {\n");
        string?[] bodies = [derivatives.Src, derivatives.Dst, derivatives.Edge];
        for (int i = 0; i < 3; i++)
        {
            sb.Append("    static __device__ __forceinline__ float ").Append(DerivativeFiles[i])
              .Append("(const float* __restrict__ src, const float* __restrict__ dst, const float* __restrict__ edge, int64_t f")
              .Append(i == 2 ? ", int64_t k) {\n        (void)k;\n" : ") {\n");
            sb.Append("        (void)src; (void)dst; (void)edge; (void)f;\n");
            sb.Append("        return static_cast<float>(\n");
            sb.Append("#line 1 \"").Append(DerivativeFiles[i]).Append("\"\n");
            sb.Append((bodies[i] ?? "0.0f").Replace("\r\n", "\n", StringComparison.Ordinal));
            sb.Append("\n#line ").Append((10 + (i * 10)).ToString(CultureInfo.InvariantCulture)).Append(" \"fused_message_backward_user.cu\"\n");
            sb.Append("        );\n");
            sb.Append("    }\n");
        }

        sb.Append("};\n");
        sb.Append("}  // namespace gk_user\n");
        return sb.ToString();
    }

    /// <summary>The backward name expressions for one derivative struct and reducer: int then long long, each grad_src, grad_dst, grad_edge.</summary>
    /// <param name="gradStruct">e.g. "gk_user::Grad" or "gk::FusedUMulEGrad".</param>
    /// <param name="reduce">Sum or Mean.</param>
    /// <returns>6 name expressions.</returns>
    public static IReadOnlyList<string> BackwardNameExpressions(string gradStruct, Reduce reduce)
    {
        var names = new List<string>(6);
        foreach (string index in new[] { "int", "long long" })
        {
            foreach (string kernel in BackwardKernels)
            {
                names.Add(string.Create(CultureInfo.InvariantCulture, $"{kernel}<{index}, {gradStruct}, {(int)reduce}>"));
            }
        }

        return names;
    }

    /// <summary>Compiles the backward of a message for <paramref name="target"/> (no device needed; for tests and <see cref="Create(GraphDevice, string, Reduce, MessageDerivatives)"/>).</summary>
    /// <param name="jit">The compilation service.</param>
    /// <param name="messageExpression">The message (validated and checked elementwise here).</param>
    /// <param name="reduce">Sum or Mean.</param>
    /// <param name="derivatives">The derivatives (validated here); null: a built-in's own.</param>
    /// <param name="target">The target.</param>
    /// <returns>The image; its LoweredNames hold the <see cref="BackwardNameExpressions"/>.</returns>
    /// <exception cref="FusedMessageException">Invalid snippet, or NVRTC rejected a derivative (Snippet names it).</exception>
    public static JitImage CompileBackward(JitCompiler jit, string messageExpression, Reduce reduce, MessageDerivatives? derivatives, JitTarget target)
    {
        ArgumentNullException.ThrowIfNull(jit);
        ArgumentNullException.ThrowIfNull(messageExpression);
        MessageExpression.Validate(messageExpression);
        MessageExpression.RequireElementwise(messageExpression);
        FusedBuiltin? builtin = TryGetBuiltin(messageExpression, out var b) ? b : null;
        if (derivatives is null && builtin is null)
        {
            throw new ArgumentNullException(nameof(derivatives), "A user-defined message needs its derivatives for a backward.");
        }

        if (derivatives is not null)
        {
            ValidateDerivatives(derivatives);
        }

        return CompileBackwardFor(jit, derivatives is null ? null : derivatives, builtin, reduce, target);
    }

    private static JitImage CompileBackwardFor(JitCompiler jit, MessageDerivatives? derivatives, FusedBuiltin? builtin, Reduce reduce, JitTarget target)
    {
        bool user = derivatives is not null;
        string program = user ? GenerateBackwardProgram(derivatives!) : "#include \"fused_message_backward.cuh\"\n";
        string gradStruct = user ? "gk_user::Grad" : BuiltinGradStructs[(int)builtin!.Value];
        try
        {
            return jit.Compile(program, user ? "fused_message_backward_user.cu" : "fused_message_backward_builtin.cu",
                BackwardNameExpressions(gradStruct, reduce), target);
        }
        catch (NvrtcCompileException ex)
        {
            Match m = DerivativeDiagnostic().Match(ex.Log);
            if (m.Success)
            {
                var which = (DerivativeOperand)Array.IndexOf(DerivativeFiles, m.Groups[1].Value);
                throw new FusedMessageException(MessageExpression.DerivativeSnippet(which), int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), 0,
                    "NVRTC: " + m.Groups[3].Value.Trim(), ex.Log);
            }

            throw;
        }
    }

    [GeneratedRegex("^(d_src|d_dst|d_edge)\\((\\d+)\\): error[^:]*:(.*)$", RegexOptions.Multiline)]
    private static partial Regex DerivativeDiagnostic();

    private void EnsureBackwardModule()
    {
        lock (_backwardGate)
        {
            if (_backwardFunctions is not null)
            {
                return;
            }

            if (!JitCompiler.TryGetDefault(out var jit, out string whyNot))
            {
                throw new NotSupportedException("The fused backward on CUDA needs NVRTC: " + whyNot);
            }

            var target = JitTarget.Choose(CudaModule.ComputeCapability(_device), jit.Nvrtc.SupportedArchitectures);
            MessageDerivatives? user = _derivatives;
            JitImage image = CompileBackwardFor(jit, user, Builtin, Reduce, target);
            var module = new CudaModule(_device, image.Image);
            try
            {
                var names = BackwardNameExpressions(user is not null ? "gk_user::Grad" : BuiltinGradStructs[(int)Builtin!.Value], Reduce);
                var functions = new nint[names.Count];
                for (int i = 0; i < names.Count; i++)
                {
                    functions[i] = module.GetFunction(image.LoweredNames[names[i]]);
                }

                _backwardModule = module;
                Volatile.Write(ref _backwardFunctions, functions);
            }
            catch
            {
                module.Dispose();
                throw;
            }
        }
    }

    /// <summary>
    /// The backward of <see cref="Run"/> for Sum and Mean, given <paramref name="gradY"/> = dL/dy
    /// [NumRows, features]: gradSrc [NumCols, features] = Σ over out-edges of d msg / d src[f] · g,
    /// gradDst [NumRows, features] = Σ over the row's edges of d msg / d dst[f] · g, gradEdge
    /// [Nnz, edgeWidth] = Σ over f of d msg_f / d edge[k] · g[v, f], with g = dL/dy (Sum) or
    /// dL/dy / deg(v) (Mean). Each output is optional (null: skipped; at least one) and fully
    /// overwritten. gradSrc needs <paramref name="plan"/> (its transpose: no atomics, deterministic).
    /// Built-ins run everywhere (the emulated device through gk_fused_message_backward); user
    /// derivatives on CUDA. Stream-ordered; allocates nothing once compiled (a built-in's CUDA
    /// backward compiles on its first call).
    /// </summary>
    /// <param name="graph">The graph.</param>
    /// <param name="plan">The graph's plan (needed for gradSrc; may be null otherwise).</param>
    /// <param name="features">F.</param>
    /// <param name="xSrc">Source features (as for Run).</param>
    /// <param name="xDst">Destination features (as for Run).</param>
    /// <param name="edge">Edge features (as for Run).</param>
    /// <param name="edgeWidth">Columns of edge.</param>
    /// <param name="gradY">dL/dy [NumRows, features].</param>
    /// <param name="gradSrc">dL/dxSrc or null.</param>
    /// <param name="gradDst">dL/dxDst or null.</param>
    /// <param name="gradEdge">dL/dedge or null.</param>
    /// <param name="stream">The stream.</param>
    /// <exception cref="NotSupportedException">No backward (a user expression created without derivatives, or a Max/Min reducer).</exception>
    /// <exception cref="ArgumentException">A missing operand, plan or derivative, a too-short buffer, another device (ParamName says which).</exception>
    public void Backward(CsrGraph graph, GraphPlan? plan, long features, DeviceBuffer<float>? xSrc, DeviceBuffer<float>? xDst,
        DeviceBuffer<float>? edge, long edgeWidth, DeviceBuffer<float> gradY, DeviceBuffer<float>? gradSrc, DeviceBuffer<float>? gradDst,
        DeviceBuffer<float>? gradEdge, Stream? stream = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(gradY);
        if (Reduce is not (Reduce.Sum or Reduce.Mean))
        {
            throw new NotSupportedException($"The fused backward covers Reduce.Sum and Reduce.Mean; this FusedMessage reduces with {Reduce}.");
        }

        MessageDerivatives d = Derivatives
            ?? throw new NotSupportedException("This FusedMessage has no backward: create it with FusedMessage.Create(device, expression, reduce, derivatives).");
        if (features < 1)
        {
            ThrowRange(nameof(features), features, "must be at least 1");
        }

        if (!ReferenceEquals(graph.Device, _device))
        {
            ThrowArg(nameof(graph), "The graph belongs to another device than this FusedMessage.");
        }

        if (gradSrc is null && gradDst is null && gradEdge is null)
        {
            ThrowArg(nameof(gradSrc), "Backward needs at least one of gradSrc, gradDst, gradEdge.");
        }

        RequireDerivative(gradSrc, d.Src, nameof(gradSrc), "Src");
        RequireDerivative(gradDst, d.Dst, nameof(gradDst), "Dst");
        RequireDerivative(gradEdge, d.Edge, nameof(gradEdge), "Edge");
        if (gradDst is not null && !Operands.Dst)
        {
            ThrowArg(nameof(gradDst), "gradDst must be null: the message reads no dst.");
        }

        if (gradEdge is not null && !Operands.Edge)
        {
            ThrowArg(nameof(gradEdge), "gradEdge must be null: the message reads no edge.");
        }

        GkCsr csr = graph.ToNative(nameof(graph));
        GkPlan p = default;
        if (gradSrc is not null)
        {
            if (plan is null)
            {
                ThrowArg(nameof(plan), "gradSrc needs the graph's plan (GraphPlan.Build): the backward reads its transpose.");
            }

            if (!ReferenceEquals(plan.Graph, graph))
            {
                ThrowArg(nameof(plan), "The plan was built for another graph.");
            }

            p = plan.ToNative(nameof(plan));
        }

        bool anyEdges = graph.Nnz > 0;
        if (Operands.Edge)
        {
            long needWidth = Builtin == FusedBuiltin.UMulEFeat ? features : 1;
            if (edgeWidth < needWidth)
            {
                ThrowRange(nameof(edgeWidth), edgeWidth, "must be at least " + needWidth.ToString(CultureInfo.InvariantCulture) + " for this message");
            }
        }

        long ew = Operands.Edge ? edgeWidth : 0;
        nint ps = Operand(Operands.Src, xSrc, anyEdges ? graph.NumCols : 0, features, nameof(xSrc));
        nint pd = Operand(Operands.Dst, xDst, anyEdges ? graph.NumRows : 0, features, nameof(xDst));
        nint pe = Operand(Operands.Edge, edge, graph.Nnz, ew, nameof(edge));
        nint pgy = Operand(true, gradY, anyEdges ? graph.NumRows : 0, features, nameof(gradY));
        nint pgs = Operand(gradSrc is not null, gradSrc, graph.NumCols, features, nameof(gradSrc));
        nint pgd = Operand(gradDst is not null, gradDst, graph.NumRows, features, nameof(gradDst));
        nint pge = Operand(gradEdge is not null, gradEdge, graph.Nnz, ew, nameof(gradEdge));
        nint pstream = MessagePassing.StreamHandle(stream, _device);

        var leases = default(BufferLeases);
        try
        {
            leases.Add(graph.RowPtr);
            leases.Add(graph.ColIdx);
            leases.Add(gradSrc is not null ? plan!.TRowPtr : null);
            leases.Add(gradSrc is not null ? plan!.TColIdx : null);
            leases.Add(gradSrc is not null ? plan!.TransposePermutation : null);
            leases.Add(ps != 0 ? xSrc : null);
            leases.Add(pd != 0 ? xDst : null);
            leases.Add(pe != 0 ? edge : null);
            leases.Add(gradY);
            leases.Add(gradSrc);
            leases.Add(gradDst);
            leases.Add(gradEdge);
            _device.EnsureContext();
            if (_module is null)
            {
                int status = _device.Api.gk_fused_message_backward(&csr, gradSrc is not null ? &p : null, (int)Builtin!.Value, (int)Reduce, features,
                    (void*)ps, features, (void*)pd, features, (void*)pe, ew, ew, (void*)pgy, features,
                    (void*)pgs, features, (void*)pgd, features, (void*)pge, ew, (void*)pstream);
                if (status != 0)
                {
                    _device.Api.ThrowStatus(status, "gk_fused_message_backward");
                }

                return;
            }

            if (Volatile.Read(ref _backwardFunctions) is null)
            {
                EnsureBackwardModule();
            }

            LaunchBackward(csr, p, features, ps, pd, pe, ew, pgy, pgs, pgd, pge, pstream);
        }
        finally
        {
            leases.Dispose();
        }
    }

    private void LaunchBackward(in GkCsr csr, in GkPlan plan, long features, nint ps, nint pd, nint pe, long ew, nint pgy,
        nint pgs, nint pgd, nint pge, nint pstream)
    {
        int index = csr.IndexType == (int)IndexType.Int64 ? 1 : 0;
        nint rowPtr = csr.RowPtr, colIdx = csr.ColIdx, tRowPtr = plan.TRowPtr, tColIdx = plan.TColIdx, perm = plan.Perm;
        long ld = features, ldEdge = ew, rows = csr.NumRows, cols = csr.NumCols, feat = features, width = ew;
        const long WarpsPerBlock = BlockThreads / 32;
        void** args = stackalloc void*[17];
        if (pgs != 0 && cols > 0)
        {
            args[0] = &rowPtr;
            args[1] = &tRowPtr;
            args[2] = &tColIdx;
            args[3] = &perm;
            args[4] = &ps;
            args[5] = &ld;
            args[6] = &pd;
            args[7] = &ld;
            args[8] = &pe;
            args[9] = &ldEdge;
            args[10] = &pgy;
            args[11] = &ld;
            args[12] = &pgs;
            args[13] = &ld;
            args[14] = &cols;
            args[15] = &feat;
            _backwardModule!.Launch(_backwardFunctions![(index * 3) + 0], Grid(cols), BlockThreads, pstream, args);
        }

        if (rows == 0)
        {
            return;
        }

        args[0] = &rowPtr;
        args[1] = &colIdx;
        args[2] = &ps;
        args[3] = &ld;
        args[4] = &pd;
        args[5] = &ld;
        args[6] = &pe;
        args[7] = &ldEdge;
        args[8] = &pgy;
        args[9] = &ld;
        args[11] = &ld;
        args[12] = &rows;
        args[13] = &feat;
        if (pgd != 0)
        {
            args[10] = &pgd;
            _backwardModule!.Launch(_backwardFunctions![(index * 3) + 1], Grid(rows), BlockThreads, pstream, args);
        }

        if (pge != 0)
        {
            args[10] = &pge;
            args[11] = &ldEdge;
            args[14] = &width;
            _backwardModule!.Launch(_backwardFunctions![(index * 3) + 2], Grid(rows), BlockThreads, pstream, args);
        }

        static uint Grid(long items) => (uint)Math.Min((items + WarpsPerBlock - 1) / WarpsPerBlock, 1L << 20);
    }

    private static void RequireDerivative(DeviceBuffer<float>? output, string? derivative, string paramName, string which)
    {
        if (output is not null && derivative is null)
        {
            ThrowArg(paramName, $"{paramName} needs the derivative {which}, which this FusedMessage was not given.");
        }
    }
}
