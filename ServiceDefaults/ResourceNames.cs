namespace Mlops;

/// <summary>Resource and connection-string names shared by the AppHost, the services and the tests.</summary>
#if MLOPS_APPHOST
// The AppHost compiles its own copy of this file (linked); internal there so the tests, which see both, see one.
internal
#else
public
#endif
static class ResourceNames
{
    public const string Postgres = "postgres";
    public const string Messaging = "messaging";
    public const string S3 = "s3";
    /// <summary>The local SageMaker-compatible training service (emulators/TrainingService); real SageMaker in External mode.</summary>
    public const string TrainingService = "training-service";

    public const string FeatureStore = "featurestore";
    public const string ExperimentTracker = "experimenttracker";
    public const string PipelineRunner = "pipelinerunner";
    public const string Monitor = "monitor";
    public const string Serving = "serving";
    /// <summary>The sample scenario (samples/FlightsDelay): runs once when the platform is up.</summary>
    public const string Sample = "sample";

    public const string FeatureStoreDb = "featurestore-db";
    public const string ExperimentTrackerDb = "experimenttracker-db";
    public const string PipelineRunnerDb = "pipelinerunner-db";
    public const string MonitorDb = "monitor-db";
    public const string ServingDb = "serving-db";

    public const string ApiKey = "api-key";
    /// <summary>The administrator key: administrative and destructive operations (garbage collection) need it.</summary>
    public const string AdminKey = "admin-key";
    public const string PostgresPassword = "postgres-password";
    public const string RabbitMqUser = "rabbitmq-user";
    public const string RabbitMqPassword = "rabbitmq-password";
    public const string S3SecretKey = "s3-secret-key";
    public const string TrainingServiceAccessKey = "training-service-access-key";
    public const string TrainingServiceSecretKey = "training-service-secret-key";

    public const string LakeBucket = "mlops-lake";
    public const string ArtifactBucket = "mlops-artifacts";
}
