using System.Text.Json.Nodes;
using Mlops.PipelineRunner.Features.Definitions;

namespace Mlops.PipelineRunner.Features.Pipelines;

public sealed record PipelineSummary(string Name, int LatestVersion, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

public sealed record PipelineVersionResponse(string Pipeline, int Version, string DefinitionHash, string SourceFormat, JsonNode Definition,
    DateTimeOffset CreatedAt, bool Created);

public sealed record StartExecutionRequest(JsonObject? Parameters, int? Version, Guid? ReferenceExecutionId, IReadOnlyList<string>? SelectedSteps);

/// <summary>A stored version, bound again from its document (cheap, cached per version).</summary>
public sealed record PinnedDefinition(string Pipeline, int Version, PipelineDefinition Definition);
