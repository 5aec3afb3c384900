namespace Mlops.ExperimentTracker.Client;

#pragma warning disable CS1591 // MLflow's own field names; see MLflow's REST API documentation.

public sealed record KeyValue(string Key, string Value);
public sealed record Experiment(string ExperimentId, string Name, string ArtifactLocation, string LifecycleStage, long CreationTime,
    long LastUpdateTime, IReadOnlyList<KeyValue>? Tags);
public sealed record RunInfo(string RunId, string RunName, string ExperimentId, string Status, long StartTime, long? EndTime,
    string ArtifactUri, string LifecycleStage);
public sealed record Metric(string Key, double Value, long Timestamp, long Step);
public sealed record RunData(IReadOnlyList<Metric>? Metrics, IReadOnlyList<KeyValue>? Params, IReadOnlyList<KeyValue>? Tags);
public sealed record Dataset(string Name, string Digest, string SourceType, string Source, string? Schema = null, string? Profile = null);
public sealed record DatasetInput(IReadOnlyList<KeyValue>? Tags, Dataset Dataset);
public sealed record RunInputs(IReadOnlyList<DatasetInput>? DatasetInputs);
public sealed record Run(RunInfo Info, RunData Data, RunInputs? Inputs)
{
    /// <summary>The run's latest value of a metric, or null.</summary>
    public double? MetricValue(string key) => Data.Metrics?.FirstOrDefault(m => m.Key == key)?.Value;
    public string? Param(string key) => Data.Params?.FirstOrDefault(p => p.Key == key)?.Value;
    public string? Tag(string key) => Data.Tags?.FirstOrDefault(t => t.Key == key)?.Value;
}
public sealed record RunsPage(IReadOnlyList<Run> Runs, string? NextPageToken);
public sealed record ArtifactFile(string Path, bool IsDir, long? FileSize);

public sealed record ModelVersion(string Name, string Version, long CreationTimestamp, long LastUpdatedTimestamp, string CurrentStage,
    string? Description, string Source, string? RunId, string Status, IReadOnlyList<KeyValue>? Tags, IReadOnlyList<string>? Aliases);
public sealed record RegisteredModelAlias(string Alias, string Version);
public sealed record RegisteredModel(string Name, long CreationTimestamp, long LastUpdatedTimestamp, string? Description,
    IReadOnlyList<ModelVersion>? LatestVersions, IReadOnlyList<KeyValue>? Tags, IReadOnlyList<RegisteredModelAlias>? Aliases);

// Native (non-MLflow) endpoints.
public sealed record FeatureGroupRef(string Name, int Version);
public sealed record DatasetRef(string Name, string Digest, string SourceType, string Source, string? Context, IReadOnlyList<FeatureGroupRef> FeatureGroups);
public sealed record DeploymentRef(string DeploymentId, string Endpoint, string Environment, DateTimeOffset DeployedAt, DateTimeOffset? RetiredAt);
public sealed record ModelVersionRef(string Name, string Version, string CurrentStage, IReadOnlyList<string> Aliases, IReadOnlyList<DeploymentRef> Deployments);
public sealed record CodeVersion(string? GitCommit, string? SourceName, string? RepositoryUrl);
public sealed record PipelineExecution(string ExecutionId, string? Pipeline);
public sealed record RunRef(string RunId, string ExperimentId, string RunName, string Status, string LifecycleStage,
    CodeVersion? CodeVersion, PipelineExecution? PipelineExecution);
public sealed record RunLineage(RunRef Run, IReadOnlyList<DatasetRef> Datasets, IReadOnlyList<ModelVersionRef> ModelVersions);
public sealed record ModelVersionLineage(ModelVersionRef ModelVersion, string Source, RunLineage? Run);
public sealed record RunsLineage(IReadOnlyList<RunLineage> Runs);
public sealed record ComparedRun(string RunId, string RunName, string ExperimentId, string Status, long StartTime, long? EndTime);
public sealed record ParamRow(string Key, IReadOnlyList<string?> Values, bool Differs);
public sealed record MetricRow(string Key, IReadOnlyList<double?> Values, double? Min, double? Max, string? MinRunId, string? MaxRunId);
public sealed record RunComparison(IReadOnlyList<ComparedRun> Runs, IReadOnlyList<ParamRow> Params, IReadOnlyList<MetricRow> Metrics);
/// <summary>What a garbage collection removed (or, in a dry run, would remove), and the runs it kept.</summary>
public sealed record GarbageCollection(bool DryRun, IReadOnlyList<string> DeletedRuns, IReadOnlyList<string> DeletedExperiments,
    IReadOnlyList<KeptRun> KeptRuns, int ArtifactObjectsDeleted);
public sealed record KeptRun(string RunId, string Reason);
