using System.Globalization;
using System.Text;
using Mlops.ExperimentTracker.Mlflow;

namespace Mlops.ExperimentTracker.Features.Search;

public enum EntityType { Attribute, Metric, Param, Tag }

public sealed record Identifier(EntityType Type, string Key)
{
    public override string ToString() => Type switch
    {
        EntityType.Metric => $"metrics.{Key}",
        EntityType.Param => $"params.{Key}",
        EntityType.Tag => $"tags.{Key}",
        _ => $"attributes.{Key}",
    };
}

/// <summary>One comparison; <see cref="Value"/> is a <see cref="string"/>, a <see cref="double"/> or, for IN, a list of strings.</summary>
public sealed record FilterClause(Identifier Identifier, string Comparator, object Value);

public sealed record OrderClause(Identifier Identifier, bool Ascending);

/// <summary>
/// MLflow's search grammar: <c>clause (AND clause)*</c>, a clause being <c>entity.key comparator value</c> where entity
/// is metrics/params/tags/attributes (or an alias; none means an attribute), a key may be quoted with backticks or
/// double quotes, and a value is a quoted string, a number or, for IN, a parenthesised list of strings. Parsing only
/// builds this model; <see cref="SearchSql"/> decides which comparisons each entity allows and turns them into SQL.
/// </summary>
public static class SearchParser
{
    public const string NumericComparators = "=, !=, <, <=, >, >=";

    public static IReadOnlyList<FilterClause> ParseFilter(string? filter)
    {
        var clauses = new List<FilterClause>();
        if (string.IsNullOrWhiteSpace(filter))
            return clauses;
        var scanner = new Scanner(filter);
        while (true)
        {
            var identifier = scanner.ReadIdentifier();
            var comparator = scanner.ReadComparator(identifier);
            var value = comparator is "IN" or "NOT IN" ? scanner.ReadStringList(identifier) : scanner.ReadValue(identifier);
            clauses.Add(new FilterClause(identifier, comparator, value));
            if (scanner.AtEnd)
                return clauses;
            scanner.ReadConjunction();
        }
    }

    public static OrderClause ParseOrderBy(string orderBy)
    {
        var scanner = new Scanner(orderBy, "order_by clause");
        var identifier = scanner.ReadIdentifier();
        var ascending = true;
        if (!scanner.AtEnd)
        {
            var direction = scanner.ReadWord().ToUpperInvariant();
            ascending = direction switch
            {
                "ASC" => true,
                "DESC" => false,
                _ => throw scanner.Error($"expected ASC or DESC after {identifier}, found '{direction}'"),
            };
            if (!scanner.AtEnd)
                throw scanner.Error("expected the end of the clause after the sort direction");
        }
        return new OrderClause(identifier, ascending);
    }

    private sealed class Scanner(string text, string what = "filter")
    {
        private int _position;

        public bool AtEnd
        {
            get
            {
                SkipWhitespace();
                return _position >= text.Length;
            }
        }

        public MlflowException Error(string problem) =>
            MlflowException.Invalid($"Invalid {what} '{text}': {problem} (at position {_position}).");

        public Identifier ReadIdentifier()
        {
            SkipWhitespace();
            if (Peek() is '"' or '`')
                return new Identifier(EntityType.Attribute, ReadQuotedKey());
            var word = ReadWord(allowDot: true);
            if (word.Length == 0)
                throw Error("expected an identifier such as metrics.accuracy, params.lr, tags.\"mlflow.user\" or attributes.status");
            var dot = word.IndexOf('.');
            if (dot < 0)
                return new Identifier(EntityType.Attribute, word);
            var key = word[(dot + 1)..];
            if (key.Length == 0)
            {
                if (Peek() is not ('"' or '`'))
                    throw Error($"expected a key after '{word}'");
                key = ReadQuotedKey();
            }
            return new Identifier(ParseEntity(word[..dot]), key);
        }

        public string ReadComparator(Identifier identifier)
        {
            SkipWhitespace();
            foreach (var symbol in new[] { "!=", "<>", "<=", ">=", "=", "<", ">" })
                if (string.CompareOrdinal(text, _position, symbol, 0, symbol.Length) == 0)
                {
                    _position += symbol.Length;
                    return symbol == "<>" ? "!=" : symbol;
                }
            var word = ReadWord().ToUpperInvariant();
            switch (word)
            {
                case "LIKE" or "ILIKE" or "IN":
                    return word;
                case "NOT" when ReadWord().Equals("IN", StringComparison.OrdinalIgnoreCase):
                    return "NOT IN";
                default:
                    throw Error($"expected a comparator ({NumericComparators}, LIKE, ILIKE, IN, NOT IN) after {identifier}");
            }
        }

        public object ReadValue(Identifier identifier)
        {
            SkipWhitespace();
            var c = Peek();
            if (c is '\'' or '"')
                return ReadQuoted();
            if (c is '-' or '+' or '.' || char.IsAsciiDigit(c))
            {
                var start = _position;
                while (_position < text.Length && (char.IsAsciiDigit(text[_position]) || text[_position] is '.' or 'e' or 'E' or '-' or '+'))
                    _position++;
                var literal = text[start.._position];
                if (!double.TryParse(literal, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) || !double.IsFinite(number))
                    throw Error($"'{literal}' is not a number");
                return number;
            }
            throw Error($"expected a value for {identifier}: a quoted string ('...') or a number");
        }

        public IReadOnlyList<string> ReadStringList(Identifier identifier)
        {
            SkipWhitespace();
            if (Peek() != '(')
                throw Error($"expected a parenthesised list of quoted strings after IN for {identifier}");
            _position++;
            var values = new List<string>();
            while (true)
            {
                SkipWhitespace();
                if (Peek() is not ('\'' or '"'))
                    throw Error("expected a quoted string in the IN list");
                values.Add(ReadQuoted());
                SkipWhitespace();
                var next = Peek();
                _position++;
                if (next == ')')
                    return values;
                if (next != ',')
                    throw Error("expected ',' or ')' in the IN list");
            }
        }

        public void ReadConjunction()
        {
            var word = ReadWord();
            if (word.Equals("AND", StringComparison.OrdinalIgnoreCase))
                return;
            if (word.Equals("OR", StringComparison.OrdinalIgnoreCase))
                throw Error("OR is not supported; MLflow's search grammar joins clauses with AND only");
            throw Error(word.Length == 0 ? $"unexpected '{Peek()}'; expected AND or the end" : $"unexpected '{word}'; expected AND or the end");
        }

        public string ReadWord(bool allowDot = false)
        {
            SkipWhitespace();
            var start = _position;
            while (_position < text.Length && (char.IsAsciiLetterOrDigit(text[_position]) || text[_position] == '_' || (allowDot && text[_position] == '.')))
                _position++;
            return text[start.._position];
        }

        private static readonly string[] Entities = ["metrics", "params", "tags", "attributes"];

        private EntityType ParseEntity(string prefix) => prefix.ToLowerInvariant() switch
        {
            "metric" or "metrics" => EntityType.Metric,
            "param" or "params" or "parameter" or "parameters" => EntityType.Param,
            "tag" or "tags" => EntityType.Tag,
            "attribute" or "attributes" or "attr" or "run" => EntityType.Attribute,
            _ => throw Error($"unknown entity type '{prefix}'; use one of {string.Join(", ", Entities)}"),
        };

        private string ReadQuotedKey()
        {
            var key = ReadQuoted();
            return key.Length > 0 ? key : throw Error("a quoted key must not be empty");
        }

        // A quote inside a quoted string is written twice, as in SQL: 'it''s'.
        private string ReadQuoted()
        {
            var quote = text[_position];
            var start = _position++;
            var value = new StringBuilder();
            while (true)
            {
                if (_position >= text.Length)
                {
                    _position = start;
                    throw Error($"unterminated quoted string (opening {quote} never closed)");
                }
                var c = text[_position++];
                if (c != quote)
                    value.Append(c);
                else if (_position < text.Length && text[_position] == quote)
                    value.Append(text[_position++]);
                else
                    return value.ToString();
            }
        }

        private char Peek() => _position < text.Length ? text[_position] : '\0';

        private void SkipWhitespace()
        {
            while (_position < text.Length && char.IsWhiteSpace(text[_position]))
                _position++;
        }
    }
}
