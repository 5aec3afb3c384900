using System.Diagnostics;
using Amazon.Runtime.Telemetry;
using Amazon.Runtime.Telemetry.Tracing;

namespace Mlops.ServiceDefaults.Telemetry;

/// <summary>Turns the AWS SDK's spans into <see cref="Activity"/>s so S3 calls appear in the request's trace.</summary>
internal sealed class AwsActivityTracerProvider : TracerProvider
{
    public const string ActivitySourceName = "Amazon.AWS";
    private static readonly ActivitySource Source = new(ActivitySourceName);

    public override Tracer GetTracer(string scope) => new ActivityTracer();
    public override Tracer GetTracer(string scope, Attributes attributes) => new ActivityTracer();

    private sealed class ActivityTracer : Tracer
    {
        public override TraceSpan CreateSpan(string name, Attributes? initialAttributes = null, SpanKind spanKind = SpanKind.INTERNAL, SpanContext? parentContext = null)
        {
            var activity = Source.StartActivity(name, spanKind == SpanKind.CLIENT ? ActivityKind.Client : ActivityKind.Internal);
            if (activity is not null && initialAttributes is not null)
                foreach (var (key, value) in initialAttributes.AllAttributes)
                    activity.SetTag(key, value);
            return new ActivitySpan(activity);
        }

    }

    private sealed class ActivitySpan(Activity? activity) : TraceSpan
    {
        public override void SetAttribute(string key, object value) => activity?.SetTag(key, value);
        public override void EmitEvent(string eventName, Attributes? attributes = null) => activity?.AddEvent(new ActivityEvent(eventName));
        public override void RecordException(Exception exception, Attributes? attributes = null) => activity?.AddException(exception);
        public override void SetStatus(SpanStatus status) =>
            activity?.SetStatus(status == SpanStatus.ERROR ? ActivityStatusCode.Error : ActivityStatusCode.Ok);
        public override void End() => activity?.Stop();
        protected override void Dispose(bool disposing)
        {
            if (disposing)
                activity?.Dispose();
        }
    }
}
