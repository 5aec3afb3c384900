using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Mlops.Monitor.Features.Bias;
using Mlops.Monitor.Features.Datasets;
using Mlops.ServiceDefaults.Storage;

namespace Mlops.Monitor.Features.Quality;

/// <summary>Model quality for a capture run, once ground truth arrives (Model Monitor's model-quality monitor).</summary>
/// <param name="ProblemType">binary, multiclass or regression (Model Monitor's BinaryClassification, MulticlassClassification, Regression too).</param>
/// <param name="PositiveLabel">Binary: the label text that is the positive class (default: 1 or true).</param>
/// <param name="ProbabilityThreshold">Binary: a captured probability at or above it is a positive prediction when the capture has no
/// predicted label (default 0.5).</param>
/// <param name="LabelDelayHours">How long after the window's end labels may arrive and still be merged (Model Monitor's end-time
/// offset; default 24, at most 744): ground truth is read from the window's start hour to its end plus this delay.</param>
/// <param name="CbpeReference">Binary with probabilities: a labelled earlier window of the same endpoint to calibrate CBPE on;
/// the run then also estimates quality for every captured prediction, labelled or not.</param>
/// <param name="Bias">Binary: Clarify's bias metrics over the joined rows for a facet of the captured inputs, with bias drift against a
/// baseline (Clarify's model-bias monitor).</param>
/// <param name="CompareWithTraining">Compare the metrics with the training run's (the tracker's run of the model version the variant serves).</param>
public sealed record QualityOptions(string? ProblemType, string? PositiveLabel = null, double? ProbabilityThreshold = null, int? LabelDelayHours = null,
    CbpeReferenceWindow? CbpeReference = null, BiasMonitorOptions? Bias = null, bool? CompareWithTraining = null)
{
    public string Problem => ProblemType switch
    {
        "BinaryClassification" => "binary",
        "MulticlassClassification" => "multiclass",
        "Regression" => "regression",
        _ => ProblemType ?? "",
    };

    public static void Validate(QualityOptions? q, bool isCapture, List<string> errors)
    {
        if (q is null) return;
        if (!isCapture) errors.Add("'quality' needs a 'capture' window: ground truth is merged with captured predictions by inference id.");
        if (q.Problem is not ("binary" or "multiclass" or "regression"))
            errors.Add($"'quality.problem_type' must be binary, multiclass or regression (or BinaryClassification, MulticlassClassification, Regression); got '{q.ProblemType}'.");
        if (q.ProbabilityThreshold is { } t && !(t > 0 && t < 1)) errors.Add($"'quality.probability_threshold' must be between 0 and 1 (exclusive); got {t}.");
        if (q.LabelDelayHours is < 0 or > 744) errors.Add($"'quality.label_delay_hours' must be between 0 and 744; got {q.LabelDelayHours}.");
        if (q.CbpeReference is { } r)
        {
            if (q.Problem != "binary") errors.Add("'quality.cbpe_reference' applies to binary classifiers with probabilities only.");
            if (r.Start is null || r.End is null) errors.Add("'quality.cbpe_reference' needs 'start' and 'end'.");
            else if (r.End <= r.Start) errors.Add("'quality.cbpe_reference.end' must be after its 'start'.");
            else if (r.End - r.Start > TimeSpan.FromDays(31)) errors.Add("'quality.cbpe_reference' may span at most 31 days.");
        }
        BiasDrift.Validate(q.Bias, q.Problem, errors);
    }
}

public sealed record CbpeReferenceWindow(DateTimeOffset? Start, DateTimeOffset? End);

/// <summary>A captured prediction by inference id: the variant that served it, the predicted label as text, the probability and score.</summary>
public readonly record struct CapturedPrediction(string Variant, string? Label, double? Probability, double? Score);

/// <summary>
/// Collects captured predictions by inference id (else event id) for the ground-truth merge. Serving writes one record
/// per scored row; a record with several predictions has no per-row id and is not collected.
/// </summary>
public sealed class PredictionCollector(string? facetColumn = null)
{
    public Dictionary<string, CapturedPrediction> ById { get; } = new(StringComparer.Ordinal);

    /// <summary>The captured input column whose value is kept per id (a bias facet), if any.</summary>
    public string? FacetColumn { get; } = facetColumn;

    /// <summary>That column's value (as text) per inference id, for requests of one row that carry it.</summary>
    public Dictionary<string, string> FacetById { get; } = new(StringComparer.Ordinal);

    public void Add(string id, string variant, JsonElement output)
    {
        if (output.ValueKind == JsonValueKind.Object && (output.TryGetProperty("predictions", out var p) || output.TryGetProperty("outputs", out p))) output = p;
        if (output.ValueKind == JsonValueKind.Array)
        {
            if (output.GetArrayLength() != 1) return;
            output = output[0];
        }
        string? label = null;
        double? probability = null, score = null;
        if (output.ValueKind == JsonValueKind.Object)
        {
            if (output.TryGetProperty("predicted_label", out var l)) label = Text(l);
            if (output.TryGetProperty("probability", out var pr) && pr.ValueKind == JsonValueKind.Number) probability = pr.GetDouble();
            if (output.TryGetProperty("score", out var s) && s.ValueKind == JsonValueKind.Number) score = s.GetDouble();
        }
        else
        {
            label = Text(output);
            if (output.ValueKind == JsonValueKind.Number) score = output.GetDouble();
        }
        ById[id] = new CapturedPrediction(variant, label, probability, score);
    }

    private static string? Text(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.True => "1",
        JsonValueKind.False => "0",
        JsonValueKind.Number => v.GetRawText(),
        JsonValueKind.String => v.GetString(),
        _ => null,
    };
}

/// <summary>Reads Model Monitor's ground-truth records (<c>groundTruthData.data</c>, <c>eventMetadata.eventId</c>) by the hour they arrived.</summary>
public sealed class GroundTruthReader(ObjectStore store, IOptions<MonitorOptions> options)
{
    public async Task<Dictionary<string, string>> ReadAsync(string endpoint, DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        var root = S3Location.Parse(options.Value.GroundTruthUri.TrimEnd('/') + "/", "Monitor:GroundTruthUri");
        var prefix = root.Key.Trim('/');
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        var start = new DateTimeOffset(from.UtcDateTime.Year, from.UtcDateTime.Month, from.UtcDateTime.Day, from.UtcDateTime.Hour, 0, 0, TimeSpan.Zero);
        for (var hour = start; hour < to; hour = hour.AddHours(1))
        {
            await foreach (var obj in store.ListAsync(root.Bucket, $"{prefix}/{endpoint}/{hour:yyyy}/{hour:MM}/{hour:dd}/{hour:HH}/", null, ct))
            {
                if (obj.IsPrefix) continue;
                await using var content = await store.GetAsync(root.Bucket, obj.Key, ct);
                using var reader = new StreamReader(content, Encoding.UTF8);
                while (await reader.ReadLineAsync(ct) is { } line) Add(line, labels);
            }
        }
        return labels;
    }

    /// <summary>One record into the map (a later label for the same id replaces an earlier one); unreadable lines are skipped.</summary>
    public static void Add(string line, Dictionary<string, string> labels)
    {
        if (line.Length == 0) return;
        try
        {
            using var doc = JsonDocument.Parse(line);
            var e = doc.RootElement;
            var data = e.GetProperty("groundTruthData").GetProperty("data");
            var id = e.GetProperty("eventMetadata").GetProperty("eventId").GetString();
            var text = data.ValueKind == JsonValueKind.String ? data.GetString() : data.GetRawText();
            if (id is not null && text is not null) labels[id] = text.Trim();
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
        }
    }
}

/// <summary>The model-quality part of a run's report.</summary>
public sealed record QualityReport(string ProblemType, long Predictions, long Labels, long Joined, int InvalidLabels, IReadOnlyList<string> InvalidLabelIds,
    string? Reason, IReadOnlyDictionary<string, MetricValue>? Metrics, IReadOnlyDictionary<string, IReadOnlyDictionary<string, long>>? ConfusionMatrix,
    IReadOnlyDictionary<string, EstimatedMetric>? Estimated, IReadOnlyDictionary<string, bool>? EstimateWithinBand,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, MetricValue>>? ByVariant, BiasDriftReport? Bias = null,
    IReadOnlyDictionary<string, TrainingComparison>? Training = null, string? TrainingReason = null);

/// <summary>The merge of predictions and labels, and the metrics over it.</summary>
public static class QualityEvaluation
{
    private const int InvalidIdsShown = 20;

    /// <summary>
    /// Joins by id and computes the problem type's metrics (overall and per variant), CBPE when a labelled reference is
    /// given; also the run's metrics <c>quality.&lt;name&gt;</c>, <c>variant.&lt;v&gt;.quality.&lt;name&gt;</c> and <c>cbpe.&lt;name&gt;</c>.
    /// A label that is not of the problem's type (not 0/1 or the positive label for binary, not a number for regression)
    /// is left out and its inference id named.
    /// </summary>
    public static (QualityReport Report, Dictionary<string, double> Metrics) Evaluate(QualityOptions options, PredictionCollector predictions,
        IReadOnlyDictionary<string, string> labels, IReadOnlyList<BinaryRow>? cbpeReference)
    {
        var problem = options.Problem;
        var invalid = new List<string>();
        var joined = predictions.ById.Where(p => labels.ContainsKey(p.Key)).Select(p => (Id: p.Key, Prediction: p.Value, Label: labels[p.Key])).ToList();
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["quality.predictions"] = predictions.ById.Count,
            ["quality.labels"] = joined.Count,
        };
        Dictionary<string, MetricValue>? values = null;
        IReadOnlyDictionary<string, IReadOnlyDictionary<string, long>>? confusion = null;
        var byVariant = new Dictionary<string, IReadOnlyDictionary<string, MetricValue>>(StringComparer.Ordinal);
        Dictionary<string, EstimatedMetric>? estimated = null;
        Dictionary<string, bool>? within = null;
        BiasDriftReport? bias = null;
        string? reason = null;

        switch (problem)
        {
            case "binary":
            {
                var threshold = options.ProbabilityThreshold ?? 0.5;
                var rows = new List<(string Id, string Variant, BinaryRow Row)>();
                foreach (var (id, p, label) in joined)
                {
                    if (ParseBinary(label, options.PositiveLabel) is not { } y || Predicted(p, threshold, options.PositiveLabel) is not { } yhat) { invalid.Add(id); continue; }
                    rows.Add((id, p.Variant, new BinaryRow(y, yhat, p.Probability)));
                }
                if (rows.Count > 0)
                {
                    var all = rows.Select(r => r.Row).ToArray();
                    values = ModelQualityMetrics.BinaryWithDeviation(all);
                    confusion = ModelQualityMetrics.Confusion(all).AsModelMonitor();
                    foreach (var g in rows.GroupBy(r => r.Variant)) byVariant[g.Key] = ModelQualityMetrics.BinaryWithDeviation(g.Select(r => r.Row).ToArray());
                }
                if (options.Bias is { } biasOptions)
                {
                    var biasRows = rows.Select(r => new BiasRow(predictions.FacetById.GetValueOrDefault(r.Id), r.Row.Label, r.Row.Predicted)).ToArray();
                    (bias, var biasMetrics, _) = BiasDrift.Evaluate(biasOptions, biasRows);
                    foreach (var (k, v) in biasMetrics) metrics[k] = v;
                }
                if (cbpeReference is not null)
                {
                    var scored = predictions.ById.Values.Where(p => p.Probability is not null).ToList();
                    if (cbpeReference.Count == 0) reason = "The CBPE reference window has no labelled predictions with probabilities.";
                    else if (scored.Count > 0)
                    {
                        estimated = Cbpe.Estimate(cbpeReference, scored.Select(p => p.Probability!.Value).ToArray(),
                            scored.Select(p => Predicted(p, threshold, options.PositiveLabel) ?? false).ToArray());
                        foreach (var (k, e) in estimated)
                        {
                            metrics[$"cbpe.{k}"] = e.Value;
                            metrics[$"cbpe.{k}.sampling_error"] = e.SamplingError;
                        }
                        if (values is not null)
                        {
                            // Labels have arrived for this window: the estimate checked against the realised metric.
                            within = estimated.Where(e => values.ContainsKey(e.Key)).ToDictionary(e => e.Key, e => values[e.Key].Value >= e.Value.Lower && values[e.Key].Value <= e.Value.Upper);
                            foreach (var (k, inBand) in within)
                            {
                                metrics[$"cbpe.{k}.within_band"] = inBand ? 1 : 0;
                                metrics[$"cbpe.{k}.error"] = estimated[k].Value - values[k].Value;
                            }
                        }
                    }
                }
                break;
            }
            case "multiclass":
            {
                var rows = new List<(string Variant, MulticlassRow Row)>();
                foreach (var (id, p, label) in joined)
                {
                    if (label.Length == 0 || p.Label is null) { invalid.Add(id); continue; }
                    rows.Add((p.Variant, new MulticlassRow(label, p.Label)));
                }
                if (rows.Count > 0)
                {
                    values = ModelQualityMetrics.WithDeviation(rows.Select(r => r.Row).ToArray(), ModelQualityMetrics.Multiclass);
                    foreach (var g in rows.GroupBy(r => r.Variant)) byVariant[g.Key] = ModelQualityMetrics.WithDeviation(g.Select(r => r.Row).ToArray(), ModelQualityMetrics.Multiclass);
                }
                break;
            }
            default:
            {
                var rows = new List<(string Variant, RegressionRow Row)>();
                foreach (var (id, p, label) in joined)
                {
                    var predicted = p.Label is { } l && double.TryParse(l, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : p.Score;
                    if (!double.TryParse(label, NumberStyles.Float, CultureInfo.InvariantCulture, out var y) || !double.IsFinite(y) || predicted is not { } yhat)
                    { invalid.Add(id); continue; }
                    rows.Add((p.Variant, new RegressionRow(y, yhat)));
                }
                if (rows.Count > 0)
                {
                    values = ModelQualityMetrics.WithDeviation(rows.Select(r => r.Row).ToArray(), ModelQualityMetrics.Regression);
                    foreach (var g in rows.GroupBy(r => r.Variant)) byVariant[g.Key] = ModelQualityMetrics.WithDeviation(g.Select(r => r.Row).ToArray(), ModelQualityMetrics.Regression);
                }
                break;
            }
        }

        metrics["quality.invalid_labels"] = invalid.Count;
        if (values is not null)
            foreach (var (k, v) in values) metrics[$"quality.{k}"] = v.Value;
        foreach (var (variant, vs) in byVariant)
            foreach (var (k, v) in vs) metrics[$"variant.{variant}.quality.{k}"] = v.Value;
        if (values is null)
            reason ??= joined.Count == 0
                ? $"No ground truth merged: {predictions.ById.Count} captured prediction(s), {labels.Count} label(s) read, none with a matching inference id."
                : $"None of the {joined.Count} merged label(s) is a valid {problem} label.";
        if (invalid.Count > 0)
            reason = $"{invalid.Count} label(s) are not {problem} labels and were left out (inference ids: {string.Join(", ", invalid.Take(InvalidIdsShown))}{(invalid.Count > InvalidIdsShown ? ", …" : "")}). {reason}".Trim();
        foreach (var key in metrics.Where(p => !double.IsFinite(p.Value)).Select(p => p.Key).ToList()) metrics.Remove(key);
        return (new QualityReport(problem, predictions.ById.Count, labels.Count, joined.Count, invalid.Count, invalid.Take(InvalidIdsShown).ToList(), reason,
            values, confusion, estimated, within, byVariant.Count > 0 ? byVariant : null, bias), metrics);
    }

    /// <summary>A binary label: the positive label, 1/true → positive; 0/false (or any other value of a named positive label's kind) → negative.</summary>
    public static bool? ParseBinary(string? text, string? positive)
    {
        if (text is null) return null;
        if (positive is not null && text == positive) return true;
        return text.ToLowerInvariant() switch
        {
            "1" or "1.0" or "true" => positive is null || positive is "1" or "true" ? true : null,
            "0" or "0.0" or "false" => false,
            _ => positive is not null && text.Length > 0 && !double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _) ? false : null,
        };
    }

    private static bool? Predicted(CapturedPrediction p, double threshold, string? positive) =>
        ParseBinary(p.Label, positive) ?? (p.Probability is { } pr ? pr >= threshold : null);
}
