using System;
using System.Runtime.CompilerServices;
using System.Threading;
using GraphKernels.Interop;
using GraphKernels.Jit;

namespace GraphKernels;

/// <summary>What <see cref="SpecialisedSpmm.Decide"/> concluded for one SpMM call.</summary>
internal enum SpmmRoute
{
    /// <summary>Launch the width-specialised kernel (F a compile-time constant), JIT-compiled by NVRTC.</summary>
    Specialised = 0,

    /// <summary>Not a CUDA device (the emulated and ILGPU devices run their own kernels).</summary>
    NotCuda,

    /// <summary>GRAPHKERNELS_JIT=0 (or off / false) turned specialisation off.</summary>
    Disabled,

    /// <summary>F is not one of 16, 32, 64, 128, 256.</summary>
    Width,

    /// <summary>An arg output was asked for: the fused template has none.</summary>
    ArgOutput,

    /// <summary>The values are not float32.</summary>
    Dtype,

    /// <summary>A leading dimension below F (the generic path reports the error).</summary>
    LeadingDimension,

    /// <summary>No rows: nothing to launch (the generic path's checks still apply).</summary>
    Empty,
}

/// <summary>
/// Automatic width specialisation of <see cref="MessagePassing.SpMM(CsrGraph, Message, Reduce, long, DeviceBuffer{float}, DeviceBuffer{float}, DeviceBuffer{float}?, DeviceBuffer?, long, long, long, Stream?)"/>
/// on CUDA: where <see cref="Decide"/> says so, the fused template (kernels/fused_message.cuh) with the
/// built-in copy_u / u_mul_e and F a compile-time constant, compiled by NVRTC on the first call per
/// (device, message, reducer) and cached on disk (<see cref="KernelCache"/>), runs instead of the
/// fatbin's spmm_kernel; the same per-element CSR order in fp32, so the same result. Any failure to
/// get that kernel (no NVRTC, a compile or module-load error, a launch the driver refuses) is
/// recorded once (<see cref="FallbackReason"/>, <c>graphkernels info</c>) and the fatbin kernel runs:
/// the specialised path never throws where the generic one would not.
/// </summary>
internal static unsafe class SpecialisedSpmm
{
    /// <summary>The environment variable that turns specialisation off when "0", "off" or "false" (read once per process).</summary>
    public const string EnvironmentVariable = "GRAPHKERNELS_JIT";

    private const int BlockThreads = 256;
    private const int Slots = 8;   // message (CopyU, UMulE) * 4 + reducer
    private static readonly ConditionalWeakTable<GraphDevice, State> States = new();
    private static readonly Func<GraphDevice, Message, Reduce, FusedMessage> DefaultFactory = static (device, message, reduce) =>
        FusedMessage.Create(device, message == Message.UMulE ? FusedBuiltin.UMulE : FusedBuiltin.CopyU, reduce);

    private static readonly Lazy<string?> EnvironmentValue = new(() => Environment.GetEnvironmentVariable(EnvironmentVariable));
    private static string? s_fallbackReason;
    private static long s_launches;

    /// <summary>The first reason this process ran the fatbin kernel although the call was eligible, or null.</summary>
    public static string? FallbackReason => Volatile.Read(ref s_fallbackReason);

    /// <summary>Specialised launches made by this process (tests read it).</summary>
    public static long Launches => Interlocked.Read(ref s_launches);

    /// <summary>Whether GRAPHKERNELS_JIT (as read at first use) turns specialisation off.</summary>
    public static bool DisabledByEnvironment => IsOff(EnvironmentValue.Value);

    /// <summary>
    /// The route of one SpMM call. Pure: everything it depends on is an argument, so it is tested
    /// without a GPU. The fused kernel reads each element with a 4-byte scalar load, so any leading
    /// dimension &gt;= F and any float-aligned pointer fits (no vector-alignment condition).
    /// </summary>
    /// <param name="kind">The device kind.</param>
    /// <param name="features">F.</param>
    /// <param name="ldx">Leading dimension of x (already defaulted to F).</param>
    /// <param name="ldy">Leading dimension of y (already defaulted to F).</param>
    /// <param name="argOut">Whether an arg output was passed.</param>
    /// <param name="dtype">The value dtype (gk_dtype: 0 = f32).</param>
    /// <param name="rows">Number of destination rows.</param>
    /// <param name="jitVariable">The value of GRAPHKERNELS_JIT (null when unset).</param>
    /// <returns>The route.</returns>
    public static SpmmRoute Decide(DeviceKind kind, long features, long ldx, long ldy, bool argOut, int dtype, long rows, string? jitVariable)
    {
        if (kind != DeviceKind.Cuda)
        {
            return SpmmRoute.NotCuda;
        }

        if (IsOff(jitVariable))
        {
            return SpmmRoute.Disabled;
        }

        if (dtype != NativeApi.DtypeF32)
        {
            return SpmmRoute.Dtype;
        }

        if (features is not (16 or 32 or 64 or 128 or 256))
        {
            return SpmmRoute.Width;
        }

        if (argOut)
        {
            return SpmmRoute.ArgOutput;
        }

        if (ldx < features || ldy < features)
        {
            return SpmmRoute.LeadingDimension;
        }

        return rows <= 0 ? SpmmRoute.Empty : SpmmRoute.Specialised;
    }

    /// <summary>"0", "off", "false" (any case, surrounding blanks ignored) turn specialisation off; anything else, or unset, leaves it on.</summary>
    internal static bool IsOff(string? value)
    {
        if (value is null)
        {
            return false;
        }

        ReadOnlySpan<char> v = value.AsSpan().Trim();
        return v.SequenceEqual("0") || v.Equals("off", StringComparison.OrdinalIgnoreCase) || v.Equals("false", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// Runs the specialised kernel when <see cref="Decide"/> allows it and the kernel is (or can be
    /// made) ready; returns false to let the caller launch the fatbin kernel. Called by
    /// MessagePassing.SpMM after all of its argument checks, with every buffer leased and the
    /// context current. Allocates nothing once the kernel exists.
    /// </summary>
    internal static bool TryRun(GraphDevice device, in GkCsr csr, Message message, Reduce reduce, long features,
        nint x, long ldx, long xBytes, nint w, long wBytes, nint y, long ldy, long yBytes, bool argOut, nint stream)
    {
        if (Decide(device.Kind, features, ldx, ldy, argOut, NativeApi.DtypeF32, csr.NumRows, EnvironmentValue.Value) != SpmmRoute.Specialised)
        {
            return false;
        }

        // gk_spmm refuses a y that overlaps an input; leave every such call to it, so that the error is its own.
        long isz = csr.IndexType == (int)IndexType.Int64 ? 8 : 4;
        if (Overlaps(y, yBytes, x, xBytes) || Overlaps(y, yBytes, w, wBytes)
            || Overlaps(y, yBytes, csr.RowPtr, (csr.NumRows + 1) * isz) || Overlaps(y, yBytes, csr.ColIdx, csr.Nnz * isz))
        {
            return false;
        }

        int slot = ((int)message * 4) + (int)reduce;
        FusedMessage? kernel = Acquire(device, message, reduce, DefaultFactory);
        if (kernel is null)
        {
            return false;
        }

        try
        {
            kernel.LaunchSpmm(csr, features, x, ldx, w, y, ldy, stream);
        }
        catch (GraphKernelsException ex)
        {
            // The driver refused the launch (nothing was enqueued): never again on this device for this kernel.
            Fail(device, slot, $"launching the specialised {message}/{reduce} kernel failed: {ex.Message}");
            return false;
        }

        Interlocked.Increment(ref s_launches);
        return true;
    }

    /// <summary>
    /// The specialised kernel for (device, message, reducer): made by <paramref name="factory"/> on the
    /// first call (under a lock; concurrent callers wait for one compilation), then returned without a
    /// lock or an allocation. A factory that throws marks the slot failed for the device's lifetime,
    /// records the reason once and gives null (the caller runs the fatbin kernel) — also on every later call.
    /// </summary>
    internal static FusedMessage? Acquire(GraphDevice device, Message message, Reduce reduce, Func<GraphDevice, Message, Reduce, FusedMessage> factory)
    {
        int slot = ((int)message * 4) + (int)reduce;
        if (States.TryGetValue(device, out State? state))
        {
            if (Volatile.Read(ref state.Kernels[slot]) is { } ready)
            {
                return ready;
            }

            if (Volatile.Read(ref state.Failed[slot]))
            {
                return null;
            }
        }

        state = States.GetValue(device, static _ => new State());
        lock (state)
        {
            if (state.Kernels[slot] is null && !state.Failed[slot])
            {
                string? why = null;
                if (device.Kind == DeviceKind.Cuda && !JitCompiler.TryGetDefault(out _, out string whyNot))
                {
                    why = "NVRTC is not available: " + whyNot;
                }
                else
                {
                    try
                    {
                        Volatile.Write(ref state.Kernels[slot], factory(device, message, reduce));
                    }
                    catch (Exception ex) when (ex is not OutOfMemoryException)
                    {
                        why = $"compiling or loading the specialised {message}/{reduce} kernel failed ({ex.GetType().Name}): {ex.Message}";
                    }
                }

                if (why is not null)
                {
                    Fail(device, slot, why);
                }
            }

            return state.Kernels[slot];
        }
    }

    private static void Fail(GraphDevice device, int slot, string why)
    {
        // A kernel whose launch failed is dropped, not disposed: another thread may hold it right now.
        // Its module stays loaded until the device's primary context goes.
        State state = States.GetValue(device, static _ => new State());
        lock (state)
        {
            Volatile.Write(ref state.Failed[slot], true);
            Volatile.Write(ref state.Kernels[slot], null);
        }

        Interlocked.CompareExchange(ref s_fallbackReason, $"{device.Name}: {why}; the fatbin's spmm_kernel runs instead", null);
    }

    private static bool Overlaps(nint a, long aBytes, nint b, long bBytes)
    {
        if (a == 0 || b == 0 || aBytes <= 0 || bBytes <= 0)
        {
            return false;
        }

        ulong a0 = (ulong)a, b0 = (ulong)b;
        return a0 < b0 + (ulong)bBytes && b0 < a0 + (ulong)aBytes;
    }

    /// <summary>One line for <c>graphkernels info</c>: whether specialisation is on and the first fallback reason of this process.</summary>
    internal static string Describe()
    {
        string state = DisabledByEnvironment
            ? $"off ({EnvironmentVariable}={EnvironmentValue.Value})"
            : $"on for CUDA devices with NVRTC, F in {{16, 32, 64, 128, 256}}, no arg output (set {EnvironmentVariable}=0 to turn off)";
        string reason = FallbackReason is { } r ? "first fallback: " + r : "no fallback recorded in this process";
        return $"Specialised SpMM: {state}; {reason}";
    }

    private sealed class State
    {
        public readonly FusedMessage?[] Kernels = new FusedMessage?[Slots];
        public readonly bool[] Failed = new bool[Slots];
    }
}

/// <summary>Width-specialised SpMM: the public face of the automatic selection.</summary>
public static partial class MessagePassing
{
    /// <summary>
    /// Why this process ran the fatbin's SpMM kernel for a call that was eligible for the
    /// width-specialised one (CUDA device, F in 16, 32, 64, 128, 256, float32, no arg output): the
    /// first such reason (no NVRTC, a compile or module-load error with its message, a refused
    /// launch), or null when none happened. Also printed by <c>graphkernels info</c>. Set
    /// GRAPHKERNELS_JIT=0 to turn the specialisation off (read once per process); see docs/jit.md.
    /// </summary>
    public static string? SpecialisationFallbackReason => SpecialisedSpmm.FallbackReason;
}
