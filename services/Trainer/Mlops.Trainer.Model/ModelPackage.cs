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
public sealed class ModelPackage
{
    public const string ScoreColumn = "Score";
    public const string PredictedLabelColumn = "PredictedLabel";
    public const string ProbabilityColumn = "Probability";

    private readonly MLContext _ml;

    private ModelPackage(MLContext ml, ITransformer model, ModelManifest manifest)
    {
        _ml = ml;
        Model = model;
        Manifest = manifest;
    }

    public ModelManifest Manifest { get; }

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
        return new ModelPackage(ml, model, manifest);
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
        Score(RowConverter.ToTable(Manifest.InputSchema, rows));

    public IReadOnlyList<Prediction> Score(DataTable table) =>
        ReadPredictions(Manifest, Model.Transform(new TableDataView(table)));

    /// <summary>Reads predictions from a data view that a trainer model has already transformed.</summary>
    public static IReadOnlyList<Prediction> ReadPredictions(ModelManifest manifest, IDataView scored)
    {
        switch (manifest.ProblemType)
        {
            case ProblemType.Binary:
            {
                var labels = scored.GetColumn<bool>(PredictedLabelColumn).ToArray();
                var scores = scored.GetColumn<float>(ScoreColumn).ToArray();
                var probabilities = scored.GetColumn<float>(ProbabilityColumn).ToArray();
                return [.. labels.Select((l, i) => new Prediction(l, scores[i], probabilities[i], null))];
            }

            case ProblemType.Multiclass:
            {
                var classes = manifest.Classes ?? throw new InvalidDataException("A multiclass package must list its classes.");
                var labels = scored.GetColumn<string>(PredictedLabelColumn).ToArray();
                var scores = scored.GetColumn<float[]>(ScoreColumn).ToArray();
                return [.. labels.Select((l, i) => new Prediction(
                    l,
                    scores[i].Max(),
                    scores[i].Max(),
                    classes.Select((c, k) => (c, k)).ToDictionary(p => p.c, p => scores[i][p.k])))];
            }

            default:
                return [.. scored.GetColumn<float>(ScoreColumn).Select(s => new Prediction(null, s, null, null))];
        }
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
