namespace Mlops.FeatureStore.Features.Groups;

/// <summary>
/// A <c>group:feature</c> reference, as online reads and training sets name the features they want. Bad input is the
/// caller's: not a reference is a 400, a feature the group's live version lacks is a 404.
/// </summary>
public static class FeatureReference
{
    public static (string Group, string Feature) Parse(string? reference)
    {
        var parts = reference?.Split(':') ?? [];
        if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
            throw ProblemException.BadRequest($"'{reference}' is not a feature reference; write 'group:feature'.");
        return (parts[0], parts[1]);
    }

    public static void RequireFeature(FeatureGroup group, string feature)
    {
        if (group.Feature(feature) is null)
            throw ProblemException.NotFound($"Feature '{feature}' does not exist in feature group '{group.Name}' (version {group.Version}).");
    }
}
