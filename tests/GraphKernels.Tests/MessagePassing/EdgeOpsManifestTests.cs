using GraphKernels.Tests.Nvrtc;

namespace GraphKernels.Tests.EdgeOps;

/// <summary>Every edge-op instantiation native/src/edge_ops.cu launches has an NVRTC manifest line (which the Nvrtc tests compile).</summary>
[TestFixture]
[Category("Nvrtc")]
[Category("MessagePassing")]
public sealed class EdgeOpsManifestTests
{
    [Test]
    public void ManifestListsEveryEdgeOpInstantiation()
    {
        var have = NvrtcKernelTests.ReadManifest().Where(e => e.Header == "edge_ops.cuh").Select(e => e.Expression.Replace(" ", "")).ToHashSet();
        var missing = new List<string>();
        void Need(string e)
        {
            if (!have.Contains(e.Replace(" ", ""))) missing.Add(e);
        }

        foreach (string i in new[] { "int", "long long" })
        {
            foreach (string t in new[] { "float", "__half", "__nv_bfloat16" })
            {
                foreach (string b in new[] { "true", "false" })
                {
                    Need($"gk::sddmm_kernel<{i}, {t}, {b}>");
                    Need($"gk::sddmm_backward_kernel<{i}, {t}, {b}>");
                }

                Need($"gk::edge_softmax_kernel<{i}, {t}>");
                Need($"gk::edge_softmax_backward_kernel<{i}, {t}>");
                for (int r = 0; r < 4; r++) Need($"gk::segment_reduce_kernel<{i}, {t}, {r}>");
                Need($"gk::segment_gather_kernel<{i}, {t}>");
            }

            foreach (string k in new[] { "coo_count_kernel", "coo_scan_kernel", "coo_place_kernel", "coo_sort_kernel", "degree_kernel" })
            {
                Need($"gk::{k}<{i}>");
            }
        }

        Assert.That(missing, Is.Empty, "edge-op instantiations launched by native/src/edge_ops.cu but absent from kernels/nvrtc_manifest.txt");
        Assert.That(have, Has.Count.EqualTo(76), "the manifest lists exactly the 76 edge-op instantiations");
    }
}
