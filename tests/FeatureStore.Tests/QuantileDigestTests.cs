using System.Text.Json;
using Mlops.FeatureStore.Features.Groups;
using Mlops.FeatureStore.Features.Ingestion;

namespace Mlops.FeatureStore.Tests;

public sealed class QuantileDigestTests
{
    [Fact]
    public void Quantiles_OfMergedBatches_AreWithinOnePercentOfRank()
    {
        var random = new Random(11);
        var values = Enumerable.Range(0, 200_000).Select(_ => Math.Exp(random.NextDouble() * 5)).ToArray(); // skewed
        var merged = new QuantileDigest();
        foreach (var chunk in values.Chunk(30_000))
        {
            var batch = new QuantileDigest();
            foreach (var v in chunk) batch.Add(v);
            // Round trip through storage, as the statistics do.
            merged.Merge(new QuantileDigest(batch.Centroids()));
        }
        Assert.Equal(values.Length, merged.TotalWeight);
        Assert.True(merged.Centroids().Length < 200);
        var sorted = values.Order().ToArray();
        foreach (var q in new[] { 0.01, 0.25, 0.5, 0.75, 0.9, 0.99 })
        {
            var estimate = merged.Quantile(q)!.Value;
            var rank = (double)Array.BinarySearch(sorted, estimate) is var r && r < 0 ? ~(int)r : r;
            Assert.InRange(rank / sorted.Length, q - 0.01, q + 0.01);
        }
    }

    [Fact]
    public void Quantile_OfEmptyDigest_IsNull() => Assert.Null(new QuantileDigest().Quantile(0.5));
}
