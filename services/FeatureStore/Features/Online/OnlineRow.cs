using System.Globalization;
using System.Text.Json;

namespace Mlops.FeatureStore.Features.Online;

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
