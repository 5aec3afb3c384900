using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mlops.Monitor.Features.Baselines;

// SageMaker Model Monitor's documents, in its field names: statistics.json, constraints.json, constraint_violations.json.

public sealed record Statistics(int Version, DatasetStatistics Dataset, IReadOnlyList<FeatureStatistics> Features);

public sealed record DatasetStatistics(long ItemCount);

public sealed record FeatureStatistics(string Name, string InferredType, NumericalStatistics? NumericalStatistics, StringStatistics? StringStatistics);

public sealed record CommonStatistics(long NumPresent, long NumMissing);

/// <summary>A column without values has no mean, deviation, range or distribution: those are left out.</summary>
public sealed record NumericalStatistics(CommonStatistics Common, double? Mean, double Sum, double? StdDev, double? Min, double? Max, NumericalDistribution? Distribution);

public sealed record NumericalDistribution(KllDistribution Kll);

/// <summary>
/// Model Monitor's KLL section. Buckets: 10 equal-width buckets over [min, max], as Model Monitor materialises them.
/// The sketch holds one level of exact quantiles (the profile keeps exact counts, so no compaction error).
/// </summary>
public sealed record KllDistribution(IReadOnlyList<KllBucket> Buckets, KllSketch Sketch);

public sealed record KllBucket(double LowerBound, double UpperBound, long Count);

public sealed record KllSketch(KllParameters Parameters, IReadOnlyList<IReadOnlyList<double>> Data);

public sealed record KllParameters(double C, int K);

public sealed record StringStatistics(CommonStatistics Common, long DistinctCount, StringDistribution Distribution);

public sealed record StringDistribution(CategoricalBuckets Categorical);

public sealed record CategoricalBuckets(IReadOnlyList<CategoricalBucket> Buckets);

public sealed record CategoricalBucket(string Value, long Count);

public sealed record Constraints(int Version, IReadOnlyList<FeatureConstraints> Features, MonitoringConfig MonitoringConfig);

public sealed record FeatureConstraints(string Name, string InferredType, double Completeness, NumConstraints? NumConstraints,
    StringConstraints? StringConstraints, [property: JsonPropertyName("monitoringConfigOverrides")] FeatureMonitoringOverrides? MonitoringConfigOverrides = null);

public sealed record NumConstraints(bool IsNonNegative);

public sealed record StringConstraints(IReadOnlyList<string> Domains);

/// <summary>Per-feature overrides (Model Monitor's <c>monitoringConfigOverrides</c>): thresholds and the drift method.</summary>
public sealed record FeatureMonitoringOverrides(double? DomainContentThreshold = null, double? DatatypeCheckThreshold = null,
    string? DriftMethod = null, double? DriftThreshold = null);

public sealed record MonitoringConfig(string EvaluateConstraints, string EmitMetrics, double DatatypeCheckThreshold, double DomainContentThreshold,
    DistributionConstraints DistributionConstraints)
{
    public static MonitoringConfig Default => new("Enabled", "Enabled", 0.1, 0.1, new DistributionConstraints("Enabled", 0.1, "Simple", 0.1, "LInfinity"));
}

public sealed record DistributionConstraints(string PerformComparison, double ComparisonThreshold, string ComparisonMethod,
    double CategoricalComparisonThreshold, string CategoricalDriftMethod);

public sealed record ConstraintViolations(IReadOnlyList<Violation> Violations);

/// <summary>
/// Model Monitor's violation; <c>variant</c> and <c>model_version</c> (ours) say which endpoint variant's rows it is about. Clarify's
/// feature-attribution violations name no feature but a <c>label</c> and the explainability <c>metric_name</c>.
/// </summary>
public sealed record Violation(string? FeatureName, string ConstraintCheckType, string Description, string? Variant = null, string? ModelVersion = null,
    string? Label = null, string? MetricName = null);

public static class ViolationTypes
{
    public const string DataType = "data_type_check";
    public const string Completeness = "completeness_check";
    public const string BaselineDrift = "baseline_drift_check";
    public const string MissingColumn = "missing_column_check";
    public const string ExtraColumn = "extra_column_check";
    public const string CategoricalValues = "categorical_values_check";
    /// <summary>Ours: Model Monitor's constraints carry is_non_negative but its violation list has no type for it.</summary>
    public const string NonNegative = "non_negative_check";
}

public static class ModelMonitorJson
{
    /// <summary>The documents' own serialisation (snake_case, nulls left out), used for the S3 objects.</summary>
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        WriteIndented = true,
        // A statistic can be undefined (chi-squared over one category is NaN in SciPy too); it is written, not refused.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
