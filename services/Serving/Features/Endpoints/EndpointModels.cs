namespace Mlops.Serving.Features.Endpoints;

/// <summary>
/// A production variant as requested: a registered model and either a version or an alias (resolved when the
/// configuration is created), with a traffic weight relative to the other variants.
/// </summary>
public sealed record VariantRequest(string? Name, string? ModelName, string? ModelVersion, string? Alias, double? Weight);

/// <summary>Data capture: whether requests and predictions go to S3, and the percentage of requests sampled (0–100).</summary>
public sealed record DataCaptureConfig(bool Enabled, int SamplingPercentage)
{
    public static DataCaptureConfig Off { get; } = new(false, 0);
}

/// <summary>
/// How a new configuration takes over traffic, after SageMaker's deployment guardrails (BlueGreenUpdatePolicy):
/// <c>all_at_once</c>, <c>canary</c> (<see cref="CanaryPercent"/> for <see cref="WaitSeconds"/>, then the rest) or
/// <c>linear</c> (<see cref="StepPercent"/> every <see cref="IntervalSeconds"/>), then <see cref="BakingSeconds"/> of baking
/// during which an alarm rolls back. <see cref="PromoteAlias"/>: on success, this registry alias moves to the new versions.
/// </summary>
public sealed record DeploymentStrategy(string Type, int? CanaryPercent = null, int? WaitSeconds = null, int? StepPercent = null,
    int? IntervalSeconds = null, int BakingSeconds = 0, string? PromoteAlias = null)
{
    public const string AllAtOnce = "all_at_once";
    public const string Canary = "canary";
    public const string Linear = "linear";
    public static readonly string[] Types = [AllAtOnce, Canary, Linear];
    public static DeploymentStrategy Immediate { get; } = new(AllAtOnce);
}

public sealed record CreateEndpointRequest(string? Name, IReadOnlyList<VariantRequest>? Variants, DataCaptureConfig? DataCapture);

/// <summary>A new configuration for an existing endpoint and how to roll it out (default: all at once, no baking).</summary>
public sealed record UpdateEndpointRequest(IReadOnlyList<VariantRequest>? Variants, DataCaptureConfig? DataCapture, DeploymentStrategy? Deployment);

/// <summary>A variant of a stored configuration: aliases are resolved, <see cref="Alias"/> records what was asked for.</summary>
public sealed record Variant(string Name, string ModelName, string ModelVersion, string? Alias, double Weight);

public sealed record EndpointConfig(string Endpoint, int Version, IReadOnlyList<Variant> Variants, DataCaptureConfig DataCapture,
    string DeploymentId, DateTimeOffset CreatedAt);

/// <summary>What a variant receives right now: its share of all requests in percent, and which configuration it belongs to.</summary>
public sealed record TrafficShare(string Variant, string ModelName, string ModelVersion, int ConfigVersion, double Percent);

public sealed record EndpointResponse(string Name, int ConfigVersion, IReadOnlyList<Variant> Variants, DataCaptureConfig DataCapture,
    IReadOnlyList<TrafficShare> Traffic, Deployments.DeploymentResponse? ActiveDeployment, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

public sealed record EndpointList(IReadOnlyList<EndpointResponse> Endpoints);
