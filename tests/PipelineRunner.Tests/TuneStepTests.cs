using System.Text.Json.Nodes;
using Mlops.PipelineRunner.Features.Definitions;
using Mlops.PipelineRunner.Features.Executions;
using Mlops.PipelineRunner.Features.Steps;
using Mlops.PipelineRunner.Features.Tuning;
using Mlops.Tuning.Configuration;
using Mlops.Tuning.Runner;
using Mlops.Tuning.Strategies;

namespace Mlops.PipelineRunner.Tests;

/// <summary>The <c>tune</c> step's definition checks and request, and how the service reads a tuning job's record.</summary>
public sealed class TuneStepTests
{
    private const string Tune = """
        parameters: {train: {type: string}}
        steps:
          tune:
            type: tune
            inputs:
              train: ${params.train}
              validation: s3://bucket/validation
              algorithm: lightgbm
              static_hyperparameters: {label: label, num_iterations: 20}
              config:
                Strategy: Bayesian
                HyperParameterTuningJobObjective: {Type: Maximize, MetricName: "validation:auc"}
                ResourceLimits: {MaxNumberOfTrainingJobs: 4, MaxParallelTrainingJobs: 2}
                ParameterRanges:
                  ContinuousParameterRanges: [{Name: learning_rate, MinValue: 0.01, MaxValue: 0.3, ScalingType: Logarithmic}]
                  IntegerParameterRanges: [{Name: num_leaves, MinValue: 2, MaxValue: 16}]
                RandomSeed: 3
          register:
            type: register_model
            inputs: {model_name: m, run_id: "${steps.tune.outputs.run_id}", model_uri: "${steps.tune.outputs.model_uri}"}
        """;

    [Fact]
    public void A_tune_step_whose_outputs_feed_register_model_is_valid()
    {
        var (definition, problems) = DefinitionParser.Parse(Tune, json: false);
        Assert.Empty(problems);
        Assert.Equal("tune", definition!.Step("tune")!.Type);
    }

    [Fact]
    public void A_literal_tuning_config_is_checked_on_upsert_naming_each_problem_under_the_step()
    {
        var yaml = Tune.Replace("MinValue: 0.01, MaxValue: 0.3", "MinValue: 0.3, MaxValue: 0.01")
            .Replace("MetricName: \"validation:auc\"", "MetricName: \"validation:nope\"")
            .Replace("MaxParallelTrainingJobs: 2", "MaxParallelTrainingJobs: 9")
            .Replace("{Name: num_leaves", "{Name: num_iterations");
        var problems = DefinitionParser.Parse(yaml, json: false).Problems;
        var text = string.Join("\n", problems.Select(p => $"{p.Path}: {p.Message}"));
        Assert.Contains(problems, p => p.Path.StartsWith("$.steps.tune.inputs.config.ParameterRanges.ContinuousParameterRanges[0]"));
        Assert.Contains(problems, p => p.Path == "$.steps.tune.inputs.config.HyperParameterTuningJobObjective.MetricName" && p.Message.Contains("validation:nope"));
        Assert.Contains(problems, p => p.Path == "$.steps.tune.inputs.config.ResourceLimits.MaxParallelTrainingJobs");
        Assert.True(problems.Any(p => p.Message.Contains("num_iterations")), text);
    }

    [Fact]
    public void The_steps_request_binds_YAML_numbers_as_SageMakers_strings_and_names_the_job_within_32_characters()
    {
        var definition = DefinitionParser.Parse(Tune, json: false).Definition!;
        var step = definition.Step("tune")!;
        var inputs = (JsonObject)step.Inputs.DeepClone();
        inputs["train"] = "s3://bucket/train";
        var execution = Guid.NewGuid();
        var name = TuneHandler.JobName("a-very-long-step-name-indeed", execution, -1, 12);
        Assert.InRange(name.Length, 1, 32);
        Assert.Equal(name, TuneHandler.JobName("a-very-long-step-name-indeed", execution, -1, 12));
        Assert.NotEqual(name, TuneHandler.JobName("a-very-long-step-name-indeed", execution, -1, 13));

        var request = TuneHandler.Request(new StepContext(execution, "p", "tune", -1, 1, step, inputs), name);
        var range = request.HyperParameterTuningJobConfig!.ParameterRanges!.ContinuousParameterRanges![0];
        Assert.Equal(("0.01", "0.3"), (range.MinValue, range.MaxValue));
        Assert.Equal("lightgbm", request.TrainingJobDefinition!.StaticHyperParameters!["algorithm"]);
        Assert.Equal("20", request.TrainingJobDefinition.StaticHyperParameters["num_iterations"]);
        Assert.Equal("s3://bucket/train", request.TrainingJobDefinition.InputDataConfig![0].DataSource!.S3DataSource!.S3Uri);
        Assert.Contains(request.Tags!, t => t.Key == "mlops.pipeline.execution_id" && t.Value == execution.ToString());
        Assert.Empty(TuningJobValidation.Validate(request.ToDefinition(), TuningJobs.MetricNames));
    }

    [Fact]
    public void Hyperband_trials_not_promoted_to_the_next_rung_count_as_stopped_early_and_the_record_round_trips()
    {
        TrialRecord Trial(int index, int rung, int config, int resource, TrialStatus status = TrialStatus.Completed) => new()
        {
            Index = index, TrainingJobName = $"hb-{index:D3}", HyperParameters = new Dictionary<string, string> { ["num_iterations"] = $"{resource}" },
            Status = status, ObjectiveValue = 0.6 + index / 100.0, Hyperband = new HyperbandSlot(0, rung, config, resource), EndOrder = status == TrialStatus.Completed ? index : null,
        };
        var state = new TuningJobState
        {
            Definition = new TuningJobDefinition
            {
                HyperParameterTuningJobName = "hb",
                HyperParameterTuningJobConfig = new() { Strategy = "Hyperband", HyperParameterTuningJobObjective = new() { Type = "Maximize", MetricName = "validation:auc" } },
            },
            Seed = 1, MaxNumberOfTrainingJobs = 4,
            Trials = [Trial(0, 0, 0, 10), Trial(1, 0, 1, 10), Trial(2, 0, 2, 10), Trial(3, 1, 2, 30, TrialStatus.InProgress)],
        };
        var record = new TuningJobRecord { Request = new CreateTuningJobRequest { HyperParameterTuningJobName = "hb" }, State = state };
        var view = TuningViews.Describe(TuningJobRecord.FromJson(record.ToJson()));
        Assert.Equal([true, true, false, false], view.TrainingJobs.Select(t => t.StoppedEarly));
        Assert.Equal("not promoted by Hyperband", view.TrainingJobs[0].EarlyStoppingReason);
        Assert.Equal(60, view.IterationsRun);
        Assert.Equal(1, view.TrainingJobStatusCounters.InProgress);
        Assert.Equal([0.6, 0.61, 0.62], view.BestSoFar);
    }
}
