using Amazon;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Mlops.ServiceDefaults.Telemetry;

/// <summary>Traces, metrics and logs over OTLP; public so infrastructure stand-ins (the training service) use it without the service defaults.</summary>
public static class OpenTelemetryExtensions
{
    /// <summary>Activity sources the platform's own code and libraries emit on; one trace follows a request across HTTP and the bus.</summary>
    public static readonly string[] TraceSources =
    [
        MassTransit.Logging.DiagnosticHeaders.DefaultListenerName,
        Messaging.OutboxRelay.ActivitySourceName,
        AwsActivityTracerProvider.ActivitySourceName,
        // Mlops.SageMaker's TrainingJobs: one span over each training job's life (named here to avoid a project reference).
        "Mlops.SageMaker.TrainingJobs",
    ];

    public static void ConfigureOpenTelemetry(this IHostApplicationBuilder builder)
    {
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        // The AWS SDK v4 traces through its own abstraction; bridge it to System.Diagnostics (the OTel AWS package is not on our mirror).
        AWSConfigs.TelemetryProvider.RegisterTracerProvider(new AwsActivityTracerProvider());

        builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter(MassTransit.Monitoring.InstrumentationOptions.MeterName))
            .WithTracing(tracing => tracing
                .AddSource(builder.Environment.ApplicationName)
                .AddSource(TraceSources)
                .AddAspNetCoreInstrumentation(o =>
                    // Health probes every few seconds would drown the traces people look for.
                    o.Filter = ctx => !ctx.Request.Path.StartsWithSegments(ServiceDefaultsExtensions.HealthEndpointPath)
                                   && !ctx.Request.Path.StartsWithSegments(ServiceDefaultsExtensions.AlivenessEndpointPath))
                .AddHttpClientInstrumentation());

        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
            builder.Services.AddOpenTelemetry().UseOtlpExporter();
    }
}
