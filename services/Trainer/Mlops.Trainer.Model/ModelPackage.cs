using System.Globalization;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.FastTree;
using Microsoft.ML.Trainers.LightGbm;
using Mlops.Trainer.Model.Featurization;
using Mlops.Trainer.Model.Tabular;

namespace Mlops.Trainer.Model;

/// <summary>One scored row. Binary: label, score, probability. Multiclass: label and per-class probabilities. Regression: score.</summary>
public sealed record Prediction(object? PredictedLabel, float Score, float? Probability, IReadOnlyDictionary<string, float>? ClassScores);

/// <summary>
/// A trained model package as the Trainer writes it to its model directory: package.json plus model.zip
/// (featurization and predictor in one ML.NET model). Load it once, score many rows.
/// </summary>
public sealed class ModelPackage : IDisposable
{
    public const string ScoreColumn = "Score";
    public const string PredictedLabelColumn = "PredictedLabel";
    public const string ProbabilityColumn = "Probability";

    // Binding a model to its input costs milliseconds (every transform checks its inputs and builds its
    // getters); one bound row mapper per thread, moved across the rows of each call, keeps single-row
    // scoring fast and the package thread-safe.
    private readonly ThreadLocal<(TableRow Input, DataViewRow Output)> _bound;

    private ModelPackage(ITransformer model, ModelManifest manifest)
    {
        Model = model;
        Manifest = manifest;
        _bound = new ThreadLocal<(TableRow, DataViewRow)>(() =>
        {
            var input = new TableRow(new TableDataView(RowConverter.ToTable(manifest.InputSchema, [])));
            var mapper = model.GetRowToRowMapper(input.Schema);
            var outputs = new[] { ScoreColumn, PredictedLabelColumn, ProbabilityColumn }
                .Select(n => mapper.OutputSchema.GetColumnOrNull(n)).OfType<DataViewSchema.Column>();
            return (input, mapper.GetRow(input, outputs));
        });
    }

    public ModelManifest Manifest { get; }

    public void Dispose() => _bound.Dispose();

    public ITransformer Model { get; }

    public static ModelPackage Load(string directory)
    {
        var manifestPath = Path.Combine(directory, ModelManifest.FileName);
        var manifest = JsonSerializer.Deserialize<ModelManifest>(File.ReadAllText(manifestPath), ModelManifest.Json)
            ?? throw new InvalidDataException($"{manifestPath} is empty.");
        if (manifest.FormatVersion > ModelManifest.CurrentFormatVersion)
        {
            throw new InvalidDataException(
                $"{manifestPath} has format version {manifest.FormatVersion}; this loader reads up to {ModelManifest.CurrentFormatVersion}.");
        }

        var ml = CreateContext(manifest.Seed);
        var model = ml.Model.Load(Path.Combine(directory, ModelManifest.ModelFileName), out _);
        return new ModelPackage(model, manifest);
    }

    /// <summary>
    /// An MLContext that can resolve every component a trainer model may contain. Loading looks components
    /// up by name, so the assemblies that define them must be registered, not merely referenced.
    /// </summary>
    public static MLContext CreateContext(int seed)
    {
        var ml = new MLContext(seed);
        ml.ComponentCatalog.RegisterAssembly(typeof(TimestampParts).Assembly);
        ml.ComponentCatalog.RegisterAssembly(typeof(FastTreeBinaryModelParameters).Assembly);
        ml.ComponentCatalog.RegisterAssembly(typeof(LightGbmBinaryModelParameters).Assembly);
        return ml;
    }

    /// <summary>Scores rows given as name → value maps (numbers, booleans, strings, timestamps or JsonElements).</summary>
    public IReadOnlyList<Prediction> Score(IReadOnlyList<IReadOnlyDictionary<string, object?>> rows) =>
        Score(ToTable(rows));

    /// <summary>Name → value rows as a table of the input schema, bound as <see cref="Score(IReadOnlyList{IReadOnlyDictionary{string, object?}})"/> binds them (a value of another type is missing).</summary>
    public DataTable ToTable(IReadOnlyList<IReadOnlyDictionary<string, object?>> rows) => RowConverter.ToTable(Manifest.InputSchema, rows);

    /// <summary>Scores a table that has (at least) the input schema's columns; other columns are ignored.</summary>
    public IReadOnlyList<Prediction> Score(DataTable table)
    {
        var inputs = IsInputSchema(table) ? table : new DataTable([.. Manifest.InputSchema.Select(c => table.Find(c.Name) is { } column && Fits(column, c)
            ? column
            : throw new ArgumentException(
                $"The rows lack input column '{c.Name}' of type {c.Type}. Input schema: {string.Join(", ", Manifest.InputSchema.Select(s => $"{s.Name} ({s.Type})"))}.", nameof(table)))]);
        var (input, output) = _bound.Value;
        var row = -1;
        try
        {
            return ReadPredictions(Manifest, output, () =>
            {
                if (++row >= inputs.RowCount)
                {
                    return false;
                }

                input.MoveTo(inputs, row);
                return true;
            });
        }
        finally
        {
            // Do not keep the caller's rows alive between calls.
            input.MoveTo(DataTable.Empty, 0);
        }
    }

    private static bool Fits(TableColumn column, SchemaColumn schema) => string.Equals(column.Kind switch
    {
        ColumnKind.Number => "number",
        ColumnKind.Boolean => "boolean",
        ColumnKind.Text => "text",
        ColumnKind.Timestamp => "timestamp",
        var other => other.ToString(),
    }, schema.Type, StringComparison.OrdinalIgnoreCase);

    // Whether the table is already the input schema, column for column (what Serving binds): then it is scored as it is.
    private bool IsInputSchema(DataTable table)
    {
        var schema = Manifest.InputSchema;
        if (table.Columns.Count != schema.Count)
        {
            return false;
        }

        for (var i = 0; i < schema.Count; i++)
        {
            if (!string.Equals(table.Columns[i].Name, schema[i].Name, StringComparison.Ordinal) || !Fits(table.Columns[i], schema[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The predicted label of a binary model with a decision threshold. One rule for the package's scorer and the
    /// trainer's evaluator, so the metrics describe the labels Serving returns.
    /// </summary>
    public static bool IsPositive(float probability, double threshold) => probability >= threshold;

    /// <summary>Reads predictions from a data view that a trainer model has already transformed.</summary>
    public static IReadOnlyList<Prediction> ReadPredictions(ModelManifest manifest, IDataView scored)
    {
        using var cursor = scored.GetRowCursor(new[] { ScoreColumn, PredictedLabelColumn, ProbabilityColumn }
            .Select(n => scored.Schema.GetColumnOrNull(n)).OfType<DataViewSchema.Column>());
        return ReadPredictions(manifest, cursor, cursor.MoveNext);
    }

    /// <summary>Reads the output columns of <paramref name="cursor"/> for every row <paramref name="moveNext"/> moves it to, in one pass.</summary>
    private static List<Prediction> ReadPredictions(ModelManifest manifest, DataViewRow cursor, Func<bool> moveNext)
    {
        var score = cursor.Schema[ScoreColumn];
        var label = cursor.Schema.GetColumnOrNull(PredictedLabelColumn);
        var probability = cursor.Schema.GetColumnOrNull(ProbabilityColumn);
        var predictions = new List<Prediction>();
        switch (manifest.ProblemType)
        {
            case ProblemType.Binary:
            {
                var getLabel = cursor.GetGetter<bool>(label!.Value);
                var getScore = cursor.GetGetter<float>(score);
                var getProbability = cursor.GetGetter<float>(probability!.Value);
                bool l = default;
                float s = default, p = default;
                while (moveNext())
                {
                    getLabel(ref l);
                    getScore(ref s);
                    getProbability(ref p);

                    // Packages before format 2 have no threshold: ML.NET's own label stands.
                    predictions.Add(new Prediction(manifest.DecisionThreshold is { } t ? IsPositive(p, t) : l, s, p, null));
                }

                break;
            }

            case ProblemType.Multiclass:
            {
                var classes = manifest.Classes ?? throw new InvalidDataException("A multiclass package must list its classes.");
                var getLabel = cursor.GetGetter<ReadOnlyMemory<char>>(label!.Value);
                var getScores = cursor.GetGetter<VBuffer<float>>(score);
                ReadOnlyMemory<char> l = default;
                VBuffer<float> s = default;
                while (moveNext())
                {
                    getLabel(ref l);
                    getScores(ref s);
                    var values = s.DenseValues().ToArray();
                    var best = values.Max();
                    predictions.Add(new Prediction(l.ToString(), best, best, classes.Select((c, k) => (c, k)).ToDictionary(x => x.c, x => values[x.k])));
                }

                break;
            }

            default:
            {
                var getScore = cursor.GetGetter<float>(score);
                float s = default;
                while (moveNext())
                {
                    getScore(ref s);
                    predictions.Add(new Prediction(null, s, null, null));
                }

                break;
            }
        }

        return predictions;
    }
}

/// <summary>Turns loosely typed request rows into a typed table following the model's input schema.</summary>
internal static class RowConverter
{
    public static DataTable ToTable(IReadOnlyList<SchemaColumn> schema, IReadOnlyList<IReadOnlyDictionary<string, object?>> rows) =>
        new([.. schema.Select(c => Column(c, rows))]);

    private static TableColumn Column(SchemaColumn column, IReadOnlyList<IReadOnlyDictionary<string, object?>> rows)
    {
        object? Value(int i) => rows[i].TryGetValue(column.Name, out var v) ? Unwrap(v) : null;
        return column.Type switch
        {
            "number" => TableColumn.Numbers(column.Name, [.. Enumerable.Range(0, rows.Count).Select(i => ToFloat(Value(i)))]),
            "boolean" => TableColumn.Booleans(column.Name, [.. Enumerable.Range(0, rows.Count).Select(i => Value(i) is true or "true" or "True")]),
            "text" => TableColumn.Texts(column.Name, [.. Enumerable.Range(0, rows.Count).Select(i => Value(i) is { } v ? Convert.ToString(v, CultureInfo.InvariantCulture) : null)]),
            "timestamp" => TableColumn.Timestamps(column.Name, [.. Enumerable.Range(0, rows.Count).Select(i => ToTimestamp(Value(i)))]),
            _ => throw new InvalidDataException($"Input column '{column.Name}' has unknown type '{column.Type}'."),
        };
    }

    private static object? Unwrap(object? value) => value is JsonElement e
        ? e.ValueKind switch
        {
            JsonValueKind.Number => e.GetDouble(),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.String => e.GetString(),
            _ => null,
        }
        : value;

    private static float ToFloat(object? value) => value switch
    {
        null => float.NaN,
        string s => float.TryParse(s, CultureInfo.InvariantCulture, out var f) ? f : float.NaN,
        bool b => b ? 1 : 0,
        _ => Convert.ToSingle(value, CultureInfo.InvariantCulture),
    };

    private static DateTime? ToTimestamp(object? value) => value switch
    {
        DateTime d => d,
        DateTimeOffset o => o.UtcDateTime,
        string s when DateTime.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var d) => d,
        _ => null,
    };
}
