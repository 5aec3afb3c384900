using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Mlops.Monitor.Features.Datasets;
using Mlops.Monitor.Features.Profiles;

namespace Mlops.Monitor.Features.Bias;

/// <summary>A facet (Clarify's facet): a column and its sensitive values, or a threshold above which a row is in facet d.</summary>
public sealed record FacetSpec(string? Column, IReadOnlyList<string>? SensitiveValues = null, double? Threshold = null);

/// <summary>The label: a column and the values that are the positive outcome, or a threshold above which it is positive.</summary>
public sealed record LabelSpec(string? Column, IReadOnlyList<string>? PositiveValues = null, double? Threshold = null);

/// <summary>Clarify's bias report on demand over a dataset (a snapshot before registration, a lake object).</summary>
/// <param name="PredictedLabel">The column of predicted labels (positive by the label's values or threshold): adds the post-training metrics.</param>
/// <param name="GroupVariable">A column to condition CDDL on (Clarify's group_variable); without one CDDL is over the whole dataset.</param>
public sealed record BiasRequest(DatasetRef? Dataset, FacetSpec? Facet, LabelSpec? Label, string? PredictedLabel = null, string? GroupVariable = null);

public sealed record FacetCounts(long FacetD, long FacetA);

public sealed record BiasReport(string Dataset, string Facet, IReadOnlyList<string>? SensitiveValues, double? Threshold, FacetCounts Rows,
    IReadOnlyDictionary<string, double> PreTraining, IReadOnlyDictionary<string, double>? PostTraining);

public static class BiasEndpoints
{
    public static RouteGroupBuilder MapBiasEndpoints(this RouteGroupBuilder api)
    {
        api.MapPost("/bias", Report).WithTags("Bias");
        return api;
    }

    internal static async Task<Results<Ok<BiasReport>, ProblemHttpResult>> Report(BiasRequest request, DatasetReader datasets, CancellationToken ct)
    {
        var errors = new List<string>();
        if (request.Dataset is null || string.IsNullOrWhiteSpace(request.Dataset.Uri)) errors.Add("'dataset.uri' is required (s3://bucket/key).");
        if (string.IsNullOrWhiteSpace(request.Facet?.Column)) errors.Add("'facet.column' is required.");
        else if ((request.Facet.SensitiveValues is { Count: > 0 }) == (request.Facet.Threshold is not null))
            errors.Add("Give exactly one of 'facet.sensitive_values' (a non-empty list) and 'facet.threshold'.");
        if (request.Facet?.Threshold is { } ft && !double.IsFinite(ft)) errors.Add("'facet.threshold' must be a finite number.");
        if (string.IsNullOrWhiteSpace(request.Label?.Column)) errors.Add("'label.column' is required.");
        else if ((request.Label.PositiveValues is { Count: > 0 }) == (request.Label.Threshold is not null))
            errors.Add("Give exactly one of 'label.positive_values' (a non-empty list) and 'label.threshold'.");
        if (request.Label?.Threshold is { } lt && !double.IsFinite(lt)) errors.Add("'label.threshold' must be a finite number.");
        if (request.Facet?.SensitiveValues?.Any(v => v is null) == true) errors.Add("'facet.sensitive_values' must not contain null.");
        if (request.Label?.PositiveValues?.Any(v => v is null) == true) errors.Add("'label.positive_values' must not contain null.");
        if (errors.Count > 0) return Problems.BadRequest(string.Join(" ", errors), new Dictionary<string, object?> { ["errors"] = errors });

        var (facet, label) = (request.Facet!, request.Label!);
        var report = await datasets.QueryAsync(request.Dataset!, "dataset", (duck, relation, schema, location) =>
        {
            var names = schema.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
            var missing = new[] { ("facet.column", facet.Column), ("label.column", label.Column), ("predicted_label", request.PredictedLabel), ("group_variable", request.GroupVariable) }
                .Where(c => c.Item2 is not null && !names.Contains(c.Item2)).Select(c => $"'{c.Item1}' names '{c.Item2}', which the dataset '{location}' does not have.").ToList();
            if (missing.Count > 0) throw ProblemException.BadRequest(string.Join(" ", missing), new Dictionary<string, object?> { ["errors"] = missing });

            var facetColumn = DuckProfiler.Quote(facet.Column!);
            if (facet.SensitiveValues is { } values)
            {
                // Every sensitive value must have rows: a facet with no members has no metrics.
                using var check = duck.CreateCommand();
                check.CommandText = $"SELECT CAST({facetColumn} AS VARCHAR) AS v, count(*) FROM {relation} WHERE CAST({facetColumn} AS VARCHAR) IN ({string.Join(", ", values.Select(DuckProfiler.Literal))}) GROUP BY v";
                var found = new HashSet<string>(StringComparer.Ordinal);
                using (var r = check.ExecuteReader()) while (r.Read()) found.Add(r.GetString(0));
                var absent = values.Where(v => !found.Contains(v)).ToList();
                if (absent.Count > 0)
                    throw ProblemException.BadRequest($"The facet column '{facet.Column}' has no rows with the sensitive value(s) {string.Join(", ", absent.Select(v => $"'{v}'"))}.");
            }
            var isD = Membership(facetColumn, facet.SensitiveValues, facet.Threshold);
            var isPositive = Membership(DuckProfiler.Quote(label.Column!), label.PositiveValues, label.Threshold);
            var predicted = request.PredictedLabel is { } p ? Membership(DuckProfiler.Quote(p), label.PositiveValues, label.Threshold) : "NULL";
            var group = request.GroupVariable is { } g ? $"coalesce(CAST({DuckProfiler.Quote(g)} AS VARCHAR), '')" : "''";
            using var command = duck.CreateCommand();
            command.CommandText = $"SELECT d, y, yhat, g, count(*) FROM (SELECT {isD} AS d, {isPositive} AS y, {predicted} AS yhat, {group} AS g FROM {relation} " +
                                  $"WHERE {facetColumn} IS NOT NULL AND {DuckProfiler.Quote(label.Column!)} IS NOT NULL) WHERE d IS NOT NULL AND y IS NOT NULL GROUP BY ALL";
            var cells = new List<BiasCell>();
            using (var r = command.ExecuteReader())
                while (r.Read())
                    cells.Add(new BiasCell(r.GetBoolean(0), r.GetBoolean(1), r.IsDBNull(2) ? null : r.GetBoolean(2), r.GetString(3), r.GetInt64(4)));
            var nd = cells.Where(c => c.FacetD).Sum(c => c.Count);
            var na = cells.Where(c => !c.FacetD).Sum(c => c.Count);
            if (nd == 0) throw ProblemException.BadRequest($"The facet column '{facet.Column}' has no rows above the threshold {facet.Threshold} (with a label): facet d is empty.");
            if (na == 0) throw ProblemException.BadRequest($"Every labelled row of the facet column '{facet.Column}' is in the sensitive facet: facet a is empty.");
            return new BiasReport(location.ToString(), facet.Column!, facet.SensitiveValues, facet.Threshold, new FacetCounts(nd, na),
                Finite(BiasMetrics.PreTraining(cells)), request.PredictedLabel is null ? null : Finite(BiasMetrics.PostTraining(cells.Where(c => c.Predicted is not null).ToList())));
        }, ct);
        return TypedResults.Ok(report);
    }

    // Values that are not finite (an undefined ratio) are left out of the JSON, not written as NaN.
    private static Dictionary<string, double> Finite(Dictionary<string, double> m) => m.Where(p => double.IsFinite(p.Value)).ToDictionary();

    // SQL for "in the group": the column's text among the values, or its number above the threshold (NULL when not a number).
    private static string Membership(string column, IReadOnlyList<string>? values, double? threshold) => values is not null
        ? $"(CAST({column} AS VARCHAR) IN ({string.Join(", ", values.Select(DuckProfiler.Literal))}))"
        : $"(TRY_CAST({column} AS DOUBLE) > {threshold!.Value.ToString("R", CultureInfo.InvariantCulture)})";
}
