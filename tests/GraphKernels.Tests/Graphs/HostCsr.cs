namespace GraphKernels.Tests.Graphs;

/// <summary>
/// A destination-major CSR graph on the host (int64 storage; <see cref="RowPtr32"/> and
/// <see cref="ColIdx32"/> give the int32 copy). The constructor checks the CSR invariants, so a
/// generator bug shows up as a generator failure rather than as a kernel "mismatch".
/// </summary>
public sealed class HostCsr
{
    public HostCsr(string name, long numRows, long numCols, long[] rowPtr, long[] colIdx)
    {
        Name = name;
        NumRows = numRows;
        NumCols = numCols;
        RowPtr = rowPtr;
        ColIdx = colIdx;
        if (numRows < 0 || numCols < 0) throw new ArgumentException($"{name}: negative size");
        if (rowPtr.Length != numRows + 1) throw new ArgumentException($"{name}: row_ptr length {rowPtr.Length} != M + 1");
        if (rowPtr[0] != 0) throw new ArgumentException($"{name}: row_ptr[0] != 0");
        for (long r = 0; r < numRows; r++)
        {
            if (rowPtr[r + 1] < rowPtr[r]) throw new ArgumentException($"{name}: row_ptr decreases at {r + 1}");
        }

        if (rowPtr[numRows] != colIdx.LongLength) throw new ArgumentException($"{name}: row_ptr[M] != nnz");
        foreach (long c in colIdx)
        {
            if (c < 0 || c >= numCols) throw new ArgumentException($"{name}: column {c} out of range");
        }
    }

    public string Name { get; }
    public long NumRows { get; }
    public long NumCols { get; }
    public long Nnz => ColIdx.LongLength;
    public long[] RowPtr { get; }
    public long[] ColIdx { get; }

    public long Degree(long row) => RowPtr[row + 1] - RowPtr[row];

    public long MaxDegree
    {
        get
        {
            long m = 0;
            for (long r = 0; r < NumRows; r++) m = Math.Max(m, Degree(r));
            return m;
        }
    }

    public int[] RowPtr32() => Array.ConvertAll(RowPtr, v => checked((int)v));

    public int[] ColIdx32() => Array.ConvertAll(ColIdx, v => checked((int)v));

    /// <summary>Builds a CSR from per-row neighbour lists (in the given order).</summary>
    public static HostCsr FromRows(string name, long numCols, IReadOnlyList<List<long>> rows)
    {
        var rowPtr = new long[rows.Count + 1];
        for (int r = 0; r < rows.Count; r++) rowPtr[r + 1] = rowPtr[r] + rows[r].Count;
        var col = new long[rowPtr[rows.Count]];
        for (int r = 0; r < rows.Count; r++) rows[r].CopyTo(col, (int)rowPtr[r]);
        return new HostCsr(name, rows.Count, numCols, rowPtr, col);
    }

    public override string ToString() => $"{Name}(M={NumRows},K={NumCols},E={Nnz},maxdeg={MaxDegree})";
}
