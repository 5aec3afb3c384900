using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mlops.Serving;

/// <summary>The JSON Serving speaks and stores: snake_case like the platform's other native APIs, nulls left out.</summary>
public static class ServingJson
{
    public static readonly JsonSerializerOptions Options = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.DictionaryKeyPolicy = null;
        options.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        options.NumberHandling |= JsonNumberHandling.AllowNamedFloatingPointLiterals;
        return options;
    }

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);

    public static T Deserialize<T>(string json) => JsonSerializer.Deserialize<T>(json, Options)
        ?? throw new InvalidDataException($"Stored JSON '{json}' does not hold a {typeof(T).Name}.");
}
