using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mlops.ExperimentTracker.Client;
using Mlops.PipelineRunner.Features.Definitions;
using Mlops.PipelineRunner.Features.Executions;
using Mlops.SageMaker;
using Mlops.ServiceDefaults.Storage;

namespace Mlops.PipelineRunner.Features.Steps;

/// <summary>
/// <c>train</c>: a SageMaker training job of the platform's trainer (<see cref="ITrainingJobs"/>), tracked as a run in the
/// ExperimentTracker. The job's name is a function of the execution, step, item and attempt, so a runner that takes the
/// step over after another died finds the job (DescribeTrainingJob) and waits for it instead of starting a second one;
/// the run is found again the same way, by the job name in its tags.
/// </summary>
public sealed class TrainHandler(IServiceProvider services, ILogger<TrainHandler> logger) : IStepHandler
{
    public const string ExecutionTag = "mlops.pipeline.execution_id";
    public const string JobTag = "mlops.training_job";
    public string Type => "train";

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken ct)
    {
        StepInputRules.EnsureValid(Type, context.Inputs, context.Step);
        var inputs = context.Inputs;
        var name = JobName(context.Pipeline, context.Step, context.ExecutionId, context.Item, context.Attempt);
        var jobs = services.GetRequiredService<ITrainingJobs>();
        var tracker = services.GetRequiredService<TrackingClient>();
        await context.RecordExternalIdAsync(name, ct);

        var hyperParameters = HyperParameters(inputs);
        var algorithm = inputs["algorithm"]!.ToString();
        var run = await FindOrStartRunAsync(tracker, context, name, algorithm, hyperParameters, ct);
        try
        {
            await EnsureJobAsync(jobs, context, name, algorithm, hyperParameters, ct);
            var job = await jobs.WaitAsync(name, ct: ct);
            if (job.TrainingJobStatus != TrainingJobStatus.Completed)
            {
                await tracker.FinishRunAsync(run.Info.RunId, job.TrainingJobStatus == TrainingJobStatus.Stopped ? "KILLED" : "FAILED", ct);
                return new StepFailed(FailureKind(job), $"Training job {name} {job.TrainingJobStatus}: {job.FailureReason ?? job.SecondaryStatus}");
            }

            var metrics = new JsonObject();
            foreach (var m in job.FinalMetricDataList ?? [])
                metrics[m.MetricName] = m.Value;
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            await tracker.LogBatchAsync(run.Info.RunId, (job.FinalMetricDataList ?? []).Where(m => double.IsFinite(m.Value))
                .Select(m => new Metric(TrackerKey(m.MetricName), m.Value, now, 0)), ct: ct);
            await LogSnapshotAsync(tracker, run.Info.RunId, inputs["snapshot_id"], "training", ct);
            await LogSnapshotAsync(tracker, run.Info.RunId, inputs["validation_snapshot_id"], "validation", ct);
            var modelUri = job.ModelArtifacts?.S3ModelArtifacts
                ?? throw new StepException(FailureKinds.JobInternalError, $"Training job {name} completed without model artifacts.");
            await tracker.SetTagAsync(run.Info.RunId, "mlops.model_uri", modelUri, ct);
            var artifactUri = await PublishModelAsync(tracker, run, modelUri, ct);
            await tracker.FinishRunAsync(run.Info.RunId, "FINISHED", ct);
            return new StepSucceeded(new JsonObject
            {
                ["job_name"] = name,
                ["model_uri"] = modelUri,
                ["artifact_uri"] = artifactUri,
                ["run_id"] = run.Info.RunId,
                ["experiment_id"] = run.Info.ExperimentId,
                ["metrics"] = metrics,
                ["training_seconds"] = job.TrainingTimeInSeconds,
            });
        }
        catch (SageMakerException e)
        {
            throw new StepException(FailureKindOf(e), $"SageMaker: {e.ErrorCode}: {e.ErrorMessage}");
        }
    }

    /// <summary>
    /// A SageMaker API error as the kind a retry policy names, as SageMaker Pipelines reports it: a refused create because
    /// the account's jobs are at their limit is <c>SageMaker.RESOURCE_LIMIT</c> (no job was created, so a retry after a
    /// pause starts the one job), throttling <c>Step.THROTTLING</c>, a server fault <c>Step.SERVICE_FAULT</c>.
    /// </summary>
    public static string FailureKindOf(SageMakerException e) => e.ErrorCode switch
    {
        SageMakerErrors.ResourceLimitExceeded => FailureKinds.ResourceLimit,
        SageMakerErrors.ThrottlingException or "ThrottledException" or "RequestLimitExceeded" => FailureKinds.Throttling,
        _ => e.IsRetryable ? FailureKinds.ServiceFault : FailureKinds.StepFailed,
    };

    /// <summary>Stopping the step stops its training job (SageMaker's StopTrainingJob); a job already over is left as it is.</summary>
    public async Task CancelAsync(StepContext context, CancellationToken ct)
    {
        var name = JobName(context.Pipeline, context.Step, context.ExecutionId, context.Item, context.Attempt);
        var jobs = services.GetRequiredService<ITrainingJobs>();
        try
        {
            var job = await jobs.DescribeAsync(name, ct);
            if (!TrainingJobStatus.IsTerminal(job.TrainingJobStatus))
            {
                await jobs.StopAsync(name, ct);
                logger.LogInformation("Stopped training job {Job} of execution {Execution}", name, context.ExecutionId);
            }
        }
        catch (SageMakerException e) when (e.IsNotFound)
        {
        }
        if (await FindRunAsync(services.GetRequiredService<TrackingClient>(), context, name, ct) is { } run && run.Info.Status == "RUNNING")
            await services.GetRequiredService<TrackingClient>().FinishRunAsync(run.Info.RunId, "KILLED", ct);
    }

    /// <summary>
    /// The training job's name: readable (pipeline and step) and unique per execution, step, item and attempt — a retry is a
    /// new job, a runner taking the same attempt over meets the same name. At most 63 letters, digits and hyphens.
    /// </summary>
    public static string JobName(string pipeline, string step, Guid executionId, int item, int attempt)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{executionId:N}/{step}/{item}")))[..12];
        var suffix = $"-{hash}{(item >= 0 ? $"-i{item}" : "")}-a{attempt}";
        var prefix = $"{Sanitize(pipeline)}-{Sanitize(step)}".Trim('-');
        if (prefix.Length > 63 - suffix.Length)
            prefix = prefix[..(63 - suffix.Length)].TrimEnd('-');
        return (prefix.Length == 0 ? "job" + suffix : prefix + suffix).Replace("--", "-");
    }

    private static string Sanitize(string s)
    {
        var sb = new StringBuilder();
        foreach (var c in s)
        {
            var ok = char.IsAsciiLetterOrDigit(c);
            if (ok)
                sb.Append(c);
            else if (sb.Length > 0 && sb[^1] != '-')
                sb.Append('-');
        }
        return sb.ToString().Trim('-');
    }

    /// <summary>SageMaker's hyperparameters are strings: numbers in invariant culture, bools lower case.</summary>
    public static Dictionary<string, string> HyperParameters(JsonObject inputs)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in inputs["hyperparameters"] as JsonObject ?? [])
            result[k] = v switch
            {
                JsonValue n when n.GetValueKind() == JsonValueKind.Number => Expressions.AsNumber(n).ToString(CultureInfo.InvariantCulture),
                JsonValue b when b.GetValueKind() is JsonValueKind.True or JsonValueKind.False => b.GetValue<bool>() ? "true" : "false",
                JsonValue s when s.TryGetValue<string>(out var str) => str,
                _ => v?.ToJsonString() ?? "",
            };
        return result;
    }

    private async Task EnsureJobAsync(ITrainingJobs jobs, StepContext context, string name, string algorithm,
        Dictionary<string, string> hyperParameters, CancellationToken ct)
    {
        try
        {
            var existing = await jobs.DescribeAsync(name, ct);
            logger.LogInformation("Training job {Job} exists ({Status}): attaching to it", name, existing.TrainingJobStatus);
            return;
        }
        catch (SageMakerException e) when (e.IsNotFound)
        {
        }
        var max = context.Inputs["max_runtime_seconds"] is JsonValue m ? (int?)Expressions.AsNumber(m) : null;
        try
        {
            await jobs.StartAsync(new TrainerJobRequest(name, context.Inputs["train"]!.ToString(), context.Inputs["validation"]!.ToString(),
                algorithm, hyperParameters, MaxRuntimeInSeconds: max), ct);
            logger.LogInformation("Started training job {Job} for step {Step} of execution {Execution}", name, context.Step, context.ExecutionId);
        }
        catch (SageMakerException e) when (IsAlreadyExists(e))
        {
            // Another runner (or our own lost answer) created it between the describe and the create: it is the same job.
            logger.LogInformation("Training job {Job} already exists: attaching to it", name);
        }
    }

    public static bool IsAlreadyExists(SageMakerException e) =>
        e.ErrorCode is "ResourceInUse" or "ResourceInUseException"
        || (e.ErrorCode == "ValidationException" && e.ErrorMessage.Contains("already exists", StringComparison.OrdinalIgnoreCase));

    private static async Task<Run?> FindRunAsync(TrackingClient tracker, StepContext context, string jobName, CancellationToken ct)
    {
        var experiment = await tracker.FindExperimentAsync(ExperimentName(context), ct);
        if (experiment is null)
            return null;
        var page = await tracker.SearchRunsAsync([experiment.ExperimentId], $"tags.`{JobTag}` = '{jobName}'", maxResults: 1, ct: ct);
        return page.Runs.FirstOrDefault();
    }

    private static string ExperimentName(StepContext context) => StepInputRules.Str(context.Inputs["experiment"]) ?? context.Pipeline;

    private static async Task<Run> FindOrStartRunAsync(TrackingClient tracker, StepContext context, string jobName, string algorithm,
        Dictionary<string, string> hyperParameters, CancellationToken ct)
    {
        if (await FindRunAsync(tracker, context, jobName, ct) is { } found)
            return found;
        var experimentId = await tracker.GetOrCreateExperimentAsync(ExperimentName(context), ct);
        var run = await tracker.CreateRunAsync(experimentId, jobName, new Dictionary<string, string>
        {
            [ExecutionTag] = context.ExecutionId.ToString(),
            ["mlops.pipeline.name"] = context.Pipeline,
            ["mlops.pipeline.step"] = context.Step,
            [JobTag] = jobName,
        }, ct: ct);
        var parameters = new Dictionary<string, string>(hyperParameters) { ["algorithm"] = algorithm };
        await tracker.LogBatchAsync(run.Info.RunId, parameters: parameters, ct: ct);
        return run;
    }

    /// <summary>
    /// Copies the model package out of the job's model.tar.gz into the run's artifacts under <c>model/</c> (as MLflow's
    /// log_model does), so a version registered from <c>artifact_uri</c> is servable through the tracker's artifact API.
    /// </summary>
    private Task<string> PublishModelAsync(TrackingClient tracker, Run run, string modelUri, CancellationToken ct) =>
        PublishModelAsync(services.GetRequiredService<ObjectStore>(), tracker, run, modelUri, ct);

    /// <summary>The same for any run (the tuning job's best trial): answers the run's <c>model/</c> artifact URI.</summary>
    public static async Task<string> PublishModelAsync(ObjectStore store, TrackingClient tracker, Run run, string modelUri, CancellationToken ct)
    {
        var location = new Uri(modelUri);
        await using var archive = await store.GetAsync(location.Host, location.AbsolutePath.TrimStart('/'), ct);
        await using var gzip = new GZipStream(archive, CompressionMode.Decompress);
        await using var tar = new TarReader(gzip);
        while (await tar.GetNextEntryAsync(copyData: false, ct) is { } entry)
        {
            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null)
                continue;
            var path = entry.Name.Replace('\\', '/').TrimStart('.', '/');
            if (path.Length == 0 || path.Split('/').Any(p => p is "" or "." or ".."))
                continue;
            // Buffered: a retried upload must be able to send the body again.
            var buffer = new MemoryStream();
            await entry.DataStream.CopyToAsync(buffer, ct);
            buffer.Position = 0;
            await tracker.UploadArtifactAsync(run, $"model/{path}", buffer, ct);
        }
        return $"{run.Info.ArtifactUri.TrimEnd('/')}/model";
    }

    /// <summary>Logs a FeatureStore snapshot as the run's dataset input, with the feature-group versions it joined (lineage).</summary>
    private async Task LogSnapshotAsync(TrackingClient tracker, string runId, JsonNode? snapshotId, string datasetContext, CancellationToken ct)
    {
        if (StepInputRules.Str(snapshotId) is not { } id)
            return;
        var manifest = await services.GetRequiredService<FeatureStoreApi>().GetAsync($"api/training-sets/{Uri.EscapeDataString(id)}", ct);
        var groups = (manifest["group_versions"] as JsonObject ?? []).Select(g => (g.Key, (int)Expressions.AsNumber(g.Value!))).ToList();
        await tracker.LogFeatureStoreSnapshotAsync(runId, id, manifest["content_hash"]!.ToString(), groups, datasetContext, ct);
    }

    /// <summary>
    /// A SageMaker metric name as a tracker key: "validation:auc" → "validation/auc" (MLflow keys allow '/', not ':'; the
    /// sample scenario logs the same way). Step outputs keep SageMaker's names.
    /// </summary>
    public static string TrackerKey(string metric) => metric.Replace(':', '/');

    /// <summary>SageMaker's failure reasons as the kinds a retry policy names.</summary>
    public static string FailureKind(DescribeTrainingJobResponse job)
    {
        var reason = job.FailureReason ?? "";
        if (reason.Contains("CapacityError", StringComparison.OrdinalIgnoreCase) || reason.Contains("capacity", StringComparison.OrdinalIgnoreCase))
            return FailureKinds.CapacityError;
        if (reason.Contains("ResourceLimit", StringComparison.OrdinalIgnoreCase))
            return FailureKinds.ResourceLimit;
        if (reason.Contains("InternalServerError", StringComparison.OrdinalIgnoreCase) || reason.Contains("training service", StringComparison.OrdinalIgnoreCase))
            return FailureKinds.JobInternalError;
        return FailureKinds.StepFailed;
    }
}
