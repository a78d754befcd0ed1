using System.Collections.Concurrent;
using GraphKernels.Jit;
using GraphKernels.Tests.Nvrtc;
using GraphKernels.Tests.Support;

namespace GraphKernels.Tests.Jit;

/// <summary>
/// The runtime compilation service: the embedded kernels/ sources, NVRTC compilation of every
/// manifest instantiation from them alone, the disk cache (hit, invalidation, corruption,
/// concurrency) and the target choice. Needs NVRTC (skipped with the reason where it is absent;
/// CI installs it). Every test uses its own temporary cache folder.
/// </summary>
[TestFixture]
[Category("Jit")]
public sealed class JitCompilerTests
{
    private readonly List<string> _dirs = [];

    [TearDown]
    public void RemoveCaches()
    {
        foreach (string d in _dirs)
        {
            try { Directory.Delete(d, recursive: true); } catch (IOException) { }
        }

        _dirs.Clear();
    }

    private string TempCache()
    {
        string d = Path.Combine(Path.GetTempPath(), "gk-jit-test-" + Guid.NewGuid().ToString("N"));
        _dirs.Add(d);
        return d;
    }

    private static NvrtcCompiler LoadOrIgnore()
    {
        if (!NvrtcCompiler.TryLoad(out NvrtcCompiler? compiler, out string whyNot)) Assert.Ignore("NVRTC not found: " + whyNot);
        return compiler!;
    }

    private JitCompiler NewService(string? dir = null) => new(LoadOrIgnore(), new KernelCache(dir ?? TempCache()));

    private const string SpmmProgram = "#include \"spmm.cuh\"\n";
    private static readonly string[] SpmmNames = ["gk::spmm_kernel<int, 0, 0, 1>", "gk::spmm_kernel<long long, 1, 2, 4>"];
    private static readonly JitTarget Sm90 = new(90, NvrtcOutput.Cubin);

    [Test]
    public void EmbeddedSourcesAreExactlyTheKernelsFolder()
    {
        var onDisk = Directory.EnumerateFiles(RepoPaths.Kernels, "*.cuh", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(RepoPaths.Kernels, p).Replace('\\', '/')).Order(StringComparer.Ordinal).ToList();
        Assert.That(KernelSources.Names.Order(StringComparer.Ordinal), Is.EqualTo(onDisk));
        Assert.That(onDisk, Does.Contain("common/gk_device.cuh").And.Contain("fused_message.cuh"));
        foreach (string name in onDisk)
        {
            Assert.That(KernelSources.Get(name), Is.EqualTo(File.ReadAllText(Path.Combine(RepoPaths.Kernels, name))), name);
        }
    }

    [Test]
    public void IncludesAreFollowedTransitively()
    {
        var names = KernelSources.IncludedBy("#include \"force_stress_unfused.cuh\"\n").Select(h => h.Key).ToList();
        Assert.That(names, Is.EqualTo(new[] { "common/gk_device.cuh", "force_stress.cuh", "force_stress_unfused.cuh" }));
    }

    public static IEnumerable<TestCaseData> PtxTargets()
    {
        yield return new TestCaseData(80).SetArgDisplayNames("compute_80");
        yield return new TestCaseData(90).SetArgDisplayNames("compute_90");
    }

    /// <summary>Every manifest line compiles from the embedded text only (no -I to the checkout) and the PTX has its entry point.</summary>
    [TestCaseSource(nameof(PtxTargets))]
    public void EveryEmbeddedKernelCompilesFromTheEmbeddedText(int arch)
    {
        var jit = NewService();
        var target = new JitTarget(arch, NvrtcOutput.Ptx);
        foreach (var group in NvrtcKernelTests.ReadManifest().GroupBy(e => e.Header))
        {
            var names = group.Select(e => e.Expression).ToList();
            JitImage image;
            try
            {
                image = jit.Compile($"#include \"{group.Key}\"\n", group.Key + ".cu", names, target);
            }
            catch (NvrtcCompileException ex)
            {
                Assert.Fail($"kernels/{group.Key} for compute_{arch}:\n{ex.Log}");
                throw;
            }

            string ptx = System.Text.Encoding.UTF8.GetString(image.Image).TrimEnd('\0');
            Assert.That(ptx, Does.Contain($".target sm_{arch}"));
            foreach (string name in names)
            {
                Assert.That(ptx, Does.Contain(".entry " + image.LoweredNames[name]), $"{group.Key}: {name}");
            }
        }
    }

    [Test]
    public void SecondCompileHitsTheCacheAndChangesInvalidateIt()
    {
        string dir = TempCache();
        var first = NewService(dir);
        JitImage a = first.Compile(SpmmProgram, "spmm.cu", SpmmNames, Sm90);
        Assert.That((a.FromCache, first.Compilations, first.CacheHits), Is.EqualTo((false, 1L, 0L)));
        Assert.That(a.Image.Take(4), Is.EqualTo(new byte[] { 0x7F, (byte)'E', (byte)'L', (byte)'F' }));

        // A new service instance over the same folder (a new process, as far as the cache knows).
        var second = NewService(dir);
        JitImage b = second.Compile(SpmmProgram, "spmm.cu", SpmmNames, Sm90);
        Assert.That((b.FromCache, second.Compilations, second.CacheHits), Is.EqualTo((true, 0L, 1L)));
        Assert.That(b.Image, Is.EqualTo(a.Image));
        Assert.That(b.LoweredNames, Is.EquivalentTo(a.LoweredNames));
        Assert.That(b.Key, Is.EqualTo(a.Key));

        // Source changed (even only a comment): a new key, compiled.
        JitImage c = second.Compile(SpmmProgram + "// changed\n", "spmm.cu", SpmmNames, Sm90);
        Assert.That((c.FromCache, c.Key == a.Key), Is.EqualTo((false, false)));

        // Options changed: a new key, compiled.
        JitImage d = second.Compile(SpmmProgram, "spmm.cu", SpmmNames, Sm90, ["-DGK_UNUSED_MACRO=1"]);
        Assert.That((d.FromCache, d.Key == a.Key), Is.EqualTo((false, false)));

        // Target changed: a new key.
        JitImage e = second.Compile(SpmmProgram, "spmm.cu", SpmmNames, new JitTarget(80, NvrtcOutput.Cubin));
        Assert.That((e.FromCache, e.Key == a.Key), Is.EqualTo((false, false)));
        Assert.That(second.Compilations, Is.EqualTo(3));
        Assert.That(new KernelCache(dir).Keys(), Has.Count.EqualTo(4));
    }

    [Test]
    public void AnIncludedHeaderIsPartOfTheKey()
    {
        var jit = NewService();
        string viaSpmm = jit.KeyOf(SpmmProgram, [], SpmmNames, Sm90);
        var headers = KernelSources.IncludedBy(SpmmProgram);
        Assert.That(headers.Select(h => h.Key), Is.EqualTo(new[] { "common/gk_device.cuh", "spmm.cuh" }));
        // The same program text with a different header set (none resolvable) gets a different key.
        string unresolved = jit.KeyOf("#include \"spmm_renamed.cuh\"\n", [], SpmmNames, Sm90);
        Assert.That(unresolved, Is.Not.EqualTo(viaSpmm));
    }

    [Test]
    public void ACorruptEntryIsRecompiledAndReplaced()
    {
        string dir = TempCache();
        var jit = NewService(dir);
        JitImage a = jit.Compile(SpmmProgram, "spmm.cu", SpmmNames, Sm90);
        string path = jit.Cache.PathOf(a.Key);
        byte[] bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x5A;
        File.WriteAllBytes(path, bytes[..^7]);   // flipped and truncated: a torn write
        var again = NewService(dir);
        JitImage b = again.Compile(SpmmProgram, "spmm.cu", SpmmNames, Sm90);
        Assert.That((b.FromCache, again.Compilations), Is.EqualTo((false, 1L)));
        // NVRTC's CUBIN is not byte-identical compile to compile, so compare what matters.
        Assert.That(b.Image.Take(4), Is.EqualTo(new byte[] { 0x7F, (byte)'E', (byte)'L', (byte)'F' }));
        Assert.That(b.LoweredNames, Is.EquivalentTo(a.LoweredNames));
        Assert.That(NewService(dir).Compile(SpmmProgram, "spmm.cu", SpmmNames, Sm90).FromCache, Is.True);
    }

    [Test]
    public void ManyThreadsCompilingOneKeyProduceOneEntryAndNoTornFiles()
    {
        string dir = TempCache();
        var shared = NewService(dir);
        var other = NewService(dir);   // a second instance stands in for another process
        var images = new ConcurrentBag<(bool Shared, byte[] Image)>();
        var errors = new ConcurrentBag<Exception>();
        using var start = new ManualResetEventSlim(false);
        var threads = Enumerable.Range(0, 12).Select(i => new Thread(() =>
        {
            start.Wait();
            try
            {
                var service = i % 3 == 0 ? other : shared;
                images.Add((i % 3 != 0, service.Compile(SpmmProgram, "spmm.cu", SpmmNames, Sm90).Image));
            }
            catch (Exception ex)
            {
                errors.Add(ex);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        start.Set();
        threads.ForEach(t => t.Join());

        Assert.That(errors, Is.Empty);
        Assert.That(images, Has.Count.EqualTo(12));
        // Threads of one instance share its single compilation (or the cache entry). NVRTC's CUBIN
        // differs in a few bytes between compilations, so the other instance is only checked whole.
        Assert.That(images.Where(x => x.Shared).Select(x => x.Image).Distinct(new ByteArrayComparer()).Count(), Is.EqualTo(1), "threads of one instance got one image");
        Assert.That(images.Select(x => x.Image), Has.All.Matches<byte[]>(b => b.Length > 4 && b[0] == 0x7F && b[1] == (byte)'E'));
        Assert.That(shared.Compilations, Is.EqualTo(1), "threads of one instance wait for one compilation");
        Assert.That(other.Compilations, Is.LessThanOrEqualTo(1));
        Assert.That(Directory.GetFiles(dir), Has.Length.EqualTo(1), "one entry, no temporary files left: " + string.Join(", ", Directory.GetFiles(dir)));
        Assert.That(NewService(dir).Compile(SpmmProgram, "spmm.cu", SpmmNames, Sm90).FromCache, Is.True, "the entry is whole and valid");
    }

    [Test]
    public void NvrtcErrorsCarryTheLog()
    {
        var jit = NewService();
        var ex = Assert.Throws<NvrtcCompileException>(() => jit.Compile("#include \"spmm.cuh\"\n__global__ void k() { undefined_thing(); }\n", "bad.cu", [], Sm90));
        Assert.That(ex!.Log, Does.Contain("undefined_thing"));
        Assert.That(new KernelCache(jit.Cache.Directory).Keys(), Is.Empty, "a failed compilation is not cached");
    }

    [TestCase(90, new[] { 52, 60, 70, 75, 80, 86, 89, 90 }, 90, NvrtcOutput.Cubin)]
    [TestCase(100, new[] { 52, 60, 70, 75, 80, 86, 89, 90 }, 90, NvrtcOutput.Ptx)]   // NVRTC 11.8 on a newer GPU
    [TestCase(87, new[] { 52, 60, 70, 75, 80, 86, 89, 90 }, 86, NvrtcOutput.Ptx)]
    [TestCase(120, new int[0], 80, NvrtcOutput.Ptx)]                                  // NVRTC without nvrtcGetSupportedArchs
    public void TargetChoice(int device, int[] supported, int arch, NvrtcOutput kind)
        => Assert.That(JitTarget.Choose(device, supported), Is.EqualTo(new JitTarget(arch, kind)));

    [Test]
    public void TargetOlderThanNvrtcIsRefused()
        => Assert.Throws<NotSupportedException>(() => JitTarget.Choose(35, [52, 90]));

    [Test]
    public void CacheFolderIsOverridable()
    {
        string dir = TempCache();
        string? saved = Environment.GetEnvironmentVariable(KernelCache.DirectoryVariable);
        try
        {
            Environment.SetEnvironmentVariable(KernelCache.DirectoryVariable, dir);
            Assert.That(KernelCache.DefaultDirectory, Is.EqualTo(Path.GetFullPath(dir)));
            Environment.SetEnvironmentVariable(KernelCache.DirectoryVariable, null);
            Assert.That(KernelCache.DefaultDirectory, Does.EndWith(Path.Combine("graphkernels", "nvrtc")).Or.EndWith(Path.Combine("GraphKernels", "nvrtc")));
        }
        finally
        {
            Environment.SetEnvironmentVariable(KernelCache.DirectoryVariable, saved);
        }
    }

    private sealed class ByteArrayComparer : IEqualityComparer<byte[]>
    {
        public bool Equals(byte[]? x, byte[]? y) => x is not null && y is not null && x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => obj.Length;
    }
}
