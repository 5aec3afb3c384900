using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Amazon.S3.Model;

namespace Mlops.Samples.FlightsLoop;

/// <summary>
/// The continuous-training loop on the flights data, with time compressed: January–April are history (ingested, labelled,
/// the first champion trained on them by the pipeline and deployed), then May onwards is replayed through the endpoint
/// as traffic, and each flight's true delay arrives as ground truth after <see cref="LoopSettings.LabelLag"/>. The
/// monitor's schedule sees the month drift and raises an alarm; the alarm's event starts the pipeline, which trains on
/// every flight labelled by then and rolls the new version out as a canary; Serving promotes it (the alias moves) or
/// rolls it back. This class only plays the world around the platform — the traffic, the labels, new data arriving —
/// and watches; every hop of the loop itself is the platform's, driven by its events.
/// </summary>
/// <remarks>
/// Until Monitor's schedules compute model quality (issue 18), the labeller asks for a quality run over the recent capture
/// window after each batch of labels, as a user's job would; its alarm is evaluated like any other.
/// </remarks>
public sealed class ContinuousTrainingLoop(LoopSettings settings, LoopClients clients, Action<string> narrate, Action<string>? log = null)
{
    private readonly Action<string> log = log ?? (_ => { });
    private readonly ConcurrentQueue<(DateTimeOffset Due, string Id, Flight Flight)> pendingLabels = new();
    private readonly List<Flight> labelled = [];
    private readonly HashSet<(string, DateTime)> labelledKeys = [];
    private readonly ConcurrentBag<string> errors = [];
    private long requests, requestErrors, requestsResent, challengerRows, labelsPosted;
    private const int MaxInvocationAttempts = 3;

    /// <summary>Raised as the loop reaches each stage (for tests that inject faults at a stage).</summary>
    public event Action<string>? Stage;

    public async Task<LoopOutcome> RunAsync(CancellationToken cancel)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(settings.Timeout);
        var ct = timeout.Token;
        var s = settings;

        var months = await FlightsData.SampleByMonthAsync(s.FlightsParquet, s.FlightsPerMonth, s.Seed, ct);
        var history = months.Where(m => m.Key <= 4).SelectMany(m => m.Value).ToList();
        var later = months.Where(m => m.Key > 4).OrderBy(m => m.Key).ToList();

        // History: the feature group with January–April, and their labels in the lake.
        await EnsureCreatedAsync(clients.FeatureStore, "api/feature-groups", LoopDefinitions.FeatureGroup(s), ct);
        await IngestAsync(history, ct);
        labelled.AddRange(history.Where(f => labelledKeys.Add((f.Origin, f.Date))));
        await WriteLabelsAsync(ct);
        narrate($"Feature group {s.Group}: {history.Count:N0} flights of January–April ingested; their delays are the labels so far.");

        // The pipeline; its first execution trains on the history and creates the endpoint with the first champion.
        await SendAsync(clients.PipelineRunner, HttpMethod.Put, $"api/pipelines/{s.Pipeline}", new StringContent(LoopDefinitions.Pipeline(s), Encoding.UTF8, "application/yaml"), ct);
        var first = await StartExecutionAsync(LoopDefinitions.Parameters(s, corrupt: false, LoopSettings.ChampionVariant, "the first champion"), ct);
        Stage?.Invoke("first-execution");
        var firstDone = await WaitForExecutionAsync(first, ct);
        if (firstDone["status"]!.GetValue<string>() != "succeeded")
            throw new InvalidOperationException($"The first execution {first} ended {firstDone["status"]}: {firstDone["error"]}");
        var firstVersion = Step(firstDone, "register")["outputs"]!["version"]!.GetValue<string>();
        var firstAuc = Step(firstDone, "train")["outputs"]!["metrics"]!["validation:auc"]!.GetValue<double>();
        var trainUri = Step(firstDone, "train_set")["outputs"]!["data_uri"]!.GetValue<string>();
        narrate($"Pipeline {s.Pipeline} (execution {first}) trained version {firstVersion} as a training job (validation AUC {firstAuc:F3}); endpoint {s.Endpoint} serves it as {LoopSettings.Champion}.");

        // Monitoring: the training snapshot as the baseline, a schedule over the captured traffic, the drift and quality
        // alarms; the drift alarm's event is the pipeline's trigger.
        await SendAsync(clients.Monitor, HttpMethod.Post, "api/baselines", JsonContent.Create(new JsonObject
        {
            ["name"] = s.Baseline, ["model_name"] = s.Model, ["model_version"] = firstVersion,
            ["dataset"] = new JsonObject { ["uri"] = trainUri, ["columns"] = LoopDefinitions.BaselineColumns(s) },
        }), ct);
        await SendAsync(clients.Monitor, HttpMethod.Put, $"api/schedules/{s.Schedule}", JsonContent.Create(new JsonObject
        {
            ["endpoint"] = s.Endpoint, ["baseline"] = new JsonObject { ["name"] = s.Baseline }, ["interval_seconds"] = 4, ["window_seconds"] = 20,
        }), ct);
        await SendAsync(clients.Monitor, HttpMethod.Put, $"api/alarms/{s.DriftAlarm}", JsonContent.Create(LoopDefinitions.DriftAlarm(s)), ct);
        await SendAsync(clients.Monitor, HttpMethod.Put, $"api/alarms/{s.QualityAlarm}", JsonContent.Create(LoopDefinitions.QualityAlarm(s)), ct);
        await EnsureCreatedAsync(clients.PipelineRunner, $"api/pipelines/{s.Pipeline}/triggers", LoopDefinitions.Trigger(s), ct);
        narrate($"Monitor: schedule {s.Schedule} every 4 s against baseline {s.Baseline}; alarms {s.DriftAlarm} (month drift → retrain) and {s.QualityAlarm} (challenger AUC on ground truth < 0.5 → roll back).");

        // The world moves on: later months' flights are replayed as traffic, labelled after the lag.
        // A platform that ran the loop before keeps its alarm history and firings: only what happens from now counts.
        var since = DateTimeOffset.UtcNow;
        using var stopWorld = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var world = Task.WhenAll(ReplayAsync(later, stopWorld.Token), LabelAsync(stopWorld.Token), QualityRunsAsync(stopWorld.Token));
        narrate($"Replaying {string.Join(", ", later.Select(m => CultureInfo.InvariantCulture.DateTimeFormat.GetMonthName(m.Key)))} through the endpoint ({s.RowsPerRequest * 1000 / s.RequestInterval.TotalMilliseconds:F0} flights/s); true delays follow {s.LabelLag.TotalSeconds:F0} s later as ground truth.");
        Stage?.Invoke("replaying");

        var outcome = new LoopOutcome { FirstExecution = first, FirstVersion = firstVersion };
        try
        {
            var alarmAt = await WaitAlarmAsync(s.DriftAlarm, since, ct);
            outcome = outcome with { AlarmRaisedAt = alarmAt };
            narrate($"Alarm {s.DriftAlarm} raised at {alarmAt:HH:mm:ss}: the month the model sees has drifted from its baseline.");
            Stage?.Invoke("alarm");

            var triggered = await WaitTriggeredAsync(since, ct);
            outcome = outcome with { TriggeredExecution = triggered };
            narrate($"Trigger {LoopSettings.Trigger} started execution {triggered} of {s.Pipeline} on {labelled.Count:N0} labelled flights.");
            Stage?.Invoke("triggered");

            var done = await WaitForExecutionAsync(triggered, ct, onTraining: () => Stage?.Invoke("training"), onDeploying: () => Stage?.Invoke("deploying"));
            var status = done["status"]!.GetValue<string>();
            var version = Status(done, "register") == "succeeded" ? Step(done, "register")["outputs"]!["version"]!.GetValue<string>() : null;
            outcome = outcome with { TriggeredStatus = status, TriggeredError = done["error"]?.ToString(), NewVersion = version };
            if (version is null)
                narrate($"Execution {triggered} {status} before registering a version: {done["error"]}. The champion (version {firstVersion}) keeps serving.");
            else
            {
                var deployment = await LatestDeploymentAsync(ct);
                outcome = outcome with
                {
                    DeploymentId = deployment?["deployment_id"]?.ToString(), DeploymentState = deployment?["state"]?.ToString(),
                    DeploymentReason = deployment?["reason"]?.ToString(),
                    DeploymentEndedAt = deployment?["finished_at"] is JsonValue f ? f.GetValue<DateTimeOffset>() : null,
                };
                var auc = Step(done, "train")["outputs"]!["metrics"]!["validation:auc"]!.GetValue<double>();
                narrate(outcome.DeploymentState == "succeeded"
                    ? $"Version {version} (validation AUC {auc:F3}) went out as a {s.CanaryPercent} % canary, baked {s.BakingSeconds} s and was promoted: {LoopSettings.Champion} moved to it, {outcome.AlarmToEndSeconds:F0} s after the alarm."
                    : $"Version {version} (validation AUC {auc:F3}) went out as a canary and was rolled back ({outcome.DeploymentReason}); {LoopSettings.Champion} stays on version {firstVersion}. Execution {triggered}: {done["error"]}");
            }
            outcome = outcome with { ChampionAfter = await ChampionAsync(ct) };
        }
        finally
        {
            await stopWorld.CancelAsync();
            try { await world; } catch (OperationCanceledException) { }
        }
        outcome = outcome with
        {
            Requests = Interlocked.Read(ref requests), RequestErrors = Interlocked.Read(ref requestErrors), RequestsResent = Interlocked.Read(ref requestsResent),
            ChallengerRows = Interlocked.Read(ref challengerRows), LabelsPosted = Interlocked.Read(ref labelsPosted), Errors = [.. errors],
        };
        narrate($"Traffic: {outcome.Requests:N0} requests, {outcome.RequestErrors:N0} answered with an error ({(outcome.Requests == 0 ? 0 : 100.0 * outcome.RequestErrors / outcome.Requests):F2} %), {outcome.RequestsResent:N0} resent after a connection closed unanswered; {outcome.LabelsPosted:N0} labels posted.");
        if (outcome.Errors.Count > 0)
            narrate($"Errors ({outcome.Errors.Count}, the first 3): {string.Join(" | ", outcome.Errors.Take(3))}");
        return outcome;
    }

    // ---- the world: traffic, labels, newer data ----

    private async Task ReplayAsync(IReadOnlyList<KeyValuePair<int, IReadOnlyList<Flight>>> later, CancellationToken ct)
    {
        var s = settings;
        var ingested = new HashSet<int>();
        var batch = 0;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                foreach (var (month, flights) in later)
                {
                    // A month's flights become features as they happen (the feature group is fed before they are scored).
                    if (ingested.Contains(month) is false)
                    {
                        try
                        {
                            await IngestAsync(flights, ct);
                            ingested.Add(month);
                        }
                        catch (HttpRequestException e)
                        {
                            errors.Add($"ingest: {e.Message}"); // tried again on the next round
                        }
                    }
                    foreach (var chunk in flights.Chunk(s.RowsPerRequest))
                    {
                        var started = Stopwatch.GetTimestamp();
                        var ids = chunk.Select((_, i) => $"{s.Name}-{batch}-{i}").ToArray();
                        batch++;
                        await InvokeAsync(chunk, ids, ct);
                        var wait = s.RequestInterval - Stopwatch.GetElapsedTime(started);
                        if (wait > TimeSpan.Zero)
                            await Task.Delay(wait, ct);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task InvokeAsync(Flight[] chunk, string[] ids, CancellationToken ct)
    {
        var s = settings;
        var body = new JsonObject
        {
            ["dataframe_records"] = new JsonArray([.. chunk.Select(f => (JsonNode)new JsonObject
            {
                ["origin"] = f.Origin, ["event_timestamp"] = f.Date.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
                [$"{s.Group}__distance"] = f.Distance, [$"{s.Group}__destination"] = f.Destination,
                [$"{s.Group}__hour"] = f.Hour, [$"{s.Group}__month"] = f.Month,
            })]),
            ["inference_ids"] = new JsonArray([.. ids.Select(i => (JsonNode)i)]),
        };
        Interlocked.Increment(ref requests);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                using var response = await clients.Serving.PostAsJsonAsync($"endpoints/{s.Endpoint}/invocations", body, ct);
                if (!response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref requestErrors);
                    errors.Add($"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct)}");
                    return;
                }
                var answer = JsonNode.Parse(await response.Content.ReadAsStringAsync(ct))!;
                if (answer["predictions"]!.AsArray().FirstOrDefault()?["variant"]?.ToString() == LoopSettings.ChallengerVariant)
                    Interlocked.Add(ref challengerRows, chunk.Length);
                break;
            }
            catch (HttpRequestException e) when (e.HttpRequestError is HttpRequestError.ResponseEnded or HttpRequestError.ConnectionError
                                                 && attempt < MaxInvocationAttempts)
            {
                // No answer at all: the connection closed or could not be made (a replica stopping as the request went out;
                // the AppHost's proxy goes on passing it connections for a moment, so a resend at once can meet the same
                // replica). Nothing was answered, so the request is sent again after a pause, up to 3 attempts, as the AWS
                // SDK's standard retry mode does for SageMaker's runtime; a request resent is counted once.
                if (attempt == 1)
                    Interlocked.Increment(ref requestsResent);
                await Task.Delay(TimeSpan.FromMilliseconds(250 * attempt), ct);
            }
            catch (HttpRequestException e)
            {
                Interlocked.Increment(ref requestErrors);
                // When and how, down to the transport's own error (a reset, a connection refused, a response cut off).
                var causes = new List<string>();
                for (Exception? x = e; x is not null; x = x.InnerException)
                    causes.Add(x.Message);
                errors.Add($"{DateTimeOffset.UtcNow:HH:mm:ss.fff} {string.Join(" ← ", causes)} ({e.HttpRequestError}, attempt {attempt})");
                return;
            }
        }
        var due = DateTimeOffset.UtcNow + s.LabelLag;
        for (var i = 0; i < chunk.Length; i++)
            pendingLabels.Enqueue((due, ids[i], chunk[i]));
    }

    /// <summary>Posts the labels that are due as ground truth and keeps the lake's labelled flights current for retraining.</summary>
    private async Task LabelAsync(CancellationToken ct)
    {
        var lastWrite = DateTimeOffset.UtcNow;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
                var due = new List<(string Id, Flight Flight)>();
                while (pendingLabels.TryPeek(out var next) && next.Due <= DateTimeOffset.UtcNow && pendingLabels.TryDequeue(out next))
                    due.Add((next.Id, next.Flight));
                try
                {
                    await LabelAsync(due, ct);
                    if (DateTimeOffset.UtcNow - lastWrite > TimeSpan.FromSeconds(3))
                    {
                        await WriteLabelsAsync(ct);
                        lastWrite = DateTimeOffset.UtcNow;
                    }
                }
                catch (Exception e) when (e is HttpRequestException or Amazon.Runtime.AmazonServiceException)
                {
                    errors.Add($"labels: {e.Message}");
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task LabelAsync(List<(string Id, Flight Flight)> due, CancellationToken ct)
    {
                if (due.Count > 0)
                {
                    await SendAsync(clients.Serving, HttpMethod.Post, $"api/endpoints/{settings.Endpoint}/ground-truth", JsonContent.Create(new JsonObject
                    {
                        ["labels"] = new JsonArray([.. due.Select(d => (JsonNode)new JsonObject { ["inference_id"] = d.Id, ["label"] = d.Flight.Delayed })]),
                    }), ct);
                    Interlocked.Add(ref labelsPosted, due.Count);
                    lock (labelled)
                        labelled.AddRange(due.Select(d => d.Flight).Where(f => labelledKeys.Add((f.Origin, f.Date))));
                }
    }

    /// <summary>
    /// Model quality over the recent capture window, joined with the labels that have arrived. One run at a time: while the
    /// previous one has not finished (a busy monitor) the next is not asked for, so runs never queue up behind each other
    /// and each judges the latest window.
    /// </summary>
    private async Task QualityRunsAsync(CancellationToken ct)
    {
        string? previous = null;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(5), ct);
                if (previous is not null && (await TryGetAsync(clients.Monitor, $"api/runs/{previous}", ct))?["status"]?.ToString() is "pending" or "running")
                    continue;
                var end = DateTimeOffset.UtcNow - settings.LabelLag - TimeSpan.FromSeconds(1);
                try
                {
                    var run = await SendAsync(clients.Monitor, HttpMethod.Post, "api/runs", JsonContent.Create(new JsonObject
                    {
                        ["baseline"] = new JsonObject { ["name"] = settings.Baseline },
                        ["capture"] = new JsonObject { ["endpoint"] = settings.Endpoint, ["start"] = end.AddSeconds(-20), ["end"] = end },
                        ["quality"] = new JsonObject { ["problem_type"] = "binary", ["label_delay_hours"] = 1 },
                    }), ct);
                    previous = run["id"]?.ToString();
                }
                catch (HttpRequestException e)
                {
                    errors.Add($"quality run: {e.Message}"); // a monitor restarting; the next one will do
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task IngestAsync(IEnumerable<Flight> flights, CancellationToken ct)
    {
        using var content = new StringContent(FlightsData.FeaturesCsv(flights), Encoding.UTF8, "text/csv");
        await SendAsync(clients.FeatureStore, HttpMethod.Post, $"api/feature-groups/{settings.Group}/files", content, ct);
    }

    private async Task WriteLabelsAsync(CancellationToken ct)
    {
        List<Flight> snapshot;
        lock (labelled)
            snapshot = [.. labelled];
        var path = Path.Combine(Path.GetTempPath(), $"loop-labels-{Guid.NewGuid():N}.parquet");
        try
        {
            await FlightsData.WriteLabelsAsync(snapshot, path, ct);
            await clients.S3.PutObjectAsync(new PutObjectRequest { BucketName = clients.LakeBucket, Key = settings.LabelsKey, FilePath = path, UseChunkEncoding = false }, ct);
        }
        finally
        {
            File.Delete(path);
        }
    }

    // ---- watching the platform ----

    private async Task<Guid> StartExecutionAsync(JsonObject parameters, CancellationToken ct)
    {
        var started = await SendAsync(clients.PipelineRunner, HttpMethod.Post, $"api/pipelines/{settings.Pipeline}/executions",
            JsonContent.Create(new JsonObject { ["parameters"] = parameters }), ct, retryOnConnectionFailure: false);
        return started["id"]!.GetValue<Guid>();
    }

    private async Task<JsonObject> WaitForExecutionAsync(Guid id, CancellationToken ct, Action? onTraining = null, Action? onDeploying = null)
    {
        var (training, deploying) = (false, false);
        while (true)
        {
            var execution = await TryGetAsync(clients.PipelineRunner, $"api/executions/{id}", ct);
            if (execution is not null)
            {
                if (execution["status"]?.ToString() is "succeeded" or "failed" or "stopped")
                    return execution;
                if (!training && Status(execution, "train") == "running") { training = true; onTraining?.Invoke(); }
                if (!deploying && Status(execution, "deploy") == "running") { deploying = true; onDeploying?.Invoke(); }
            }
            await Task.Delay(500, ct);
        }
    }

    private async Task<DateTimeOffset> WaitAlarmAsync(string alarm, DateTimeOffset since, CancellationToken ct)
    {
        while (true)
        {
            var row = await TryGetAsync(clients.Monitor, $"api/alarms/{alarm}", ct);
            if (row?["state"]?.ToString() == "ALARM" && row["state_updated_at"]!.GetValue<DateTimeOffset>() >= since)
                return row["state_updated_at"]!.GetValue<DateTimeOffset>();
            await Task.Delay(500, ct);
        }
    }

    private async Task<Guid> WaitTriggeredAsync(DateTimeOffset since, CancellationToken ct)
    {
        while (true)
        {
            var trigger = await TryGetAsync(clients.PipelineRunner, $"api/pipelines/{settings.Pipeline}/triggers/{LoopSettings.Trigger}", ct);
            if (trigger?["firings"]?.AsArray()
                    .Where(f => f?["received_at"]?.GetValue<DateTimeOffset>() >= since)
                    .Select(f => f?["execution_id"]).FirstOrDefault(e => e is not null) is { } id)
                return id.GetValue<Guid>();
            await Task.Delay(500, ct);
        }
    }

    private async Task<JsonObject?> LatestDeploymentAsync(CancellationToken ct)
    {
        var list = await SendAsync(clients.Serving, HttpMethod.Get, $"api/endpoints/{settings.Endpoint}/deployments", null, ct);
        return list["deployments"]!.AsArray().Select(d => d!.AsObject()).OrderByDescending(d => d["started_at"]!.GetValue<DateTimeOffset>()).FirstOrDefault();
    }

    private async Task<string?> ChampionAsync(CancellationToken ct)
    {
        var alias = await TryGetAsync(clients.Tracker, $"api/2.0/mlflow/registered-models/alias?name={settings.Model}&alias={LoopSettings.Champion}", ct);
        return alias?["model_version"]?["version"]?.ToString();
    }

    // ---- HTTP ----

    private async Task EnsureCreatedAsync(HttpClient client, string path, JsonObject body, CancellationToken ct)
    {
        using var response = await client.PostAsJsonAsync(path, body, ct);
        if (response.StatusCode != HttpStatusCode.Conflict)
            await EnsureSuccessAsync(response, ct);
    }

    /// <summary>
    /// Sends and answers the JSON body. A 503/502 (a service or its database restarting) is retried; a connection that
    /// fails is retried too, except for a POST that starts an execution, which must not start twice.
    /// </summary>
    private static async Task<JsonObject> SendAsync(HttpClient client, HttpMethod method, string path, HttpContent? content, CancellationToken ct,
        bool retryOnConnectionFailure = true)
    {
        var bytes = content is null ? null : await content.ReadAsByteArrayAsync(ct);
        var type = content?.Headers.ContentType;
        for (var attempt = 1; ; attempt++)
        {
            using var request = new HttpRequestMessage(method, path);
            if (bytes is not null)
            {
                request.Content = new ByteArrayContent(bytes);
                request.Content.Headers.ContentType = type;
            }
            try
            {
                using var response = await client.SendAsync(request, ct);
                if (response.StatusCode is HttpStatusCode.ServiceUnavailable or HttpStatusCode.BadGateway && attempt < 60)
                {
                    await Task.Delay(1000, ct);
                    continue;
                }
                await EnsureSuccessAsync(response, ct);
                var text = await response.Content.ReadAsStringAsync(ct);
                return text.Length == 0 ? [] : (JsonObject)JsonNode.Parse(text)!;
            }
            catch (HttpRequestException e) when (e.StatusCode is null && retryOnConnectionFailure && attempt < 60)
            {
                await Task.Delay(1000, ct);
            }
        }
    }

    private static async Task<JsonObject?> TryGetAsync(HttpClient client, string path, CancellationToken ct)
    {
        try
        {
            using var response = await client.GetAsync(path, ct);
            return response.IsSuccessStatusCode ? JsonNode.Parse(await response.Content.ReadAsStringAsync(ct)) as JsonObject : null;
        }
        catch (HttpRequestException)
        {
            return null; // restarting
        }
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException($"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}",
                null, response.StatusCode);
    }

    public static JsonObject Step(JsonObject execution, string step) =>
        execution["steps"]!.AsArray().Select(s => s!.AsObject()).Single(s => s["step"]!.GetValue<string>() == step && s["item"] is null);

    public static string Status(JsonObject execution, string step) =>
        execution["steps"]!.AsArray().Any(s => s!["step"]!.GetValue<string>() == step && s["item"] is null)
            ? Step(execution, step)["status"]!.GetValue<string>()
            : "absent";
}
