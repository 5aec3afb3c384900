using Mlops.Monitor.Features.Baselines;
using Mlops.Monitor.Features.Datasets;
using Mlops.Trainer.Model;

namespace Mlops.Monitor.Features.Attribution;

/// <summary>
/// A run's feature-attribution drift (Clarify's model-explainability monitor): the model version the run's variant serves,
/// loaded in-process; its global attributions over a sample of the baseline's dataset and over a sample of the run's rows
/// (the captured requests, or the run's dataset), by the same method; NDCG of the run's ranking gained in the baseline's
/// attributions; drift below the threshold. Anything that keeps it from being computed is the report's reason, not a failure.
/// </summary>
public sealed class AttributionRun(ModelPackages packages, DatasetReader datasets)
{
    public async Task<(AttributionReport Report, Dictionary<string, double> Metrics)> EvaluateAsync(AttributionOptions options, string? modelName,
        string? modelVersion, BaselineRow baseline, Func<int, CancellationToken, Task<IReadOnlyList<IReadOnlyDictionary<string, object?>>>> currentRows,
        CancellationToken ct)
    {
        var threshold = options.Threshold ?? AttributionDrift.DefaultThreshold;
        var max = options.MaxRows ?? AttributionOptions.DefaultMaxRows;
        AttributionReport Reason(string reason, string? method = null, int baselineRows = 0, int currentRows = 0) =>
            new(method ?? options.Method, AttributionChecks.Label, modelName, modelVersion, threshold, null, null, baselineRows, currentRows, null, null, reason);
        var none = new Dictionary<string, double>();

        if (!baseline.DatasetUri.StartsWith("s3://", StringComparison.Ordinal) && modelName is not null && modelVersion is not null)
            return (Reason($"The baseline's data ({baseline.DatasetUri}) holds statistics, not rows: attributions need the rows of a dataset baseline."), none);
        var (package, unavailable) = await LoadAsync(modelName, modelVersion, ct);
        if (package is null) return (Reason(unavailable!), none);

        IReadOnlyList<IReadOnlyDictionary<string, object?>> reference;
        try
        {
            reference = await ReadRowsAsync(new DatasetRef(baseline.DatasetUri), "baseline.dataset", max, ct);
        }
        catch (ProblemException e)
        {
            return (Reason($"The baseline's dataset cannot be read: {e.Message}"), none);
        }
        var current = await currentRows(max, ct);
        if (reference.Count == 0 || current.Count == 0)
            return (Reason(reference.Count == 0 ? "The baseline's dataset has no rows." : "The run has no rows to explain.", null, reference.Count, current.Count), none);
        foreach (var (side, rows) in new[] { ("baseline's dataset", reference), ("run's rows", current) })
            if (Lacking(package, rows) is { } lacking)
                return (Reason($"The {side} lack the model's input column(s) {lacking}.", null, reference.Count, current.Count), none);

        var (method, attribute, why) = Method(options.Method, package);
        if (attribute is null) return (Reason(why!, method, reference.Count, current.Count), none);
        var baselineValues = attribute(package.ToTable(reference));
        var currentValues = attribute(package.ToTable(current));
        var ndcg = AttributionDrift.Ndcg(baselineValues, currentValues);
        if (!double.IsFinite(ndcg))
            return (Reason("The baseline's attributions are all zero: the model's output does not depend on its inputs over the baseline's rows.", method, reference.Count, current.Count), none);

        var drifted = AttributionDrift.Drifted(ndcg, threshold);
        return (new AttributionReport(method, AttributionChecks.Label, modelName, modelVersion, threshold, ndcg, drifted, reference.Count, current.Count,
            baselineValues, currentValues, null), Metrics(ndcg, drifted, currentValues));
    }

    /// <summary>
    /// Reference <c>training</c>: the permutation importance recorded in the model's package against label-based permutation
    /// importance on the run's labelled rows (<paramref name="labelledRows"/> gets the row limit and the label column a dataset
    /// holds), by the recorded metric and shuffles. Too few labelled rows, no recorded importance, labels of another type: the reason.
    /// </summary>
    public async Task<(AttributionReport Report, Dictionary<string, double> Metrics)> EvaluateTrainingAsync(AttributionOptions options, string? modelName,
        string? modelVersion, Func<int, string, CancellationToken, Task<LabelledRows>> labelledRows, string? positiveLabel, CancellationToken ct)
    {
        var threshold = options.Threshold ?? AttributionDrift.DefaultThreshold;
        var max = options.MaxRows ?? AttributionOptions.DefaultMaxRows;
        RecordedImportance? recorded = null;
        AttributionReport Reason(string reason, int currentRows = 0, int? invalid = null) =>
            new(FeatureAttributions.Permutation, AttributionChecks.Label, modelName, modelVersion, threshold, null, null, recorded?.Rows ?? 0, currentRows, null, null,
                reason, Reference: AttributionOptions.TrainingReference, Metric: recorded?.Metric, InvalidLabels: invalid);
        var none = new Dictionary<string, double>();

        var (package, unavailable) = await LoadAsync(modelName, modelVersion, ct);
        if (package is null) return (Reason(unavailable!), none);
        recorded = package.Manifest.FeatureImportance;
        if (recorded is not { Columns.Count: > 0 })
            return (Reason($"Model '{modelName}' version {modelVersion}'s package records no feature importance (trained with importance_rows=0, or by a trainer " +
                           "that did not record it): there is no training importance to compare with."), none);

        var labelColumn = options.Label ?? package.Manifest.LabelColumn;
        var current = await labelledRows(max, labelColumn, ct);
        if (current.Reason is not null) return (Reason(current.Reason, current.Rows.Count), none);
        var rows = new List<IReadOnlyDictionary<string, object?>>();
        var labels = new List<object>();
        for (var i = 0; i < current.Rows.Count; i++)
            if (TrainingImportance.ParseLabel(current.Labels[i], package.Manifest.ProblemType, positiveLabel) is { } label)
            {
                rows.Add(current.Rows[i]);
                labels.Add(label);
            }
        var invalid = current.Rows.Count - rows.Count;
        var problem = package.Manifest.ProblemType.ToString().ToLowerInvariant();
        if (rows.Count < AttributionOptions.MinLabelledRows)
            return (Reason($"{rows.Count} labelled row(s) with a valid {problem} label{(invalid > 0 ? $" ({invalid} label(s) of another type left out)" : "")}: " +
                           $"label-based importance needs at least {AttributionOptions.MinLabelledRows}.", rows.Count, invalid), none);
        if (Lacking(package, rows) is { } lacking)
            return (Reason($"The run's labelled rows lack the model's input column(s) {lacking}.", rows.Count, invalid), none);
        if (TrainingImportance.Metric(recorded.Metric, package.Manifest.ProblemType, labels, out var why) is not { } metric)
            return (Reason(why!, rows.Count, invalid), none);

        var training = recorded.Columns.ToDictionary(c => c.Column, c => c.Importance, StringComparer.Ordinal);
        var currentValues = TrainingImportance.Measure(package, recorded, package.ToTable(rows), metric);
        var ndcg = TrainingImportance.Ndcg(training, currentValues);
        if (!double.IsFinite(ndcg))
            return (Reason("The recorded training importance is zero (or below) for every column: there is no ranking to compare with.", rows.Count, invalid), none);
        var drifted = AttributionDrift.Drifted(ndcg, threshold);
        return (new AttributionReport(FeatureAttributions.Permutation, AttributionChecks.Label, modelName, modelVersion, threshold, ndcg, drifted, recorded.Rows,
            rows.Count, training, currentValues, null, Reference: AttributionOptions.TrainingReference, Metric: recorded.Metric, InvalidLabels: invalid),
            Metrics(ndcg, drifted, currentValues));
    }

    private async Task<(ModelPackage? Package, string? Reason)> LoadAsync(string? modelName, string? modelVersion, CancellationToken ct)
    {
        if (modelName is null || modelVersion is null)
            return (null, "The run's variant names no model version (Serving does not know it and the baseline has none): there is no model to explain.");
        try
        {
            return (await packages.GetAsync(modelName, modelVersion, ct), null);
        }
        catch (ModelPackageUnavailableException e)
        {
            return (null, e.Message);
        }
    }

    private static string? Lacking(ModelPackage package, IReadOnlyList<IReadOnlyDictionary<string, object?>> rows)
    {
        var lacking = package.Manifest.InputSchema.Where(c => !rows.Any(r => r.TryGetValue(c.Name, out var v) && v is not null)).Select(c => $"'{c.Name}'").ToList();
        return lacking.Count > 0 ? string.Join(", ", lacking) : null;
    }

    private static Dictionary<string, double> Metrics(double ndcg, bool drifted, IReadOnlyDictionary<string, double> current)
    {
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["attribution.ndcg"] = ndcg,
            ["attribution.drifted"] = drifted ? 1 : 0,
        };
        foreach (var (feature, value) in current) metrics[$"attribution.feature.{feature}"] = value;
        return metrics;
    }

    // The method asked for, else feature contributions where the model has them, else permutation.
    private static (string Method, Func<Trainer.Model.Tabular.DataTable, Dictionary<string, double>>? Attribute, string? Reason) Method(string? asked, ModelPackage package)
    {
        if (asked is null or FeatureAttributions.FeatureContribution)
        {
            ModelExplainer? explainer;
            string? reason;
            try
            {
                explainer = ModelExplainer.TryCreate(package, out reason);
            }
            catch (Exception e) when (e is InvalidOperationException or ArgumentException or NotSupportedException or InvalidCastException)
            {
                (explainer, reason) = (null, $"the feature contribution calculation does not bind to it ({e.Message})");
            }
            if (explainer is not null) return (FeatureAttributions.FeatureContribution, t => FeatureAttributions.MeanAbsoluteContributions(explainer, t), null);
            if (asked is not null) return (FeatureAttributions.FeatureContribution, null, $"The model has no feature contributions: {reason}. Use method '{FeatureAttributions.Permutation}'.");
        }
        return (FeatureAttributions.Permutation, t => FeatureAttributions.PermutationImportance(package, t), null);
    }

    /// <summary>A seeded sample of a dataset's rows with their <paramref name="label"/> column's values (the reason when it has no such column).</summary>
    public async Task<LabelledRows> ReadLabelledRowsAsync(DatasetRef dataset, string label, int max, CancellationToken ct)
    {
        var rows = await ReadRowsAsync(dataset, "dataset", max, ct);
        if (rows.Count > 0 && !rows[0].ContainsKey(label))
            return new LabelledRows([], [], $"The dataset has no label column '{label}' (columns: {string.Join(", ", rows[0].Keys)}); name it with 'attribution.label'.");
        return new LabelledRows(rows, [.. rows.Select(r => r.GetValueOrDefault(label))]);
    }

    /// <summary>A seeded sample of at most <paramref name="max"/> rows of a dataset, each as column → value.</summary>
    public Task<IReadOnlyList<IReadOnlyDictionary<string, object?>>> ReadRowsAsync(DatasetRef dataset, string field, int max, CancellationToken ct) =>
        datasets.QueryAsync<IReadOnlyList<IReadOnlyDictionary<string, object?>>>(dataset, field, (duck, relation, _, _) =>
        {
            using var command = duck.CreateCommand();
            command.CommandText = $"SELECT * FROM {relation} USING SAMPLE reservoir({max} ROWS) REPEATABLE (17)";
            using var reader = command.ExecuteReader();
            var rows = new List<IReadOnlyDictionary<string, object?>>();
            while (reader.Read())
            {
                var row = new Dictionary<string, object?>(StringComparer.Ordinal);
                for (var i = 0; i < reader.FieldCount; i++)
                    row[reader.GetName(i)] = reader.GetValue(i) switch
                    {
                        DBNull => null,
                        DateOnly d => d.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc),
                        decimal m => (double)m,
                        System.Numerics.BigInteger n => (double)n,
                        byte[] or Guid or TimeSpan or TimeOnly => Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture),
                        var v => v,
                    };
                rows.Add(row);
            }
            return rows;
        }, ct);
}
