namespace Mlops.PipelineRunner.Features.Definitions;

/// <summary>What a step type takes and gives: input names with their types (required or not) and output names with types.</summary>
public sealed record StepType(string Name, bool Available, IReadOnlyDictionary<string, (ValueType Type, bool Required)> Inputs,
    IReadOnlyDictionary<string, ValueType> Outputs, string? UnavailableReason = null, bool OpenOutputs = false);

/// <summary>The step types the runner knows. Types whose service has not landed are known but refused with the reason.</summary>
public static class StepTypes
{
    private static (ValueType, bool) Req(ValueType t) => (t, true);
    private static (ValueType, bool) Opt(ValueType t) => (t, false);

    public static readonly IReadOnlyDictionary<string, StepType> All = new StepType[]
    {
        new("noop", true, new Dictionary<string, (ValueType, bool)>(), new Dictionary<string, ValueType>(), OpenOutputs: true),
        new("fail", true, new Dictionary<string, (ValueType, bool)> { ["message"] = Req(ValueType.String) },
            new Dictionary<string, ValueType>()),
        new("condition", true, new Dictionary<string, (ValueType, bool)> { ["expression"] = Req(ValueType.String) },
            new Dictionary<string, ValueType> { ["result"] = ValueType.Bool }),
        new("training_set", true, new Dictionary<string, (ValueType, bool)>
            {
                ["features"] = Req(ValueType.List), ["entity_rows"] = Opt(ValueType.List), ["entity_source"] = Opt(ValueType.String),
                ["timestamp_column"] = Opt(ValueType.String),
            },
            new Dictionary<string, ValueType>
            {
                ["snapshot_id"] = ValueType.String, ["data_uri"] = ValueType.String, ["manifest_uri"] = ValueType.String,
                ["content_hash"] = ValueType.String, ["row_count"] = ValueType.Number, ["group_versions"] = ValueType.Map,
            }),
        new("train", true, new Dictionary<string, (ValueType, bool)>
            {
                ["train"] = Req(ValueType.String), ["validation"] = Req(ValueType.String), ["algorithm"] = Req(ValueType.String),
                ["hyperparameters"] = Opt(ValueType.Map), ["experiment"] = Opt(ValueType.String), ["snapshot_id"] = Opt(ValueType.String),
                ["validation_snapshot_id"] = Opt(ValueType.String), ["max_runtime_seconds"] = Opt(ValueType.Number),
            },
            new Dictionary<string, ValueType>
            {
                ["job_name"] = ValueType.String, ["model_uri"] = ValueType.String, ["artifact_uri"] = ValueType.String, ["run_id"] = ValueType.String, ["metrics"] = ValueType.Map,
                ["experiment_id"] = ValueType.String, ["training_seconds"] = ValueType.Number,
            }),
        new("evaluate", true, new Dictionary<string, (ValueType, bool)>
            {
                ["metrics"] = Req(ValueType.Map), ["gates"] = Req(ValueType.List), ["fail_if_not_passed"] = Opt(ValueType.Bool),
            },
            new Dictionary<string, ValueType> { ["passed"] = ValueType.Bool, ["reasons"] = ValueType.List, ["notes"] = ValueType.List, ["baselines"] = ValueType.List }),
        new("register_model", true, new Dictionary<string, (ValueType, bool)>
            {
                ["model_name"] = Req(ValueType.String), ["run_id"] = Req(ValueType.String), ["model_uri"] = Req(ValueType.String),
                ["alias"] = Opt(ValueType.String), ["tags"] = Opt(ValueType.Map), ["description"] = Opt(ValueType.String),
            },
            new Dictionary<string, ValueType> { ["model_name"] = ValueType.String, ["version"] = ValueType.String, ["source"] = ValueType.String }),
        new("approval", true, new Dictionary<string, (ValueType, bool)>
            {
                ["message"] = Opt(ValueType.String), ["timeout_seconds"] = Opt(ValueType.Number),
            },
            new Dictionary<string, ValueType> { ["approved_by"] = ValueType.String, ["comment"] = ValueType.String, ["approved_at"] = ValueType.String }),
        new("transform", true, new Dictionary<string, (ValueType, bool)>
            {
                ["sql"] = Req(ValueType.String), ["tables"] = Opt(ValueType.Map), ["output_key"] = Req(ValueType.String),
            },
            new Dictionary<string, ValueType> { ["object_key"] = ValueType.String, ["uri"] = ValueType.String, ["row_count"] = ValueType.Number }),
        new("ingest", true, new Dictionary<string, (ValueType, bool)>
            {
                ["feature_group"] = Req(ValueType.String), ["object_key"] = Req(ValueType.String), ["format"] = Opt(ValueType.String),
            },
            new Dictionary<string, ValueType>
            {
                ["job_id"] = ValueType.String, ["rows"] = ValueType.Number, ["batch_id"] = ValueType.Number, ["group_version"] = ValueType.Number,
            }),
        new("deploy", true, new Dictionary<string, (ValueType, bool)>
            {
                ["endpoint"] = Req(ValueType.String), ["model_name"] = Req(ValueType.String), ["model_version"] = Opt(ValueType.String),
                ["alias"] = Opt(ValueType.String), ["variant"] = Opt(ValueType.String), ["strategy"] = Opt(ValueType.Map),
                ["sampling_percentage"] = Opt(ValueType.Number), ["timeout_seconds"] = Opt(ValueType.Number),
            },
            new Dictionary<string, ValueType>
            {
                ["endpoint"] = ValueType.String, ["config_version"] = ValueType.Number, ["model_version"] = ValueType.String,
                ["deployment_id"] = ValueType.String, ["state"] = ValueType.String,
            }),
        new("quality_check", true, new Dictionary<string, (ValueType, bool)>
            {
                ["baseline"] = Req(ValueType.String), ["baseline_version"] = Opt(ValueType.Number), ["dataset_uri"] = Opt(ValueType.String),
                ["format"] = Opt(ValueType.String), ["endpoint"] = Opt(ValueType.String), ["variant"] = Opt(ValueType.String),
                ["window_seconds"] = Opt(ValueType.Number), ["drift"] = Opt(ValueType.Map), ["fail_on_violations"] = Opt(ValueType.Bool),
            },
            new Dictionary<string, ValueType>
            {
                ["run_id"] = ValueType.String, ["result"] = ValueType.String, ["passed"] = ValueType.Bool, ["violation_count"] = ValueType.Number,
                ["violations"] = ValueType.List, ["item_count"] = ValueType.Number, ["dataset_drift"] = ValueType.Bool, ["report_uri"] = ValueType.String,
            }),
        new("tune", true, new Dictionary<string, (ValueType, bool)>
            {
                ["train"] = Req(ValueType.String), ["validation"] = Req(ValueType.String), ["config"] = Req(ValueType.Map),
                ["algorithm"] = Opt(ValueType.String), ["static_hyperparameters"] = Opt(ValueType.Map), ["warm_start"] = Opt(ValueType.Map),
                ["experiment"] = Opt(ValueType.String), ["snapshot_id"] = Opt(ValueType.String), ["validation_snapshot_id"] = Opt(ValueType.String),
                ["max_runtime_seconds"] = Opt(ValueType.Number),
            },
            new Dictionary<string, ValueType>
            {
                ["tuning_job_name"] = ValueType.String, ["job_name"] = ValueType.String, ["model_uri"] = ValueType.String,
                ["artifact_uri"] = ValueType.String, ["run_id"] = ValueType.String, ["parent_run_id"] = ValueType.String,
                ["experiment_id"] = ValueType.String, ["metrics"] = ValueType.Map, ["objective_value"] = ValueType.Number,
                ["hyperparameters"] = ValueType.Map, ["trials"] = ValueType.Number, ["trials_stopped_early"] = ValueType.Number,
            }),
    }.ToDictionary(t => t.Name);
}
