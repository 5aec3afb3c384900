using System.Text.Json;
using Mlops.Monitor.Features.Drift;

namespace Mlops.Monitor.Tests;

/// <summary>
/// K-S beyond SciPy's exact limit (a sample over 10,000 values): kstwo.sf on a grid that reaches every branch of Simard
/// and L'Ecuyer's selection, and ks_2samp on large samples, against SciPy 1.10.1 (Evidently/ks_reference.py wrote
/// Evidently/ks_cases.json).
/// </summary>
public sealed class KolmogorovLargeSampleTests
{
    private static readonly Lazy<JsonElement> Data = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Evidently", "ks_cases.json")));
        return doc.RootElement.Clone();
    });

    public static TheoryData<long, double, double> Grid()
    {
        var data = new TheoryData<long, double, double>();
        foreach (var p in Data.Value.GetProperty("kstwo_sf").EnumerateArray())
            data.Add(p.GetProperty("n").GetInt64(), p.GetProperty("x").GetDouble(), p.GetProperty("sf").GetDouble());
        return data;
    }

    [Theory]
    [MemberData(nameof(Grid))]
    public void KstwoSf_EqualsScipys(long n, double x, double expected)
    {
        var actual = KolmogorovDistribution.Sf(n, x);
        Assert.True(Math.Abs(expected - actual) <= 1e-9 || Math.Abs(expected - actual) <= 1e-6 * expected,
            $"kstwo.sf({x:R}, {n}): expected {expected:R}, got {actual:R}");
    }

    public static TheoryData<string> TwoSampleCases()
    {
        var data = new TheoryData<string>();
        foreach (var c in Data.Value.GetProperty("ks_2samp").EnumerateArray()) data.Add(c.GetProperty("name").GetString()!);
        return data;
    }

    [Theory]
    [MemberData(nameof(TwoSampleCases))]
    public void Ks2Samp_LargeSamples_EqualsScipys(string name)
    {
        var c = Data.Value.GetProperty("ks_2samp").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        var result = KolmogorovSmirnov.TwoSample(Distribution(c.GetProperty("reference")), Distribution(c.GetProperty("current")));
        var (statistic, p) = (c.GetProperty("statistic").GetDouble(), c.GetProperty("p_value").GetDouble());
        Assert.Equal(statistic, result.Statistic, 12);
        Assert.True(Math.Abs(p - result.PValue) <= 1e-9 || Math.Abs(p - result.PValue) <= 1e-6 * p, $"{name}: expected p {p:R}, got {result.PValue:R}");
        Assert.False(result.Exact); // SciPy's asymptotic branch (a side over 10,000 values)
    }

    [Fact]
    public void Sf_HandDerivedValues()
    {
        // Ruben–Gambino: Pr(D_n ≤ x) = n!/n^n (2nx − 1)^n for 1/(2n) ≤ x ≤ 1/n; n = 2, x = 0.4: 2/4 · 0.6² = 0.18.
        Assert.Equal(1 - 0.18, KolmogorovDistribution.Sf(2, 0.4), 12);
        // x ≥ 1 − 1/n: Pr(D_n ≥ x) = 2(1 − x)^n; n = 3, x = 0.8: 2 · 0.2³ = 0.016.
        Assert.Equal(0.016, KolmogorovDistribution.Sf(3, 0.8), 12);
        // n = 1: D_1 = max(U, 1 − U) ≥ x with probability 2(1 − x) for x ≥ 1/2.
        Assert.Equal(0.6, KolmogorovDistribution.Sf(1, 0.7), 12);
        // One-sided Smirnov, n = 2, x = 0.6 (Birnbaum–Tingey with j = 0 only): x · (1 − x)² · x^{−1} = 0.16.
        Assert.Equal(0.16, KolmogorovDistribution.SmirnovSf(2, 0.6), 12);
        // For large n, √n·D_n tends to Kolmogorov's distribution: Pr(K ≥ 1.36) ≈ 0.0494 (the 5% critical value).
        Assert.Equal(0.0494, KolmogorovDistribution.Sf(4_000_000, 1.36 / 2000), 3);
    }

    [Fact]
    public void TwoSample_EffectiveSize_RoundsHalfToEven()
    {
        // n·m/(n + m) for 20,001 and 20,001 values is 10,000.5, which NumPy rounds to 10,000: the p-value must be kstwo at 10,000.
        var a = new NumericDistribution([0, 1], [10_001, 10_000]);
        var b = new NumericDistribution([0, 1], [9_800, 10_201]);
        var ks = KolmogorovSmirnov.TwoSample(a, b);
        Assert.Equal(KolmogorovDistribution.Sf(10_000, ks.Statistic), ks.PValue, 15);
    }

    private static NumericDistribution Distribution(JsonElement side) => new(
        side.GetProperty("values").EnumerateArray().Select(v => v.GetDouble()).ToArray(),
        side.GetProperty("counts").EnumerateArray().Select(v => v.GetInt64()).ToArray());
}
