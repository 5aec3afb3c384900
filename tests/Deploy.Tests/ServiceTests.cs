using System.Text.Json.Nodes;
using Amazon.CDK.Assertions;
using Xunit.Abstractions;
using Mlops.Deploy.Stacks;

namespace Mlops.Deploy.Tests;

[Collection(PlatformCollection.Name)]
public sealed class ServiceTests(SynthesizedPlatform platform, ITestOutputHelper output)
{
    private ServicesStack Services => platform.Stacks.Services;
    private string Stack => Services.StackName;

    public static TheoryData<string> ServiceNames => [.. PlatformSettings.Services.Select(s => s.Service)];

    [Fact]
    public void Synthesis_TakesSecondsOnce()
    {
        output.WriteLine($"Synthesized {platform.Stacks.All.Count()} stacks in {platform.SynthTime.TotalSeconds:0.0} s (jsii start-up included).");
        // Seconds when the machine is idle; the bound is loose because eng/test.sh runs every test assembly at once on two
        // cores. It catches a synth per test, not a slow machine.
        Assert.True(platform.SynthTime < TimeSpan.FromSeconds(120), $"Synthesis took {platform.SynthTime}.");
    }

    [Theory, MemberData(nameof(ServiceNames))]
    public void EveryService_HasTaskDefinitionServiceLogGroupAndHealthCheck(string name)
    {
        var template = platform.TemplateOf(Services);
        template.HasResourceProperties("AWS::ECS::TaskDefinition", Match.ObjectLike(new Dictionary<string, object>
        {
            ["Family"] = $"{platform.Settings.Prefix}-{name}",
            ["RequiresCompatibilities"] = new[] { "FARGATE" },
            ["ContainerDefinitions"] = Match.ArrayWith([
                Match.ObjectLike(new Dictionary<string, object>
                {
                    ["Name"] = ServicesStack.AppContainer,
                    ["Essential"] = true,
                    ["PortMappings"] = new[] { new Dictionary<string, object> { ["ContainerPort"] = ServicesStack.ContainerPort, ["Protocol"] = "tcp" } },
                    ["LogConfiguration"] = Match.ObjectLike(new Dictionary<string, object> { ["LogDriver"] = "awslogs" }),
                }),
            ]),
        }));
        template.HasResourceProperties("AWS::Logs::LogGroup", new Dictionary<string, object>
        {
            ["LogGroupName"] = platform.Settings.LogGroupName(name),
            ["RetentionInDays"] = platform.Settings.LogRetentionDays,
        });

        var service = platform.EcsService(name);
        Assert.Equal("FARGATE", (string?)service.Properties["LaunchType"]);
        var network = service.Properties["NetworkConfiguration"]!["AwsvpcConfiguration"]!;
        Assert.Equal("DISABLED", (string?)network["AssignPublicIp"]);
        // The load balancer's target group checks /health on the container port.
        var targetGroup = platform.Target(Stack, service.Properties["LoadBalancers"]![0]!["TargetGroupArn"])!;
        Assert.Equal(ServicesStack.HealthPath, (string?)targetGroup.Properties["HealthCheckPath"]);
        Assert.Equal(ServicesStack.ContainerPort, (int)targetGroup.Properties["Port"]!);
        Assert.NotNull(service.Properties["ServiceRegistries"]);
    }

    [Fact]
    public void EveryService_HasItsOwnTaskRole_AssumedByEcsTasks()
    {
        var roles = PlatformSettings.Services.Select(s => platform.TaskRole(s.Service)).ToList();
        Assert.Equal(roles.Count, roles.Select(r => r.LogicalId).Distinct().Count());
        foreach (var role in roles)
        {
            var statement = role.Properties["AssumeRolePolicyDocument"]!["Statement"]!.AsArray().Single()!;
            Assert.Equal("ecs-tasks.amazonaws.com", (string?)statement["Principal"]!["Service"]);
            Assert.Null(role.Properties["ManagedPolicyArns"]);
        }
    }

    [Theory, MemberData(nameof(ServiceNames))]
    public void EveryService_GetsEveryExternalModeSetting_SecretsAsSecrets(string name)
    {
        var connectionName = PlatformSettings.Services.Single(s => s.Service == name).DatabaseConnectionName;
        var app = platform.AppContainer(name);
        var environment = (app["Environment"]?.AsArray() ?? new JsonArray()).ToDictionary(e => (string)e!["Name"]!, e => e!["Value"]);
        var secrets = (app["Secrets"]?.AsArray() ?? new JsonArray()).ToDictionary(e => (string)e!["Name"]!, e => e!["ValueFrom"]);

        var problems = new List<string>();
        foreach (var key in PlatformSettings.For(connectionName))
        {
            if (!PlatformSettings.IsSecret(key))
            {
                if (!environment.ContainsKey(key)) problems.Add($"{key} is not provided");
                continue;
            }
            if (environment.ContainsKey(key)) problems.Add($"{key} is a plain environment value");
            if (!secrets.TryGetValue(key, out var from)) problems.Add($"{key} is not provided as a secret");
            else if (platform.Target(Stack, from)?.Type != "AWS::SecretsManager::Secret") problems.Add($"{key} does not come from Secrets Manager");
        }
        Assert.Empty(problems);

        // The values point at the right things: its own database, the buckets, the collector sidecar.
        var database = platform.Target(Stack, secrets[PlatformSettings.DatabaseConnection(connectionName)])!;
        Assert.Contains($"Database={name};", platform.Render(database.Stack, database.Properties["SecretString"]));
        Assert.Equal(platform.LogicalId(platform.Stacks.Data, platform.Stacks.Data.Lake), platform.Target(Stack, environment[PlatformSettings.LakeBucket])!.LogicalId);
        Assert.Equal(platform.LogicalId(platform.Stacks.Data, platform.Stacks.Data.Artifacts), platform.Target(Stack, environment[PlatformSettings.ArtifactBucket])!.LogicalId);
        Assert.Equal(ServicesStack.OtlpEndpoint, (string?)environment[PlatformSettings.OtlpEndpoint]);
        Assert.Equal("${AWS::Region}", platform.Render(Stack, environment[PlatformSettings.S3Region]));
        var others = PlatformSettings.Services.Where(s => s.Service != name).Select(s => PlatformSettings.ServiceEndpoint(s.Service));
        Assert.Empty(others.Except(environment.Keys));
    }

    [Fact]
    public void PipelineRunner_GetsTheUrlOfEveryServiceItsStepsCall()
    {
        var environment = (platform.AppContainer(ResourceNames.PipelineRunner)["Environment"]?.AsArray() ?? new JsonArray())
            .ToDictionary(e => (string)e!["Name"]!, e => e!["Value"]?.ToJsonString());
        foreach (var (option, service) in new[] { ("FeatureStore", ResourceNames.FeatureStore), ("ExperimentTracker", ResourceNames.ExperimentTracker),
                     ("Serving", ResourceNames.Serving), ("Monitor", ResourceNames.Monitor) })
        {
            Assert.True(environment.TryGetValue($"Services__{option}", out var url), $"Services__{option} is not provided");
            Assert.Equal(environment[PlatformSettings.ServiceEndpoint(service)], url); // the service's Cloud Map address
            Assert.Contains($"{service}.{platform.Settings.Prefix}.internal:{ServicesStack.ContainerPort}", url);
        }
    }

    [Theory, MemberData(nameof(ServiceNames))]
    public void EveryService_HasAnAdotCollectorSidecar_ExportingToXRayAndCloudWatch(string name)
    {
        var task = platform.TaskDefinition(name);
        var collector = task.Properties["ContainerDefinitions"]!.AsArray().Single(c => (string?)c!["Name"] == ServicesStack.CollectorContainer)!;
        Assert.Equal(ServicesStack.CollectorImage, (string?)collector["Image"]);
        Assert.False((bool)collector["Essential"]!);
        var config = (string)collector["Environment"]!.AsArray().Single(e => (string?)e!["Name"] == "AOT_CONFIG_CONTENT")!["Value"]!;
        Assert.Contains(platform.Settings.LogGroupName(ServicesStack.MetricsLogGroup), config);
        Assert.Contains("awsxray", config);
        Assert.Contains("awsemf", config);

        var actions = platform.PoliciesOf(platform.TaskRole(name)).SelectMany(s => SynthesizedPlatform.Strings(s["Action"])).ToHashSet();
        Assert.Contains("xray:PutTraceSegments", actions);
        Assert.Contains("logs:PutLogEvents", actions);
    }

    [Fact]
    public void PublicListener_IsHttpsOnly_WithHostRulesForTheServices()
    {
        var listeners = platform.Resources("AWS::ElasticLoadBalancingV2::Listener").ToList();
        var listener = Assert.Single(listeners);
        Assert.Equal("HTTPS", (string?)listener.Properties["Protocol"]);
        Assert.Equal(443, (int)listener.Properties["Port"]!);
        Assert.Equal(SynthesizedPlatform.Certificate, (string?)listener.Properties["Certificates"]![0]!["CertificateArn"]);
        var balancer = Assert.Single(platform.Resources("AWS::ElasticLoadBalancingV2::LoadBalancer").ToList());
        Assert.Equal("internet-facing", (string?)balancer.Properties["Scheme"]);

        var hosts = platform.Resources("AWS::ElasticLoadBalancingV2::ListenerRule")
            .SelectMany(r => r.Properties["Conditions"]!.AsArray())
            .Where(c => (string?)c!["Field"] == "host-header")
            .SelectMany(c => SynthesizedPlatform.Strings(c!["HostHeaderConfig"]!["Values"]))
            .ToHashSet();
        Assert.Equal(PlatformSettings.Services.Select(s => $"{s.Service}.{SynthesizedPlatform.Domain}").Order(), hosts.Order());

        // The tasks accept the load balancer on the container port and nothing from the internet.
        foreach (var group in platform.Resources("AWS::EC2::SecurityGroup"))
            foreach (var rule in group.Properties["SecurityGroupIngress"]?.AsArray() ?? new JsonArray())
                if ((string?)rule!["CidrIp"] == "0.0.0.0/0")
                    Assert.Equal(443, (int)rule["FromPort"]!);
    }

    [Fact]
    public void Serving_ScalesOnRequestCountAndCpu()
    {
        var target = Assert.Single(platform.Resources("AWS::ApplicationAutoScaling::ScalableTarget").ToList());
        Assert.Contains(platform.EcsService(ResourceNames.Serving).LogicalId, platform.Render(Stack, target.Properties["ResourceId"]));
        Assert.Equal(platform.Settings.DesiredCount, (int)target.Properties["MinCapacity"]!);
        Assert.Equal(platform.Settings.ServingMaxCount, (int)target.Properties["MaxCapacity"]!);
        var metrics = platform.Resources("AWS::ApplicationAutoScaling::ScalingPolicy")
            .Select(p => (string?)p.Properties["TargetTrackingScalingPolicyConfiguration"]!["PredefinedMetricSpecification"]!["PredefinedMetricType"])
            .Order();
        Assert.Equal(new string?[] { "ALBRequestCountPerTarget", "ECSServiceAverageCPUUtilization" }, metrics);
    }

    [Fact]
    public void Registry_HasARepositoryPerServiceAndOneForTheTrainer()
    {
        var template = platform.TemplateOf(platform.Stacks.Registry);
        template.ResourceCountIs("AWS::ECR::Repository", PlatformSettings.Services.Count + 1);
        foreach (var name in PlatformSettings.Services.Select(s => s.Service).Append(RegistryStack.Trainer))
            template.HasResourceProperties("AWS::ECR::Repository", Match.ObjectLike(new Dictionary<string, object>
            {
                ["RepositoryName"] = $"{platform.Settings.Prefix}/{name}",
                ["ImageScanningConfiguration"] = new Dictionary<string, object> { ["ScanOnPush"] = true },
            }));
    }
}
