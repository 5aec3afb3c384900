using Mlops;
using Mlops.ExperimentTracker.Features.Artifacts;
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
builder.Services.AddOptions<ArtifactOptions>().BindConfiguration(ArtifactOptions.Section);

var app = builder.Build();
app.MapMlopsPlatformEndpoints();
app.UseMlflowErrors();

var mlflow = app.MapGroup(MlflowErrorMiddleware.ApiPrefix);
mlflow.MapExperimentEndpoints();
mlflow.MapRunEndpoints();
mlflow.MapRegistryEndpoints();
app.MapArtifactEndpoints(mlflow);
app.MapRegistryAudit();
app.MapLineageEndpoints(mlflow);
mlflow.MapMlflowFallback();
app.Run();
