using Amazon.CDK;
using Amazon.CDK.AWS.ApplicationAutoScaling;
using Amazon.CDK.AWS.EC2;
using Amazon.CDK.AWS.ECR;
using Amazon.CDK.AWS.ECS;
using Amazon.CDK.AWS.ElasticLoadBalancingV2;
using Amazon.CDK.AWS.IAM;
using Amazon.CDK.AWS.Logs;
using Amazon.CDK.AWS.S3;
using Constructs;
using EcsSecret = Amazon.CDK.AWS.ECS.Secret;

namespace Mlops.Deploy.Stacks;

/// <summary>
/// The platform's five services on ECS Fargate, each with its own task role, log group and ADOT collector sidecar;
/// Cloud Map names for service-to-service calls; one internet-facing load balancer whose only listener is HTTPS and
/// routes <c>&lt;service&gt;.&lt;domainName&gt;</c> to each service; the SageMaker execution role training jobs run as.
/// </summary>
public sealed class ServicesStack : Stack
{
    /// <summary>ASP.NET Core's port in the .NET container images (ASPNETCORE_HTTP_PORTS).</summary>
    public const int ContainerPort = 8080;
    public const string AppContainer = "app";
    public const string CollectorContainer = "otel-collector";
    public const string CollectorImage = "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0";
    public const string OtlpEndpoint = "http://localhost:4317";
    public const string HealthPath = "/health";
    public const string MetricsLogGroup = "metrics";

    // Where in the buckets each kind of object lives; the task roles and the SageMaker role are scoped to these.
    // FeatureStore: IngestionPipeline.OfflinePrefix and TrainingSetBuilder.SnapshotPrefix.
    public const string FeatureStorePrefix = "feature-store/";
    public const string SnapshotPrefix = "feature-store/snapshots/";
    public const string TrainingJobPrefix = "training-jobs/";
    public const string MonitorPrefix = "monitor/";

    public Cluster Cluster { get; }
    public ApplicationListener HttpsListener { get; }
    public Role SageMakerExecutionRole { get; }
    public IReadOnlyDictionary<string, PlatformService> Services { get; }

    private readonly DeploySettings _settings;
    private readonly DataStack _data;

    public ServicesStack(Construct scope, string id, DeploySettings settings, NetworkStack network, SecretsStack secrets,
        DataStack data, RegistryStack registry, IStackProps props) : base(scope, id, props)
    {
        _settings = settings;
        _data = data;

        Cluster = new Cluster(this, "Cluster", new ClusterProps
        {
            ClusterName = settings.Prefix,
            Vpc = network.Vpc,
            ContainerInsights = settings.IsProduction,
        });
        var cloudMap = Cluster.AddDefaultCloudMapNamespace(new CloudMapNamespaceOptions { Name = $"{settings.Prefix}.internal", Vpc = network.Vpc });

        HttpsListener = new ApplicationListener(this, "HttpsListener", new ApplicationListenerProps
        {
            LoadBalancer = network.LoadBalancer,
            Port = 443,
            Protocol = ApplicationProtocol.HTTPS,
            Certificates = [ListenerCertificate.FromArn(settings.CertificateArn)],
            SslPolicy = SslPolicy.RECOMMENDED_TLS,
            DefaultAction = ListenerAction.FixedResponse(404, new FixedResponseOptions
            {
                ContentType = "application/json",
                MessageBody = $$"""{"title":"Not Found","status":404,"detail":"Call a service at https://<service>.{{settings.DomainName}}."}""",
            }),
        });

        var metricsLogGroup = new LogGroup(this, "MetricsLogs", new LogGroupProps
        {
            LogGroupName = settings.LogGroupName(MetricsLogGroup),
            Retention = Retention(settings.LogRetentionDays),
            RemovalPolicy = settings.IsProduction ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
        });

        SageMakerExecutionRole = NewSageMakerExecutionRole(registry.Repositories[RegistryStack.Trainer]);

        var urls = PlatformSettings.Services.ToDictionary(s => s.Service, s => $"http://{s.Service}.{cloudMap.NamespaceName}:{ContainerPort}");
        var services = new Dictionary<string, PlatformService>();
        var priority = 1;
        foreach (var (name, connectionName) in PlatformSettings.Services)
        {
            var environment = new Dictionary<string, string>
            {
                [PlatformSettings.LakeBucket] = data.Lake.BucketName,
                [PlatformSettings.ArtifactBucket] = data.Artifacts.BucketName,
                [PlatformSettings.S3Region] = Region,
                [PlatformSettings.OtlpEndpoint] = OtlpEndpoint,
                ["OTEL_SERVICE_NAME"] = name,
                ["OTEL_RESOURCE_ATTRIBUTES"] = $"deployment.environment={settings.Environment}",
                ["ASPNETCORE_HTTP_PORTS"] = ContainerPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            foreach (var (other, url) in urls)
                if (other != name)
                    environment[PlatformSettings.ServiceEndpoint(other)] = url;
            foreach (var (key, value) in ExtraEnvironment(name, registry, urls))
                environment[key] = value;

            var service = new PlatformService(this, name, new PlatformServiceProps(
                Name: name,
                Settings: settings,
                Cluster: Cluster,
                SecurityGroup: network.ServiceTasks,
                Repository: registry.Repositories[name],
                Environment: environment,
                Secrets: new Dictionary<string, EcsSecret>
                {
                    [PlatformSettings.DatabaseConnection(connectionName)] = EcsSecret.FromSecretsManager(data.DatabaseConnections[connectionName]),
                    [PlatformSettings.MessagingConnection] = EcsSecret.FromSecretsManager(data.MessagingConnection),
                    [PlatformSettings.ApiKey] = EcsSecret.FromSecretsManager(secrets.ApiKey),
                    [PlatformSettings.AdminKey] = EcsSecret.FromSecretsManager(secrets.AdminKey),
                },
                MetricsLogGroup: metricsLogGroup,
                LogRetention: Retention(settings.LogRetentionDays)));
            GrantStorage(name, service.TaskRole);

            var targets = HttpsListener.AddTargets($"{name}Targets", new AddApplicationTargetsProps
            {
                Port = ContainerPort,
                Protocol = ApplicationProtocol.HTTP,
                Targets = [service.Service.LoadBalancerTarget(new LoadBalancerTargetOptions { ContainerName = AppContainer, ContainerPort = ContainerPort })],
                Priority = priority++,
                Conditions = [ListenerCondition.HostHeaders([$"{name}.{settings.DomainName}"])],
                DeregistrationDelay = Duration.Seconds(30),
                HealthCheck = new Amazon.CDK.AWS.ElasticLoadBalancingV2.HealthCheck
                {
                    Path = HealthPath,
                    HealthyHttpCodes = "200",
                    Interval = Duration.Seconds(30),
                    Timeout = Duration.Seconds(10),
                    HealthyThresholdCount = 2,
                    // /health includes the database and S3: a short blip must not take every task out of rotation.
                    UnhealthyThresholdCount = 5,
                },
            });
            if (name == ResourceNames.Serving)
                ScaleServing(service.Service, targets);
            services[name] = service;
        }
        Services = services;
    }

    // Settings the deployment provides beyond PlatformSettings (the External-mode list): for what the services gain next
    // (capture, SageMaker). Named after the options classes that read them (Storage, SageMakerOptions).
    private Dictionary<string, string> ExtraEnvironment(string service, RegistryStack registry, Dictionary<string, string> urls) => service switch
    {
        ResourceNames.PipelineRunner => new()
        {
            // The services pipeline steps call (the runner's Services section), at their Cloud Map names.
            [ProductionSettings.RunnerServiceUrl("FeatureStore")] = urls[ResourceNames.FeatureStore],
            [ProductionSettings.RunnerServiceUrl("ExperimentTracker")] = urls[ResourceNames.ExperimentTracker],
            [ProductionSettings.RunnerServiceUrl("Serving")] = urls[ResourceNames.Serving],
            [ProductionSettings.RunnerServiceUrl("Monitor")] = urls[ResourceNames.Monitor],
            [ProductionSettings.SageMakerRegion] = Region,
            [ProductionSettings.SageMakerExecutionRoleArn] = SageMakerExecutionRole.RoleArn,
            [ProductionSettings.SageMakerTrainingImage] = registry.Repositories[RegistryStack.Trainer].RepositoryUriForTag(_settings.ImageTag),
            [ProductionSettings.SageMakerOutputPath] = $"s3://{_data.Artifacts.BucketName}/{TrainingJobPrefix}",
        },
        ResourceNames.Serving or ResourceNames.Monitor => new() { [ProductionSettings.CaptureBucket] = _data.Capture.BucketName },
        _ => [],
    };

    // Each role reaches only its own objects. Every service's health check calls HeadBucket on the lake (s3:ListBucket).
    private void GrantStorage(string service, Role role)
    {
        var lake = _data.Lake;
        var artifacts = _data.Artifacts;
        var capture = _data.Capture;
        switch (service)
        {
            case ResourceNames.FeatureStore:
                // The lake is the feature store's: offline store, imports; its snapshots go to the artifact bucket.
                Grant(role, lake, prefix: "", write: true);
                Grant(role, artifacts, FeatureStorePrefix, write: true);
                break;
            case ResourceNames.ExperimentTracker:
                // MLflow's artifact proxy maps mlflow-artifacts:/<path> to the object <path>: the whole bucket.
                ListOnly(role, lake);
                Grant(role, artifacts, prefix: "", write: true);
                break;
            case ResourceNames.PipelineRunner:
                ListOnly(role, lake);
                Grant(role, artifacts, SnapshotPrefix, write: false);
                Grant(role, artifacts, TrainingJobPrefix, write: true);
                role.Allow("TrainingJobs", ["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob", "sagemaker:AddTags"],
                    [FormatArn(new ArnComponents { Service = "sagemaker", Resource = "training-job", ResourceName = "*" })]);
                // ListTrainingJobs has no resource-level permissions: AWS requires "*".
                role.Allow("ListTrainingJobs", ["sagemaker:ListTrainingJobs"],
                    ["*"]);
                role.Allow("PassTheTrainingRole", ["iam:PassRole"],
                    [SageMakerExecutionRole.RoleArn], ("StringEquals", "iam:PassedToService", "sagemaker.amazonaws.com"));
                break;
            case ResourceNames.Monitor:
                ListOnly(role, lake);
                Grant(role, capture, prefix: "", write: false);
                Grant(role, artifacts, MonitorPrefix, write: true);
                break;
            case ResourceNames.Serving:
                ListOnly(role, lake);
                Grant(role, capture, prefix: "", write: true);
                // Models are tracker artifacts, under whatever run path the registry points at.
                Grant(role, artifacts, prefix: "", write: false);
                break;
            default:
                throw new InvalidOperationException($"No storage grants are defined for the service '{service}'.");
        }
        GrantKey(role);
    }

    private Role NewSageMakerExecutionRole(Repository trainer)
    {
        var role = new Role(this, "SageMakerExecutionRole", new RoleProps
        {
            AssumedBy = new ServicePrincipal("sagemaker.amazonaws.com"),
            Description = "The role Mlops.Aspire training jobs run as: reads snapshots, writes models, pulls the trainer image",
        });
        // Training channels are feature-store snapshots; model.tar.gz and output.tar.gz go under the training-job prefix.
        Grant(role, _data.Artifacts, SnapshotPrefix, write: false);
        Grant(role, _data.Artifacts, TrainingJobPrefix, write: true);
        GrantKey(role);
        role.Allow("PullTrainerImage", ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            [trainer.RepositoryArn]);
        // GetAuthorizationToken has no resource-level permissions: AWS requires "*".
        role.Allow("EcrLogin", ["ecr:GetAuthorizationToken"],
            ["*"]);
        role.Allow("TrainingLogs", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            [FormatArn(new ArnComponents { Service = "logs", Resource = "log-group", ResourceName = "/aws/sagemaker/TrainingJobs*", ArnFormat = ArnFormat.COLON_RESOURCE_NAME })]);
        // PutMetricData has no resource-level permissions: AWS requires "*"; the namespace condition narrows it.
        role.Allow("TrainingMetrics", ["cloudwatch:PutMetricData"],
            ["*"], ("StringEquals", "cloudwatch:namespace", "/aws/sagemaker/TrainingJobs"));
        return role;
    }

    private void ScaleServing(FargateService serving, ApplicationTargetGroup targets)
    {
        var scaling = serving.AutoScaleTaskCount(new EnableScalingProps { MinCapacity = _settings.DesiredCount, MaxCapacity = _settings.ServingMaxCount });
        scaling.ScaleOnCpuUtilization("Cpu", new CpuUtilizationScalingProps
        {
            TargetUtilizationPercent = 60,
            ScaleOutCooldown = Duration.Seconds(60),
            ScaleInCooldown = Duration.Seconds(300),
        });
        scaling.ScaleOnRequestCount("Requests", new RequestCountScalingProps
        {
            RequestsPerTarget = 500,
            TargetGroup = targets,
            ScaleOutCooldown = Duration.Seconds(60),
            ScaleInCooldown = Duration.Seconds(300),
        });
    }

    /// <summary>Object access under <paramref name="prefix"/> ("" for the whole bucket), and listing only that prefix.</summary>
    internal static void Grant(IRole role, IBucket bucket, string prefix, bool write)
    {
        string[] read = ["s3:GetObject", "s3:GetObjectVersion"];
        string[] actions = write ? [.. read, "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"] : read;
        role.AddToPrincipalPolicy(new PolicyStatement(new PolicyStatementProps
        {
            Actions = actions,
            Resources = [bucket.ArnForObjects(prefix + "*")],
        }));
        role.AddToPrincipalPolicy(new PolicyStatement(new PolicyStatementProps
        {
            Actions = ["s3:ListBucket"],
            Resources = [bucket.BucketArn],
            Conditions = prefix.Length == 0 ? null
                : new Dictionary<string, object> { ["StringLike"] = new Dictionary<string, object> { ["s3:prefix"] = new[] { prefix + "*" } } },
        }));
    }

    private static void ListOnly(IRole role, IBucket bucket) => role.AddToPrincipalPolicy(new PolicyStatement(new PolicyStatementProps
    {
        Actions = ["s3:ListBucket"],
        Resources = [bucket.BucketArn],
    }));

    // Written explicitly rather than key.Grant...: with the role in another stack that would widen the key policy instead.
    // Every role that uses the buckets writes somewhere, so each needs both.
    private void GrantKey(IRole role) => role.AddToPrincipalPolicy(new PolicyStatement(new PolicyStatementProps
    {
        Actions = ["kms:Decrypt", "kms:GenerateDataKey"],
        Resources = [_data.Key.KeyArn],
    }));

    internal static RetentionDays Retention(int days) => days switch
    {
        7 => RetentionDays.ONE_WEEK,
        14 => RetentionDays.TWO_WEEKS,
        30 => RetentionDays.ONE_MONTH,
        90 => RetentionDays.THREE_MONTHS,
        180 => RetentionDays.SIX_MONTHS,
        365 => RetentionDays.ONE_YEAR,
        _ => throw new ArgumentOutOfRangeException(nameof(days), days, "DeploySettings validates log retention."),
    };
}
