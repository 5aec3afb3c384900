using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Mlops.Serving.Features.Capture;
using Mlops.Serving.Features.Endpoints;
using Mlops.Serving.Features.Inference;
using Mlops.Serving.Features.Routing;
using Mlops.ServiceDefaults.Storage;
using Mlops.Trainer.Model.Tabular;

namespace Mlops.Serving.Tests;

/// <summary>
/// The capture writer's batching against an S3 client that keeps what it is sent (the integration tests run it against
/// s3rver): objects split at the configured size, one folder per variant, every record once, failed writes retried.
/// </summary>
public sealed class CaptureWriterTests
{
    /// <summary>An S3 client that stores PUT bodies in memory (copied: the writer's buffers are pooled), failing the first <c>failures</c>.</summary>
    private sealed class MemoryS3(int failures) : AmazonS3Client(new BasicAWSCredentials("k", "s"), new AmazonS3Config { ServiceURL = "http://127.0.0.1:9" })
    {
        private int _failures = failures;
        public ConcurrentDictionary<string, byte[]> Objects { get; } = new();
        public int Puts;

        public override async Task<PutObjectResponse> PutObjectAsync(PutObjectRequest request, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref Puts);
            await Task.Yield();
            if (Interlocked.Decrement(ref _failures) >= 0)
                throw new AmazonS3Exception("injected failure");
            using var copy = new MemoryStream();
            await request.InputStream.CopyToAsync(copy, cancellationToken);
            Objects[request.Key] = copy.ToArray();
            return new PutObjectResponse();
        }
    }

    private static readonly DateTimeOffset At = new(2026, 12, 1, 10, 5, 7, 123, TimeSpan.Zero);

    private static (CaptureWriter Writer, MemoryS3 S3) Writer(int failures = 0, int objectBytes = 64 * 1024) =>
        Create(new MemoryS3(failures), objectBytes);

    private static (CaptureWriter, MemoryS3) Create(MemoryS3 s3, int objectBytes) =>
        (new CaptureWriter(new ObjectStore(s3),
            Options.Create(new ServingOptions { CaptureObjectBytes = objectBytes, CaptureUploads = 3, CaptureFlushMilliseconds = 100, CaptureBufferRecords = 1_000_000 }),
            Options.Create(new StorageOptions { LakeBucket = "lake", ArtifactBucket = "artifacts" }), TimeProvider.System,
            NullLogger<CaptureWriter>.Instance), s3);

    private static EndpointRoute Route(int percent = 100) => new("ep", 1, [], null, 0, new DataCaptureConfig(true, percent), null);

    private static (DataTable, ScoredRow[]) Rows(int batch, int count, string variant)
    {
        var table = new DataTable([
            TableColumn.Numbers("distance", [.. Enumerable.Range(0, count).Select(i => (float)(100 + i))]),
            TableColumn.Texts("origin", [.. Enumerable.Range(0, count).Select(i => i % 2 == 0 ? "SFO" : "LAX")]),
        ]);
        var rows = Enumerable.Range(0, count).Select(i => new ScoredRow($"b{batch}-r{i}", variant, "m", "1", i % 3 == 0, 0.5f, 0.6f, null)).ToArray();
        return (table, rows);
    }

    private static async Task UntilWrittenAsync(CaptureWriter writer, long records)
    {
        for (var waited = System.Diagnostics.Stopwatch.StartNew(); writer.Status.Written < records; await Task.Delay(20))
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(30), $"only {writer.Status.Written} of {records} records written: {writer.Status}");
    }

    private static List<JsonObject> Records(MemoryS3 s3, string prefix) =>
        [.. s3.Objects.Where(o => o.Key.StartsWith(prefix, StringComparison.Ordinal))
            .SelectMany(o => System.Text.Encoding.UTF8.GetString(o.Value).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            .Select(line => JsonNode.Parse(line)!.AsObject())];

    [Fact]
    public async Task BatchTraffic_IsWrittenInObjectsOfAboutTheConfiguredSize_PerVariantFolder_EveryRecordOnce()
    {
        var (writer, s3) = Writer();
        await writer.StartAsync(CancellationToken.None);
        var route = Route();
        for (var b = 0; b < 40; b++)
        {
            var (table, rows) = Rows(b, 250, b % 4 == 0 ? "green" : "blue");
            writer.Offer(route, rows[0].Variant, table, rows, At);
        }
        await UntilWrittenAsync(writer, 40 * 250);
        await writer.StopAsync(CancellationToken.None);

        Assert.All(s3.Objects.Keys, key => Assert.Matches(@"^data-capture/ep/(blue|green)/2026/12/01/10/\d{2}-\d{2}-\d{3}-[0-9a-f-]{36}\.jsonl$", key));
        // 10,000 records of ~400 bytes in 64 KiB objects: many objects, none much over the size.
        Assert.InRange(s3.Objects.Count, 40, 200);
        Assert.All(s3.Objects.Values, body => Assert.InRange(body.Length, 1, 64 * 1024 + 1024));
        var blue = Records(s3, "data-capture/ep/blue/");
        var green = Records(s3, "data-capture/ep/green/");
        Assert.Equal(30 * 250, blue.Count);
        Assert.Equal(10 * 250, green.Count);
        var ids = blue.Concat(green).Select(r => (string)r["eventMetadata"]!["inferenceId"]!).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        var eventIds = blue.Concat(green).Select(r => (string)r["eventMetadata"]!["eventId"]!).ToList();
        Assert.Equal(10_000, eventIds.Distinct().Count());
        Assert.All(eventIds, id => Assert.Matches("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", id));
        Assert.All(green, r => Assert.StartsWith("b", (string)r["eventMetadata"]!["inferenceId"]!));
        var first = blue.Single(r => (string)r["eventMetadata"]!["inferenceId"]! == "b1-r3");
        Assert.Equal("""{"distance":103,"origin":"LAX"}""", (string)first["captureData"]!["endpointInput"]!["data"]!);
        Assert.Equal("""{"predicted_label":true,"score":0.5,"probability":0.6}""", (string)first["captureData"]!["endpointOutput"]!["data"]!);
        Assert.Equal("2026-12-01T10:05:07.123Z", (string)first["eventMetadata"]!["inferenceTime"]!);
        Assert.Equal(new CaptureStatus(10_000, 0, 0, 0, null, writer.Status.LastFlushAt, s3.Objects.Count), writer.Status);
    }

    [Fact]
    public async Task OneRowRequests_AreGatheredIntoOneObjectPerFlushInterval()
    {
        var (writer, s3) = Writer(objectBytes: 8 * 1024 * 1024);
        await writer.StartAsync(CancellationToken.None);
        var route = Route();
        for (var b = 0; b < 500; b++)
        {
            var (table, rows) = Rows(b, 1, "blue");
            writer.Offer(route, "blue", table, rows, At);
        }
        await UntilWrittenAsync(writer, 500);
        await writer.StopAsync(CancellationToken.None);
        // Offered within a few milliseconds: an object per formatter (2) and flush interval (one or two), not one per request.
        Assert.InRange(s3.Objects.Count, 1, 4);
        Assert.Equal(500, Records(s3, "data-capture/ep/blue/").Count);
    }

    [Fact]
    public async Task FailedWrites_AreRetried_UnderTheSameKey_AndCounted()
    {
        var (writer, s3) = Writer(failures: 2);
        await writer.StartAsync(CancellationToken.None);
        var (table, rows) = Rows(0, 100, "blue");
        writer.Offer(Route(), "blue", table, rows, At);
        await UntilWrittenAsync(writer, 100);
        await writer.StopAsync(CancellationToken.None);
        Assert.Single(s3.Objects);
        Assert.Equal(3, s3.Puts);
        Assert.Equal(100, Records(s3, "data-capture/ep/blue/").Count);
        Assert.Equal((2L, 0L, 0L), (writer.Status.Failed, writer.Status.Buffered, writer.Status.Dropped));
        Assert.Contains("injected failure", writer.Status.LastError);
    }

    [Fact]
    public async Task AFullBuffer_DropsAndCounts_WithoutBlocking()
    {
        var s3 = new MemoryS3(failures: int.MaxValue);
        var writer = new CaptureWriter(new ObjectStore(s3), Options.Create(new ServingOptions { CaptureBufferRecords = 150, CaptureFlushMilliseconds = 50 }),
            Options.Create(new StorageOptions { LakeBucket = "lake", ArtifactBucket = "artifacts" }), TimeProvider.System, NullLogger<CaptureWriter>.Instance);
        var (table, rows) = Rows(0, 100, "blue");
        writer.Offer(Route(), "blue", table, rows, At);
        writer.Offer(Route(), "blue", table, rows, At);
        writer.Offer(Route(percent: 0), "blue", table, rows, At);
        Assert.Equal((100L, 100L), (writer.Status.Buffered, writer.Status.Dropped));
    }
}
