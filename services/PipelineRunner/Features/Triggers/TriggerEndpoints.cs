using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using Mlops.PipelineRunner.Features.Definitions;
using Mlops.PipelineRunner.Features.Executions;
using Microsoft.Extensions.Options;

namespace Mlops.PipelineRunner.Features.Triggers;

/// <summary>Cron schedules and event triggers of a pipeline: create, list, get (with recent firings), delete.</summary>
public static partial class TriggerEndpoints
{
    public static RouteGroupBuilder MapTriggerEndpoints(this RouteGroupBuilder api)
    {
        var schedules = api.MapGroup("/pipelines/{pipeline}/schedules").WithTags("Schedules");
        schedules.MapPost("/", CreateSchedule);
        schedules.MapGet("/", ListSchedules);
        schedules.MapGet("/{name}", GetSchedule);
        schedules.MapDelete("/{name}", DeleteSchedule);
        var triggers = api.MapGroup("/pipelines/{pipeline}/triggers").WithTags("Triggers");
        triggers.MapPost("/", CreateTrigger);
        triggers.MapGet("/", ListTriggers);
        triggers.MapGet("/{name}", GetTrigger);
        triggers.MapDelete("/{name}", DeleteTrigger);
        return api;
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]
    private static partial Regex NamePattern();

    internal static async Task<Created<ScheduleResponse>> CreateSchedule(string pipeline, CreateScheduleRequest? request, TriggerStore store,
        TriggerStarts starts, CancellationToken ct)
    {
        request ??= new CreateScheduleRequest(null, null, null, null, null, null);
        var problems = new List<DefinitionProblem>();
        CheckName(request.Name, problems);
        var parsed = new List<(string Field, string Message)>();
        var cron = CronSchedule.TryParse(request.Cron, request.TimeZone, parsed);
        problems.AddRange(parsed.Select(p => new DefinitionProblem($"$.{p.Field}", p.Message)));
        problems.AddRange(await starts.CheckAsync(pipeline, request.Version, request.Parameters, mapped: false, ct));
        if (problems.Count > 0)
            throw ExecutionEndpoints.Invalid(Detail("The schedule", problems), problems);

        var id = Guid.CreateVersion7();
        if (!await store.InsertScheduleAsync(id, pipeline, request, cron!.Cron, cron.Zone.Id, ct))
            throw ProblemException.Conflict($"Pipeline '{pipeline}' already has a schedule '{request.Name}'; delete it first to change it.");
        return TypedResults.Created($"/api/pipelines/{pipeline}/schedules/{request.Name}", (await store.GetScheduleAsync(pipeline, request.Name!, ct))!);
    }

    internal static async Task<Ok<List<ScheduleResponse>>> ListSchedules(string pipeline, TriggerStore store, CancellationToken ct) =>
        TypedResults.Ok(await store.ListSchedulesAsync(pipeline, ct));

    internal static async Task<Results<Ok<ScheduleResponse>, ProblemHttpResult>> GetSchedule(string pipeline, string name, TriggerStore store,
        CancellationToken ct) =>
        await store.GetScheduleAsync(pipeline, name, ct) is { } s ? TypedResults.Ok(s) : Problems.NotFound($"Pipeline '{pipeline}' has no schedule '{name}'.");

    internal static async Task<Results<NoContent, ProblemHttpResult>> DeleteSchedule(string pipeline, string name, TriggerStore store,
        CancellationToken ct) =>
        await store.DeleteScheduleAsync(pipeline, name, ct) ? TypedResults.NoContent() : Problems.NotFound($"Pipeline '{pipeline}' has no schedule '{name}'.");

    internal static async Task<Created<TriggerResponse>> CreateTrigger(string pipeline, CreateTriggerRequest? request, TriggerStore store,
        TriggerStarts starts, IOptions<TriggerOptions> options, CancellationToken ct)
    {
        request ??= new CreateTriggerRequest(null, null, null, null, null, null);
        var problems = new List<DefinitionProblem>();
        CheckName(request.Name, problems);
        var known = TriggerEvents.Find(request.Event);
        if (known is null)
            problems.Add(new("$.event", $"'{request.Event}' is not an event triggers listen to; use one of: {string.Join(", ", TriggerEvents.All.Select(e => e.Name))}."));
        else
            problems.AddRange(TriggerEvents.Check(known, request.Filter, request.Parameters).Select(p => new DefinitionProblem(p.Path, p.Message)));
        if (request.DebounceSeconds is < 0 || request.DebounceSeconds > options.Value.MaxDebounceSeconds)
            problems.Add(new("$.debounce_seconds", $"debounce_seconds must be between 0 and {options.Value.MaxDebounceSeconds}."));
        problems.AddRange(await starts.CheckAsync(pipeline, request.Version, request.Parameters, mapped: true, ct));
        if (problems.Count > 0)
            throw ExecutionEndpoints.Invalid(Detail("The trigger", problems), problems);

        if (!await store.InsertTriggerAsync(Guid.CreateVersion7(), pipeline, request, known!.Name, ct))
            throw ProblemException.Conflict($"Pipeline '{pipeline}' already has a trigger '{request.Name}'; delete it first to change it.");
        return TypedResults.Created($"/api/pipelines/{pipeline}/triggers/{request.Name}", (await store.GetTriggerAsync(pipeline, request.Name!, ct))!);
    }

    internal static async Task<Ok<List<TriggerResponse>>> ListTriggers(string pipeline, TriggerStore store, CancellationToken ct) =>
        TypedResults.Ok(await store.ListTriggersAsync(pipeline, ct));

    internal static async Task<Results<Ok<TriggerResponse>, ProblemHttpResult>> GetTrigger(string pipeline, string name, TriggerStore store,
        CancellationToken ct) =>
        await store.GetTriggerAsync(pipeline, name, ct) is { } t ? TypedResults.Ok(t) : Problems.NotFound($"Pipeline '{pipeline}' has no trigger '{name}'.");

    internal static async Task<Results<NoContent, ProblemHttpResult>> DeleteTrigger(string pipeline, string name, TriggerStore store,
        CancellationToken ct) =>
        await store.DeleteTriggerAsync(pipeline, name, ct) ? TypedResults.NoContent() : Problems.NotFound($"Pipeline '{pipeline}' has no trigger '{name}'.");

    private static void CheckName(string? name, List<DefinitionProblem> problems)
    {
        if (string.IsNullOrEmpty(name) || !NamePattern().IsMatch(name))
            problems.Add(new("$.name", $"'{name}' is not a valid name: 1 to 100 letters, digits, '_', '.' or '-', starting with a letter or digit."));
    }

    /// <summary>The problem detail names what is wrong, not just that something is.</summary>
    private static string Detail(string what, List<DefinitionProblem> problems) =>
        $"{what} is invalid: " + string.Join(" ", problems.Select(p => $"{p.Path}: {p.Message}"));
}
