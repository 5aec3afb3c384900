using Mlops;
using Mlops.ExperimentTracker.Features.Experiments;
using Mlops.ExperimentTracker.Features.Registry;
using Mlops.ExperimentTracker.Features.Runs;
using Mlops.ExperimentTracker.Mlflow;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddMlopsPlatform(ResourceNames.ExperimentTrackerDb, typeof(Program).Assembly);

var app = builder.Build();
app.MapMlopsPlatformEndpoints();
app.UseMlflowErrors();

var mlflow = app.MapGroup(MlflowErrorMiddleware.ApiPrefix);
mlflow.MapExperimentEndpoints();
mlflow.MapRunEndpoints();
mlflow.MapRegistryEndpoints();
mlflow.MapMlflowFallback();
app.Run();
