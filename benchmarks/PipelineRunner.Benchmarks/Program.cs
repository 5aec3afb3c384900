using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Mlops;

// The pipeline runner's own cost, with no-op steps, against the real AppHost (LocalProcesses, throwaway data, the
// sample left out; the other services run idle beside it, because the runner's steps reference them):
//   1. scheduling overhead: chains of no-op steps; from a step's end (ended_at) to its dependant's start (started_at),
//      both stamped by PostgreSQL's clock in the transactions that record them;
//   2. a 200-step wide-and-deep DAG (10 layers of 20, each step depending on the whole layer before it): start → succeeded;
//   3. N small executions (3 steps each) started at once: all finish; steps/s;
//   4. recovery: a chain with a 3-second step is interrupted by stopping the runner; from the runner healthy again to
//      the interrupted step running again, and to the execution moving on (the next step started);
//   5. with --replicas N (N > 1; part 4 is then left out, a resource command addresses one replica set): 50 executions
//      of a 5-step pipeline started at once on N runner replicas; every step must have been claimed exactly once.
// Usage: dotnet run -c Release --project benchmarks/PipelineRunner.Benchmarks [-- --chains 5 --executions 1000 --replicas 1]
var chains = Arg("--chains", 5);
var executions = Arg("--executions", 1000);
var replicas = Arg("--replicas", 1);
var data = Path.Combine(Path.GetTempPath(), $"pr-bench-{Guid.NewGuid():N}");
Console.WriteLine($"# PipelineRunner benchmarks {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, load average {Mlops.Benchmarks.Machine.LoadAverage()}");

var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(Mlops.Benchmarks.Machine.AppHostArguments(data));
builder.CreateResourceBuilder((ProjectResource)builder.Resources.Single(r => r.Name == ResourceNames.PipelineRunner))
    .WithEnvironment("ASPNETCORE_ENVIRONMENT", "Production")
    .WithEnvironment("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    .WithReplicas(replicas);
builder.Services.AddLogging(logging => logging.AddFilter((_, level) => level >= LogLevel.Warning));
await using var app = await builder.BuildAsync();
using (var start = new CancellationTokenSource(TimeSpan.FromMinutes(8)))
{
    await app.StartAsync(start.Token);
    await app.ResourceNotifications.WaitForResourceHealthyAsync(ResourceNames.PipelineRunner, start.Token);
}
var apiKey = await app.Services.GetRequiredService<DistributedApplicationModel>().Resources.OfType<ParameterResource>()
    .Single(p => p.Name == ResourceNames.ApiKey).GetValueAsync(default);
// Through the AppHost's endpoint proxy: its address outlives the runner's restart in part 4. Every figure below but
// part 2's and 3's wall times is stamped by PostgreSQL, not by this client.
var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 32 })
{
    BaseAddress = app.GetEndpoint(ResourceNames.PipelineRunner, "http"), Timeout = TimeSpan.FromMinutes(2),
};
http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);

async Task UpsertAsync(string name, string yaml)
{
    using var response = await http.PutAsync($"/api/pipelines/{name}", new StringContent(yaml, Encoding.UTF8, "application/yaml"));
    if (response.StatusCode is not (HttpStatusCode.Created or HttpStatusCode.OK))
        throw new InvalidOperationException($"upsert {name}: {response.StatusCode} {await response.Content.ReadAsStringAsync()}");
}
async Task<Guid> StartAsync(string name)
{
    for (var attempt = 0; ; attempt++)
    {
        using var response = await http.PostAsJsonAsync($"/api/pipelines/{name}/executions", new JsonObject { ["parameters"] = new JsonObject() });
        if (response.StatusCode == HttpStatusCode.Created)
            return JsonNode.Parse(await response.Content.ReadAsStringAsync())!["id"]!.GetValue<Guid>();
        if (attempt >= 5 || (int)response.StatusCode < 500)
            throw new InvalidOperationException($"start {name}: {response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        await Task.Delay(200);
    }
}
async Task<JsonObject?> GetAsync(Guid id)
{
    try { return JsonNode.Parse(await http.GetStringAsync($"/api/executions/{id}"))!.AsObject(); }
    catch (HttpRequestException) { return null; } // the runner is restarting
}
async Task<JsonObject> WaitAsync(Guid id, TimeSpan timeout, int pollMs = 50)
{
    var clock = Stopwatch.StartNew();
    while (true)
    {
        var e = await GetAsync(id);
        var status = e?["status"]!.GetValue<string>();
        if (status == "succeeded")
            return e!;
        if (status is "failed" or "stopped")
            throw new InvalidOperationException($"execution {id} ended {status}: {e!["error"]}");
        if (clock.Elapsed > timeout)
            throw new TimeoutException($"execution {id} still {status} after {timeout}");
        await Task.Delay(pollMs);
    }
}
static IEnumerable<JsonObject> Steps(JsonObject e) => e["steps"]!.AsArray().Select(s => s!.AsObject());
static DateTimeOffset Stamp(JsonObject step, string field) => step[field]!.GetValue<DateTimeOffset>();
static string Percentiles(List<double> ms)
{
    var s = ms.Order().ToList();
    double P(double q) => s[Math.Min(s.Count - 1, (int)Math.Ceiling(q * s.Count) - 1)];
    return $"p50 {P(0.50):0.0} ms, p90 {P(0.90):0.0}, p99 {P(0.99):0.0}, max {s[^1]:0.0} (n={s.Count})";
}
var tag = Guid.NewGuid().ToString("N")[..6];

// 1. Scheduling overhead: chains of 21 no-op steps, one execution at a time (one warm-up, not counted).
var chainYaml = new StringBuilder("steps:\n  s0: {type: noop}\n");
for (var i = 1; i <= 20; i++)
    chainYaml.Append(CultureInfo.InvariantCulture, $"  s{i}: {{type: noop, depends_on: [s{i - 1}]}}\n");
await UpsertAsync($"chain-{tag}", chainYaml.ToString());
var gaps = new List<double>();
var chainWall = new List<double>();
for (var c = 0; c <= chains; c++)
{
    var clock = Stopwatch.StartNew();
    var e = await WaitAsync(await StartAsync($"chain-{tag}"), TimeSpan.FromMinutes(2), pollMs: 20);
    if (c == 0)
        continue;
    chainWall.Add(clock.Elapsed.TotalMilliseconds);
    var byName = Steps(e).ToDictionary(s => s["step"]!.GetValue<string>());
    for (var i = 1; i <= 20; i++)
        gaps.Add((Stamp(byName[$"s{i}"], "started_at") - Stamp(byName[$"s{i - 1}"], "ended_at")).TotalMilliseconds);
}
Console.WriteLine($"1. step end → dependant start, {chains} chains of 21 no-op steps: {Percentiles(gaps)}");
Console.WriteLine($"   chain start → client sees succeeded: median {chainWall.Order().ElementAt(chainWall.Count / 2):0} ms for 21 steps");

// 2. A 200-step wide-and-deep DAG: 10 layers of 20, each step depending on every step of the layer before.
var dagYaml = new StringBuilder("parallelism: 20\nsteps:\n");
for (var layer = 0; layer < 10; layer++)
    for (var i = 0; i < 20; i++)
        dagYaml.Append(layer == 0
            ? $"  l0_{i}: {{type: noop}}\n"
            : $"  l{layer}_{i}: {{type: noop, depends_on: [{string.Join(", ", Enumerable.Range(0, 20).Select(j => $"l{layer - 1}_{j}"))}]}}\n");
await UpsertAsync($"dag-{tag}", dagYaml.ToString());
var dagRuns = new List<double>();
var dagDb = new List<double>();
for (var run = 0; run <= 3; run++)
{
    var clock = Stopwatch.StartNew();
    var e = await WaitAsync(await StartAsync($"dag-{tag}"), TimeSpan.FromMinutes(2), pollMs: 20);
    if (run == 0)
        continue;
    dagRuns.Add(clock.Elapsed.TotalSeconds);
    dagDb.Add((e["ended_at"]!.GetValue<DateTimeOffset>() - e["created_at"]!.GetValue<DateTimeOffset>()).TotalSeconds);
}
Console.WriteLine($"2. 200-step DAG (10 layers × 20, full dependencies between layers): client start → succeeded median {dagRuns.Order().ElementAt(dagRuns.Count / 2):0.00} s " +
    $"(created → ended {dagDb.Order().ElementAt(dagDb.Count / 2):0.00} s); runs {string.Join(", ", dagRuns.Select(s => s.ToString("0.00", CultureInfo.InvariantCulture)))} s");

// 3. Many small executions at once: a → (b, c).
await UpsertAsync($"small-{tag}", "steps:\n  a: {type: noop}\n  b: {type: noop, depends_on: [a]}\n  c: {type: noop, depends_on: [a]}\n");
{
    var clock = Stopwatch.StartNew();
    var ids = new List<Guid>();
    foreach (var batch in Enumerable.Range(0, executions).Chunk(32))
        ids.AddRange(await Task.WhenAll(batch.Select(_ => StartAsync($"small-{tag}"))));
    var started = clock.Elapsed;
    var pending = new HashSet<Guid>(ids);
    var succeeded = 0;
    while (pending.Count > 0 && clock.Elapsed < TimeSpan.FromMinutes(10))
    {
        foreach (var id in pending.ToList())
        {
            var e = await GetAsync(id);
            var status = e?["status"]!.GetValue<string>();
            if (status is "succeeded" or "failed" or "stopped")
            {
                pending.Remove(id);
                succeeded += status == "succeeded" ? 1 : 0;
            }
            else
                break; // oldest first: the rest are later still
        }
        await Task.Delay(100);
    }
    var wall = clock.Elapsed;
    Console.WriteLine($"3. {executions} executions of 3 no-op steps started at once (the starts took {started.TotalSeconds:0.0} s): {succeeded} succeeded, " +
        $"{executions - succeeded - pending.Count} ended otherwise, {pending.Count} unfinished; {wall.TotalSeconds:0.0} s, " +
        $"{3.0 * succeeded / wall.TotalSeconds:0} steps/s");
}

if (replicas > 1)
{
    // 5. Several replicas share the work: no step claimed twice.
    await UpsertAsync($"shared-{tag}", "steps:\n  a: {type: noop}\n  b: {type: noop, depends_on: [a]}\n  c: {type: noop, depends_on: [a]}\n" +
        "  d: {type: noop, depends_on: [b, c]}\n  e: {type: noop, depends_on: [d]}\n");
    var clock = Stopwatch.StartNew();
    var ids = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => StartAsync($"shared-{tag}")));
    var done = await Task.WhenAll(ids.Select(id => WaitAsync(id, TimeSpan.FromMinutes(5), pollMs: 200)));
    var steps = done.SelectMany(Steps).ToList();
    var twice = steps.Count(s => s["claims"]!.GetValue<int>() != 1 || s["attempt"]!.GetValue<int>() != 1);
    Console.WriteLine($"5. {replicas} runner replicas, 50 executions of 5 no-op steps started at once: {done.Length} succeeded in " +
        $"{clock.Elapsed.TotalSeconds:0.0} s; {steps.Count} step runs, {twice} claimed or attempted more than once");
    Console.WriteLine($"load average after: {Mlops.Benchmarks.Machine.LoadAverage()}");
    await app.StopAsync();
    try { Directory.Delete(data, recursive: true); } catch (IOException) { }
    return;
}

// 4. Recovery: a → slow (3 s) → c; the runner is stopped while 'slow' runs and started again.
await UpsertAsync($"slow-{tag}", "steps:\n  a: {type: noop}\n  slow: {type: noop, depends_on: [a], inputs: {sleep_seconds: 3}}\n  c: {type: noop, depends_on: [slow]}\n");
var commands = app.Services.GetRequiredService<ResourceCommandService>();
var recoveries = new List<(double Reclaimed, double Moving)>();
for (var round = 0; round < 3; round++)
{
    var id = await StartAsync($"slow-{tag}");
    while ((await GetAsync(id)) is not { } e || Steps(e).All(s => s["step"]!.GetValue<string>() != "slow" || s["status"]!.GetValue<string>() != "running"))
        await Task.Delay(50);
    await Task.Delay(500);
    using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
    var stop = await commands.ExecuteCommandAsync(ResourceNames.PipelineRunner, KnownResourceCommands.StopCommand, timeout.Token);
    if (!stop.Success) throw new InvalidOperationException(stop.Message);
    await app.ResourceNotifications.WaitForResourceAsync(ResourceNames.PipelineRunner, e => e.Snapshot.State?.Text is "Exited" or "Finished" or "Stopped", timeout.Token);
    var startCommand = await commands.ExecuteCommandAsync(ResourceNames.PipelineRunner, KnownResourceCommands.StartCommand, timeout.Token);
    if (!startCommand.Success) throw new InvalidOperationException(startCommand.Message);
    await app.ResourceNotifications.WaitForResourceHealthyAsync(ResourceNames.PipelineRunner, timeout.Token);
    var healthy = DateTimeOffset.UtcNow;
    double? reclaimed = null;
    while (true)
    {
        var e = await GetAsync(id);
        if (e is not null)
        {
            var slow = Steps(e).Single(s => s["step"]!.GetValue<string>() == "slow");
            if (reclaimed is null && slow["claims"]!.GetValue<int>() >= 2)
                reclaimed = (DateTimeOffset.UtcNow - healthy).TotalMilliseconds;
            if (Steps(e).FirstOrDefault(s => s["step"]!.GetValue<string>() == "c") is { } c && c["started_at"] is not null)
            {
                // The interrupted step reruns its 3 s: 'moving again' is the re-claim, 'moving on' the next step's start.
                recoveries.Add((reclaimed ?? double.NaN, (Stamp(c, "started_at") - healthy).TotalMilliseconds));
                break;
            }
        }
        if (DateTimeOffset.UtcNow - healthy > TimeSpan.FromMinutes(1))
            throw new TimeoutException($"execution {id} did not move on after the restart");
        await Task.Delay(25);
    }
    await WaitAsync(id, TimeSpan.FromMinutes(1));
}
Console.WriteLine($"4. runner restarted mid-step (3 rounds): runner healthy → interrupted step claimed again: " +
    $"{string.Join(", ", recoveries.Select(r => $"{r.Reclaimed:0} ms"))}; → next step started (after the 3 s step reran): " +
    $"{string.Join(", ", recoveries.Select(r => $"{r.Moving:0} ms"))}");
Console.WriteLine($"load average after: {Mlops.Benchmarks.Machine.LoadAverage()}");
await app.StopAsync();
try { Directory.Delete(data, recursive: true); } catch (IOException) { }

static int Arg(string name, int fallback)
{
    var args = Environment.GetCommandLineArgs();
    var at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
}
