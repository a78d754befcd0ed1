namespace GraphKernels.Tests.Reliability;

/// <summary>
/// tests/run-managed-asan.sh runs this suite against build/asan-managed/lib and sets
/// GK_EXPECT_SANITIZED_LIBRARY to that file: this test proves that the instrumented library is the
/// one the managed loader actually picked (a silent fallback to the plain build would make the
/// whole sanitized run vacuous). Outside that script it checks that the loaded library exists and
/// answers as the emulated backend.
/// </summary>
[TestFixture]
[Category("Emulation")]
public sealed class SanitizedRunTests
{
    [Test]
    public void LoadedEmulatedLibraryIsTheExpectedOne()
    {
        using GraphDevice device = GraphDevice.Emulated();
        string loaded = Path.GetFullPath(device.NativeLibraryPath);
        TestContext.Out.WriteLine($"emulated library: {loaded} ({device.NativeBuildInfo})");
        Assert.That(File.Exists(loaded), Is.True, loaded);
        Assert.That(device.NativeBuildInfo, Does.Contain("emulat").IgnoreCase);
        string? expected = Environment.GetEnvironmentVariable("GK_EXPECT_SANITIZED_LIBRARY");
        if (!string.IsNullOrEmpty(expected))
        {
            // The library is a versioned SONAME chain (libgraphkernels_emulated.so -> .so.0.1 -> .so.0.1.0):
            // compare the files the links resolve to.
            string want = new FileInfo(Path.GetFullPath(expected)).ResolveLinkTarget(returnFinalTarget: true)?.FullName
                ?? Path.GetFullPath(expected);
            string got = new FileInfo(loaded).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? loaded;
            Assert.That(got, Is.EqualTo(want),
                "the sanitized run loaded another library than build/asan-managed/lib");
        }
    }
}
