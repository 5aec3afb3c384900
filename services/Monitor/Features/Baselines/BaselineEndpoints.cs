using Microsoft.AspNetCore.Http.HttpResults;

namespace Mlops.Monitor.Features.Baselines;

/// <summary>Baselines: suggested from a dataset, versioned, editable constraints, Model Monitor's documents.</summary>
public static class BaselineEndpoints
{
    public static RouteGroupBuilder MapBaselineEndpoints(this RouteGroupBuilder api)
    {
        var baselines = api.MapGroup("/baselines").WithTags("Baselines");
        baselines.MapPost("/", Suggest);
        baselines.MapGet("/", List);
        baselines.MapGet("/{name}", Get);
        baselines.MapGet("/{name}/versions", Versions);
        baselines.MapGet("/{name}/versions/{version:int}", GetVersion);
        baselines.MapGet("/{name}/versions/{version:int}/statistics.json", GetStatistics);
        baselines.MapGet("/{name}/versions/{version:int}/constraints.json", GetConstraints);
        baselines.MapPut("/{name}/constraints", EditConstraints);
        return baselines;
    }

    internal static async Task<Created<BaselineResponse>> Suggest(SuggestBaselineRequest request, BaselineService service, CancellationToken ct)
    {
        var (row, statistics, constraints) = await service.SuggestAsync(request, ct);
        return TypedResults.Created($"/api/baselines/{row.Name}/versions/{row.Version}", BaselineResponse.From(row, statistics, constraints));
    }

    internal static async Task<Ok<BaselineList>> List(BaselineStore store, CancellationToken ct) =>
        TypedResults.Ok(new BaselineList((await store.LatestAsync(ct)).Select(r => BaselineResponse.From(r)).ToList()));

    internal static async Task<Results<Ok<BaselineResponse>, ProblemHttpResult>> Get(string name, BaselineStore store, MonitorArtifacts artifacts, CancellationToken ct) =>
        await Load(name, null, store, artifacts, ct);

    internal static async Task<Results<Ok<BaselineResponse>, ProblemHttpResult>> GetVersion(string name, int version, BaselineStore store, MonitorArtifacts artifacts, CancellationToken ct) =>
        await Load(name, version, store, artifacts, ct);

    internal static async Task<Results<Ok<BaselineList>, ProblemHttpResult>> Versions(string name, BaselineStore store, CancellationToken ct)
    {
        var rows = await store.VersionsAsync(name, ct);
        return rows.Count == 0 ? NotFound(name, null) : TypedResults.Ok(new BaselineList(rows.Select(r => BaselineResponse.From(r)).ToList()));
    }

    internal static async Task<Results<Ok<Statistics>, ProblemHttpResult>> GetStatistics(string name, int version, BaselineStore store, MonitorArtifacts artifacts, CancellationToken ct) =>
        await store.FindAsync(name, version, ct) is { } row ? TypedResults.Ok(await artifacts.GetJsonAsync<Statistics>(row.StatisticsUri, ct)) : NotFound(name, version);

    internal static async Task<Results<Ok<Constraints>, ProblemHttpResult>> GetConstraints(string name, int version, BaselineStore store, MonitorArtifacts artifacts, CancellationToken ct) =>
        await store.FindAsync(name, version, ct) is { } row ? TypedResults.Ok(await artifacts.GetJsonAsync<Constraints>(row.ConstraintsUri, ct)) : NotFound(name, version);

    /// <summary>Replaces the latest version's constraints: the result is a new version (the old one stays as it was).</summary>
    internal static async Task<Results<Created<BaselineResponse>, ProblemHttpResult>> EditConstraints(string name, Constraints constraints, BaselineStore store,
        BaselineService service, CancellationToken ct)
    {
        if (await store.FindAsync(name, null, ct) is not { } current) return NotFound(name, null);
        var (row, edited) = await service.EditConstraintsAsync(current, constraints, ct);
        return TypedResults.Created($"/api/baselines/{row.Name}/versions/{row.Version}", BaselineResponse.From(row, null, edited));
    }

    private static async Task<Results<Ok<BaselineResponse>, ProblemHttpResult>> Load(string name, int? version, BaselineStore store, MonitorArtifacts artifacts, CancellationToken ct)
    {
        if (await store.FindAsync(name, version, ct) is not { } row) return NotFound(name, version);
        return TypedResults.Ok(BaselineResponse.From(row, await artifacts.GetJsonAsync<Statistics>(row.StatisticsUri, ct),
            await artifacts.GetJsonAsync<Constraints>(row.ConstraintsUri, ct)));
    }

    public static ProblemHttpResult NotFound(string name, int? version) => TypedResults.Problem(
        version is null ? $"Baseline '{name}' does not exist." : $"Baseline '{name}' has no version {version}.",
        statusCode: StatusCodes.Status404NotFound, title: "Not found");
}
