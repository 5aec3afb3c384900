using Microsoft.AspNetCore.Http.HttpResults;
using Mlops.ExperimentTracker.Data;
using Mlops.ExperimentTracker.Features.Runs;
using Npgsql;

namespace Mlops.ExperimentTracker.Features.Lineage;

/// <summary>
/// Lineage as a first-class query (<c>/api/lineage/...</c>), both directions: dataset snapshot and feature-group
/// versions → run → model version → deployment. Code version and pipeline execution come from the run's tags
/// (<c>mlflow.source.git.commit</c>, <c>mlops.pipeline.execution_id</c>), as MLflow clients and the PipelineRunner set them.
/// </summary>
public static class LineageEndpoints
{
    public const string GitCommitTag = "mlflow.source.git.commit";
    public const string SourceNameTag = "mlflow.source.name";
    public const string RepositoryUrlTag = "mlflow.source.git.repoURL";
    public const string PipelineExecutionTag = "mlops.pipeline.execution_id";
    public const string PipelineNameTag = "mlops.pipeline.name";
    public const string DatasetContextTag = "mlflow.data.context";
    private const int MaxRuns = 1000;

    public static IEndpointRouteBuilder MapLineageEndpoints(this IEndpointRouteBuilder app, RouteGroupBuilder mlflow)
    {
        mlflow.MapPost("/runs/log-inputs", InputLogging.LogInputs).WithTags("MLflow runs").Accepts<LogInputsRequest>("application/json");
        var lineage = app.MapGroup("/api/lineage").WithTags("Lineage").ProducesProblem(StatusCodes.Status404NotFound);
        lineage.MapGet("/runs/{runId}", RunAsync).WithSummary("A run: its datasets, feature groups, code and pipeline; the model versions and deployments made from it.");
        lineage.MapGet("/model-versions/{name}/{version:int}", ModelVersionAsync).WithSummary("A model version: its run and inputs upstream, its deployments downstream.");
        lineage.MapGet("/deployments/{deploymentId}", DeploymentAsync).WithSummary("Everything upstream of a deployment.");
        lineage.MapGet("/datasets", DatasetAsync).WithSummary("Runs (and their models and deployments) that read datasets with this digest (and name).");
        lineage.MapGet("/feature-groups/{name}", FeatureGroupAsync).WithSummary("Runs (and their models and deployments) trained on a feature group (optionally one version).");
        lineage.MapGet("/pipeline-executions/{executionId}", PipelineExecutionAsync).WithSummary("Runs a pipeline execution produced, with their models and deployments.");
        return app;
    }

    internal static async Task<Results<Ok<RunLineage>, ProblemHttpResult>> RunAsync(string runId, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        var runs = await LoadAsync(connection, "r.run_id = @id", [new NpgsqlParameter("id", runId)], ct);
        return runs.Count == 0 ? NotFound("run", $"No run '{runId}' is known to the tracker.") : TypedResults.Ok(runs[0]);
    }

    internal static async Task<Results<Ok<ModelVersionLineage>, ProblemHttpResult>> ModelVersionAsync(string name, int version,
        NpgsqlDataSource db, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        var lineage = await ModelVersionLineageAsync(connection, name, version, ct);
        return lineage is null ? NotFound("model version", $"No model version '{name}' version {version} is known to the tracker.") : TypedResults.Ok(lineage);
    }

    internal static async Task<Results<Ok<ModelVersionLineage>, ProblemHttpResult>> DeploymentAsync(string deploymentId,
        NpgsqlDataSource db, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        var deployed = await connection.ReadAllAsync("SELECT model_name, model_version FROM deployments WHERE deployment_id = @id",
            [new NpgsqlParameter("id", deploymentId)], r => (Name: r.GetString(0), Version: r.GetInt32(1)), ct);
        if (deployed.Count == 0)
            return NotFound("deployment", $"No deployment '{deploymentId}' is known to the tracker.");
        var (name, version) = deployed[0];
        var lineage = await ModelVersionLineageAsync(connection, name, version, ct);
        return lineage is null
            ? NotFound("model version", $"Deployment '{deploymentId}' serves model version '{name}' version {version}, which was deleted from the registry.")
            : TypedResults.Ok(lineage);
    }

    // The tracker knows datasets, feature groups and pipeline executions only through the runs that reference them: one
    // that no run references is, to the tracker, unknown (404), not a lineage with no runs.

    internal static async Task<Results<Ok<RunsLineage>, ProblemHttpResult, ValidationProblem>> DatasetAsync(string? digest, string? name,
        NpgsqlDataSource db, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(digest))
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["digest"] = ["The dataset's digest is required."] });
        await using var connection = await db.OpenConnectionAsync(ct);
        var runs = await LoadAsync(connection,
            """
            r.run_id IN (SELECT i.run_id FROM run_inputs i JOIN datasets d ON d.dataset_id = i.dataset_id
                         WHERE d.digest = @digest AND (@name::text IS NULL OR d.name = @name))
            """, [new NpgsqlParameter("digest", digest), new NpgsqlParameter("name", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)name ?? DBNull.Value }], ct);
        return runs.Count == 0
            ? NotFound("dataset", $"No run read a dataset with digest '{digest}'{(name is null ? "" : $" named '{name}'")}.")
            : TypedResults.Ok(new RunsLineage(runs));
    }

    internal static async Task<Results<Ok<RunsLineage>, ProblemHttpResult>> FeatureGroupAsync(string name, int? version,
        NpgsqlDataSource db, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        var runs = await LoadAsync(connection,
            """
            r.run_id IN (SELECT i.run_id FROM run_inputs i JOIN dataset_feature_groups g ON g.dataset_id = i.dataset_id
                         WHERE g.name = @name AND (@version::integer IS NULL OR g.version = @version))
            """, [new NpgsqlParameter("name", name), new NpgsqlParameter("version", NpgsqlTypes.NpgsqlDbType.Integer) { Value = (object?)version ?? DBNull.Value }], ct);
        return runs.Count == 0
            ? NotFound("feature group", $"No run references feature group '{name}'{(version is null ? "" : $" version {version}")}.")
            : TypedResults.Ok(new RunsLineage(runs));
    }

    internal static async Task<Results<Ok<RunsLineage>, ProblemHttpResult>> PipelineExecutionAsync(string executionId,
        NpgsqlDataSource db, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        var runs = await LoadAsync(connection,
            $"r.run_id IN (SELECT t.run_id FROM tags t WHERE t.key = @key AND {TrackerSql.ValueEquals("t.value", "@id")})",
            [new NpgsqlParameter("key", PipelineExecutionTag), new NpgsqlParameter("id", executionId)], ct);
        return runs.Count == 0
            ? NotFound("pipeline execution", $"No run references pipeline execution '{executionId}' (tag {PipelineExecutionTag}).")
            : TypedResults.Ok(new RunsLineage(runs));
    }

    private static ProblemHttpResult NotFound(string kind, string detail) => NativeProblems.NotFound($"Unknown {kind}", detail);

    private static async Task<ModelVersionLineage?> ModelVersionLineageAsync(NpgsqlConnection connection, string name, int version, CancellationToken ct)
    {
        var found = await connection.ReadAllAsync("SELECT source, run_id FROM model_versions WHERE name = @name AND version = @version",
            [new NpgsqlParameter("name", name), new NpgsqlParameter("version", version)], r => (Source: r.GetString(0), RunId: r.GetNullableString(1)), ct);
        if (found.Count == 0)
            return null;
        var (source, runId) = found[0];
        var run = runId is null ? null : (await LoadAsync(connection, "r.run_id = @id", [new NpgsqlParameter("id", runId)], ct)).SingleOrDefault();
        var versions = await ModelVersionsAsync(connection, "v.name = @name AND v.version = @version",
            [new NpgsqlParameter("name", name), new NpgsqlParameter("version", version)], ct);
        return new ModelVersionLineage(versions.Single().Version, source, run);
    }

    /// <summary>Runs matching <paramref name="where"/> (at most <see cref="MaxRuns"/>, newest first) with their inputs and outputs, in four queries.</summary>
    private static async Task<List<RunLineage>> LoadAsync(NpgsqlConnection connection, string where, NpgsqlParameter[] parameters, CancellationToken ct)
    {
        var runs = await connection.ReadAllAsync(
            $"""
            SELECT r.run_id, r.experiment_id, r.run_name, r.status, r.lifecycle_stage,
                   (SELECT value FROM tags t WHERE t.run_id = r.run_id AND t.key = '{GitCommitTag}'),
                   (SELECT value FROM tags t WHERE t.run_id = r.run_id AND t.key = '{SourceNameTag}'),
                   (SELECT value FROM tags t WHERE t.run_id = r.run_id AND t.key = '{RepositoryUrlTag}'),
                   (SELECT value FROM tags t WHERE t.run_id = r.run_id AND t.key = '{PipelineExecutionTag}'),
                   (SELECT value FROM tags t WHERE t.run_id = r.run_id AND t.key = '{PipelineNameTag}')
            FROM runs r WHERE {where}
            ORDER BY r.start_time DESC, r.run_id LIMIT {MaxRuns}
            """, parameters,
            r => new RunRef(r.GetString(0), r.GetInt64(1).ToString(), r.GetString(2), r.GetString(3), r.GetString(4),
                r.IsDBNull(5) && r.IsDBNull(6) && r.IsDBNull(7) ? null : new CodeVersion(r.GetNullableString(5), r.GetNullableString(6), r.GetNullableString(7)),
                r.IsDBNull(8) ? null : new PipelineExecution(r.GetString(8), r.GetNullableString(9))), ct);
        if (runs.Count == 0)
            return [];
        var ids = runs.Select(r => r.RunId).ToArray();
        var datasets = (await connection.ReadAllAsync(
            $"""
            SELECT i.run_id, d.name, d.digest, d.source_type, d.source,
                   (SELECT t->>'value' FROM jsonb_array_elements(i.tags) t WHERE t->>'key' = '{DatasetContextTag}' LIMIT 1),
                   coalesce((SELECT array_agg(g.name ORDER BY g.name, g.version) FROM dataset_feature_groups g WHERE g.dataset_id = d.dataset_id), ARRAY[]::text[]),
                   coalesce((SELECT array_agg(g.version ORDER BY g.name, g.version) FROM dataset_feature_groups g WHERE g.dataset_id = d.dataset_id), ARRAY[]::integer[])
            FROM run_inputs i JOIN datasets d ON d.dataset_id = i.dataset_id
            WHERE i.run_id = ANY(@ids) ORDER BY i.run_id, d.dataset_id
            """, [new NpgsqlParameter("ids", ids)],
            r => (RunId: r.GetString(0), Dataset: new DatasetRef(r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetNullableString(5),
                r.GetFieldValue<string[]>(6).Zip(r.GetFieldValue<int[]>(7), (n, v) => new FeatureGroupRef(n, v)).ToList())), ct))
            .ToLookup(d => d.RunId, d => d.Dataset);
        var models = (await ModelVersionsAsync(connection, "v.run_id = ANY(@ids)", [new NpgsqlParameter("ids", ids)], ct))
            .ToLookup(m => m.RunId, m => m.Version);
        return runs.Select(run => new RunLineage(run, datasets[run.RunId].ToList(), models[run.RunId].ToList())).ToList();
    }

    private static async Task<List<(string? RunId, ModelVersionRef Version)>> ModelVersionsAsync(NpgsqlConnection connection, string where,
        NpgsqlParameter[] parameters, CancellationToken ct)
    {
        var versions = await connection.ReadAllAsync(
            $"""
            SELECT v.run_id, v.name, v.version, v.current_stage,
                   (SELECT coalesce(array_agg(a.alias ORDER BY a.alias), ARRAY[]::text[]) FROM registered_model_aliases a WHERE a.name = v.name AND a.version = v.version)
            FROM model_versions v WHERE {where} ORDER BY v.name, v.version
            """, parameters,
            r => (RunId: r.GetNullableString(0), Name: r.GetString(1), Version: r.GetInt32(2), Stage: r.GetString(3), Aliases: r.GetFieldValue<string[]>(4)), ct);
        if (versions.Count == 0)
            return [];
        var deployments = (await connection.ReadAllAsync(
            """
            SELECT d.model_name, d.model_version, d.deployment_id, d.endpoint, d.environment, d.deployed_at, d.retired_at
            FROM deployments d WHERE (d.model_name, d.model_version) IN (SELECT * FROM unnest(@names, @versions))
            ORDER BY d.deployed_at
            """, [new NpgsqlParameter("names", versions.Select(v => v.Name).ToArray()), new NpgsqlParameter("versions", versions.Select(v => v.Version).ToArray())],
            r => (Key: (r.GetString(0), r.GetInt32(1)), Deployment: new DeploymentRef(r.GetString(2), r.GetString(3), r.GetString(4),
                DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(5)), r.IsDBNull(6) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(6)))), ct))
            .ToLookup(d => d.Key, d => d.Deployment);
        return versions.Select(v => (v.RunId, new ModelVersionRef(v.Name, v.Version.ToString(), v.Stage, v.Aliases,
            deployments[(v.Name, v.Version)].ToList()))).ToList();
    }
}
