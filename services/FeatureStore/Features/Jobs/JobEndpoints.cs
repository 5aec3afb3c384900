using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Mlops.FeatureStore.Features.Jobs;

/// <summary>Jobs under <c>/api/jobs</c>: status with progress (rows done/total), and cancel.</summary>
public static class JobEndpoints
{
    public static RouteGroupBuilder MapJobEndpoints(this RouteGroupBuilder api)
    {
        var jobs = api.MapGroup("/jobs").WithTags("Jobs");
        jobs.MapGet("/{id:guid}", Get).ProducesProblem(StatusCodes.Status404NotFound);
        jobs.MapPost("/{id:guid}/cancel", Cancel).ProducesProblem(StatusCodes.Status404NotFound);
        return jobs;
    }

    internal static async Task<Results<Ok<JobResponse>, ProblemHttpResult>> Get(Guid id, NpgsqlDataSource db, CancellationToken ct) =>
        await JobStore.LoadAsync(db, id, ct) is { } job ? TypedResults.Ok(job) : Missing(id);

    /// <summary>A queued job is cancelled at once; a running one stops at its next check and writes nothing.</summary>
    internal static async Task<Results<Ok<JobResponse>, ProblemHttpResult>> Cancel(Guid id, NpgsqlDataSource db, CancellationToken ct) =>
        await JobStore.RequestCancelAsync(db, id, ct) && await JobStore.LoadAsync(db, id, ct) is { } job ? TypedResults.Ok(job) : Missing(id);

    /// <summary>The 202 that answers a request queued as (or found to be) job <paramref name="id"/>.</summary>
    public static async Task<Accepted<JobResponse>> AcceptedAsync(NpgsqlDataSource db, Guid id, CancellationToken ct) =>
        TypedResults.Accepted($"/api/jobs/{id}", await JobStore.LoadAsync(db, id, ct));

    private static ProblemHttpResult Missing(Guid id) => Problems.NotFound($"Job '{id}' does not exist.");
}
