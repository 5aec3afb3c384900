using System.Text.Json.Nodes;
using Regex = System.Text.RegularExpressions.Regex;
using Amazon.CDK.Assertions;
using Mlops.Deploy.Stacks;

namespace Mlops.Deploy.Tests;

[Collection(PlatformCollection.Name)]
public sealed class SecurityTests(SynthesizedPlatform platform)
{
    /// <summary>
    /// The only actions granted on every resource ("*"): these APIs have no resource-level permissions, so AWS
    /// accepts nothing narrower.
    /// </summary>
    private static readonly HashSet<string> ActionsAwsAllowsOnlyOnEveryResource =
    [
        "ecr:GetAuthorizationToken",   // ECS execution roles and the SageMaker role log in to ECR
        "xray:PutTraceSegments",       // the ADOT collector's X-Ray exporter
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "cloudwatch:PutMetricData",    // SageMaker training metrics (narrowed by a namespace condition)
        "sagemaker:ListTrainingJobs",  // the pipeline runner's job listing
    ];

    [Fact]
    public void IamPolicies_GrantNoWildcardActions_AndEveryResourceOnlyWhereAwsRequiresIt()
    {
        var statements = platform.Resources("AWS::IAM::Policy")
            .Concat(platform.Resources("AWS::IAM::ManagedPolicy"))
            .SelectMany(p => p.Properties["PolicyDocument"]!["Statement"]!.AsArray().Select(s => (Policy: p, Statement: s!)))
            .Concat(platform.Resources("AWS::IAM::Role")
                .SelectMany(r => (r.Properties["Policies"]?.AsArray() ?? new JsonArray())
                    .SelectMany(p => p!["PolicyDocument"]!["Statement"]!.AsArray().Select(s => (Policy: r, Statement: s!)))))
            .Where(x => (string?)x.Statement["Effect"] == "Allow")
            .ToList();
        Assert.NotEmpty(statements);

        var problems = new List<string>();
        foreach (var (policy, statement) in statements)
        {
            var actions = SynthesizedPlatform.Strings(statement["Action"]).ToList();
            if (statement["NotAction"] is not null || statement["NotResource"] is not null)
                problems.Add($"{policy.LogicalId} uses NotAction or NotResource");
            problems.AddRange(actions.Where(a => a.Contains('*')).Select(a => $"{policy.LogicalId} grants the wildcard action {a}"));
            if (SynthesizedPlatform.Strings(statement["Resource"]).Contains("*"))
                problems.AddRange(actions.Where(a => !ActionsAwsAllowsOnlyOnEveryResource.Contains(a))
                    .Select(a => $"{policy.LogicalId} grants {a} on every resource, and AWS allows a narrower one"));
        }
        problems.AddRange(platform.Resources("AWS::IAM::Role").Where(r => r.Properties["ManagedPolicyArns"] is not null)
            .Select(r => $"{r.LogicalId} has managed policies attached"));
        Assert.Empty(problems);
    }

    [Fact]
    public void EveryBucket_IsEncryptedWithTheKey_Versioned_Private_AndRefusesPlainHttp()
    {
        var data = platform.Stacks.Data;
        var template = platform.TemplateOf(data);
        var key = platform.LogicalId(data, data.Key);
        template.HasResourceProperties("AWS::KMS::Key", new Dictionary<string, object> { ["EnableKeyRotation"] = true });
        Assert.Equal(3, platform.Resources("AWS::S3::Bucket").Count());
        template.AllResourcesProperties("AWS::S3::Bucket", Match.ObjectLike(new Dictionary<string, object>
        {
            ["BucketEncryption"] = new Dictionary<string, object>
            {
                ["ServerSideEncryptionConfiguration"] = new[]
                {
                    new Dictionary<string, object>
                    {
                        ["BucketKeyEnabled"] = true,
                        ["ServerSideEncryptionByDefault"] = new Dictionary<string, object>
                        {
                            ["SSEAlgorithm"] = "aws:kms",
                            ["KMSMasterKeyID"] = new Dictionary<string, object> { ["Fn::GetAtt"] = new[] { key, "Arn" } },
                        },
                    },
                },
            },
            ["VersioningConfiguration"] = new Dictionary<string, object> { ["Status"] = "Enabled" },
            ["PublicAccessBlockConfiguration"] = new Dictionary<string, object>
            {
                ["BlockPublicAcls"] = true,
                ["BlockPublicPolicy"] = true,
                ["IgnorePublicAcls"] = true,
                ["RestrictPublicBuckets"] = true,
            },
            ["LifecycleConfiguration"] = Match.ObjectLike(new Dictionary<string, object>
            {
                ["Rules"] = Match.ArrayWith([Match.ObjectLike(new Dictionary<string, object> { ["AbortIncompleteMultipartUpload"] = Match.AnyValue() })]),
            }),
        }));

        var policed = platform.Resources("AWS::S3::BucketPolicy")
            .Where(p => p.Properties["PolicyDocument"]!["Statement"]!.AsArray().Any(s =>
                (string?)s!["Effect"] == "Deny" && (string?)s["Condition"]?["Bool"]?["aws:SecureTransport"] == "false"
                && SynthesizedPlatform.Strings(s["Action"]).Contains("s3:*")))
            .Select(p => platform.Target(p.Stack, p.Properties["Bucket"])!.LogicalId)
            .ToHashSet();
        Assert.Equal(platform.Resources("AWS::S3::Bucket").Select(b => b.LogicalId).ToHashSet(), policed);
    }

    [Fact]
    public void Database_IsEncrypted_BackedUp_AndNotPublic()
    {
        var data = platform.Stacks.Data;
        platform.TemplateOf(data).HasResourceProperties("AWS::RDS::DBInstance", Match.ObjectLike(new Dictionary<string, object>
        {
            ["Engine"] = "postgres",
            ["StorageEncrypted"] = true,
            ["KmsKeyId"] = new Dictionary<string, object> { ["Fn::GetAtt"] = new[] { platform.LogicalId(data, data.Key), "Arn" } },
            ["PubliclyAccessible"] = false,
            ["MultiAZ"] = platform.Settings.MultiAz,
            ["BackupRetentionPeriod"] = platform.Settings.BackupRetentionDays,
        }));
        platform.TemplateOf(data).HasResourceProperties("AWS::AmazonMQ::Broker", Match.ObjectLike(new Dictionary<string, object>
        {
            ["EngineType"] = "RABBITMQ",
            ["PubliclyAccessible"] = false,
        }));
    }

    [Fact]
    public void DatabaseAndBroker_AcceptOnlyTheServiceTasks()
    {
        var data = platform.Stacks.Data;
        var tasks = platform.LogicalId(platform.Stacks.Network, platform.Stacks.Network.ServiceTasks);
        foreach (var (group, port) in new[] { (data.DatabaseSecurityGroup, DataStack.PostgresPort), (data.BrokerSecurityGroup, DataStack.AmqpsPort) })
        {
            var id = platform.LogicalId(data, group);
            IEnumerable<JsonNode> inline = platform.Resource(data.StackName, id).Properties["SecurityGroupIngress"]?.AsArray().Select(r => r!) ?? [];
            var separate = platform.Resources("AWS::EC2::SecurityGroupIngress")
                .Where(r => platform.Target(r.Stack, r.Properties["GroupId"])?.LogicalId == id)
                .Select(r => (JsonNode)r.Properties);
            var rules = inline.Concat(separate).ToList();
            Assert.NotEmpty(rules);
            foreach (var rule in rules)
            {
                Assert.Null(rule["CidrIp"]);
                Assert.Null(rule["CidrIpv6"]);
                Assert.Equal(tasks, platform.Target(data.StackName, rule["SourceSecurityGroupId"])?.LogicalId);
                Assert.Equal(port, (int)rule["FromPort"]!);
                Assert.Equal(port, (int)rule["ToPort"]!);
            }
        }
        // And the services wear that group.
        foreach (var (service, _) in PlatformSettings.Services)
        {
            var groups = platform.EcsService(service).Properties["NetworkConfiguration"]!["AwsvpcConfiguration"]!["SecurityGroups"]!.AsArray();
            Assert.Equal(tasks, platform.Target(platform.Stacks.Services.StackName, Assert.Single(groups))?.LogicalId);
        }
    }

    [Fact]
    public void Secrets_AreGeneratedOrBuiltFromReferences_NeverLiteralCredentials()
    {
        var secrets = platform.Resources("AWS::SecretsManager::Secret").ToList();
        Assert.NotEmpty(secrets);
        foreach (var secret in secrets)
        {
            if (secret.Properties["GenerateSecretString"] is not null)
                continue;
            // Connection strings: the credentials are dynamic references CloudFormation resolves at deploy time.
            var value = platform.Render(secret.Stack, secret.Properties["SecretString"]);
            Assert.Contains(":SecretString:password::}}", value);
            var withoutReferences = Regex.Replace(value, @"\{\{resolve:secretsmanager:.*?::\}\}", "<resolved>");
            Assert.DoesNotMatch("Password=[^<]", withoutReferences);
            Assert.DoesNotMatch("amqps://[^<]", withoutReferences);
        }
        // No task gets a credential as a plain value.
        foreach (var (service, _) in PlatformSettings.Services)
            foreach (var variable in platform.AppContainer(service)["Environment"]!.AsArray())
                Assert.False(PlatformSettings.IsSecret((string)variable!["Name"]!), $"{service} gets {variable["Name"]} in plain text.");
    }

    [Fact]
    public void SageMakerExecutionRole_ReadsOnlySnapshots_AndWritesOnlyTrainingOutput()
    {
        var services = platform.Stacks.Services;
        var role = platform.Resource(services.StackName, platform.LogicalId(services, services.SageMakerExecutionRole));
        Assert.Equal("sagemaker.amazonaws.com",
            (string?)role.Properties["AssumeRolePolicyDocument"]!["Statement"]![0]!["Principal"]!["Service"]);

        var data = platform.Stacks.Data;
        var artifactsArn = "${GetAtt:" + platform.LogicalId(data, data.Artifacts) + ".Arn}";
        var reads = new HashSet<string>();
        var writes = new HashSet<string>();
        foreach (var statement in platform.PoliciesOf(role))
        {
            var actions = SynthesizedPlatform.Strings(statement["Action"]).ToList();
            IEnumerable<JsonNode?> raw = statement["Resource"] is JsonArray list ? list : new[] { statement["Resource"] };
            var resources = raw.Select(r => platform.Render(services.StackName, r)).ToList();
            if (actions.Contains("s3:GetObject")) reads.UnionWith(resources);
            if (actions.Contains("s3:PutObject")) writes.UnionWith(resources);
            if (actions.Contains("s3:ListBucket"))
            {
                Assert.Equal(new[] { artifactsArn }, resources);
                Assert.NotNull(statement["Condition"]?["StringLike"]?["s3:prefix"]);
            }
            Assert.DoesNotContain(resources, r => r.Contains(platform.LogicalId(data, data.Lake)) || r.Contains(platform.LogicalId(data, data.Capture)));
        }
        Assert.Equal(new[] { $"{artifactsArn}/{ServicesStack.SnapshotPrefix}*", $"{artifactsArn}/{ServicesStack.TrainingJobPrefix}*" }.Order(), reads.Order());
        Assert.Equal(new[] { $"{artifactsArn}/{ServicesStack.TrainingJobPrefix}*" }, writes.Order());
    }

    [Fact]
    public void PipelineRunner_ManagesTrainingJobs_AndPassesOnlyTheSageMakerRole()
    {
        var services = platform.Stacks.Services;
        var statements = platform.PoliciesOf(platform.TaskRole(ResourceNames.PipelineRunner)).ToList();
        var actions = statements.SelectMany(s => SynthesizedPlatform.Strings(s["Action"])).ToHashSet();
        Assert.Empty(new[] { "sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob", "sagemaker:ListTrainingJobs" }.Except(actions));
        var pass = Assert.Single(statements, s => SynthesizedPlatform.Strings(s["Action"]).Contains("iam:PassRole"));
        Assert.Equal("${GetAtt:" + platform.LogicalId(services, services.SageMakerExecutionRole) + ".Arn}", platform.Render(services.StackName, pass["Resource"]));
        Assert.Equal("sagemaker.amazonaws.com", (string?)pass["Condition"]!["StringEquals"]!["iam:PassedToService"]);

        // No other service may start training or pass roles.
        foreach (var (service, _) in PlatformSettings.Services.Where(s => s.Service != ResourceNames.PipelineRunner))
            Assert.DoesNotContain(platform.PoliciesOf(platform.TaskRole(service)).SelectMany(s => SynthesizedPlatform.Strings(s["Action"])),
                a => a.StartsWith("sagemaker:", StringComparison.Ordinal) || a == "iam:PassRole");
    }
}
