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

        if (modelName is null || modelVersion is null)
            return (Reason("The run's variant names no model version (Serving does not know it and the baseline has none): there is no model to explain."), none);
        if (!baseline.DatasetUri.StartsWith("s3://", StringComparison.Ordinal))
            return (Reason($"The baseline's data ({baseline.DatasetUri}) holds statistics, not rows: attributions need the rows of a dataset baseline."), none);

        ModelPackage package;
        try
        {
            package = await packages.GetAsync(modelName, modelVersion, ct);
        }
        catch (ModelPackageUnavailableException e)
        {
            return (Reason(e.Message), none);
        }

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
        {
            var lacking = package.Manifest.InputSchema.Where(c => !rows.Any(r => r.TryGetValue(c.Name, out var v) && v is not null)).Select(c => c.Name).ToList();
            if (lacking.Count > 0)
                return (Reason($"The {side} lack the model's input column(s) {string.Join(", ", lacking.Select(c => $"'{c}'"))}.", null, reference.Count, current.Count), none);
        }

        var (method, attribute, why) = Method(options.Method, package);
        if (attribute is null) return (Reason(why!, method, reference.Count, current.Count), none);
        var baselineValues = attribute(package.ToTable(reference));
        var currentValues = attribute(package.ToTable(current));
        var ndcg = AttributionDrift.Ndcg(baselineValues, currentValues);
        if (!double.IsFinite(ndcg))
            return (Reason("The baseline's attributions are all zero: the model's output does not depend on its inputs over the baseline's rows.", method, reference.Count, current.Count), none);

        var drifted = AttributionDrift.Drifted(ndcg, threshold);
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["attribution.ndcg"] = ndcg,
            ["attribution.drifted"] = drifted ? 1 : 0,
        };
        foreach (var (feature, value) in currentValues) metrics[$"attribution.feature.{feature}"] = value;
        return (new AttributionReport(method, AttributionChecks.Label, modelName, modelVersion, threshold, ndcg, drifted, reference.Count, current.Count,
            baselineValues, currentValues, null), metrics);
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
