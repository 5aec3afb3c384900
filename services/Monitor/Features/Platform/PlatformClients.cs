using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace Mlops.Monitor.Features.Platform;

/// <summary>A feature group version's statistics as the FeatureStore serves them (<c>GET /api/feature-groups/{name}/statistics</c>).</summary>
public sealed record GroupStatistics(string Group, int Version, IReadOnlyList<GroupFeatureStatistics> Features);

/// <param name="Type">int64, double, string, bool, timestamp or float_vector.</param>
/// <param name="Quantiles">p01, p05, p25, p50, p75, p95, p99 from the FeatureStore's t-digest.</param>
/// <param name="TopValues">The most frequent values (at most 50 kept, so exact only when the feature has fewer).</param>
public sealed record GroupFeatureStatistics(string Feature, string Type, long Count, long Nulls, double? Mean, double? Std, double? Min, double? Max,
    IReadOnlyDictionary<string, double>? Quantiles, IReadOnlyDictionary<string, long>? TopValues);

/// <summary>A Serving endpoint's variants and the model version each serves (<c>GET /api/endpoints/{name}</c>).</summary>
public sealed record ServingEndpoint(string Name, IReadOnlyList<ServingVariant> Variants);

public sealed record ServingVariant(string Name, string ModelName, string ModelVersion);

internal static class PlatformJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static void Authorize(HttpClient http, IConfiguration configuration) =>
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", configuration["Auth:ApiKey"] ?? "");

    /// <summary>A service the monitor depends on did not answer: 503 naming it, so the caller may retry.</summary>
    public static ProblemException Unavailable(string service, string detail) =>
        new(StatusCodes.Status503ServiceUnavailable, "Service unavailable", $"The {service} could not be reached: {detail}");
}

/// <summary>The FeatureStore's statistics API, for baselines suggested from a feature group version.</summary>
public sealed class FeatureStoreClient(HttpClient http)
{
    /// <summary>The version's statistics; a 404 naming the group (or version) when the FeatureStore has no such thing.</summary>
    public async Task<GroupStatistics> GetStatisticsAsync(string group, int? version, CancellationToken ct)
    {
        var uri = $"api/feature-groups/{Uri.EscapeDataString(group)}/statistics{(version is null ? "" : $"?version={version}")}";
        HttpResponseMessage response;
        try
        {
            response = await http.GetAsync(uri, ct);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            // Refused connections, timeouts and an open circuit (the resilience handler's) alike: the caller may retry.
            throw PlatformJson.Unavailable("feature store", e.Message);
        }
        using (response)
        {
            if (response.StatusCode == HttpStatusCode.NotFound)
                throw ProblemException.NotFound(version is null ? $"Feature group '{group}' does not exist in the feature store."
                    : $"Feature group '{group}' has no version {version} in the feature store.");
            if ((int)response.StatusCode is >= 400 and < 500)
                throw ProblemException.BadRequest($"The feature store refused the statistics of feature group '{group}' ({(int)response.StatusCode}): " +
                                                  $"{await DetailAsync(response, ct)}");
            if (!response.IsSuccessStatusCode)
                throw PlatformJson.Unavailable("feature store", $"{(int)response.StatusCode} {response.ReasonPhrase} for the statistics of '{group}'.");
            try
            {
                return await response.Content.ReadFromJsonAsync<GroupStatistics>(PlatformJson.Options, ct)
                       ?? throw PlatformJson.Unavailable("feature store", "an empty statistics document.");
            }
            catch (JsonException e)
            {
                throw PlatformJson.Unavailable("feature store", $"an unreadable statistics document ({e.Message}).");
            }
        }
    }

    private static async Task<string> DetailAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var text = await response.Content.ReadAsStringAsync(ct);
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("detail", out var d) && d.GetString() is { } detail) return detail;
        }
        catch (JsonException)
        {
        }
        return text.Length > 500 ? text[..500] : text;
    }
}

/// <summary>Serving's endpoint API: which model version each variant serves, for runs and alarms that name them.</summary>
public sealed class ServingClient(HttpClient http, ILogger<ServingClient> logger)
{
    /// <summary>The endpoint's variants, or null when Serving does not know the endpoint or cannot be reached (runs go on without).</summary>
    public async Task<ServingEndpoint?> TryGetEndpointAsync(string endpoint, CancellationToken ct)
    {
        try
        {
            using var response = await http.GetAsync($"api/endpoints/{Uri.EscapeDataString(endpoint)}", ct);
            if (!response.IsSuccessStatusCode) return null;
            return await response.Content.ReadFromJsonAsync<ServingEndpoint>(PlatformJson.Options, ct);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            logger.LogWarning(e, "Serving did not describe endpoint {Endpoint}; the run names variants without model versions", endpoint);
            return null;
        }
    }
}
