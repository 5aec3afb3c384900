using System.Globalization;
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
        api.MapPost("/online/features", Read).WithTags("Online store").Accepts<OnlineReadRequest>("application/json").Produces(StatusCodes.Status200OK);
        return api;
    }

    private sealed record Reference(string Name, FeatureGroup Group, string Feature);

    internal static async Task Read(OnlineReadRequest request, NpgsqlDataSource db, FeatureGroupCatalog catalog, HttpResponse response, CancellationToken ct)
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
                groups[parts[0]] = schema = GroupSchema.For(await catalog.GetLiveAsync(parts[0], ct));
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

        // Each row's values are picked out of its JSON once, by one pass over its properties: the raw JSON of every
        // requested feature of that group, written to the answer as it is.
        var wanted = groupList.ToDictionary(g => g.Group.Name, g => Wanted(references, g.Group.Name));
        var rows = new Dictionary<(string Group, string Key), OnlineRow>();
        await using (var connection = await db.OpenConnectionAsync(ct))
        await using (var command = new NpgsqlCommand(ReadSql, connection))
        {
            command.Parameters.AddWithValue("groups", queryGroups.ToArray());
            command.Parameters.AddWithValue("keys", queryKeys.ToArray());
            await command.PrepareAsync(ct);
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var group = reader.GetString(0);
                rows[(group, reader.GetString(1))] = OnlineRow.Read(reader.GetFieldValue<DateTime>(2), reader.GetFieldValue<byte[]>(3), wanted[group], references.Count);
            }
        }
        await WriteAsync(response, references, groupList, entities, keys, rows, DateTime.UtcNow, ct);
    }

    // The requested features of one group: name → the slots (positions in the request) that ask for it.
    private static Dictionary<string, List<int>> Wanted(List<Reference> references, string group)
    {
        var wanted = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (var f = 0; f < references.Count; f++)
            if (references[f].Group.Name == group)
                (wanted.TryGetValue(references[f].Feature, out var slots) ? slots : wanted[references[f].Feature] = []).Add(f);
        return wanted;
    }

    private static readonly JsonEncodedText PresentText = JsonEncodedText.Encode(Present), NullValueText = JsonEncodedText.Encode(NullValue),
        NotFoundText = JsonEncodedText.Encode(NotFound), OutsideMaxAgeText = JsonEncodedText.Encode(OutsideMaxAge);

    // Written straight into the response's pipe, sent in 32 KiB steps: 100 entities × 50 features is ~250 KB of JSON,
    // which as one buffer would be a large-object-heap allocation per request (and gen-2 collections in the tail).
    private static async Task WriteAsync(HttpResponse response, List<Reference> references, GroupSchema[] groupList,
        IReadOnlyList<Dictionary<string, JsonElement>> entities, string[,] keys, Dictionary<(string, string), OnlineRow> rows, DateTime now, CancellationToken ct)
    {
        const int FlushBytes = 32 * 1024;
        var groupIndex = groupList.Select((s, i) => (s.Group.Name, i)).ToDictionary(p => p.Name, p => p.i);
        response.ContentType = "application/json";
        await using var json = new Utf8JsonWriter(response.BodyWriter);
        json.WriteStartObject();
        json.WriteStartArray("features");
        foreach (var r in references) json.WriteStringValue(r.Name);
        json.WriteEndArray();
        json.WriteStartArray("results");
        var statuses = new JsonEncodedText[references.Count];
        var found = new OnlineRow?[references.Count];
        for (var e = 0; e < entities.Count; e++)
        {
            json.WriteStartObject();
            json.WriteStartObject("entity");
            foreach (var (name, value) in entities[e]) { json.WritePropertyName(name); value.WriteTo(json); }
            json.WriteEndObject();
            json.WriteStartArray("values");
            for (var f = 0; f < references.Count; f++)
            {
                var reference = references[f];
                rows.TryGetValue((reference.Group.Name, keys[e, groupIndex[reference.Group.Name]]), out var row);
                found[f] = row;
                var expired = row is not null && reference.Group.Ttl is { } ttl && row.EventTime + ttl < now;
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

/// <summary>
/// One online record as a read needs it: its event time (formatted once) and, per slot of the request, where the raw
/// JSON of the requested feature lies in the record's JSON (empty: the record has no such feature).
/// </summary>
internal sealed class OnlineRow
{
    private readonly byte[] _json;
    private readonly int[] _start, _length;

    private OnlineRow(DateTime eventTime, byte[] json, int[] start, int[] length)
    {
        EventTime = eventTime;
        // As Utf8JsonWriter writes a UTC DateTime: ISO 8601, trailing zeros of the fraction dropped.
        EventTimeText = JsonEncodedText.Encode(DateTime.SpecifyKind(eventTime, DateTimeKind.Utc).ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK", CultureInfo.InvariantCulture));
        (_json, _start, _length) = (json, start, length);
    }

    public DateTime EventTime { get; }
    public JsonEncodedText EventTimeText { get; }
    public ReadOnlySpan<byte> Value(int slot) => _json.AsSpan(_start[slot], _length[slot]);

    /// <summary>One pass over the record's properties; each wanted feature's value is located, not parsed.</summary>
    public static OnlineRow Read(DateTime eventTime, byte[] json, Dictionary<string, List<int>> wanted, int slots)
    {
        var (start, length) = (new int[slots], new int[slots]);
        var lookup = wanted.GetAlternateLookup<ReadOnlySpan<char>>();
        Span<char> buffer = stackalloc char[128];
        var reader = new Utf8JsonReader(json);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            // A UTF-8 name never has fewer bytes than its UTF-16 form has chars, so a name that fits is copied without allocating.
            var name = reader.ValueSpan.Length <= buffer.Length ? buffer[..reader.CopyString(buffer)] : reader.GetString().AsSpan();
            lookup.TryGetValue(name, out var targets);
            reader.Read();
            var from = (int)reader.TokenStartIndex;
            if (reader.TokenType is JsonTokenType.StartArray or JsonTokenType.StartObject)
                reader.Skip();
            if (targets is null)
                continue;
            foreach (var slot in targets)
                (start[slot], length[slot]) = (from, (int)reader.BytesConsumed - from);
        }
        return new OnlineRow(eventTime, json, start, length);
    }
}
