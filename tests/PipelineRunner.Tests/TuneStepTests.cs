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
    public void Hyperband_trials_stopped_at_a_rung_are_stopped_early_with_the_iterations_they_ran_and_the_record_round_trips()
    {
        TrialRecord Trial(int index, TrialStatus status, bool stoppedEarly = false, int? lastIteration = null) => new()
        {
            Index = index, TrainingJobName = $"hb-{index:D3}", HyperParameters = new Dictionary<string, string> { ["num_iterations"] = "450" },
            Status = status, ObjectiveValue = 0.6 + index / 100.0, Hyperband = new HyperbandSlot(0, stoppedEarly ? 0 : 1, index, 450),
            StoppedEarly = stoppedEarly, LastIteration = lastIteration, RungValues = stoppedEarly ? [0.55] : [0.6],
            EndOrder = status == TrialStatus.InProgress ? null : index,
        };
        var state = new TuningJobState
        {
            Definition = new TuningJobDefinition
            {
                HyperParameterTuningJobName = "hb",
                HyperParameterTuningJobConfig = new() { Strategy = "Hyperband", HyperParameterTuningJobObjective = new() { Type = "Maximize", MetricName = "validation:auc" } },
            },
            Seed = 1, MaxNumberOfTrainingJobs = 4,
            Trials =
            [
                Trial(0, TrialStatus.Completed, lastIteration: 450), Trial(1, TrialStatus.Stopped, stoppedEarly: true, lastIteration: 50),
                Trial(2, TrialStatus.Stopped, stoppedEarly: true, lastIteration: 100), Trial(3, TrialStatus.InProgress, lastIteration: 200),
            ],
        };
        var record = new TuningJobRecord { Request = new CreateTuningJobRequest { HyperParameterTuningJobName = "hb" }, State = state };
        var view = TuningViews.Describe(TuningJobRecord.FromJson(record.ToJson()));
        Assert.Equal([false, true, true, false], view.TrainingJobs.Select(t => t.StoppedEarly));
        Assert.Equal([null, "Hyperband rung", "Hyperband rung", null], view.TrainingJobs.Select(t => t.EarlyStoppingReason));
        Assert.Equal(450 + 50 + 100 + 200, view.IterationsRun);
        Assert.Equal(1, view.TrainingJobStatusCounters.InProgress);
        Assert.Equal([0.6, 0.6, 0.6], view.BestSoFar); // stopped trials are never the best
    }
}
