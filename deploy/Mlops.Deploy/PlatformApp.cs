using Amazon.CDK;
using Mlops.Deploy.Stacks;

namespace Mlops.Deploy;

/// <summary>The stacks of one environment, in the order they deploy.</summary>
public sealed record PlatformStacks(NetworkStack Network, SecretsStack Secrets, DataStack Data, RegistryStack Registry, ServicesStack Services)
{
    public IEnumerable<Stack> All => [Network, Secrets, Data, Registry, Services];
}

public static class PlatformApp
{
    /// <summary>Adds the platform's stacks for <paramref name="settings"/> to <paramref name="app"/>.</summary>
    public static PlatformStacks Build(App app, DeploySettings settings)
    {
        // Account and region come from the CDK CLI's environment (the deploying credentials); without them (tests, a
        // synth without credentials) the stacks are environment-agnostic.
        var account = System.Environment.GetEnvironmentVariable("CDK_DEFAULT_ACCOUNT");
        var region = System.Environment.GetEnvironmentVariable("CDK_DEFAULT_REGION");
        var env = account is null || region is null ? null : new Amazon.CDK.Environment { Account = account, Region = region };
        var name = $"Mlops-{settings.Environment}";
        StackProps Props(string description) => new() { Env = env, Description = $"Mlops.Aspire ({settings.Environment}): {description}" };

        var network = new NetworkStack(app, $"{name}-Network", settings, Props("VPC over two zones, subnets, the service tasks' security group"));
        var secrets = new SecretsStack(app, $"{name}-Secrets", settings, Props("API and administrator keys, database and broker credentials"));
        var data = new DataStack(app, $"{name}-Data", settings, network, secrets, Props("KMS key, S3 buckets, RDS PostgreSQL, Amazon MQ for RabbitMQ"));
        var registry = new RegistryStack(app, $"{name}-Registry", settings, Props("ECR repositories for the services and the trainer"));
        var services = new ServicesStack(app, $"{name}-Services", settings, network, secrets, data, registry, Props("ECS Fargate services, load balancer, SageMaker execution role"));

        Tags.Of(app).Add("project", "mlops-aspire");
        Tags.Of(app).Add("environment", settings.Environment);
        return new(network, secrets, data, registry, services);
    }
}
