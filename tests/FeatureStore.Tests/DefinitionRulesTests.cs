using Mlops.FeatureStore.Features.Groups;

namespace Mlops.FeatureStore.Tests;

public sealed class DefinitionRulesTests
{
    internal static FeatureGroupRequest Request(params FeatureDefinition[] features) => new("flights", "d", "o", ["t"],
        [new EntityKey("origin", FeatureTypes.String)], "date", null,
        features.Length > 0 ? features : [new FeatureDefinition("delay", FeatureTypes.Int64), new FeatureDefinition("distance", FeatureTypes.Double)]);

    private static FeatureGroup Valid(FeatureGroupRequest request, int version = 1)
    {
        var (group, errors) = DefinitionRules.Validate(request, null, version);
        Assert.True(group is not null, string.Join("; ", errors.Select(e => $"{e.Key}: {string.Join(", ", e.Value)}")));
        return group;
    }

    [Fact]
    public void Validate_GoodDefinition_ReturnsTheGroup()
    {
        var group = Valid(Request());
        Assert.Equal("flights", group.Name);
        Assert.Equal(1, group.Version);
        Assert.Equal(["delay", "distance"], group.Features.Select(f => f.Name));
    }

    [Fact]
    public void Validate_BadDefinition_NamesEveryField()
    {
        var request = new FeatureGroupRequest("Flights!", null, null, ["", "x"], [new EntityKey("origin", FeatureTypes.Double)], null, -5,
        [
            new FeatureDefinition("delay", "decimal"),
            new FeatureDefinition("origin", FeatureTypes.String),
            new FeatureDefinition("name", FeatureTypes.String, Constraints: new FeatureConstraints(Min: 1)),
            new FeatureDefinition("code", FeatureTypes.String, Constraints: new FeatureConstraints(Pattern: "([")),
            new FeatureDefinition("event_date", FeatureTypes.Int64),
            new FeatureDefinition("n", FeatureTypes.Int64, Constraints: new FeatureConstraints(Min: 5, Max: 1)),
        ]);
        var (group, errors) = DefinitionRules.Validate(request, null, 1);
        Assert.Null(group);
        Assert.Contains("name", errors.Keys);
        Assert.Contains("entity_keys[0].type", errors.Keys);
        Assert.Contains("event_time", errors.Keys);
        Assert.Contains("ttl_seconds", errors.Keys);
        Assert.Contains("features[0].type", errors.Keys);
        Assert.Contains("features[2].constraints", errors.Keys);
        Assert.Contains("features[3].constraints.pattern", errors.Keys);
        Assert.Contains("features[5].constraints", errors.Keys);
        Assert.Contains("tags", errors.Keys);
        Assert.Contains(errors["features"], m => m.Contains("'origin' is defined more than once"));
        Assert.Contains(errors["features"], m => m.Contains("'event_date' is reserved"));
    }

    [Fact]
    public void Incompatibilities_AddedFeature_IsCompatible()
    {
        var v1 = Valid(Request());
        var v2 = Valid(Request(new FeatureDefinition("delay", FeatureTypes.Int64), new FeatureDefinition("distance", FeatureTypes.Double),
            new FeatureDefinition("embedding", FeatureTypes.FloatVector, Dimension: 4)), 2);
        Assert.Empty(DefinitionRules.Incompatibilities(v1, v2));
        Assert.False(v1.SameAs(v2));
    }

    [Fact]
    public void Incompatibilities_TypeChangeRemovalAndKeyChange_AreExplained()
    {
        var v1 = Valid(Request());
        var changed = Valid(Request(new FeatureDefinition("delay", FeatureTypes.Double)) with
        {
            EntityKeys = [new EntityKey("origin", FeatureTypes.String), new EntityKey("destination", FeatureTypes.String)],
        }, 2);
        var reasons = DefinitionRules.Incompatibilities(v1, changed);
        Assert.Contains(reasons, r => r.Contains("'delay' changes type from int64 to double"));
        Assert.Contains(reasons, r => r.Contains("'distance' is removed"));
        Assert.Contains(reasons, r => r.Contains("entity key changes"));
    }

    [Fact]
    public void SameAs_IdenticalDefinition_IsTrue() => Assert.True(Valid(Request()).SameAs(Valid(Request(), 2)));
}
