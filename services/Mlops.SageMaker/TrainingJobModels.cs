namespace Mlops.SageMaker;

// SageMaker's own shapes, with its field names (PascalCase, as in the API reference); only the subset the platform uses.
// Optional fields are nullable and left out of requests when null; unknown response fields are ignored; timestamps are
// epoch seconds (SageMakerJson).

/// <summary>CreateTrainingJob's request.</summary>
public sealed record CreateTrainingJobRequest
{
    public required string TrainingJobName { get; init; }
    public required AlgorithmSpecification AlgorithmSpecification { get; init; }
    public required string RoleArn { get; init; }
    public IReadOnlyList<Channel>? InputDataConfig { get; init; }
    public required OutputDataConfig OutputDataConfig { get; init; }
    public required ResourceConfig ResourceConfig { get; init; }
    public required StoppingCondition StoppingCondition { get; init; }
    /// <summary>Every value a string, as SageMaker passes them to the program (hyperparameters.json).</summary>
    public IReadOnlyDictionary<string, string>? HyperParameters { get; init; }
    public IReadOnlyDictionary<string, string>? Environment { get; init; }
    public IReadOnlyList<Tag>? Tags { get; init; }
}

public sealed record AlgorithmSpecification
{
    public string? TrainingImage { get; init; }
    /// <summary><c>File</c>, <c>FastFile</c> or <c>Pipe</c>.</summary>
    public required string TrainingInputMode { get; init; }
    public IReadOnlyList<MetricDefinition>? MetricDefinitions { get; init; }
}

/// <summary>A metric scraped from the program's log: the first capture group of <see cref="Regex"/>.</summary>
public sealed record MetricDefinition(string Name, string Regex);

public sealed record Channel
{
    public required string ChannelName { get; init; }
    public required DataSource DataSource { get; init; }
    public string? ContentType { get; init; }
    public string? CompressionType { get; init; }
    public string? InputMode { get; init; }
}

public sealed record DataSource
{
    public S3DataSource? S3DataSource { get; init; }
}

public sealed record S3DataSource
{
    /// <summary><c>S3Prefix</c> (every object under the URI) or <c>ManifestFile</c>.</summary>
    public required string S3DataType { get; init; }
    public required string S3Uri { get; init; }
    /// <summary><c>FullyReplicated</c> or <c>ShardedByS3Key</c>.</summary>
    public string? S3DataDistributionType { get; init; }
}

public sealed record OutputDataConfig
{
    public required string S3OutputPath { get; init; }
    public string? KmsKeyId { get; init; }
}

public sealed record ResourceConfig
{
    public required string InstanceType { get; init; }
    public required int InstanceCount { get; init; }
    public required int VolumeSizeInGB { get; init; }
}

public sealed record StoppingCondition
{
    public int? MaxRuntimeInSeconds { get; init; }
    public int? MaxWaitTimeInSeconds { get; init; }
}

public sealed record Tag(string Key, string Value);

public sealed record CreateTrainingJobResponse(string TrainingJobArn);

public sealed record DescribeTrainingJobRequest(string TrainingJobName);

public sealed record StopTrainingJobRequest(string TrainingJobName);

/// <summary>DescribeTrainingJob's response (the fields the platform reads).</summary>
public sealed record DescribeTrainingJobResponse
{
    public required string TrainingJobName { get; init; }
    public required string TrainingJobArn { get; init; }
    /// <summary>See <see cref="TrainingJobStatus"/>.</summary>
    public required string TrainingJobStatus { get; init; }
    /// <summary>See <see cref="SecondaryStatus"/>.</summary>
    public required string SecondaryStatus { get; init; }
    public string? FailureReason { get; init; }
    public AlgorithmSpecification? AlgorithmSpecification { get; init; }
    public string? RoleArn { get; init; }
    public IReadOnlyList<Channel>? InputDataConfig { get; init; }
    public OutputDataConfig? OutputDataConfig { get; init; }
    public ResourceConfig? ResourceConfig { get; init; }
    public StoppingCondition? StoppingCondition { get; init; }
    public IReadOnlyDictionary<string, string>? HyperParameters { get; init; }
    public ModelArtifacts? ModelArtifacts { get; init; }
    public IReadOnlyList<SecondaryStatusTransition>? SecondaryStatusTransitions { get; init; }
    public IReadOnlyList<MetricData>? FinalMetricDataList { get; init; }
    public DateTimeOffset CreationTime { get; init; }
    public DateTimeOffset? TrainingStartTime { get; init; }
    public DateTimeOffset? TrainingEndTime { get; init; }
    public DateTimeOffset? LastModifiedTime { get; init; }
    public int? TrainingTimeInSeconds { get; init; }
    public int? BillableTimeInSeconds { get; init; }
}

public sealed record ModelArtifacts(string S3ModelArtifacts);

public sealed record SecondaryStatusTransition
{
    public required string Status { get; init; }
    public DateTimeOffset StartTime { get; init; }
    public DateTimeOffset? EndTime { get; init; }
    public string? StatusMessage { get; init; }
}

public sealed record MetricData
{
    public required string MetricName { get; init; }
    public required double Value { get; init; }
    public DateTimeOffset Timestamp { get; init; }
}

/// <summary>
/// One value of a metric's series as the local training service's <c>GET /jobs/{name}/metrics</c> answers it (an extension
/// of ours: SageMaker's DescribeTrainingJob has only each metric's latest value, its series live in CloudWatch). Carries
/// when it was scraped and, when the line said <c>iteration=N</c>, the iteration; <see cref="Replayed"/> when the line
/// said the value was replayed from the trained model after training rather than computed while training.
/// </summary>
public sealed record MetricValue
{
    public required string MetricName { get; init; }
    public required double Value { get; init; }
    public DateTimeOffset Timestamp { get; init; }
    public int? Iteration { get; init; }
    public bool? Replayed { get; init; }
}

public sealed record ListTrainingJobsRequest
{
    public int? MaxResults { get; init; }
    public string? NextToken { get; init; }
    public string? NameContains { get; init; }
    public string? StatusEquals { get; init; }
    /// <summary><c>Name</c>, <c>CreationTime</c> or <c>Status</c>.</summary>
    public string? SortBy { get; init; }
    /// <summary><c>Ascending</c> or <c>Descending</c>.</summary>
    public string? SortOrder { get; init; }
    public DateTimeOffset? CreationTimeAfter { get; init; }
    public DateTimeOffset? CreationTimeBefore { get; init; }
}

public sealed record ListTrainingJobsResponse
{
    public required IReadOnlyList<TrainingJobSummary> TrainingJobSummaries { get; init; }
    public string? NextToken { get; init; }
}

public sealed record TrainingJobSummary
{
    public required string TrainingJobName { get; init; }
    public required string TrainingJobArn { get; init; }
    public required string TrainingJobStatus { get; init; }
    public string? SecondaryStatus { get; init; }
    public DateTimeOffset CreationTime { get; init; }
    public DateTimeOffset? TrainingEndTime { get; init; }
    public DateTimeOffset? LastModifiedTime { get; init; }
}

/// <summary>Values of <c>TrainingJobStatus</c>.</summary>
public static class TrainingJobStatus
{
    public const string InProgress = "InProgress";
    public const string Completed = "Completed";
    public const string Failed = "Failed";
    public const string Stopping = "Stopping";
    public const string Stopped = "Stopped";

    public static bool IsTerminal(string status) => status is Completed or Failed or Stopped;
}

/// <summary>Values of <c>SecondaryStatus</c> (the subset a single-instance local job goes through).</summary>
public static class SecondaryStatus
{
    public const string Starting = "Starting";
    public const string Downloading = "Downloading";
    public const string Training = "Training";
    public const string Uploading = "Uploading";
    public const string Completed = "Completed";
    public const string Failed = "Failed";
    public const string Stopping = "Stopping";
    public const string Stopped = "Stopped";
    public const string MaxRuntimeExceeded = "MaxRuntimeExceeded";
}
