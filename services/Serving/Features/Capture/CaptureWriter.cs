using System.Buffers;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Mlops.Serving.Features.Inference;
using Mlops.Serving.Features.Routing;
using Mlops.ServiceDefaults.Storage;
using Mlops.Trainer.Model.Tabular;

namespace Mlops.Serving.Features.Capture;

/// <summary>Capture counters since the replica started: what was written, what is waiting, what was dropped and the last write error.</summary>
public sealed record CaptureStatus(long Written, long Buffered, long Dropped, long Failed, string? LastError, DateTimeOffset? LastFlushAt, long Objects = 0);

/// <summary>
/// Data capture off the request path. A request only samples itself and queues its scored rows (no formatting, no I/O).
/// <see cref="ServingOptions.CaptureFormatters"/> formatter tasks turn the queue into SageMaker capture records as they
/// arrive, straight into pooled buffers per endpoint, variant and hour; a buffer becomes an object when it reaches <see cref="ServingOptions.CaptureObjectBytes"/>
/// or has waited <see cref="ServingOptions.CaptureFlushMilliseconds"/>, and <see cref="ServingOptions.CaptureUploads"/>
/// uploaders write the objects in parallel (single PUTs, never multipart), so formatting and uploading overlap and one slow
/// PUT does not hold the rest. When <see cref="ServingOptions.CaptureBufferRecords"/> rows are waiting (queued, formatted
/// or being written), further rows are dropped and counted: capture never blocks or fails a prediction. A write that
/// fails is retried (same key, so a retry after a lost answer overwrites rather than duplicates) while the buffer has room.
/// </summary>
public sealed class CaptureWriter(ObjectStore store, IOptions<ServingOptions> options, IOptions<StorageOptions> storage, TimeProvider clock,
    ILogger<CaptureWriter> logger) : BackgroundService
{
    private sealed record Batch(string Endpoint, string Variant, DataTable Inputs, IReadOnlyList<ScoredRow> Rows, DateTimeOffset At);

    /// <summary>Records being formatted for one folder; sealed into an object when full or old enough.</summary>
    private sealed class Chunk(string folder, long startedAt)
    {
        public string Folder { get; } = folder;
        public long StartedAt { get; } = startedAt;
        public PooledBuffer Lines { get; } = new(64 * 1024);
        public int Count { get; set; }
    }

    private readonly Channel<Batch> _queue = Channel.CreateUnbounded<Batch>();
    // Unbounded, but never longer than the buffer's limit allows: every record in it still counts as buffered.
    private readonly Channel<(string Key, Chunk Chunk)> _objects = Channel.CreateUnbounded<(string, Chunk)>();
    private readonly ServingOptions _options = options.Value;
    private long _buffered, _written, _dropped, _failed, _objectCount;
    private string? _lastError;
    private long _lastFlushTicks; // UTC ticks of the last successful write, 0 for none (a long: written by several uploaders)

    public string Bucket => _options.CaptureBucket is { Length: > 0 } bucket ? bucket : storage.Value.LakeBucket;

    public CaptureStatus Status => new(Interlocked.Read(ref _written), Interlocked.Read(ref _buffered), Interlocked.Read(ref _dropped),
        Interlocked.Read(ref _failed), _lastError, Interlocked.Read(ref _lastFlushTicks) is > 0 and var ticks ? new DateTimeOffset(ticks, TimeSpan.Zero) : null,
        Interlocked.Read(ref _objectCount));

    /// <summary>Queues a request's rows if the endpoint captures and this request falls in the sample.</summary>
    public void Offer(EndpointRoute route, string variant, DataTable inputs, IReadOnlyList<ScoredRow> rows, DateTimeOffset at)
    {
        var capture = route.DataCapture;
        if (!capture.Enabled || capture.SamplingPercentage <= 0
            || (capture.SamplingPercentage < 100 && Random.Shared.NextDouble() * 100 >= capture.SamplingPercentage))
            return;
        if (Interlocked.Add(ref _buffered, rows.Count) > _options.CaptureBufferRecords)
        {
            Interlocked.Add(ref _buffered, -rows.Count);
            Interlocked.Add(ref _dropped, rows.Count);
            ServingMetrics.CaptureDropped.Add(rows.Count, new KeyValuePair<string, object?>("endpoint", route.Name));
            return;
        }
        _queue.Writer.TryWrite(new Batch(route.Name, variant, inputs, rows, at));
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var uploaders = Enumerable.Range(0, _options.CaptureUploads).Select(_ => Task.Run(() => UploadAsync(stoppingToken), CancellationToken.None)).ToArray();
        try
        {
            await Task.WhenAll(Enumerable.Range(0, _options.CaptureFormatters).Select(_ => Task.Run(() => FormatAsync(stoppingToken), CancellationToken.None)));
        }
        finally
        {
            _objects.Writer.TryComplete();
            await Task.WhenAll(uploaders);
        }
    }

    /// <summary>One formatter's state: its open buffers (per folder), its JSON writers, the folder and size of its last record.</summary>
    private sealed class Formatter
    {
        public Dictionary<string, Chunk> Open { get; } = new(StringComparer.Ordinal);
        public CaptureFormat.RecordWriter Records { get; } = new();
        // The folder of the previous batch: consecutive batches mostly share endpoint, variant and hour.
        public (string Endpoint, string Variant, long Hour, string Folder) LastFolder = ("", "", -1, "");
        public int RecordBytes;
    }

    /// <summary>
    /// One of <see cref="ServingOptions.CaptureFormatters"/> loops: formats queued rows as they come into buffers of its
    /// own; seals a folder's buffer into an object when it is full or has waited a flush interval. On shutdown, formats
    /// and seals everything still queued.
    /// </summary>
    private async Task FormatAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromMilliseconds(_options.CaptureFlushMilliseconds);
        var formatter = new Formatter();
        var open = formatter.Open;
        var due = new List<Chunk>();
        Task<bool>? waiting = null;
        Task? timer = null;
        while (true)
        {
            var stopping = stoppingToken.IsCancellationRequested;
            while (_queue.Reader.TryRead(out var batch))
                Format(batch, formatter);
            var now = clock.GetTimestamp();
            var next = interval;
            foreach (var chunk in open.Values)
            {
                var left = interval - clock.GetElapsedTime(chunk.StartedAt, now);
                if (stopping || left <= TimeSpan.Zero)
                    due.Add(chunk);
                else if (left < next)
                    next = left;
            }
            foreach (var chunk in due)
                Seal(open, chunk);
            due.Clear();
            if (stopping)
                return;

            // Sleep until rows arrive or the oldest open buffer is due. One timer at a time: a newer buffer is never due
            // before one that is already open, so a pending timer never fires too late.
            waiting ??= _queue.Reader.WaitToReadAsync(stoppingToken).AsTask();
            if (!waiting.IsCompleted)
            {
                timer ??= Task.Delay(next, clock, stoppingToken);
                await Task.WhenAny(waiting, timer).ConfigureAwait(false);
            }
            if (waiting.IsCompleted)
            {
                waiting = null;
                // Rows are waiting: let a few more requests' rows gather first, so one-row traffic is formatted in runs,
                // not with a wake-up per request. Everything queued is formatted at once, so this costs no throughput.
                await Task.WhenAny(Task.Delay(Coalesce, clock, stoppingToken)).ConfigureAwait(false);
            }
            if (timer?.IsCompleted == true)
                timer = null;
        }
    }

    private static readonly TimeSpan Coalesce = TimeSpan.FromMilliseconds(10);

    private void Format(Batch batch, Formatter formatter)
    {
        var (open, records) = (formatter.Open, formatter.Records);
        var hour = batch.At.UtcTicks / TimeSpan.TicksPerHour;
        ref var last = ref formatter.LastFolder;
        if (last.Hour != hour || last.Endpoint != batch.Endpoint || last.Variant != batch.Variant)
            last = (batch.Endpoint, batch.Variant, hour, CaptureFormat.CaptureFolder(_options.CapturePrefix, batch.Endpoint, batch.Variant, batch.At));
        var folder = last.Folder;
        if (!open.TryGetValue(folder, out var chunk))
            open[folder] = chunk = new Chunk(folder, clock.GetTimestamp());
        Span<char> eventId = stackalloc char[36];
        for (var i = 0; i < batch.Rows.Count; i++)
        {
            // Seal before the buffer would outgrow the object size (the last record's size as the guess, plus the 4 KiB
            // the JSON writer asks for at a time), so a pooled array of the object size is never doubled for one record.
            if (chunk.Count > 0 && chunk.Lines.WrittenCount + 2 * formatter.RecordBytes + 4096 > _options.CaptureObjectBytes)
            {
                Seal(open, chunk);
                open[folder] = chunk = new Chunk(folder, clock.GetTimestamp());
            }
            var before = chunk.Lines.WrittenCount;
            CaptureFormat.NewEventId().TryFormat(eventId, out _);
            records.Write(chunk.Lines, batch.Inputs, i, batch.Rows[i], eventId, batch.At);
            chunk.Lines.Write("\n"u8);
            chunk.Count++;
            formatter.RecordBytes = chunk.Lines.WrittenCount - before;
        }
    }

    private void Seal(Dictionary<string, Chunk> open, Chunk chunk)
    {
        if (open.TryGetValue(chunk.Folder, out var current) && ReferenceEquals(current, chunk))
            open.Remove(chunk.Folder);
        if (chunk.Count == 0)
        {
            chunk.Lines.Dispose();
            return;
        }
        _objects.Writer.TryWrite((chunk.Folder + CaptureFormat.FileName(clock.GetUtcNow()), chunk));
    }

    /// <summary>Writes sealed objects until there are no more; a failed write is retried after a pause (once more on shutdown).</summary>
    private async Task UploadAsync(CancellationToken stoppingToken)
    {
        var pause = TimeSpan.FromMilliseconds(Math.Min(_options.CaptureFlushMilliseconds, 5000));
        await foreach (var (key, chunk) in _objects.Reader.ReadAllAsync(CancellationToken.None))
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    var (array, length) = chunk.Lines.Written;
                    using var content = new MemoryStream(array, 0, length, writable: false);
                    await store.PutAsync(Bucket, key, content, "application/jsonl", CancellationToken.None);
                    Interlocked.Add(ref _buffered, -chunk.Count);
                    Interlocked.Add(ref _written, chunk.Count);
                    Interlocked.Increment(ref _objectCount);
                    ServingMetrics.CaptureWritten.Add(chunk.Count);
                    Interlocked.Exchange(ref _lastFlushTicks, clock.GetUtcNow().UtcTicks);
                    break;
                }
                catch (Exception e)
                {
                    Interlocked.Increment(ref _failed);
                    _lastError = $"{key}: {e.Message}";
                    logger.LogWarning(e, "Writing {Count} captured records to {Key} failed (attempt {Attempt}); retrying", chunk.Count, key, attempt);
                    if (stoppingToken.IsCancellationRequested && attempt >= 2)
                    {
                        // Shutting down: what could not be written is lost, and counted so.
                        Interlocked.Add(ref _buffered, -chunk.Count);
                        Interlocked.Add(ref _dropped, chunk.Count);
                        break;
                    }
                    try
                    {
                        await Task.Delay(pause, clock, stoppingToken);
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }
            }
            chunk.Lines.Dispose();
        }
    }
}

/// <summary>A growable byte buffer on <see cref="ArrayPool{T}.Shared"/> arrays: no large-object allocations per capture object.</summary>
internal sealed class PooledBuffer(int initialCapacity) : IBufferWriter<byte>, IDisposable
{
    private byte[] _array = ArrayPool<byte>.Shared.Rent(initialCapacity);
    private int _written;

    public int WrittenCount => _written;

    /// <summary>The array and how much of it is written.</summary>
    public (byte[] Array, int Length) Written => (_array, _written);

    public void Advance(int count) => _written += count;

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsSpan(_written);
    }

    public void Write(ReadOnlySpan<byte> bytes)
    {
        Ensure(bytes.Length);
        bytes.CopyTo(_array.AsSpan(_written));
        _written += bytes.Length;
    }

    private void Ensure(int sizeHint)
    {
        var needed = _written + Math.Max(sizeHint, 256);
        if (needed <= _array.Length)
            return;
        var larger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, _array.Length * 2));
        _array.AsSpan(0, _written).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(_array);
        _array = larger;
    }

    public void Dispose()
    {
        if (_array.Length == 0)
            return;
        ArrayPool<byte>.Shared.Return(_array);
        _array = [];
        _written = 0;
    }
}
