using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Mlops.PipelineRunner.Features.Definitions;

/// <summary>The value types a definition speaks of: parameters, step outputs and condition operands.</summary>
public enum ValueType { Any, String, Number, Bool, List, Map, Null }

/// <summary>A reference inside <c>${…}</c>: <c>params.p</c>, <c>steps.s.outputs.o[.sub…]</c>, <c>item[.sub…]</c>, <c>execution.id|status</c>.</summary>
public sealed record Reference(string Text, ReferenceKind Kind, string Name, string? Output, IReadOnlyList<string> Rest);

public enum ReferenceKind { Param, StepOutput, Item, Execution }

/// <summary>A parsed <c>when:</c> condition.</summary>
public abstract record Expr;
public sealed record LiteralExpr(JsonNode? Value) : Expr;
public sealed record RefExpr(Reference Reference) : Expr;
public sealed record NotExpr(Expr Operand) : Expr;
public sealed record BinaryExpr(string Op, Expr Left, Expr Right) : Expr;

public sealed class ExpressionException(string message) : Exception(message);

/// <summary>
/// The condition language: comparisons (<c>== != &lt; &lt;= &gt; &gt;=</c>), <c>and</c>/<c>or</c>/<c>not</c>, parentheses,
/// literals (numbers, quoted strings, true/false/null) and <c>${…}</c> references. Pure: parsing, type checking and
/// evaluation over values given by the caller.
/// </summary>
public static class Expressions
{
    private static readonly string[] Comparisons = ["==", "!=", "<=", ">=", "<", ">"];

    public static Reference ParseReference(string text)
    {
        var parts = text.Trim().Split('.');
        if (parts.Any(p => p.Length == 0))
            throw new ExpressionException($"'${{{text}}}' is not a reference: empty segment.");
        return parts[0] switch
        {
            "params" when parts.Length == 2 => new(text, ReferenceKind.Param, parts[1], null, []),
            "steps" when parts.Length >= 4 && parts[2] == "outputs" => new(text, ReferenceKind.StepOutput, parts[1], parts[3], parts[4..]),
            "item" => new(text, ReferenceKind.Item, "item", null, parts[1..]),
            "execution" when parts.Length == 2 && parts[1] is "id" or "status" or "pipeline" or "version" =>
                new(text, ReferenceKind.Execution, parts[1], null, []),
            _ => throw new ExpressionException(
                $"'${{{text}}}' is not a reference: use params.<name>, steps.<step>.outputs.<output>, item or execution.id|status|pipeline|version."),
        };
    }

    /// <summary>Every <c>${…}</c> in a string, in order.</summary>
    public static List<Reference> FindReferences(string text)
    {
        var found = new List<Reference>();
        var i = 0;
        while ((i = text.IndexOf("${", i, StringComparison.Ordinal)) >= 0)
        {
            var end = text.IndexOf('}', i + 2);
            if (end < 0)
                throw new ExpressionException($"'{text}' has an unclosed '${{'.");
            found.Add(ParseReference(text[(i + 2)..end]));
            i = end + 1;
        }
        return found;
    }

    /// <summary>A string that is exactly one reference (its value keeps its type); otherwise null.</summary>
    public static Reference? WholeReference(string text)
    {
        var t = text.Trim();
        return t.StartsWith("${", StringComparison.Ordinal) && t.EndsWith('}') && t.IndexOf("${", 2, StringComparison.Ordinal) < 0
            ? ParseReference(t[2..^1]) : null;
    }

    public static Expr Parse(string text)
    {
        var parser = new Parser(text);
        var expr = parser.ParseOr();
        parser.SkipSpace();
        if (!parser.AtEnd)
            throw new ExpressionException($"Unexpected '{parser.Rest}' at position {parser.Position}.");
        return expr;
    }

    public static IEnumerable<Reference> References(Expr expr) => expr switch
    {
        RefExpr r => [r.Reference],
        NotExpr n => References(n.Operand),
        BinaryExpr b => References(b.Left).Concat(References(b.Right)),
        _ => [],
    };

    /// <summary>The expression's type, adding a problem for each operator applied to operands of the wrong type.</summary>
    public static ValueType TypeCheck(Expr expr, Func<Reference, ValueType> typeOf, List<string> problems)
    {
        switch (expr)
        {
            case LiteralExpr l:
                return TypeOf(l.Value);
            case RefExpr r:
                return typeOf(r.Reference);
            case NotExpr n:
                var t = TypeCheck(n.Operand, typeOf, problems);
                if (t is not (ValueType.Bool or ValueType.Any))
                    problems.Add($"'not' needs a bool, got {Name(t)}.");
                return ValueType.Bool;
            case BinaryExpr { Op: "and" or "or" } b:
                foreach (var side in new[] { b.Left, b.Right })
                {
                    var st = TypeCheck(side, typeOf, problems);
                    if (st is not (ValueType.Bool or ValueType.Any))
                        problems.Add($"'{b.Op}' needs bools, got {Name(st)}.");
                }
                return ValueType.Bool;
            case BinaryExpr b:
                var left = TypeCheck(b.Left, typeOf, problems);
                var right = TypeCheck(b.Right, typeOf, problems);
                if (b.Op is "<" or "<=" or ">" or ">=")
                {
                    var ok = (left, right) switch
                    {
                        (ValueType.Any, _) or (_, ValueType.Any) => true,
                        (ValueType.Number, ValueType.Number) or (ValueType.String, ValueType.String) => true,
                        _ => false,
                    };
                    if (!ok)
                        problems.Add($"'{b.Op}' compares numbers or strings, got {Name(left)} and {Name(right)}.");
                }
                else if (left != right && left is not (ValueType.Any or ValueType.Null) && right is not (ValueType.Any or ValueType.Null))
                    problems.Add($"'{b.Op}' compares a {Name(left)} with a {Name(right)}: they can never be equal.");
                return ValueType.Bool;
            default:
                throw new InvalidOperationException(expr.GetType().Name);
        }
    }

    /// <summary>Evaluates a condition; its result must be a bool.</summary>
    public static bool EvaluateCondition(Expr expr, Func<Reference, JsonNode?> resolve) =>
        Evaluate(expr, resolve) is JsonValue v && v.TryGetValue<bool>(out var b)
            ? b
            : throw new ExpressionException("The condition did not evaluate to a bool.");

    public static JsonNode? Evaluate(Expr expr, Func<Reference, JsonNode?> resolve)
    {
        switch (expr)
        {
            case LiteralExpr l:
                return l.Value?.DeepClone();
            case RefExpr r:
                return resolve(r.Reference)?.DeepClone();
            case NotExpr n:
                return JsonValue.Create(!AsBool(Evaluate(n.Operand, resolve), "not"));
            case BinaryExpr { Op: "and" } b:
                return JsonValue.Create(AsBool(Evaluate(b.Left, resolve), "and") && AsBool(Evaluate(b.Right, resolve), "and"));
            case BinaryExpr { Op: "or" } b:
                return JsonValue.Create(AsBool(Evaluate(b.Left, resolve), "or") || AsBool(Evaluate(b.Right, resolve), "or"));
            case BinaryExpr b:
                var left = Evaluate(b.Left, resolve);
                var right = Evaluate(b.Right, resolve);
                return JsonValue.Create(b.Op switch
                {
                    "==" => JsonNode.DeepEquals(Normalize(left), Normalize(right)),
                    "!=" => !JsonNode.DeepEquals(Normalize(left), Normalize(right)),
                    _ => Order(b.Op, left, right),
                });
            default:
                throw new InvalidOperationException(expr.GetType().Name);
        }
    }

    public static ValueType TypeOf(JsonNode? value) => value switch
    {
        null => ValueType.Null,
        JsonArray => ValueType.List,
        JsonObject => ValueType.Map,
        JsonValue v when v.GetValueKind() is System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False => ValueType.Bool,
        JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.Number => ValueType.Number,
        JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.String => ValueType.String,
        _ => ValueType.Any,
    };

    public static string Name(ValueType t) => t.ToString().ToLowerInvariant();

    private static JsonNode? Normalize(JsonNode? node) =>
        TypeOf(node) == ValueType.Number ? JsonValue.Create(AsNumber(node!)) : node;

    /// <summary>A JSON number as a double, however the node holds it (parsed element, long, int, double).</summary>
    public static double AsNumber(JsonNode node) =>
        node is JsonValue v && v.TryGetValue<double>(out var d) ? d : double.Parse(node.ToJsonString(), CultureInfo.InvariantCulture);

    private static bool AsBool(JsonNode? value, string op) =>
        TypeOf(value) == ValueType.Bool ? value!.GetValue<bool>() : throw new ExpressionException($"'{op}' needs bools, got {Name(TypeOf(value))}.");

    private static bool Order(string op, JsonNode? left, JsonNode? right)
    {
        int c;
        if (TypeOf(left) == ValueType.Number && TypeOf(right) == ValueType.Number)
            c = AsNumber(left!).CompareTo(AsNumber(right!));
        else if (TypeOf(left) == ValueType.String && TypeOf(right) == ValueType.String)
            c = string.CompareOrdinal(left!.GetValue<string>(), right!.GetValue<string>());
        else
            throw new ExpressionException($"'{op}' compares numbers or strings, got {Name(TypeOf(left))} and {Name(TypeOf(right))}.");
        return op switch { "<" => c < 0, "<=" => c <= 0, ">" => c > 0, _ => c >= 0 };
    }

    private sealed class Parser(string text)
    {
        private int _i;
        public bool AtEnd => _i >= text.Length;
        public int Position => _i;
        public string Rest => text[_i..];

        public void SkipSpace()
        {
            while (_i < text.Length && char.IsWhiteSpace(text[_i]))
                _i++;
        }

        private bool Keyword(string word)
        {
            SkipSpace();
            if (string.CompareOrdinal(text, _i, word, 0, word.Length) != 0)
                return false;
            var after = _i + word.Length;
            if (after < text.Length && (char.IsLetterOrDigit(text[after]) || text[after] == '_'))
                return false;
            _i = after;
            return true;
        }

        public Expr ParseOr()
        {
            var left = ParseAnd();
            while (Keyword("or"))
                left = new BinaryExpr("or", left, ParseAnd());
            return left;
        }

        private Expr ParseAnd()
        {
            var left = ParseNot();
            while (Keyword("and"))
                left = new BinaryExpr("and", left, ParseNot());
            return left;
        }

        private Expr ParseNot() => Keyword("not") ? new NotExpr(ParseNot()) : ParseComparison();

        private Expr ParseComparison()
        {
            var left = ParsePrimary();
            SkipSpace();
            foreach (var op in Comparisons)
                if (string.CompareOrdinal(text, _i, op, 0, op.Length) == 0)
                {
                    _i += op.Length;
                    return new BinaryExpr(op, left, ParsePrimary());
                }
            return left;
        }

        private Expr ParsePrimary()
        {
            SkipSpace();
            if (AtEnd)
                throw new ExpressionException("Unexpected end of the condition.");
            var c = text[_i];
            if (c == '(')
            {
                _i++;
                var inner = ParseOr();
                SkipSpace();
                if (AtEnd || text[_i] != ')')
                    throw new ExpressionException($"Missing ')' at position {_i}.");
                _i++;
                return inner;
            }
            if (c == '$' && _i + 1 < text.Length && text[_i + 1] == '{')
            {
                var end = text.IndexOf('}', _i);
                if (end < 0)
                    throw new ExpressionException("Unclosed '${'.");
                var reference = ParseReference(text[(_i + 2)..end]);
                _i = end + 1;
                return new RefExpr(reference);
            }
            if (c is '\'' or '"')
            {
                var sb = new StringBuilder();
                _i++;
                while (!AtEnd && text[_i] != c)
                {
                    if (text[_i] == '\\' && _i + 1 < text.Length)
                        _i++;
                    sb.Append(text[_i++]);
                }
                if (AtEnd)
                    throw new ExpressionException("Unclosed string literal.");
                _i++;
                return new LiteralExpr(JsonValue.Create(sb.ToString()));
            }
            if (char.IsDigit(c) || c is '-' or '+' or '.')
            {
                var start = _i;
                _i++;
                while (!AtEnd && (char.IsDigit(text[_i]) || text[_i] is '.' or 'e' or 'E' || (text[_i] is '-' or '+' && text[_i - 1] is 'e' or 'E')))
                    _i++;
                return double.TryParse(text[start.._i], NumberStyles.Float, CultureInfo.InvariantCulture, out var d)
                    ? new LiteralExpr(JsonValue.Create(d))
                    : throw new ExpressionException($"'{text[start.._i]}' is not a number.");
            }
            if (Keyword("true")) return new LiteralExpr(JsonValue.Create(true));
            if (Keyword("false")) return new LiteralExpr(JsonValue.Create(false));
            if (Keyword("null")) return new LiteralExpr(null);
            throw new ExpressionException($"Unexpected '{Rest}' at position {_i}: expected a value, a ${{reference}} or '('.");
        }
    }
}
