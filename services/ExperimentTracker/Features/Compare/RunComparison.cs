using Microsoft.AspNetCore.Http.HttpResults;
using Mlops.ExperimentTracker.Data;
using Mlops.ExperimentTracker.Features.Runs;
using Npgsql;

namespace Mlops.ExperimentTracker.Features.Compare;

/// <param name="RunIds">The runs to compare, in the order the columns should have (at most <see cref="RunComparison.MaxRuns"/>).</param>
/// <param name="MetricKeys">Only these metrics (default: every metric any of the runs has).</param>
/// <param name="ParamKeys">Only these params (default: every param any of the runs has).</param>
public sealed record CompareRequest(IReadOnlyList<string>? RunIds, IReadOnlyList<string>? MetricKeys, IReadOnlyList<string>? ParamKeys);
public sealed record ComparedRun(string RunId, string RunName, string ExperimentId, string Status, long StartTime, long? EndTime);
/// <summary>A param across the runs (null where a run lacks it); <c>Differs</c> when the runs do not all agree.</summary>
public sealed record ParamRow(string Key, IReadOnlyList<string?> Values, bool Differs);
/// <summary>A metric's latest value across the runs (null where a run lacks it), with where its min and max are.</summary>
public sealed record MetricRow(string Key, IReadOnlyList<double?> Values, double? Min, double? Max, string? MinRunId, string? MaxRunId);
public sealed record CompareResponse(IReadOnlyList<ComparedRun> Runs, IReadOnlyList<ParamRow> Params, IReadOnlyList<MetricRow> Metrics);

/// <summary>
/// Side-by-side comparison of many runs (<c>POST /api/runs/compare</c>): one round trip of three set-based queries over
/// the latest metrics and params, answered column-wise, so a thousand runs cost about what ten do.
/// </summary>
public static class RunComparison
{
    public const int MaxRuns = 5000;
    public const int MaxKeys = 1000;

    public static IEndpointRouteBuilder MapRunComparison(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/runs/compare", CompareAsync).WithTags("Runs").ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("Compare params and latest metrics across up to 5,000 runs, column per run.");
        return app;
    }

    internal static async Task<Results<Ok<CompareResponse>, ProblemHttpResult, ValidationProblem>> CompareAsync(CompareRequest request, NpgsqlDataSource db, CancellationToken ct)
    {
        var runIds = (request.RunIds ?? []).ToList();
        var errors = new Dictionary<string, string[]>();
        if (runIds.Count == 0)
            errors["run_ids"] = ["At least one run id is required."];
        else if (runIds.Count > MaxRuns)
            errors["run_ids"] = [$"{runIds.Count} runs given; at most {MaxRuns} can be compared at once."];
        else if (runIds.Any(string.IsNullOrEmpty))
            errors["run_ids"] = ["Run ids must not be empty or null."];
        else if (runIds.Distinct().Count() != runIds.Count)
            errors["run_ids"] = ["Each run may appear once."];
        if (request.MetricKeys is { Count: > MaxKeys } || request.ParamKeys is { Count: > MaxKeys })
            errors["keys"] = [$"At most {MaxKeys} metric keys and {MaxKeys} param keys."];
        if (errors.Count > 0)
            return TypedResults.ValidationProblem(errors);

        var ids = runIds.ToArray();
        var metricKeys = request.MetricKeys?.Where(k => k is not null).ToArray();
        var paramKeys = request.ParamKeys?.Where(k => k is not null).ToArray();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var batch = new NpgsqlBatch(connection);
        batch.BatchCommands.Add(Db.BatchCommand(
            "SELECT run_id, run_name, experiment_id, status, start_time, end_time FROM runs WHERE run_id = ANY(@ids)", ("ids", ids)));
        batch.BatchCommands.Add(Db.BatchCommand(
            "SELECT run_id, key, value FROM params WHERE run_id = ANY(@ids) AND (@all OR key = ANY(@keys))",
            ("ids", ids), ("all", paramKeys is null), ("keys", paramKeys ?? [])));
        batch.BatchCommands.Add(Db.BatchCommand(
            $"SELECT r.run_id, m.key, {RunStore.LatestValue("m.value")} FROM runs r, jsonb_each(r.latest_metrics) m WHERE r.run_id = ANY(@ids) AND (@all OR m.key = ANY(@keys))",
            ("ids", ids), ("all", metricKeys is null), ("keys", metricKeys ?? [])));

        var column = runIds.Select((id, i) => (id, i)).ToDictionary(x => x.id, x => x.i);
        var runs = new ComparedRun?[ids.Length];
        var parameters = new SortedDictionary<string, string?[]>(StringComparer.Ordinal);
        var metrics = new SortedDictionary<string, double?[]>(StringComparer.Ordinal);
        await using (var reader = await batch.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
                runs[column[reader.GetString(0)]] = new ComparedRun(reader.GetString(0), reader.GetString(1), reader.GetInt64(2).ToString(),
                    reader.GetString(3), reader.GetInt64(4), reader.IsDBNull(5) ? null : reader.GetInt64(5));
            await reader.NextResultAsync(ct);
            while (await reader.ReadAsync(ct))
                Row(parameters, reader.GetString(1), ids.Length)[column[reader.GetString(0)]] = reader.GetString(2);
            await reader.NextResultAsync(ct);
            while (await reader.ReadAsync(ct))
                Row(metrics, reader.GetString(1), ids.Length)[column[reader.GetString(0)]] = reader.GetDouble(2);
        }
        var missing = ids.Where((_, i) => runs[i] is null).Take(20).ToList();
        if (missing.Count > 0)
            return NativeProblems.NotFound("Unknown runs", $"Unknown run ids: {string.Join(", ", missing)}.");

        return TypedResults.Ok(new CompareResponse(runs!,
            parameters.Select(p => new ParamRow(p.Key, p.Value, p.Value.Distinct().Count() > 1)).ToList(),
            metrics.Select(m => Summarize(m.Key, m.Value, ids)).ToList()));
    }

    private static T?[] Row<T>(SortedDictionary<string, T?[]> rows, string key, int width)
    {
        if (!rows.TryGetValue(key, out var row))
            rows[key] = row = new T?[width];
        return row;
    }

    private static MetricRow Summarize(string key, double?[] values, string[] ids)
    {
        int? min = null, max = null;
        for (var i = 0; i < values.Length; i++)
        {
            if (values[i] is not { } v || double.IsNaN(v))
                continue;
            if (min is null || v < values[min.Value])
                min = i;
            if (max is null || v > values[max.Value])
                max = i;
        }
        return new MetricRow(key, values, min is null ? null : values[min.Value], max is null ? null : values[max.Value],
            min is null ? null : ids[min.Value], max is null ? null : ids[max.Value]);
    }
}
