using System.Globalization;
using System.Text.Json.Nodes;

namespace Mlops.Samples.FlightsLoop;

/// <summary>What the loop puts on the platform: the feature group, the pipeline, its trigger, the monitoring schedule and alarms.</summary>
public static class LoopDefinitions
{
    public static JsonObject FeatureGroup(LoopSettings s) => new()
    {
        ["name"] = s.Group,
        ["description"] = "Flights by origin airport (vega-datasets flights-3m), fed month by month by the continuous-training sample",
        ["owner"] = "samples/FlightsLoop",
        ["tags"] = new JsonArray("sample", "flights"),
        ["entity_keys"] = new JsonArray(new JsonObject { ["name"] = "origin", ["type"] = "string" }),
        ["event_time"] = "date",
        ["features"] = new JsonArray(
            new JsonObject { ["name"] = "distance", ["type"] = "int64", ["constraints"] = new JsonObject { ["min"] = 0 } },
            new JsonObject { ["name"] = "destination", ["type"] = "string", ["constraints"] = new JsonObject { ["pattern"] = "^[A-Z]{3}$" } },
            new JsonObject { ["name"] = "hour", ["type"] = "int64", ["constraints"] = new JsonObject { ["min"] = 0, ["max"] = 23 } },
            new JsonObject { ["name"] = "month", ["type"] = "int64", ["constraints"] = new JsonObject { ["min"] = 1, ["max"] = 12 } }),
    };

    /// <summary>
    /// training set (everything labelled so far but the latest 20 %, which validates) → train as a training job (retried
    /// when the training service is at its concurrent-job limit) → gates
    /// (a floor, and not worse than the champion by more than 0.05 AUC: the validation months differ between versions) →
    /// register → deploy as a canary that promotes the champion alias when it has baked.
    /// </summary>
    /// <summary>
    /// The data steps and the gate retry a service that answered 5xx, throttled or could not be reached (a database or
    /// service restarting under the loop): each repeat does the same work again (the same output key, another snapshot of
    /// the same rows, the same read), so nothing is done twice that matters. The train, register and deploy steps start
    /// things (a job, a version, a rollout) and do not retry blindly.
    /// </summary>
    private const string ServiceFaultRetry = "retry: {exception_type: [Step.SERVICE_FAULT, Step.THROTTLING], interval_seconds: 5, backoff_rate: 2, max_attempts: 5}";

    public static string Pipeline(LoopSettings s) => string.Create(CultureInfo.InvariantCulture, $$"""
        description: flights delay, retrained on every flight labelled so far (samples/FlightsLoop)
        parameters:
          group: {type: string}
          features: {type: list}
          model: {type: string}
          endpoint: {type: string}
          labels: {type: string}
          variant: {type: string, default: {{LoopSettings.ChallengerVariant}}}
          corrupt_labels: {type: bool, default: false}
          reason: {type: string, default: started by hand}
        steps:
          train_rows:
            type: transform
            inputs:
              tables: {labels: "${params.labels}"}
              sql: >-
                SELECT origin, event_timestamp, CASE WHEN ${params.corrupt_labels} THEN 1 - label ELSE label END AS label
                FROM (SELECT *, percent_rank() OVER (ORDER BY event_timestamp) AS p FROM labels) WHERE p < 0.8
              output_key: "loop/${params.model}/${execution.id}/train.parquet"
            {{ServiceFaultRetry}}
          validation_rows:
            type: transform
            inputs:
              tables: {labels: "${params.labels}"}
              sql: >-
                SELECT origin, event_timestamp, CASE WHEN ${params.corrupt_labels} THEN 1 - label ELSE label END AS label
                FROM (SELECT *, percent_rank() OVER (ORDER BY event_timestamp) AS p FROM labels) WHERE p >= 0.8
              output_key: "loop/${params.model}/${execution.id}/validation.parquet"
            {{ServiceFaultRetry}}
          train_set:
            type: training_set
            inputs: {features: "${params.features}", entity_source: "${steps.train_rows.outputs.object_key}"}
            {{ServiceFaultRetry}}
          validation_set:
            type: training_set
            inputs: {features: "${params.features}", entity_source: "${steps.validation_rows.outputs.object_key}"}
            {{ServiceFaultRetry}}
          train:
            type: train
            inputs:
              train: ${steps.train_set.outputs.data_uri}
              validation: ${steps.validation_set.outputs.data_uri}
              snapshot_id: ${steps.train_set.outputs.snapshot_id}
              validation_snapshot_id: ${steps.validation_set.outputs.snapshot_id}
              algorithm: lightgbm
              experiment: ${params.model}
              hyperparameters: {label: label, num_iterations: {{s.NumIterations}}, importance_rows: 0, diagnostics_rows: 200}
              max_runtime_seconds: 600
            # A create refused at the job limit (tuning jobs and other pipelines share the slots) or throttled started
            # nothing; a job whose training host was lost (the training service restarted) is dead: either way the step
            # trains again as a new job, as SageMaker Pipelines' RetryPolicy does for these kinds. A service fault is
            # not retried here: a create that may have started a job must not start a second one.
            retry: {exception_type: [SageMaker.RESOURCE_LIMIT, SageMaker.CAPACITY_ERROR, SageMaker.JOB_INTERNAL_ERROR, Step.THROTTLING], interval_seconds: 5, backoff_rate: 2, max_attempts: 5}
          gate:
            type: evaluate
            inputs:
              metrics: ${steps.train.outputs.metrics}
              fail_if_not_passed: true
              gates:
                - {metric: "validation:auc", op: ">=", threshold: 0.55}
                - {metric: "validation:auc", better_than: {model: "${params.model}", alias: {{LoopSettings.Champion}}}, by: -0.05}
            {{ServiceFaultRetry}}
          register:
            type: register_model
            depends_on: [gate]
            inputs:
              model_name: ${params.model}
              run_id: ${steps.train.outputs.run_id}
              model_uri: ${steps.train.outputs.artifact_uri}
              tags: {mlops.loop.reason: "${params.reason}"}
          deploy:
            type: deploy
            inputs:
              endpoint: ${params.endpoint}
              model_name: ${params.model}
              model_version: ${steps.register.outputs.version}
              variant: ${params.variant}
              sampling_percentage: 100
              strategy: {type: canary, canary_percent: {{s.CanaryPercent}}, wait_seconds: {{s.CanaryWaitSeconds}}, baking_seconds: {{s.BakingSeconds}}, promote_alias: {{LoopSettings.Champion}}}
              timeout_seconds: 600
        """);

    public static JsonObject Parameters(LoopSettings s, bool corrupt, string variant, string reason) => new()
    {
        ["group"] = s.Group,
        ["features"] = new JsonArray([.. s.Features.Select(f => (JsonNode)f)]),
        ["model"] = s.Model,
        ["endpoint"] = s.Endpoint,
        ["labels"] = s.LabelsKey,
        ["variant"] = variant,
        ["corrupt_labels"] = corrupt,
        ["reason"] = reason,
    };

    /// <summary>The drift alarm starts the pipeline (a few seconds' debounce lets the alarming window's labels land).</summary>
    public static JsonObject Trigger(LoopSettings s) => new()
    {
        ["name"] = LoopSettings.Trigger,
        ["event"] = "monitor_alarm_raised",
        ["filter"] = new JsonObject { ["alarm_name"] = s.DriftAlarm },
        ["parameters"] = Parameters(s, s.CorruptLabels, LoopSettings.ChallengerVariant, "alarm ${event.alarm_name} (state change ${event.state_change_id}): ${event.reason}"),
        ["debounce_seconds"] = 3,
    };

    /// <summary>The baseline's columns: the model's features as the snapshot names them (the month is what time moves).</summary>
    public static JsonArray BaselineColumns(LoopSettings s) => new(
        new JsonObject { ["name"] = $"{s.Group}__distance", ["kind"] = "numerical" },
        new JsonObject { ["name"] = $"{s.Group}__hour", ["kind"] = "numerical" },
        new JsonObject { ["name"] = $"{s.Group}__month", ["kind"] = "numerical" },
        new JsonObject { ["name"] = $"{s.Group}__destination", ["kind"] = "categorical" });

    /// <summary>Drift: the month the model sees has drifted in two runs of two (seasonality the model has not seen).</summary>
    public static JsonObject DriftAlarm(LoopSettings s) => new()
    {
        ["metric"] = $"feature.{s.Group}__month.drifted", ["endpoint"] = s.Endpoint, ["threshold"] = 1,
        ["comparison_operator"] = "GreaterThanOrEqualToThreshold", ["evaluation_periods"] = 2, ["datapoints_to_alarm"] = 2,
    };

    /// <summary>
    /// Decay: the challenger's AUC on live ground truth below a coin flip in two of the endpoint's last six runs (about 12 s:
    /// the drift schedule's runs, which have no quality metric, count as missing among them, so two breaching quality runs).
    /// Not one: the first quality run after the canary starts judges the few dozen challenger rows labelled by then, where a
    /// model of AUC ~0.6 scores below 0.5 by chance often enough to roll a good version back (more so on a loaded machine,
    /// whose replay sends less); a worse model breaches in every run and is still rolled back well within the canary.
    /// </summary>
    public static JsonObject QualityAlarm(LoopSettings s) => new()
    {
        ["metric"] = $"variant.{LoopSettings.ChallengerVariant}.quality.auc", ["endpoint"] = s.Endpoint, ["threshold"] = 0.5,
        ["comparison_operator"] = "LessThanThreshold", ["evaluation_periods"] = 6, ["datapoints_to_alarm"] = 2,
    };
}
