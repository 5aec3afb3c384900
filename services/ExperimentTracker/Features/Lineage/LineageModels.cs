namespace Mlops.ExperimentTracker.Features.Lineage;

public sealed record CodeVersion(string? GitCommit, string? SourceName, string? RepositoryUrl);
public sealed record PipelineExecution(string ExecutionId, string? Pipeline);
public sealed record FeatureGroupRef(string Name, int Version);
public sealed record DatasetRef(string Name, string Digest, string SourceType, string Source, string? Context, IReadOnlyList<FeatureGroupRef> FeatureGroups);
public sealed record DeploymentRef(string DeploymentId, string Endpoint, string Environment, DateTimeOffset DeployedAt, DateTimeOffset? RetiredAt);
public sealed record ModelVersionRef(string Name, string Version, string CurrentStage, IReadOnlyList<string> Aliases, IReadOnlyList<DeploymentRef> Deployments);
public sealed record RunRef(string RunId, string ExperimentId, string RunName, string Status, string LifecycleStage,
    CodeVersion? CodeVersion, PipelineExecution? PipelineExecution);

/// <summary>A run with what went in (datasets, feature-group versions, code, pipeline) and what came out (model versions, deployments).</summary>
public sealed record RunLineage(RunRef Run, IReadOnlyList<DatasetRef> Datasets, IReadOnlyList<ModelVersionRef> ModelVersions);
public sealed record ModelVersionLineage(ModelVersionRef ModelVersion, string Source, RunLineage? Run);
public sealed record RunsLineage(IReadOnlyList<RunLineage> Runs);
