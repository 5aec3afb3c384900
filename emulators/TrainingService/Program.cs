using Mlops.ServiceDefaults.Storage;
using Mlops.ServiceDefaults.Telemetry;
using Mlops.TrainingService;
using Mlops.TrainingService.Api;
using Mlops.TrainingService.Jobs;

// A local stand-in for SageMaker's training-job API (dev/test infrastructure, like s3rver): not a platform service, so it
// authenticates with SigV4, not the platform API key, and has no database or bus.
var builder = WebApplication.CreateBuilder(args);
builder.ConfigureOpenTelemetry();
builder.AddMlopsS3();
builder.Services.AddOptions<TrainingServiceOptions>().BindConfiguration(TrainingServiceOptions.Section)
    .ValidateDataAnnotations().ValidateOnStart();
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton<SigV4Verifier>();
builder.Services.AddSingleton<JobStore>();
builder.Services.AddSingleton<JobExecutionFactory>();
builder.Services.AddSingleton<JobRunner>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<JobRunner>());

var app = builder.Build();
app.MapHealthChecks("/health");
app.MapSageMakerEndpoints();
app.Run();
