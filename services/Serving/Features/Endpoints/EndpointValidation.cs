using System.Text.RegularExpressions;

namespace Mlops.Serving.Features.Endpoints;

/// <summary>Request rules for endpoints and variants; every message names the field and the value at fault.</summary>
public static partial class EndpointValidation
{
    public const int MaxVariants = 10;

    // SageMaker's rule for endpoint and variant names: letters, digits and single or repeated hyphens inside, at most 63.
    [GeneratedRegex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
    private static partial Regex NamePattern();

    // MLflow's alias rule: word characters and '-', at most 255; 'latest' and v<number> are reserved.
    [GeneratedRegex(@"^[\w\-]{1,255}$")]
    private static partial Regex AliasPattern();

    [GeneratedRegex(@"^[vV]\d+$")]
    private static partial Regex ReservedAlias();

    public static bool IsName(string? name) => name is not null && NamePattern().IsMatch(name);

    public static bool IsAlias(string alias) => AliasPattern().IsMatch(alias) && !ReservedAlias().IsMatch(alias) && alias != "latest";

    public static void RequireName(string? name, string field)
    {
        if (!IsName(name))
            throw ProblemException.BadRequest(
                $"{field} '{name}' is not a valid name: 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit.");
    }

    /// <summary>The problems of a variant list: names, one model reference each (version xor alias), weights.</summary>
    public static IReadOnlyList<string> Validate(IReadOnlyList<VariantRequest>? variants)
    {
        if (variants is null || variants.Count == 0)
            return ["variants: an endpoint needs at least one variant."];
        var problems = new List<string>();
        if (variants.Count > MaxVariants)
            problems.Add($"variants: at most {MaxVariants} variants per endpoint, got {variants.Count}.");
        for (var i = 0; i < variants.Count; i++)
        {
            var v = variants[i];
            var at = $"variants[{i}]";
            if (v is null)
            {
                problems.Add($"{at} must be an object {{name, model_name, model_version or alias, weight}}.");
                continue;
            }
            if (!IsName(v.Name))
                problems.Add($"{at}.name '{v.Name}' is not a valid variant name (1 to 63 letters, digits and hyphens).");
            if (string.IsNullOrWhiteSpace(v.ModelName))
                problems.Add($"{at}.model_name is required.");
            if ((v.ModelVersion is null) == (v.Alias is null))
                problems.Add($"{at}: give exactly one of model_version and alias.");
            if (v.ModelVersion is { } version && !(long.TryParse(version, out var n) && n > 0 && n.ToString() == version))
                problems.Add($"{at}.model_version '{version}' is not a registry version (a positive integer).");
            if (v.Alias is { } alias && !IsAlias(alias))
                problems.Add($"{at}.alias '{alias}' is not a valid alias.");
            if (v.Weight is { } w && (!double.IsFinite(w) || w < 0))
                problems.Add($"{at}.weight {w} must be a finite number of at least 0.");
        }
        foreach (var name in variants.Where(v => v is not null).GroupBy(v => v.Name).Where(g => g.Key is not null && g.Count() > 1).Select(g => g.Key))
            problems.Add($"variants: the name '{name}' is used more than once.");
        if (problems.Count == 0 && variants.Sum(v => v.Weight ?? 1) <= 0)
            problems.Add("variants: the weights must sum to a positive total.");
        return problems;
    }

    public static IReadOnlyList<string> Validate(DataCaptureConfig? capture) =>
        capture is { SamplingPercentage: < 0 or > 100 } c
            ? [$"data_capture.sampling_percentage {c.SamplingPercentage} must be between 0 and 100."]
            : [];

    public static void ThrowIfAny(IReadOnlyList<string> problems)
    {
        if (problems.Count > 0)
            throw ProblemException.BadRequest(string.Join(" ", problems), new Dictionary<string, object?> { ["errors"] = problems });
    }
}
