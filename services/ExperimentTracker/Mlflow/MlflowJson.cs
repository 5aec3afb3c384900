using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Mlops.ExperimentTracker.Mlflow;

/// <summary>
/// MLflow's JSON dialect (protobuf JSON): snake_case names, int64 as numbers (strings accepted on input), NaN and
/// Infinity as the strings protobuf uses, unset and empty repeated fields left out.
/// </summary>
public static class MlflowJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowReadingFromString | JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Reads the request body; malformed JSON or a wrong type is the caller's error (INVALID_PARAMETER_VALUE).</summary>
    public static async Task<T> ReadBodyAsync<T>(this HttpRequest request, CancellationToken ct) where T : class
    {
        try
        {
            if (request.ContentLength == 0)
                throw MlflowException.Invalid("The request has no JSON body.");
            return await JsonSerializer.DeserializeAsync<T>(request.Body, Options, ct)
                ?? throw MlflowException.Invalid("The request body is the JSON literal null; expected an object.");
        }
        catch (JsonException e)
        {
            throw MlflowException.Invalid($"Malformed JSON request body: {e.Message}");
        }
    }

    /// <summary>
    /// For GET and DELETE calls: MLflow clients send DELETE arguments as a JSON body, people with curl as query
    /// parameters; either is read (a repeated query parameter becomes a list).
    /// </summary>
    public static async Task<T> ReadBodyOrQueryAsync<T>(this HttpRequest request, CancellationToken ct) where T : class
    {
        if (request.ContentLength > 0 || (request.ContentLength is null && request.Headers.TransferEncoding.Count > 0))
            return await request.ReadBodyAsync<T>(ct);
        var arguments = new System.Text.Json.Nodes.JsonObject();
        foreach (var (key, values) in request.Query)
            arguments[key] = values.Count == 1
                ? values[0]
                : new System.Text.Json.Nodes.JsonArray(values.Select(v => (System.Text.Json.Nodes.JsonNode?)v).ToArray());
        try
        {
            return arguments.Deserialize<T>(Options)!;
        }
        catch (JsonException e)
        {
            throw MlflowException.Invalid($"Invalid query parameters: {e.Message}");
        }
    }

    public static JsonHttpResult<T> Ok<T>(T value) => TypedResults.Json(value, Options);

    /// <summary>MLflow answers a successful mutation without a payload with <c>{}</c>.</summary>
    public static JsonHttpResult<Empty> Empty() => TypedResults.Json(new Empty(), Options);

    /// <summary>MLflow leaves empty repeated fields out of its responses.</summary>
    public static IReadOnlyList<T>? NullIfEmpty<T>(this IReadOnlyList<T> list) => list.Count == 0 ? null : list;
}

public sealed record Empty;
