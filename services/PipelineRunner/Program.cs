using System.Text.Json;
using Mlops;
using Mlops.PipelineRunner.Features.Executions;
using Mlops.PipelineRunner.Features.Pipelines;
using Mlops.PipelineRunner.Features.Triggers;

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
api.MapExecutionEndpoints();
api.MapTriggerEndpoints();
app.Run();
