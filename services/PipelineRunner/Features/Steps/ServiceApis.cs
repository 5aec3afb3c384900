using System.Net;
using Microsoft.Extensions.Http.Resilience;
using Mlops.ExperimentTracker.Client;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mlops.PipelineRunner.Features.Definitions;
using Mlops.PipelineRunner.Features.Executions;

namespace Mlops.PipelineRunner.Features.Steps;

/// <summary>Where the services a pipeline calls are (service discovery names inside Aspire; URLs elsewhere).</summary>
public sealed class ServiceUrlOptions
{
    public const string Section = "Services";
    public string FeatureStore { get; set; } = $"http://{ResourceNames.FeatureStore}";
    public string ExperimentTracker { get; set; } = $"http://{ResourceNames.ExperimentTracker}";
    public string Serving { get; set; } = $"http://{ResourceNames.Serving}";
    public string Monitor { get; set; } = $"http://{ResourceNames.Monitor}";
}

/// <summary>
/// A platform service's JSON API (snake_case, ProblemDetails errors) as a step sees it: a 4xx is the step's own failure
/// (named by the service's detail), a 429 throttling, a 5xx or no answer a service fault — the kinds retry policies match.
/// </summary>
public abstract class ServiceApi(HttpClient http, string service)
{
    protected HttpClient Http => http;

    /// <summary>The header the platform's services honour on calls that start work: a repeat with the same key finds that work.</summary>
    public const string IdempotencyKeyHeader = Mlops.ServiceDefaults.Idempotency.IdempotencyKey.Header;

    /// <param name="idempotencyKey">Sent as <see cref="IdempotencyKeyHeader"/> (a step attempt's <see cref="StepContext.IdempotencyKey"/>).</param>
    public Task<JsonObject> PostAsync(string path, JsonNode body, CancellationToken ct, string? idempotencyKey = null) =>
        SendAsync(HttpMethod.Post, path, body, ct, idempotencyKey);
    public Task<JsonObject> PutAsync(string path, JsonNode body, CancellationToken ct, string? idempotencyKey = null) =>
        SendAsync(HttpMethod.Put, path, body, ct, idempotencyKey);
    public Task<JsonObject> GetAsync(string path, CancellationToken ct) => SendAsync(HttpMethod.Get, path, null, ct);

    /// <summary>GET that answers null on 404 instead of failing.</summary>
    public async Task<JsonObject?> FindAsync(string path, CancellationToken ct)
    {
        try
        {
            return await GetAsync(path, ct);
        }
        catch (ServiceApiException e) when (e.Status == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private async Task<JsonObject> SendAsync(HttpMethod method, string path, JsonNode? body, CancellationToken ct, string? idempotencyKey = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (idempotencyKey is not null)
            request.Headers.Add(IdempotencyKeyHeader, idempotencyKey);
        if (body is not null)
            request.Content = new StringContent(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json");
        using var response = await http.SendAsync(request, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
            throw new ServiceApiException(service, method.Method, path, response.StatusCode, Explain(text));
        return text.Length == 0 ? [] : JsonNode.Parse(text) as JsonObject ?? new JsonObject { ["items"] = JsonNode.Parse(text) };
    }

    /// <summary>A ProblemDetails' detail (with its field errors or problems), else the body.</summary>
    private static string Explain(string text)
    {
        try
        {
            if (JsonNode.Parse(text) is JsonObject o)
            {
                var detail = (o["detail"] ?? o["title"] ?? o["message"])?.ToString() ?? text;
                if (o["errors"] is JsonObject errors)
                    detail += " " + string.Join("; ", errors.Select(e => $"{e.Key}: {e.Value?.ToJsonString()}"));
                if (o["problems"] is JsonArray problems)
                    detail += " " + problems.ToJsonString();
                return detail;
            }
        }
        catch (JsonException)
        {
        }
        return text.Length > 500 ? text[..500] : text;
    }
}

/// <summary>A non-2xx answer of a platform service, with the step failure kind it means.</summary>
public sealed class ServiceApiException(string service, string method, string path, HttpStatusCode status, string detail)
    : StepException(KindOf(status), $"{service} answered {(int)status} to {method} {path}: {detail}")
{
    public HttpStatusCode Status { get; } = status;

    private static string KindOf(HttpStatusCode status) => (int)status switch
    {
        429 => FailureKinds.Throttling,
        >= 500 or 408 => FailureKinds.ServiceFault,
        _ => FailureKinds.StepFailed,
    };
}

public sealed class FeatureStoreApi(HttpClient http) : ServiceApi(http, ResourceNames.FeatureStore);
public sealed class ServingApi(HttpClient http) : ServiceApi(http, ResourceNames.Serving);
public sealed class MonitorApi(HttpClient http) : ServiceApi(http, ResourceNames.Monitor);

public static class ServiceApiRegistration
{
    /// <summary>The typed clients of the services steps call, each sending the platform API key.</summary>
    public static IServiceCollection AddStepServiceClients(this IServiceCollection services, IConfiguration configuration)
    {
        var urls = configuration.GetSection(ServiceUrlOptions.Section).Get<ServiceUrlOptions>() ?? new ServiceUrlOptions();
        string Key(IServiceProvider sp) => sp.GetRequiredService<IConfiguration>()["Auth:ApiKey"] ?? "";
        void Configure(IServiceProvider sp, HttpClient client, string url)
        {
            client.BaseAddress = new Uri(url.TrimEnd('/') + "/");
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key(sp));
        }
        // The platform's default resilience handler (ServiceDefaults, for every client) is replaced on these clients by
        // one fitted to step calls (below); the default one is shared by all clients under one name and cannot be tuned per client.
        StepCalls(services.AddHttpClient<FeatureStoreApi>((sp, c) => Configure(sp, c, urls.FeatureStore)), retryWrites: false);
        StepCalls(services.AddHttpClient<ServingApi>((sp, c) => Configure(sp, c, urls.Serving)), retryWrites: false);
        StepCalls(services.AddHttpClient<MonitorApi>((sp, c) => Configure(sp, c, urls.Monitor)), retryWrites: false);
        services.AddExperimentTrackerClient(new Uri(urls.ExperimentTracker), Key);
        // The tracker's writes (runs, metrics, versions tagged with the step attempt) are safe to repeat: its retries stay.
        StepCalls(services.AddHttpClient<TrackingClient>(), retryWrites: true);
        return services;
    }

    /// <summary>
    /// The platform's standard resilience handler, fitted to step calls: an attempt may take as long as the call needs (a
    /// deployment's PUT loads the model; a quality check scores a window of capture) instead of the default 10 s. For the
    /// services whose POSTs and PUTs start work (jobs, deployments, runs) only safe methods are retried by the handler: a
    /// write is retried by the step's own retry policy, which finds the earlier attempt's work again, never blindly.
    /// </summary>
    public static void StepCallResilience(HttpStandardResilienceOptions o)
    {
        o.AttemptTimeout.Timeout = TimeSpan.FromMinutes(10);
        o.TotalRequestTimeout.Timeout = TimeSpan.FromMinutes(30);
        o.CircuitBreaker.SamplingDuration = TimeSpan.FromMinutes(20); // at least twice the attempt timeout (validated)
    }

    private static void StepCalls(IHttpClientBuilder client, bool retryWrites)
    {
        // Experimental (EXTEXP0001) but the documented way to override ConfigureHttpClientDefaults' handler for one client.
#pragma warning disable EXTEXP0001
        client.RemoveAllResilienceHandlers();
#pragma warning restore EXTEXP0001
        client.AddStandardResilienceHandler(o =>
        {
            StepCallResilience(o);
            if (!retryWrites)
                o.Retry.DisableForUnsafeHttpMethods();
        });
    }
}
