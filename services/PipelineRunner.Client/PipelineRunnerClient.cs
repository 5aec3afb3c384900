using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Microsoft.Extensions.DependencyInjection;

namespace Mlops.PipelineRunner.Client;

/// <summary>
/// The PipelineRunner's API over HTTP: pipelines and their versions, executions (start, stop, retry, steps and DAG),
/// cron schedules and event triggers. Register with <see cref="PipelineRunnerClientServiceCollectionExtensions.AddPipelineRunnerClient"/>
/// (service discovery and the platform API key) or construct over an <see cref="HttpClient"/> whose base address is the
/// service and whose Authorization header carries the key. Refusals throw <see cref="PipelineRunnerException"/>.
/// </summary>
public sealed partial class PipelineRunnerClient(HttpClient http)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    // ---- pipelines ---------------------------------------------------------------------------------------------

    /// <summary>Creates or updates a pipeline from YAML (default) or JSON text; a changed definition is a new version.</summary>
    public async Task<PipelineVersion> UpsertPipelineAsync(string name, string definition, string contentType = "application/yaml",
        CancellationToken ct = default)
    {
        using var content = new StringContent(definition, Encoding.UTF8, contentType);
        using var response = await http.PutAsync($"api/pipelines/{Escape(name)}", content, ct);
        return await ReadAsync<PipelineVersion>(response, ct);
    }

    /// <summary>Creates or updates a pipeline from a definition built in code (serialised as JSON).</summary>
    public Task<PipelineVersion> UpsertPipelineAsync(string name, JsonObject definition, CancellationToken ct = default) =>
        UpsertPipelineAsync(name, definition.ToJsonString(), "application/json", ct);

    public Task<List<PipelineSummary>> ListPipelinesAsync(CancellationToken ct = default) => GetAsync<List<PipelineSummary>>("api/pipelines", ct);

    /// <summary>The latest version.</summary>
    public Task<PipelineVersion> GetPipelineAsync(string name, CancellationToken ct = default) =>
        GetAsync<PipelineVersion>($"api/pipelines/{Escape(name)}", ct);

    public Task<List<PipelineVersion>> ListVersionsAsync(string name, CancellationToken ct = default) =>
        GetAsync<List<PipelineVersion>>($"api/pipelines/{Escape(name)}/versions", ct);

    public Task<PipelineVersion> GetVersionAsync(string name, int version, CancellationToken ct = default) =>
        GetAsync<PipelineVersion>($"api/pipelines/{Escape(name)}/versions/{version}", ct);

    // ---- executions --------------------------------------------------------------------------------------------

    public Task<Execution> StartExecutionAsync(string pipeline, StartExecutionRequest? request = null, CancellationToken ct = default) =>
        SendAsync<Execution>(HttpMethod.Post, $"api/pipelines/{Escape(pipeline)}/executions", request ?? new StartExecutionRequest(), ct);

    /// <summary>Newest first, optionally of one pipeline or in one status.</summary>
    public Task<List<Execution>> ListExecutionsAsync(string? pipeline = null, string? status = null, int? limit = null, CancellationToken ct = default)
    {
        var query = new List<string>();
        if (pipeline is not null) query.Add($"pipeline={Escape(pipeline)}");
        if (status is not null) query.Add($"status={Escape(status)}");
        if (limit is not null) query.Add($"limit={limit}");
        return GetAsync<List<Execution>>("api/executions" + (query.Count > 0 ? "?" + string.Join('&', query) : ""), ct);
    }

    /// <summary>The execution with its step runs and DAG.</summary>
    public Task<Execution> GetExecutionAsync(Guid id, CancellationToken ct = default) => GetAsync<Execution>($"api/executions/{id}", ct);

    public Task<List<StepRun>> GetStepsAsync(Guid id, CancellationToken ct = default) => GetAsync<List<StepRun>>($"api/executions/{id}/steps", ct);

    /// <summary>Stops a running execution (409 once it has ended).</summary>
    public Task<Execution> StopExecutionAsync(Guid id, CancellationToken ct = default) =>
        SendAsync<Execution>(HttpMethod.Post, $"api/executions/{id}/stop", null, ct);

    /// <summary>Runs a failed or stopped execution again from where it ended (409 otherwise).</summary>
    public Task<Execution> RetryExecutionAsync(Guid id, CancellationToken ct = default) =>
        SendAsync<Execution>(HttpMethod.Post, $"api/executions/{id}/retry", null, ct);

    /// <summary>
    /// Approves a waiting approval step (<paramref name="item"/>: the fan-out item, if any). Unknown execution or step →
    /// 404; a step that is not an approval, or not waiting → 409 (<see cref="PipelineRunnerException"/>).
    /// </summary>
    public Task<Execution> ApproveStepAsync(Guid id, string step, string? by = null, string? comment = null, int? item = null, CancellationToken ct = default) =>
        SendAsync<Execution>(HttpMethod.Post, $"api/executions/{id}/steps/{Escape(step)}/approve{ItemQuery(item)}", new ApprovalDecision(by, comment), ct);

    /// <summary>Rejects a waiting approval step: the execution fails with the reason. Same errors as <see cref="ApproveStepAsync"/>.</summary>
    public Task<Execution> RejectStepAsync(Guid id, string step, string? by = null, string? comment = null, int? item = null, CancellationToken ct = default) =>
        SendAsync<Execution>(HttpMethod.Post, $"api/executions/{id}/steps/{Escape(step)}/reject{ItemQuery(item)}", new ApprovalDecision(by, comment), ct);

    /// <summary>A step's log as text (for a train step: its training job's log).</summary>
    public async Task<string> GetStepLogAsync(Guid id, string step, int? item = null, CancellationToken ct = default)
    {
        using var response = await http.GetAsync($"api/executions/{id}/steps/{Escape(step)}/logs{ItemQuery(item)}", ct);
        if (!response.IsSuccessStatusCode)
            throw await PipelineRunnerException.FromAsync(response, ct);
        return await response.Content.ReadAsStringAsync(ct);
    }

    private static string ItemQuery(int? item) => item is { } i ? $"?item={i}" : "";

    /// <summary>Polls (with back-off up to 2 s) until the execution has ended, or <paramref name="ct"/> is cancelled.</summary>
    public async Task<Execution> WaitForExecutionAsync(Guid id, CancellationToken ct = default)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            var execution = await GetExecutionAsync(id, ct);
            if (execution.IsTerminal)
                return execution;
            await Task.Delay(delay, ct);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 2000));
        }
    }

    // ---- schedules and triggers --------------------------------------------------------------------------------

    public Task<Schedule> CreateScheduleAsync(string pipeline, CreateScheduleRequest request, CancellationToken ct = default) =>
        SendAsync<Schedule>(HttpMethod.Post, $"api/pipelines/{Escape(pipeline)}/schedules", request, ct);

    public Task<List<Schedule>> ListSchedulesAsync(string pipeline, CancellationToken ct = default) =>
        GetAsync<List<Schedule>>($"api/pipelines/{Escape(pipeline)}/schedules", ct);

    /// <summary>The schedule with its latest firings (occurrence, execution, skipped occurrences).</summary>
    public Task<Schedule> GetScheduleAsync(string pipeline, string name, CancellationToken ct = default) =>
        GetAsync<Schedule>($"api/pipelines/{Escape(pipeline)}/schedules/{Escape(name)}", ct);

    public Task DeleteScheduleAsync(string pipeline, string name, CancellationToken ct = default) =>
        DeleteAsync($"api/pipelines/{Escape(pipeline)}/schedules/{Escape(name)}", ct);

    public Task<Trigger> CreateTriggerAsync(string pipeline, CreateTriggerRequest request, CancellationToken ct = default) =>
        SendAsync<Trigger>(HttpMethod.Post, $"api/pipelines/{Escape(pipeline)}/triggers", request, ct);

    public Task<List<Trigger>> ListTriggersAsync(string pipeline, CancellationToken ct = default) =>
        GetAsync<List<Trigger>>($"api/pipelines/{Escape(pipeline)}/triggers", ct);

    /// <summary>The trigger with its latest firings (event key, status, execution).</summary>
    public Task<Trigger> GetTriggerAsync(string pipeline, string name, CancellationToken ct = default) =>
        GetAsync<Trigger>($"api/pipelines/{Escape(pipeline)}/triggers/{Escape(name)}", ct);

    public Task DeleteTriggerAsync(string pipeline, string name, CancellationToken ct = default) =>
        DeleteAsync($"api/pipelines/{Escape(pipeline)}/triggers/{Escape(name)}", ct);

    // ---- plumbing ----------------------------------------------------------------------------------------------

    private async Task<T> GetAsync<T>(string path, CancellationToken ct)
    {
        using var response = await http.GetAsync(path, ct);
        return await ReadAsync<T>(response, ct);
    }

    private async Task<T> SendAsync<T>(HttpMethod method, string path, object? body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body, body.GetType(), options: Json) };
        using var response = await http.SendAsync(request, ct);
        return await ReadAsync<T>(response, ct);
    }

    private async Task DeleteAsync(string path, CancellationToken ct)
    {
        using var response = await http.DeleteAsync(path, ct);
        if (!response.IsSuccessStatusCode)
            throw await PipelineRunnerException.FromAsync(response, ct);
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, CancellationToken ct)
    {
        if (!response.IsSuccessStatusCode)
            throw await PipelineRunnerException.FromAsync(response, ct);
        return (await response.Content.ReadFromJsonAsync<T>(Json, ct))!;
    }

    private static string Escape(string value) => Uri.EscapeDataString(value);
}

/// <summary>Who decided an approval, and why (both optional).</summary>
public sealed record ApprovalDecision(string? By, string? Comment);

/// <summary>A refused request: the HTTP status, the ProblemDetails' detail and, for invalid input, every problem with its path.</summary>
public sealed class PipelineRunnerException(HttpStatusCode status, string detail, IReadOnlyList<Problem> problems)
    : Exception($"{(int)status}: {detail}")
{
    public HttpStatusCode Status { get; } = status;
    public string Detail { get; } = detail;
    public IReadOnlyList<Problem> Problems { get; } = problems;

    internal static async Task<PipelineRunnerException> FromAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var text = await response.Content.ReadAsStringAsync(ct);
        string detail = text;
        var problems = new List<Problem>();
        try
        {
            if (JsonNode.Parse(text) is JsonObject o)
            {
                detail = (string?)o["detail"] ?? (string?)o["title"] ?? text;
                foreach (var p in o["problems"] as JsonArray ?? [])
                    problems.Add(new Problem((string?)p?["path"] ?? "", (string?)p?["message"] ?? ""));
            }
        }
        catch (JsonException)
        {
        }
        return new PipelineRunnerException(response.StatusCode, detail, problems);
    }
}

/// <summary>Registration of <see cref="PipelineRunnerClient"/>.</summary>
public static class PipelineRunnerClientServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="PipelineRunnerClient"/> as a typed HTTP client at <paramref name="baseAddress"/> (e.g.
    /// <c>http://pipelinerunner</c> with service discovery), sending <paramref name="apiKey"/> as the bearer token.
    /// </summary>
    public static IHttpClientBuilder AddPipelineRunnerClient(this IServiceCollection services, Uri baseAddress, Func<IServiceProvider, string> apiKey) =>
        services.AddHttpClient<PipelineRunnerClient>((sp, client) =>
        {
            client.BaseAddress = baseAddress;
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey(sp));
        });
}
