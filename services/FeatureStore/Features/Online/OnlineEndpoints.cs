using System.Buffers;
using System.Text.Json;
using Mlops.FeatureStore.Features.Groups;
using Mlops.FeatureStore.Features.Ingestion;
using Npgsql;

namespace Mlops.FeatureStore.Features.Online;

/// <summary>A request for online values: <c>group:feature</c> references and entity rows holding every referenced group's keys.</summary>
public sealed record OnlineReadRequest(IReadOnlyList<string>? Features, IReadOnlyList<Dictionary<string, JsonElement>>? Entities);

/// <summary>
/// Online reads under <c>/api/online</c>: one query for all (group, entity) pairs of the request, TTL applied at read
/// time. Each value comes with a status, as in Feast: PRESENT, NULL_VALUE, NOT_FOUND, OUTSIDE_MAX_AGE (TTL expired).
/// </summary>
public static class OnlineEndpoints
{
    public const int MaxEntities = 10_000;
    public const string Present = "PRESENT", NullValue = "NULL_VALUE", NotFound = "NOT_FOUND", OutsideMaxAge = "OUTSIDE_MAX_AGE";

    private const string ReadSql =
        """
        SELECT o.group_name, o.entity_key, o.event_time, o.values::text
        FROM unnest(@groups::text[], @keys::text[]) AS r(g, k)
        JOIN online_features o ON o.group_name = r.g AND o.entity_key = r.k
        """;

    public static RouteGroupBuilder MapOnlineEndpoints(this RouteGroupBuilder api)
    {
        api.MapPost("/online/features", Read).WithTags("Online store").Accepts<OnlineReadRequest>("application/json").Produces(StatusCodes.Status200OK);
        return api;
    }

    private sealed record Reference(string Name, FeatureGroup Group, string Feature);

    internal static async Task<IResult> Read(OnlineReadRequest request, NpgsqlDataSource db, FeatureGroupCatalog catalog, CancellationToken ct)
    {
        if (request.Features is not { Count: > 0 } features)
            throw ProblemException.BadRequest("'features' must list at least one 'group:feature' reference.");
        if (request.Entities is not { Count: > 0 } entities)
            throw ProblemException.BadRequest("'entities' must hold at least one entity (an object with the groups' key columns).");
        if (entities.Count > MaxEntities)
            throw ProblemException.TooLarge($"At most {MaxEntities} entities per request; this one has {entities.Count}.");

        var references = new List<Reference>(features.Count);
        var groups = new Dictionary<string, GroupSchema>();
        foreach (var reference in features)
        {
            var parts = reference?.Split(':') ?? [];
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                throw ProblemException.BadRequest($"'{reference}' is not a feature reference; write 'group:feature'.");
            if (!groups.TryGetValue(parts[0], out var schema))
                groups[parts[0]] = schema = new GroupSchema(await catalog.GetLiveAsync(parts[0], ct));
            if (schema.Group.Feature(parts[1]) is null)
                throw ProblemException.NotFound($"Feature '{parts[1]}' does not exist in feature group '{parts[0]}' (version {schema.Group.Version}).");
            references.Add(new Reference(reference!, schema.Group, parts[1]));
        }

        // The online key of every (group, entity) pair, in request order.
        var groupList = groups.Values.ToArray();
        var keys = new string[entities.Count, groupList.Length];
        var queryGroups = new List<string>(entities.Count * groupList.Length);
        var queryKeys = new List<string>(entities.Count * groupList.Length);
        var keyValues = new object?[8];
        for (var e = 0; e < entities.Count; e++)
        {
            var entity = entities[e] ?? throw ProblemException.BadRequest($"entities[{e}] is null.");
            for (var g = 0; g < groupList.Length; g++)
            {
                var schema = groupList[g];
                for (var k = 0; k < schema.KeyCount; k++)
                {
                    var column = schema.Columns[k];
                    if (!entity.TryGetValue(column.Name, out var raw))
                        throw ProblemException.BadRequest($"entities[{e}] lacks key '{column.Name}' of feature group '{schema.Group.Name}'.");
                    if (GroupSchema.Convert(column, raw, out keyValues[k]) is { } reason)
                        throw ProblemException.BadRequest($"entities[{e}].{column.Name} {reason}.");
                }
                keys[e, g] = GroupSchema.EntityKey(keyValues.AsSpan(0, schema.KeyCount));
                queryGroups.Add(schema.Group.Name);
                queryKeys.Add(keys[e, g]);
            }
        }

        var rows = new Dictionary<(string Group, string Key), (DateTime EventTime, JsonDocument Values)>();
        try
        {
            await using (var connection = await db.OpenConnectionAsync(ct))
            await using (var command = new NpgsqlCommand(ReadSql, connection))
            {
                command.Parameters.AddWithValue("groups", queryGroups.ToArray());
                command.Parameters.AddWithValue("keys", queryKeys.ToArray());
                await command.PrepareAsync(ct);
                await using var reader = await command.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                    rows[(reader.GetString(0), reader.GetString(1))] = (reader.GetFieldValue<DateTime>(2), JsonDocument.Parse(reader.GetString(3)));
            }
            return Results.Bytes(Write(references, groupList, entities, keys, rows, DateTime.UtcNow), "application/json");
        }
        finally
        {
            foreach (var row in rows.Values)
                row.Values.Dispose();
        }
    }

    private static ReadOnlyMemory<byte> Write(List<Reference> references, GroupSchema[] groupList, IReadOnlyList<Dictionary<string, JsonElement>> entities,
        string[,] keys, Dictionary<(string, string), (DateTime EventTime, JsonDocument Values)> rows, DateTime now)
    {
        var groupIndex = groupList.Select((s, i) => (s.Group.Name, i)).ToDictionary(p => p.Name, p => p.i);
        var buffer = new ArrayBufferWriter<byte>(256 + entities.Count * references.Count * 48);
        using var json = new Utf8JsonWriter(buffer);
        json.WriteStartObject();
        json.WriteStartArray("features");
        foreach (var r in references) json.WriteStringValue(r.Name);
        json.WriteEndArray();
        json.WriteStartArray("results");
        for (var e = 0; e < entities.Count; e++)
        {
            json.WriteStartObject();
            json.WriteStartObject("entity");
            foreach (var (name, value) in entities[e]) { json.WritePropertyName(name); value.WriteTo(json); }
            json.WriteEndObject();
            json.WriteStartArray("values");
            var statuses = new string[references.Count];
            var times = new DateTime?[references.Count];
            for (var f = 0; f < references.Count; f++)
            {
                var reference = references[f];
                if (!rows.TryGetValue((reference.Group.Name, keys[e, groupIndex[reference.Group.Name]]), out var row))
                {
                    statuses[f] = NotFound;
                    json.WriteNullValue();
                    continue;
                }
                times[f] = row.EventTime;
                if (reference.Group.Ttl is { } ttl && row.EventTime + ttl < now)
                {
                    statuses[f] = OutsideMaxAge;
                    json.WriteNullValue();
                }
                else if (!row.Values.RootElement.TryGetProperty(reference.Feature, out var value))
                {
                    statuses[f] = NotFound; // written under an earlier version, before the feature existed
                    json.WriteNullValue();
                }
                else
                {
                    statuses[f] = value.ValueKind == JsonValueKind.Null ? NullValue : Present;
                    value.WriteTo(json);
                }
            }
            json.WriteEndArray();
            json.WriteStartArray("statuses");
            foreach (var s in statuses) json.WriteStringValue(s);
            json.WriteEndArray();
            json.WriteStartArray("event_times");
            foreach (var t in times)
                if (t is { } time) json.WriteStringValue(DateTime.SpecifyKind(time, DateTimeKind.Utc)); else json.WriteNullValue();
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
        json.Flush();
        return buffer.WrittenMemory;
    }
}
