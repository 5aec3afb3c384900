namespace Mlops.Monitor.Features.Attribution;

/// <summary>
/// SageMaker Clarify's feature-attribution drift: the normalised discounted cumulative gain of the live ranking of
/// features, gained in the baseline's attributions. With F the features ranked by baseline attribution a(f) and F′ ranked
/// by live attribution, DCG = Σᵢ a(F′ᵢ)/log₂(i + 1), iDCG = Σᵢ a(Fᵢ)/log₂(i + 1), NDCG = DCG/iDCG (1 when the ranking is
/// unchanged); drift is alerted below the threshold (Clarify's default 0.90). Attributions are taken by magnitude.
/// </summary>
public static class AttributionDrift
{
    public const double DefaultThreshold = 0.90;

    public static double Ndcg(IReadOnlyDictionary<string, double> baseline, IReadOnlyDictionary<string, double> live)
    {
        if (baseline.Count == 0) return double.NaN;
        var gain = baseline.ToDictionary(p => p.Key, p => Math.Abs(p.Value), StringComparer.Ordinal);
        var ideal = gain.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Value).ToArray();
        // Features the live attributions lack rank last (no gain where they stand is lost to others).
        var liveOrder = gain.Keys.OrderByDescending(f => live.TryGetValue(f, out var v) ? Math.Abs(v) : double.NegativeInfinity)
            .ThenBy(f => f, StringComparer.Ordinal).ToArray();
        double dcg = 0, idcg = 0;
        for (var i = 0; i < ideal.Length; i++)
        {
            var discount = Math.Log2(i + 2);
            dcg += gain[liveOrder[i]] / discount;
            idcg += ideal[i] / discount;
        }
        return idcg == 0 ? double.NaN : dcg / idcg;
    }

    public static bool Drifted(double ndcg, double threshold = DefaultThreshold) => ndcg < threshold;
}
