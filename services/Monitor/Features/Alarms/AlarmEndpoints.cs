using Microsoft.AspNetCore.Http.HttpResults;

namespace Mlops.Monitor.Features.Alarms;

/// <summary>Alarms (CloudWatch's PutMetricAlarm / DescribeAlarms / DescribeAlarmHistory, in the monitor's JSON).</summary>
public static class AlarmEndpoints
{
    public static RouteGroupBuilder MapAlarmEndpoints(this RouteGroupBuilder api)
    {
        var alarms = api.MapGroup("/alarms").WithTags("Alarms");
        alarms.MapPut("/{name}", Put);
        alarms.MapGet("/", List);
        alarms.MapGet("/{name}", Get);
        alarms.MapGet("/{name}/history", History);
        alarms.MapDelete("/{name}", Delete);
        return alarms;
    }

    internal static async Task<Results<Ok<AlarmRow>, ValidationProblem>> Put(string name, PutAlarmRequest request, AlarmStore store, CancellationToken ct)
    {
        request = request with { Name = name };
        var errors = AlarmStore.Validate(request);
        if (errors.Count > 0) return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["alarm"] = [.. errors] }, detail: string.Join(" ", errors));
        return TypedResults.Ok((await store.PutAsync(request, ct))!);
    }

    internal static async Task<Ok<AlarmList>> List(AlarmStore store, CancellationToken ct) => TypedResults.Ok(new AlarmList(await store.ListAsync(ct)));

    internal static async Task<Results<Ok<AlarmRow>, ProblemHttpResult>> Get(string name, AlarmStore store, CancellationToken ct) =>
        await store.FindAsync(name, ct) is { } alarm ? TypedResults.Ok(alarm) : NotFound(name);

    internal static async Task<Results<Ok<AlarmHistory>, ProblemHttpResult>> History(string name, AlarmStore store, CancellationToken ct) =>
        await store.FindAsync(name, ct) is null ? NotFound(name) : TypedResults.Ok(new AlarmHistory(name, await store.HistoryAsync(name, ct)));

    internal static async Task<Results<NoContent, ProblemHttpResult>> Delete(string name, AlarmStore store, CancellationToken ct) =>
        await store.DeleteAsync(name, ct) == 1 ? TypedResults.NoContent() : NotFound(name);

    private static ProblemHttpResult NotFound(string name) =>
        TypedResults.Problem($"Alarm '{name}' does not exist.", statusCode: StatusCodes.Status404NotFound, title: "Not found");
}
