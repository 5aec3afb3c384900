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

// Serving over HTTP on loopback, the real service in front of the flights delay model the sample trains: one-row
// invocations one at a time (p50/p99), one-row invocations from 16 concurrent clients (predictions/s), and 100-row and
// 1,000-row batches (rows/s), with data capture on at 100 %.
// Usage (from the repository root):
//   dotnet run -c Release --project benchmarks/Serving.Benchmarks -- [--iterations 2000] [--warmup 200] [--seconds 10] [--clients 16]
ServiceUnderTest.InlineClientSockets();
var options = args.Select((a, i) => (a, i)).Where(x => x.a.StartsWith("--", StringComparison.Ordinal) && x.i + 1 < args.Length)
    .ToDictionary(x => x.a[2..], x => args[x.i + 1]);
int Int(string name, int fallback) => options.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
var iterations = Int("iterations", 2000);
var warmup = Int("warmup", 200);
var seconds = Int("seconds", 10);
var clients = Int("clients", 16);

Console.WriteLine($"# Serving benchmark ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC)");
Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}; load average {Machine.LoadAverage()}");

var data = Path.Combine(Path.GetTempPath(), $"mlops-bench-{Guid.NewGuid():N}");
var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(
[
    "--Infrastructure:Mode=LocalProcesses", $"--Infrastructure:DataDirectory={data}", "--Infrastructure:Durable=false",
    $"--ASPNETCORE_URLS=http://127.0.0.1:{Machine.FreePort()}", $"--ASPIRE_DASHBOARD_OTLP_HTTP_ENDPOINT_URL=http://127.0.0.1:{Machine.FreePort()}",
    "--ASPIRE_ALLOW_UNSECURED_TRANSPORT=true", "--Sample:TrainRows=60000",
]);
// Every service runs (the AppHost's start-up summary waits for all of them); the ones Serving does not call stay idle.
foreach (var service in new[] { ResourceNames.Serving, ResourceNames.ExperimentTracker })
    builder.CreateResourceBuilder((ProjectResource)builder.Resources.Single(r => r.Name == service))
        .WithEnvironment("ASPNETCORE_ENVIRONMENT", "Production")
        .WithEnvironment("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "0")
        .WithEnvironment("OTEL_EXPORTER_OTLP_ENDPOINT", "");
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
var (address, description) = ServiceAddress.Direct(app, ResourceNames.Serving);
Console.WriteLine($"serving: {address} ({description})");

using var http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = Timeout.InfiniteTimeSpan, UseProxy = false, MaxConnectionsPerServer = 64 })
{
    BaseAddress = address, Timeout = TimeSpan.FromSeconds(60),
};
http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
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
        columns = new[] { "date", "origin", "destination", "distance" },
        data = Enumerable.Range(0, rows).Select(i => new object[]
        {
            new DateTime(2001, 5, 1, 0, 0, 0, DateTimeKind.Utc).AddMinutes((seed * 131 + i * 17) % 40_000).ToString("o"),
            airports[(seed + i) % airports.Length], airports[(seed + 3 * i + 1) % airports.Length], 100 + (seed * 7 + i * 13) % 2500,
        }),
    },
});
var invocations = $"endpoints/{endpoint}/invocations";
var oneRow = Enumerable.Range(0, 64).Select(i => Body(1, i)).ToArray();

Console.WriteLine($"load average before measuring: {Machine.LoadAverage()}");
Console.WriteLine();
Console.WriteLine("| measurement | p50 (ms) | p99 (ms) | mean (ms) | throughput | load average (1 min) after |");
Console.WriteLine("| --- | ---: | ---: | ---: | ---: | --- |");

// One-row invocations, one at a time: latency to the last byte.
for (var i = 0; i < warmup; i++)
    await InvokeAsync(oneRow[i % oneRow.Length]);
var latencies = new double[iterations];
for (var i = 0; i < iterations; i++)
{
    var started = Stopwatch.GetTimestamp();
    await InvokeAsync(oneRow[i % oneRow.Length]);
    latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
}
Row($"1 row, sequential ({iterations} requests)", latencies, $"{iterations / latencies.Sum() * 1000:N0} predictions/s");

// One-row invocations from concurrent clients for a fixed time.
await Concurrent($"1 row, {clients} concurrent clients ({seconds} s)", clients, 1, oneRow);
foreach (var rows in new[] { 100, 1000 })
    await Concurrent($"{rows:N0}-row batches, 4 concurrent clients ({seconds} s)", 4, rows, [.. Enumerable.Range(0, 8).Select(i => Body(rows, i))]);

var status = JsonNode.Parse(await (await http.GetAsync("api/capture")).Content.ReadAsStringAsync())!;
Console.WriteLine();
Console.WriteLine($"capture after the run: {status.ToJsonString()}");
await app.StopAsync();
try { Directory.Delete(data, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
return 0;

async Task Concurrent(string label, int workers, int rows, string[] bodies)
{
    for (var i = 0; i < 20; i++)
        await InvokeAsync(bodies[i % bodies.Length]);
    var samples = new List<double>[workers];
    var deadline = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
    var wall = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, workers).Select(async w =>
    {
        samples[w] = [];
        for (var i = w; Stopwatch.GetTimestamp() < deadline; i++)
        {
            var started = Stopwatch.GetTimestamp();
            await InvokeAsync(bodies[i % bodies.Length]);
            samples[w].Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
    }));
    var all = samples.SelectMany(s => s).ToArray();
    Row(label, all, $"{all.Length * rows / wall.Elapsed.TotalSeconds:N0} {(rows == 1 ? "predictions" : "rows")}/s");
}

void Row(string label, double[] samples, string throughput)
{
    var sorted = samples.Order().ToArray();
    double P(double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
    Console.WriteLine($"| {label} | {P(0.5):F2} | {P(0.99):F2} | {sorted.Average():F2} | {throughput} | {Machine.LoadAverage()} |");
}

async Task InvokeAsync(string body)
{
    using var response = await http.PostAsync(invocations, new StringContent(body, Encoding.UTF8, "application/json"));
    if (!response.IsSuccessStatusCode)
        throw new InvalidOperationException($"invocation answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    await response.Content.ReadAsByteArrayAsync();
}

async Task SendAsync(HttpMethod method, string path, string json)
{
    using var response = await http.SendAsync(new HttpRequestMessage(method, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") });
    if (!response.IsSuccessStatusCode)
        throw new InvalidOperationException($"{path} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
}
