namespace GraphKernels.Tests.Jit;

/// <summary>The validator of user message expressions: what it accepts, and the line/column of what it refuses.</summary>
[TestFixture]
[Category("Jit")]
public sealed class MessageExpressionTests
{
    [TestCase("src[f]", true, false, false)]
    [TestCase("src[f] * edge[0] + dst[f]", true, true, true)]
    [TestCase("tanhf(dst[f]) * expf(-edge[1] * 0.5f) + 1e-3f", false, true, true)]
    [TestCase("f < 3 ? (float)f : fmaxf(src[f], 0.f)", true, false, false)]
    [TestCase("src[f]\n  * edge[f]\n  / 2.5E+2f", true, false, true)]
    [TestCase("0x10 * src[f] + .5f", true, false, false)]
    public void AcceptsExpressions(string expression, bool src, bool dst, bool edge)
        => Assert.That(MessageExpression.Validate(expression), Is.EqualTo(new MessageOperands(src, dst, edge)));

    [TestCase("src[f]; y[0] = 1", 1, 7, "';'")]
    [TestCase("src[f] *\n  edge[0] } + {", 2, 11, "'}'")]
    [TestCase("#include <x>\nsrc[f]", 1, 1, "'#'")]
    [TestCase("src[f] +\n\n    __ldg(src)", 3, 5, "__ldg")]
    [TestCase("src[f] + asm(\"x\")", 1, 10, "'asm'")]
    [TestCase("src[f] * weight", 1, 10, "unknown identifier 'weight'")]
    [TestCase("src[f] * (edge[0]\n + 1", 1, 10, "'(' is never closed")]
    [TestCase("src[f] * edge[0])", 1, 17, "')' does not close")]
    [TestCase("src[f] // + 1", 1, 8, "comments")]
    [TestCase("src[f] /* x */", 1, 8, "comments")]
    [TestCase("src[f] + \"a\"", 1, 10, "string")]
    [TestCase("src[f] + 1.0q", 1, 10, "'1.0q' is not a number")]
    [TestCase("   \n  ", 1, 1, "empty")]
    [TestCase("src[f] \\\n + 1", 1, 8, "line continuation")]
    public void RefusesWithUserLineAndColumn(string expression, int line, int column, string reason)
    {
        var ex = Assert.Throws<FusedMessageException>(() => MessageExpression.Validate(expression));
        Assert.That((ex!.Line, ex.Column), Is.EqualTo((line, column)), ex.Message);
        Assert.That(ex.Message, Does.Contain(reason).And.StartWith($"message expression, line {line}, column {column}:"));
    }

    [Test]
    public void BuiltinsAreRecognisedWithoutWhitespace()
    {
        Assert.That(FusedMessage.TryGetBuiltin(" src [ f ]\t*\nedge[ 0 ]", out var b), Is.True);
        Assert.That(b, Is.EqualTo(FusedBuiltin.UMulE));
        Assert.That(FusedMessage.TryGetBuiltin("src[f] * edge[1]", out _), Is.False);
        foreach (FusedBuiltin builtin in Enum.GetValues<FusedBuiltin>())
        {
            Assert.That(FusedMessage.TryGetBuiltin(FusedMessage.BuiltinExpression(builtin), out var back) && back == builtin, Is.True, builtin.ToString());
        }
    }
}
