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
        SELECT o.group_name, o.entity_key, o.event_time, convert_to(o.values::text, 'UTF8') -- json: its text as stored
        FROM unnest(@groups::text[], @keys::text[]) AS r(g, k)
        JOIN online_features o ON o.group_name = r.g AND o.entity_key = r.k
        """;

    public static RouteGroupBuilder MapOnlineEndpoints(this RouteGroupBuilder api)
    {
        api.MapPost("/online/features", Read).WithTags("Online store").Accepts<OnlineReadRequest>("application/json").Produces(StatusCodes.Status200OK)
            // Written straight to the response, so the handler has no Results<…>: its problems are raised and declared here.
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status413PayloadTooLarge);
        return api;
    }

    internal static async Task Read(OnlineReadRequest request, NpgsqlDataSource db, FeatureGroupCatalog catalog, HttpResponse response, CancellationToken ct)
    {
        if (request.Features is not { Count: > 0 } features)
            throw ProblemException.BadRequest("'features' must list at least one 'group:feature' reference.");
        if (request.Entities is not { Count: > 0 } entities)
            throw ProblemException.BadRequest("'entities' must hold at least one entity (an object with the groups' key columns).");
        if (entities.Count > MaxEntities)
            throw ProblemException.TooLarge($"At most {MaxEntities} entities per request; this one has {entities.Count}.");
        var plan = await ReadPlan.ForAsync(features, catalog, ct);

        // The online key of every (group, entity) pair, in request order.
        var groupList = plan.Groups;
        var keys = new string[entities.Count, groupList.Length];
        var queryGroups = new string[entities.Count * groupList.Length];
        var queryKeys = new string[entities.Count * groupList.Length];
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
                queryGroups[e * groupList.Length + g] = schema.Group.Name;
                queryKeys[e * groupList.Length + g] = keys[e, g];
            }
        }

        // Each row's values are picked out of its JSON once, by one pass over its properties: the raw JSON of every
        // requested feature of that group, written to the answer as it is.
        var rows = new Dictionary<(string Group, string Key), OnlineRow>();
        await using (var connection = await db.OpenConnectionAsync(ct))
        await using (var command = connection.Command(ReadSql, null, ("groups", queryGroups), ("keys", queryKeys)))
        {
            await command.PrepareAsync(ct);
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var group = reader.GetString(0);
                rows[(group, reader.GetString(1))] = OnlineRow.Read(reader.GetFieldValue<DateTime>(2), reader.GetFieldValue<byte[]>(3), plan.Wanted(group), features.Count);
            }
        }
        await WriteAsync(response, plan, entities, keys, rows, DateTime.UtcNow, ct);
    }

    private static readonly JsonEncodedText PresentText = JsonEncodedText.Encode(Present), NullValueText = JsonEncodedText.Encode(NullValue),
        NotFoundText = JsonEncodedText.Encode(NotFound), OutsideMaxAgeText = JsonEncodedText.Encode(OutsideMaxAge);

    // Written straight into the response's pipe, sent in 32 KiB steps: 100 entities × 50 features is ~250 KB of JSON,
    // which as one buffer would be a large-object-heap allocation per request (and gen-2 collections in the tail).
    private static async Task WriteAsync(HttpResponse response, ReadPlan plan,
        IReadOnlyList<Dictionary<string, JsonElement>> entities, string[,] keys, Dictionary<(string, string), OnlineRow> rows, DateTime now, CancellationToken ct)
    {
        const int FlushBytes = 32 * 1024;
        var slots = plan.References.Length;
        response.ContentType = "application/json";
        await using var json = new Utf8JsonWriter(response.BodyWriter);
        json.WriteStartObject();
        json.WriteStartArray("features");
        foreach (var r in plan.References) json.WriteStringValue(r);
        json.WriteEndArray();
        json.WriteStartArray("results");
        var statuses = new JsonEncodedText[slots];
        var found = new OnlineRow?[slots];
        for (var e = 0; e < entities.Count; e++)
        {
            json.WriteStartObject();
            json.WriteStartObject("entity");
            foreach (var (name, value) in entities[e]) { json.WritePropertyName(name); value.WriteTo(json); }
            json.WriteEndObject();
            json.WriteStartArray("values");
            for (var f = 0; f < slots; f++)
            {
                var group = plan.Groups[plan.GroupOf[f]].Group;
                rows.TryGetValue((group.Name, keys[e, plan.GroupOf[f]]), out var row);
                found[f] = row;
                var expired = row is not null && group.Ttl is { } ttl && row.EventTime + ttl < now;
                var value = row is null || expired ? default : row.Value(f);
                // An empty value: no record, or one written under an earlier version, before the feature existed.
                statuses[f] = expired ? OutsideMaxAgeText : value.IsEmpty ? NotFoundText : value[0] == (byte)'n' ? NullValueText : PresentText;
                if (value.IsEmpty)
                    json.WriteNullValue();
                else
                    json.WriteRawValue(value, skipInputValidation: true);
            }
            json.WriteEndArray();
            json.WriteStartArray("statuses");
            foreach (var s in statuses) json.WriteStringValue(s);
            json.WriteEndArray();
            json.WriteStartArray("event_times");
            foreach (var row in found)
                if (row is not null) json.WriteStringValue(row.EventTimeText); else json.WriteNullValue();
            json.WriteEndArray();
            json.WriteEndObject();
            if (json.BytesPending > FlushBytes)
            {
                json.Flush();
                await response.BodyWriter.FlushAsync(ct);
            }
        }
        json.WriteEndArray();
        json.WriteEndObject();
        await json.FlushAsync(ct);
    }
}
