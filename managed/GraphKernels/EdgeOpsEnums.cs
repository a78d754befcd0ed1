namespace GraphKernels;

/// <summary>Per-edge operation of <see cref="MessagePassing.Sddmm"/> (<c>gk_sddmm_op</c>).</summary>
public enum SddmmOp
{
    /// <summary>Dot product over the D = F / H features of each head: output [E, H].</summary>
    Dot = 0,

    /// <summary><c>a + b</c> elementwise: output [E, F].</summary>
    Add = 1,

    /// <summary><c>a - b</c> elementwise: output [E, F].</summary>
    Sub = 2,

    /// <summary><c>a * b</c> elementwise: output [E, F].</summary>
    Mul = 3,

    /// <summary><c>a / b</c> elementwise: output [E, F].</summary>
    Div = 4,
}

/// <summary>Where an SDDMM operand row comes from for edge e = (u -&gt; v) at CSR position e (<c>gk_target</c>).</summary>
public enum EdgeTarget
{
    /// <summary>Row u (the source node) of a [NumCols, F] tensor.</summary>
    Source = 0,

    /// <summary>Row v (the destination node) of a [NumRows, F] tensor.</summary>
    Destination = 1,

    /// <summary>Row e of an [Nnz, F] edge tensor.</summary>
    Edge = 2,
}

/// <summary>Which degree <see cref="MessagePassing.Degree"/> computes (<c>gk_degree_kind</c>).</summary>
public enum DegreeKind
{
    /// <summary>In-degree of each destination node (CSR row): [NumRows].</summary>
    In = 0,

    /// <summary>Out-degree of each source node (CSR column): [NumCols].</summary>
    Out = 1,
}
