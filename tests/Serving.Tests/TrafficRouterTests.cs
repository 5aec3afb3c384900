using Mlops.Serving.Features.Deployments;
using Mlops.Serving.Features.Endpoints;
using Mlops.Serving.Features.Routing;
using Mlops.ServiceDefaults.Errors;

namespace Mlops.Serving.Tests;

public sealed class TrafficRouterTests
{
    private static LiveVariant V(string name, double weight, int config = 1, string version = "1") =>
        new(new Variant(name, "m", version, null, weight), config, null);

    private static EndpointRoute Route(IReadOnlyList<LiveVariant> current, IReadOnlyList<LiveVariant>? next = null, int share = 0) =>
        new("ep", 1, current, next, share, DataCaptureConfig.Off, null);

    private static Dictionary<string, int> Count(EndpointRoute route, int n, int seed = 7)
    {
        var random = new Random(seed);
        var counts = new Dictionary<string, int>();
        for (var i = 0; i < n; i++)
        {
            var v = TrafficRouter.Pick(route, null, null, random);
            var key = $"{v.ConfigVersion}/{v.Spec.Name}";
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        return counts;
    }

    [Fact]
    public void Weights_SplitTrafficProportionally()
    {
        var counts = Count(Route([V("a", 3), V("b", 1)]), 40_000);
        Assert.InRange(counts["1/a"] / 40_000.0, 0.74, 0.76);
        Assert.InRange(counts["1/b"] / 40_000.0, 0.24, 0.26);
    }

    [Fact]
    public void ZeroWeight_VariantGetsNoTraffic_ButCanBeTargeted()
    {
        var route = Route([V("a", 1), V("dark", 0)]);
        Assert.False(Count(route, 10_000).ContainsKey("1/dark"));
        Assert.Equal("dark", TrafficRouter.Pick(route, "dark", null, new Random(1)).Spec.Name);
    }

    [Fact]
    public void Deployment_SendsItsShareToTheNewConfiguration()
    {
        var counts = Count(Route([V("a", 1)], [V("a", 1, config: 2, version: "2")], share: 30), 40_000);
        Assert.InRange(counts["2/a"] / 40_000.0, 0.29, 0.31);
    }

    [Fact]
    public void TargetVariant_Wins_AndAnUnknownOneIs404NamingIt()
    {
        var route = Route([V("a", 1), V("b", 1)]);
        Assert.All(Enumerable.Range(0, 100), _ => Assert.Equal("b", TrafficRouter.Pick(route, "b", null, Random.Shared).Spec.Name));
        var e = Assert.Throws<ProblemException>(() => TrafficRouter.Pick(route, "c", null, Random.Shared));
        Assert.Equal(404, e.Status);
        Assert.Contains("'c'", e.Message);
    }

    [Fact]
    public void TargetVariant_InBothConfigurations_IsTheOneWithMoreTraffic()
    {
        Assert.Equal(1, TrafficRouter.Pick(Route([V("a", 1)], [V("a", 1, 2)], share: 10), "a", null, Random.Shared).ConfigVersion);
        Assert.Equal(2, TrafficRouter.Pick(Route([V("a", 1)], [V("a", 1, 2)], share: 60), "a", null, Random.Shared).ConfigVersion);
    }

    [Fact]
    public void StickyKey_AlwaysLandsOnTheSameVariant_AndKeysSpreadByWeight()
    {
        var route = Route([V("a", 1), V("b", 1)]);
        var assignments = Enumerable.Range(0, 2000).Select(i => TrafficRouter.Pick(route, null, $"user-{i}", Random.Shared).Spec.Name).ToArray();
        var again = Enumerable.Range(0, 2000).Select(i => TrafficRouter.Pick(route, null, $"user-{i}", new Random(i)).Spec.Name).ToArray();
        Assert.Equal(assignments, again);
        Assert.InRange(assignments.Count(a => a == "a") / 2000.0, 0.45, 0.55);
    }

    [Fact]
    public void StickyKeys_OnlyMoveToTheNewConfiguration_AsTheShareGrows()
    {
        var keys = Enumerable.Range(0, 1000).Select(i => $"k{i}").ToArray();
        bool[] OnNew(int share) => [.. keys.Select(k => TrafficRouter.Pick(Route([V("a", 1)], [V("a", 1, 2)], share), null, k, Random.Shared).ConfigVersion == 2)];
        var previous = OnNew(0);
        foreach (var share in new[] { 10, 20, 50, 100 })
        {
            var now = OnNew(share);
            Assert.All(keys.Select((_, i) => i), i => Assert.True(!previous[i] || now[i], $"key {keys[i]} moved back at {share} %"));
            Assert.InRange(now.Count(x => x) / 1000.0, share / 100.0 - 0.05, share / 100.0 + 0.05);
            previous = now;
        }
    }

    [Fact]
    public void Shares_ReportEachVariantsPercentOfAllTraffic()
    {
        var shares = TrafficRouter.Shares(Route([V("a", 3), V("b", 1)], [V("c", 1, 2)], share: 20));
        Assert.Equal([("a", 60.0), ("b", 20.0), ("c", 20.0)], shares.Select(s => (s.Variant, s.Percent)).ToArray());
    }

    private static EndpointRoute Shadowing(int percent) =>
        new("ep", 1, [V("primary", 1)], [V("shadow", 1, config: 2, version: "2")], 0, DataCaptureConfig.Off, "dep-1", DeploymentStates.Shadowing,
            new DeploymentStrategy("shadow", WaitSeconds: 60, ShadowPercent: percent));

    [Fact]
    public void ShadowVariants_AnswerNoRequest_AndCannotBeTargeted()
    {
        var route = Shadowing(100);
        Assert.Equal(new Dictionary<string, int> { ["1/primary"] = 10_000 }, Count(route, 10_000));
        Assert.All(Enumerable.Range(0, 200), i => Assert.Equal("primary", TrafficRouter.Pick(route, null, $"key-{i}", Random.Shared).Spec.Name));
        var e = Assert.Throws<ProblemException>(() => TrafficRouter.Pick(route, "shadow", null, Random.Shared));
        Assert.Equal(404, e.Status);
        Assert.Equal("shadow", TrafficRouter.PickShadow(route, Random.Shared)!.Spec.Name);
        Assert.Equal(100, route.ShadowPercent);
    }

    [Fact]
    public void Shares_ShowShadowVariantsWithNoShare_AndTheirMirroredPercent()
    {
        var shares = TrafficRouter.Shares(Shadowing(30));
        Assert.Equal([("primary", 100.0, (double?)null), ("shadow", 0.0, 30.0)], shares.Select(s => (s.Variant, s.Percent, s.MirroredPercent)).ToArray());
    }

    [Fact]
    public void ProvisioningFleet_IsNotRoutedNorMirrored_UntilItHasAShare()
    {
        var route = new EndpointRoute("ep", 1, [V("a", 1)], [V("a", 1, config: 2, version: "2")], 0, DataCaptureConfig.Off, "dep-1",
            DeploymentStates.Provisioning, new DeploymentStrategy("blue_green"));
        Assert.Equal(new Dictionary<string, int> { ["1/a"] = 5_000 }, Count(route, 5_000));
        Assert.Equal(1, TrafficRouter.Pick(route, "a", null, Random.Shared).ConfigVersion);
        Assert.Equal(0, route.ShadowPercent);
        Assert.Null(TrafficRouter.PickShadow(route, Random.Shared));
    }
}
