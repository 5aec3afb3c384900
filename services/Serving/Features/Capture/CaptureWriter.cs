using System.Buffers;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Mlops.Serving.Features.Inference;
using Mlops.Serving.Features.Routing;
using Mlops.ServiceDefaults.Storage;
using Mlops.Trainer.Model.Tabular;

namespace Mlops.Serving.Features.Capture;

/// <summary>Capture counters since the replica started: what was written, what is waiting, what was dropped and the last write error.</summary>
public sealed record CaptureStatus(long Written, long Buffered, long Dropped, long Failed, string? LastError, DateTimeOffset? LastFlushAt);

/// <summary>
/// Data capture off the request path. A request only samples itself and queues its scored rows (no formatting, no I/O);
/// the writer formats them as SageMaker capture records and writes one JSON Lines object per endpoint, variant and hour
/// every flush interval, or as soon as a quarter of the buffer is waiting (batch traffic at 100 % sampling fills an
/// interval's worth in well under a second). When the buffer holds its limit, further rows are dropped and counted: capture
/// never blocks or fails a prediction. A write that fails is retried at the next flush while the buffer has room.
/// </summary>
public sealed class CaptureWriter(ObjectStore store, IOptions<ServingOptions> options, IOptions<StorageOptions> storage, TimeProvider clock,
    ILogger<CaptureWriter> logger) : BackgroundService
{
    private sealed record Batch(string Endpoint, string Variant, DataTable Inputs, IReadOnlyList<ScoredRow> Rows, DateTimeOffset At);

    private readonly Channel<Batch> _queue = Channel.CreateUnbounded<Batch>(new UnboundedChannelOptions { SingleReader = true });
    private long _buffered, _written, _dropped, _failed;
    private string? _lastError;
    private DateTimeOffset? _lastFlush;

    public string Bucket => options.Value.CaptureBucket is { Length: > 0 } bucket ? bucket : storage.Value.LakeBucket;

    public CaptureStatus Status => new(Interlocked.Read(ref _written), Interlocked.Read(ref _buffered), Interlocked.Read(ref _dropped),
        Interlocked.Read(ref _failed), _lastError, _lastFlush);

    /// <summary>Queues a request's rows if the endpoint captures and this request falls in the sample.</summary>
    public void Offer(EndpointRoute route, string variant, DataTable inputs, IReadOnlyList<ScoredRow> rows, DateTimeOffset at)
    {
        var capture = route.DataCapture;
        if (!capture.Enabled || capture.SamplingPercentage <= 0 || Random.Shared.NextDouble() * 100 >= capture.SamplingPercentage)
            return;
        if (Interlocked.Add(ref _buffered, rows.Count) > options.Value.CaptureBufferRecords)
        {
            Interlocked.Add(ref _buffered, -rows.Count);
            Interlocked.Add(ref _dropped, rows.Count);
            ServingMetrics.CaptureDropped.Add(rows.Count, new KeyValuePair<string, object?>("endpoint", route.Name));
            return;
        }
        _queue.Writer.TryWrite(new Batch(route.Name, variant, inputs, rows, at));
        // Under load the writer does not wait for its interval: a quarter of the buffer is reason enough to write now.
        if (Interlocked.Read(ref _buffered) >= options.Value.CaptureBufferRecords / 4 && Interlocked.Exchange(ref _woken, 1) == 0)
            _wake.Release();
    }

    private readonly SemaphoreSlim _wake = new(0);
    private int _woken;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromMilliseconds(options.Value.CaptureFlushMilliseconds);
        var pending = new Dictionary<string, (ArrayBufferWriter<byte> Lines, int Count)>();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(interval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
            }
            Volatile.Write(ref _woken, 0);
            // On shutdown: one last flush of what is buffered.
            await FlushAsync(pending, CancellationToken.None);
        }
    }

    private readonly CaptureFormat.RecordWriter _records = new();

    /// <summary>Formats everything queued and writes one object per folder; folders that fail stay pending for the next flush.</summary>
    internal async Task FlushAsync(Dictionary<string, (ArrayBufferWriter<byte> Lines, int Count)> pending, CancellationToken ct)
    {
        while (_queue.Reader.TryRead(out var batch))
        {
            var folder = CaptureFormat.CaptureFolder(options.Value.CapturePrefix, batch.Endpoint, batch.Variant, batch.At);
            if (!pending.TryGetValue(folder, out var entry))
                entry = (new ArrayBufferWriter<byte>(64 * 1024), 0);
            for (var i = 0; i < batch.Rows.Count; i++)
            {
                _records.Write(entry.Lines, batch.Inputs, i, batch.Rows[i], Guid.NewGuid().ToString(), batch.At);
                entry.Lines.Write("\n"u8);
            }
            pending[folder] = (entry.Lines, entry.Count + batch.Rows.Count);
        }
        foreach (var (folder, (lines, count)) in pending.ToList())
        {
            try
            {
                var key = folder + CaptureFormat.FileName(clock.GetUtcNow());
                using var content = new MemoryStream(lines.WrittenMemory.ToArray(), writable: false);
                await store.PutAsync(Bucket, key, content, "application/jsonl", ct);
                pending.Remove(folder);
                Interlocked.Add(ref _buffered, -count);
                Interlocked.Add(ref _written, count);
                ServingMetrics.CaptureWritten.Add(count);
                _lastFlush = clock.GetUtcNow();
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Interlocked.Increment(ref _failed);
                _lastError = $"{folder}: {e.Message}";
                logger.LogWarning(e, "Writing {Count} captured records under {Folder} failed; retrying at the next flush", count, folder);
            }
        }
    }
}
