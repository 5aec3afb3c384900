using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;

namespace Mlops.Tests;

/// <summary>MLflow's artifact proxy (<c>/api/2.0/mlflow-artifacts</c>) and <c>artifacts/list</c>, stored in the S3 artifact bucket.</summary>
public sealed partial class ExperimentTrackerTests
{
    private const string Artifacts = "/api/2.0/mlflow-artifacts/artifacts";

    [Fact]
    public async Task Artifacts_UploadDownloadListDelete_ByteExact_IncludingAMultipartUpload()
    {
        var experiment = await CreateExperimentAsync(Unique("artifacts"));
        var run = await GetRunAsync(await CreateRunAsync(experiment));
        var runId = run.GetProperty("info").GetProperty("run_id").GetString()!;
        var artifactUri = run.GetProperty("info").GetProperty("artifact_uri").GetString()!;
        Assert.Equal($"mlflow-artifacts:/{experiment}/{runId}/artifacts", artifactUri);
        var root = artifactUri["mlflow-artifacts:/".Length..];

        var mlmodel = "artifact_path: model\nflavors:\n  mlnet: {}\n"u8.ToArray();
        var weights = RandomNumberGenerator.GetBytes(20 * 1024 * 1024 + 123); // above the single-PUT threshold: multipart
        await PutArtifactAsync($"{root}/model/MLmodel", mlmodel, chunked: false);
        await PutArtifactAsync($"{root}/model/weights.bin", weights, chunked: true);
        await PutArtifactAsync($"{root}/metrics.json", "{\"auc\": 0.9}"u8.ToArray(), chunked: false);

        Assert.Equal(mlmodel, await _client.GetByteArrayAsync($"{Artifacts}/{root}/model/MLmodel"));
        Assert.Equal(SHA256.HashData(weights), SHA256.HashData(await _client.GetByteArrayAsync($"{Artifacts}/{root}/model/weights.bin")));
        using (var json = await _client.GetAsync($"{Artifacts}/{root}/metrics.json"))
            Assert.Equal("application/json", json.Content.Headers.ContentType?.MediaType);

        // The proxy's listing names entries by their base name; the run's listing by the path under its artifact root.
        var proxied = await ReadOkAsync(await _client.GetAsync($"{Artifacts}?path={root}/model"));
        Assert.Equal([("MLmodel", false, (long?)mlmodel.Length), ("weights.bin", false, weights.Length)], Files(proxied));
        var top = await GetAsync($"artifacts/list?run_id={runId}");
        Assert.Equal(artifactUri, top.GetProperty("root_uri").GetString());
        Assert.Equal([("metrics.json", false, (long?)12), ("model", true, null)], Files(top));
        var model = await GetAsync($"artifacts/list?run_id={runId}&path=model");
        Assert.Equal([("model/MLmodel", false, (long?)mlmodel.Length), ("model/weights.bin", false, weights.Length)], Files(model));

        // Deleting a file, then a folder with what is left under it.
        Assert.Equal(HttpStatusCode.OK, (await _client.DeleteAsync($"{Artifacts}/{root}/model/weights.bin")).StatusCode);
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", _client.GetAsync($"{Artifacts}/{root}/model/weights.bin"));
        Assert.Equal([("model/MLmodel", false, (long?)mlmodel.Length)], Files(await GetAsync($"artifacts/list?run_id={runId}&path=model")));
        Assert.Equal(HttpStatusCode.OK, (await _client.DeleteAsync($"{Artifacts}/{root}/model")).StatusCode);
        Assert.Equal([("metrics.json", false, (long?)12)], Files(await GetAsync($"artifacts/list?run_id={runId}")));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", _client.DeleteAsync($"{Artifacts}/{root}/model"));
    }

    [Theory]
    [InlineData("{root}/../../../escape.txt")]
    [InlineData("{root}/%2e%2e/%2e%2e/escape.txt")]
    [InlineData("{root}/%252e%252e/escape.txt")]
    [InlineData("{root}/..%2F..%2Fescape.txt")]
    [InlineData("{root}/a%5C..%5Cescape.txt")]
    [InlineData("/etc/escape.txt")]
    [InlineData("C:/escape.txt")]
    [InlineData("{root}//escape.txt")]
    public async Task Artifacts_TraversalAndAbsolutePaths_Are400_AndWriteNothing(string template)
    {
        var experiment = await CreateExperimentAsync(Unique("traversal"));
        var runId = await CreateRunAsync(experiment);
        var root = $"{experiment}/{runId}/artifacts";
        var path = template.Replace("{root}", root);

        // Sent exactly as written: HttpClient would otherwise resolve the dot segments itself.
        var uri = new Uri($"{_client.BaseAddress!.ToString().TrimEnd('/')}{Artifacts}/{path}",
            new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
        using var request = new HttpRequestMessage(HttpMethod.Put, uri) { Content = new ByteArrayContent("evil"u8.ToArray()) };
        var message = await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", _client.SendAsync(request));
        Assert.Contains("artifact path", message);

        // Nothing anywhere under the experiment, the run, or the bucket's top level.
        Assert.Empty(Files(await ReadOkAsync(await _client.GetAsync($"{Artifacts}?path={experiment}/{runId}"))));
        Assert.DoesNotContain(Files(await ReadOkAsync(await _client.GetAsync(Artifacts))), f => f.Path.Contains("escape"));
    }

    [Fact]
    public async Task Artifacts_NulInPath_IsRefusedByTheServerAndWritesNothing()
    {
        var experiment = await CreateExperimentAsync(Unique("nul"));
        var runId = await CreateRunAsync(experiment);
        // Kestrel refuses a NUL in the request line itself (a bare 400) before the proxy sees it.
        using var response = await _client.PutAsync($"{Artifacts}/{experiment}/{runId}/artifacts/escape%00.txt", new ByteArrayContent("x"u8.ToArray()));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Empty(Files(await ReadOkAsync(await _client.GetAsync($"{Artifacts}?path={experiment}"))));
    }

    [Fact]
    public async Task Artifacts_UnknownOrInactiveOwners_AreRefusedAndWriteNothing()
    {
        var experiment = await CreateExperimentAsync(Unique("owners"));
        var runId = await CreateRunAsync(experiment);
        var other = await CreateExperimentAsync(Unique("other"));

        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", Put($"987654321/{runId}/artifacts/x.txt"));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", Put($"{other}/{runId}/artifacts/x.txt"));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", Put($"{experiment}/{Guid.NewGuid():N}/artifacts/x.txt"));
        await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", Put("no-experiment/x.txt"));
        await PostAsync("runs/delete", new { run_id = runId });
        await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", Put($"{experiment}/{runId}/artifacts/x.txt"));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", _client.GetAsync($"{Artifacts}/{experiment}/{runId}/artifacts/x.txt"));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", _client.GetAsync($"{Api}/artifacts/list?run_id={Guid.NewGuid():N}"));

        Assert.Empty(Files(await ReadOkAsync(await _client.GetAsync($"{Artifacts}?path={experiment}"))));
        Assert.Empty(Files(await ReadOkAsync(await _client.GetAsync($"{Artifacts}?path={other}"))));

        Task<HttpResponseMessage> Put(string path) => _client.PutAsync($"{Artifacts}/{path}", new ByteArrayContent("x"u8.ToArray()));
    }

    private async Task PutArtifactAsync(string path, byte[] content, bool chunked)
    {
        // A client streaming a file it has not measured sends it chunked, with no Content-Length.
        HttpContent body = chunked ? new StreamContent(new NonSeekableStream(content)) : new ByteArrayContent(content);
        body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        await ReadOkAsync(await _client.PutAsync($"{Artifacts}/{path}", body));
    }

    private static List<(string Path, bool IsDir, long? Size)> Files(JsonElement listing) =>
        Names(listing, "files", f => (f.GetProperty("path").GetString()!, f.TryGetProperty("is_dir", out var d) && d.GetBoolean(),
            f.TryGetProperty("file_size", out var s) ? s.GetInt64() : (long?)null));

    private sealed class NonSeekableStream(byte[] content) : MemoryStream(content, writable: false)
    {
        public override bool CanSeek => false;
    }
}
