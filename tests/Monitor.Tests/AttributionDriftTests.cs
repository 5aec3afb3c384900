using Mlops.Monitor.Features.Attribution;

namespace Mlops.Monitor.Tests;

/// <summary>Clarify's NDCG of feature attributions, by hand.</summary>
public sealed class AttributionDriftTests
{
    private static readonly Dictionary<string, double> Baseline = new() { ["distance"] = 0.5, ["origin"] = 0.3, ["hour"] = 0.2 };

    [Fact]
    public void SameRanking_IsOne_EvenWithOtherMagnitudes() =>
        Assert.Equal(1, AttributionDrift.Ndcg(Baseline, new Dictionary<string, double> { ["distance"] = 9, ["origin"] = 2, ["hour"] = 1 }), 12);

    [Fact]
    public void SwappedTopTwo_ByHand()
    {
        // Live ranking origin, distance, hour: DCG = 0.3/1 + 0.5/log2 3 + 0.2/2; iDCG = 0.5 + 0.3/log2 3 + 0.1.
        var expected = (0.3 + 0.5 / Math.Log2(3) + 0.1) / (0.5 + 0.3 / Math.Log2(3) + 0.1);
        var ndcg = AttributionDrift.Ndcg(Baseline, new Dictionary<string, double> { ["origin"] = 0.6, ["distance"] = 0.4, ["hour"] = 0.1 });
        Assert.Equal(expected, ndcg, 12);
        Assert.False(AttributionDrift.Drifted(ndcg)); // ≈ 0.941, above 0.90
    }

    [Fact]
    public void Reversed_DriftsBelowTheDefaultThreshold()
    {
        var ndcg = AttributionDrift.Ndcg(Baseline, new Dictionary<string, double> { ["hour"] = 0.9, ["origin"] = 0.5, ["distance"] = 0.1 });
        var expected = (0.2 + 0.3 / Math.Log2(3) + 0.5 / 2) / (0.5 + 0.3 / Math.Log2(3) + 0.2 / 2);
        Assert.Equal(expected, ndcg, 12);
        Assert.True(AttributionDrift.Drifted(ndcg)); // ≈ 0.79
    }
}
