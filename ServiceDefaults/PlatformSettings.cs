namespace Mlops;

/// <summary>
/// The configuration every platform service reads, as environment variable names: what the AppHost's External mode
/// gives a service and what the production deployment (deploy/) provides. One list, so the two cannot drift apart.
/// </summary>
#if MLOPS_APPHOST
// Linked into the AppHost like ResourceNames, internal there for the same reason.
internal
#else
public
#endif
static class PlatformSettings
{
    /// <summary>The amqp(s):// URI of the broker (<c>ConnectionStrings:messaging</c>).</summary>
    public const string MessagingConnection = "ConnectionStrings__" + ResourceNames.Messaging;
    public const string ApiKey = "Auth__ApiKey";
    public const string AdminKey = "Auth__AdminKey";
    public const string LakeBucket = "Storage__LakeBucket";
    public const string ArtifactBucket = "Storage__ArtifactBucket";
    public const string S3Region = "S3__Region";
    public const string OtlpEndpoint = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>The Npgsql connection string of a service's own database, e.g. <c>ConnectionStrings__featurestore-db</c>.</summary>
    public static string DatabaseConnection(string connectionName) => "ConnectionStrings__" + connectionName;

    /// <summary>Aspire's service-discovery key for another service's HTTP endpoint (<c>http://name</c> resolves through it).</summary>
    public static string ServiceEndpoint(string serviceName) => $"services__{serviceName}__http__0";

    /// <summary>The platform's services and the connection name of each one's database.</summary>
    public static IReadOnlyList<(string Service, string DatabaseConnectionName)> Services { get; } =
    [
        (ResourceNames.FeatureStore, ResourceNames.FeatureStoreDb),
        (ResourceNames.ExperimentTracker, ResourceNames.ExperimentTrackerDb),
        (ResourceNames.PipelineRunner, ResourceNames.PipelineRunnerDb),
        (ResourceNames.Monitor, ResourceNames.MonitorDb),
        (ResourceNames.Serving, ResourceNames.ServingDb),
    ];

    /// <summary>Every key one service reads, given its database connection name.</summary>
    public static IReadOnlyList<string> For(string databaseConnectionName) =>
        [DatabaseConnection(databaseConnectionName), MessagingConnection, ApiKey, AdminKey, LakeBucket, ArtifactBucket, S3Region, OtlpEndpoint];

    /// <summary>The keys among <see cref="For"/> whose values are credentials: never plain configuration values.</summary>
    public static bool IsSecret(string key) =>
        key.StartsWith("ConnectionStrings__", StringComparison.Ordinal) || key is ApiKey or AdminKey;
}
