namespace GraphKernels;

/// <summary>The quantization family's part of the managed-backend seam (random projection).</summary>
internal unsafe partial interface IManagedBackend
{
    /// <summary>
    /// Quantization.Project (<paramref name="unproject"/> false: output[r, c] = s * sum_d +-input[r, d])
    /// or Unproject (true: output[r, d] = s * sum_c +-input[r, c]) after the op's argument checks and
    /// the native library's checks (ld* resolved, D * K within the limit, no overlap, rows &gt; 0).
    /// </summary>
    void Projection(bool unproject, DeviceBuffer<float> input, long ldIn, DeviceBuffer<float> output, long ldOut, long rows, RandomProjection projection)
        => throw ManagedBackends.NotSupported(unproject ? "Quantization.Unproject" : "Quantization.Project", Name);
}
