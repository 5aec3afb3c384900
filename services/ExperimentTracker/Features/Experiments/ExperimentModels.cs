namespace Mlops.ExperimentTracker.Features.Experiments;

public sealed record KeyValue(string? Key, string? Value);

public sealed record Experiment(
    string ExperimentId,
    string Name,
    string ArtifactLocation,
    string LifecycleStage,
    long LastUpdateTime,
    long CreationTime,
    IReadOnlyList<KeyValue>? Tags);

public sealed record CreateExperimentRequest(string? Name, string? ArtifactLocation, IReadOnlyList<KeyValue>? Tags);
public sealed record CreateExperimentResponse(string ExperimentId);
public sealed record GetExperimentResponse(Experiment Experiment);
public sealed record ExperimentIdRequest(string? ExperimentId);
public sealed record UpdateExperimentRequest(string? ExperimentId, string? NewName);
public sealed record SetExperimentTagRequest(string? ExperimentId, string? Key, string? Value);
public sealed record SearchExperimentsRequest(long? MaxResults, string? PageToken, string? Filter, IReadOnlyList<string>? OrderBy, string? ViewType);
public sealed record SearchExperimentsResponse(IReadOnlyList<Experiment>? Experiments, string? NextPageToken);
