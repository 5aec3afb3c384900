using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Mlops.Tests;

public sealed class PlatformTests(PlatformFixture platform)
{
    [Fact]
    public async Task EveryResource_IsHealthy()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        foreach (var name in PlatformFixture.Infrastructure.Concat(PlatformFixture.Services))
        {
            var resourceEvent = await platform.App.ResourceNotifications.WaitForResourceHealthyAsync(name, timeout.Token);
            Assert.Equal(HealthStatus.Healthy, resourceEvent.Snapshot.HealthStatus);
        }
    }

    [Fact]
    public async Task Dashboard_Answers()
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var response = await client.GetAsync(platform.DashboardUrl);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("Aspire", html);
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task Service_AnswersHealthAndAlivenessWithoutCredentials(string service)
    {
        using var client = platform.CreateClient(service, authenticated: false);
        foreach (var path in new[] { "/health", "/alive" })
        {
            var response = await client.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("Healthy", await response.Content.ReadAsStringAsync());
        }
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task Service_WithoutCredentials_Returns401ProblemDetails(string service)
    {
        using var client = platform.CreateClient(service, authenticated: false);
        var response = await client.GetAsync($"/api/diagnostics/probes/{Guid.NewGuid()}");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("Bearer", response.Headers.WwwAuthenticate.ToString());
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(401, problem.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task WrongApiKey_Returns401ProblemDetailsSayingSo()
    {
        using var client = platform.CreateClient(ResourceNames.Monitor, authenticated: false);
        client.DefaultRequestHeaders.Authorization = new("Bearer", "not-the-key-" + Guid.NewGuid());
        var response = await client.GetAsync($"/api/diagnostics/probes/{Guid.NewGuid()}");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("The API key is not valid.", problem.GetProperty("detail").GetString());
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task Service_PublishesItsOpenApiDocument(string service)
    {
        using var client = platform.CreateClient(service);
        var document = await client.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        Assert.True(document.GetProperty("paths").TryGetProperty("/api/diagnostics/probes", out _));
        Assert.True(document.GetProperty("components").GetProperty("securitySchemes").TryGetProperty("bearer", out _));
    }

    [Fact]
    public async Task MalformedJson_Returns400ProblemDetailsAndWritesNothing()
    {
        using var client = platform.CreateClient(ResourceNames.FeatureStore);
        var before = await CountProbesAsync();
        var response = await client.PostAsync("/api/diagnostics/probes", new StringContent("{\"note\": ", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains("JSON", problem.GetProperty("detail").GetString());
        Assert.Equal(before, await CountProbesAsync());
    }

    [Fact]
    public async Task InvalidField_Returns400ValidationProblemNamingIt()
    {
        using var client = platform.CreateClient(ResourceNames.FeatureStore);
        var before = await CountProbesAsync();
        var response = await client.PostAsJsonAsync("/api/diagnostics/probes", new { note = new string('x', 201) });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains("201 characters", problem.GetProperty("errors").GetProperty("note")[0].GetString());
        Assert.Equal(before, await CountProbesAsync());
    }

    [Fact]
    public async Task OversizedBody_Returns413ProblemDetailsStatingTheLimit()
    {
        using var client = platform.CreateClient(ResourceNames.FeatureStore);
        var before = await CountProbesAsync();
        var body = new ByteArrayContent(new byte[33 * 1024 * 1024]);
        body.Headers.ContentType = new("application/json");
        // As a well-behaved client sending a large body does: ask first, so the server can refuse before the upload.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/diagnostics/probes") { Content = body };
        request.Headers.ExpectContinue = true;
        var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(problem.TryGetProperty("detail", out _), problem.ToString());
        Assert.Contains((32 * 1024 * 1024).ToString(), problem.GetProperty("detail").GetString());
        Assert.Equal(before, await CountProbesAsync());
    }

    [Fact]
    public async Task Migrations_ApplyThePlatformTablesBeforeTheServiceOwn()
    {
        await using var db = await platform.OpenDatabaseAsync(ResourceNames.ExperimentTracker);
        await using var command = new Npgsql.NpgsqlCommand("SELECT scriptname FROM schemaversions ORDER BY schemaversionsid", db);
        var applied = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync())
            while (await reader.ReadAsync())
                applied.Add(reader.GetString(0));

        var platformScripts = applied.FindAll(n => n.StartsWith("Mlops.ServiceDefaults.", StringComparison.Ordinal));
        var serviceScripts = applied.FindAll(n => n.StartsWith("Mlops.ExperimentTracker.", StringComparison.Ordinal));
        Assert.NotEmpty(platformScripts);
        Assert.NotEmpty(serviceScripts);
        Assert.True(applied.IndexOf(platformScripts[^1]) < applied.IndexOf(serviceScripts[0]), string.Join(", ", applied));
    }

    public static TheoryData<string> Services() => new(PlatformFixture.Services);

    private async Task<long> CountProbesAsync()
    {
        await using var db = await platform.OpenDatabaseAsync(ResourceNames.FeatureStore);
        await using var command = new Npgsql.NpgsqlCommand("SELECT count(*) FROM bus_probes", db);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
