using System.Text.Json;
using System.Text.Json.Serialization;
using Mlops;
using Mlops.ExperimentTracker.Client;
using Mlops.Monitor.Features.Alarms;
using Mlops.Monitor.Features.Baselines;
using Mlops.Monitor.Features.Bias;
using Mlops.Monitor.Features.Datasets;
using Mlops.Monitor.Features.Platform;
using Mlops.Monitor.Features.Quality;
using Mlops.Monitor.Features.Runs;
using Mlops.Monitor.Features.Schedules;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddMlopsPlatform(ResourceNames.MonitorDb, typeof(Program).Assembly);
builder.Services.ConfigureHttpJsonOptions(o =>
{
    o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
    o.SerializerOptions.DictionaryKeyPolicy = null;
    o.SerializerOptions.NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals;
});
builder.Services.AddOptions<MonitorOptions>().BindConfiguration(MonitorOptions.Section).PostConfigure<Microsoft.Extensions.Options.IOptions<Mlops.ServiceDefaults.Storage.StorageOptions>>(
    (o, storage) =>
    {
        // Serving writes capture and ground truth to the lake bucket by default (Serving:CaptureBucket); so the monitor reads there.
        if (string.IsNullOrEmpty(o.CaptureUri)) o.CaptureUri = $"s3://{storage.Value.LakeBucket}/data-capture";
        if (string.IsNullOrEmpty(o.GroundTruthUri)) o.GroundTruthUri = $"s3://{storage.Value.LakeBucket}/ground-truth";
    });
// Typed clients of the services the monitor reads (service discovery resolves the names inside Aspire).
builder.Services.AddHttpClient<FeatureStoreClient>((sp, http) =>
{
    http.BaseAddress = new Uri(builder.Configuration["Monitor:FeatureStoreUrl"] ?? $"http://{ResourceNames.FeatureStore}");
    PlatformJson.Authorize(http, sp.GetRequiredService<IConfiguration>());
});
builder.Services.AddHttpClient<ServingClient>((sp, http) =>
{
    http.BaseAddress = new Uri(builder.Configuration["Monitor:ServingUrl"] ?? $"http://{ResourceNames.Serving}");
    PlatformJson.Authorize(http, sp.GetRequiredService<IConfiguration>());
});
// The tracker, for the training run's metrics of the model version a variant serves (model quality's comparison).
builder.Services.AddExperimentTrackerClient(new Uri(builder.Configuration["Monitor:TrackerUrl"] ?? $"http://{ResourceNames.ExperimentTracker}"),
    sp => sp.GetRequiredService<IConfiguration>()["Auth:ApiKey"] ?? "");
builder.Services.AddTransient<Mlops.Monitor.Features.Quality.TrainingMetrics>();
builder.Services.AddSingleton<MonitorArtifacts>();
builder.Services.AddSingleton<DatasetReader>();
builder.Services.AddSingleton<CaptureReader>();
builder.Services.AddSingleton<Mlops.Monitor.Features.Quality.GroundTruthReader>();
builder.Services.AddSingleton<BaselineStore>();
builder.Services.AddSingleton<BaselineService>();
builder.Services.AddSingleton<RunStore>();
builder.Services.AddSingleton<RunExecutor>();
// Feature-attribution drift: the served model version loaded in-process (the package from the registry), scored here.
builder.Services.AddSingleton<Mlops.Monitor.Features.Attribution.ModelPackages>();
builder.Services.AddSingleton<Mlops.Monitor.Features.Attribution.AttributionRun>();
builder.Services.AddSingleton<ScheduleStore>();
builder.Services.AddSingleton<AlarmStore>();
builder.Services.AddHostedService<RunWorker>();
builder.Services.AddOpenTelemetry().WithTracing(t => t.AddSource("Mlops.Monitor")).WithMetrics(m => m.AddMeter("Mlops.Monitor"));

var app = builder.Build();
app.MapMlopsPlatformEndpoints();

var api = app.MapGroup("/api");
api.MapBaselineEndpoints();
api.MapRunEndpoints();
api.MapScheduleEndpoints();
api.MapAlarmEndpoints();
api.MapBiasEndpoints();
api.MapQualityEndpoints();
app.Run();
