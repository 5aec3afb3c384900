using System.Text.Json;
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
        sets.MapPost("/", Create).Accepts<TrainingSetRequest>("application/json")
            .Produces<SnapshotManifest>(StatusCodes.Status201Created).Produces<JobResponse>(StatusCodes.Status202Accepted);
        sets.MapGet("/{id:guid}", Get).Produces<SnapshotManifest>();
        return sets;
    }

    internal static async Task<IResult> Create(TrainingSetRequest request, TrainingSetBuilder builder, NpgsqlDataSource db, CancellationToken ct)
    {
        await builder.ValidateAsync(request, ct);
        if (request.EntitySource is not null || request.EntityRows!.Count > TrainingSetBuilder.SynchronousRowLimit)
        {
            var id = await JobEndpoints.EnqueueAsync(db, JobKinds.TrainingSet, request, ct);
            return TypedResults.Accepted($"/api/jobs/{id}", await JobEndpoints.LoadAsync(db, id, ct));
        }
        var manifest = await builder.BuildAsync(request, null, ct);
        return TypedResults.Created($"/api/training-sets/{manifest.SnapshotId}", manifest);
    }

    internal static async Task<IResult> Get(Guid id, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var command = db.CreateCommand("SELECT manifest::text FROM dataset_snapshots WHERE snapshot_id = @id");
        command.Parameters.AddWithValue("id", id);
        var manifest = await command.ExecuteScalarAsync(ct) as string ?? throw ProblemException.NotFound($"Training-set snapshot '{id}' does not exist.");
        return Results.Text(manifest, "application/json");
    }
}

/// <summary>The job form of a training set (large or lake-sourced entity rows); progress counts entity rows joined.</summary>
public sealed class TrainingSetJob(TrainingSetBuilder builder)
{
    public Task<SnapshotManifest> RunAsync(JobContext job, CancellationToken ct) =>
        builder.BuildAsync(job.Request.Deserialize<TrainingSetRequest>(FeatureStoreJson.Options)!, job.ReportAsync, ct);
}
