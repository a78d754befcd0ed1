using System.Diagnostics;

namespace GraphKernels.Tests.Reliability;

/// <summary>
/// Issue 11, scale: SpMM whose output has more than 2^31 elements, so every y offset past element
/// 2^31 - 1 exercises the 64-bit offset arithmetic (row * ldy + f) with int32 CSR indices, the
/// combination in which torch_scatter and DGL overflowed. y is 2^15 rows x 65,540 features =
/// 2,147,614,720 floats (8.6 GB); x is 4 source rows; one row in 8 has an edge (and the last 64
/// rows all do), so the emulated kernel spends its time writing rather than in warp shuffles.
/// Every output element is checked: rows with an edge equal the source row exactly, empty rows
/// are 0 (y is poisoned with NaN first, so an element that was never written cannot pass).
/// </summary>
[TestFixture]
[Category("Large")]
[Category("Emulation")]
[Category("MessagePassing")]
[NonParallelizable]
public sealed class LargeSpmmTests
{
    [Test]
    public void OutputBeyondTwoToThe31ElementsIsCorrect()
    {
        const long rows = 1L << 15, F = 65_540, cols = 4;
        Assert.That(rows * F, Is.GreaterThan(int.MaxValue));
        using GraphDevice device = GraphDevice.Emulated();

        var rowPtr = new int[rows + 1];
        var colIdx = new List<int>();
        for (long r = 0; r < rows; r++)
        {
            if (r % 8 == 3 || r >= rows - 64) colIdx.Add((int)(r % cols));
            rowPtr[r + 1] = colIdx.Count;
        }

        var xs = new float[cols * F];
        for (long c = 0; c < cols; c++)
            for (long f = 0; f < F; f++) xs[c * F + f] = (c + 1) * 100_000f + f;  // exact in fp32

        using CsrGraph g = CsrGraph.Upload(device, rowPtr, colIdx.ToArray(), cols);
        using DeviceBuffer<float> x = device.Upload<float>(xs);
        using DeviceBuffer<float> y = device.Allocate<float>(rows * F);
        y.Fill(float.NaN);

        var sw = Stopwatch.StartNew();
        MessagePassing.SpMM(g, Message.CopyU, Reduce.Sum, F, x, y);
        double kernelSeconds = sw.Elapsed.TotalSeconds;

        // Check every row through a row-sized window (the whole y exceeds a .NET array).
        var row = new float[F];
        long bad = 0, firstBad = -1;
        for (long r = 0; r < rows; r++)
        {
            y.CopyTo(row, r * F);
            bool hasEdge = rowPtr[r + 1] > rowPtr[r];
            long src = r % cols;
            for (long f = 0; f < F; f++)
            {
                float want = hasEdge ? xs[src * F + f] : 0f;
                if (BitConverter.SingleToUInt32Bits(row[f]) != BitConverter.SingleToUInt32Bits(want))
                {
                    if (firstBad < 0) firstBad = r * F + f;
                    bad++;
                }
            }
        }

        TestContext.Out.WriteLine($"SpMM [{rows} x {F}] = {rows * F} output elements: kernel {kernelSeconds:F1} s, total {sw.Elapsed.TotalSeconds:F1} s");
        Assert.That(bad, Is.Zero, $"{bad} wrong elements, the first at flat index {firstBad}");
    }
}
