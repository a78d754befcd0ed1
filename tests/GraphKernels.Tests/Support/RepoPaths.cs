namespace GraphKernels.Tests.Support;

/// <summary>
/// Locates the repository from the test assembly: walks up from the output directory to the first
/// folder holding GraphKernels.sln (or, before the solution existed, native/include/graphkernels.h).
/// The Nvrtc and NativeBuild tests read kernels/ and CMakeLists.txt from there rather than from
/// copies in the output directory, so they always test the sources of this checkout.
/// </summary>
public static class RepoPaths
{
    private static readonly Lazy<string> RootLazy = new(FindRoot);

    public static string Root => RootLazy.Value;

    public static string Kernels => Path.Combine(Root, "kernels");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "GraphKernels.sln")) ||
                File.Exists(Path.Combine(dir.FullName, "native", "include", "graphkernels.h")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException(
            $"No folder above {AppContext.BaseDirectory} contains GraphKernels.sln or native/include/graphkernels.h");
    }
}
