using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Mlops;
using Mlops.Benchmarks;
using Mlops.ExperimentTracker.Client;
using Mlops.Serving.Benchmarks;

// Serving over HTTP on loopback, the real service in front of the flights delay model the sample trains: one-row
// invocations one at a time (p50/p99), one-row invocations from 16 concurrent clients (predictions/s), and 100-row and
// 1,000-row batches (rows/s), with data capture on at 100 %; the same one-row measurements against a bare ASP.NET minimal
// API in this process scoring the same package (the floor Serving's routing, capture and metrics add to); and the time
// from a traffic shift or rollback to every Serving replica answering with the new split.
// Usage (from the repository root):
//   dotnet run -c Release --project benchmarks/Serving.Benchmarks -- [--iterations 2000] [--warmup 200] [--seconds 10] [--clients 16]
//     [--replicas 2] [--shifts 10]
if (args is [BareScorer.ServeFlag, var packageDirectory, var bareAddress])
{
    await BareScorer.ServeAsync(packageDirectory, bareAddress);
    return 0;
}
ServiceUnderTest.InlineClientSockets();
var options = args.Select((a, i) => (a, i)).Where(x => x.a.StartsWith("--", StringComparison.Ordinal) && x.i + 1 < args.Length)
    .ToDictionary(x => x.a[2..], x => args[x.i + 1]);
int Int(string name, int fallback) => options.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
var iterations = Int("iterations", 2000);
var warmup = Int("warmup", 200);
var seconds = Int("seconds", 10);
var clients = Int("clients", 16);
var replicas = Int("replicas", 2);
var shifts = Int("shifts", 10);

Console.WriteLine($"# Serving benchmark ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC)");
Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}; load average {Machine.LoadAverage()}");

var data = Path.Combine(Path.GetTempPath(), $"mlops-bench-{Guid.NewGuid():N}");
var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(
[
    "--Infrastructure:Mode=LocalProcesses", $"--Infrastructure:DataDirectory={data}", "--Infrastructure:Durable=false",
    $"--ASPNETCORE_URLS=http://127.0.0.1:{Machine.FreePort()}", $"--ASPIRE_DASHBOARD_OTLP_HTTP_ENDPOINT_URL=http://127.0.0.1:{Machine.FreePort()}",
    "--ASPIRE_ALLOW_UNSECURED_TRANSPORT=true", "--Sample:FlightsPerMonth=2500",
]);
// Every service runs (the AppHost's start-up summary waits for all of them); the ones Serving does not call stay idle.
foreach (var service in new[] { ResourceNames.Serving, ResourceNames.ExperimentTracker })
    builder.CreateResourceBuilder((ProjectResource)builder.Resources.Single(r => r.Name == service))
        .WithEnvironment("ASPNETCORE_ENVIRONMENT", "Production")
        .WithEnvironment("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "0")
        .WithEnvironment("OTEL_EXPORTER_OTLP_ENDPOINT", "");
builder.CreateResourceBuilder((ProjectResource)builder.Resources.Single(r => r.Name == ResourceNames.Serving)).WithReplicas(replicas);
builder.Services.AddLogging(l => l.SetMinimumLevel(LogLevel.Warning).AddFilter("AppHost.Resources", LogLevel.None)
    .AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks", LogLevel.None));
await using var app = await builder.BuildAsync();
using (var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10)))
{
    await app.StartAsync(timeout.Token);
    await app.ResourceNotifications.WaitForResourceHealthyAsync(ResourceNames.Serving, timeout.Token);
    var sample = await app.ResourceNotifications.WaitForResourceAsync(ResourceNames.Sample,
        e => e.Snapshot.State?.Text is "Finished" or "Exited" or "FailedToStart", timeout.Token);
    if (sample.Snapshot.ExitCode != 0)
        throw new InvalidOperationException($"The sample ended with exit code {sample.Snapshot.ExitCode}: no model to serve.");
}
var apiKey = await app.Services.GetRequiredService<DistributedApplicationModel>().Resources.OfType<ParameterResource>()
    .Single(p => p.Name == ResourceNames.ApiKey).GetValueAsync(default);
var addresses = await ServiceAddress.ReplicasAsync(app, ResourceNames.Serving, replicas, TimeSpan.FromMinutes(2));
Console.WriteLine($"serving: {string.Join(", ", addresses)} ({addresses.Count} replica(s), their own ports, not the AppHost proxy)");

HttpClient Client(Uri address)
{
    var client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = Timeout.InfiniteTimeSpan, UseProxy = false, MaxConnectionsPerServer = 64 })
    {
        BaseAddress = address, Timeout = TimeSpan.FromSeconds(60),
    };
    client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
    return client;
}
var http = Client(addresses[0]);
var replicaClients = addresses.Select(Client).ToArray();
var endpoint = $"bench-{Guid.NewGuid():N}"[..16];
await SendAsync(HttpMethod.Post, "api/endpoints", JsonSerializer.Serialize(new
{
    name = endpoint,
    variants = new[] { new { name = "primary", model_name = "flights-delay", alias = "champion" } },
    data_capture = new { enabled = true, sampling_percentage = 100 },
}));

var airports = new[] { "SFO", "LAX", "ORD", "JFK", "ATL", "SEA", "DEN", "DFW" };
string Body(int rows, int seed) => JsonSerializer.Serialize(new
{
    dataframe_split = new
    {
        // The sample's model (samples/FlightsLoop): the flight's origin and time, its features from the flights_delay group.
        columns = new[] { "origin", "event_timestamp", "flights_delay__distance", "flights_delay__destination", "flights_delay__hour", "flights_delay__month" },
        data = Enumerable.Range(0, rows).Select(i =>
        {
            var date = new DateTime(2001, 5, 1, 0, 0, 0, DateTimeKind.Utc).AddMinutes((seed * 131 + i * 17) % 40_000);
            return new object[]
            {
                airports[(seed + i) % airports.Length], date.ToString("o"), 100 + (seed * 7 + i * 13) % 2500,
                airports[(seed + 3 * i + 1) % airports.Length], date.Hour, date.Month,
            };
        }),
    },
});
var invocations = $"endpoints/{endpoint}/invocations";
var oneRow = Enumerable.Range(0, 64).Select(i => Body(1, i)).ToArray();

// The bare baseline: the champion's package, fetched from the registry as Serving fetches it, behind one minimal API
// route in a process of its own that parses dataframe_split, scores and writes the predictions (no auth, routing, capture, metrics).
var tracker = new TrackingClient(Client(ServiceAddress.Direct(app, ResourceNames.ExperimentTracker).Address));
var champion = await tracker.GetModelVersionByAliasAsync("flights-delay", "champion");
await using var bare = await BareScorer.StartAsync(tracker, "flights-delay", champion.Version);
var bareHttp = Client(bare.Address);
Console.WriteLine($"bare minimal API: {bare.Address} (its own process, server GC, default socket completions; same package)");

Console.WriteLine($"load average before measuring: {Machine.LoadAverage()}");
Console.WriteLine();
Console.WriteLine("| measurement | p50 (ms) | p99 (ms) | mean (ms) | throughput | load average (1 min) after |");
Console.WriteLine("| --- | ---: | ---: | ---: | ---: | --- |");

// One-row invocations, one at a time: latency to the last byte. Serving and the bare API alternate in blocks, so both
// see the same machine.
var sequential = new Dictionary<string, List<double>> { ["serving"] = [], ["bare"] = [] };
foreach (var (name, client, path) in new[] { ("serving", http, invocations), ("bare", bareHttp, "invocations") })
    for (var i = 0; i < warmup; i++)
        await InvokeAsync(client, path, oneRow[i % oneRow.Length]);
const int Blocks = 4;
for (var block = 0; block < Blocks; block++)
{
    foreach (var (name, client, path) in new[] { ("serving", http, invocations), ("bare", bareHttp, "invocations") })
    {
        for (var i = 0; i < iterations / Blocks; i++)
        {
            var started = Stopwatch.GetTimestamp();
            await InvokeAsync(client, path, oneRow[i % oneRow.Length]);
            sequential[name].Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
    }
}
foreach (var (name, samples) in sequential)
    Row($"1 row, sequential, {(name == "serving" ? "Serving (capture 100 %)" : "bare minimal API")} ({samples.Count} requests)", [.. samples],
        $"{samples.Count / samples.Sum() * 1000:N0} predictions/s");
Console.WriteLine($"| p50 ratio Serving / bare | {Median(sequential["serving"]) / Median(sequential["bare"]):F2}× | | | | |");

// One-row invocations from concurrent clients for a fixed time. Each Serving phase starts with the capture buffer empty
// and is followed by the capture writer's drain, so every phase's captured, dropped and drained rows are its own.
var captureRows = new List<string>();
await DrainCaptureAsync();
await CapturedPhase($"1 row, {clients} clients", () => Concurrent($"1 row, {clients} concurrent clients, Serving ({seconds} s)", http, invocations, clients, 1, oneRow));
await Concurrent($"1 row, {clients} concurrent clients, bare minimal API ({seconds} s)", bareHttp, "invocations", clients, 1, oneRow);
foreach (var rows in new[] { 100, 1000 })
    await CapturedPhase($"{rows:N0}-row batches, 4 clients", () => Concurrent($"{rows:N0}-row batches, 4 concurrent clients, Serving ({seconds} s)", http, invocations, 4, rows,
        [.. Enumerable.Range(0, 8).Select(i => Body(rows, i))]));

var status = await CaptureStatusAsync();
Console.WriteLine();
Console.WriteLine("capture at 100 % per phase (first replica; offered = rows the phase scored, written = objects stored by the end of the drain):");
Console.WriteLine();
Console.WriteLine("| phase | offered rows | written | dropped | dropped share | drain after the phase (s) | failed writes |");
Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
captureRows.ForEach(Console.WriteLine);
Console.WriteLine();
Console.WriteLine($"capture after the run: {status.ToJsonString()}");

// Traffic shift and rollback: from the moment the decision is committed (the PUT or rollback answer) to the moment every
// replica answers from the new split, each replica polled by its own client with one-row requests back to back.
var challenger = await tracker.RegisterModelAsync("flights-delay", await tracker.GetRunAsync(champion.RunId!));
Console.WriteLine();
Console.WriteLine($"traffic shifts between versions {champion.Version} and {challenger.Version} on {replicaClients.Length} replica(s), {shifts} of each kind:");
Console.WriteLine();
Console.WriteLine("| change | first replica (ms) | every replica, median (ms) | every replica, max (ms) |");
Console.WriteLine("| --- | ---: | ---: | ---: |");
var serving = champion.Version;
var shiftTimes = new List<(double First, double All)>();
var rollbackTimes = new List<(double First, double All)>();
for (var i = 0; i < shifts + 1; i++)
{
    // all_at_once to the other version (the first shift loads it on the replicas that have never served it).
    var target = serving == champion.Version ? challenger.Version : champion.Version;
    var (first, all) = await TimeChangeAsync(() => SendAsync(HttpMethod.Put, $"api/endpoints/{endpoint}", Update(target, 0)), target);
    if (i == 0)
        Console.WriteLine($"| all_at_once to a version the other replicas have not loaded yet (includes loading it) | {first:F1} | {all:F1} | {all:F1} |");
    else
        shiftTimes.Add((first, all));
    await WaitDeploymentEndedAsync();
    serving = target;

    // A deployment baking for an hour, rolled back by hand: every replica must go back to the version serving now.
    var other = serving == champion.Version ? challenger.Version : champion.Version;
    var deployment = JsonNode.Parse(await SendAsync(HttpMethod.Put, $"api/endpoints/{endpoint}", Update(other, 3600)))!["deployment_id"]!.GetValue<string>();
    await Task.WhenAll(replicaClients.Select(c => UntilServedAsync(c, other)));
    rollbackTimes.Add(await TimeChangeAsync(() => SendAsync(HttpMethod.Post, $"api/endpoints/{endpoint}/deployments/{deployment}/rollback", "{\"reason\":\"bench\"}"), serving));
}
Console.WriteLine($"| all_at_once between loaded versions | {Median(shiftTimes.Select(s => s.First))} | {Median(shiftTimes.Select(s => s.All)):F1} | {shiftTimes.Max(s => s.All):F1} |");
Console.WriteLine($"| rollback while baking | {Median(rollbackTimes.Select(s => s.First))} | {Median(rollbackTimes.Select(s => s.All)):F1} | {rollbackTimes.Max(s => s.All):F1} |");

await app.StopAsync();
try { Directory.Delete(data, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
return 0;

string Update(string version, int baking) => JsonSerializer.Serialize(new
{
    variants = new[] { new { name = "primary", model_name = "flights-delay", model_version = version } },
    deployment = new { type = "all_at_once", baking_seconds = baking },
});

async Task WaitDeploymentEndedAsync()
{
    for (var deadline = Stopwatch.StartNew(); deadline.Elapsed < TimeSpan.FromSeconds(30); await Task.Delay(50))
        if (JsonNode.Parse(await (await http.GetAsync($"api/endpoints/{endpoint}")).Content.ReadAsStringAsync())!["active_deployment"] is null)
            return;
    throw new TimeoutException("The deployment did not end within 30 s.");
}

// Makes the change, then polls every replica until each answers from the expected version: the first and the last, in ms.
async Task<(double First, double All)> TimeChangeAsync(Func<Task> change, string expected)
{
    await change();
    var decided = Stopwatch.GetTimestamp();
    var each = await Task.WhenAll(replicaClients.Select(async c =>
    {
        await UntilServedAsync(c, expected);
        return Stopwatch.GetElapsedTime(decided).TotalMilliseconds;
    }));
    return (each.Min(), each.Max());
}

async Task UntilServedAsync(HttpClient client, string version)
{
    for (var deadline = Stopwatch.StartNew(); deadline.Elapsed < TimeSpan.FromSeconds(30);)
    {
        using var response = await client.PostAsync(invocations, new StringContent(oneRow[0], Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        if (response.IsSuccessStatusCode && JsonNode.Parse(text)!["predictions"]![0]!["model_version"]!.GetValue<string>() == version)
            return;
    }
    throw new TimeoutException($"{client.BaseAddress} did not serve version {version} within 30 s.");
}

static double Median(IEnumerable<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted.Length == 0 ? double.NaN : sorted[sorted.Length / 2];
}

async Task<JsonNode> CaptureStatusAsync() => JsonNode.Parse(await (await http.GetAsync("api/capture")).Content.ReadAsStringAsync())!;

// Waits until the first replica's capture buffer is empty (everything queued written, or dropped): the seconds it took.
async Task<double> DrainCaptureAsync()
{
    var waited = Stopwatch.StartNew();
    while ((await CaptureStatusAsync())["buffered"]!.GetValue<long>() > 0 && waited.Elapsed < TimeSpan.FromMinutes(2))
        await Task.Delay(50);
    return waited.Elapsed.TotalSeconds;
}

async Task CapturedPhase(string label, Func<Task<long>> phase)
{
    var before = await CaptureStatusAsync();
    var offered = await phase();
    var drain = await DrainCaptureAsync();
    var after = await CaptureStatusAsync();
    long Delta(string field) => after[field]!.GetValue<long>() - before[field]!.GetValue<long>();
    var dropped = Delta("dropped");
    captureRows.Add($"| {label} | {offered:N0} | {Delta("written"):N0} | {dropped:N0} | {(offered == 0 ? 0 : 100.0 * dropped / offered):F1} % | {drain:F1} | {Delta("failed")} |");
}

async Task<long> Concurrent(string label, HttpClient client, string path, int workers, int rows, string[] bodies)
{
    for (var i = 0; i < 20; i++)
        await InvokeAsync(client, path, bodies[i % bodies.Length]);
    var samples = new List<double>[workers];
    var deadline = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
    var wall = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, workers).Select(async w =>
    {
        samples[w] = [];
        for (var i = w; Stopwatch.GetTimestamp() < deadline; i++)
        {
            var started = Stopwatch.GetTimestamp();
            await InvokeAsync(client, path, bodies[i % bodies.Length]);
            samples[w].Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
    }));
    var all = samples.SelectMany(s => s).ToArray();
    Row(label, all, $"{all.Length * rows / wall.Elapsed.TotalSeconds:N0} {(rows == 1 ? "predictions" : "rows")}/s");
    // The warm-up's rows are captured too.
    return (all.Length + 20L) * rows;
}

void Row(string label, double[] samples, string throughput)
{
    var sorted = samples.Order().ToArray();
    double P(double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
    Console.WriteLine($"| {label} | {P(0.5):F2} | {P(0.99):F2} | {sorted.Average():F2} | {throughput} | {Machine.LoadAverage()} |");
}

async Task InvokeAsync(HttpClient client, string path, string body)
{
    using var response = await client.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
    if (!response.IsSuccessStatusCode)
        throw new InvalidOperationException($"invocation answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    await response.Content.ReadAsByteArrayAsync();
}

async Task<string> SendAsync(HttpMethod method, string path, string json)
{
    using var response = await http.SendAsync(new HttpRequestMessage(method, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") });
    var text = await response.Content.ReadAsStringAsync();
    if (!response.IsSuccessStatusCode)
        throw new InvalidOperationException($"{path} answered {(int)response.StatusCode}: {text}");
    return text;
}
