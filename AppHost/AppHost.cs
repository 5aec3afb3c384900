using Mlops;
using Mlops.AppHost;
using Mlops.AppHost.Infrastructure;

var builder = DistributedApplication.CreateBuilder(args);

// The platform API key every service accepts as a bearer token; generated once and kept in user secrets.
var apiKey = builder.AddSecret(ResourceNames.ApiKey);

// Infrastructure: PostgreSQL, RabbitMQ, S3 — containers, local processes or external services (Infrastructure:Mode).
var infrastructure = builder.AddMlopsInfrastructure();
// Training jobs through SageMaker's API: the local training service, or real SageMaker in External mode.
var training = builder.AddTrainingJobs(infrastructure);

// Services: each gets its own database, the bus, S3 and the API key, and starts once they are ready.
builder.AddProject<Projects.FeatureStore>(ResourceNames.FeatureStore).WithPlatform(infrastructure, apiKey);
var tracker = builder.AddProject<Projects.ExperimentTracker>(ResourceNames.ExperimentTracker).WithPlatform(infrastructure, apiKey);
builder.AddProject<Projects.PipelineRunner>(ResourceNames.PipelineRunner).WithPlatform(infrastructure, apiKey).WithTrainingJobs(training);
builder.AddProject<Projects.Monitor>(ResourceNames.Monitor).WithPlatform(infrastructure, apiKey);
builder.AddProject<Projects.Serving>(ResourceNames.Serving).WithPlatform(infrastructure, apiKey);

// The sample scenario: trains, tracks and registers the flights delay model once the platform is up.
builder.AddSampleScenario(tracker, apiKey);

builder.Build().Run();
