using System.Text;
using System.Text.Json;
using Mlops.ExperimentTracker.Mlflow;

namespace Mlops.ExperimentTracker.Features.Search;

/// <summary>MLflow's page token: base64 of <c>{"offset": n}</c>, opaque to clients.</summary>
public static class PageToken
{
    private sealed record Token(int Offset);

    public static string Encode(int offset) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new Token(offset), MlflowJson.Options)));

    public static int Decode(string? token)
    {
        if (string.IsNullOrEmpty(token))
            return 0;
        try
        {
            var offset = JsonSerializer.Deserialize<Token>(Convert.FromBase64String(token), MlflowJson.Options)?.Offset;
            if (offset is >= 0)
                return offset.Value;
        }
        catch (Exception e) when (e is FormatException or JsonException)
        {
        }
        throw MlflowException.Invalid($"Invalid page token '{token}': pass back the next_page_token of the previous response.");
    }

    /// <summary>
    /// A page from rows read with <c>LIMIT max + 1</c>: the first <paramref name="max"/> rows (null when empty, as MLflow
    /// leaves empty lists out) and the token of the next page when the extra row says there is one.
    /// </summary>
    public static (IReadOnlyList<T>? Page, string? Next) Slice<T>(List<T> rows, int max, int offset) =>
        (rows.Take(max).ToList().NullIfEmpty(), rows.Count > max ? Encode(offset + max) : null);

    /// <summary>Validates <c>max_results</c> against MLflow's bounds.</summary>
    public static int MaxResults(long? requested, int defaultValue, int limit)
    {
        var value = requested ?? defaultValue;
        return value is >= 1 && value <= limit
            ? (int)value
            : throw MlflowException.Invalid($"Invalid value {value} for parameter 'max_results': it must be between 1 and {limit}.");
    }
}
