using Mlops.Monitor.Features.Datasets;

namespace Mlops.Monitor.Features.Baselines;

/// <summary>Suggest a baseline from a dataset (a new version when the name exists).</summary>
/// <param name="Name">The baseline's name (letters, digits, '.', '_', '-').</param>
/// <param name="Dataset">The dataset: a feature-store snapshot's data.parquet, or a Parquet/CSV object in the lake.</param>
/// <param name="ModelName">The registered model the baseline belongs to.</param>
/// <param name="ModelVersion">Its version.</param>
/// <param name="FeatureGroup">Instead of a dataset: a feature group version, baselined from its statistics in the FeatureStore.</param>
public sealed record SuggestBaselineRequest(string? Name, DatasetRef? Dataset, string? ModelName = null, string? ModelVersion = null,
    FeatureGroupRef? FeatureGroup = null);

public sealed record BaselineRow(string Name, int Version, string DatasetUri, string? ModelName, string? ModelVersion, long ItemCount,
    string StatisticsUri, string ConstraintsUri, string ProfileUri, DateTimeOffset CreatedAt);

public sealed record BaselineResponse(string Name, int Version, string DatasetUri, string? ModelName, string? ModelVersion, long ItemCount,
    string StatisticsUri, string ConstraintsUri, DateTimeOffset CreatedAt, Statistics? Statistics = null, Constraints? Constraints = null)
{
    public static BaselineResponse From(BaselineRow r, Statistics? statistics = null, Constraints? constraints = null) =>
        new(r.Name, r.Version, r.DatasetUri, r.ModelName, r.ModelVersion, r.ItemCount, r.StatisticsUri, r.ConstraintsUri, r.CreatedAt, statistics, constraints);
}

public sealed record BaselineList(IReadOnlyList<BaselineResponse> Baselines);
