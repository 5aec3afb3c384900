using System.Text.RegularExpressions;
using Mlops.ExperimentTracker.Features.Experiments;
using Mlops.ExperimentTracker.Mlflow;

namespace Mlops.ExperimentTracker.Features.Registry;

/// <summary>MLflow's registry request checks, shared by the model and version endpoints: names, aliases, versions, stages, tags.</summary>
public static partial class RegistryValidation
{
    public static readonly string[] Stages = ["None", "Staging", "Production", "Archived"];

    public static string ModelName(string? name, string parameter = "name")
    {
        name = Validate.Name(name, parameter, "Registered model name", Validate.MaxRegisteredModelNameLength);
        if (name.Any(char.IsControl) || name.Contains('/'))
            throw MlflowException.Invalid($"Invalid registered model name '{name}': it must not contain '/' or control characters.");
        return name;
    }

    /// <summary>MLflow's alias rules: a key-like name, not <c>latest</c> and not of the form <c>v&lt;number&gt;</c> (both are reserved).</summary>
    public static string AliasName(string? alias)
    {
        alias = Validate.Name(alias, "alias", "Registered model alias name", Validate.MaxAliasLength);
        if (!AliasPattern().IsMatch(alias))
            throw MlflowException.Invalid($"Invalid alias name '{alias}': use letters, digits, '_' and '-'.");
        if (alias.Equals("latest", StringComparison.OrdinalIgnoreCase) || ReservedVersionAlias().IsMatch(alias))
            throw MlflowException.Invalid($"'{alias}' is reserved and cannot be used as an alias.");
        return alias;
    }

    public static int VersionNumber(string name, string version) =>
        int.TryParse(version, System.Globalization.NumberStyles.None, null, out var number) && number > 0
            ? number
            : throw MlflowException.Invalid($"Invalid model version '{version}' for model {name}: versions are positive integers.");

    public static (string Name, int Version) VersionKey(string? name, string? version)
    {
        var model = Validate.Required(name, "name");
        return (model, VersionNumber(model, Validate.Required(version, "version")));
    }

    public static string CanonicalStage(string stage, string parameter) =>
        Stages.FirstOrDefault(s => s.Equals(stage, StringComparison.OrdinalIgnoreCase))
        ?? throw MlflowException.Invalid($"Invalid Model Version stage: {stage} in '{parameter}'. Value must be one of {string.Join(", ", Stages)}.");

    /// <summary>Registered-model and model-version tags (MLflow's registry limits); the last value of a repeated key wins.</summary>
    public static List<KeyValue> Tags(IReadOnlyList<KeyValue>? tags) =>
        Validate.Items(tags, "tags").Select(t => new KeyValue(Validate.EntityKey(t.Key, "Tag"), Validate.Value(t.Value, "Tag", t.Key!, Validate.MaxRegistryTagValueLength)))
            .GroupBy(t => t.Key).Select(g => g.Last()).ToList();

    [GeneratedRegex("^[A-Za-z0-9_-]+$")]
    private static partial Regex AliasPattern();

    [GeneratedRegex("^[vV][0-9]+$")]
    private static partial Regex ReservedVersionAlias();
}
