using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Mlops.Serving.Features.Capture;
using Mlops.Serving.Features.Routing;

namespace Mlops.Serving.Features.Inference;

/// <summary>Mirroring counters since the replica started: requests scored by shadow variants, failed there, dropped (queue full), waiting.</summary>
public sealed record ShadowStatus(long Scored, long Failed, long Dropped, long Queued);

/// <summary>
/// Shadow traffic off the request path. A sampled request only queues its rows (the frame as parsed, with the inference
/// ids its answer carried); one reader scores them on a shadow variant of the route they came through, records the
/// variant's measurements for the built-in alarms and hands the answers to data capture under the shadow variant's name.
/// Shadow answers are never returned to anyone. A full queue drops the mirror and counts it; it never slows a request.
/// </summary>
public sealed class ShadowMirror(CaptureWriter capture, IOptions<ServingOptions> options, ILogger<ShadowMirror> logger)
    : BackgroundService
{
    private sealed record Mirrored(EndpointRoute Route, InputFrame Frame, IReadOnlyList<string> InferenceIds, DateTimeOffset At);

    private readonly Channel<Mirrored> _queue = Channel.CreateBounded<Mirrored>(
        new BoundedChannelOptions(options.Value.ShadowQueueRequests) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private long _scored, _failed, _dropped;

    public ShadowStatus Status => new(Interlocked.Read(ref _scored), Interlocked.Read(ref _failed), Interlocked.Read(ref _dropped), _queue.Reader.Count);

    /// <summary>Mirrors a request if the route is shadowing and the request falls in its sample.</summary>
    public void Offer(EndpointRoute route, InputFrame frame, IReadOnlyList<string> inferenceIds, DateTimeOffset at)
    {
        var percent = route.ShadowPercent;
        if (percent <= 0 || (percent < 100 && Random.Shared.NextDouble() * 100 >= percent))
            return;
        // The frame's JSON cells belong to the request's document, which is returned to its pool when the request ends.
        if (!_queue.Writer.TryWrite(new Mirrored(route, frame.Detach(), inferenceIds, at)))
        {
            Interlocked.Increment(ref _dropped);
            ServingMetrics.ShadowDropped.Add(1, new KeyValuePair<string, object?>("endpoint", route.Name));
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var mirrored in _queue.Reader.ReadAllAsync(stoppingToken))
                Score(mirrored);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private void Score(Mirrored m)
    {
        if (TrafficRouter.PickShadow(m.Route, Random.Shared) is not { Model: { } model } variant)
            return;
        var tags = new TagList { { "endpoint", m.Route.Name }, { "variant", variant.Spec.Name }, { "shadow", true } };
        var started = Stopwatch.GetTimestamp();
        try
        {
            var table = SchemaBinder.Bind(m.Frame, model.Package.Manifest.InputSchema);
            var predictions = model.Package.Score(table);
            var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            variant.Window?.Record(elapsed, failed: false);
            ServingMetrics.Latency.Record(elapsed, tags);
            ServingMetrics.Requests.Add(1, tags);
            ServingMetrics.Rows.Add(table.RowCount, tags);
            var rows = new ScoredRow[predictions.Count];
            for (var i = 0; i < rows.Length; i++)
            {
                var p = predictions[i];
                rows[i] = new ScoredRow(m.InferenceIds[i], variant.Spec.Name, model.ModelName, model.ModelVersion, p.PredictedLabel, p.Score, p.Probability,
                    p.ClassScores);
            }
            Interlocked.Increment(ref _scored);
            capture.Offer(m.Route, variant.Spec.Name, table, rows, m.At);
        }
        catch (Exception e)
        {
            // A shadow variant that cannot score these rows (another schema, a model error) fails only its own measurements.
            variant.Window?.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds, failed: true);
            tags.Add("kind", e is ProblemException ? "schema" : "model");
            ServingMetrics.Errors.Add(1, tags);
            Interlocked.Increment(ref _failed);
            logger.LogDebug(e, "Shadow variant {Variant} of {Endpoint} failed a mirrored request", variant.Spec.Name, m.Route.Name);
        }
    }
}
