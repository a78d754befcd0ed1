using GraphKernels.Tests.Graphs;

namespace GraphKernels.Tests.Oracle;

/// <summary>
/// Double-precision oracle for the edge ops, written from the definitions in docs/message_passing.md
/// ("Edge ops") and PyG/torch_scatter semantics, independently of the kernels. Each accumulating op
/// also returns a magnitude (sum of |term|) per element, the scale of fp32 accumulation error.
/// </summary>
public static class EdgeOpsReference
{
    /// <summary>Destination row of every CSR position.</summary>
    public static long[] RowOf(HostCsr g)
    {
        var row = new long[g.Nnz];
        for (long r = 0; r < g.NumRows; r++)
            for (long e = g.RowPtr[r]; e < g.RowPtr[r + 1]; e++) row[e] = r;
        return row;
    }

    private static long Pick(EdgeTarget t, long u, long v, long e) => t switch
    {
        EdgeTarget.Source => u,
        EdgeTarget.Destination => v,
        _ => e,
    };

    public static long TargetRows(HostCsr g, EdgeTarget t) => t switch
    {
        EdgeTarget.Source => g.NumCols,
        EdgeTarget.Destination => g.NumRows,
        _ => g.Nnz,
    };

    /// <summary>Stable transpose: by-source CSR (col = destination) and perm[t] = original position.</summary>
    public static (HostCsr T, long[] Perm) Transpose(HostCsr g)
    {
        long[] row = RowOf(g);
        var buckets = new List<long>[g.NumCols];
        for (long c = 0; c < g.NumCols; c++) buckets[c] = new List<long>();
        for (long e = 0; e < g.Nnz; e++) buckets[g.ColIdx[e]].Add(e);  // ascending e: stable
        var rp = new long[g.NumCols + 1];
        var col = new long[g.Nnz];
        var perm = new long[g.Nnz];
        long t = 0;
        for (long c = 0; c < g.NumCols; c++)
        {
            foreach (long e in buckets[c])
            {
                col[t] = row[e];
                perm[t] = e;
                t++;
            }

            rp[c + 1] = t;
        }

        return (new HostCsr(g.Name + "^T", g.NumCols, g.NumRows, rp, col), perm);
    }

    public static (double[] Out, double[] Mag) Sddmm(HostCsr g, SddmmOp op, int f, int h, EdgeTarget lt, double[] a, EdgeTarget rt, double[] b)
    {
        long w = op == SddmmOp.Dot ? h : f;
        int d = f / h;
        var outv = new double[g.Nnz * w];
        var mag = new double[g.Nnz * w];
        long[] row = RowOf(g);
        for (long e = 0; e < g.Nnz; e++)
        {
            long u = g.ColIdx[e], v = row[e];
            long ra = Pick(lt, u, v, e), rb = Pick(rt, u, v, e);
            for (long c = 0; c < w; c++)
            {
                double r = 0, m = 0;
                if (op == SddmmOp.Dot)
                {
                    for (int k = 0; k < d; k++)
                    {
                        double p = a[ra * f + c * d + k] * b[rb * f + c * d + k];
                        r += p;
                        m += Math.Abs(p);
                    }
                }
                else
                {
                    double x = a[ra * f + c], y = b[rb * f + c];
                    r = op switch { SddmmOp.Add => x + y, SddmmOp.Sub => x - y, SddmmOp.Mul => x * y, _ => x / y };
                    m = Math.Abs(r);
                }

                outv[e * w + c] = r;
                mag[e * w + c] = m;
            }
        }

        return (outv, mag);
    }

    /// <summary>Gradients of lhs and rhs (shapes of the operands) by the chain rule, summed over the edges that read each row.</summary>
    public static (double[] GA, double[] GB, double[] MagA, double[] MagB) SddmmBackward(HostCsr g, SddmmOp op, int f, int h,
        EdgeTarget lt, double[] a, EdgeTarget rt, double[] b, double[] gout)
    {
        long w = op == SddmmOp.Dot ? h : f;
        int d = f / h;
        var ga = new double[TargetRows(g, lt) * f];
        var gb = new double[TargetRows(g, rt) * f];
        var ma = new double[ga.Length];
        var mb = new double[gb.Length];
        long[] row = RowOf(g);
        for (long e = 0; e < g.Nnz; e++)
        {
            long u = g.ColIdx[e], v = row[e];
            long ra = Pick(lt, u, v, e), rb = Pick(rt, u, v, e);
            for (int k = 0; k < f; k++)
            {
                double gg = gout[e * w + (op == SddmmOp.Dot ? k / d : k)];
                double x = a[ra * f + k], y = b[rb * f + k];
                double da, db;
                switch (op)
                {
                    case SddmmOp.Dot:
                    case SddmmOp.Mul: da = gg * y; db = gg * x; break;
                    case SddmmOp.Add: da = gg; db = gg; break;
                    case SddmmOp.Sub: da = gg; db = -gg; break;
                    default: da = gg / y; db = -gg * x / (y * y); break;
                }

                ga[ra * f + k] += da;
                ma[ra * f + k] += Math.Abs(da);
                gb[rb * f + k] += db;
                mb[rb * f + k] += Math.Abs(db);
            }
        }

        return (ga, gb, ma, mb);
    }

    /// <summary>PyG softmax per destination row and head; a row whose max is -inf shifts by 0 (documented deviation: 0, not NaN).</summary>
    public static (double[] Out, double[] RowMax, double[] RowSum) EdgeSoftmax(HostCsr g, int h, double[] s)
    {
        var o = new double[g.Nnz * h];
        var rmax = new double[g.NumRows * h];
        var rsum = new double[g.NumRows * h];
        for (long r = 0; r < g.NumRows; r++)
        {
            for (int k = 0; k < h; k++)
            {
                double m = double.NegativeInfinity;
                bool nan = false;
                for (long e = g.RowPtr[r]; e < g.RowPtr[r + 1]; e++)
                {
                    double x = s[e * h + k];
                    if (double.IsNaN(x)) nan = true;
                    else m = Math.Max(m, x);
                }

                if (nan) m = double.NaN;
                if (double.IsNegativeInfinity(m)) m = 0;
                double sum = 0;
                for (long e = g.RowPtr[r]; e < g.RowPtr[r + 1]; e++) sum += Math.Exp(s[e * h + k] - m);
                for (long e = g.RowPtr[r]; e < g.RowPtr[r + 1]; e++) o[e * h + k] = Math.Exp(s[e * h + k] - m) / (sum + 1e-16);
                rmax[r * h + k] = m;
                rsum[r * h + k] = sum;
            }
        }

        return (o, rmax, rsum);
    }

    /// <summary>d/ds of sum(gout * softmax(s)) per row: y (g - sum y g), with magnitude |y| (|g| + sum |y g|).</summary>
    public static (double[] Grad, double[] Mag) EdgeSoftmaxBackward(HostCsr g, int h, double[] y, double[] gout)
    {
        var gr = new double[g.Nnz * h];
        var mag = new double[g.Nnz * h];
        for (long r = 0; r < g.NumRows; r++)
        {
            for (int k = 0; k < h; k++)
            {
                double dot = 0, adot = 0;
                for (long e = g.RowPtr[r]; e < g.RowPtr[r + 1]; e++)
                {
                    dot += y[e * h + k] * gout[e * h + k];
                    adot += Math.Abs(y[e * h + k] * gout[e * h + k]);
                }

                for (long e = g.RowPtr[r]; e < g.RowPtr[r + 1]; e++)
                {
                    gr[e * h + k] = y[e * h + k] * (gout[e * h + k] - dot);
                    mag[e * h + k] = Math.Abs(y[e * h + k]) * (Math.Abs(gout[e * h + k]) + adot);
                }
            }
        }

        return (gr, mag);
    }

    /// <summary>torch_scatter segment_csr with arg = source row of the first extreme (NaN wins, first NaN final); empty: 0, arg -1.</summary>
    public static (double[] Out, long[] Arg, double[] Mag) Segment(long[] ptr, long[]? perm, Reduce reduce, int f, double[] src)
    {
        long s = ptr.Length - 1;
        var o = new double[s * f];
        var arg = new long[s * f];
        var mag = new double[s * f];
        for (long seg = 0; seg < s; seg++)
        {
            long n = ptr[seg + 1] - ptr[seg];
            for (int k = 0; k < f; k++)
            {
                double acc = 0, m = 0;
                long best = -1;
                for (long p = ptr[seg]; p < ptr[seg + 1]; p++)
                {
                    long i = perm is null ? p : perm[p];
                    double x = src[i * f + k];
                    m += Math.Abs(x);
                    if (reduce is Reduce.Sum or Reduce.Mean)
                    {
                        acc += x;
                    }
                    else if (best < 0)
                    {
                        acc = x;
                        best = i;
                    }
                    else if (!double.IsNaN(acc) && (double.IsNaN(x) || (reduce == Reduce.Max ? x > acc : x < acc)))
                    {
                        acc = x;
                        best = i;
                    }
                }

                if (reduce == Reduce.Mean && n > 0)
                {
                    acc /= n;
                    m /= n;
                }

                o[seg * f + k] = n == 0 ? 0 : acc;
                arg[seg * f + k] = best;
                mag[seg * f + k] = m;
            }
        }

        return (o, arg, mag);
    }

    /// <summary>Backward of Segment: sum gathers, mean divides by the count, max/min route to the arg.</summary>
    public static double[] SegmentBackward(long[] ptr, long[]? perm, Reduce reduce, int f, double[] gout, long[]? arg, long numSrc)
    {
        var gs = new double[numSrc * f];
        for (long seg = 0; seg < ptr.Length - 1; seg++)
        {
            long n = ptr[seg + 1] - ptr[seg];
            for (long p = ptr[seg]; p < ptr[seg + 1]; p++)
            {
                long i = perm is null ? p : perm[p];
                for (int k = 0; k < f; k++)
                {
                    double g = gout[seg * f + k];
                    gs[i * f + k] = reduce switch
                    {
                        Reduce.Sum => g,
                        Reduce.Mean => g / n,
                        _ => arg![seg * f + k] == i ? g : 0,
                    };
                }
            }
        }

        return gs;
    }

    /// <summary>Scatter-reduce over an unsorted index (torch_scatter scatter; arg = lowest entry among ties, -1 when empty).</summary>
    public static (double[] Out, long[] Arg) Scatter(long[] index, long dimSize, Reduce reduce, int f, double[] src)
    {
        var lists = new List<long>[dimSize];
        for (long s = 0; s < dimSize; s++) lists[s] = new List<long>();
        for (long i = 0; i < index.Length; i++) lists[index[i]].Add(i);
        var ptr = new long[dimSize + 1];
        var perm = new List<long>();
        for (long s = 0; s < dimSize; s++)
        {
            perm.AddRange(lists[s]);
            ptr[s + 1] = perm.Count;
        }

        var (o, a, _) = Segment(ptr, perm.ToArray(), reduce, f, src);
        return (o, a);
    }

    /// <summary>Stable COO to CSR: rows by dst, COO order kept inside a row.</summary>
    public static (long[] RowPtr, long[] Col, long[] Perm) CooToCsr(long[] dst, long[]? src, long numRows)
    {
        var rp = new long[numRows + 1];
        foreach (long d in dst) rp[d + 1]++;
        for (long r = 0; r < numRows; r++) rp[r + 1] += rp[r];
        var cursor = (long[])rp.Clone();
        var perm = new long[dst.Length];
        for (long i = 0; i < dst.Length; i++) perm[cursor[dst[i]]++] = i;
        long[] col = src is null ? Array.Empty<long>() : Array.ConvertAll(perm, p => src[p]);
        return (rp, col, perm);
    }
}
