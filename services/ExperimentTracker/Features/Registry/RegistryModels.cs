using Mlops.ExperimentTracker.Features.Experiments;

namespace Mlops.ExperimentTracker.Features.Registry;

public sealed record ModelVersion(
    string Name,
    string Version,
    long CreationTimestamp,
    long LastUpdatedTimestamp,
    string? UserId,
    string CurrentStage,
    string? Description,
    string Source,
    string? RunId,
    string Status,
    string? RunLink,
    IReadOnlyList<KeyValue>? Tags);

public sealed record RegisteredModel(
    string Name,
    long CreationTimestamp,
    long LastUpdatedTimestamp,
    string? UserId,
    string? Description,
    IReadOnlyList<ModelVersion>? LatestVersions,
    IReadOnlyList<KeyValue>? Tags);

public sealed record CreateRegisteredModelRequest(string? Name, IReadOnlyList<KeyValue>? Tags, string? Description);
public sealed record RegisteredModelResponse(RegisteredModel RegisteredModel);
public sealed record RegisteredModelNameRequest(string? Name);
public sealed record SearchRegisteredModelsResponse(IReadOnlyList<RegisteredModel>? RegisteredModels, string? NextPageToken);
public sealed record CreateModelVersionRequest(
    string? Name, string? Source, string? RunId, IReadOnlyList<KeyValue>? Tags, string? RunLink, string? Description);
public sealed record ModelVersionResponse(ModelVersion ModelVersion);
