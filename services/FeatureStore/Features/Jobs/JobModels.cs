using System.Text.Json;

namespace Mlops.FeatureStore.Features.Jobs;

public static class JobStatus
{
    public const string Queued = "queued", Running = "running", Succeeded = "succeeded", Failed = "failed", Cancelled = "cancelled";
}

public static class JobKinds
{
    public const string LakeImport = "lake_import";
    public const string TrainingSet = "training_set";
}

public sealed record JobResponse(Guid JobId, string Kind, string Status, long RowsDone, long? RowsTotal, JsonElement? Result, JsonElement? Error,
    bool CancelRequested, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>A job claimed by a runner: what to run.</summary>
public sealed record ClaimedJob(Guid Id, string Kind, JsonElement Request);
