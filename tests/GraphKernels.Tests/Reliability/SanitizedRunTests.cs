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
            Assert.That(loaded, Is.EqualTo(Path.GetFullPath(expected)),
                "the sanitized run loaded another library than build/asan-managed/lib");
        }
    }
}
