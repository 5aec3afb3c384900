using Mlops.ExperimentTracker.Mlflow;

namespace Mlops.ExperimentTracker.Features.Artifacts;

/// <summary>
/// Artifact paths as the proxy accepts them: relative, '/'-separated, no '.' or '..' segment, no backslash or control
/// character, no drive letter — checked again after every layer of percent-decoding, so <c>%2e%2e%2f</c> and
/// <c>%252e%252e</c> are refused as well as <c>../</c>. MLflow's own check (validate_path_is_safe) refuses the same.
/// </summary>
public static class ArtifactPath
{
    private const int MaxLength = 1024;

    /// <summary>The object key for <paramref name="path"/> (as the server decoded it: only '%2F' may still be encoded).</summary>
    public static string Validate(string? path, string name = "path")
    {
        if (string.IsNullOrEmpty(path))
            throw MlflowException.Invalid($"Missing value for required parameter '{name}'.");
        var key = path.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);
        if (key.Length > MaxLength)
            throw MlflowException.Invalid($"Invalid artifact path: it is {key.Length} characters; at most {MaxLength} are allowed.");
        // Check the path as stored and as every further decoding would read it.
        var candidate = key;
        for (var layer = 0; layer < 4; layer++)
        {
            Check(candidate, path);
            var decoded = Uri.UnescapeDataString(candidate);
            if (decoded == candidate)
                return key.TrimEnd('/');
            candidate = decoded;
        }
        throw MlflowException.Invalid($"Invalid artifact path '{path}': too many layers of percent-encoding.");
    }

    /// <summary>As <see cref="Validate"/>, for an optional sub-path of a listing (empty means the root).</summary>
    public static string ValidateOptional(string? path, string name = "path") =>
        string.IsNullOrEmpty(path) || path == "/" ? "" : Validate(path, name);

    /// <summary><paramref name="text"/> after every layer of percent-decoding (at most four).</summary>
    public static string FullyDecoded(string text)
    {
        for (var layer = 0; layer < 4; layer++)
        {
            var decoded = Uri.UnescapeDataString(text);
            if (decoded == text)
                break;
            text = decoded;
        }
        return text;
    }

    private static void Check(string candidate, string original)
    {
        if (candidate.StartsWith('/') || candidate.StartsWith('~'))
            throw Invalid(original, "it must be relative, not absolute");
        if (candidate.Length >= 2 && candidate[1] == ':' && char.IsAsciiLetter(candidate[0]))
            throw Invalid(original, "it must be relative, not start with a drive letter");
        if (candidate.Contains('\\'))
            throw Invalid(original, "backslashes are not allowed");
        if (candidate.Any(char.IsControl))
            throw Invalid(original, "control characters are not allowed");
        var segments = candidate.TrimEnd('/').Split('/');
        if (segments.Any(s => s is ".." or "."))
            throw Invalid(original, "'.' and '..' segments are not allowed");
        if (segments.Any(s => s.Length == 0))
            throw Invalid(original, "empty segments ('//') are not allowed");
    }

    private static MlflowException Invalid(string path, string reason) =>
        MlflowException.Invalid($"Invalid artifact path '{path}': {reason}.");
}
