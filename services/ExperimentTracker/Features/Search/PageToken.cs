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

    /// <summary>Validates <c>max_results</c> against MLflow's bounds.</summary>
    public static int MaxResults(long? requested, int defaultValue, int limit)
    {
        var value = requested ?? defaultValue;
        return value is >= 1 && value <= limit
            ? (int)value
            : throw MlflowException.Invalid($"Invalid value {value} for parameter 'max_results': it must be between 1 and {limit}.");
    }
}
