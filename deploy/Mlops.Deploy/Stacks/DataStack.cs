using Amazon.CDK;
using Amazon.CDK.AWS.AmazonMQ;
using Amazon.CDK.AWS.EC2;
using Amazon.CDK.AWS.KMS;
using Amazon.CDK.AWS.RDS;
using Amazon.CDK.AWS.S3;
using Amazon.CDK.AWS.SecretsManager;
using Constructs;

namespace Mlops.Deploy.Stacks;

/// <summary>
/// Where the platform's state lives: one customer-managed KMS key; the lake, artifact and capture buckets under it;
/// PostgreSQL (RDS, one database per service, created by each service on start); RabbitMQ (Amazon MQ). Nothing here is
/// reachable from the internet, and the database and broker accept connections only from the service tasks.
/// Also the connection strings, as secrets: each combines an endpoint known only here with credentials from the
/// secrets stack, resolved by CloudFormation at deploy time so no password appears in the template.
/// </summary>
public sealed class DataStack : Stack
{
    public const int PostgresPort = 5432;
    public const int AmqpsPort = 5671;

    public Key Key { get; }
    public Bucket Lake { get; }
    public Bucket Artifacts { get; }
    public Bucket Capture { get; }
    public const string DatabaseUser = "mlops";

    public DatabaseSecret DatabaseCredentials { get; }
    public DatabaseInstance Database { get; }
    public SecurityGroup DatabaseSecurityGroup { get; }
    public CfnBroker Broker { get; }
    public SecurityGroup BrokerSecurityGroup { get; }
    /// <summary>Per service (by database connection name): the secret holding its Npgsql connection string.</summary>
    public IReadOnlyDictionary<string, ISecret> DatabaseConnections { get; }
    /// <summary>The secret holding the amqps:// URI of the broker, with its user and password.</summary>
    public ISecret MessagingConnection { get; }

    public DataStack(Construct scope, string id, DeploySettings settings, NetworkStack network, SecretsStack secrets, IStackProps props)
        : base(scope, id, props)
    {
        Key = new Key(this, "DataKey", new KeyProps
        {
            Alias = $"alias/{settings.Prefix}-data",
            Description = "Mlops.Aspire data at rest: the lake, artifact and capture buckets and the database",
            EnableKeyRotation = true,
            RemovalPolicy = RemovalPolicy.RETAIN,
        });

        Lake = NewBucket("Lake", new LifecycleRule
        {
            Id = "tier-old-data",
            // Offline-store Parquet and imports are read again for point-in-time training sets, at unpredictable times.
            Transitions = [new Transition { StorageClass = StorageClass.INTELLIGENT_TIERING, TransitionAfter = Duration.Days(30) }],
        });
        Artifacts = NewBucket("Artifacts");
        Capture = NewBucket("Capture", new LifecycleRule
        {
            Id = "expire-capture",
            // Monitor reads recent windows against the baseline; a year of captured requests covers seasonal drift.
            Transitions = [new Transition { StorageClass = StorageClass.INFREQUENT_ACCESS, TransitionAfter = Duration.Days(30) }],
            Expiration = Duration.Days(settings.IsProduction ? 365 : 90),
        });

        DatabaseCredentials = new DatabaseSecret(this, "DatabaseCredentials", new DatabaseSecretProps
        {
            SecretName = $"{settings.Prefix}/postgres",
            Username = DatabaseUser,
            // Punctuation would need quoting inside the Npgsql connection strings built from this secret.
            ExcludeCharacters = " %+~`#$&*()|[]{}:;<>?!'/@\"\\=,.^-_",
        });
        DatabaseSecurityGroup = DataSecurityGroup(network, "Database", "PostgreSQL (RDS)", PostgresPort);
        Database = new DatabaseInstance(this, "Postgres", new DatabaseInstanceProps
        {
            Engine = DatabaseInstanceEngine.Postgres(new PostgresInstanceEngineProps { Version = PostgresEngineVersion.VER_15 }),
            InstanceType = new Amazon.CDK.AWS.EC2.InstanceType(settings.DbInstanceType),
            Vpc = network.Vpc,
            VpcSubnets = new SubnetSelection { SubnetGroupName = NetworkStack.DataSubnets },
            SecurityGroups = [DatabaseSecurityGroup],
            Credentials = Credentials.FromSecret(DatabaseCredentials),
            MultiAz = settings.MultiAz,
            AllocatedStorage = settings.DbStorageGiB,
            MaxAllocatedStorage = settings.DbStorageGiB * 4,
            StorageType = StorageType.GP3,
            StorageEncrypted = true,
            StorageEncryptionKey = Key,
            PubliclyAccessible = false,
            BackupRetention = Duration.Days(settings.BackupRetentionDays),
            DeleteAutomatedBackups = false,
            CopyTagsToSnapshot = true,
            DeletionProtection = settings.IsProduction,
            RemovalPolicy = settings.IsProduction ? RemovalPolicy.RETAIN : RemovalPolicy.SNAPSHOT,
            AutoMinorVersionUpgrade = true,
        });

        BrokerSecurityGroup = DataSecurityGroup(network, "Broker", "RabbitMQ (Amazon MQ)", AmqpsPort);
        var dataSubnets = network.Vpc.SelectSubnets(new SubnetSelection { SubnetGroupName = NetworkStack.DataSubnets }).SubnetIds;
        Broker = new CfnBroker(this, "RabbitMq", new CfnBrokerProps
        {
            BrokerName = $"{settings.Prefix}-rabbitmq",
            EngineType = "RABBITMQ",
            EngineVersion = "3.13",
            AutoMinorVersionUpgrade = true,
            HostInstanceType = settings.BrokerInstanceType,
            // A cluster spans three nodes over the zones; a single instance sits in one subnet.
            DeploymentMode = settings.MultiAz ? "CLUSTER_MULTI_AZ" : "SINGLE_INSTANCE",
            SubnetIds = settings.MultiAz ? dataSubnets : [dataSubnets[0]],
            SecurityGroups = [BrokerSecurityGroup.SecurityGroupId],
            PubliclyAccessible = false,
            Users = new[]
            {
                new CfnBroker.UserProperty
                {
                    Username = secrets.BrokerCredentials.SecretValueFromJson("username").UnsafeUnwrap(),
                    Password = secrets.BrokerCredentials.SecretValueFromJson("password").UnsafeUnwrap(),
                },
            },
            // Amazon MQ for RabbitMQ encrypts at rest with an AWS-owned key only.
            EncryptionOptions = new CfnBroker.EncryptionOptionsProperty { UseAwsOwnedKey = true },
            MaintenanceWindowStartTime = new CfnBroker.MaintenanceWindowProperty { DayOfWeek = "SUNDAY", TimeOfDay = "03:00", TimeZone = "UTC" },
        });

        var databaseUser = DatabaseCredentials.SecretValueFromJson("username").UnsafeUnwrap();
        var databasePassword = DatabaseCredentials.SecretValueFromJson("password").UnsafeUnwrap();
        DatabaseConnections = PlatformSettings.Services.ToDictionary(s => s.DatabaseConnectionName, s => (ISecret)ConnectionSecret(
            $"{s.Service}DatabaseConnection", $"{settings.Prefix}/connection/{s.DatabaseConnectionName}",
            // The same shape the AppHost gives (Database named after the service); TLS required, as RDS offers it.
            $"Host={Database.DbInstanceEndpointAddress};Port={Database.DbInstanceEndpointPort};Username={databaseUser};Password={databasePassword};Database={s.Service};SSL Mode=Require"));

        var brokerHost = $"{Broker.AttrId}.mq.{Aws.REGION}.{Aws.URL_SUFFIX}";
        MessagingConnection = ConnectionSecret("MessagingConnection", $"{settings.Prefix}/connection/{ResourceNames.Messaging}",
            $"amqps://{secrets.BrokerCredentials.SecretValueFromJson("username").UnsafeUnwrap()}:{secrets.BrokerCredentials.SecretValueFromJson("password").UnsafeUnwrap()}@{brokerHost}:{AmqpsPort}");
    }

    private Bucket NewBucket(string id, params LifecycleRule[] rules) => new(this, id, new BucketProps
    {
        Encryption = BucketEncryption.KMS,
        EncryptionKey = Key,
        // One data key per bucket instead of a KMS call per object: the lake's Parquet writes would otherwise dominate KMS cost.
        BucketKeyEnabled = true,
        Versioned = true,
        BlockPublicAccess = BlockPublicAccess.BLOCK_ALL,
        ObjectOwnership = ObjectOwnership.BUCKET_OWNER_ENFORCED,
        EnforceSSL = true,
        RemovalPolicy = RemovalPolicy.RETAIN,
        LifecycleRules =
        [
            .. rules,
            new LifecycleRule
            {
                Id = "clean-up",
                AbortIncompleteMultipartUploadAfter = Duration.Days(7),
                // Versioning is the undo for an accidental overwrite or delete, not an archive.
                NoncurrentVersionExpiration = Duration.Days(30),
            },
        ],
    });

    private SecurityGroup DataSecurityGroup(NetworkStack network, string id, string what, int port)
    {
        var group = new SecurityGroup(this, $"{id}SecurityGroup", new SecurityGroupProps
        {
            Vpc = network.Vpc,
            Description = $"{what}: reachable from the Mlops.Aspire service tasks only",
            AllowAllOutbound = false,
        });
        group.AddIngressRule(network.ServiceTasks, Port.Tcp(port), $"{what} from the service tasks");
        return group;
    }

    // The value carries only CloudFormation dynamic references ({{resolve:secretsmanager:...}}) for the credentials, which
    // CloudFormation resolves when it creates the secret: "plain text" is the template's view, not the secret's.
    private Secret ConnectionSecret(string id, string name, string value) => new(this, id, new SecretProps
    {
        SecretName = name,
        Description = "A connection string for the Mlops.Aspire services (ECS secret)",
        SecretStringValue = SecretValue.UnsafePlainText(value),
    });
}
