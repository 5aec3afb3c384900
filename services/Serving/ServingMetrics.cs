using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Mlops.Serving;

/// <summary>Serving's own traces and metrics (per endpoint and variant), exported with the rest through OpenTelemetry.</summary>
public static class ServingMetrics
{
    // The application name: ServiceDefaults already exports traces from a source of that name.
    public const string Name = "Serving";
    public static readonly ActivitySource Activities = new(Name);
    private static readonly Meter Meter = new(Name);

    public static readonly Counter<long> Requests = Meter.CreateCounter<long>("serving.requests", description: "Invocations served, by endpoint and variant.");
    public static readonly Counter<long> Errors = Meter.CreateCounter<long>("serving.errors",
        description: "Invocations that failed after routing, by endpoint, variant and kind (schema: the rows did not fit the variant's schema; model: scoring failed).");
    public static readonly Counter<long> Rows = Meter.CreateCounter<long>("serving.rows", description: "Rows scored, by endpoint and variant.");
    public static readonly Histogram<double> Latency = Meter.CreateHistogram<double>("serving.latency", "ms", "Time to score one invocation, by endpoint and variant.");
    public static readonly Histogram<double> ModelLoadSeconds = Meter.CreateHistogram<double>("serving.model_load", "s", "Time to fetch, load and warm up a model version.");
    public static readonly Counter<long> CaptureDropped = Meter.CreateCounter<long>("serving.capture.dropped", description: "Captured records dropped because the buffer was full.");
    public static readonly Counter<long> ShadowDropped = Meter.CreateCounter<long>("serving.shadow.dropped", description: "Mirrored requests dropped because the shadow queue was full.");
    public static readonly Counter<long> CaptureWritten = Meter.CreateCounter<long>("serving.capture.written", description: "Captured records written to S3.");
}
