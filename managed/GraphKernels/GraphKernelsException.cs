using System;

namespace GraphKernels;

/// <summary>
/// A GraphKernels operation failed: the native library returned a non-success <see cref="GkStatus"/>,
/// or the CUDA driver reported an error (<see cref="GkStatus.Cuda"/>).
/// </summary>
/// <remarks>The message is the native sentence prefixed with the operation name, e.g.
/// <c>"gk_csr_validate: row_ptr[3] = 5 ..."</c>.</remarks>
public sealed class GraphKernelsException : Exception
{
    /// <summary>Creates an exception for <paramref name="status"/> with <paramref name="message"/>.</summary>
    /// <param name="status">The status that caused the failure.</param>
    /// <param name="message">The full message (operation name and native sentence).</param>
    public GraphKernelsException(GkStatus status, string message)
        : base(message)
    {
        Status = status;
    }

    /// <summary>Creates an exception for <paramref name="status"/> with <paramref name="message"/> and an inner exception.</summary>
    /// <param name="status">The status that caused the failure.</param>
    /// <param name="message">The full message.</param>
    /// <param name="innerException">The underlying failure.</param>
    public GraphKernelsException(GkStatus status, string message, Exception? innerException)
        : base(message, innerException)
    {
        Status = status;
    }

    /// <summary>The status reported by the native library (or <see cref="GkStatus.Cuda"/> for driver errors).</summary>
    public GkStatus Status { get; }
}
