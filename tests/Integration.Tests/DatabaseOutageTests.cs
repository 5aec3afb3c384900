using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;
using Mlops.ServiceDefaults.Diagnostics;

namespace Mlops.Tests;

/// <summary>
/// PostgreSQL stopped under running services: requests answer 503 with Retry-After in the route's own error format
/// (ProblemDetails on native routes, MLflow's TEMPORARILY_UNAVAILABLE under MLflow's), never a 500; a write acknowledged
/// before the outage is still there after it, and the services come back healthy by themselves.
/// </summary>
[Collection(FaultsCollection.Name)]
public sealed class DatabaseOutageTests(PlatformFixture platform)
{
    [Fact]
    public async Task WhilePostgresIsDown_RequestsAnswer503WithRetryAfter_AndNoAcknowledgedWriteIsLost()
    {
        using var before = platform.CreateClient(ResourceNames.FeatureStore);
        var acknowledged = await before.PostAsJsonAsync("/api/diagnostics/probes", new { note = "written before the outage" });
        Assert.Equal(HttpStatusCode.Accepted, acknowledged.StatusCode);
        var probe = (await acknowledged.Content.ReadFromJsonAsync<ProbeResponse>())!;

        var commands = platform.App.Services.GetRequiredService<ResourceCommandService>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var stop = await commands.ExecuteCommandAsync(ResourceNames.Postgres, KnownResourceCommands.StopCommand, timeout.Token);
        Assert.True(stop.Success, stop.Message);
        try
        {
            await platform.App.ResourceNotifications.WaitForResourceAsync(ResourceNames.Postgres,
                e => e.Snapshot.State?.Text is "Exited" or "Finished" or "Stopped", timeout.Token);

            // Plain clients: no resilience handler retrying the 503s away.
            using var featureStore = PlainClient(ResourceNames.FeatureStore);
            var native = await featureStore.GetAsync("/api/feature-groups");
            await AssertUnavailableAsync(native, mlflow: false);
            var write = await featureStore.PostAsJsonAsync("/api/diagnostics/probes", new { note = "written during the outage" });
            await AssertUnavailableAsync(write, mlflow: false);

            using var tracker = PlainClient(ResourceNames.ExperimentTracker);
            var search = await tracker.PostAsJsonAsync("/api/2.0/mlflow/experiments/search", new { max_results = 10 });
            await AssertUnavailableAsync(search, mlflow: true);
        }
        finally
        {
            var start = await commands.ExecuteCommandAsync(ResourceNames.Postgres, KnownResourceCommands.StartCommand, timeout.Token);
            Assert.True(start.Success, start.Message);
        }

        await platform.App.ResourceNotifications.WaitForResourceHealthyAsync(ResourceNames.Postgres, timeout.Token);
        await platform.WaitHealthyAsync(timeout.Token);
        using var after = platform.CreateClient(ResourceNames.FeatureStore);
        var kept = await Poll.UntilAsync(async () =>
        {
            var response = await after.GetAsync($"/api/diagnostics/probes/{probe.ProbeId}");
            return response.StatusCode == HttpStatusCode.OK ? await response.Content.ReadFromJsonAsync<ProbeReceiptsResponse>() : null;
        }, TimeSpan.FromMinutes(1), $"the probe acknowledged before the outage ({probe.ProbeId}) to be readable again");
        Assert.Equal(probe.ProbeId, kept.ProbeId);
    }

    private HttpClient PlainClient(string service)
    {
        var client = new HttpClient { BaseAddress = platform.App.GetEndpoint(service, "http"), Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", platform.ApiKey);
        return client;
    }

    private static async Task AssertUnavailableAsync(HttpResponseMessage response, bool mlflow)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"{response.RequestMessage?.RequestUri}: {(int)response.StatusCode} {body}");
        Assert.NotNull(response.Headers.RetryAfter);
        var json = JsonDocument.Parse(body).RootElement;
        if (mlflow)
            Assert.Equal("TEMPORARILY_UNAVAILABLE", json.GetProperty("error_code").GetString());
        else
        {
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal(503, json.GetProperty("status").GetInt32());
        }
    }
}
