using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Amazon.S3;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using DuckDB.NET.Data;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Mlops;
using Mlops.ServiceDefaults.Storage;

// The feature store's benchmarks against the real platform (AppHost in LocalProcesses mode, throwaway data, the other
// services left out):
//   1. ingestion of flights-3m.parquet (3,000,000 rows) as a file upload, into both stores, three groups;
//   2. online reads of 1 entity × 50 features and 100 entities × 50 features over HTTP on loopback: p50/p99, requests/s;
//   3. a training set of 1,000,000 entity rows joined against the three flights groups (a job).
// Requests go to the service's own port, not through the AppHost's endpoint proxy (which production does not have).
// Usage: dotnet run -c Release --project benchmarks/FeatureStore.Benchmarks [-- --reads 5000 --entity-rows 1000000 --only online]
//   --only ingestion|online|training   one part (training needs ingestion's groups, so it runs both)
Mlops.Benchmarks.ServiceUnderTest.InlineClientSockets();
var reads = ArgInt("--reads", 5000);
var only = ArgString("--only");
bool Runs(string part) => only is null || only == part || (only == "training" && part == "ingestion");
var entityRows = ArgInt("--entity-rows", 1_000_000);
var root = FindRoot();
var flights = Path.Combine(root, "eng/node/node_modules/vega-datasets/data/flights-3m.parquet");
if (!File.Exists(flights))
    throw new FileNotFoundException("Run eng/bootstrap.sh (npm ci in eng/node) first: the flights data is missing.", flights);

var data = Path.Combine(Path.GetTempPath(), $"fs-bench-{Guid.NewGuid():N}");
Console.WriteLine($"# FeatureStore benchmarks {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, load average {LoadAverage()}");
var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(
[
    "--Infrastructure:Mode=LocalProcesses", $"--Infrastructure:DataDirectory={data}", "--Infrastructure:Durable=false",
    $"--ASPNETCORE_URLS=http://127.0.0.1:{FreePort()}", $"--ASPIRE_DASHBOARD_OTLP_HTTP_ENDPOINT_URL=http://127.0.0.1:{FreePort()}",
    "--ASPIRE_ALLOW_UNSECURED_TRANSPORT=true",
    "--Sample:Enabled=false", // the sample scenario trains a model at start-up: not what is measured here
]);
Mlops.Benchmarks.ServiceUnderTest.Isolate(builder, ResourceNames.FeatureStore);
// Only warnings, and the feature store's own log lines (batch and join timings), reach the console.
builder.Services.AddLogging(logging => logging.AddFilter((category, level) =>
    level >= LogLevel.Warning || (category == $"AppHost.Resources.{ResourceNames.FeatureStore}" && level >= LogLevel.Information)));
await using var app = await builder.BuildAsync();
using (var start = new CancellationTokenSource(TimeSpan.FromMinutes(6)))
{
    await app.StartAsync(start.Token);
    foreach (var name in new[] { ResourceNames.Postgres, ResourceNames.S3, ResourceNames.FeatureStore })
        await app.ResourceNotifications.WaitForResourceHealthyAsync(name, start.Token);
}
var model = app.Services.GetRequiredService<DistributedApplicationModel>();
string Secret(string name) => model.Resources.OfType<ParameterResource>().Single(p => p.Name == name).GetValueAsync(default).AsTask().Result!;
var (address, addressDescription) = Mlops.Benchmarks.ServiceAddress.Direct(app, ResourceNames.FeatureStore);
Console.WriteLine($"feature store: {address} ({addressDescription})");
using var client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = Timeout.InfiniteTimeSpan, UseProxy = false })
{
    BaseAddress = address,
    Timeout = TimeSpan.FromMinutes(10),
};
client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Secret(ResourceNames.ApiKey));
using var s3 = S3Extensions.CreateClient(new S3Options
{
    ServiceUrl = app.GetEndpoint(ResourceNames.S3, "http").ToString(), AccessKey = "S3RVER", SecretKey = Secret(ResourceNames.S3SecretKey),
});

try
{
    // 1. Ingestion: the same 3M-row file into three groups keyed by origin, by destination and by route.
    JsonObject Group(string name, params string[] keys) => new()
    {
        ["name"] = name,
        ["entity_keys"] = new JsonArray([.. keys.Select(k => (JsonNode)new JsonObject { ["name"] = k, ["type"] = "string" })]),
        ["event_time"] = "date",
        ["ttl_seconds"] = 7 * 24 * 3600,
        ["features"] = new JsonArray([.. new[] { ("delay", "int64"), ("distance", "int64"), ("origin", "string"), ("destination", "string") }
            .Where(f => !keys.Contains(f.Item1)).Select(f => (JsonNode)new JsonObject { ["name"] = f.Item1, ["type"] = f.Item2 })]),
    };
    var groups = new[] { ("by_origin", new[] { "origin" }), ("by_destination", new[] { "destination" }), ("by_route", new[] { "origin", "destination" }) };
    var bytes = Runs("ingestion") ? await File.ReadAllBytesAsync(flights) : [];
    Console.WriteLine($"\n## Ingestion: flights-3m.parquet ({bytes.Length / 1e6:0.0} MB) uploaded per group");
    foreach (var (name, keys) in Runs("ingestion") ? groups : [])
    {
        await Ok(await client.PostAsJsonAsync("/api/feature-groups", Group(name, keys)));
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/vnd.apache.parquet");
        var watch = Stopwatch.StartNew();
        var result = await Ok(await client.PostAsync($"/api/feature-groups/{name}/files", content));
        watch.Stop();
        var rows = (long)result["rows"]!;
        Console.WriteLine($"- {name}: {rows:N0} rows in {watch.Elapsed.TotalSeconds:0.00} s = {rows / watch.Elapsed.TotalSeconds:N0} rows/s "
            + $"(server {(double)result["seconds"]!:0.00} s; {(int)result["offline_files"]!} Parquet files, {(int)result["online_entities"]!} online entities)");
    }

    // 2. Online reads: a group of 50 double features over 10,000 entities.
    const int Entities = 10_000;
    var wide = new JsonObject
    {
        ["name"] = "wide",
        ["entity_keys"] = new JsonArray(new JsonObject { ["name"] = "entity_id", ["type"] = "int64" }),
        ["event_time"] = "ts",
        ["features"] = new JsonArray([.. Enumerable.Range(0, 50).Select(i => (JsonNode)new JsonObject { ["name"] = $"f{i:00}", ["type"] = "double" })]),
    };
    if (Runs("online"))
        await Ok(await client.PostAsJsonAsync("/api/feature-groups", wide));
    var random = new Random(7);
    for (var offset = 0; offset < (Runs("online") ? Entities : 0); offset += 2000)
    {
        var records = new JsonArray();
        for (var e = offset; e < offset + 2000; e++)
        {
            var record = new JsonObject { ["entity_id"] = e, ["ts"] = DateTime.UtcNow.AddMinutes(-random.Next(1000)).ToString("O") };
            for (var f = 0; f < 50; f++) record[$"f{f:00}"] = Math.Round(random.NextDouble() * 1000, 3);
            records.Add(record);
        }
        await Ok(await client.PostAsJsonAsync("/api/feature-groups/wide/records", new JsonObject { ["records"] = records }));
    }
    // Each shape: warm-up until the services' code has settled (at least 10 s and 2,000 requests: tiered compilation
    // and PGO keep recompiling hot methods in the background for several seconds, and on 2 cores that compilation sits
    // in the tail; a bare Kestrel app on this machine has p99 2-3 ms for its first ~10,000 requests, 0.4 ms after), then
    // `reads` sequential requests timed, then 4 concurrent clients for 10 s.
    // The first shape is the floor under every figure below: the same client, loopback and server pipeline, answering
    // the liveness probe (no authentication, no database) instead of reading features.
    async Task MeasureAsync(string title, Func<int, Task<double>> one, bool throughput)
    {
        var warm = Stopwatch.StartNew();
        var warmups = 0;
        while (warm.Elapsed < TimeSpan.FromSeconds(10) || warmups < 2000) await one(warmups++);
        warm.Stop();
        var latencies = new List<double>(reads);
        for (var i = 0; i < reads; i++) latencies.Add(await one(i));
        latencies.Sort();
        Console.WriteLine($"\n## {title} ({reads} sequential requests after {warmups:N0} warm-up in {warm.Elapsed.TotalSeconds:0} s)");
        Console.WriteLine($"- p50 {Percentile(latencies, 0.50):0.00} ms, p90 {Percentile(latencies, 0.90):0.00} ms, p99 {Percentile(latencies, 0.99):0.00} ms, max {latencies[^1]:0.00} ms");
        if (!throughput)
            return;
        var done = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, 4).Select(async w =>
        {
            var i = w;
            while (clock.Elapsed < TimeSpan.FromSeconds(10)) { await one(i++); Interlocked.Increment(ref done); }
        }));
        Console.WriteLine($"- sequential: {reads / (latencies.Sum() / 1000):N0} requests/s; 4 concurrent clients: {done / clock.Elapsed.TotalSeconds:N0} requests/s");
    }
    // Time to the last byte of the answer, read into a buffer reused across requests: buffering each ~250 KB answer
    // of the 100-entity read would put the harness's own large-object allocations (and its gen-2 pauses) into the tail.
    var scratch = new byte[64 * 1024];
    async Task<double> SendAsync(Func<HttpRequestMessage> create)
    {
        var watch = Stopwatch.StartNew();
        using var request = create();
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        if (response.StatusCode != HttpStatusCode.OK) throw new InvalidOperationException(await response.Content.ReadAsStringAsync());
        await using var body = await response.Content.ReadAsStreamAsync();
        while (await body.ReadAsync(scratch) > 0) { }
        return watch.Elapsed.TotalMilliseconds;
    }
    if (Runs("online"))
        await MeasureAsync("Floor: GET /alive", _ => SendAsync(() => new HttpRequestMessage(HttpMethod.Get, "/alive")), throughput: false);
    var features = new JsonArray([.. Enumerable.Range(0, 50).Select(i => (JsonNode)$"wide:f{i:00}")]);
    foreach (var batch in Runs("online") ? [1, 100] : Array.Empty<int>())
    {
        string Body() => new JsonObject
        {
            ["features"] = features.DeepClone(),
            ["entities"] = new JsonArray([.. Enumerable.Range(0, batch).Select(_ => (JsonNode)new JsonObject { ["entity_id"] = random.Next(Entities) })]),
        }.ToJsonString();
        var bodies = Enumerable.Range(0, 200).Select(_ => Body()).ToArray();
        await MeasureAsync($"Online read, {batch} entit{(batch == 1 ? "y" : "ies")} × 50 features", i => SendAsync(() =>
            new HttpRequestMessage(HttpMethod.Post, "/api/online/features")
            {
                Content = new StringContent(bodies[i % bodies.Length], System.Text.Encoding.UTF8, "application/json"),
            }), throughput: true);
    }

    // 3. Training set: entity rows sampled from the flights (route, time one hour after the flight, delayed label).
    if (!Runs("training"))
        return;
    var entitiesPath = Path.Combine(Path.GetTempPath(), $"fs-bench-entities-{Guid.NewGuid():N}.parquet");
    using (var duck = new DuckDBConnection("DataSource=:memory:"))
    {
        duck.Open();
        using var command = duck.CreateCommand();
        command.CommandText =
            $"""
            SELECT setseed(0.42);
            COPY (SELECT origin, destination, date + INTERVAL 1 HOUR AS event_timestamp, (delay > 15)::INTEGER AS delayed
                  FROM read_parquet('{flights}') USING SAMPLE {entityRows} ROWS (reservoir, 42)) TO '{entitiesPath}' (FORMAT parquet);
            """;
        command.ExecuteNonQuery();
    }
    await using (var file = File.OpenRead(entitiesPath))
        await new ObjectStore(s3).PutAsync(ResourceNames.LakeBucket, "benchmarks/entities.parquet", file);
    File.Delete(entitiesPath);
    var request = new JsonObject
    {
        ["features"] = new JsonArray("by_origin:delay", "by_origin:distance", "by_destination:delay", "by_route:delay", "by_route:distance"),
        ["entity_source"] = new JsonObject { ["object_key"] = "benchmarks/entities.parquet" },
    };
    Console.WriteLine($"\n## Training set: {entityRows:N0} entity rows × 3 groups (5 features), as a job");
    for (var run = 1; run <= 2; run++)
    {
        var watch = Stopwatch.StartNew();
        var job = await Ok(await client.PostAsJsonAsync("/api/training-sets", request));
        var id = (string)job["job_id"]!;
        while ((string)job["status"]! is "queued" or "running")
        {
            await Task.Delay(250);
            job = (await client.GetFromJsonAsync<JsonObject>($"/api/jobs/{id}"))!;
        }
        watch.Stop();
        if ((string)job["status"]! != "succeeded") throw new InvalidOperationException(job.ToJsonString());
        var manifest = job["result"]!;
        Console.WriteLine($"- run {run}: {watch.Elapsed.TotalSeconds:0.0} s end to end (builder {(double)manifest["seconds"]!:0.0} s), "
            + $"{(long)manifest["row_count"]!:N0} rows, hash {((string)manifest["content_hash"]!)[..16]}…");
    }
    Console.WriteLine($"\nload average at the end: {LoadAverage()}");
}
finally
{
    await app.StopAsync();
    try { Directory.Delete(data, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
}

static async Task<JsonObject> Ok(HttpResponseMessage response)
{
    var body = await response.Content.ReadAsStringAsync();
    if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{(int)response.StatusCode}: {body}");
    return JsonNode.Parse(body)!.AsObject();
}

static double Percentile(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

static int ArgInt(string name, int fallback) => ArgString(name) is { } value ? int.Parse(value) : fallback;

static string? ArgString(string name)
{
    var args = Environment.GetCommandLineArgs();
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

static string FindRoot()
{
    var dir = new DirectoryInfo(AppContext.BaseDirectory);
    while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Mlops.Aspire.sln"))) dir = dir.Parent;
    return dir?.FullName ?? throw new DirectoryNotFoundException("Run from inside the repository.");
}

static string LoadAverage() => Mlops.Benchmarks.Machine.LoadAverage();

static int FreePort() => Mlops.Benchmarks.Machine.FreePort();
