using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Mlops.Tests;

/// <summary>The pipeline runner's API as tests drive it: upsert, start, wait (failing fast on the wrong end), read steps.</summary>
internal static class PipelineApi
{
    private static readonly TimeSpan Finish = TimeSpan.FromMinutes(4);

    public static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..24];

    public static async Task UpsertAsync(HttpClient client, string name, string yaml)
    {
        using var response = await client.PutAsync($"/api/pipelines/{name}", new StringContent(yaml, Encoding.UTF8, "application/yaml"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"{response.StatusCode}: {body}");
    }

    public static async Task<Guid> StartAsync(HttpClient client, string name, JsonObject parameters)
    {
        using var response = await client.PostAsJsonAsync($"/api/pipelines/{name}/executions", new JsonObject { ["parameters"] = parameters.DeepClone() });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"{response.StatusCode}: {text}");
        return JsonNode.Parse(text)!["id"]!.GetValue<Guid>();
    }

    public static async Task<JsonObject> GetAsync(HttpClient client, Guid id) =>
        JsonNode.Parse(await client.GetStringAsync($"/api/executions/{id}"))!.AsObject();

    public static Task<JsonObject> WaitForAsync(HttpClient client, Guid id, string status, TimeSpan? timeout = null)
    {
        JsonObject? last = null;
        return Poll.UntilAsync(async () =>
        {
            try
            {
                last = await GetAsync(client, id);
            }
            catch (HttpRequestException)
            {
                return null; // the runner is restarting
            }
            var now = last["status"]!.GetValue<string>();
            if (now != status && now is "succeeded" or "failed" or "stopped")
                throw new Xunit.Sdk.XunitException($"execution {id} ended {now}, not {status}: {Summary(last)}");
            return now == status ? last : null;
        }, timeout ?? Finish, () => $"execution {id} to be {status}; last: {(last is null ? "none" : Summary(last))}");
    }

    /// <summary>Status, error and each step's status and error: what a failure message needs (the parameters are long).</summary>
    public static string Summary(JsonObject execution) =>
        $"{execution["status"]} ({execution["error"]}); " + string.Join("; ", execution["steps"]!.AsArray()
            .Select(s => $"{s!["step"]}{(s["item"] is null ? "" : $"[{s["item"]}]")}: {s["status"]} (claims {s["claims"]}){(s["error"] is null ? "" : $" {s["error"]}")}"));

    public static JsonObject Step(JsonObject execution, string step) =>
        execution["steps"]!.AsArray().Select(s => s!.AsObject()).Single(s => s["step"]!.GetValue<string>() == step && s["item"] is null);

    public static string Status(JsonObject execution, string step) =>
        execution["steps"]!.AsArray().Any(s => s!["step"]!.GetValue<string>() == step && s["item"] is null)
            ? Step(execution, step)["status"]!.GetValue<string>()
            : "absent";

    /// <summary>Stops a resource (every replica), waits for it to be down, starts it and waits until it is healthy again.</summary>
    public static Task RestartAsync(PlatformFixture platform, string resource) => platform.RestartAsync(resource);
}
