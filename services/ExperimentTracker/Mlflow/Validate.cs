using System.Text.RegularExpressions;

namespace Mlops.ExperimentTracker.Mlflow;

/// <summary>
/// MLflow's request checks, with its messages and limits (mlflow/utils/validation.py). Every stored string has a limit
/// here, and every limit fits the database's indexes (migration 0007), so no accepted length can fail a write.
/// </summary>
public static partial class Validate
{
    public const int MaxEntityKeyLength = 250;
    public const int MaxParamValueLength = 6000;
    public const int MaxTagValueLength = 8000;
    public const int MaxExperimentNameLength = 500;
    public const int MaxExperimentTagValueLength = 5000;
    public const int MaxRegistryTagValueLength = 5000;
    public const int MaxRegisteredModelNameLength = 250;
    public const int MaxAliasLength = 255;

    public static string Required(string? value, string name) =>
        string.IsNullOrEmpty(value)
            ? throw MlflowException.Invalid($"Missing value for required parameter '{name}'. See the API docs for more information about request parameters.")
            : value;

    public static T Required<T>(T? value, string name) where T : struct =>
        value ?? throw MlflowException.Invalid($"Missing value for required parameter '{name}'. See the API docs for more information about request parameters.");

    /// <summary>A JSON array may hold nulls whatever the declared element type says; a null item is the caller's error.</summary>
    public static IReadOnlyList<T> Items<T>(IReadOnlyList<T>? list, string name) where T : class =>
        list is null ? [] : list.Any(item => item is null) ? throw MlflowException.Invalid($"'{name}' must not contain null.") : list;

    /// <summary>
    /// MLflow's length check and message: "<c>{field} '{start of the value}' had length {n}, which exceeded length limit
    /// of {limit}</c>", the field named as the caller knows it (<c>Param value for 'lr'</c>).
    /// </summary>
    public static string Length(string value, string field, int limit) =>
        value.Length <= limit
            ? value
            : throw MlflowException.Invalid($"{field} '{value[..Math.Min(40, value.Length)]}...' had length {value.Length}, which exceeded length limit of {limit}.");

    /// <summary>A required name (experiment, registered model) within its limit.</summary>
    public static string Name(string? value, string parameter, string field, int limit) =>
        Length(Required(value, parameter), field, limit);

    /// <summary>Metric, param and tag names: as in MLflow, a relative path of word characters, '-', '.', ' ' and '/'.</summary>
    public static string EntityKey(string? key, string kind)
    {
        Length(Required(key, "key"), $"{kind} key", MaxEntityKeyLength);
        if (!KeyPattern().IsMatch(key!) || key!.StartsWith('/') || key.Split('/').Any(part => part is ".." or "."))
            throw MlflowException.Invalid(
                $"Invalid {kind.ToLowerInvariant()} name: '{key}'. Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), and slashes (/), and must be a relative path without '.' or '..' segments.");
        return key;
    }

    public static string Value(string? value, string kind, string key, int maxLength)
    {
        if (value is null)
            throw MlflowException.Invalid($"Missing value for {kind.ToLowerInvariant()} '{key}'.");
        return Length(value, $"{kind} value for '{key}'", maxLength);
    }

    [GeneratedRegex(@"^[\w\-. /]+$")]
    private static partial Regex KeyPattern();
}
