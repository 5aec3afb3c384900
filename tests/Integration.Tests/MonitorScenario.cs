using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MassTransit;
using Mlops.Contracts;
using Mlops.ServiceDefaults.Storage;

namespace Mlops.Tests;

/// <summary>
/// The set-up the Monitor tests share: an endpoint serving one model version with capture on, a baseline from a CSV put in
/// the lake, ground truth posted through Serving, and a run awaited to its report.
/// </summary>
internal static class MonitorScenario
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>Creates <paramref name="endpoint"/> with one variant, primary, serving the version, capturing every request.</summary>
    public static async Task DeployAsync(HttpClient serving, string endpoint, string modelName, string modelVersion)
    {
        var created = await serving.PostAsJsonAsync("/api/endpoints", new
        {
            name = endpoint, variants = new[] { new { name = "primary", model_name = modelName, model_version = modelVersion } },
            data_capture = new { enabled = true, sampling_percentage = 100 },
        });
        Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
    }

    /// <summary>Puts <paramref name="csv"/> in the lake under monitor-it/ and returns its s3:// URI.</summary>
    public static async Task<string> PutCsvAsync(PlatformFixture platform, string key, string csv)
    {
        using var s3 = await platform.CreateS3ClientAsync();
        await new ObjectStore(s3).PutAsync(ResourceNames.LakeBucket, $"monitor-it/{key}", new MemoryStream(Encoding.UTF8.GetBytes(csv)), "text/csv");
        return $"s3://{ResourceNames.LakeBucket}/monitor-it/{key}";
    }

    /// <summary>A baseline named <paramref name="name"/> suggested from a CSV (put in the lake first), optionally naming its model.</summary>
    public static async Task CreateBaselineAsync(PlatformFixture platform, HttpClient monitor, string name, string csv, string? modelName = null,
        string? modelVersion = null)
    {
        var uri = await PutCsvAsync(platform, $"{name}/baseline.csv", csv);
        var baseline = await monitor.PostAsJsonAsync("/api/baselines", new { name, dataset = new { uri }, model_name = modelName, model_version = modelVersion }, Json);
        Assert.True(baseline.StatusCode == HttpStatusCode.Created, await baseline.Content.ReadAsStringAsync());
    }

    /// <summary>Ground truth for served predictions, posted through Serving's ground-truth API.</summary>
    public static async Task PostLabelsAsync(HttpClient serving, string endpoint, IEnumerable<(string InferenceId, object Label)> labels)
    {
        var truth = await serving.PostAsJsonAsync($"/api/endpoints/{endpoint}/ground-truth",
            new { labels = labels.Select(l => new { inference_id = l.InferenceId, label = l.Label }).ToArray() });
        Assert.True(truth.StatusCode == HttpStatusCode.OK, await truth.Content.ReadAsStringAsync());
    }

    /// <summary>Waits for the endpoint's first capture file, then for Serving's next flushes (every second) to land.</summary>
    public static async Task WaitForCaptureAsync(PlatformFixture platform, string endpoint)
    {
        using var s3 = await platform.CreateS3ClientAsync();
        await Poll.UntilAsync(async () =>
        {
            var page = await s3.ListObjectsV2Async(new() { BucketName = ResourceNames.LakeBucket, Prefix = $"data-capture/{endpoint}/primary/" });
            return page.S3Objects is { Count: > 0 } ? "captured" : null;
        }, TimeSpan.FromSeconds(60), "the capture files of the scored requests");
        await Task.Delay(TimeSpan.FromSeconds(3));
    }

    /// <summary>Posts a run (<paramref name="request"/> is the request without <c>wait</c>), asserts it completed and returns its report and id.</summary>
    public static async Task<(JsonObject Report, string RunId)> RunAsync(HttpClient monitor, object request)
    {
        var body = JsonSerializer.SerializeToNode(request, Json)!.AsObject();
        body["wait"] = 110;
        var run = await monitor.PostAsJsonAsync("/api/runs", body, Json);
        var text = await run.Content.ReadAsStringAsync();
        Assert.True(run.StatusCode == HttpStatusCode.Created, text);
        var response = JsonNode.Parse(text)!;
        Assert.True((string?)response["status"] == "completed", text);
        var id = (string)response["id"]!;
        return ((await monitor.GetFromJsonAsync<JsonObject>($"/api/runs/{id}/report"))!, id);
    }
}

/// <summary>
/// A CloudWatch-style alarm put on the monitor, and a listener on the bus for its MonitorAlarmRaised events (started before
/// the alarm exists, so no event is missed); disposing it stops the listener's bus.
/// </summary>
internal sealed class AlarmListener : IAsyncDisposable
{
    private readonly IBusControl bus;
    private readonly List<MonitorAlarmRaised> raised = [];

    private AlarmListener(IBusControl bus, string name) => (this.bus, Name) = (bus, name);

    public string Name { get; }

    /// <summary>Listens for <paramref name="name"/>'s events, then puts the alarm (<paramref name="alarm"/>: the PUT body).</summary>
    public static async Task<AlarmListener> StartAsync(PlatformFixture platform, HttpClient monitor, string name, object alarm)
    {
        var listener = new AlarmListener(await platform.StartTestBusAsync(), name);
        var handle = listener.bus.ConnectReceiveEndpoint($"monitor-alarm-tests-{Guid.NewGuid():N}", e =>
            e.Handler<MonitorAlarmRaised>(c =>
            {
                if (c.Message.AlarmName == name) lock (listener.raised) listener.raised.Add(c.Message);
                return Task.CompletedTask;
            }));
        await handle.Ready.WaitAsync(TimeSpan.FromSeconds(30));
        var put = await monitor.PutAsJsonAsync($"/api/alarms/{name}", alarm, MonitorScenario.Json);
        Assert.True(put.StatusCode == HttpStatusCode.OK, await put.Content.ReadAsStringAsync());
        return listener;
    }

    /// <summary>Waits up to a minute for the first MonitorAlarmRaised of the alarm and returns every one received by then.</summary>
    public async Task<IReadOnlyList<MonitorAlarmRaised>> RaisedAsync()
    {
        await Poll.UntilAsync(async () => { await Task.Yield(); lock (raised) return raised.Count > 0 ? "raised" : null; }, TimeSpan.FromSeconds(60),
            $"MonitorAlarmRaised for alarm {Name}");
        lock (raised) return [.. raised];
    }

    public async ValueTask DisposeAsync() => await bus.StopAsync();
}
