using System.Collections.Concurrent;

namespace GraphKernels.Tests.Graphs;

/// <summary>
/// The named graphs the SpMM cases run on, built once per test run (seeded, so identical every run).
/// Sizes are modest because the emulation runs every CUDA thread as a fiber on 2 cores.
/// </summary>
public static class GraphCatalog
{
    private static readonly Dictionary<string, Func<HostCsr>> Builders = new()
    {
        ["er"] = () => GraphGenerators.ErdosRenyi(300, 300, 6.0 / 300, seed: 11, name: "er300"),
        ["powerlaw"] = () => GraphGenerators.PowerLaw(400, 400, 8, new[] { 300, 150 }, seed: 12, name: "powerlaw400"),
        ["emptyrows"] = () => GraphGenerators.WithEmptyRows(250, 200, 0.4, 9, seed: 13),
        ["selfloops"] = () => GraphGenerators.SelfLoops(200, 6, seed: 14),
        ["duplicates"] = () => GraphGenerators.Duplicates(150, 60, seed: 15),
        ["noedges"] = () => GraphGenerators.NoEdges(50, 40),
        ["norows"] = () => GraphGenerators.NoRows(30),
        ["wide"] = () => GraphGenerators.ErdosRenyi(100, 700, 5.0 / 700, seed: 16, name: "wide100x700"),
        ["tall"] = () => GraphGenerators.ErdosRenyi(600, 50, 5.0 / 50, seed: 17, name: "tall600x50"),
        ["hub"] = () => GraphGenerators.SingleHub(1500, 900, seed: 18),
        // The bigger graph: Zipf in-degrees with hubs of a few hundred to a few thousand in-edges.
        ["powerlaw-big"] = () => GraphGenerators.PowerLaw(3000, 3000, 10, new[] { 2500, 1200, 700, 400 }, seed: 19, name: "powerlaw3000"),
    };

    private static readonly ConcurrentDictionary<string, Lazy<HostCsr>> Cache = new();

    /// <summary>Names of the small graphs every reducer/message/index combination runs on.</summary>
    public static readonly string[] SmallGraphs =
        { "er", "powerlaw", "emptyrows", "selfloops", "duplicates", "noedges", "norows", "wide", "tall", "hub" };

    public static HostCsr Get(string name) =>
        Cache.GetOrAdd(name, n => new Lazy<HostCsr>(Builders[n], LazyThreadSafetyMode.ExecutionAndPublication)).Value;
}
