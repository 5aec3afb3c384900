using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mlops.Trainer.Model;

[JsonConverter(typeof(JsonStringEnumConverter<ProblemType>))]
public enum ProblemType
{
    [JsonStringEnumMemberName("binary")] Binary,
    [JsonStringEnumMemberName("multiclass")] Multiclass,
    [JsonStringEnumMemberName("regression")] Regression,
}

/// <summary>A column of the model's input or output: its name and one of number, boolean, text, timestamp, vector.</summary>
public sealed record SchemaColumn(string Name, string Type);

/// <summary>
/// How one input column was turned into features (kept for humans and for Monitor's baselines). Parts: for a
/// timestamp, the derived parts the model uses, in feature order.
/// </summary>
public sealed record FeatureTreatment(string Column, string Kind, string Treatment, int? Cardinality = null, IReadOnlyList<string>? Parts = null);

/// <summary>The SHA-256 of a channel's files (relative path and bytes, in path order) and its row count.</summary>
public sealed record ChannelDigest(string Sha256, long Rows, IReadOnlyList<string> Files);

/// <summary>Whether an ONNX copy of the model was written, and if not, why.</summary>
public sealed record OnnxExport(string? File, string Status, string? Reason = null);

/// <summary>
/// package.json in the model directory: everything needed to use, compare and reproduce the model
/// besides the ML.NET zip itself. <see cref="DecisionThreshold"/> (binary, format 2): the probability at or
/// above which <see cref="ModelPackage"/> predicts true; model.zip's own PredictedLabel column does not apply it.
/// <see cref="FeatureImportance"/>: the permutation importance measured at training (absent when turned off, and in packages
/// written before it was recorded); loaders that do not know it ignore it, so it needs no new format version.
/// </summary>
public sealed record ModelManifest(
    int FormatVersion,
    string TrainerVersion,
    ProblemType ProblemType,
    string Algorithm,
    string LabelColumn,
    int Seed,
    IReadOnlyDictionary<string, string> Hyperparameters,
    IReadOnlyList<SchemaColumn> InputSchema,
    IReadOnlyList<SchemaColumn> OutputSchema,
    IReadOnlyList<string>? Classes,
    IReadOnlyList<FeatureTreatment> Featurization,
    IReadOnlyDictionary<string, ChannelDigest> TrainingData,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> Metrics,
    OnnxExport Onnx,
    DateTimeOffset CreatedAt,
    double? DecisionThreshold = null,
    RecordedImportance? FeatureImportance = null)
{
    // 2: binary packages carry a decision threshold. A version-1 loader would ignore it and predict other labels.
    public const int CurrentFormatVersion = 2;
    public const string FileName = "package.json";
    public const string ModelFileName = "model.zip";
    public const string OnnxFileName = "model.onnx";

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
