using GraphKernels.Ilgpu;
using GraphKernels.Tests.Oracle;
using GraphKernels.Tests.Spmm;

namespace GraphKernels.Tests.IlgpuBackend;

/// <summary>
/// ILGPU's CPU accelerator against the emulated CUDA library, bit for bit, on the shared SpMM cases.
/// SpMM is bitwise equal by design for every reducer: both backends give each output element to one
/// owner that folds the messages in CSR order in fp32 with the same operations (x·w, then +, or the
/// same max/min/NaN rule; mean divides the fp32 sum once by (float)deg), neither contracts x·w + acc
/// into an FMA (RyuJIT never does; the emulated library is built for baseline x86-64, which has no
/// FMA), and neither uses atomics, so the launch configuration does not matter. The oracle check of
/// these cases runs in SpmmDeviceTests (fixture DeviceKind.Ilgpu); here only equality is asserted.
/// </summary>
[TestFixture]
[Category("Ilgpu")]
[Category("MessagePassing")]
public sealed class IlgpuCrossBackendTests : CrossBackendFixture
{
    /// <summary>Every third small case (all reducers, messages, index types, paddings and value kinds occur) and every big case.</summary>
    public static IEnumerable<TestCaseData> Cases() =>
        SpmmCases.SmallCases().Where((_, i) => i % 3 == 0).Concat(SpmmCases.BigCases())
            .Select(c => new TestCaseData(c).SetArgDisplayNames(c.ToString()));

    [TestCaseSource(nameof(Cases))]
    public void SpmmIsBitwiseEqualToTheEmulatedCudaKernel(SpmmCase c)
    {
        using var onIlgpu = new SpmmRunner(ilgpu!, c);
        using var onEmulated = new SpmmRunner(emulated!, c);
        SpmmRunner.AssertBitwiseEqual(onEmulated.Run(), onIlgpu.Run(), c + ": ILGPU vs emulated");
    }

    /// <summary>Ten runs of the order-sensitive reducers on the hub-heavy graph are bitwise identical on ILGPU.</summary>
    [TestCase(Reduce.Sum, Message.UMulE, IndexType.Int32, 33)]
    [TestCase(Reduce.Max, Message.UMulE, IndexType.Int64, 16)]
    public void TenRunsAreBitwiseIdentical(Reduce reduce, Message message, IndexType index, int features)
    {
        bool extreme = reduce is Reduce.Max or Reduce.Min;
        var c = new SpmmCase("powerlaw-big", index, message, reduce, features, 0, 0, ValueKind.Random, extreme, 0, 4243);
        using var run = new SpmmRunner(ilgpu!, c);
        var first = run.Run();
        for (int i = 1; i < 10; i++)
        {
            SpmmRunner.AssertBitwiseEqual(first, run.Run(), $"{c}: run {i}");
        }
    }
}
