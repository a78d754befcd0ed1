using System;

namespace GraphKernels.Ilgpu;

/// <summary>The ops: CSR validation, message passing and block-wise quantization.</summary>
internal sealed partial class IlgpuBackend
{
    public void SpMM(CsrGraph graph, Message message, Reduce reduce, long features, DeviceBuffer<float> x, long ldx,
        DeviceBuffer<float>? edgeWeight, DeviceBuffer<float> y, long ldy, DeviceBuffer? argOut, long ldArg)
    {
        var leases = default(BufferLeases);
        try
        {
            leases.Add(graph.RowPtr);
            leases.Add(graph.ColIdx);
            leases.Add(x);
            leases.Add(y);
            leases.Add(edgeWeight);
            leases.Add(argOut);
            Spmm.Run(graph, message, reduce, features, x, ldx, edgeWeight, y, ldy, argOut, ldArg);
        }
        finally
        {
            leases.Dispose();
        }
    }

    public void Quantize(QuantizationPlan plan, DeviceBuffer x, long ld, DeviceBuffer<uint> packed, DeviceBuffer zero, DeviceBuffer step,
        ulong seed, ulong offset, float[] levels, float[] rdelta)
    {
        var leases = default(BufferLeases);
        try
        {
            leases.Add(x);
            leases.Add(packed);
            leases.Add(zero);
            leases.Add(step);
            Quant.Quantize(plan, x, ld, packed, zero, step, seed, offset, levels, rdelta);
        }
        finally
        {
            leases.Dispose();
        }
    }

    public void Dequantize(QuantizationPlan plan, DeviceBuffer<uint> packed, DeviceBuffer zero, DeviceBuffer step,
        QuantElementType outType, DeviceBuffer y, long ldY, float[] levels, float[] rdelta)
    {
        var leases = default(BufferLeases);
        try
        {
            leases.Add(packed);
            leases.Add(zero);
            leases.Add(step);
            leases.Add(y);
            Quant.Dequantize(plan, packed, zero, step, outType, y, ldY, levels, rdelta);
        }
        finally
        {
            leases.Dispose();
        }
    }

    /// <summary>
    /// The rules and messages of gk_csr_validate (the lowest bad row_ptr entry first, else the lowest
    /// bad column), checked on the host after a copy of the indices (one pass, synchronous, like
    /// gk_csr_validate); nothing is written.
    /// </summary>
    public void ValidateCsr(CsrGraph graph, string operation)
    {
        long m = graph.NumRows;
        long nnz = graph.Nnz;
        long[] rp = Download(graph.RowPtr, m + 1);
        long[] ci = Download(graph.ColIdx, nnz);
        string? error = null;
        for (long i = 0; i <= m && error is null; i++)
        {
            long cur = rp[i];
            if (i == 0 && cur != 0)
            {
                error = $"row_ptr[0] = {cur}, must be 0";
            }
            else if (cur < 0 || cur > nnz)
            {
                error = $"row_ptr[{i}] = {cur} is outside [0, nnz = {nnz}]";
            }
            else if (i > 0 && cur < rp[i - 1])
            {
                error = $"row_ptr[{i}] = {cur} is less than row_ptr[{i - 1}] = {rp[i - 1]} (row_ptr must be non-decreasing)";
            }
            else if (i == m && cur != nnz)
            {
                error = $"row_ptr[{i}] = {cur} (the last entry, num_rows = {m}) must equal nnz = {nnz}";
            }
        }

        for (long e = 0; e < nnz && error is null; e++)
        {
            long c = ci[e];
            if (c < 0 || c >= graph.NumCols)
            {
                error = $"col_idx[{e}] = {c} is outside [0, num_cols = {graph.NumCols})";
            }
        }

        if (error is not null)
        {
            string text = "gk_csr_validate: " + error;
            throw new GraphKernelsException(GkStatus.InvalidGraph, operation == "gk_csr_validate" ? text : operation + ": " + text);
        }
    }

    private static long[] Download(DeviceBuffer buffer, long count)
    {
        if (count > Array.MaxLength)
        {
            throw new NotSupportedException($"{buffer} is too large to validate on the host ({count} entries).");
        }

        switch (buffer)
        {
            case DeviceBuffer<int> b32:
            {
                var tmp = new int[count];
                b32.CopyTo(tmp);
                return Array.ConvertAll(tmp, v => (long)v);
            }

            case DeviceBuffer<long> b64:
            {
                var tmp = new long[count];
                b64.CopyTo(tmp);
                return tmp;
            }

            default:
                throw new ArgumentException($"{buffer} is not an index buffer.", nameof(buffer));
        }
    }
}
