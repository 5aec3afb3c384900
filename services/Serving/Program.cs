using Mlops;
using Mlops.ExperimentTracker.Client;
using Mlops.Serving;
using Mlops.Serving.Features.Alarms;
using Mlops.Serving.Features.Capture;
using Mlops.Serving.Features.Deployments;
using Mlops.Serving.Features.Endpoints;
using Mlops.Serving.Features.Inference;
using Mlops.Serving.Features.Models;
using Mlops.Serving.Features.Routing;
using OpenTelemetry.Metrics;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddMlopsPlatform(ResourceNames.ServingDb, typeof(Program).Assembly,
    bus => bus.AddConsumer<MonitorAlarmRaisedConsumer>(typeof(MonitorAlarmRaisedConsumerDefinition)));
builder.Services.ConfigureHttpJsonOptions(o => ServingJson.Configure(o.SerializerOptions));
builder.Services.ConfigureOpenTelemetryMeterProvider(m => m.AddMeter(ServingMetrics.Name));
builder.Services.AddOptions<ServingOptions>().BindConfiguration(ServingOptions.Section).ValidateDataAnnotations().ValidateOnStart();
// The registry, through the tracker's API (service discovery; the platform API key as bearer token).
builder.Services.AddExperimentTrackerClient(new Uri(builder.Configuration["Serving:TrackerUrl"] ?? "http://experimenttracker"),
    sp => sp.GetRequiredService<IConfiguration>()["Auth:ApiKey"] ?? "");
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton<ModelCache>();
builder.Services.AddSingleton<BuiltInAlarms>();
builder.Services.AddSingleton<ReplicaRegistry>();
builder.Services.AddSingleton<EndpointChanges>();
builder.Services.AddSingleton<RoutingTable>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<RoutingTable>());
builder.Services.AddHealthChecks().AddCheck<RoutingTable>("routing", tags: ["ready"]);
builder.Services.AddSingleton<CaptureWriter>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<CaptureWriter>());
builder.Services.AddSingleton<DeploymentEngine>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<DeploymentEngine>());
builder.Services.AddSingleton<ShadowMirror>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<ShadowMirror>());
builder.Services.AddSingleton<AlarmWatcher>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<AlarmWatcher>());
builder.Services.AddSingleton<Invoker>();

var app = builder.Build();
app.MapMlopsPlatformEndpoints();

var api = app.MapGroup("/api");
api.MapEndpointEndpoints();
api.MapDeploymentEndpoints();
api.MapGroundTruthEndpoints();
app.MapInvocationEndpoints();
app.MapOpenInferenceEndpoints();
app.Run();
