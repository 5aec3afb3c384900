using System.Text.Json.Nodes;

namespace Mlops.PipelineRunner.Features.Executions;

public sealed record StepRunResponse(string Step, int? Item, string Type, string Status, int Attempt, int Claims, JsonNode? Inputs,
    JsonNode? Outputs, string? CacheKey, string? Error, string? FailureKind, DateTimeOffset? StartedAt, DateTimeOffset? EndedAt,
    double? DurationMs, JsonNode Attempts);

public sealed record DagEdge(string From, string To);

public sealed record DagNode(string Step, string Type, string Status);

public sealed record ExecutionDag(IReadOnlyList<DagNode> Nodes, IReadOnlyList<DagEdge> Edges);

public sealed record ExecutionResponse(Guid Id, string Pipeline, int Version, string Status, JsonNode Parameters, bool StopRequested,
    string? Error, Guid? ReferenceExecutionId, DateTimeOffset CreatedAt, DateTimeOffset? EndedAt, IReadOnlyList<StepRunResponse>? Steps,
    ExecutionDag? Dag);
