using System.Text.Json.Nodes;
using Mlops.PipelineRunner.Features.Definitions;

namespace Mlops.PipelineRunner.Tests;

public sealed class DefinitionParserTests
{
    internal const string FlightsYaml = """
        description: flights delay model
        parameters:
          algorithm: {type: string, default: lightgbm}
          min_auc: {type: number, default: 0.6}
          origins: {type: list, default: [SFO, LAX]}
        parallelism: 4
        steps:
          snapshot:
            type: training_set
            inputs:
              features: ["flights:delay", "flights:distance"]
              entity_source: entities.parquet
            cache: {expire_after: 7d}
          train:
            type: train
            inputs:
              train: ${steps.snapshot.outputs.data_uri}
              validation: ${steps.snapshot.outputs.data_uri}
              algorithm: ${params.algorithm}
              hyperparameters: {num_leaves: "31"}
            retry:
              - {exception_type: [Step.SERVICE_FAULT, SageMaker.CAPACITY_ERROR], interval_seconds: 2, backoff_rate: 2, max_attempts: 3}
            timeout_seconds: 3600
          gate:
            type: evaluate
            inputs:
              metrics: ${steps.train.outputs.metrics}
              gates:
                - {metric: "validation:auc", op: ">=", threshold: "${params.min_auc}"}
                - {metric: "validation:auc", better_than: {model: flights, alias: champion}, by: 0.01}
          register:
            type: register_model
            when: ${steps.gate.outputs.passed} and not (${params.min_auc} > 0.99)
            inputs:
              model_name: flights
              run_id: ${steps.train.outputs.run_id}
              model_uri: ${steps.train.outputs.model_uri}
              alias: challenger
          per_origin:
            type: noop
            depends_on: [register]
            for_each: ${params.origins}
            parallelism: 1
            inputs: {origin: "${item}"}
        exit_handler:
          type: noop
          inputs: {status: "${execution.status}"}
        """;

    [Fact]
    public void Yaml_ValidPipeline_BindsEverything()
    {
        var (definition, problems) = DefinitionParser.Parse(FlightsYaml, json: false);
        Assert.Empty(problems);
        Assert.NotNull(definition);
        Assert.Equal(new[] { "snapshot", "train", "gate", "register", "per_origin" }, definition.Steps.Select(s => s.Name));
        Assert.Equal(4, definition.Parallelism);
        var train = definition.Step("train")!;
        Assert.Equal(3, train.Retry[0].MaxAttempts);
        Assert.Equal(new[] { FailureKinds.ServiceFault, FailureKinds.CapacityError }, train.Retry[0].ExceptionTypes);
        Assert.Equal(3600, train.TimeoutSeconds);
        Assert.Equal(TimeSpan.FromDays(7), definition.Step("snapshot")!.Cache!.ExpireAfter);
        Assert.Equal(new[] { "snapshot" }, Dag.Upstream(definition, train));
        Assert.Equal(0.6, definition.Parameters.Single(p => p.Name == "min_auc").Default!.GetValue<double>());
        Assert.Equal("noop", definition.ExitHandler!.Type);
    }

    [Fact]
    public void Json_SameDocument_BindsTheSameModel()
    {
        var yaml = DefinitionParser.Parse(FlightsYaml, json: false).Definition!;
        var document = DefinitionParser.ReadDocument(FlightsYaml, json: false, [])!.ToJsonString();
        var (json, problems) = DefinitionParser.Parse(document, json: true);
        Assert.Empty(problems);
        Assert.Equal(yaml.Steps.Select(s => (s.Name, s.Type, s.Inputs.ToJsonString())), json!.Steps.Select(s => (s.Name, s.Type, s.Inputs.ToJsonString())));
    }

    [Fact]
    public void Invalid_ListsEveryProblemWithItsPath()
    {
        const string yaml = """
            parameters:
              n: {type: integer, default: 1.5}
              s: {type: strin}
            steps:
              a:
                type: noop
                depends_on: [c]
              b:
                type: nonsense
              c:
                type: noop
                depends_on: [a]
              d:
                type: fail
                inputs: {message: "${steps.nowhere.outputs.x}"}
              e:
                type: condition
                inputs: {expression: "${params.n} > 'abc'"}
              f:
                type: register_model
                when: ${steps.e.outputs.result} and ${params.n}
                inputs: {model_name: m, run_id: "${steps.e.outputs.missing}", model_uri: x}
              g:
                type: deploy
              h:
                type: tune
              i:
                type: noop
                retry: {exception_type: [Step.BOOM], max_attempts: 50}
                cache: {expire_after: forever}
              j:
                type: train
                inputs: {train: x, bogus: 1}
            """;
        var (definition, problems) = DefinitionParser.Parse(yaml, json: false);
        Assert.Null(definition);
        var paths = problems.Select(p => p.Path).ToList();
        Assert.Contains("$.parameters.n.default", paths);
        Assert.Contains("$.parameters.s.type", paths);
        Assert.Contains("$.steps.b.type", paths);
        Assert.Contains(problems, p => p.Message.StartsWith("Cycle:") && p.Message.Contains("a") && p.Message.Contains("c"));
        Assert.Contains(problems, p => p.Path == "$.steps.d.inputs.message" && p.Message.Contains("unknown step 'nowhere'"));
        Assert.Contains(problems, p => p.Path == "$.steps.e.inputs.expression" && p.Message.Contains("compares numbers or strings"));
        Assert.Contains(problems, p => p.Path == "$.steps.f.when" && p.Message.Contains("'and' needs bools"));
        Assert.Contains(problems, p => p.Path == "$.steps.f.inputs.run_id" && p.Message.Contains("no output 'missing'"));
        Assert.Contains(problems, p => p.Path == "$.steps.g.inputs.endpoint" && p.Message.Contains("needs input 'endpoint'")); // deploy is runnable now
        Assert.Contains(problems, p => p.Path == "$.steps.h.inputs.train" && p.Message.Contains("needs input 'train'")); // tune is runnable now
        Assert.Contains("$.steps.i.retry.exception_type[0]", paths);
        Assert.Contains("$.steps.i.retry.max_attempts", paths);
        Assert.Contains("$.steps.i.cache.expire_after", paths);
        Assert.Contains("$.steps.j.inputs.validation", paths);
        Assert.Contains("$.steps.j.inputs.algorithm", paths);
        Assert.Contains("$.steps.j.inputs.bogus", paths);
    }

    [Theory]
    [InlineData("steps: {a: {type: noop, for_each: '${params.x}'}}\nparameters: {x: {type: string, default: s}}", "$.steps.a.for_each", "is a string")]
    [InlineData("steps: {a: {type: noop, inputs: {v: '${item}'}}}", "$.steps.a.inputs.v", "only defined in a step with for_each")]
    [InlineData("steps: {a: {type: noop, parallelism: 2}}", "$.steps.a.parallelism", "no for_each")]
    [InlineData("steps: {a: {type: noop, inputs: {v: '${execution.status}'}}}", "$.steps.a.inputs.v", "only known to the exit handler")]
    [InlineData("steps: {a: {type: noop, when: '${params.p} =='}}\nparameters: {p: {type: number}}", "$.steps.a.when", "Unexpected end")]
    [InlineData("steps: {a: {type: noop, whn: x}}", "$.steps.a.whn", "Unknown key")]
    [InlineData("steps: {A-b: {type: noop}}", "$.steps.A-b", "not a valid step name")]
    [InlineData("steps: {}", "$.steps", "non-empty")]
    [InlineData("steps: {a: {type: noop, inputs: {v: '${params.nope}'}}}", "$.steps.a.inputs.v", "no parameter 'nope'")]
    [InlineData("steps: {a: {type: condition, inputs: {expression: '${params.p}'}}}\nparameters: {p: {type: number}}", "$.steps.a.inputs.expression", "not a bool")]
    [InlineData("steps: {a: [1]}", "$.steps.a", "A step is a mapping")]
    [InlineData("steps: {a: {type: noop}}\nexit_handler: {type: noop, depends_on: [a]}", "$.exit_handler.depends_on", "no depends_on")]
    [InlineData("steps: {a: {type: evaluate, inputs: {metrics: {}, gates: [{metric: auc, op: '~', threshold: 1}]}}}", "$.steps.a.inputs.gates[0].op", "'op' is one of")]
    public void Invalid_NamesTheProblem(string yaml, string path, string message)
    {
        var (_, problems) = DefinitionParser.Parse(yaml, json: false);
        Assert.Contains(problems, p => p.Path == path && p.Message.Contains(message));
    }

    [Fact]
    public void MalformedYaml_IsOneProblemAtTheRoot()
    {
        var (_, problems) = DefinitionParser.Parse("steps: {a: [", json: false);
        Assert.Equal("$", Assert.Single(problems).Path);
    }

    [Theory]
    [InlineData("90s", 90)]
    [InlineData("30m", 1800)]
    [InlineData("12h", 43200)]
    [InlineData("7d", 604800)]
    [InlineData("PT1H30M", 5400)]
    [InlineData("P1D", 86400)]
    public void Durations_Parse(string text, int seconds) => Assert.Equal(TimeSpan.FromSeconds(seconds), DefinitionParser.ParseDuration(text));

    [Theory]
    [InlineData("0s")]
    [InlineData("soon")]
    [InlineData("-5m")]
    public void Durations_Invalid(string text) => Assert.Null(DefinitionParser.ParseDuration(text));

    [Fact]
    public void Parameters_ResolveDefaultsAndRejectWrongTypes()
    {
        var definition = DefinitionParser.Parse(FlightsYaml, json: false).Definition!;
        var problems = new List<DefinitionProblem>();
        var resolved = ParameterValues.Resolve(definition, new JsonObject { ["min_auc"] = 0.7 }, problems);
        Assert.Empty(problems);
        Assert.Equal("lightgbm", resolved["algorithm"]!.GetValue<string>());
        Assert.Equal(0.7, resolved["min_auc"]!.GetValue<double>());

        ParameterValues.Resolve(definition, new JsonObject { ["min_auc"] = "high", ["extra"] = 1 }, problems);
        Assert.Contains(problems, p => p.Path == "$.parameters.min_auc" && p.Message.Contains("Expected a number"));
        Assert.Contains(problems, p => p.Path == "$.parameters.extra");
    }

    [Fact]
    public void Parameters_MissingWithoutDefault_IsAProblem()
    {
        var definition = DefinitionParser.Parse("parameters: {g: {type: string}}\nsteps: {a: {type: noop}}", json: false).Definition!;
        var problems = new List<DefinitionProblem>();
        ParameterValues.Resolve(definition, null, problems);
        Assert.Contains(problems, p => p.Path == "$.parameters.g" && p.Message.Contains("no default"));
    }
}
