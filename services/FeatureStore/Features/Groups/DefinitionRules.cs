using System.Text.RegularExpressions;

namespace Mlops.FeatureStore.Features.Groups;

/// <summary>Validates definitions (400 problems) and decides whether a new version is compatible (409 reasons).</summary>
public static partial class DefinitionRules
{
    public const int MaxNameLength = 128;
    /// <summary>The Hive partition column of the offline store, derived from the event time.</summary>
    public const string PartitionColumn = "event_date";

    [GeneratedRegex("^[a-z][a-z0-9_]*$")]
    private static partial Regex IdentifierPattern();

    /// <summary>Returns the definition as version <paramref name="version"/>, or the problems keyed by field path.</summary>
    public static (FeatureGroup? Group, Dictionary<string, string[]> Errors) Validate(FeatureGroupRequest request, string? nameFromRoute, int version)
    {
        var errors = new Dictionary<string, string[]>();
        void Error(string field, string message) =>
            errors[field] = errors.TryGetValue(field, out var existing) ? [.. existing, message] : [message];

        var name = nameFromRoute ?? request.Name;
        if (nameFromRoute is not null && request.Name is not null && request.Name != nameFromRoute)
            Error("name", $"The body names group '{request.Name}' but the path names '{nameFromRoute}'.");
        CheckIdentifier(name, "name", Error);

        var keys = request.EntityKeys ?? [];
        if (keys.Count == 0)
            Error("entity_keys", "At least one entity key column is required.");
        for (var i = 0; i < keys.Count; i++)
        {
            if (keys[i] is null) { Error($"entity_keys[{i}]", "Must not be null."); continue; }
            CheckIdentifier(keys[i].Name, $"entity_keys[{i}].name", Error);
            if (!FeatureTypes.KeyTypes.Contains(keys[i].Type))
                Error($"entity_keys[{i}].type", $"'{keys[i].Type}' is not a key type; use one of: {string.Join(", ", FeatureTypes.KeyTypes)}.");
        }

        CheckIdentifier(request.EventTime, "event_time", Error);
        if (request.TtlSeconds is <= 0)
            Error("ttl_seconds", "Must be positive (omit it for no TTL).");

        var features = request.Features ?? [];
        if (features.Count == 0)
            Error("features", "At least one feature is required.");
        for (var i = 0; i < features.Count; i++)
        {
            var f = features[i];
            var at = $"features[{i}]";
            if (f is null) { Error(at, "Must not be null."); continue; }
            CheckIdentifier(f.Name, $"{at}.name", Error);
            if (!FeatureTypes.All.Contains(f.Type))
            {
                Error($"{at}.type", $"'{f.Type}' is not a feature type; use one of: {string.Join(", ", FeatureTypes.All)}.");
                continue;
            }
            if (f.Dimension is not null && (f.Type != FeatureTypes.FloatVector || f.Dimension <= 0))
                Error($"{at}.dimension", "Only float_vector features have a dimension, and it must be positive.");
            var c = f.Constraints;
            if (c is null) continue;
            var numeric = f.Type is FeatureTypes.Int64 or FeatureTypes.Double;
            if ((c.Min is not null || c.Max is not null) && !numeric)
                Error($"{at}.constraints", "min and max apply to int64 and double features only.");
            if (c.Min > c.Max)
                Error($"{at}.constraints", $"min ({c.Min}) is greater than max ({c.Max}).");
            if (c.AllowedValues is not null && f.Type is not (FeatureTypes.String or FeatureTypes.Int64))
                Error($"{at}.constraints.allowed_values", "allowed_values apply to string and int64 features only.");
            if (c.AllowedValues is not null && f.Type == FeatureTypes.Int64 && c.AllowedValues.Any(v => !long.TryParse(v, out _)))
                Error($"{at}.constraints.allowed_values", "Every allowed value of an int64 feature must be an integer.");
            if (c.Pattern is not null)
            {
                if (f.Type != FeatureTypes.String)
                    Error($"{at}.constraints.pattern", "pattern applies to string features only.");
                else
                    try { _ = new Regex(c.Pattern, RegexOptions.None, TimeSpan.FromMilliseconds(100)); }
                    catch (ArgumentException e) { Error($"{at}.constraints.pattern", $"Not a valid regular expression: {e.Message}"); }
            }
        }

        var columns = keys.Where(k => k is not null).Select(k => k.Name)
            .Append(request.EventTime).Concat(features.Where(f => f is not null).Select(f => f.Name)).OfType<string>().ToList();
        foreach (var duplicate in columns.GroupBy(c => c).Where(g => g.Count() > 1).Select(g => g.Key))
            Error("features", $"Column '{duplicate}' is defined more than once (entity keys, event time and features share one namespace).");
        foreach (var reserved in columns.Where(c => c.StartsWith("__", StringComparison.Ordinal) || c == PartitionColumn))
            Error("features", $"Column name '{reserved}' is reserved (names starting with '__', and '{PartitionColumn}', the offline store's partition).");

        var tags = request.Tags ?? [];
        if (tags.Any(string.IsNullOrWhiteSpace))
            Error("tags", "Tags must be non-empty strings.");

        if (errors.Count > 0)
            return (null, errors);
        return (new FeatureGroup(name!, version, request.Description, request.Owner, [.. tags.Distinct()], keys, request.EventTime!,
            request.TtlSeconds, features), errors);
    }

    private static void CheckIdentifier(string? value, string field, Action<string, string> error)
    {
        if (string.IsNullOrEmpty(value))
            error(field, "Required.");
        else if (value.Length > MaxNameLength || !IdentifierPattern().IsMatch(value))
            error(field, $"'{value}' is not a valid name: lowercase letters, digits and '_', starting with a letter, at most {MaxNameLength} characters.");
    }

    /// <summary>Why <paramref name="next"/> cannot be a new version of <paramref name="current"/>; empty if it can.</summary>
    public static List<string> Incompatibilities(FeatureGroup current, FeatureGroup next)
    {
        var reasons = new List<string>();
        if (!current.EntityKeys.SequenceEqual(next.EntityKeys))
            reasons.Add($"The entity key changes from ({Describe(current.EntityKeys)}) to ({Describe(next.EntityKeys)}); "
                + "stored records are keyed by it, so define a new group instead.");
        if (current.EventTime != next.EventTime)
            reasons.Add($"The event-time column changes from '{current.EventTime}' to '{next.EventTime}'.");
        foreach (var old in current.Features)
        {
            var now = next.Feature(old.Name);
            if (now is null)
                reasons.Add($"Feature '{old.Name}' is removed; versions may only add features (stored data and training sets use it).");
            else if (now.Type != old.Type)
                reasons.Add($"Feature '{old.Name}' changes type from {old.Type} to {now.Type}.");
            else if (now.Dimension != old.Dimension)
                reasons.Add($"Feature '{old.Name}' changes dimension from {old.Dimension?.ToString() ?? "any"} to {now.Dimension?.ToString() ?? "any"}.");
        }
        return reasons;
    }

    private static string Describe(IEnumerable<EntityKey> keys) => string.Join(", ", keys.Select(k => $"{k.Name} {k.Type}"));
}
