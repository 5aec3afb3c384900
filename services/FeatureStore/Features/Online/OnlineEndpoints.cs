using System.Collections.Concurrent;
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
        await using (var command = new NpgsqlCommand(ReadSql, connection))
        {
            command.Parameters.AddWithValue("groups", queryGroups);
            command.Parameters.AddWithValue("keys", queryKeys);
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

/// <summary>
/// What a list of <c>group:feature</c> references resolves to: the groups' schemas in order of first reference, the group
/// of each slot (position in the list), and per group which slots ask for which feature. Built once per distinct list
/// and reused while the catalog hands out the same group versions (a new version, or the catalog's periodic reload,
/// rebuilds it): a read of 50 features would otherwise split, look up and index 50 references on every request.
/// </summary>
internal sealed class ReadPlan
{
    private const int MaxCached = 1024;
    private static readonly ConcurrentDictionary<IReadOnlyList<string>, ReadPlan> Cache = new(ReferenceListComparer.Instance);

    private readonly Dictionary<string, Dictionary<string, int[]>> _wanted;

    private ReadPlan(string[] references, GroupSchema[] groups, int[] groupOf, Dictionary<string, Dictionary<string, int[]>> wanted) =>
        (References, Groups, GroupOf, _wanted) = (references, groups, groupOf, wanted);

    public string[] References { get; }
    public GroupSchema[] Groups { get; }
    public int[] GroupOf { get; }

    /// <summary>The requested features of one group: name → the slots that ask for it.</summary>
    public Dictionary<string, int[]> Wanted(string group) => _wanted[group];

    public static async ValueTask<ReadPlan> ForAsync(IReadOnlyList<string> features, FeatureGroupCatalog catalog, CancellationToken ct)
    {
        if (Cache.TryGetValue(features, out var plan) && await plan.IsCurrentAsync(catalog, ct))
            return plan;
        plan = await BuildAsync(features, catalog, ct);
        if (Cache.Count >= MaxCached)
            Cache.Clear(); // many distinct lists (ad-hoc reads): start over rather than grow without bound
        Cache[plan.References] = plan;
        return plan;
    }

    private async ValueTask<bool> IsCurrentAsync(FeatureGroupCatalog catalog, CancellationToken ct)
    {
        foreach (var schema in Groups)
            if (!ReferenceEquals(await catalog.GetLiveAsync(schema.Group.Name, ct), schema.Group))
                return false;
        return true;
    }

    private static async ValueTask<ReadPlan> BuildAsync(IReadOnlyList<string> features, FeatureGroupCatalog catalog, CancellationToken ct)
    {
        var references = new string[features.Count];
        var groupOf = new int[features.Count];
        var groups = new List<GroupSchema>();
        var wanted = new Dictionary<string, Dictionary<string, List<int>>>(StringComparer.Ordinal);
        for (var f = 0; f < features.Count; f++)
        {
            var (group, feature) = FeatureReference.Parse(features[f]);
            var g = groups.FindIndex(s => s.Group.Name == group);
            if (g < 0)
            {
                groups.Add(GroupSchema.For(await catalog.GetLiveAsync(group, ct)));
                wanted[group] = new(StringComparer.Ordinal);
                g = groups.Count - 1;
            }
            FeatureReference.RequireFeature(groups[g].Group, feature);
            var slots = wanted[group];
            (slots.TryGetValue(feature, out var list) ? list : slots[feature] = []).Add(f);
            (references[f], groupOf[f]) = (features[f], g);
        }
        return new ReadPlan(references, [.. groups], groupOf, wanted.ToDictionary(
            p => p.Key, p => p.Value.ToDictionary(q => q.Key, q => q.Value.ToArray(), StringComparer.Ordinal), StringComparer.Ordinal));
    }

    // Lists of references equal element by element (ordinal), whatever their collection type.
    private sealed class ReferenceListComparer : IEqualityComparer<IReadOnlyList<string>>
    {
        public static readonly ReferenceListComparer Instance = new();

        public bool Equals(IReadOnlyList<string>? x, IReadOnlyList<string>? y)
        {
            if (ReferenceEquals(x, y)) return true;
            if (x is null || y is null || x.Count != y.Count) return false;
            for (var i = 0; i < x.Count; i++)
                if (!string.Equals(x[i], y[i], StringComparison.Ordinal)) return false;
            return true;
        }

        public int GetHashCode(IReadOnlyList<string> list)
        {
            var hash = new HashCode();
            foreach (var item in list) hash.Add(item, StringComparer.Ordinal);
            return hash.ToHashCode();
        }
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
    public static OnlineRow Read(DateTime eventTime, byte[] json, Dictionary<string, int[]> wanted, int slots)
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
