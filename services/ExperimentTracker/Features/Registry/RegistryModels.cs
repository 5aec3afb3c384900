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
    IReadOnlyList<KeyValue>? Tags,
    IReadOnlyList<string>? Aliases);

public sealed record RegisteredModelAlias(string Alias, string Version);

public sealed record RegisteredModel(
    string Name,
    long CreationTimestamp,
    long LastUpdatedTimestamp,
    string? UserId,
    string? Description,
    IReadOnlyList<ModelVersion>? LatestVersions,
    IReadOnlyList<KeyValue>? Tags,
    IReadOnlyList<RegisteredModelAlias>? Aliases);

public sealed record CreateRegisteredModelRequest(string? Name, IReadOnlyList<KeyValue>? Tags, string? Description);
public sealed record RegisteredModelResponse(RegisteredModel RegisteredModel);
public sealed record RegisteredModelNameRequest(string? Name);
public sealed record RenameRegisteredModelRequest(string? Name, string? NewName);
public sealed record UpdateRegisteredModelRequest(string? Name, string? Description);
public sealed record RegisteredModelTagRequest(string? Name, string? Key, string? Value);
public sealed record GetLatestVersionsRequest(string? Name, IReadOnlyList<string>? Stages);
public sealed record ModelVersionsResponse(IReadOnlyList<ModelVersion>? ModelVersions);
public sealed record AliasRequest(string? Name, string? Alias, string? Version);
public sealed record SearchRegisteredModelsResponse(IReadOnlyList<RegisteredModel>? RegisteredModels, string? NextPageToken);
public sealed record CreateModelVersionRequest(
    string? Name, string? Source, string? RunId, IReadOnlyList<KeyValue>? Tags, string? RunLink, string? Description);
public sealed record ModelVersionResponse(ModelVersion ModelVersion);
public sealed record ModelVersionRequest(string? Name, string? Version);
public sealed record UpdateModelVersionRequest(string? Name, string? Version, string? Description);
public sealed record TransitionStageRequest(string? Name, string? Version, string? Stage, bool? ArchiveExistingVersions);
public sealed record ModelVersionTagRequest(string? Name, string? Version, string? Key, string? Value);
public sealed record SearchModelVersionsResponse(IReadOnlyList<ModelVersion>? ModelVersions, string? NextPageToken);
public sealed record DownloadUriResponse(string ArtifactUri);

/// <summary>One entry of the registry's audit trail (native API, <c>GET /api/registry/audit</c>).</summary>
public sealed record AuditEntry(long Id, DateTimeOffset At, string Actor, string Action, string Name, string? Version,
    System.Text.Json.JsonElement Details);
public sealed record AuditResponse(IReadOnlyList<AuditEntry> Entries, long? NextBefore);
