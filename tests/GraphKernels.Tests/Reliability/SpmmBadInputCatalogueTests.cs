using System.Text.RegularExpressions;
using GraphKernels.Tests.Support;
using Ctx = GraphKernels.Tests.BadInput.SpmmBadInputTests.Ctx;

namespace GraphKernels.Tests.Reliability;

/// <summary>
/// Rows of the bad-input catalogue (docs/reliability.md) that BadInput/SpmmBadInputTests does not
/// already cover: misaligned vectorised pointers, arg_out overlapping y, sizes beyond the index
/// type, 64-bit offset overflow, a foreign stream handle. Each goes through the raw overload (so
/// only the native checks apply), expects the status and a message naming the C argument, and
/// proves that y, arg_out and x were not touched (poisoned before the call, compared after).
/// </summary>
[TestFixture]
[Category("BadInput")]
[Category("Emulation")]
[Category("MessagePassing")]
public sealed class SpmmBadInputCatalogueTests
{
    private const int F = 4;
    private GraphDevice device = null!;

    [OneTimeSetUp]
    public void OpenDevice() => device = GraphDevice.Emulated();

    [OneTimeTearDown]
    public void CloseDevice() => device?.Dispose();

    /// <summary>A raw call on Ctx's 40 x 30 int32 graph: everything valid unless a case changes it.</summary>
    public sealed record Raw(nint RowPtr, nint ColIdx, long NumRows, long NumCols, long Nnz, IndexType Index, Message Message,
        Reduce Reduce, long Features, nint X, long Ldx, nint W, nint Y, long Ldy, nint Arg, long LdArg, nint Stream);

    public static IEnumerable<TestCaseData> Cases()
    {
        static TestCaseData C(string what, GkStatus status, string pattern, Func<Raw, Raw> change) =>
            new TestCaseData(status, pattern, change).SetArgDisplayNames(what);

        yield return C("misaligned y", GkStatus.InvalidArgument, @"\by\b.*not aligned to 4", r => r with { Y = r.Y + 2 });
        yield return C("misaligned edge_weight", GkStatus.InvalidArgument, @"\bedge_weight\b.*4-byte aligned", r => r with { W = r.W + 1 });
        yield return C("misaligned arg_out", GkStatus.InvalidArgument, @"\barg_out\b.*not aligned to 4", r => r with { Arg = r.Arg + 2 });
        yield return C("misaligned row_ptr", GkStatus.InvalidArgument, @"\brow_ptr\b.*aligned to 4", r => r with { RowPtr = r.RowPtr + 1 });
        yield return C("misaligned col_idx", GkStatus.InvalidArgument, @"\bcol_idx\b.*aligned to 4", r => r with { ColIdx = r.ColIdx + 3 });
        yield return C("num_cols < 0", GkStatus.InvalidArgument, @"\bnum_cols\b.*-7\b", r => r with { NumCols = -7 });
        yield return C("num_rows = 2^31 - 1 with int32 indices", GkStatus.IndexOverflow, @"num_rows = 2147483647.*GK_INDEX_INT64", r => r with { NumRows = int.MaxValue });
        yield return C("num_cols = 2^31 with int32 indices", GkStatus.IndexOverflow, @"num_cols = 2147483648", r => r with { NumCols = 1L << 31 });
        yield return C("ldx overflows 64-bit byte offsets", GkStatus.IndexOverflow, @"\bx\b.*ldx = 4611686018427387904.*overflows", r => r with { Ldx = 1L << 62 });
        yield return C("ldy overflows 64-bit byte offsets", GkStatus.IndexOverflow, @"\by\b.*ldy.*overflows", r => r with { Ldy = long.MaxValue / 2 });
        yield return C("arg_out overlaps y", GkStatus.InvalidArgument, @"\barg_out overlaps y\b", r => r with { Arg = r.Y + 8 });
        yield return C("arg_out for min with ld_arg < 0", GkStatus.InvalidArgument, @"\bld_arg = -4\b", r => r with { LdArg = -4 });
        yield return C("stream the library did not create", GkStatus.Cuda, @"gk_spmm", r => r with { Stream = 0x1234_5670 });
    }

    [TestCaseSource(nameof(Cases))]
    public void RawCallIsRejectedAndOutputsAreUntouched(GkStatus status, string pattern, Func<Raw, Raw> change)
    {
        using var c = new Ctx(device);
        long rows = c.Graph.NumRows, cols = c.Graph.NumCols, nnz = c.Graph.Nnz;
        var valid = new Raw(c.Graph.RowPtr.Pointer, c.Graph.ColIdx.Pointer, rows, cols, nnz, IndexType.Int32,
            Message.UMulE, Reduce.Min, F, c.X.Pointer, F, c.W.Pointer, c.Y.Pointer, F, c.Arg32.Pointer, F, 0);

        // The unchanged call succeeds, so each case fails for the stated reason only; restore y/arg.
        Call(valid);
        c.Y.CopyFrom(c.YInit);
        c.Arg32.CopyFrom(c.Arg32Init);

        Raw r = change(valid);
        var ex = Assert.Throws<GraphKernelsException>(() => Call(r));
        Assert.Multiple(() =>
        {
            Assert.That(ex!.Status, Is.EqualTo(status), ex.Message);
            Assert.That(Regex.IsMatch(ex.Message, pattern), Is.True, $"message should match /{pattern}/: {ex.Message}");
            Assert.That(ex.Message, Does.Contain("gk_spmm"));
        });
        c.AssertOutputsUntouched();
    }

    private void Call(Raw r) => GraphKernels.MessagePassing.SpMM(device, r.RowPtr, r.ColIdx, r.NumRows, r.NumCols, r.Nnz, r.Index,
        r.Message, r.Reduce, r.Features, r.X, r.Ldx, r.W, r.Y, r.Ldy, r.Arg, r.LdArg, r.Stream);
}
