using System.Text.Json;
using Mlops;
using Mlops.PipelineRunner.Features.Executions;
using Mlops.PipelineRunner.Features.Pipelines;
using Mlops.PipelineRunner.Features.Steps;
using Mlops.PipelineRunner.Features.Triggers;
using Mlops.PipelineRunner.Features.Tuning;
using Mlops.SageMaker;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddMlopsPlatform(ResourceNames.PipelineRunnerDb, typeof(Program).Assembly, bus =>
{
    bus.AddConsumer<FeaturesIngestedTrigger>();
    bus.AddConsumer<MonitorAlarmRaisedTrigger>();
    bus.AddConsumer<ModelVersionCreatedTrigger>();
});
builder.Services.ConfigureHttpJsonOptions(o =>
{
    o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
    o.SerializerOptions.DictionaryKeyPolicy = null;
});
builder.Services.AddOptions<EngineOptions>().BindConfiguration(EngineOptions.Section);
builder.Services.AddSingleton<PipelineStore>();
builder.Services.AddSingleton<ExecutionStore>();
builder.Services.AddSingleton<IStepHandler, NoopHandler>();
builder.Services.AddSingleton<IStepHandler, FailHandler>();
builder.Services.AddSingleton<IStepHandler, EvaluateHandler>();
// Step types that call the other services, through their HTTP APIs (typed clients with the platform API key).
builder.Services.AddSageMakerClient();
builder.Services.AddStepServiceClients(builder.Configuration);
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton<IStepHandler, TrainingSetHandler>();
builder.Services.AddSingleton<IStepHandler, TrainHandler>();
builder.Services.AddSingleton<IStepHandler, RegisterModelHandler>();
builder.Services.AddSingleton<IStepHandler, ApprovalHandler>();
builder.Services.AddSingleton<IStepHandler, DeployHandler>();
builder.Services.AddSingleton<IStepHandler, QualityCheckHandler>();
builder.Services.AddSingleton<IStepHandler, IngestHandler>();
builder.Services.AddSingleton<IStepHandler, TransformHandler>();
builder.Services.AddSingleton<IStepHandler, TuneHandler>();
// Hyperparameter tuning jobs (services/Mlops.Tuning), stepped by a worker on every replica under a lease.
builder.Services.AddOptions<TuningOptions>().BindConfiguration(TuningOptions.Section);
builder.Services.AddSingleton<TuningStore>();
builder.Services.AddSingleton<TuningJobs>();
builder.Services.AddSingleton<TuningMetrics>();
builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddMeter(TuningMetrics.MeterName, PipelineTelemetry.MeterName));
builder.Services.AddHostedService<TuningWorker>();
builder.Services.AddSingleton<ExecutionEngine>();
builder.Services.AddOptions<TriggerOptions>().BindConfiguration(TriggerOptions.Section);
builder.Services.AddSingleton<TriggerStore>();
builder.Services.AddSingleton<TriggerStarts>();
builder.Services.AddHostedService<TriggerScheduler>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<ExecutionEngine>());

var app = builder.Build();
app.MapMlopsPlatformEndpoints();

var api = app.MapGroup("/api");
api.MapPipelineEndpoints();
api.MapExecutionEndpoints().MapApprovalEndpoints().MapStepLogEndpoints();
api.MapTriggerEndpoints();
api.MapTuningEndpoints();
app.Run();
