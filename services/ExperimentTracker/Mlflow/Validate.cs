using System.Text.RegularExpressions;

namespace Mlops.ExperimentTracker.Mlflow;

/// <summary>MLflow's request checks, with its messages and limits.</summary>
public static partial class Validate
{
    public const int MaxEntityKeyLength = 250;
    public const int MaxParamValueLength = 6000;
    public const int MaxTagValueLength = 8000;
    public const int MaxExperimentTagValueLength = 5000;

    public static string Required(string? value, string name) =>
        string.IsNullOrEmpty(value)
            ? throw MlflowException.Invalid($"Missing value for required parameter '{name}'. See the API docs for more information about request parameters.")
            : value;

    public static T Required<T>(T? value, string name) where T : struct =>
        value ?? throw MlflowException.Invalid($"Missing value for required parameter '{name}'. See the API docs for more information about request parameters.");

    /// <summary>A JSON array may hold nulls whatever the declared element type says; a null item is the caller's error.</summary>
    public static IReadOnlyList<T> Items<T>(IReadOnlyList<T>? list, string name) where T : class =>
        list is null ? [] : list.Any(item => item is null) ? throw MlflowException.Invalid($"'{name}' must not contain null.") : list;

    /// <summary>Metric, param and tag names: as in MLflow, a relative path of word characters, '-', '.', ' ' and '/'.</summary>
    public static string EntityKey(string? key, string kind)
    {
        Required(key, "key");
        if (key!.Length > MaxEntityKeyLength)
            throw MlflowException.Invalid($"{kind} name '{key[..40]}...' is {key.Length} characters; at most {MaxEntityKeyLength} are allowed.");
        if (!KeyPattern().IsMatch(key) || key.StartsWith('/') || key.Split('/').Any(part => part is ".." or "."))
            throw MlflowException.Invalid(
                $"Invalid {kind.ToLowerInvariant()} name: '{key}'. Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), and slashes (/), and must be a relative path without '.' or '..' segments.");
        return key;
    }

    public static string Value(string? value, string kind, string key, int maxLength)
    {
        if (value is null)
            throw MlflowException.Invalid($"Missing value for {kind.ToLowerInvariant()} '{key}'.");
        return value.Length <= maxLength
            ? value
            : throw MlflowException.Invalid($"{kind} '{key}' has a value of {value.Length} characters; at most {maxLength} are allowed.");
    }

    [GeneratedRegex(@"^[\w\-. /]+$")]
    private static partial Regex KeyPattern();
}
