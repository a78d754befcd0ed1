namespace GraphKernels;

/// <summary>Which implementation a <see cref="GraphDevice"/> runs on.</summary>
public enum DeviceKind
{
    /// <summary>A CUDA device, driven through the CUDA driver API and <c>libgraphkernels</c>.</summary>
    Cuda,

    /// <summary>The CPU emulation of the CUDA execution model (<c>libgraphkernels_emulated</c>).</summary>
    Emulated,

    /// <summary>
    /// A .NET backend through ILGPU (GraphKernels.Ilgpu: its CPU accelerator, or an OpenCL GPU); no
    /// native library. Ops it does not implement throw <see cref="System.NotSupportedException"/>.
    /// </summary>
    Ilgpu,
}

/// <summary>Element type of CSR indices (<c>gk_index_type</c>).</summary>
public enum IndexType
{
    /// <summary>32-bit signed indices.</summary>
    Int32 = 0,

    /// <summary>64-bit signed indices.</summary>
    Int64 = 1,
}

/// <summary>Message computed per edge <c>e = (u -&gt; v)</c> before reduction (<c>gk_message</c>).</summary>
public enum Message
{
    /// <summary><c>X[u, :]</c>.</summary>
    CopyU = 0,

    /// <summary><c>X[u, :] * w[e]</c>, one scalar weight per edge (or the edge operand of <see cref="SpMMOptions"/>).</summary>
    UMulE = 1,

    /// <summary><c>E[e, :]</c> (generalized SpMM only).</summary>
    CopyE = 2,

    /// <summary><c>X[u, :] + E[e, :]</c> (generalized SpMM only).</summary>
    UAddE = 3,

    /// <summary><c>X[u, :] - E[e, :]</c> (generalized SpMM only).</summary>
    USubE = 4,

    /// <summary><c>X[u, :] / E[e, :]</c> (generalized SpMM only).</summary>
    UDivE = 5,
}

/// <summary>Reduction over the in-edges of each destination row (<c>gk_reduce</c>).</summary>
public enum Reduce
{
    /// <summary>Sum; an empty row gives 0.</summary>
    Sum = 0,

    /// <summary>Mean (sum / max(degree, 1)); an empty row gives 0.</summary>
    Mean = 1,

    /// <summary>Maximum; an empty row gives 0 and arg -1; ties go to the lowest CSR position.</summary>
    Max = 2,

    /// <summary>Minimum; an empty row gives 0 and arg -1; ties go to the lowest CSR position.</summary>
    Min = 3,

    /// <summary>Product; an empty row gives 1 (generalized SpMM only).</summary>
    Mul = 4,
}

/// <summary>Status codes of the C ABI (<c>gk_status</c>); the numeric values are part of the ABI.</summary>
public enum GkStatus
{
    /// <summary>The call succeeded.</summary>
    Success = 0,

    /// <summary>Null pointer, negative size, bad enum value, leading dimension smaller than the width.</summary>
    InvalidArgument = 1,

    /// <summary>The CSR contents are wrong (found by <c>gk_csr_validate</c>).</summary>
    InvalidGraph = 2,

    /// <summary>A valid request this build cannot do (dtype, index type, ...).</summary>
    Unsupported = 3,

    /// <summary>A size does not fit the chosen index type.</summary>
    IndexOverflow = 4,

    /// <summary>Workspace missing or too small.</summary>
    Workspace = 5,

    /// <summary>The CUDA driver/runtime (or its emulation) reported an error.</summary>
    Cuda = 6,

    /// <summary>A bug in GraphKernels.</summary>
    Internal = 7,
}
