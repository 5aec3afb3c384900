using System.Collections.Concurrent;
using Mlops.FeatureStore.Features.Groups;
using Mlops.FeatureStore.Features.Ingestion;

namespace Mlops.FeatureStore.Features.Online;

/// <summary>
/// What a list of <c>group:feature</c> references resolves to: the groups' schemas in order of first reference, the group
/// of each slot (position in the list), and per group which slots ask for which feature. Built once per distinct list
/// and reused while the catalog hands out the same group versions (a new version, or the catalog's periodic reload,
/// rebuilds it): a read of 50 features would otherwise split, look up and index 50 references on every request.
/// </summary>
internal sealed class ReadPlan
{
    private const int MaxCached = 1024;
    private static readonly ConcurrentDictionary<IReadOnlyList<string>, ReadPlan> Cache = new(ReferenceListComparer.Instance);

    private readonly Dictionary<string, Dictionary<string, int[]>> _wanted;

    private ReadPlan(string[] references, GroupSchema[] groups, int[] groupOf, Dictionary<string, Dictionary<string, int[]>> wanted) =>
        (References, Groups, GroupOf, _wanted) = (references, groups, groupOf, wanted);

    public string[] References { get; }
    public GroupSchema[] Groups { get; }
    public int[] GroupOf { get; }

    /// <summary>The requested features of one group: name → the slots that ask for it.</summary>
    public Dictionary<string, int[]> Wanted(string group) => _wanted[group];

    public static async ValueTask<ReadPlan> ForAsync(IReadOnlyList<string> features, FeatureGroupCatalog catalog, CancellationToken ct)
    {
        if (Cache.TryGetValue(features, out var plan) && await plan.IsCurrentAsync(catalog, ct))
            return plan;
        plan = await BuildAsync(features, catalog, ct);
        if (Cache.Count >= MaxCached)
            Cache.Clear(); // many distinct lists (ad-hoc reads): start over rather than grow without bound
        Cache[plan.References] = plan;
        return plan;
    }

    private async ValueTask<bool> IsCurrentAsync(FeatureGroupCatalog catalog, CancellationToken ct)
    {
        foreach (var schema in Groups)
            if (!ReferenceEquals(await catalog.GetLiveAsync(schema.Group.Name, ct), schema.Group))
                return false;
        return true;
    }

    private static async ValueTask<ReadPlan> BuildAsync(IReadOnlyList<string> features, FeatureGroupCatalog catalog, CancellationToken ct)
    {
        var references = new string[features.Count];
        var groupOf = new int[features.Count];
        var groups = new List<GroupSchema>();
        var wanted = new Dictionary<string, Dictionary<string, List<int>>>(StringComparer.Ordinal);
        for (var f = 0; f < features.Count; f++)
        {
            var (group, feature) = FeatureReference.Parse(features[f]);
            var g = groups.FindIndex(s => s.Group.Name == group);
            if (g < 0)
            {
                groups.Add(GroupSchema.For(await catalog.GetLiveAsync(group, ct)));
                wanted[group] = new(StringComparer.Ordinal);
                g = groups.Count - 1;
            }
            FeatureReference.RequireFeature(groups[g].Group, feature);
            var slots = wanted[group];
            (slots.TryGetValue(feature, out var list) ? list : slots[feature] = []).Add(f);
            (references[f], groupOf[f]) = (features[f], g);
        }
        return new ReadPlan(references, [.. groups], groupOf, wanted.ToDictionary(
            p => p.Key, p => p.Value.ToDictionary(q => q.Key, q => q.Value.ToArray(), StringComparer.Ordinal), StringComparer.Ordinal));
    }

    // Lists of references equal element by element (ordinal), whatever their collection type.
    private sealed class ReferenceListComparer : IEqualityComparer<IReadOnlyList<string>>
    {
        public static readonly ReferenceListComparer Instance = new();

        public bool Equals(IReadOnlyList<string>? x, IReadOnlyList<string>? y)
        {
            if (ReferenceEquals(x, y)) return true;
            if (x is null || y is null || x.Count != y.Count) return false;
            for (var i = 0; i < x.Count; i++)
                if (!string.Equals(x[i], y[i], StringComparison.Ordinal)) return false;
            return true;
        }

        public int GetHashCode(IReadOnlyList<string> list)
        {
            var hash = new HashCode();
            foreach (var item in list) hash.Add(item, StringComparer.Ordinal);
            return hash.ToHashCode();
        }
    }
}
