using Amazon.CDK;
using Amazon.CDK.AWS.EC2;
using Amazon.CDK.AWS.ECR;
using Amazon.CDK.AWS.ECS;
using Amazon.CDK.AWS.IAM;
using Amazon.CDK.AWS.Logs;
using Constructs;
using EcsSecret = Amazon.CDK.AWS.ECS.Secret;

namespace Mlops.Deploy.Stacks;

public sealed record PlatformServiceProps(
    string Name,
    DeploySettings Settings,
    Cluster Cluster,
    ISecurityGroup SecurityGroup,
    IRepository Repository,
    IReadOnlyDictionary<string, string> Environment,
    IReadOnlyDictionary<string, EcsSecret> Secrets,
    ILogGroup MetricsLogGroup,
    RetentionDays LogRetention);

/// <summary>
/// One platform service on Fargate: its task role (empty here; the services stack grants it exactly its storage), its
/// log group, the application container and an ADOT collector sidecar that takes the service's OTLP on localhost and
/// sends traces to X-Ray and metrics to CloudWatch (as embedded metric format logs).
/// </summary>
public sealed class PlatformService : Construct
{
    public Role TaskRole { get; }
    public LogGroup LogGroup { get; }
    public FargateTaskDefinition TaskDefinition { get; }
    public FargateService Service { get; }

    public PlatformService(Construct scope, string id, PlatformServiceProps props) : base(scope, id)
    {
        var settings = props.Settings;
        TaskRole = new Role(this, "TaskRole", new RoleProps
        {
            AssumedBy = new ServicePrincipal("ecs-tasks.amazonaws.com"),
            Description = $"Mlops.Aspire {props.Name}: what the service's code may call",
        });
        LogGroup = new LogGroup(this, "Logs", new LogGroupProps
        {
            LogGroupName = settings.LogGroupName(props.Name),
            Retention = props.LogRetention,
            RemovalPolicy = settings.IsProduction ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
        });

        TaskDefinition = new FargateTaskDefinition(this, "Task", new FargateTaskDefinitionProps
        {
            Family = $"{settings.Prefix}-{props.Name}",
            Cpu = settings.TaskSize.Cpu,
            MemoryLimitMiB = settings.TaskSize.MemoryMiB,
            TaskRole = TaskRole,
            RuntimePlatform = new RuntimePlatform { CpuArchitecture = CpuArchitecture.X86_64, OperatingSystemFamily = OperatingSystemFamily.LINUX },
        });
        var app = TaskDefinition.AddContainer(ServicesStack.AppContainer, new ContainerDefinitionOptions
        {
            Image = ContainerImage.FromEcrRepository(props.Repository, settings.ImageTag),
            Essential = true,
            Environment = props.Environment.ToDictionary(),
            Secrets = props.Secrets.ToDictionary(),
            PortMappings = [new PortMapping { ContainerPort = ServicesStack.ContainerPort, Protocol = Amazon.CDK.AWS.ECS.Protocol.TCP }],
            Logging = LogDriver.AwsLogs(new AwsLogDriverProps { LogGroup = LogGroup, StreamPrefix = props.Name }),
            StopTimeout = Duration.Seconds(30),
            // No container health check: the ASP.NET base image has no curl or wget to run one. /health is checked by the
            // load balancer's target group (services stack), which replaces unhealthy tasks.
        });

        // Not essential: losing telemetry must not take the service down with it.
        TaskDefinition.AddContainer(ServicesStack.CollectorContainer, new ContainerDefinitionOptions
        {
            Image = ContainerImage.FromRegistry(ServicesStack.CollectorImage),
            Essential = false,
            MemoryReservationMiB = 128,
            Environment = new Dictionary<string, string> { ["AOT_CONFIG_CONTENT"] = CollectorConfig(settings, settings.LogGroupName(ServicesStack.MetricsLogGroup)) },
            Logging = LogDriver.AwsLogs(new AwsLogDriverProps { LogGroup = LogGroup, StreamPrefix = ServicesStack.CollectorContainer }),
        });
        app.AddContainerDependencies(new ContainerDependency { Container = TaskDefinition.FindContainer(ServicesStack.CollectorContainer)!, Condition = ContainerDependencyCondition.START });

        // What the collector needs. X-Ray's trace and sampling APIs have no resource-level permissions: AWS requires "*".
        TaskRole.Allow("CollectorTraces", ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"],
            ["*"]);
        TaskRole.Allow("CollectorMetrics", ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            [props.MetricsLogGroup.LogGroupArn]);

        Service = new FargateService(this, "Service", new FargateServiceProps
        {
            ServiceName = props.Name,
            Cluster = props.Cluster,
            TaskDefinition = TaskDefinition,
            DesiredCount = settings.DesiredCount,
            SecurityGroups = [props.SecurityGroup],
            VpcSubnets = new SubnetSelection { SubnetGroupName = NetworkStack.ServiceSubnets },
            AssignPublicIp = false,
            MinHealthyPercent = 100,
            MaxHealthyPercent = 200,
            // Services migrate their database on start: give them time before the load balancer's checks count.
            HealthCheckGracePeriod = Duration.Seconds(120),
            CircuitBreaker = new DeploymentCircuitBreaker { Rollback = true },
            CloudMapOptions = new CloudMapOptions { Name = props.Name, DnsTtl = Duration.Seconds(10) },
            PropagateTags = PropagatedTagSource.SERVICE,
        });
    }

    // The ECS default configuration of the ADOT collector, with the metrics going to a log group this app owns (and so
    // has a retention) under a namespace per environment.
    private static string CollectorConfig(DeploySettings settings, string metricsLogGroup) => $$"""
        receivers:
          otlp:
            protocols:
              grpc:
                endpoint: 0.0.0.0:4317
              http:
                endpoint: 0.0.0.0:4318
        processors:
          batch/traces:
            timeout: 1s
            send_batch_size: 50
          batch/metrics:
            timeout: 60s
        exporters:
          awsxray:
          awsemf:
            namespace: Mlops/{{settings.Environment}}
            log_group_name: '{{metricsLogGroup}}'
            resource_to_telemetry_conversion:
              enabled: true
        service:
          pipelines:
            traces:
              receivers: [otlp]
              processors: [batch/traces]
              exporters: [awsxray]
            metrics:
              receivers: [otlp]
              processors: [batch/metrics]
              exporters: [awsemf]
        """;
}
