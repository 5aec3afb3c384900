namespace Mlops.ExperimentTracker.Client;

/// <summary>
/// A run that ends when disposed (<c>await using var run = await client.StartRunAsync("delay-model");</c>): FINISHED,
/// or FAILED after <see cref="Fail"/>. Failed trials are recorded too: that is the point of an experiment tracker.
/// </summary>
public sealed class ActiveRun(TrackingClient client, Run run) : IAsyncDisposable
{
    private string _status = "FINISHED";
    private bool _ended;

    public Run Run { get; } = run;
    public string RunId => Run.Info.RunId;
    public TrackingClient Client { get; } = client;

    public Task LogParamsAsync(IReadOnlyDictionary<string, string> parameters, CancellationToken ct = default) =>
        Client.LogBatchAsync(RunId, parameters: parameters, ct: ct);

    public Task LogMetricAsync(string key, double value, long step = 0, CancellationToken ct = default) =>
        Client.LogMetricAsync(RunId, key, value, step, null, ct);

    public Task LogMetricsAsync(IReadOnlyDictionary<string, double> metrics, long step = 0, CancellationToken ct = default)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        return Client.LogBatchAsync(RunId, metrics.Select(m => new Metric(m.Key, m.Value, now, step)), ct: ct);
    }

    public Task UploadArtifactAsync(string path, Stream content, CancellationToken ct = default) => Client.UploadArtifactAsync(Run, path, content, ct);

    /// <summary>Marks the run as failed (recorded when it ends), e.g. from a catch block.</summary>
    public void Fail() => _status = "FAILED";

    /// <summary>Ends the run now with its status.</summary>
    public async Task EndAsync(CancellationToken ct = default)
    {
        if (_ended)
            return;
        _ended = true;
        await Client.FinishRunAsync(RunId, _status, ct);
    }

    public async ValueTask DisposeAsync() => await EndAsync();
}
