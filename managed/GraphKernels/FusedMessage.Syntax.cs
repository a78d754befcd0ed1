using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace GraphKernels;

/// <summary>
/// A user message expression was rejected, by the validator or by NVRTC; <see cref="Line"/> and
/// <see cref="Column"/> point into the user's own text (1-based).
/// </summary>
public sealed class FusedMessageException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="line">1-based line in the user's expression.</param>
    /// <param name="column">1-based column, or 0 when only the line is known (NVRTC reports lines).</param>
    /// <param name="reason">What is wrong.</param>
    /// <param name="compilerLog">NVRTC's full log when the error came from NVRTC, else empty.</param>
    public FusedMessageException(int line, int column, string reason, string compilerLog = "")
        : this(MessageExpression.MessageSnippet, line, column, reason, compilerLog)
    {
    }

    /// <summary>Creates the exception for one of the snippets (the message or a derivative).</summary>
    /// <param name="snippet">Which snippet: "message expression", "derivative Src", "derivative Dst" or "derivative Edge".</param>
    /// <param name="line">1-based line in that snippet.</param>
    /// <param name="column">1-based column, or 0 when only the line is known.</param>
    /// <param name="reason">What is wrong.</param>
    /// <param name="compilerLog">NVRTC's full log when the error came from NVRTC, else empty.</param>
    public FusedMessageException(string snippet, int line, int column, string reason, string compilerLog = "")
        : base(column > 0
            ? $"{snippet}, line {line}, column {column}: {reason}"
            : $"{snippet}, line {line}: {reason}")
    {
        ArgumentNullException.ThrowIfNull(snippet);
        Snippet = snippet;
        Line = line;
        Column = column;
        Reason = reason;
        CompilerLog = compilerLog;
    }

    /// <summary>Which snippet the position is in: "message expression" or "derivative Src" / "derivative Dst" / "derivative Edge".</summary>
    public string Snippet { get; }

    /// <summary>1-based line in the user's expression.</summary>
    public int Line { get; }

    /// <summary>1-based column; 0 when only the line is known.</summary>
    public int Column { get; }

    /// <summary>What is wrong, without the position.</summary>
    public string Reason { get; }

    /// <summary>NVRTC's log when NVRTC rejected the generated kernel; empty for validation errors.</summary>
    public string CompilerLog { get; }
}

/// <summary>The operand a derivative snippet differentiates by.</summary>
public enum DerivativeOperand
{
    /// <summary>d msg_f / d src[f].</summary>
    Src,

    /// <summary>d msg_f / d dst[f].</summary>
    Dst,

    /// <summary>d msg_f / d edge[k] (the snippet may use k, the edge column).</summary>
    Edge,
}

/// <summary>Which operands a message expression reads.</summary>
/// <param name="Src">Whether it reads <c>src</c>.</param>
/// <param name="Dst">Whether it reads <c>dst</c>.</param>
/// <param name="Edge">Whether it reads <c>edge</c>.</param>
public readonly record struct MessageOperands(bool Src, bool Dst, bool Edge);

/// <summary>
/// The validator of user message expressions: one CUDA C expression over the operands
/// <c>src</c>, <c>dst</c>, <c>edge</c> (const float* rows) and <c>f</c> (the feature index, 64-bit),
/// float literals and the math functions in <see cref="AllowedFunctions"/>. Everything that could
/// escape the expression is refused: statements (<c>;</c>, braces), the preprocessor (<c>#</c>),
/// comments, strings and characters, <c>asm</c>, identifiers with <c>__</c>, unbalanced brackets.
/// </summary>
public static partial class MessageExpression
{
    /// <summary>The operand names.</summary>
    public static IReadOnlyList<string> Operands { get; } = ["src", "dst", "edge", "f"];

    /// <summary>The functions (and type names, for casts) an expression may use besides the operands.</summary>
    public static IReadOnlySet<string> AllowedFunctions { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "expf", "exp2f", "expm1f", "logf", "log2f", "log10f", "log1pf", "sqrtf", "rsqrtf", "cbrtf",
        "fabsf", "fmaxf", "fminf", "fmodf", "powf", "sinf", "cosf", "tanf", "tanhf", "sinhf", "coshf",
        "asinf", "acosf", "atanf", "atan2f", "erff", "erfcf", "floorf", "ceilf", "roundf", "truncf",
        "fmaf", "copysignf", "float", "int",
    };

    private const string AllowedPunctuation = "+-*/%()[]<>=!&|?:.,^~";

    /// <summary>
    /// Checks <paramref name="expression"/>; throws <see cref="FusedMessageException"/> at the first
    /// offending character (1-based line and column of the user's text).
    /// </summary>
    /// <param name="expression">The user's expression.</param>
    /// <returns>Which operands it reads.</returns>
    public static MessageOperands Validate(string expression) => Validate(expression, MessageSnippet, allowK: false);

    /// <summary>
    /// Checks a derivative snippet for the fused backward with the same rules as a message
    /// expression; the derivative with respect to the edge (<paramref name="withRespectTo"/> =
    /// <see cref="DerivativeOperand.Edge"/>) may also use <c>k</c>, the edge column. Errors name the
    /// snippet ("derivative Edge, line 1, column 5: ...").
    /// </summary>
    /// <param name="expression">The derivative expression.</param>
    /// <param name="withRespectTo">Which operand it differentiates by.</param>
    /// <returns>Which operands it reads.</returns>
    public static MessageOperands ValidateDerivative(string expression, DerivativeOperand withRespectTo)
        => Validate(expression, DerivativeSnippet(withRespectTo), allowK: withRespectTo == DerivativeOperand.Edge);

    /// <summary>"derivative Src", "derivative Dst" or "derivative Edge".</summary>
    internal static string DerivativeSnippet(DerivativeOperand operand) => "derivative " + operand.ToString();

    /// <summary>The snippet name of the message expression itself.</summary>
    internal const string MessageSnippet = "message expression";

    /// <summary>
    /// For a message with a backward: <c>src</c> and <c>dst</c> may only be read as <c>src[f]</c> and
    /// <c>dst[f]</c>, so that msg_f depends on src[f], dst[f] and the edge row alone and the
    /// per-feature derivatives are the whole chain rule. Throws at the first other use.
    /// </summary>
    /// <param name="expression">The (validated) message expression.</param>
    public static void RequireElementwise(string expression)
    {
        ArgumentNullException.ThrowIfNull(expression);
        int line = 1, column = 1, i = 0;
        while (i < expression.Length)
        {
            char c = expression[i];
            if (c == '\n')
            {
                line++;
                column = 1;
                i++;
                continue;
            }

            if (char.IsAsciiLetter(c) || c == '_')
            {
                int start = i, startColumn = column;
                while (i < expression.Length && (char.IsAsciiLetterOrDigit(expression[i]) || expression[i] == '_'))
                {
                    i++;
                }

                column += i - start;
                string word = expression[start..i];
                if (word is "src" or "dst")
                {
                    // The next non-blank text must be "[", "f", "]" (blanks allowed between).
                    int j = i;
                    bool ok = Next(expression, ref j) == '[' && Next(expression, ref j) == 'f'
                        && (j >= expression.Length || !(char.IsAsciiLetterOrDigit(expression[j]) || expression[j] == '_'))
                        && Next(expression, ref j) == ']';
                    if (!ok)
                    {
                        throw new FusedMessageException(line, startColumn,
                            $"with a backward, '{word}' may only be read as {word}[f] (the derivative is taken per feature).");
                    }
                }

                continue;
            }

            i++;
            column++;
        }

        static char Next(string text, ref int j)
        {
            while (j < text.Length && char.IsWhiteSpace(text[j]))
            {
                j++;
            }

            return j < text.Length ? text[j++] : '\0';
        }
    }

    private static MessageOperands Validate(string expression, string snippet, bool allowK)
    {
        ArgumentNullException.ThrowIfNull(expression);
        if (string.IsNullOrWhiteSpace(expression))
        {
            throw new FusedMessageException(snippet, 1, 1, "the expression is empty.");
        }

        bool src = false, dst = false, edge = false;
        var brackets = new Stack<(char Open, int Line, int Column)>();
        int line = 1, column = 1, i = 0;
        while (i < expression.Length)
        {
            char c = expression[i];
            if (c == '\n')
            {
                line++;
                column = 1;
                i++;
                continue;
            }

            if (c is ' ' or '\t' or '\r')
            {
                i++;
                column++;
                continue;
            }

            if (char.IsAsciiLetter(c) || c == '_')
            {
                int start = i;
                while (i < expression.Length && (char.IsAsciiLetterOrDigit(expression[i]) || expression[i] == '_'))
                {
                    i++;
                }

                string word = expression[start..i];
                if (word.Contains("__", StringComparison.Ordinal))
                {
                    throw new FusedMessageException(snippet, line, column, $"'{word}': identifiers containing '__' are reserved.");
                }

                if (word is "asm")
                {
                    throw new FusedMessageException(snippet, line, column, "'asm' is not allowed in a message expression.");
                }

                switch (word)
                {
                    case "src": src = true; break;
                    case "dst": dst = true; break;
                    case "edge": edge = true; break;
                    case "f": break;
                    case "k" when allowK: break;
                    default:
                        if (!AllowedFunctions.Contains(word))
                        {
                            throw new FusedMessageException(snippet, line, column,
                                $"unknown identifier '{word}'; use the operands src[f], dst[f], edge[k], f and the math functions ({string.Join(", ", SortedFunctions())}).");
                        }

                        break;
                }

                column += i - start;
                continue;
            }

            if (char.IsAsciiDigit(c) || (c == '.' && i + 1 < expression.Length && char.IsAsciiDigit(expression[i + 1])))
            {
                int start = i;
                while (i < expression.Length)
                {
                    char d = expression[i];
                    if (char.IsAsciiLetterOrDigit(d) || d == '.')
                    {
                        i++;
                    }
                    else if ((d is '+' or '-') && (expression[i - 1] is 'e' or 'E') && !expression[start..i].StartsWith("0x", StringComparison.OrdinalIgnoreCase))
                    {
                        i++;
                    }
                    else
                    {
                        break;
                    }
                }

                string number = expression[start..i];
                if (!NumberPattern().IsMatch(number))
                {
                    throw new FusedMessageException(snippet, line, column, $"'{number}' is not a number literal.");
                }

                column += i - start;
                continue;
            }

            if (c == '/' && i + 1 < expression.Length && expression[i + 1] is '/' or '*')
            {
                throw new FusedMessageException(snippet, line, column, "comments are not allowed in a message expression.");
            }

            if (c is '(' or '[')
            {
                brackets.Push((c, line, column));
            }
            else if (c is ')' or ']')
            {
                char open = c == ')' ? '(' : '[';
                if (brackets.Count == 0 || brackets.Peek().Open != open)
                {
                    throw new FusedMessageException(snippet, line, column, $"'{c}' does not close an open '{open}'.");
                }

                brackets.Pop();
            }
            else if (AllowedPunctuation.IndexOf(c, StringComparison.Ordinal) < 0)
            {
                string shown = c < ' ' || c > '~' ? $"U+{(int)c:X4}" : $"'{c}'";
                string why = c switch
                {
                    ';' or '{' or '}' => " (a message is one expression, not statements)",
                    '#' => " (no preprocessor directives)",
                    '"' or '\'' => " (no string or character literals)",
                    '\\' => " (no line continuations or escapes)",
                    _ => string.Empty,
                };
                throw new FusedMessageException(snippet, line, column, $"character {shown} is not allowed{why}.");
            }

            i++;
            column++;
        }

        if (brackets.Count > 0)
        {
            var (open, l, col) = brackets.Peek();
            throw new FusedMessageException(snippet, l, col, $"'{open}' is never closed.");
        }

        return new MessageOperands(src, dst, edge);
    }

    private static IEnumerable<string> SortedFunctions()
    {
        var list = new List<string>(AllowedFunctions);
        list.Sort(StringComparer.Ordinal);
        return list;
    }

    /// <summary>
    /// Maps NVRTC's diagnostics for the generated program back to the user's text: the expression
    /// is compiled under <c>#line 1 "message"</c>, so NVRTC reports <c>message(N): error: ...</c>
    /// with N the user's line. Returns the first error (line, reason), or null when none names the
    /// expression.
    /// </summary>
    /// <param name="log">NVRTC's log.</param>
    /// <returns>The line and the message, or null.</returns>
    internal static (int Line, string Reason)? FirstErrorInExpression(string log)
    {
        foreach (Match m in DiagnosticPattern().Matches(log))
        {
            return (int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), m.Groups[2].Value.Trim());
        }

        return null;
    }

    /// <summary>The program name under which NVRTC reports errors in the user's expression.</summary>
    internal const string LineFileName = "message";

    /// <summary>Normalises an expression for comparison with the built-ins (whitespace removed).</summary>
    internal static string Canonical(string expression)
    {
        var sb = new StringBuilder(expression.Length);
        foreach (char c in expression)
        {
            if (!char.IsWhiteSpace(c))
            {
                sb.Append(c);
            }
        }

        return sb.ToString();
    }

    [GeneratedRegex("^(?:0[xX][0-9a-fA-F]+[uUlL]*|(?:[0-9]+\\.?[0-9]*|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fFuUlL]*)$")]
    private static partial Regex NumberPattern();

    [GeneratedRegex("^message\\((\\d+)\\): error[^:]*:(.*)$", RegexOptions.Multiline)]
    private static partial Regex DiagnosticPattern();
}
