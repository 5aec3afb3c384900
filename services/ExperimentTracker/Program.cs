using Mlops;
using Mlops.ExperimentTracker.Features.Admin;
using Mlops.ExperimentTracker.Features.Artifacts;
using Mlops.ExperimentTracker.Features.Compare;
using Mlops.ExperimentTracker.Features.Experiments;
using Mlops.ExperimentTracker.Features.Lineage;
using Mlops.ExperimentTracker.Features.Registry;
using Mlops.ExperimentTracker.Features.Runs;
using Mlops.ExperimentTracker.Mlflow;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddMlopsPlatform(ResourceNames.ExperimentTrackerDb, typeof(Program).Assembly, bus =>
{
    bus.AddConsumer<ModelDeployedConsumer>();
    bus.AddConsumer<ModelRetiredConsumer>();
});
// The native endpoints speak JSON as MLflow's and the platform's other APIs do: snake_case, and metrics that may be NaN
// or infinite written as MLflow writes them, "NaN" and "Infinity".
builder.Services.ConfigureHttpJsonOptions(o =>
{
    o.SerializerOptions.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower;
    o.SerializerOptions.NumberHandling |= System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals;
});
builder.Services.AddOptions<ArtifactOptions>().BindConfiguration(ArtifactOptions.Section);

var app = builder.Build();
app.MapMlopsPlatformEndpoints();
app.UseMlflowErrors();

var mlflow = app.MapGroup(MlflowErrorMiddleware.ApiPrefix);
mlflow.MapExperimentEndpoints();
mlflow.MapRunEndpoints();
mlflow.MapModelEndpoints();
mlflow.MapVersionEndpoints();
app.MapArtifactEndpoints(mlflow);
app.MapRegistryAudit();
app.MapLineageEndpoints(mlflow);
app.MapGarbageCollection();
app.MapRunComparison();
mlflow.MapMlflowFallback();
app.Run();
