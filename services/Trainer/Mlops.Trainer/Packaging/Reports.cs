using System.Text.Json;
using Mlops.Trainer.Evaluation;
using Mlops.Trainer.Model;

namespace Mlops.Trainer.Packaging;

/// <summary>Wall time of the fit (featurization and learner) and of the whole job.</summary>
public sealed record TrainingTiming(long TrainRows, double FitSeconds, double RowsPerSecond, double TotalSeconds);

/// <summary>
/// output/data/metrics.json. <see cref="MissingLabelRows"/>: per channel, the rows dropped before anything else
/// because their label was missing. <see cref="DecisionThreshold"/>: binary only, the threshold the package applies.
/// </summary>
public sealed record MetricsReport(
    ProblemType ProblemType,
    string Algorithm,
    string Label,
    IReadOnlyDictionary<string, ChannelMetrics> Channels,
    IReadOnlyList<FeatureImportance> FeatureImportance,
    TrainingTiming Timing,
    IReadOnlyDictionary<string, long> MissingLabelRows,
    double? DecisionThreshold)
{
    /// <summary>"channel:metric" → value, the names the stdout metric lines use.</summary>
    public IEnumerable<(string Name, double Value)> Lines() =>
        Channels.SelectMany(c => c.Value.Metrics.Select(m => ($"{c.Key}:{m.Key}", m.Value))
            .Concat(c.Value.Baseline.Select(m => ($"{c.Key}:baseline_{m.Key}", m.Value))))
            .Concat(MissingLabelRows.Select(c => ($"{c.Key}:missing_label_rows", (double)c.Value)));
}

public static class ReportJson
{
    public static readonly JsonSerializerOptions Options = ModelManifest.Json;

    public static void Write<T>(string path, T value)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, JsonSerializer.Serialize(value, Options));
    }
}
