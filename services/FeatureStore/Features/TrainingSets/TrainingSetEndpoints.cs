using Microsoft.AspNetCore.Http.HttpResults;
using Mlops.FeatureStore.Features.Jobs;
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
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound);
        sets.MapGet("/{id:guid}", Get).Produces<SnapshotManifest>().ProducesProblem(StatusCodes.Status404NotFound);
        return sets;
    }

    internal static async Task<Results<Created<SnapshotManifest>, Accepted<JobResponse>>> Create(TrainingSetRequest request, TrainingSetBuilder builder,
        NpgsqlDataSource db, CancellationToken ct)
    {
        await builder.ValidateAsync(request, ct);
        if (request.EntitySource is not null || request.EntityRows!.Count > TrainingSetBuilder.SynchronousRowLimit)
        {
            var id = await JobStore.EnqueueAsync(db, JobKinds.TrainingSet, request, ct);
            return TypedResults.Accepted($"/api/jobs/{id}", await JobStore.LoadAsync(db, id, ct));
        }
        var manifest = await builder.BuildAsync(request, null, ct);
        return TypedResults.Created($"/api/training-sets/{manifest.SnapshotId}", manifest);
    }

    /// <summary>The manifest as stored (its JSON text, not re-serialized).</summary>
    internal static async Task<Results<ContentHttpResult, ProblemHttpResult>> Get(Guid id, NpgsqlDataSource db, CancellationToken ct) =>
        await db.ReadFirstOrDefaultAsync("SELECT manifest::text FROM dataset_snapshots WHERE snapshot_id = @id", reader => reader.GetString(0), ct, ("id", id))
            is { } manifest
            ? TypedResults.Text(manifest, "application/json")
            : Problems.NotFound($"Training-set snapshot '{id}' does not exist.");
}
