using System;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using GraphKernels.Interop;
using GraphKernels.Jit;

namespace GraphKernels;

/// <summary>The built-in message functions (= gk_fused_builtin), instantiated ahead of time in the native libraries.</summary>
public enum FusedBuiltin
{
    /// <summary><c>src[f]</c>.</summary>
    CopyU = 0,

    /// <summary><c>src[f] * edge[0]</c>: one scalar weight per edge.</summary>
    UMulE = 1,

    /// <summary><c>src[f] + dst[f]</c>.</summary>
    UAddV = 2,

    /// <summary><c>src[f] * edge[f]</c>: SchNet's continuous filter, one F-wide row per edge.</summary>
    UMulEFeat = 3,
}

/// <summary>
/// A fused gather-apply-scatter: <c>Y[v, f] = reduce over CSR positions e of row v of msg</c>,
/// where msg is a CUDA C expression over the operands <c>src</c> (the source node's feature row,
/// <c>X_src[col[e], :]</c>), <c>dst</c> (the destination's row, <c>X_dst[v, :]</c>), <c>edge</c>
/// (the edge's row, <c>E[e, :]</c>) and <c>f</c> (the feature index), e.g.
/// <c>src[f] * edge[0] + dst[f]</c>. One kernel (kernels/fused_message.cuh) computes each message
/// in registers and folds it at once: no per-edge message tensor is ever in memory. Row semantics
/// are gk_spmm's: empty rows give 0 for every reducer, max/min keep the first extreme in CSR order,
/// the result is deterministic. On a CUDA device the kernel is generated and compiled with NVRTC
/// (<see cref="JitCompiler"/>, cached on disk), with feature widths 16, 32, 64, 128 and 256 as
/// compile-time constants; on the emulated device only the built-ins run (ahead-of-time
/// instantiations, gk_fused_message). Sum and mean have a fused backward (<see cref="Backward"/>)
/// from the built-ins' derivatives or the user's (<see cref="MessageDerivatives"/>); see docs/jit.md.
/// </summary>
public sealed unsafe partial class FusedMessage : IDisposable
{
    private const int BlockThreads = 256;
    private static readonly int[] Widths = [16, 32, 64, 128, 256];
    private static readonly string[] BuiltinExpressions = ["src[f]", "src[f]*edge[0]", "src[f]+dst[f]", "src[f]*edge[f]"];
    private static readonly string[] BuiltinStructs = ["gk::FusedCopyU", "gk::FusedUMulE", "gk::FusedUAddV", "gk::FusedUMulEFeat"];

    private readonly GraphDevice _device;
    private readonly CudaModule? _module;
    private readonly nint[] _functions = new nint[12];   // [index type * 6 + width slot]
    private bool _disposed;

    private FusedMessage(GraphDevice device, string expression, Reduce reduce, MessageOperands operands, FusedBuiltin? builtin, CudaModule? module, JitImage? image)
    {
        _device = device;
        Expression = expression;
        Reduce = reduce;
        Operands = operands;
        Builtin = builtin;
        _module = module;
        Image = image;
        if (module is not null && image is not null)
        {
            var names = NameExpressions(KernelStruct(builtin), reduce);
            for (int i = 0; i < names.Count; i++)
            {
                _functions[i] = module.GetFunction(image.LoweredNames[names[i]]);
            }
        }
    }

    /// <summary>The feature widths that have a specialised variant (the width a compile-time constant), chosen automatically by <see cref="Run"/>.</summary>
    public static IReadOnlyList<int> SpecializedWidths => Widths;

    /// <summary>The user's expression as given.</summary>
    public string Expression { get; }

    /// <summary>The reducer.</summary>
    public Reduce Reduce { get; }

    /// <summary>Which operands the expression reads (only those must be passed to <see cref="Run"/>).</summary>
    public MessageOperands Operands { get; }

    /// <summary>The built-in the expression names (compared without whitespace), or null for a user-defined one.</summary>
    public FusedBuiltin? Builtin { get; }

    /// <summary>The JIT image on a CUDA device (null on the emulated device).</summary>
    public JitImage? Image { get; }

    /// <summary>The expression of a built-in, e.g. <c>src[f]*edge[0]</c>.</summary>
    /// <param name="builtin">The built-in.</param>
    /// <returns>Its expression.</returns>
    public static string BuiltinExpression(FusedBuiltin builtin)
        => (uint)builtin < (uint)BuiltinExpressions.Length
            ? BuiltinExpressions[(int)builtin]
            : throw new ArgumentOutOfRangeException(nameof(builtin), builtin, "not a FusedBuiltin");

    /// <summary>Whether <paramref name="expression"/> is a built-in (compared without whitespace).</summary>
    /// <param name="expression">The expression.</param>
    /// <param name="builtin">The built-in it names.</param>
    /// <returns>Whether it names one.</returns>
    public static bool TryGetBuiltin(string expression, out FusedBuiltin builtin)
    {
        ArgumentNullException.ThrowIfNull(expression);
        int i = Array.IndexOf(BuiltinExpressions, MessageExpression.Canonical(expression));
        builtin = (FusedBuiltin)Math.Max(i, 0);
        return i >= 0;
    }

    /// <summary>Creates a fused message with a built-in message function.</summary>
    /// <param name="device">The device.</param>
    /// <param name="builtin">The message function.</param>
    /// <param name="reduce">The reducer.</param>
    /// <returns>The fused message.</returns>
    public static FusedMessage Create(GraphDevice device, FusedBuiltin builtin, Reduce reduce)
        => Create(device, BuiltinExpression(builtin), reduce);

    /// <summary>
    /// Validates <paramref name="messageExpression"/> and prepares its kernel: on a CUDA device it is
    /// generated and compiled with NVRTC now (all index types and specialised widths in one program,
    /// cached on disk); on the emulated device the expression must name a built-in.
    /// </summary>
    /// <param name="device">The device.</param>
    /// <param name="messageExpression">A CUDA C expression over src[...], dst[...], edge[...], f (docs/jit.md).</param>
    /// <param name="reduce">The reducer.</param>
    /// <returns>The fused message.</returns>
    /// <exception cref="FusedMessageException">The expression is invalid, or NVRTC rejected it; Line and Column point into the expression.</exception>
    /// <exception cref="NotSupportedException">A user-defined expression on a device that cannot JIT (the emulated device), or NVRTC is not installed.</exception>
    public static FusedMessage Create(GraphDevice device, string messageExpression, Reduce reduce)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(messageExpression);
        if ((uint)reduce > (uint)Reduce.Min)
        {
            throw new ArgumentOutOfRangeException(nameof(reduce), reduce, reduce == Reduce.Mul ? "Reduce.Mul is not supported by fused message functions; use Sum, Mean, Max or Min." : $"reduce = {(int)reduce} is not a Reduce value.");
        }

        device.ThrowIfDisposed();
        MessageOperands operands = MessageExpression.Validate(messageExpression);
        FusedBuiltin? builtin = TryGetBuiltin(messageExpression, out var b) ? b : null;
        if (device.Managed is { } managed && builtin is null)
        {
            // A managed backend (ILGPU) runs the built-ins only: a user expression is CUDA C for NVRTC.
            throw new NotSupportedException(
                $"FusedMessage.Create: a user-defined message expression is CUDA C compiled by NVRTC and cannot run on the {managed.Name} backend; it runs only the built-ins ({string.Join(", ", BuiltinExpressions)}). Use a CUDA device, or MessagePassing.SpMM with SpMMOptions (which runs on ILGPU) for the messages it has.");
        }

        if (device.Kind != DeviceKind.Cuda)
        {
            if (builtin is null)
            {
                throw new NotSupportedException(
                    $"A user-defined message expression needs NVRTC and a CUDA device; {device.Name} ({device.Kind}) runs only the built-ins ({string.Join(", ", BuiltinExpressions)}).");
            }

            return new FusedMessage(device, messageExpression, reduce, operands, builtin, null, null);
        }

        if (!JitCompiler.TryGetDefault(out var jit, out string whyNot))
        {
            throw new NotSupportedException("Fused message functions on CUDA need NVRTC: " + whyNot);
        }

        var target = JitTarget.Choose(CudaModule.ComputeCapability(device), jit.Nvrtc.SupportedArchitectures);
        JitImage image = CompileFor(jit, messageExpression, builtin, reduce, target);
        var module = new CudaModule(device, image.Image);
        try
        {
            return new FusedMessage(device, messageExpression, reduce, operands, builtin, module, image);
        }
        catch
        {
            module.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Compiles the fused kernel of an expression for <paramref name="target"/> (no device needed):
    /// the program <see cref="GenerateProgram"/> gives, every index type and width. Used by
    /// <see cref="Create(GraphDevice, string, Reduce)"/> on CUDA, and by tests.
    /// </summary>
    /// <param name="jit">The compilation service.</param>
    /// <param name="messageExpression">The expression (validated here).</param>
    /// <param name="reduce">The reducer.</param>
    /// <param name="target">The target.</param>
    /// <returns>The image; its LoweredNames hold the <see cref="NameExpressions"/>.</returns>
    /// <exception cref="FusedMessageException">Invalid expression or NVRTC error, positioned in the user's text.</exception>
    public static JitImage Compile(JitCompiler jit, string messageExpression, Reduce reduce, JitTarget target)
    {
        ArgumentNullException.ThrowIfNull(jit);
        ArgumentNullException.ThrowIfNull(messageExpression);
        MessageExpression.Validate(messageExpression);
        FusedBuiltin? builtin = TryGetBuiltin(messageExpression, out var b) ? b : null;
        return CompileFor(jit, messageExpression, builtin, reduce, target);
    }

    private static JitImage CompileFor(JitCompiler jit, string expression, FusedBuiltin? builtin, Reduce reduce, JitTarget target)
    {
        string program = builtin is null ? GenerateProgram(expression) : "#include \"fused_message.cuh\"\n";
        try
        {
            return jit.Compile(program, builtin is null ? "fused_message_user.cu" : "fused_message_builtin.cu",
                NameExpressions(KernelStruct(builtin), reduce), target);
        }
        catch (NvrtcCompileException ex)
        {
            var where = MessageExpression.FirstErrorInExpression(ex.Log);
            if (where is { } w)
            {
                throw new FusedMessageException(w.Line, 0, "NVRTC: " + w.Reason, ex.Log);
            }

            throw;
        }
    }

    /// <summary>
    /// The CUDA program generated for a user expression: a message struct whose <c>apply</c> returns
    /// the expression (compiled under <c>#line 1 "message"</c>, so NVRTC's errors name the user's
    /// line), and kernels/fused_message.cuh to instantiate with it.
    /// </summary>
    /// <param name="expression">The (validated) expression.</param>
    /// <returns>The program text.</returns>
    public static string GenerateProgram(string expression)
    {
        ArgumentNullException.ThrowIfNull(expression);
        var sb = new StringBuilder();
        sb.Append("#include \"fused_message.cuh\"\n");
        sb.Append("namespace gk_user {\n");
        sb.Append("struct Message {\n");
        sb.Append("    static __device__ __forceinline__ float apply(const float* __restrict__ src, const float* __restrict__ dst,\n");
        sb.Append("                                                  const float* __restrict__ edge, int64_t f) {\n");
        sb.Append("        (void)src; (void)dst; (void)edge; (void)f;\n");
        sb.Append("        return static_cast<float>(\n");
        sb.Append("#line 1 \"").Append(MessageExpression.LineFileName).Append("\"\n");
        sb.Append(expression.Replace("\r\n", "\n", StringComparison.Ordinal));
        sb.Append("\n#line 10 \"fused_message_user.cu\"\n");
        sb.Append("        );\n");
        sb.Append("    }\n");
        sb.Append("};\n");
        sb.Append("}  // namespace gk_user\n");
        return sb.ToString();
    }

    /// <summary>
    /// The name expressions compiled for one message struct and reducer: int then long long index,
    /// each generic (F = 0) then 16, 32, 64, 128, 256.
    /// </summary>
    /// <param name="messageStruct">The struct, e.g. "gk_user::Message" or "gk::FusedCopyU".</param>
    /// <param name="reduce">The reducer.</param>
    /// <returns>12 name expressions.</returns>
    public static IReadOnlyList<string> NameExpressions(string messageStruct, Reduce reduce)
    {
        var names = new List<string>(12);
        foreach (string index in new[] { "int", "long long" })
        {
            foreach (int width in new[] { 0, 16, 32, 64, 128, 256 })
            {
                names.Add(string.Create(CultureInfo.InvariantCulture, $"gk::fused_message_kernel<{index}, {messageStruct}, {(int)reduce}, {width}>"));
            }
        }

        return names;
    }

    /// <summary>The message struct the kernel is instantiated with.</summary>
    internal static string KernelStruct(FusedBuiltin? builtin) => builtin is { } b ? BuiltinStructs[(int)b] : "gk_user::Message";

    /// <summary>
    /// Runs the fused kernel: <c>y[v, f] = reduce_e msg</c> for v in [0, NumRows), f in [0, features).
    /// Matrices are row-major and contiguous: xSrc [NumCols, features], xDst [NumRows, features],
    /// edge [Nnz, edgeWidth] (indexed by CSR position), y [NumRows, features] (fully overwritten).
    /// Only the operands the expression reads (<see cref="Operands"/>) are needed; others may be null
    /// and are ignored. A user expression must index <c>edge</c> within [0, edgeWidth) and
    /// <c>src</c>/<c>dst</c> within [0, features): that is not checked per element.
    /// Stream-ordered; allocates nothing.
    /// </summary>
    /// <param name="graph">The CSR graph (destination-major).</param>
    /// <param name="features">F, at least 1.</param>
    /// <param name="xSrc">Source node features.</param>
    /// <param name="xDst">Destination node features.</param>
    /// <param name="edge">Edge features.</param>
    /// <param name="edgeWidth">Columns of <paramref name="edge"/> (its row stride); 0 when the expression reads no edge.</param>
    /// <param name="y">The output.</param>
    /// <param name="stream">The stream (default: the device's default stream).</param>
    /// <exception cref="ArgumentException">A missing operand, a too-short buffer, another device (ParamName says which).</exception>
    /// <exception cref="GraphKernelsException">The native library or the driver refused the call.</exception>
    public void Run(CsrGraph graph, long features, DeviceBuffer<float>? xSrc, DeviceBuffer<float>? xDst,
        DeviceBuffer<float>? edge, long edgeWidth, DeviceBuffer<float> y, Stream? stream = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(y);
        if (features < 1)
        {
            ThrowRange(nameof(features), features, "must be at least 1");
        }

        if (!ReferenceEquals(graph.Device, _device))
        {
            ThrowArg(nameof(graph), "The graph belongs to another device than this FusedMessage.");
        }

        GkCsr csr = graph.ToNative(nameof(graph));
        bool anyEdges = graph.Nnz > 0;
        nint ps = Operand(Operands.Src, xSrc, anyEdges ? graph.NumCols : 0, features, nameof(xSrc));
        nint pd = Operand(Operands.Dst, xDst, anyEdges ? graph.NumRows : 0, features, nameof(xDst));
        if (Operands.Edge)
        {
            long needWidth = Builtin == FusedBuiltin.UMulEFeat ? features : 1;
            if (edgeWidth < needWidth)
            {
                ThrowRange(nameof(edgeWidth), edgeWidth, "must be at least " + needWidth.ToString(CultureInfo.InvariantCulture) + " for this message");
            }
        }

        nint pe = Operand(Operands.Edge, edge, graph.Nnz, Operands.Edge ? edgeWidth : 0, nameof(edge));
        nint py = Operand(true, y, graph.NumRows, features, nameof(y));
        nint pstream = 0;
        if (stream is not null)
        {
            if (!ReferenceEquals(stream.Device, _device))
            {
                ThrowArg(nameof(stream), "The stream belongs to another device.");
            }

            ObjectDisposedException.ThrowIf(stream.IsDisposed, stream);
            pstream = stream.NativeHandle;
        }

        var leases = default(BufferLeases);
        try
        {
            leases.Add(graph.RowPtr);
            leases.Add(graph.ColIdx);
            leases.Add(ps != 0 ? xSrc : null);
            leases.Add(pd != 0 ? xDst : null);
            leases.Add(pe != 0 ? edge : null);
            leases.Add(y);
            _device.EnsureContext();
            if (_module is null)
            {
                long ew = Operands.Edge ? edgeWidth : 0;
                if (_device.Managed is { } managed)
                {
                    managed.FusedMessage(graph, Builtin!.Value, Reduce, features, ps != 0 ? xSrc : null, pd != 0 ? xDst : null,
                        pe != 0 ? edge : null, ew, y);
                    return;
                }

                int status = _device.Api.gk_fused_message(&csr, (int)Builtin!.Value, (int)Reduce, features,
                    (void*)ps, features, (void*)pd, features, (void*)pe, ew, ew, (void*)py, features, (void*)pstream);
                if (status != 0)
                {
                    _device.Api.ThrowStatus(status, "gk_fused_message");
                }

                return;
            }

            if (graph.NumRows == 0)
            {
                return;
            }

            int slot = Array.IndexOf(Widths, (int)Math.Min(features, int.MaxValue)) + 1;
            int group = slot == 1 ? 16 : 32;   // kernels/fused_message.cuh: G = F for F = 16, else a warp
            nint function = _functions[((graph.IndexType == IndexType.Int64 ? 1 : 0) * 6) + slot];
            long rowsPerBlock = BlockThreads / group;
            uint grid = (uint)Math.Min((graph.NumRows + rowsPerBlock - 1) / rowsPerBlock, 1L << 20);
            nint rowPtr = csr.RowPtr, colIdx = csr.ColIdx;
            long ldSrc = features, ldDst = features, ldEdge = edgeWidth, ldy = features, rows = graph.NumRows, feat = features;
            void** args = stackalloc void*[12];
            args[0] = &rowPtr;
            args[1] = &colIdx;
            args[2] = &ps;
            args[3] = &ldSrc;
            args[4] = &pd;
            args[5] = &ldDst;
            args[6] = &pe;
            args[7] = &ldEdge;
            args[8] = &py;
            args[9] = &ldy;
            args[10] = &rows;
            args[11] = &feat;
            _module.Launch(function, grid, BlockThreads, pstream, args);
        }
        finally
        {
            leases.Dispose();
        }
    }

    private nint Operand(bool used, DeviceBuffer<float>? buffer, long rows, long width, string paramName)
    {
        if (!used)
        {
            return 0;
        }

        if (buffer is null)
        {
            if (rows == 0)
            {
                return 0;
            }

            ThrowArg(paramName, $"{paramName} is null but the message expression reads it.");
        }

        nint p = buffer.PointerChecked(paramName);
        if (!ReferenceEquals(buffer.DeviceCore, _device))
        {
            ThrowArg(paramName, $"{paramName} belongs to another device ({buffer.DeviceCore.Name}).");
        }

        if (rows > 0 && (rows > long.MaxValue / Math.Max(width, 1) || buffer.Length < rows * width))
        {
            ThrowArg(paramName, $"{paramName} has {buffer.Length} elements but needs {rows} x {width}.");
        }

        return p;
    }

    /// <summary>Unloads the CUDA module (if any).</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _module?.Dispose();
        _backwardModule?.Dispose();
    }

    /// <inheritdoc/>
    public override string ToString() => $"FusedMessage {Reduce}({Expression}) on {_device.Name}";

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowRange(string paramName, long value, string what)
        => throw new ArgumentOutOfRangeException(paramName, value, $"{paramName} = {value} {what}.");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowArg(string paramName, string message) => throw new ArgumentException(message, paramName);
}
