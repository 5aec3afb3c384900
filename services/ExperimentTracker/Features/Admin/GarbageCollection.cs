using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Mlops.ExperimentTracker.Data;
using Mlops.ExperimentTracker.Features.Artifacts;
using Mlops.ServiceDefaults.Auth;
using Mlops.ServiceDefaults.Storage;
using Npgsql;

namespace Mlops.ExperimentTracker.Features.Admin;

/// <param name="OlderThanMinutes">Only runs (and experiments) deleted at least this long ago; default 0 (every deleted one).</param>
/// <param name="RunIds">Only these runs; each must be deleted (MLflow's <c>mlflow gc --run-ids</c>).</param>
/// <param name="ExperimentIds">Only these experiments (each must be deleted); their runs go with them.</param>
/// <param name="DryRun">Report what would go and change nothing: the default. Only an explicit <c>false</c> deletes.</param>
public sealed record GcRequest(int? OlderThanMinutes, IReadOnlyList<string>? RunIds, IReadOnlyList<string>? ExperimentIds, bool? DryRun);
public sealed record KeptRun(string RunId, string Reason);
public sealed record GcResponse(bool DryRun, IReadOnlyList<string> DeletedRuns, IReadOnlyList<string> DeletedExperiments,
    IReadOnlyList<KeptRun> KeptRuns, int ArtifactObjectsDeleted);

/// <summary>
/// Hard delete with artifact garbage collection, for administrators only (the administrator key) and a dry run unless
/// the request says <c>"dry_run": false</c>, so an empty or forgotten body never destroys anything (MLflow's <c>mlflow gc</c>, which the REST API lacks: mlflow#2152,
/// #14988). Runs in the deleted lifecycle stage lose their artifacts in S3 first, then every row (metrics, params,
/// tags, inputs); a crash in between leaves a run that the next collection finishes. Deleted experiments go once their
/// runs have. A run that a registered model version comes from is kept (its artifacts are the model), and reported.
/// </summary>
public static class GarbageCollection
{
    private const int MaxIds = 1000;

    public static IEndpointRouteBuilder MapGarbageCollection(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/admin/gc", CollectAsync).WithTags("Administration").RequireAdministrator()
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .WithSummary("Permanently delete deleted runs and experiments, with their artifacts (mlflow gc); a dry run unless \"dry_run\": false. Administrator key only.");
        return app;
    }

    internal static async Task<Results<Ok<GcResponse>, ValidationProblem>> CollectAsync(GcRequest? request, NpgsqlDataSource db, ObjectStore store, IOptions<StorageOptions> storage,
        ILoggerFactory loggers, CancellationToken ct)
    {
        request ??= new GcRequest(null, null, null, null);
        var errors = new Dictionary<string, string[]>();
        if (request.OlderThanMinutes is < 0)
            errors["older_than_minutes"] = ["Must be zero or more."];
        if (request.RunIds is { Count: > MaxIds })
            errors["run_ids"] = [$"At most {MaxIds} per call."];
        var experimentIds = new List<long>();
        foreach (var id in request.ExperimentIds ?? [])
            if (long.TryParse(id, System.Globalization.NumberStyles.None, null, out var parsed))
                experimentIds.Add(parsed);
            else
                errors["experiment_ids"] = [$"'{id}' is not an experiment id (an integer)."];
        if (errors.Count > 0)
            return TypedResults.ValidationProblem(errors);

        var cutoff = TrackerSql.NowMs() - (request.OlderThanMinutes ?? 0) * 60_000L;
        var runIds = (request.RunIds ?? []).Distinct().ToArray();
        await using var connection = await db.OpenConnectionAsync(ct);
        if (runIds.Length > 0 || experimentIds.Count > 0)
        {
            var problems = await connection.ReadAllAsync(
                """
                SELECT 'run_ids', id, CASE WHEN r.run_id IS NULL THEN 'no such run' ELSE 'is not deleted' END
                FROM unnest(@runs) AS id LEFT JOIN runs r ON r.run_id = id WHERE r.lifecycle_stage IS DISTINCT FROM 'deleted'
                UNION ALL
                SELECT 'experiment_ids', id::text, CASE WHEN e.experiment_id IS NULL THEN 'no such experiment' ELSE 'is not deleted' END
                FROM unnest(@experiments) AS id LEFT JOIN experiments e ON e.experiment_id = id WHERE e.lifecycle_stage IS DISTINCT FROM 'deleted'
                """, [new NpgsqlParameter("runs", runIds), new NpgsqlParameter("experiments", experimentIds.ToArray())],
                r => (Field: r.GetString(0), Message: $"{r.GetString(1)} {r.GetString(2)}."), ct);
            if (problems.Count > 0)
                return TypedResults.ValidationProblem(problems.GroupBy(p => p.Field).ToDictionary(g => g.Key, g => g.Select(p => p.Message).ToArray()),
                    detail: "Only deleted runs and experiments can be collected; delete them first.");
        }

        // Candidates: deleted runs old enough, or every run of a deleted experiment old enough. Read once to answer a dry
        // run, and for a real collection read again under the rows' locks (below), limited to what the first read found.
        var filter = runIds.Length > 0 || experimentIds.Count > 0
            ? "(r.run_id = ANY(@runs) OR r.experiment_id = ANY(@experiments))"
            : "TRUE";
        async Task<(List<KeptRun> Kept, List<(string RunId, string ArtifactUri, bool Registered)> Doomed, List<long> Experiments)> SelectAsync(
            NpgsqlTransaction? locked, string[]? onlyRuns, long[]? onlyExperiments)
        {
            var candidates = await connection.ReadAllAsync(
                $"""
                SELECT r.run_id, r.artifact_uri, EXISTS (SELECT 1 FROM model_versions v WHERE v.run_id = r.run_id)
                FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id
                WHERE {filter} {(onlyRuns is null ? "" : "AND r.run_id = ANY(@only)")}
                  AND ((r.lifecycle_stage = 'deleted' AND r.deleted_time <= @cutoff)
                       OR (e.lifecycle_stage = 'deleted' AND e.last_update_time <= @cutoff))
                ORDER BY r.run_id {(locked is null ? "" : "FOR UPDATE OF r")}
                """, [new NpgsqlParameter("runs", runIds), new NpgsqlParameter("experiments", experimentIds.ToArray()), new NpgsqlParameter("cutoff", cutoff),
                    new NpgsqlParameter("only", onlyRuns ?? [])],
                r => (RunId: r.GetString(0), ArtifactUri: r.GetString(1), Registered: r.GetBoolean(2)), ct, locked);
            var doomedRuns = candidates.Where(c => !c.Registered).ToList();
            var deletable = await connection.ReadAllAsync(
                $"""
                SELECT e.experiment_id FROM experiments e
                WHERE e.lifecycle_stage = 'deleted' AND e.last_update_time <= @cutoff AND e.experiment_id <> 0
                  {(runIds.Length > 0 || experimentIds.Count > 0 ? "AND e.experiment_id = ANY(@experiments)" : "")}
                  {(onlyExperiments is null ? "" : "AND e.experiment_id = ANY(@only)")}
                  AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.experiment_id = e.experiment_id AND NOT (r.run_id = ANY(@doomed)))
                ORDER BY e.experiment_id
                """, [new NpgsqlParameter("cutoff", cutoff), new NpgsqlParameter("experiments", experimentIds.ToArray()),
                    new NpgsqlParameter("only", onlyExperiments ?? []), new NpgsqlParameter("doomed", doomedRuns.Select(d => d.RunId).ToArray())],
                r => r.GetInt64(0), ct, locked);
            return ([.. candidates.Where(c => c.Registered).Select(c => new KeptRun(c.RunId, "A registered model version was made from this run; delete the model version first."))],
                doomedRuns, deletable);
        }

        var (kept, doomed, experiments) = await SelectAsync(null, null, null);
        if (request.DryRun ?? true)
            return TypedResults.Ok(new GcResponse(true, doomed.Select(d => d.RunId).ToList(), experiments.Select(e => e.ToString()).ToList(), kept, 0));

        // Locked and read again before anything goes, experiments first (as an experiment's restore takes them; NO KEY,
        // so runs can still be created in a live one meanwhile), then runs: a run or experiment restored since the first
        // read is left alone, a run registered since is reported kept, and a restore from now on waits for this
        // collection and then finds nothing. The locks are held until the rows go; the runs' locks also make a log-batch
        // in flight finish first (metric_chunks has no foreign key, migration 0006), and any later one finds the run gone
        // and writes nothing.
        var found = kept.Select(k => k.RunId).Concat(doomed.Select(d => d.RunId)).ToArray();
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await using (var lockExperiments = connection.Command(
            """
            SELECT experiment_id FROM experiments
            WHERE experiment_id = ANY(@experiments) OR experiment_id IN (SELECT experiment_id FROM runs WHERE run_id = ANY(@runs))
            ORDER BY experiment_id FOR NO KEY UPDATE
            """, transaction, ("experiments", experiments.ToArray()), ("runs", found)))
            await lockExperiments.ExecuteNonQueryAsync(ct);
        (kept, doomed, experiments) = await SelectAsync(transaction, found, [.. experiments]);

        // Artifacts before rows: if this stops half way, the rows (rolled back) still point at what is left and the next
        // collection finishes it.
        var bucket = storage.Value.ArtifactBucket;
        var objects = 0;
        foreach (var run in doomed)
            if (run.ArtifactUri.StartsWith(ArtifactEndpoints.UriScheme, StringComparison.Ordinal))
            {
                // The run's folder (<experiment>/<run>/), which holds its artifacts/ and anything else logged for it.
                var root = ArtifactEndpoints.RootKey(run.ArtifactUri);
                var folder = root.EndsWith("/artifacts", StringComparison.Ordinal) ? root[..^"artifacts".Length] : root + "/";
                objects += await store.DeletePrefixAsync(bucket, folder, ct);
            }
        foreach (var experiment in experiments)
            objects += await store.DeletePrefixAsync(bucket, $"{experiment}/", ct);

        var removed = doomed.Select(d => d.RunId).ToArray();
        foreach (var table in new[] { "metric_chunks", "params", "tags", "run_inputs" })
            await transaction.ExecuteAsync($"DELETE FROM {table} WHERE run_id = ANY(@ids)", ct, ("ids", removed));
        await transaction.ExecuteAsync("DELETE FROM runs WHERE run_id = ANY(@ids)", ct, ("ids", removed));
        var experimentArray = experiments.ToArray();
        await transaction.ExecuteAsync("DELETE FROM datasets WHERE experiment_id = ANY(@ids)", ct, ("ids", experimentArray));
        await transaction.ExecuteAsync("DELETE FROM experiment_tags WHERE experiment_id = ANY(@ids)", ct, ("ids", experimentArray));
        await transaction.ExecuteAsync("DELETE FROM experiments WHERE experiment_id = ANY(@ids)", ct, ("ids", experimentArray));
        await transaction.CommitAsync(ct);
        loggers.CreateLogger(typeof(GarbageCollection)).LogInformation(
            "Garbage collection removed {Runs} runs, {Experiments} experiments and {Objects} artifact objects; kept {Kept} runs with registered models",
            removed.Length, experimentArray.Length, objects, kept.Count);
        return TypedResults.Ok(new GcResponse(false, removed, experiments.Select(e => e.ToString()).ToList(), kept, objects));
    }
}
