using Microsoft.Extensions.Configuration;
using Mlops;
using Mlops.AppHost;
using Mlops.AppHost.Infrastructure;

var builder = DistributedApplication.CreateBuilder(args);

// The platform API key every service accepts as a bearer token, and the administrator key for administrative operations;
// generated once and kept in user secrets.
var keys = builder.AddPlatformKeys();

// Infrastructure: PostgreSQL, RabbitMQ, S3 — containers, local processes or external services (Infrastructure:Mode).
var infrastructure = builder.AddMlopsInfrastructure();
// Training jobs through SageMaker's API: the local training service, or real SageMaker in External mode.
var training = builder.AddTrainingJobs(infrastructure);

// Services: each gets its own database, the bus, S3 and both keys, and starts once they are ready.
var featureStore = builder.AddProject<Projects.FeatureStore>(ResourceNames.FeatureStore).WithPlatform(infrastructure, keys, ResourceNames.FeatureStoreDb);
var tracker = builder.AddProject<Projects.ExperimentTracker>(ResourceNames.ExperimentTracker).WithPlatform(infrastructure, keys, ResourceNames.ExperimentTrackerDb);
// Serving and the runner scale out as replicas sharing their database (Serving:Replicas, PipelineRunner:Replicas; default 1).
var serving = builder.AddProject<Projects.Serving>(ResourceNames.Serving).WithPlatform(infrastructure, keys, ResourceNames.ServingDb).WithReference(tracker).WaitFor(tracker)
    .WithReplicas(builder.Configuration.GetValue("Serving:Replicas", 1));
// The monitor reads feature-group statistics (baselines), which model version each endpoint variant serves, and that
// version's training-run metrics (the tracker).
var monitor = builder.AddProject<Projects.Monitor>(ResourceNames.Monitor).WithPlatform(infrastructure, keys, ResourceNames.MonitorDb)
    .WithReference(featureStore).WaitFor(featureStore).WithReference(serving).WaitFor(serving).WithReference(tracker).WaitFor(tracker);
// Pipeline steps call the other services' APIs (training sets, runs and the registry, deployments, quality checks) and SageMaker.
var pipelineRunner = builder.AddProject<Projects.PipelineRunner>(ResourceNames.PipelineRunner).WithPlatform(infrastructure, keys, ResourceNames.PipelineRunnerDb)
    .WithTrainingJobs(training)
    .WithReference(featureStore).WaitFor(featureStore)
    .WithReference(tracker).WaitFor(tracker)
    .WithReference(serving).WaitFor(serving)
    .WithReference(monitor).WaitFor(monitor)
    .WithReplicas(builder.Configuration.GetValue("PipelineRunner:Replicas", 1));

// The Trainer is not a resource: it is the program a training job runs (SageMaker's container contract), started by the
// training service for the platform's trainer image; the sample still runs it in-process.

// The sample scenario: the continuous-training loop on the flights data, once the platform is up (it uses every service).
builder.AddSampleScenario(infrastructure, keys.ApiKey, featureStore, tracker, pipelineRunner, serving, monitor);

// Once everything is healthy: one short summary on the console (URLs, API docs, keys), then what the sample did.
builder.AddStartupSummary([ResourceNames.FeatureStore, ResourceNames.ExperimentTracker, ResourceNames.PipelineRunner,
    ResourceNames.Monitor, ResourceNames.Serving]);

builder.Build().Run();
