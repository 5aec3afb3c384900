using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Mlops.FeatureStore.Features.Jobs;
using Mlops.ServiceDefaults.Idempotency;
using Npgsql;

namespace Mlops.FeatureStore.Features.TrainingSets;

/// <summary>
/// Training sets under <c>/api/training-sets</c>: up to <see cref="TrainingSetBuilder.SynchronousRowLimit"/> inline entity
/// rows answer 201 with the snapshot's manifest; more rows, or entity rows in a lake object, answer 202 with a job.
/// </summary>
public static class TrainingSetEndpoints
{
    public static RouteGroupBuilder MapTrainingSetEndpoints(this RouteGroupBuilder api)
    {
        var sets = api.MapGroup("/training-sets").WithTags("Training sets");
        // The request's problems (bad references, entity rows) are found by the builder, deep in the join.
        sets.MapPost("/", Create).Accepts<TrainingSetRequest>("application/json")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);
        sets.MapGet("/{id:guid}", Get).Produces<SnapshotManifest>().ProducesProblem(StatusCodes.Status404NotFound);
        return sets;
    }

    /// <summary>
    /// With an <c>Idempotency-Key</c> header a repeat of the same request answers what the first started (the snapshot,
    /// 201, or the job, 202) instead of building another; the key with another request → 409 (<see cref="IdempotencyKey"/>).
    /// </summary>
    internal static async Task<Results<Created<SnapshotManifest>, Accepted<JobResponse>, ProblemHttpResult>> Create(TrainingSetRequest request,
        [FromHeader(Name = IdempotencyKey.Header)] string? idempotencyKey, TrainingSetBuilder builder, NpgsqlDataSource db, CancellationToken ct)
    {
        var key = IdempotencyKey.Read(idempotencyKey);
        await builder.ValidateAsync(request, ct);
        var asJob = request.EntitySource is not null || request.EntityRows!.Count > TrainingSetBuilder.SynchronousRowLimit;
        if (key is null)
            return asJob
                ? await JobEndpoints.AcceptedAsync(db, await JobStore.EnqueueAsync(db, JobKinds.TrainingSet, request, ct), ct)
                : Created(await builder.BuildAsync(request, null, ct));

        // A key names one request however it was answered: queued (the job keeps the request) or at once (the snapshot
        // keeps the request's hash). The same request is always answered the same way, so the other kind is another request.
        var hash = IdempotencyKey.Hash(JsonSerializer.Serialize(request, FeatureStoreJson.Options));
        if (await SnapshotByKeyAsync(db, key, ct) is { } earlier)
            return Repeat(key, hash, earlier);
        if (asJob)
        {
            var (id, same) = await JobStore.EnqueueOnceAsync(db, JobKinds.TrainingSet, request, key, ct);
            return same ? await JobEndpoints.AcceptedAsync(db, id, ct) : Reused(key, $"job {id}");
        }
        if (await JobStore.FindByIdempotencyKeyAsync(db, key, ct) is { } job)
            return Reused(key, $"job {job}");
        try
        {
            return Created(await builder.BuildAsync(request, null, ct, (key, hash)));
        }
        catch (PostgresException e) when (e.IsUniqueViolation())
        {
            // A concurrent request under the same key stored its snapshot first (this one's objects in S3 stay unreferenced).
            return Repeat(key, hash, (await SnapshotByKeyAsync(db, key, ct))!.Value);
        }
    }

    private static Created<SnapshotManifest> Created(SnapshotManifest manifest) =>
        TypedResults.Created($"/api/training-sets/{manifest.SnapshotId}", manifest);

    private static Results<Created<SnapshotManifest>, Accepted<JobResponse>, ProblemHttpResult> Repeat(string key, string hash,
        (SnapshotManifest Manifest, string? RequestHash) earlier) =>
        earlier.RequestHash == hash ? Created(earlier.Manifest) : Reused(key, $"snapshot {earlier.Manifest.SnapshotId}");

    private static ProblemHttpResult Reused(string key, string started) =>
        IdempotencyKey.Reused(key, started, "the same features, entity rows or entity_source and timestamp_column").ToResult();

    private static async Task<(SnapshotManifest Manifest, string? RequestHash)?> SnapshotByKeyAsync(NpgsqlDataSource db, string key, CancellationToken ct) =>
        await db.ReadFirstOrDefaultAsync("SELECT manifest::text, request_hash FROM dataset_snapshots WHERE idempotency_key = @key",
            reader => ((SnapshotManifest Manifest, string? RequestHash)?)(JsonSerializer.Deserialize<SnapshotManifest>(reader.GetString(0), FeatureStoreJson.Options)!,
                reader.GetNullableString(1)), ct, ("key", key));

    /// <summary>The manifest as stored (its JSON text, not re-serialized).</summary>
    internal static async Task<Results<ContentHttpResult, ProblemHttpResult>> Get(Guid id, NpgsqlDataSource db, CancellationToken ct) =>
        await db.ReadFirstOrDefaultAsync("SELECT manifest::text FROM dataset_snapshots WHERE snapshot_id = @id", reader => reader.GetString(0), ct, ("id", id))
            is { } manifest
            ? TypedResults.Text(manifest, "application/json")
            : Problems.NotFound($"Training-set snapshot '{id}' does not exist.");
}
