using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Mlops.PipelineRunner.Features.Definitions;

namespace Mlops.PipelineRunner.Features.Steps;

/// <summary>
/// What each service-calling step type accepts, beyond the input types <see cref="StepTypes"/> checks. Run on upsert over
/// the literal values (a value holding a <c>${…}</c> reference is checked only once resolved) and again by the handler
/// over the resolved inputs, so a bad value fails the upsert when it can be known and the step (naming the input) when not.
/// </summary>
public static partial class StepInputRules
{
    /// <summary>The trainer's algorithms (services/Trainer).</summary>
    public static readonly string[] Algorithms = ["lightgbm", "fasttree", "fastforest", "sdca", "lbfgs"];
    public static readonly string[] DeploymentTypes = ["all_at_once", "canary", "linear"];
    public const int MaxApprovalSeconds = 30 * 24 * 3600;

    public static void Validate(string type, JsonObject inputs, string path, List<DefinitionProblem> problems)
    {
        var check = new Checker(inputs, path + ".inputs", problems);
        switch (type)
        {
            case "training_set":
                if (check.Known("features") is JsonArray features)
                {
                    if (features.Count == 0)
                        check.Problem("features", "'features' lists at least one group:feature reference.");
                    for (var i = 0; i < features.Count; i++)
                        if (!IsReference(features[i]) && (Str(features[i]) is not { } f || !FeatureReference().IsMatch(f)))
                            problems.Add(new($"{path}.inputs.features[{i}]", $"'{features[i]?.ToJsonString()}' is not a group:feature reference (e.g. flights:delay)."));
                }
                var hasRows = inputs.ContainsKey("entity_rows");
                var hasSource = inputs.ContainsKey("entity_source");
                if (hasRows == hasSource)
                    check.Problem(hasRows ? "entity_source" : "entity_rows",
                        "A training set takes its entity rows from exactly one of 'entity_rows' (a list of rows) or 'entity_source' (a Parquet object key in the lake).");
                if (check.Known("entity_rows") is JsonArray rows)
                {
                    if (rows.Count == 0)
                        check.Problem("entity_rows", "'entity_rows' has no rows.");
                    for (var i = 0; i < rows.Count; i++)
                        if (rows[i] is not JsonObject && !IsReference(rows[i]))
                            problems.Add(new($"{path}.inputs.entity_rows[{i}]", "An entity row is a map of column to value (keys, timestamp, labels)."));
                }
                check.ObjectKey("entity_source");
                check.Identifier("timestamp_column");
                break;

            case "train":
                check.S3Uri("train");
                check.S3Uri("validation");
                check.OneOf("algorithm", Algorithms);
                if (check.Known("hyperparameters") is JsonObject hp)
                    foreach (var (k, v) in hp)
                    {
                        if (k == "algorithm")
                            problems.Add(new($"{path}.inputs.hyperparameters.algorithm", "The algorithm is its own input ('algorithm'), not a hyperparameter."));
                        else if (v is not JsonValue && !IsReference(v))
                            problems.Add(new($"{path}.inputs.hyperparameters.{k}", "A hyperparameter is a string, number or bool (SageMaker passes them as strings)."));
                    }
                check.IntegerIn("max_runtime_seconds", 1, 432_000);
                check.NonEmpty("experiment", 500);
                check.Guid("snapshot_id");
                check.Guid("validation_snapshot_id");
                break;

            case "tune":
                check.S3Uri("train");
                check.S3Uri("validation");
                check.OneOf("algorithm", Algorithms);
                check.ScalarMap("static_hyperparameters");
                check.IntegerIn("max_runtime_seconds", 1, 432_000);
                check.NonEmpty("experiment", 500);
                check.Guid("snapshot_id");
                check.Guid("validation_snapshot_id");
                if (check.Known("config") is JsonObject config && !config.ToJsonString().Contains("${", StringComparison.Ordinal))
                    TuneConfigProblems(config, inputs, path + ".inputs", problems);
                break;

            case "register_model":
                if (check.Known("model_name") is JsonValue mn && Str(mn) is { } name && (name.Length is 0 or > 250 || name.Contains('/') || name.Any(char.IsControl)))
                    check.Problem("model_name", $"'{name}' is not a registered model name (1–250 characters, no '/' or control characters).");
                check.NonEmpty("run_id", 64);
                if (check.Known("model_uri") is JsonValue mu && Str(mu) is { } uri && !Uri.TryCreate(uri, UriKind.Absolute, out _))
                    check.Problem("model_uri", $"'{uri}' is not an absolute URI (the train step's model_uri, s3://…/model.tar.gz).");
                check.Alias("alias");
                check.ScalarMap("tags");
                break;

            case "approval":
                check.IntegerIn("timeout_seconds", 1, MaxApprovalSeconds);
                break;

            case "deploy":
                if (check.Known("endpoint") is JsonValue ep && Str(ep) is { } endpoint && !EndpointName().IsMatch(endpoint))
                    check.Problem("endpoint", $"'{endpoint}' is not an endpoint name (letters, digits and hyphens, at most 63).");
                var hasVersion = inputs.ContainsKey("model_version");
                var hasAlias = inputs.ContainsKey("alias");
                if (hasVersion == hasAlias)
                    check.Problem(hasVersion ? "alias" : "model_version", "A deployment names exactly one of 'model_version' or 'alias'.");
                check.Alias("alias");
                if (check.Known("strategy") is JsonObject strategy)
                {
                    foreach (var (k, _) in strategy)
                        if (k is not ("type" or "canary_percent" or "wait_seconds" or "step_percent" or "interval_seconds" or "baking_seconds" or "promote_alias"))
                            problems.Add(new($"{path}.inputs.strategy.{k}", $"Unknown strategy key '{k}': use type, canary_percent, wait_seconds, step_percent, interval_seconds, baking_seconds, promote_alias."));
                    if (strategy["type"] is { } t && !IsReference(t) && (Str(t) is not { } st || !DeploymentTypes.Contains(st)))
                        problems.Add(new($"{path}.inputs.strategy.type", $"'strategy.type' is one of {string.Join(", ", DeploymentTypes)}."));
                }
                if (check.Known("variant") is JsonValue vn && Str(vn) is { } variant && !EndpointName().IsMatch(variant))
                    check.Problem("variant", $"'{variant}' is not a variant name (letters, digits and hyphens, at most 63).");
                check.NumberIn("sampling_percentage", 0, 100);
                check.IntegerIn("timeout_seconds", 1, 24 * 3600);
                break;

            case "quality_check":
                check.NonEmpty("baseline", 250);
                var hasDataset = inputs.ContainsKey("dataset_uri");
                var hasEndpoint = inputs.ContainsKey("endpoint");
                if (hasDataset == hasEndpoint)
                    check.Problem(hasDataset ? "endpoint" : "dataset_uri", "A quality check reads exactly one of 'dataset_uri' (an S3 object) or 'endpoint' (its captured data).");
                check.S3Uri("dataset_uri");
                check.OneOf("format", ["parquet", "csv"]);
                if (inputs.ContainsKey("variant") && !hasEndpoint)
                    check.Problem("variant", "'variant' narrows an endpoint's captured data: give 'endpoint' too.");
                if (inputs.ContainsKey("window_seconds") && !hasEndpoint)
                    check.Problem("window_seconds", "'window_seconds' is the span of captured data read: give 'endpoint' too.");
                check.IntegerIn("window_seconds", 1, 30 * 24 * 3600);
                check.IntegerIn("baseline_version", 1, int.MaxValue);
                break;

            case "ingest":
                check.Identifier("feature_group");
                check.ObjectKey("object_key");
                check.OneOf("format", ["parquet", "csv"]);
                break;

            case "transform":
                check.NonEmpty("sql", 100_000);
                check.ObjectKey("output_key");
                if (check.Known("output_key") is JsonValue ok && Str(ok) is { } key && !key.EndsWith(".parquet", StringComparison.Ordinal))
                    check.Problem("output_key", "The transform writes Parquet: 'output_key' ends in .parquet.");
                if (check.Known("tables") is JsonObject tables)
                    foreach (var (table, source) in tables)
                    {
                        if (!Identifier().IsMatch(table))
                            problems.Add(new($"{path}.inputs.tables.{table}", $"'{table}' is not a table name (a lowercase identifier)."));
                        if (!IsReference(source) && (Str(source) is not { } s || s.Length == 0))
                            problems.Add(new($"{path}.inputs.tables.{table}", "A table is a lake object key or an s3:// URI (a snapshot's data_uri)."));
                    }
                break;
        }
    }

    /// <summary>A literal tuning config checked as the tuning API checks it, each problem under the step's input path.</summary>
    private static void TuneConfigProblems(JsonObject config, JsonObject inputs, string path, List<DefinitionProblem> problems)
    {
        Mlops.Tuning.Configuration.HyperParameterTuningJobConfig bound;
        try
        {
            bound = TuneHandler.Bind<Mlops.Tuning.Configuration.HyperParameterTuningJobConfig>(config, "config");
        }
        catch (Executions.StepException e)
        {
            problems.Add(new($"{path}.config", e.Message));
            return;
        }
        var statics = inputs["static_hyperparameters"] is JsonObject s && !s.ToJsonString().Contains("${", StringComparison.Ordinal)
            ? TrainHandler.HyperParameters(new JsonObject { ["hyperparameters"] = s.DeepClone() }) : null;
        var definition = new Mlops.Tuning.Configuration.TuningJobDefinition
        {
            HyperParameterTuningJobName = "step", HyperParameterTuningJobConfig = bound, StaticHyperParameters = statics,
        };
        foreach (var p in Mlops.Tuning.Configuration.TuningJobValidation.Validate(definition, Tuning.TuningJobs.MetricNames))
            problems.Add(new(p.Path.StartsWith("HyperParameterTuningJobConfig", StringComparison.Ordinal)
                ? $"{path}.config{p.Path["HyperParameterTuningJobConfig".Length..]}" : $"{path}.{p.Path}", p.Message));
    }

    /// <summary>The handler's check of resolved inputs: a problem fails the step, naming the inputs.</summary>
    public static void EnsureValid(string type, JsonObject inputs, string step)
    {
        var problems = new List<DefinitionProblem>();
        Validate(type, inputs, "$.steps." + step, problems);
        if (problems.Count > 0)
            throw new Executions.StepException(FailureKinds.StepFailed,
                $"Invalid inputs: {string.Join(" ", problems.Select(p => $"{p.Path}: {p.Message}"))}");
    }

    public static bool IsReference(JsonNode? n) => n is JsonValue v && v.TryGetValue<string>(out var s) && s.Contains("${", StringComparison.Ordinal);
    public static string? Str(JsonNode? n) => n is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    [GeneratedRegex("^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$")]
    private static partial Regex FeatureReference();

    [GeneratedRegex("^[a-z][a-z0-9_]*$")]
    private static partial Regex Identifier();

    [GeneratedRegex("^[A-Za-z0-9](-*[A-Za-z0-9]){0,62}$")]
    private static partial Regex EndpointName();

    [GeneratedRegex("^[A-Za-z0-9_-]+$")]
    private static partial Regex AliasPattern();

    [GeneratedRegex("^[vV][0-9]+$")]
    private static partial Regex ReservedAlias();

    /// <summary>Checks one input at a time; an absent input or one still holding a reference is left alone.</summary>
    private sealed class Checker(JsonObject inputs, string path, List<DefinitionProblem> problems)
    {
        public JsonNode? Known(string input) => inputs[input] is { } n && !IsReference(n) ? n : null;

        public void Problem(string input, string message) => problems.Add(new($"{path}.{input}", message));

        public void NonEmpty(string input, int max)
        {
            if (Known(input) is JsonValue v && Str(v) is { } s && (s.Trim().Length == 0 || s.Length > max))
                Problem(input, $"'{input}' is a non-empty string of at most {max} characters.");
        }

        public void OneOf(string input, string[] allowed)
        {
            if (Known(input) is JsonValue v && Str(v) is { } s && !allowed.Contains(s))
                Problem(input, $"'{s}' is not a known {input}: use {string.Join(", ", allowed)}.");
        }

        public void Identifier(string input)
        {
            if (Known(input) is JsonValue v && Str(v) is { } s && !StepInputRules.Identifier().IsMatch(s))
                Problem(input, $"'{s}' is not a lowercase identifier (letters, digits, '_').");
        }

        public void ObjectKey(string input)
        {
            if (Known(input) is JsonValue v && Str(v) is { } s
                && (s.Length is 0 or > 1024 || s.StartsWith('/') || s.Split('/').Any(p => p is "" or "." or "..") || s.Contains("://", StringComparison.Ordinal)))
                Problem(input, $"'{s}' is not an object key in the lake bucket (a relative path such as raw/flights.parquet).");
        }

        public void S3Uri(string input)
        {
            if (Known(input) is JsonValue v && Str(v) is { } s
                && (!Uri.TryCreate(s, UriKind.Absolute, out var uri) || uri.Scheme != "s3" || uri.Host.Length == 0 || uri.AbsolutePath.Length <= 1))
                Problem(input, $"'{s}' is not an s3://bucket/key URI.");
        }

        public void Guid(string input)
        {
            if (Known(input) is JsonValue v && Str(v) is { } s && !System.Guid.TryParse(s, out _))
                Problem(input, $"'{s}' is not a snapshot id (a UUID).");
        }

        public void Alias(string input)
        {
            if (Known(input) is JsonValue v && Str(v) is { } s
                && (s.Length is 0 or > 255 || !AliasPattern().IsMatch(s) || s.Equals("latest", StringComparison.OrdinalIgnoreCase) || ReservedAlias().IsMatch(s)))
                Problem(input, $"'{s}' is not an alias the registry accepts (letters, digits, '_' and '-'; not 'latest' or v<number>).");
        }

        public void IntegerIn(string input, long min, long max)
        {
            if (Known(input) is JsonValue v && v.GetValueKind() == JsonValueKind.Number
                && (Expressions.AsNumber(v) is var n && (n != Math.Floor(n) || n < min || n > max)))
                Problem(input, $"'{input}' is a whole number from {min} to {max}.");
        }

        public void NumberIn(string input, double min, double max)
        {
            if (Known(input) is JsonValue v && v.GetValueKind() == JsonValueKind.Number && Expressions.AsNumber(v) is var n && (n < min || n > max))
                Problem(input, $"'{input}' is a number from {min} to {max}.");
        }

        public void ScalarMap(string input)
        {
            if (Known(input) is JsonObject map)
                foreach (var (k, v) in map)
                    if (v is not JsonValue && !IsReference(v))
                        problems.Add(new($"{path}.{input}.{k}", $"A value of '{input}' is a string, number or bool."));
        }
    }
}
