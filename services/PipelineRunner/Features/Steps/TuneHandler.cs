using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mlops.PipelineRunner.Features.Definitions;
using Mlops.PipelineRunner.Features.Executions;
using Mlops.PipelineRunner.Features.Tuning;
using Mlops.Tuning.Configuration;
using Mlops.Tuning.Runner;

namespace Mlops.PipelineRunner.Features.Steps;

/// <summary>
/// <c>tune</c>: a hyperparameter tuning job (Features/Tuning) whose trials are trainer jobs on the step's channels; the step
/// succeeds with the best trial (its training job, model, run and metrics), so <c>evaluate</c> and <c>register_model</c>
/// follow as they follow <c>train</c>. The job's name is a function of the execution, step, item and attempt: a runner that
/// takes the step over finds the job and waits for it. The tuning worker runs the job, not the step.
/// </summary>
public sealed class TuneHandler(TuningJobs jobs, TuningStore store, ILogger<TuneHandler> logger) : IStepHandler
{
    private static readonly TimeSpan Poll = TimeSpan.FromSeconds(1);
    public string Type => "tune";

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken ct)
    {
        StepInputRules.EnsureValid(Type, context.Inputs, context.Step);
        var name = JobName(context.Step, context.ExecutionId, context.Item, context.Attempt);
        await context.RecordExternalIdAsync(name, ct);
        if (await store.GetAsync(name, ct) is null)
        {
            try
            {
                await jobs.CreateAsync(Request(context, name), ct);
                logger.LogInformation("Started tuning job {Job} for step {Step} of execution {Execution}", name, context.Step, context.ExecutionId);
            }
            catch (ProblemException e) when (e.Status == StatusCodes.Status409Conflict)
            {
                // Created by an earlier claim of this attempt: the same job.
            }
            catch (ProblemException e) when (e.Status == StatusCodes.Status400BadRequest)
            {
                var problems = e.Extensions?["problems"] is IEnumerable<Dictionary<string, string>> list
                    ? string.Join(" ", list.Select(p => $"{p["path"]}: {p["message"]}")) : e.Message;
                return new StepFailed(FailureKinds.StepFailed, $"Invalid tuning job: {problems}");
            }
        }
        while (true)
        {
            var record = await store.GetAsync(name, ct) ?? throw new StepException(FailureKinds.ServiceFault, $"Tuning job {name} disappeared.");
            var status = TuningViews.Status(record);
            if (status is "Completed" or "Stopped" or "Failed")
                return Result(record, name, status);
            await Task.Delay(Poll, ct);
        }
    }

    /// <summary>Stopping the step stops its tuning job (running trials are stopped; the job ends Stopped).</summary>
    public Task CancelAsync(StepContext context, CancellationToken ct) =>
        store.RequestStopAsync(JobName(context.Step, context.ExecutionId, context.Item, context.Attempt), ct);

    private static StepResult Result(TuningJobRecord record, string name, string status)
    {
        var state = record.State;
        if (status != "Completed")
            return new StepFailed(FailureKinds.StepFailed, $"Tuning job {name} {status}: {record.FailureReason ?? state.CompletionReason}");
        if (state.BestTrial is not { } best || record.BestModelUri is null)
            return new StepFailed(FailureKinds.StepFailed,
                $"Tuning job {name} completed ({state.CompletionReason}) without a successful trial: {string.Join("; ", state.Trials.Select(t => $"{t.TrainingJobName} {t.Status} {t.FailureReason}"))}");
        var metrics = new JsonObject();
        foreach (var (k, v) in record.BestFinalMetrics ?? [])
            metrics[k] = v;
        var hyperParameters = new JsonObject();
        foreach (var (k, v) in best.HyperParameters)
            hyperParameters[k] = v;
        return new StepSucceeded(new JsonObject
        {
            ["tuning_job_name"] = name,
            ["job_name"] = best.TrainingJobName,
            ["model_uri"] = record.BestModelUri,
            ["artifact_uri"] = record.BestArtifactUri,
            ["run_id"] = record.Runs[best.TrainingJobName],
            ["parent_run_id"] = record.ParentRunId,
            ["experiment_id"] = record.ExperimentId,
            ["metrics"] = metrics,
            ["objective_value"] = best.ObjectiveValue,
            ["hyperparameters"] = hyperParameters,
            ["trials"] = state.Trials.Count,
            ["trials_stopped_early"] = state.Trials.Count(t => t.StoppedEarly),
        });
    }

    /// <summary>The step's inputs as a CreateHyperParameterTuningJob request.</summary>
    public static CreateTuningJobRequest Request(StepContext context, string name)
    {
        var inputs = context.Inputs;
        var statics = TrainHandler.HyperParameters(new JsonObject { ["hyperparameters"] = inputs["static_hyperparameters"]?.DeepClone() });
        if (StepInputRules.Str(inputs["algorithm"]) is { } algorithm)
            statics["algorithm"] = algorithm;
        var channels = new List<TuningChannel> { Channel("train", inputs["train"]!.ToString()), Channel("validation", inputs["validation"]!.ToString()) };
        return new CreateTuningJobRequest
        {
            HyperParameterTuningJobName = name,
            HyperParameterTuningJobConfig = Bind<HyperParameterTuningJobConfig>(inputs["config"], "config"),
            WarmStartConfig = inputs["warm_start"] is JsonObject warm ? Bind<WarmStartConfig>(warm, "warm_start") : null,
            TrainingJobDefinition = new TuningTrainingJobDefinition
            {
                StaticHyperParameters = statics,
                InputDataConfig = channels,
                StoppingCondition = inputs["max_runtime_seconds"] is JsonValue m ? new() { MaxRuntimeInSeconds = (int)Expressions.AsNumber(m) } : null,
                TrainingSnapshotId = StepInputRules.Str(inputs["snapshot_id"]),
                ValidationSnapshotId = StepInputRules.Str(inputs["validation_snapshot_id"]),
            },
            Experiment = StepInputRules.Str(inputs["experiment"]) ?? context.Pipeline,
            Tags =
            [
                new(TrainHandler.ExecutionTag, context.ExecutionId.ToString()), new("mlops.pipeline.name", context.Pipeline),
                new("mlops.pipeline.step", context.Step),
            ],
        };
    }

    /// <summary>
    /// A SageMaker-shaped map from the definition (YAML gives numbers where SageMaker has strings: MinValue, MaxValue,
    /// categorical Values) bound to its record; a shape that does not bind fails the step naming the input.
    /// </summary>
    public static T Bind<T>(JsonNode? node, string input)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(Stringify(node?.DeepClone()), TuningJson.Options)
                ?? throw new StepException(FailureKinds.StepFailed, $"Invalid inputs: '{input}' is empty.");
        }
        catch (JsonException e)
        {
            throw new StepException(FailureKinds.StepFailed, $"Invalid inputs: '{input}' is not SageMaker's shape: {e.Message}");
        }
    }

    private static readonly HashSet<string> StringFields = ["MinValue", "MaxValue", "Values"];

    private static JsonNode? Stringify(JsonNode? node, bool asString = false)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var key in o.Select(p => p.Key).ToList())
                    if (Stringify(o[key], StringFields.Contains(key)) is var changed && !ReferenceEquals(changed, o[key]))
                        o[key] = changed;
                return o;
            case JsonArray a:
                for (var i = 0; i < a.Count; i++)
                    if (Stringify(a[i], asString) is var changed && !ReferenceEquals(changed, a[i]))
                        a[i] = changed;
                return a;
            case JsonValue v when asString && v.GetValueKind() is JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False:
                return v.GetValueKind() == JsonValueKind.Number
                    ? JsonValue.Create(Expressions.AsNumber(v).ToString(System.Globalization.CultureInfo.InvariantCulture))
                    : JsonValue.Create(v.GetValue<bool>() ? "true" : "false");
            default:
                return node;
        }
    }

    private static TuningChannel Channel(string name, string uri) => new() { ChannelName = name, DataSource = new() { S3DataSource = new() { S3Uri = uri } } };

    /// <summary>1–32 letters, digits and hyphens (SageMaker's limit; trials add 13): the step, 12 hex of the execution/step/item, the attempt.</summary>
    public static string JobName(string step, Guid executionId, int item, int attempt)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{executionId:N}/{step}/{item}")))[..12];
        var prefix = new StringBuilder();
        foreach (var c in step.Where(char.IsAsciiLetterOrDigit).Take(10))
            prefix.Append(char.ToLowerInvariant(c));
        var suffix = $"{hash}-a{attempt}";
        return prefix.Length == 0 ? $"tune-{suffix}" : $"{prefix}-{suffix}";
    }
}
