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
/// How a new configuration takes over traffic, after SageMaker's deployment guardrails (BlueGreenUpdatePolicy and shadow
/// variants): <c>all_at_once</c>, <c>canary</c> (<see cref="CanaryPercent"/> for <see cref="WaitSeconds"/>, then the rest),
/// <c>linear</c> (<see cref="StepPercent"/> every <see cref="IntervalSeconds"/>), <c>blue_green</c> (the new fleet loaded
/// on every replica before all traffic switches at once) or <c>shadow</c> (<see cref="ShadowPercent"/> of the requests
/// mirrored to the new configuration for <see cref="WaitSeconds"/>, its answers captured and never returned, then all
/// traffic switches); then <see cref="BakingSeconds"/> of baking. Throughout, an alarm (<see cref="Alarms"/>, or the
/// Monitor's) rolls back, as does passing <see cref="MaxExecutionSeconds"/>. <see cref="PromoteAlias"/>: on success, this
/// registry alias moves to the new versions.
/// </summary>
public sealed record DeploymentStrategy(string Type, int? CanaryPercent = null, int? WaitSeconds = null, int? StepPercent = null,
    int? IntervalSeconds = null, int BakingSeconds = 0, string? PromoteAlias = null, int? ShadowPercent = null, int? MaxExecutionSeconds = null,
    DeploymentAlarms? Alarms = null)
{
    public const string AllAtOnce = "all_at_once";
    public const string Canary = "canary";
    public const string Linear = "linear";
    public const string BlueGreen = "blue_green";
    public const string Shadow = "shadow";
    public static readonly string[] Types = [AllAtOnce, Canary, Linear, BlueGreen, Shadow];
    public static DeploymentStrategy Immediate { get; } = new(AllAtOnce);

    /// <summary>The built-in alarms in force: the ones given, each unset field at its default.</summary>
    public DeploymentAlarms EffectiveAlarms => DeploymentAlarms.Defaults.With(Alarms);
}

/// <summary>
/// Built-in alarms on the new configuration's variants, from Serving's own measurements over the last
/// <see cref="WindowSeconds"/> on each replica, evaluated once at least <see cref="MinRequests"/> requests reached a variant:
/// the share of failed requests (the rows did not fit the variant's schema, or scoring failed) above
/// <see cref="MaxErrorRate"/>, or the 99th percentile of its latency (binding and scoring) above <see cref="MaxP99Ms"/>.
/// </summary>
public sealed record DeploymentAlarms(double? MaxErrorRate = null, double? MaxP99Ms = null, int? WindowSeconds = null, int? MinRequests = null)
{
    public const int MaxWindowSeconds = 300;

    /// <summary>On unless turned off: more than 5 % errors over 30 s (from 20 requests); no latency alarm.</summary>
    public static DeploymentAlarms Defaults { get; } = new(0.05, null, 30, 20);

    public DeploymentAlarms With(DeploymentAlarms? given) => given is null
        ? this
        : new(given.MaxErrorRate ?? MaxErrorRate, given.MaxP99Ms ?? MaxP99Ms, given.WindowSeconds ?? WindowSeconds, given.MinRequests ?? MinRequests);
}

public sealed record CreateEndpointRequest(string? Name, IReadOnlyList<VariantRequest>? Variants, DataCaptureConfig? DataCapture);

/// <summary>A new configuration for an existing endpoint and how to roll it out (default: all at once, no baking).</summary>
public sealed record UpdateEndpointRequest(IReadOnlyList<VariantRequest>? Variants, DataCaptureConfig? DataCapture, DeploymentStrategy? Deployment);

/// <summary>A variant of a stored configuration: aliases are resolved, <see cref="Alias"/> records what was asked for.</summary>
public sealed record Variant(string Name, string ModelName, string ModelVersion, string? Alias, double Weight);

public sealed record EndpointConfig(string Endpoint, int Version, IReadOnlyList<Variant> Variants, DataCaptureConfig DataCapture,
    string DeploymentId, DateTimeOffset CreatedAt);

/// <summary>
/// What a variant receives right now: its share of all requests in percent, which configuration it belongs to, and for a
/// shadow variant the percent of requests mirrored to it (its <see cref="Percent"/> is 0: it answers nobody).
/// </summary>
public sealed record TrafficShare(string Variant, string ModelName, string ModelVersion, int ConfigVersion, double Percent, double? MirroredPercent = null);

public sealed record EndpointResponse(string Name, int ConfigVersion, IReadOnlyList<Variant> Variants, DataCaptureConfig DataCapture,
    IReadOnlyList<TrafficShare> Traffic, Deployments.DeploymentResponse? ActiveDeployment, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

public sealed record EndpointList(IReadOnlyList<EndpointResponse> Endpoints);
