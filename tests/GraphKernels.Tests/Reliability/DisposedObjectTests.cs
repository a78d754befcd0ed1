namespace GraphKernels.Tests.Reliability;

/// <summary>
/// Objects used after Dispose throw <see cref="ObjectDisposedException"/> before any native call,
/// and leave the output untouched: a stream made by CreateStream on the emulated device (a
/// placeholder the managed layer maps to the NULL stream, which once stayed usable after Dispose),
/// and a graph validated after its disposal.
/// </summary>
[TestFixture]
[Category("Emulation")]
[Category("BadInput")]
public sealed class DisposedObjectTests
{
    [Test]
    public void SpmmOnADisposedCreatedStreamThrowsAndLeavesTheOutput()
    {
        using var device = GraphDevice.Emulated();
        using var graph = CsrGraph.Upload(device, new[] { 0, 1, 2 }, new[] { 1, 0 }, 2);
        using var x = device.Upload<float>(new[] { 1f, 2f, 3f, 4f });
        using var y = device.Upload<float>(new[] { -7f, -7f, -7f, -7f });
        var stream = device.CreateStream();
        MessagePassing.SpMM(graph, Message.CopyU, Reduce.Sum, 2, x, y, stream: stream);   // usable before
        Assert.That(y.ToArray(), Is.EqualTo(new[] { 3f, 4f, 1f, 2f }));
        y.Fill(-7f);
        stream.Dispose();
        Assert.Throws<ObjectDisposedException>(() => MessagePassing.SpMM(graph, Message.CopyU, Reduce.Sum, 2, x, y, stream: stream));
        Assert.Throws<ObjectDisposedException>(stream.Synchronize);
        Assert.That(y.ToArray(), Is.EqualTo(new[] { -7f, -7f, -7f, -7f }));
    }

    [Test]
    public void ValidatingADisposedGraphThrows()
    {
        using var device = GraphDevice.Emulated();
        var graph = CsrGraph.Upload(device, new[] { 0, 1, 2 }, new[] { 1, 0 }, 2);
        graph.Dispose();
        Assert.Throws<ObjectDisposedException>(() => graph.Validate());
    }
}
