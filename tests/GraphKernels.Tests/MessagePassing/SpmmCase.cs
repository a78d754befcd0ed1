using GraphKernels.Tests.Graphs;
using GraphKernels.Tests.Oracle;

namespace GraphKernels.Tests.Spmm;

/// <summary>One SpMM configuration. Padding values are added to F to form the leading dimensions.</summary>
public sealed record SpmmCase(
    string Graph,
    IndexType Index,
    Message Message,
    Reduce Reduce,
    int Features,
    int LdxPad,
    int LdyPad,
    ValueKind Values,
    bool WithArg,
    int LdArgPad,
    ulong Seed)
{
    public bool IsExtreme => Reduce is Reduce.Max or Reduce.Min;
    public long Ldx => Features + LdxPad;
    public long Ldy => Features + LdyPad;
    public long LdArg => Features + LdArgPad;
    public HostCsr HostGraph => GraphCatalog.Get(Graph);

    public override string ToString()
    {
        string s = $"{Graph} {Index} {Message} {Reduce} F={Features} {Values}";
        if (LdxPad != 0 || LdyPad != 0) s += $" ldx=F+{LdxPad} ldy=F+{LdyPad}";
        if (WithArg) s += LdArgPad != 0 ? $" arg(ld=F+{LdArgPad})" : " arg";
        return s;
    }
}

/// <summary>
/// The case tables, shared by every device fixture (emulated and CUDA).
///
/// Small: every reducer × message × index type (16 combinations) on every small graph, each with
/// two feature widths taken in rotation from {1, 3, 32, 33, 128, 257}, so every width meets every
/// combination and every graph several times without the full product. Leading-dimension padding
/// (none, unaligned +3/+5, aligned +4/+8), value kinds and arg output rotate the same way.
/// Big: one bigger power-law graph per reducer.
/// </summary>
public static class SpmmCases
{
    public static readonly int[] Widths = { 1, 3, 32, 33, 128, 257 };

    /// <summary>The messages the legacy gk_spmm takes (the generalized ones are GSpmmTests' business).</summary>
    public static readonly Message[] LegacyMessages = { Message.CopyU, Message.UMulE };

    /// <summary>The reducers the legacy gk_spmm takes.</summary>
    public static readonly Reduce[] LegacyReducers = { Reduce.Sum, Reduce.Mean, Reduce.Max, Reduce.Min };
    private static readonly (int X, int Y)[] Pads = { (0, 0), (3, 5), (4, 8) };

    public static IEnumerable<SpmmCase> SmallCases()
    {
        int i = 0;
        foreach (Reduce reduce in LegacyReducers)
        {
            foreach (Message message in LegacyMessages)
            {
                foreach (IndexType index in Enum.GetValues<IndexType>())
                {
                    foreach (string graph in GraphCatalog.SmallGraphs)
                    {
                        for (int rep = 0; rep < 2; rep++, i++)
                        {
                            int f = Widths[i % Widths.Length];
                            var pad = Pads[(i / 2 + rep) % Pads.Length];
                            var values = (i % 7) switch { 0 or 3 or 5 => ValueKind.Dyadic, 6 => ValueKind.Special, _ => ValueKind.Random };
                            bool extreme = reduce is Reduce.Max or Reduce.Min;
                            bool withArg = extreme && (i % 4 != 3);
                            int argPad = withArg && i % 3 == 0 ? 2 : 0;
                            yield return new SpmmCase(graph, index, message, reduce, f, pad.X, pad.Y, values, withArg, argPad, (ulong)(1000 + i));
                        }
                    }
                }
            }
        }
    }

    public static IEnumerable<SpmmCase> BigCases()
    {
        yield return new SpmmCase("powerlaw-big", IndexType.Int64, Message.UMulE, Reduce.Sum, 33, 0, 0, ValueKind.Random, false, 0, 77);
        yield return new SpmmCase("powerlaw-big", IndexType.Int32, Message.CopyU, Reduce.Mean, 128, 0, 4, ValueKind.Dyadic, false, 0, 78);
        yield return new SpmmCase("powerlaw-big", IndexType.Int32, Message.UMulE, Reduce.Max, 32, 4, 0, ValueKind.Dyadic, true, 0, 79);
        yield return new SpmmCase("powerlaw-big", IndexType.Int64, Message.CopyU, Reduce.Min, 3, 1, 1, ValueKind.Special, true, 1, 80);
    }

    public static IEnumerable<TestCaseData> Small() => SmallCases().Select(c => new TestCaseData(c).SetArgDisplayNames(c.ToString()));

    public static IEnumerable<TestCaseData> Big() => BigCases().Select(c => new TestCaseData(c).SetArgDisplayNames(c.ToString()));
}
