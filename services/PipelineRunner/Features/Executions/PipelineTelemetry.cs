using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Mlops.PipelineRunner.Features.Executions;

/// <summary>
/// The runner's traces and metrics. One trace per execution: its creation starts a <c>pipeline execution</c> span whose
/// traceparent is stored on the execution row, and every step span (on any replica, after any restart) starts with it as
/// parent. Metrics (meter <c>Mlops.PipelineRunner.Executions</c>) are tagged with the pipeline, status and step type only.
/// </summary>
public static class PipelineTelemetry
{
    // Named as the service (its ApplicationName), which the platform's tracing already listens to.
    public static readonly ActivitySource Source = new("PipelineRunner");

    public const string MeterName = "Mlops.PipelineRunner.Executions";
    private static readonly Meter Meter = new(MeterName);
    private static readonly Counter<long> ExecutionsStarted =
        Meter.CreateCounter<long>("mlops.pipeline.executions.started", "{execution}", "Executions started (API, schedule, trigger) or retried.");
    private static readonly Counter<long> ExecutionsFinished =
        Meter.CreateCounter<long>("mlops.pipeline.executions.finished", "{execution}", "Executions that ended, by status (succeeded, failed, stopped).");
    private static readonly Histogram<double> ExecutionDuration =
        Meter.CreateHistogram<double>("mlops.pipeline.execution.duration", "s", "From an execution's creation to its end.");
    private static readonly Counter<long> StepRuns =
        Meter.CreateCounter<long>("mlops.pipeline.step_runs", "{step_run}",
            "Step outcomes by status (succeeded, failed, retrying, stopped; cached, skipped and condition outcomes decided without a runner) and type.");
    private static readonly Histogram<double> StepDuration =
        Meter.CreateHistogram<double>("mlops.pipeline.step.duration", "s", "One attempt of a step on a runner, from its start to its outcome.");

    /// <summary>
    /// Starts (and ends at once) the span that marks an execution's creation, a child of the current one (the API request,
    /// the bus message), and answers its W3C traceparent to store. With no listener it answers a traceparent in the
    /// current trace, or in a new one, so the steps still share a trace id.
    /// </summary>
    public static string NewTraceParent(string pipeline, Guid executionId, string startedBy)
    {
        using var activity = Source.StartActivity($"pipeline execution {pipeline}");
        if (activity is not null)
        {
            activity.SetTag("pipeline", pipeline);
            activity.SetTag("pipeline.execution_id", executionId.ToString());
            activity.SetTag("pipeline.started_by", startedBy);
        }
        var current = activity ?? Activity.Current;
        return current is { IdFormat: ActivityIdFormat.W3C }
            ? TraceParent(current.TraceId, current.SpanId, current.Recorded)
            : TraceParent(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), recorded: true);
    }

    public static string TraceParent(ActivityTraceId traceId, ActivitySpanId spanId, bool recorded) =>
        $"00-{traceId.ToHexString()}-{spanId.ToHexString()}-{(recorded ? "01" : "00")}";

    /// <summary>The stored traceparent as a parent context; default (no parent) when absent or malformed.</summary>
    public static ActivityContext Parent(string? traceparent) =>
        traceparent is not null && ActivityContext.TryParse(traceparent, null, isRemote: true, out var context) ? context : default;

    /// <summary>A step attempt's span, in its execution's trace.</summary>
    public static Activity? StartStep(string step, string stepType, Guid executionId, string pipeline, int attempt, string? traceparent)
    {
        var activity = Source.StartActivity($"step {step}", ActivityKind.Internal, Parent(traceparent));
        if (activity is null)
            return null;
        activity.SetTag("pipeline", pipeline);
        activity.SetTag("pipeline.execution_id", executionId.ToString());
        activity.SetTag("pipeline.step", step);
        activity.SetTag("pipeline.step.type", stepType);
        activity.SetTag("pipeline.step.attempt", attempt);
        return activity;
    }

    public static void ExecutionStarted(string pipeline) => ExecutionsStarted.Add(1, new KeyValuePair<string, object?>("pipeline", pipeline));

    public static void ExecutionFinished(string pipeline, string status, TimeSpan? duration)
    {
        var tags = new TagList { { "pipeline", pipeline }, { "status", status } };
        ExecutionsFinished.Add(1, tags);
        if (duration is { } d)
            ExecutionDuration.Record(Math.Max(0, d.TotalSeconds), tags);
    }

    /// <summary>A step outcome; <paramref name="duration"/> only for attempts a runner ran (not cached or skipped steps).</summary>
    public static void StepFinished(string pipeline, string? stepType, string status, TimeSpan? duration)
    {
        var tags = new TagList { { "pipeline", pipeline }, { "status", status }, { "step_type", stepType ?? "" } };
        StepRuns.Add(1, tags);
        if (duration is { } d)
            StepDuration.Record(Math.Max(0, d.TotalSeconds), tags);
    }
}
