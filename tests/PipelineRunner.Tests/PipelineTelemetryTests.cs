using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Mlops.PipelineRunner.Features.Executions;

namespace Mlops.PipelineRunner.Tests;

public sealed class PipelineTelemetryTests
{
    private static ActivityListener Listen(ConcurrentBag<Activity> stopped)
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == PipelineTelemetry.Source.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Add,
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }

    [Fact]
    public void StepsStartedFromTheStoredTraceParent_ShareTheExecutionsTrace_UnderItsCreationSpan()
    {
        var stopped = new ConcurrentBag<Activity>();
        using var listener = Listen(stopped);
        var id = Guid.NewGuid();
        using var request = new Activity("POST /api/pipelines/p/executions").Start();

        var traceparent = PipelineTelemetry.NewTraceParent("p", id, "api");
        request.Stop();
        Activity.Current = null; // the runner claims steps on a background loop, outside any request

        var creation = Assert.Single(stopped, a => a.GetTagItem("pipeline.execution_id") as string == id.ToString() && a.OperationName.StartsWith("pipeline execution"));
        Assert.Equal(request.TraceId, creation.TraceId);
        Assert.Equal(request.SpanId, creation.ParentSpanId);
        Assert.Equal(PipelineTelemetry.TraceParent(creation.TraceId, creation.SpanId, recorded: true), traceparent);

        using (var train = PipelineTelemetry.StartStep("train", "train", id, "p", 1, traceparent))
        using (var register = PipelineTelemetry.StartStep("register", "register_model", id, "p", 2, traceparent))
        {
            Assert.NotNull(train);
            Assert.NotNull(register);
            Assert.Equal(creation.TraceId, train.TraceId);
            Assert.Equal(creation.TraceId, register.TraceId);
            Assert.Equal(creation.SpanId, train.ParentSpanId);
            Assert.Equal("register_model", register.GetTagItem("pipeline.step.type"));
            Assert.Equal(2, register.GetTagItem("pipeline.step.attempt"));
        }
    }

    [Fact]
    public void WithNoListener_TheTraceParentIsStillValid_AndAStepWithoutOneIsARoot()
    {
        var traceparent = PipelineTelemetry.NewTraceParent("unheard", Guid.NewGuid(), "schedule:nightly");
        Assert.Matches("^00-[0-9a-f]{32}-[0-9a-f]{16}-01$", traceparent);
        Assert.NotEqual(default, PipelineTelemetry.Parent(traceparent));
        Assert.Equal(default, PipelineTelemetry.Parent(null));
        Assert.Equal(default, PipelineTelemetry.Parent("not-a-traceparent"));
    }

    [Fact]
    public void Metrics_AreTaggedByPipelineStatusAndStepType_AndDurationsAreSeconds()
    {
        var pipeline = $"metrics-{Guid.NewGuid():N}";
        var measurements = new ConcurrentBag<(string Instrument, double Value, Dictionary<string, object?> Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == PipelineTelemetry.MeterName)
                l.EnableMeasurementEvents(instrument);
        };
        void Add(Instrument i, double v, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var t = new Dictionary<string, object?>();
            foreach (var tag in tags)
                t[tag.Key] = tag.Value;
            if (t.GetValueOrDefault("pipeline") as string == pipeline)
                measurements.Add((i.Name, v, t));
        }
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i, v, tags));
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i, v, tags));
        listener.Start();

        PipelineTelemetry.ExecutionStarted(pipeline);
        PipelineTelemetry.StepFinished(pipeline, "train", StepStatus.Succeeded, TimeSpan.FromMilliseconds(1500));
        PipelineTelemetry.StepFinished(pipeline, "train", StepStatus.Cached, null);
        PipelineTelemetry.ExecutionFinished(pipeline, ExecutionStatus.Failed, TimeSpan.FromSeconds(42));

        Assert.Single(measurements, m => m.Instrument == "mlops.pipeline.executions.started" && m.Value == 1);
        Assert.Equal(2, measurements.Count(m => m.Instrument == "mlops.pipeline.step_runs" && (string?)m.Tags["step_type"] == "train"));
        var step = Assert.Single(measurements, m => m.Instrument == "mlops.pipeline.step.duration");
        Assert.Equal(1.5, step.Value);
        Assert.Equal(StepStatus.Succeeded, step.Tags["status"]);
        var execution = Assert.Single(measurements, m => m.Instrument == "mlops.pipeline.execution.duration");
        Assert.Equal(42, execution.Value);
        Assert.Equal(ExecutionStatus.Failed, execution.Tags["status"]);
        Assert.Single(measurements, m => m.Instrument == "mlops.pipeline.executions.finished" && (string?)m.Tags["status"] == ExecutionStatus.Failed);
        // Low cardinality: no ids among the tags.
        Assert.All(measurements, m => Assert.Subset(new HashSet<string> { "pipeline", "status", "step_type" }, m.Tags.Keys.ToHashSet()));
    }
}
