using Mlops.ExperimentTracker.Features.Experiments;

namespace Mlops.ExperimentTracker.Features.Runs;

public sealed record RunInfo(
    string RunId,
    string RunUuid,
    string RunName,
    string ExperimentId,
    string UserId,
    string Status,
    long StartTime,
    long? EndTime,
    string ArtifactUri,
    string LifecycleStage);

/// <summary>A metric point; in requests every field may be missing (and is then validated), in responses all are set.</summary>
public sealed record Metric(string? Key, double? Value, long? Timestamp, long? Step);

public sealed record RunData(IReadOnlyList<Metric>? Metrics, IReadOnlyList<KeyValue>? Params, IReadOnlyList<KeyValue>? Tags);

/// <summary>A dataset as MLflow describes it: name and digest identify it within an experiment; source says where it is.</summary>
public sealed record Dataset(string? Name, string? Digest, string? SourceType, string? Source, string? Schema, string? Profile);

public sealed record DatasetInput(IReadOnlyList<KeyValue>? Tags, Dataset? Dataset);

/// <summary>A run's dataset inputs (runs/log-inputs); MLflow answers an empty object when there are none.</summary>
public sealed record RunInputs(IReadOnlyList<DatasetInput>? DatasetInputs);

public sealed record LogInputsRequest(string? RunId, IReadOnlyList<DatasetInput>? Datasets);

public sealed record Run(RunInfo Info, RunData Data, RunInputs Inputs);

public sealed record CreateRunRequest(string? ExperimentId, string? UserId, string? RunName, long? StartTime, IReadOnlyList<KeyValue>? Tags);
public sealed record RunResponse(Run Run);
public sealed record UpdateRunRequest(string? RunId, string? RunUuid, string? Status, long? EndTime, string? RunName);
public sealed record UpdateRunResponse(RunInfo RunInfo);
public sealed record RunIdRequest(string? RunId);
public sealed record SearchRunsRequest(
    IReadOnlyList<string>? ExperimentIds, string? Filter, string? RunViewType, long? MaxResults, IReadOnlyList<string>? OrderBy, string? PageToken);
public sealed record SearchRunsResponse(IReadOnlyList<Run>? Runs, string? NextPageToken);
public sealed record LogMetricRequest(string? RunId, string? RunUuid, string? Key, double? Value, long? Timestamp, long? Step);
public sealed record LogParamRequest(string? RunId, string? RunUuid, string? Key, string? Value);
public sealed record SetTagRequest(string? RunId, string? RunUuid, string? Key, string? Value);
public sealed record DeleteTagRequest(string? RunId, string? Key);
public sealed record LogBatchRequest(string? RunId, IReadOnlyList<Metric>? Metrics, IReadOnlyList<KeyValue>? Params, IReadOnlyList<KeyValue>? Tags);
public sealed record MetricHistoryResponse(IReadOnlyList<Metric>? Metrics, string? NextPageToken);
