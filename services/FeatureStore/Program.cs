using Mlops;
using Mlops.FeatureStore;
using Mlops.FeatureStore.Features.Groups;
using Mlops.FeatureStore.Features.Ingestion;
using Mlops.FeatureStore.Features.Jobs;
using Mlops.FeatureStore.Features.Online;
using Mlops.FeatureStore.Features.TrainingSets;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddMlopsPlatform(ResourceNames.FeatureStoreDb, typeof(Program).Assembly);
builder.Services.ConfigureHttpJsonOptions(o =>
{
    o.SerializerOptions.PropertyNamingPolicy = FeatureStoreJson.Options.PropertyNamingPolicy;
    o.SerializerOptions.DictionaryKeyPolicy = FeatureStoreJson.Options.DictionaryKeyPolicy;
});
builder.Services.AddSingleton<FeatureGroupCatalog>();
builder.Services.AddSingleton<IngestionPipeline>();
builder.Services.AddSingleton<TrainingSetBuilder>();
builder.Services.AddSingleton<TrainingSetJob>();
builder.Services.AddSingleton<LakeImport>();
builder.Services.AddHostedService<JobRunner>();

var app = builder.Build();
app.MapMlopsPlatformEndpoints();

var api = app.MapGroup("/api");
api.MapFeatureGroupEndpoints();
api.MapStatisticsEndpoints();
api.MapIngestionEndpoints();
api.MapOnlineEndpoints();
api.MapTrainingSetEndpoints();
api.MapJobEndpoints();
app.Run();
