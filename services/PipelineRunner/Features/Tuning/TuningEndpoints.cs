using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Mlops.PipelineRunner.Features.Tuning;

/// <summary>
/// Tuning jobs: create (SageMaker's CreateHyperParameterTuningJob body), describe with every trial and the best-so-far
/// curve, list, stop. Bodies use SageMaker's field names (PascalCase).
/// </summary>
public static class TuningEndpoints
{
    public static RouteGroupBuilder MapTuningEndpoints(this RouteGroupBuilder api)
    {
        var group = api.MapGroup("/tuning-jobs").WithTags("Tuning");
        group.MapPost("/", CreateTuningJob).Accepts<CreateTuningJobRequest>("application/json")
            .Produces<TuningJobDescription>(StatusCodes.Status201Created).ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status409Conflict);
        group.MapGet("/", ListTuningJobs);
        group.MapGet("/{name}", DescribeTuningJob);
        group.MapPost("/{name}/stop", StopTuningJob);
        return group;
    }

    internal static async Task<IResult> CreateTuningJob(HttpRequest http, TuningJobs jobs, CancellationToken ct)
    {
        CreateTuningJobRequest? request;
        try
        {
            request = await JsonSerializer.DeserializeAsync<CreateTuningJobRequest>(http.Body, TuningJson.Options, ct);
        }
        catch (JsonException e)
        {
            return Problems.BadRequest($"The body is not a tuning job request: {e.Message}");
        }
        if (request is null)
            return Problems.BadRequest("The body is empty: send a CreateHyperParameterTuningJob request.");
        var record = await jobs.CreateAsync(request, ct);
        var name = record.State.Definition.HyperParameterTuningJobName!;
        http.HttpContext.Response.Headers.Location = $"/api/tuning-jobs/{name}";
        return TypedResults.Json(TuningViews.Describe(record), TuningJson.Options, statusCode: StatusCodes.Status201Created);
    }

    internal static async Task<JsonHttpResult<TuningJobList>> ListTuningJobs(TuningStore store, string? status, int? limit, CancellationToken ct)
    {
        var records = await store.ListAsync(status, Math.Clamp(limit ?? 100, 1, 1000), ct);
        return TypedResults.Json(new TuningJobList(records.Select(TuningViews.ListItem).ToList()), TuningJson.Options);
    }

    internal static async Task<Results<JsonHttpResult<TuningJobDescription>, ProblemHttpResult>> DescribeTuningJob(string name, TuningStore store,
        CancellationToken ct) =>
        await store.GetAsync(name, ct) is { } record
            ? TypedResults.Json(TuningViews.Describe(record), TuningJson.Options)
            : Problems.NotFound($"Tuning job '{name}' does not exist.");

    /// <summary>No more trials start; running ones are stopped; the job ends Stopped once they have (202).</summary>
    internal static async Task<Results<JsonHttpResult<TuningJobDescription>, ProblemHttpResult>> StopTuningJob(string name, TuningStore store,
        CancellationToken ct)
    {
        var status = await store.RequestStopAsync(name, ct);
        if (status is null)
            return Problems.NotFound($"Tuning job '{name}' does not exist.");
        if (!TuningStore.Active.Contains(status))
            return Problems.Conflict($"Tuning job '{name}' has ended ({status}): there is nothing to stop.");
        var record = await store.GetAsync(name, ct);
        return TypedResults.Json(TuningViews.Describe(record!), TuningJson.Options, statusCode: StatusCodes.Status202Accepted);
    }
}
