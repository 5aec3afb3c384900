using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Mlops.ExperimentTracker.Data;
using Mlops.ExperimentTracker.Features.Experiments;
using Mlops.ExperimentTracker.Features.Runs;
using Mlops.ExperimentTracker.Mlflow;
using Npgsql;

namespace Mlops.ExperimentTracker.Features.Lineage;

/// <summary>
/// MLflow's <c>runs/log-inputs</c>: the datasets a run read. A dataset with source type
/// <see cref="FeatureStoreSourceType"/> is a FeatureStore snapshot whose source names the feature-group versions it was
/// built from; those become lineage.
/// </summary>
public static class InputLogging
{
    public const string FeatureStoreSourceType = "mlops-feature-store";
    public const int MaxDatasets = 1000;
    public const int MaxNameLength = 500;
    public const int MaxDigestLength = 36;
    public const int MaxSourceLength = 65535;
    public const int MaxSchemaLength = 1048575;
    public const int MaxProfileLength = 16777215;
    public const int MaxInputTagKeyLength = 255;
    public const int MaxInputTagValueLength = 500;
    /// <summary>Feature-group names in a snapshot's source are indexed for lineage; the FeatureStore's names are far shorter.</summary>
    public const int MaxFeatureGroupNameLength = 250;

    /// <summary>The source of a FeatureStore snapshot dataset (JSON): its id and the group versions it joined.</summary>
    public sealed record FeatureStoreSource(string? SnapshotId, IReadOnlyList<FeatureGroupVersion>? FeatureGroups);
    public sealed record FeatureGroupVersion(string? Name, int? Version);

    private sealed record ValidInput(Dataset Dataset, List<KeyValue> Tags, List<(string Name, int Version)> Groups);

    internal static async Task<JsonHttpResult<Empty>> LogInputs(HttpRequest http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.ReadBodyAsync<LogInputsRequest>(ct);
        var runId = RunStore.RequiredRunId(request.RunId, null);
        var datasets = Validate.Items(request.Datasets, "datasets");
        if (datasets.Count > MaxDatasets)
            throw MlflowException.Invalid($"A log-inputs request can contain at most {MaxDatasets} datasets; got {datasets.Count}.");
        var inputs = datasets.Select((input, i) => ValidateInput(input, i)).ToList();

        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        var run = await RunStore.GetActiveAsync(transaction, runId, forUpdate: false, ct);
        foreach (var input in inputs)
        {
            var d = input.Dataset;
            // The same (experiment, name, digest) is the same dataset: reuse it, as MLflow does.
            await using var upsert = connection.Command(
                """
                WITH inserted AS (
                    INSERT INTO datasets (experiment_id, name, digest, source_type, source, schema, profile)
                    VALUES (@experiment, @name, @digest, @sourceType, @source, @schema, @profile)
                    ON CONFLICT (experiment_id, name, digest) DO NOTHING RETURNING dataset_id)
                SELECT dataset_id FROM inserted
                UNION ALL SELECT dataset_id FROM datasets WHERE experiment_id = @experiment AND name = @name AND digest = @digest
                LIMIT 1
                """, transaction, ("experiment", run.ExperimentId), ("name", d.Name), ("digest", d.Digest), ("sourceType", d.SourceType),
                ("source", d.Source), ("schema", d.Schema), ("profile", d.Profile));
            var datasetId = (long)(await upsert.ExecuteScalarAsync(ct))!;
            if (input.Groups.Count > 0)
                await transaction.ExecuteAsync(
                    """
                    INSERT INTO dataset_feature_groups (dataset_id, name, version)
                    SELECT @dataset, n, v FROM unnest(@names, @versions) AS g(n, v) ON CONFLICT DO NOTHING
                    """, ct, ("dataset", datasetId), ("names", input.Groups.Select(g => g.Name).ToArray()),
                    ("versions", input.Groups.Select(g => g.Version).ToArray()));
            await using var link = connection.Command(
                "INSERT INTO run_inputs (run_id, dataset_id, tags) VALUES (@run, @dataset, @tags::jsonb) ON CONFLICT (run_id, dataset_id) DO NOTHING",
                transaction, ("run", runId), ("dataset", datasetId), ("tags", JsonSerializer.Serialize(input.Tags, MlflowJson.Options)));
            await link.ExecuteNonQueryAsync(ct);
        }
        await transaction.CommitAsync(ct);
        return MlflowJson.Empty();
    }

    private static ValidInput ValidateInput(DatasetInput input, int index)
    {
        var at = $"datasets[{index}]";
        var dataset = input.Dataset ?? throw MlflowException.Invalid($"{at}.dataset is required.");
        var name = Limited(dataset.Name, $"{at}.dataset.name", MaxNameLength, required: true)!;
        var digest = Limited(dataset.Digest, $"{at}.dataset.digest", MaxDigestLength, required: true)!;
        var sourceType = Limited(dataset.SourceType, $"{at}.dataset.source_type", MaxNameLength, required: true)!;
        var source = Limited(dataset.Source, $"{at}.dataset.source", MaxSourceLength, required: true)!;
        var schema = Limited(dataset.Schema, $"{at}.dataset.schema", MaxSchemaLength, required: false);
        var profile = Limited(dataset.Profile, $"{at}.dataset.profile", MaxProfileLength, required: false);
        var tags = Validate.Items(input.Tags, $"{at}.tags").Select(t => new KeyValue(
                Limited(t.Key, $"{at}.tags key", MaxInputTagKeyLength, required: true),
                Limited(t.Value, $"{at}.tags['{t.Key}']", MaxInputTagValueLength, required: true)))
            .GroupBy(t => t.Key).Select(g => g.Last()).ToList();
        return new ValidInput(new Dataset(name, digest, sourceType, source, schema, profile), tags,
            sourceType == FeatureStoreSourceType ? FeatureGroupsOf(source, at) : []);
    }

    private static List<(string Name, int Version)> FeatureGroupsOf(string source, string at)
    {
        FeatureStoreSource? parsed;
        try
        {
            parsed = JsonSerializer.Deserialize<FeatureStoreSource>(source, MlflowJson.Options);
        }
        catch (JsonException e)
        {
            throw MlflowException.Invalid($"{at}.dataset.source of a '{FeatureStoreSourceType}' dataset must be JSON {{\"snapshot_id\", \"feature_groups\": [{{\"name\", \"version\"}}]}}: {e.Message}");
        }
        return (parsed?.FeatureGroups ?? []).Select((g, i) => g is { Name.Length: > 0, Version: > 0 }
                ? (Validate.Length(g.Name!, $"{at}.dataset.source feature_groups[{i}].name", MaxFeatureGroupNameLength), g.Version!.Value)
                : throw MlflowException.Invalid($"{at}.dataset.source feature_groups[{i}] needs a name and a positive version."))
            .Distinct().ToList();
    }

    private static string? Limited(string? value, string name, int max, bool required)
    {
        if (string.IsNullOrEmpty(value))
            return required ? throw MlflowException.Invalid($"Missing value for required parameter '{name}'.") : null;
        return Validate.Length(value, $"'{name}'", max);
    }
}
