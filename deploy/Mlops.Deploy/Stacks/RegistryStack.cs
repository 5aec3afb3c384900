using Amazon.CDK;
using Amazon.CDK.AWS.ECR;
using Constructs;

namespace Mlops.Deploy.Stacks;

/// <summary>
/// One ECR repository per service and one for the trainer image SageMaker training jobs run. A stack of its own because
/// images must be pushed before the services stack can start tasks from them: the workflow deploys this stack first.
/// </summary>
public sealed class RegistryStack : Stack
{
    public const string Trainer = "trainer";

    /// <summary>By service name (<see cref="ResourceNames"/>), plus <see cref="Trainer"/>.</summary>
    public IReadOnlyDictionary<string, Repository> Repositories { get; }

    public RegistryStack(Construct scope, string id, DeploySettings settings, IStackProps props) : base(scope, id, props)
    {
        Repositories = PlatformSettings.Services.Select(s => s.Service).Append(Trainer).ToDictionary(name => name, name =>
            new Repository(this, $"{name}Repository", new RepositoryProps
            {
                RepositoryName = $"{settings.Prefix}/{name}",
                ImageScanOnPush = true,
                RemovalPolicy = RemovalPolicy.RETAIN,
                // Tags are release tags (v1.2.3) and, for dev, the moving 'latest'; old images are only rollback targets.
                LifecycleRules = [new LifecycleRule { Description = "Keep the last 30 images", MaxImageCount = 30 }],
            }));
    }
}
