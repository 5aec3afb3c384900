using System.Text.Json;

namespace Mlops.FeatureStore;

/// <summary>The feature store's JSON: snake_case names (its API, stored definitions and job documents), dictionary keys as given.</summary>
public static class FeatureStoreJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
    };
}
