using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mlops;
using Mlops.ExperimentTracker.Benchmarks;

// Latency of the ExperimentTracker's MLflow API over HTTP on loopback, through the real service and PostgreSQL:
// create-run, log-batch of 1,000 metrics, and search-runs with a metric filter and order over a seeded experiment.
// Usage (from the repository root):
//   dotnet run -c Release --project benchmarks/ExperimentTracker.Benchmarks -- [options]
//     --url URL --api-key KEY    measure a running tracker instead of starting the AppHost
//     --durable false            (self-started only) PostgreSQL with fsync/synchronous_commit off, as the tests run it
//     --data DIR                 (self-started only) keep the platform's data in DIR; a second run reuses the seeded experiment
//     --proxied                  (self-started only) go through the AppHost's endpoint proxy instead of the service's own port
//     --runs 10000 --metrics 20  the searched experiment's size
//     --iterations 300 --warmup 50
//     --settle 75                after seeding, seconds to wait for autovacuum to visit the new rows (0: measure at once)
//     --wide-runs N              batch-wide: spread its requests over N runs (default: a new run per request)
//     --ops create,batch,batch-wide,search,search-1000  which operations to measure (default: all)
Mlops.Benchmarks.ServiceUnderTest.InlineClientSockets();
var options = Options.Parse(args);
Console.WriteLine($"# ExperimentTracker benchmark ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC)");
Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}; load average {LoadAverage()}");

await using var platform = options.Url is not null
    ? Platform.External(options.Url, options.ApiKey ?? throw new ArgumentException("--url needs --api-key"))
    : await Platform.StartAsync(options.Durable, options.DataDirectory, options.Proxied);
Console.WriteLine($"tracker: {platform.BaseAddress} ({platform.Description})");

using var http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = Timeout.InfiniteTimeSpan, UseProxy = false })
{
    BaseAddress = platform.BaseAddress,
    Timeout = TimeSpan.FromSeconds(120),
};
http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", platform.ApiKey);
var api = new Api(http);

// The searched experiment: N runs, each with M metrics, two params and a tag, written with log-batch.
var (searchExperiment, seeded) = await SeedAsync(api, options.Runs, options.Metrics);
if (seeded && options.Settle > 0)
{
    // Measured on settled tables, as a live tracker's are: seeding rewrites every run's row (its latest metrics) and
    // leaves the tables full of dead row versions and unset hint bits until autovacuum (which wakes once a minute) has
    // been round; search scans the experiment's runs and is slower until then. (With the 0005 schema, an index-only
    // scan over latest_metrics, the difference was p50 107 ms against 20-29 ms.)
    Console.WriteLine($"settle: waiting {options.Settle} s for autovacuum to visit the seeded tables");
    await Task.Delay(TimeSpan.FromSeconds(options.Settle));
}
var suffix = Guid.NewGuid().ToString("N")[..8];
var createExperiment = await api.CreateExperimentAsync($"bench-create-{suffix}");
var batchExperiment = await api.CreateExperimentAsync($"bench-batch-{suffix}");
Console.WriteLine($"load average before measuring: {LoadAverage()}");
Console.WriteLine();
Console.WriteLine($"{options.Warmup} warm-up + {options.Iterations} measured requests each, one at a time, time to the last byte of the response");
Console.WriteLine();
Console.WriteLine("| operation | p50 (ms) | p90 (ms) | p99 (ms) | mean (ms) | max (ms) | load average (1 min) before / after |");
Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | --- |");

var createBody = Json(new { experiment_id = createExperiment, start_time = NowMs(), tags = new[] { new { key = "bench", value = "create" } } });
if (options.Measures("create"))
    await MeasureAsync("create-run", options, _ => api.PostBodyAsync("runs/create", createBody));

// log-batch: 1,000 metrics (100 keys × 10 steps) into one of 20 runs, steps advancing as a training loop's would.
var batchRuns = new List<string>();
for (var i = 0; i < 20; i++)
    batchRuns.Add(await api.CreateRunAsync(batchExperiment));
var total = options.Warmup + options.Iterations;
var batchBodies = Enumerable.Range(0, total).Select(i => Json(new
{
    run_id = batchRuns[i % batchRuns.Count],
    metrics = Enumerable.Range(0, 1000).Select(m => new
    {
        key = $"loss_{m % 100}", value = Random.Shared.NextDouble(), timestamp = NowMs(), step = (i / batchRuns.Count) * 10 + m / 100,
    }),
})).ToArray();
if (options.Measures("batch"))
    await MeasureAsync("log-batch, 1,000 metrics (100 keys × 10 steps)", options, i => api.PostBodyAsync("runs/log-batch", batchBodies[i]));

// The other shape of a full batch: 1,000 different keys at one step, as an evaluation report logs them, once per run
// (so every request goes to a run of its own). The history stores one chunk per key per request, so this shape writes
// ten times the rows of the one above; with --wide-runs 20 the same 20 runs are rewritten over and over instead.
var wideRuns = new List<string>();
if (options.Measures("batch-wide"))
    for (var i = 0; i < Math.Min(total, options.WideRuns); i++)
        wideRuns.Add(await api.CreateRunAsync(batchExperiment));
var wideBodies = Enumerable.Range(0, wideRuns.Count == 0 ? 0 : total).Select(i => Json(new
{
    run_id = wideRuns[i % wideRuns.Count],
    metrics = Enumerable.Range(0, 1000).Select(m => new { key = $"eval_{m}", value = Random.Shared.NextDouble(), timestamp = NowMs(), step = i / batchRuns.Count }),
})).ToArray();
if (options.Measures("batch-wide"))
    await MeasureAsync($"log-batch, 1,000 metrics (1,000 keys × 1 step, {(wideRuns.Count >= total ? "a new run per request" : $"over {wideRuns.Count} runs")})",
        options, i => api.PostBodyAsync("runs/log-batch", wideBodies[i]));

foreach (var maxResults in new[] { 100, 1000 }.Where(n => options.Measures(n == 100 ? "search" : "search-1000")))
{
    var body = Json(new
    {
        experiment_ids = new[] { searchExperiment },
        filter = "metrics.m7 > 0.5",
        order_by = new[] { "metrics.m3 DESC" },
        max_results = maxResults,
    });
    var found = (await api.PostBodyAsync("runs/search", body))["runs"]!.AsArray().Count;
    await MeasureAsync($"search-runs, `metrics.m7 > 0.5` order by `metrics.m3 DESC`, {options.Runs:N0} runs × {options.Metrics} metrics, max_results {maxResults} ({found} returned)",
        options, _ => api.PostBodyAsync("runs/search", body));
}
Console.WriteLine();
Console.WriteLine($"load average after: {LoadAverage()}");
return 0;

static async Task<(string Id, bool Seeded)> SeedAsync(Api api, int runs, int metrics)
{
    var name = $"bench-search-{runs}x{metrics}";
    var existing = await api.FindExperimentAsync(name);
    if (existing is { Seeded: true })
    {
        Console.WriteLine($"seed: reusing experiment {name} ({existing.Id})");
        return (existing.Id, false);
    }
    var id = existing?.Id ?? await api.CreateExperimentAsync(name);
    var clock = Stopwatch.StartNew();
    var random = new Random(42);
    var values = Enumerable.Range(0, runs).Select(_ => Enumerable.Range(0, metrics).Select(_ => random.NextDouble()).ToArray()).ToArray();
    var next = -1;
    // Several writers at once, as many training jobs would log; each run: create, then one log-batch.
    await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
    {
        for (var i = Interlocked.Increment(ref next); i < runs; i = Interlocked.Increment(ref next))
        {
            var runId = await api.CreateRunAsync(id);
            var now = NowMs();
            await api.PostBodyAsync("runs/log-batch", Json(new
            {
                run_id = runId,
                metrics = values[i].Select((v, m) => new { key = $"m{m}", value = v, timestamp = now, step = 0 }),
                @params = new[] { new { key = "learning_rate", value = (0.001 * (i % 10 + 1)).ToString(CultureInfo.InvariantCulture) }, new { key = "seed", value = i.ToString(CultureInfo.InvariantCulture) } },
                tags = new[] { new { key = "bench.batch", value = (i / 1000).ToString(CultureInfo.InvariantCulture) } },
            }));
        }
    }));
    await api.PostAsync("experiments/set-experiment-tag", new { experiment_id = id, key = Api.SeededTag, value = "true" });
    Console.WriteLine($"seed: {runs:N0} runs × {metrics} metrics into experiment {name} ({id}) in {clock.Elapsed.TotalSeconds:F0} s");
    return (id, true);
}

static async Task MeasureAsync(string name, Options options, Func<int, Task<JsonNode>> operation)
{
    var loadBefore = LoadAverage1();
    for (var i = 0; i < options.Warmup; i++)
        await operation(i);
    var times = new double[options.Iterations];
    for (var i = 0; i < options.Iterations; i++)
    {
        var start = Stopwatch.GetTimestamp();
        await operation(options.Warmup + i);
        times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }
    Array.Sort(times);
    static string F(double ms) => ms.ToString("F1", CultureInfo.InvariantCulture);
    double P(double q) => times[Math.Min(times.Length - 1, (int)Math.Ceiling(q * times.Length) - 1)];
    Console.WriteLine($"| {name} | {F(P(0.50))} | {F(P(0.90))} | {F(P(0.99))} | {F(times.Average())} | {F(times[^1])} | {loadBefore} / {LoadAverage1()} |");
}

static string Json(object value) => JsonSerializer.Serialize(value);

static long NowMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

static string LoadAverage1() => LoadAverage().Split(' ')[0];

static string LoadAverage() => Mlops.Benchmarks.Machine.LoadAverage();

namespace Mlops.ExperimentTracker.Benchmarks
{
    internal sealed record Options(string? Url, string? ApiKey, bool Durable, string? DataDirectory, bool Proxied, int Runs, int Metrics,
        int Iterations, int Warmup, int Settle, int WideRuns, string[] Operations)
    {
        public bool Measures(string operation) => Operations.Length == 0 || Operations.Contains(operation);

        public static Options Parse(string[] args)
        {
            var values = new Dictionary<string, string>();
            for (var i = 0; i < args.Length; i++)
            {
                if (!args[i].StartsWith("--", StringComparison.Ordinal))
                    throw new ArgumentException($"Unexpected argument '{args[i]}'.");
                var hasValue = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal);
                values[args[i][2..]] = hasValue ? args[++i] : "true";
            }
            int Int(string name, int fallback) => values.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
            return new Options(values.GetValueOrDefault("url"), values.GetValueOrDefault("api-key"),
                !values.TryGetValue("durable", out var durable) || bool.Parse(durable), values.GetValueOrDefault("data"),
                values.ContainsKey("proxied"), Int("runs", 10_000), Int("metrics", 20), Int("iterations", 300), Int("warmup", 50), Int("settle", 75), Int("wide-runs", int.MaxValue),
                values.TryGetValue("ops", out var ops) ? ops.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : []);
        }
    }

    /// <summary>The few MLflow calls the harness needs; any non-200 answer stops the benchmark with the tracker's message.</summary>
    internal sealed class Api(HttpClient http)
    {
        public const string SeededTag = "bench.seeded";
        private const string Prefix = "api/2.0/mlflow/";

        public sealed record Experiment(string Id, bool Seeded);

        public async Task<JsonNode> PostBodyAsync(string path, string json)
        {
            using var response = await http.PostAsync(Prefix + path, new StringContent(json, Encoding.UTF8, "application/json"));
            return await ReadAsync(response, path);
        }

        public Task<JsonNode> PostAsync(string path, object body) => PostBodyAsync(path, JsonSerializer.Serialize(body));

        public async Task<string> CreateExperimentAsync(string name) =>
            (await PostAsync("experiments/create", new { name }))["experiment_id"]!.GetValue<string>();

        public async Task<string> CreateRunAsync(string experimentId) =>
            (await PostAsync("runs/create", new { experiment_id = experimentId }))["run"]!["info"]!["run_id"]!.GetValue<string>();

        public async Task<Experiment?> FindExperimentAsync(string name)
        {
            using var response = await http.GetAsync($"{Prefix}experiments/get-by-name?experiment_name={Uri.EscapeDataString(name)}");
            if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
                return null;
            var experiment = (await ReadAsync(response, "experiments/get-by-name"))["experiment"]!;
            var seeded = experiment["tags"]?.AsArray().Any(t => t!["key"]!.GetValue<string>() == SeededTag) ?? false;
            return new Experiment(experiment["experiment_id"]!.GetValue<string>(), seeded);
        }

        private static async Task<JsonNode> ReadAsync(HttpResponseMessage response, string path)
        {
            var text = await response.Content.ReadAsStringAsync();
            if (!response.IsSuccessStatusCode)
                throw new InvalidOperationException($"{path} answered {(int)response.StatusCode}: {text}");
            return JsonNode.Parse(text)!;
        }
    }
}
