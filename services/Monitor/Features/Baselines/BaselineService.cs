using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Mlops.Monitor.Features.Datasets;
using Mlops.Monitor.Features.Drift;
using Mlops.Monitor.Features.Platform;
using Mlops.Monitor.Features.Profiles;
using Mlops.ServiceDefaults.Storage;

namespace Mlops.Monitor.Features.Baselines;

/// <summary>JSON documents in the artifact bucket under <c>monitor/</c>.</summary>
public sealed class MonitorArtifacts(ObjectStore store, IOptions<StorageOptions> storage)
{
    public string Bucket => storage.Value.ArtifactBucket;

    public async Task<string> PutJsonAsync<T>(string key, T document, CancellationToken ct)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(document, ModelMonitorJson.Options);
        await store.PutAsync(Bucket, key, new MemoryStream(bytes), "application/json", ct);
        return $"s3://{Bucket}/{key}";
    }

    public async Task<string> PutTextAsync(string key, string text, string contentType, CancellationToken ct)
    {
        await store.PutAsync(Bucket, key, new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text)), contentType, ct);
        return $"s3://{Bucket}/{key}";
    }

    public async Task<T> GetJsonAsync<T>(string uri, CancellationToken ct)
    {
        var location = S3Location.Parse(uri, "uri");
        await using var stream = await store.GetAsync(location.Bucket, location.Key, ct);
        return (await JsonSerializer.DeserializeAsync<T>(stream, ModelMonitorJson.Options, ct))!;
    }

    public async Task<Stream?> OpenAsync(string uri, CancellationToken ct)
    {
        var location = S3Location.Parse(uri, "uri");
        var stored = await store.TryOpenAsync(location.Bucket, location.Key, ct);
        return stored?.Content;
    }
}

/// <summary>The write path of baselines: suggestion from a dataset, edited constraints as a new version.</summary>
public sealed class BaselineService(BaselineStore baselines, DatasetReader datasets, MonitorArtifacts artifacts, FeatureStoreClient featureStore)
{
    private static readonly Regex NamePattern = new("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", RegexOptions.CultureInvariant);

    /// <summary>Adds a problem when <paramref name="name"/> (an endpoint, a variant) is given but not a valid name.</summary>
    public static void CheckOptionalName(string? name, string field, List<string> errors)
    {
        if (name is not null && !NamePattern.IsMatch(name))
            errors.Add($"'{field}' must be 1-128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit.");
    }

    public static string ValidateName(string? name, string field)
    {
        if (string.IsNullOrWhiteSpace(name) || !NamePattern.IsMatch(name))
            throw ProblemException.BadRequest($"'{field}' must be 1-128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit; got '{name}'.");
        return name;
    }

    public async Task<(BaselineRow Row, Statistics Statistics, Constraints Constraints)> SuggestAsync(SuggestBaselineRequest request, CancellationToken ct)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(request.Name) || !NamePattern.IsMatch(request.Name)) errors.Add($"'name' must be 1-128 characters of letters, digits, '.', '_' or '-'; got '{request.Name}'.");
        if ((request.Dataset is null) == (request.FeatureGroup is null))
            errors.Add("Give exactly one of 'dataset' (an s3:// object) and 'feature_group' ({name, version?}: its statistics in the feature store).");
        else if (request.Dataset is not null && string.IsNullOrWhiteSpace(request.Dataset.Uri)) errors.Add("'dataset.uri' is required (s3://bucket/key).");
        if (request.FeatureGroup is { } g)
        {
            if (string.IsNullOrWhiteSpace(g.Name)) errors.Add("'feature_group.name' is required.");
            if (g.Version is < 1) errors.Add($"'feature_group.version' must be at least 1; got {g.Version}.");
        }
        if (request.ModelVersion is not null && request.ModelName is null) errors.Add("'model_version' needs 'model_name'.");
        if (errors.Count > 0) throw ProblemException.BadRequest(string.Join(" ", errors), new Dictionary<string, object?> { ["errors"] = errors });

        DatasetProfile profile;
        Statistics statistics;
        Constraints constraints;
        string sourceUri;
        if (request.FeatureGroup is { } group)
        {
            var groupStatistics = await featureStore.GetStatisticsAsync(group.Name!, group.Version, ct);
            (profile, statistics, constraints) = FeatureGroupBaseline.Suggest(groupStatistics);
            sourceUri = FeatureGroupBaseline.Uri(groupStatistics);
            if (profile.Columns.Count == 0)
                throw ProblemException.BadRequest($"Feature group '{group.Name}' version {groupStatistics.Version} has no numerical or categorical features to baseline.");
            if (profile.ItemCount == 0)
                throw ProblemException.BadRequest($"Feature group '{group.Name}' version {groupStatistics.Version} has no ingested records: its statistics are empty.");
        }
        else
        {
            profile = await datasets.ProfileAsync(request.Dataset!, "dataset", ct);
            if (profile.Columns.Count == 0)
                throw ProblemException.BadRequest($"The dataset '{request.Dataset!.Uri}' has no numerical or categorical columns to baseline.");
            statistics = BaselineSuggestion.Statistics(profile);
            constraints = BaselineSuggestion.Constraints(profile);
            sourceUri = request.Dataset!.Uri;
        }
        var profileDocument = ProfileDocument.From(profile);
        for (var attempt = 0; ; attempt++)
        {
            var version = await baselines.NextVersionAsync(request.Name!, ct);
            var prefix = $"monitor/baselines/{request.Name}/v{version}";
            var row = new BaselineRow(request.Name!, version, sourceUri, request.ModelName, request.ModelVersion, profile.ItemCount,
                await artifacts.PutJsonAsync($"{prefix}/statistics.json", statistics, ct),
                await artifacts.PutJsonAsync($"{prefix}/constraints.json", constraints, ct),
                await artifacts.PutJsonAsync($"{prefix}/profile.json", profileDocument, ct), DateTimeOffset.UtcNow);
            if (await baselines.InsertAsync(row, ct)) return (row, statistics, constraints);
            if (attempt >= 3) throw ProblemException.Conflict($"Baseline '{request.Name}' is being written concurrently; retry.");
        }
    }

    /// <summary>Edited constraints become the next version, over the same statistics and reference profile.</summary>
    public async Task<(BaselineRow Row, Constraints Constraints)> EditConstraintsAsync(BaselineRow current, Constraints? edited, CancellationToken ct)
    {
        var statistics = await artifacts.GetJsonAsync<Statistics>(current.StatisticsUri, ct);
        var errors = ValidateConstraints(edited, statistics);
        if (errors.Count > 0) throw ProblemException.BadRequest(string.Join(" ", errors), new Dictionary<string, object?> { ["errors"] = errors });
        for (var attempt = 0; ; attempt++)
        {
            var version = await baselines.NextVersionAsync(current.Name, ct);
            var row = current with
            {
                Version = version,
                ConstraintsUri = await artifacts.PutJsonAsync($"monitor/baselines/{current.Name}/v{version}/constraints.json", edited!, ct),
                CreatedAt = DateTimeOffset.UtcNow,
            };
            if (await baselines.InsertAsync(row, ct)) return (row, edited!);
            if (attempt >= 3) throw ProblemException.Conflict($"Baseline '{current.Name}' is being written concurrently; retry.");
        }
    }

    private static List<string> ValidateConstraints(Constraints? c, Statistics statistics)
    {
        var errors = new List<string>();
        if (c is null) return ["The body must be a constraints.json document."];
        if (c.Features is null) errors.Add("'features' is required.");
        if (c.MonitoringConfig is null) errors.Add("'monitoring_config' is required.");
        var known = statistics.Features.Select(f => f.Name).ToHashSet(StringComparer.Ordinal);
        for (var i = 0; i < (c.Features?.Count ?? 0); i++)
        {
            var f = c.Features![i];
            if (f is null) { errors.Add($"'features[{i}]' must be an object."); continue; }
            if (string.IsNullOrEmpty(f.Name)) errors.Add($"'features[{i}].name' is required.");
            else if (!known.Contains(f.Name)) errors.Add($"'features[{i}].name': the baseline has no feature '{f.Name}'.");
            if (f.Completeness is < 0 or > 1 || double.IsNaN(f.Completeness)) errors.Add($"'features[{i}].completeness' must be between 0 and 1; got {f.Completeness}.");
            if (f.InferredType is not (InferredTypes.Integral or InferredTypes.Fractional or InferredTypes.String or InferredTypes.Unknown))
                errors.Add($"'features[{i}].inferred_type' must be Integral, Fractional, String or Unknown; got '{f.InferredType}'.");
            if (f.MonitoringConfigOverrides is { } o)
            {
                if (o.DomainContentThreshold is < 0 or > 1) errors.Add($"'features[{i}].monitoringConfigOverrides.domain_content_threshold' must be between 0 and 1.");
                if (o.DatatypeCheckThreshold is < 0 or > 1) errors.Add($"'features[{i}].monitoringConfigOverrides.datatype_check_threshold' must be between 0 and 1.");
                if (o.DriftMethod is { } m && !DriftMethod.ByName.ContainsKey(m))
                    errors.Add($"'features[{i}].monitoringConfigOverrides.drift_method' must be one of {string.Join(", ", DriftMethod.ByName.Keys)}; got '{m}'.");
                if (o.DriftThreshold is { } t && (t < 0 || double.IsNaN(t))) errors.Add($"'features[{i}].monitoringConfigOverrides.drift_threshold' must be non-negative.");
            }
        }
        if (c.MonitoringConfig is { } mc)
        {
            if (mc.DatatypeCheckThreshold is < 0 or > 1) errors.Add($"'monitoring_config.datatype_check_threshold' must be between 0 and 1; got {mc.DatatypeCheckThreshold}.");
            if (mc.DomainContentThreshold is < 0 or > 1) errors.Add($"'monitoring_config.domain_content_threshold' must be between 0 and 1; got {mc.DomainContentThreshold}.");
            if (mc.DistributionConstraints is null) errors.Add("'monitoring_config.distribution_constraints' is required.");
        }
        return errors;
    }
}
