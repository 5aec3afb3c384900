using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using System.Text.Json;
using Mlops.FeatureStore.Features.Ingestion;
using Npgsql;

namespace Mlops.FeatureStore.Features.Groups;

public sealed record FeatureStatisticsResponse(string Feature, string Type, long Count, long Nulls, double? Mean, double? Std, double? Min, double? Max,
    IReadOnlyDictionary<string, double>? Quantiles, IReadOnlyDictionary<string, long>? TopValues);

public sealed record GroupStatisticsResponse(string Group, int Version, IReadOnlyList<FeatureStatisticsResponse> Features);

/// <summary>
/// Statistics of a group version (<c>GET /api/feature-groups/{name}/statistics</c>), kept current by every accepted batch:
/// count, nulls, mean, population standard deviation, min, max, quantiles p01–p99 from a t-digest (timestamps in epoch
/// seconds), and top values.
/// </summary>
public static class StatisticsEndpoints
{
    private static readonly double[] QuantilePoints = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99];

    public static RouteGroupBuilder MapStatisticsEndpoints(this RouteGroupBuilder api)
    {
        api.MapGet("/feature-groups/{name}/statistics", Get).WithTags("Feature groups").ProducesProblem(StatusCodes.Status404NotFound);
        return api;
    }

    internal static async Task<Results<Ok<GroupStatisticsResponse>, ProblemHttpResult>> Get(string name, [FromQuery] int? version, NpgsqlDataSource db,
        CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        if (await FeatureGroupCatalog.LoadAsync(connection, name, version, ct) is not { } state)
            return Problems.NotFound(version is null ? $"Feature group '{name}' does not exist." : $"Feature group '{name}' has no version {version}.");
        var group = state.Latest;
        var stored = (await connection.ReadAllAsync(
            "SELECT feature, count, nulls, numeric_count, sum, sum_sq, min, max, top::text, digest::text FROM feature_statistics WHERE group_name = @name AND version = @version",
            [new NpgsqlParameter("name", name), new NpgsqlParameter("version", group.Version)],
            reader => ReadStatistics(reader, group), ct)).ToDictionary(s => s.Feature);
        return TypedResults.Ok(new GroupStatisticsResponse(name, group.Version,
            [.. group.Features.Select(f => stored.GetValueOrDefault(f.Name) ?? new FeatureStatisticsResponse(f.Name, f.Type, 0, 0, null, null, null, null, null, null))]));
    }

    private static FeatureStatisticsResponse ReadStatistics(NpgsqlDataReader reader, FeatureGroup group)
    {
        var feature = reader.GetString(0);
        var numeric = reader.GetInt64(3);
        double? mean = numeric > 0 ? reader.GetDouble(4) / numeric : null;
        double? std = mean is { } m ? Math.Sqrt(Math.Max(0, reader.GetDouble(5) / numeric - m * m)) : null;
        var top = JsonSerializer.Deserialize<Dictionary<string, long>>(reader.GetString(8))!;
        var digest = new QuantileDigest(JsonSerializer.Deserialize<double[][]>(reader.GetString(9)) ?? []);
        var quantiles = digest.Quantile(0.5) is null ? null
            : QuantilePoints.ToDictionary(q => $"p{q * 100:00}", q => digest.Quantile(q)!.Value);
        return new FeatureStatisticsResponse(feature, group.Feature(feature)?.Type ?? "", reader.GetInt64(1), reader.GetInt64(2), mean, std,
            reader.IsDBNull(6) ? null : reader.GetDouble(6), reader.IsDBNull(7) ? null : reader.GetDouble(7), quantiles,
            top.Count == 0 ? null : top.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal).ToDictionary());
    }
}
