using Mlops.Monitor.Features.Drift;

namespace Mlops.Monitor.Tests;

/// <summary>Each statistic on data small enough to compute by hand (the arithmetic is in the comments).</summary>
public sealed class HandComputedStatTests
{
    private static NumericDistribution Num(params double[] v) => NumericDistribution.FromValues(v);

    private static CategoricalDistribution Cat(params string[] v) => CategoricalDistribution.FromValues(v);

    [Fact]
    public void Wasserstein_ShiftByOne_IsOneOverStd()
    {
        // ref {0,1,2,3}, cur {1,2,3,4}: |F_u − F_v| = 1/4 on each of the 4 unit intervals → W = 1; std(ref) = sqrt(1.25).
        var score = StatTests.WassersteinNormed(Num(0, 1, 2, 3), Num(1, 2, 3, 4));
        Assert.Equal(1 / Math.Sqrt(1.25), score, 12);
    }

    [Fact]
    public void Wasserstein_ConstantReference_NormIsFloored()
    {
        // std(ref) = 0 → norm 0.001; W({5,5}, {6,6}) = 1 → 1000.
        Assert.Equal(1000, StatTests.WassersteinNormed(Num(5, 5), Num(6, 6)), 9);
    }

    [Fact]
    public void KsStatistic_DisjointSamples_IsOne_AndExactPValue()
    {
        // n = m = 3, D = 1: P(D ≥ 1) = 2 / C(6,3) = 0.1.
        var ks = KolmogorovSmirnov.TwoSample(Num(1, 2, 3), Num(4, 5, 6));
        Assert.Equal(1, ks.Statistic, 12);
        Assert.Equal(0.1, ks.PValue, 12);
        Assert.True(ks.Exact);
    }

    [Fact]
    public void KsPValue_IdenticalSamples_IsOne()
    {
        Assert.Equal(1, StatTests.Ks(Num(1, 2, 3, 4), Num(1, 2, 3, 4)), 12);
    }

    [Fact]
    public void ChiSquare_TwoCategories_MatchesClosedForm()
    {
        // ref a:50 b:50, cur a:70 b:30 (k = 1): stat = (20²/50)·2 = 16, dof 1 → p = erfc(sqrt(8)).
        var r = Cat([.. Enumerable.Repeat("a", 50), .. Enumerable.Repeat("b", 50)]);
        var c = Cat([.. Enumerable.Repeat("a", 70), .. Enumerable.Repeat("b", 30)]);
        Assert.Equal(MathNet.Numerics.SpecialFunctions.Erfc(Math.Sqrt(8)), StatTests.ChiSquare(AlignedCounts.Of(r, c)), 12);
    }

    [Fact]
    public void ChiSquare_CategoryOnlyInCurrent_IsZero()
    {
        Assert.Equal(0, StatTests.ChiSquare(AlignedCounts.Of(Cat("a", "b", "c"), Cat("a", "b", "d"))));
    }

    [Fact]
    public void Z_TwoProportions_MatchesClosedForm()
    {
        // p1 = 0.5 (n 100), p2 = 0.3 (n 100), pooled 0.4: z = 0.2 / sqrt(0.24 · 0.02) → p = 2(1 − Φ(|z|)).
        var r = Cat([.. Enumerable.Repeat("a", 50), .. Enumerable.Repeat("b", 50)]);
        var c = Cat([.. Enumerable.Repeat("a", 70), .. Enumerable.Repeat("b", 30)]);
        var z = 0.2 / Math.Sqrt(0.24 * 0.02);
        var expected = 2 * (1 - MathNet.Numerics.Distributions.Normal.CDF(0, 1, z));
        var drift = DriftCalculator.Column(ColumnPair.Categorical("x", r, c), DriftMethod.Z);
        Assert.Equal(expected, drift.Score, 12);
        Assert.True(drift.Drifted);
    }

    [Fact]
    public void JensenShannon_DisjointCategories_IsSqrtLn2()
    {
        // p = (1, 0), q = (0, 1): m = (½, ½), JS² = ½(ln 2 + ln 2) = ln 2 → sqrt(ln 2) with natural log.
        var d = DriftCalculator.Column(ColumnPair.Categorical("x", Cat("a", "a"), Cat("b")), DriftMethod.JensenShannon);
        Assert.Equal(Math.Sqrt(Math.Log(2)), d.Score, 12);
    }

    [Fact]
    public void Psi_HalfVersusQuarter_MatchesFormula()
    {
        // ref a ½ b ½, cur a ¾ b ¼: (½−¾)ln(⅔) + (½−¼)ln 2.
        var d = DriftCalculator.Column(ColumnPair.Categorical("x", Cat("a", "b"), Cat("a", "a", "a", "b")), DriftMethod.Psi);
        Assert.Equal(-0.25 * Math.Log(2.0 / 3) + 0.25 * Math.Log(2), d.Score, 12);
    }

    [Fact]
    public void Psi_EmptyBin_IsFilledWithTenToTheMinusFour()
    {
        // cur has no "b": its share becomes 1e-4 (min non-zero share 1 > 1e-4); KL(ref‖cur) renormalises.
        var r = Cat("a", "b");
        var c = Cat("a", "a");
        var psi = DriftCalculator.Column(ColumnPair.Categorical("x", r, c), DriftMethod.Psi).Score;
        Assert.Equal((0.5 - 1) * Math.Log(0.5 / 1) + (0.5 - 1e-4) * Math.Log(0.5 / 1e-4), psi, 12);
        var kl = DriftCalculator.Column(ColumnPair.Categorical("x", r, c), DriftMethod.KlDiv).Score;
        double q1 = 1 / 1.0001, q2 = 1e-4 / 1.0001;
        Assert.Equal(0.5 * Math.Log(0.5 / q1) + 0.5 * Math.Log(0.5 / q2), kl, 12);
    }

    [Fact]
    public void Hellinger_Categorical_MatchesFormula()
    {
        // ref a ½ b ½, cur a 1: BC = sqrt(½) → H = sqrt(1 − sqrt(½)).
        var d = DriftCalculator.Column(ColumnPair.Categorical("x", Cat("a", "b"), Cat("a")), DriftMethod.Hellinger);
        Assert.Equal(Math.Sqrt(1 - Math.Sqrt(0.5)), d.Score, 12);
    }

    [Fact]
    public void LInfinity_Categorical_IsLargestShareDifference()
    {
        var d = DriftCalculator.Column(ColumnPair.Categorical("x", Cat("a", "b"), Cat("a", "a", "a", "b")), DriftMethod.LInfinity);
        Assert.Equal(0.25, d.Score, 12);
    }

    [Fact]
    public void SturgesEdges_FollowNumpy()
    {
        // n = 8 → log2(8) + 1 = 4 bins over [0, 8]: 0, 2, 4, 6, 8; NumPy < 2.1 does not widen integer bins to 1;
        // a single value is widened by ½ either side.
        Assert.Equal([0, 2, 4, 6, 8], NumpyBinning.SturgesEdges(8, 0, 8));
        Assert.Equal([0, 0.5, 1, 1.5, 2], NumpyBinning.SturgesEdges(8, 0, 2));
        Assert.Equal([4.5, 5.5], NumpyBinning.SturgesEdges(8, 5, 5));
    }

    [Fact]
    public void Histogram_LastBinIsClosed()
    {
        var counts = NumpyBinning.Histogram(Num(0, 1, 2, 2), [0, 1, 2]);
        Assert.Equal([1, 3], counts);
    }

    [Theory]
    [InlineData(1000, ColumnKind.Numerical, 6, "ks")]
    [InlineData(1000, ColumnKind.Numerical, 5, "chisquare")]
    [InlineData(1000, ColumnKind.Numerical, 2, "z")]
    [InlineData(1000, ColumnKind.Categorical, 3, "chisquare")]
    [InlineData(1000, ColumnKind.Categorical, 2, "z")]
    [InlineData(1001, ColumnKind.Numerical, 6, "wasserstein")]
    [InlineData(1001, ColumnKind.Numerical, 5, "jensenshannon")]
    [InlineData(1001, ColumnKind.Categorical, 300, "jensenshannon")]
    public void DefaultMethod_FollowsEvidentlysSelection(long referenceRows, ColumnKind kind, int distinct, string expected)
    {
        Assert.Equal(expected, DriftMethod.Default(referenceRows, kind, distinct).Name);
    }

    [Theory]
    [InlineData("ks", 0.05, 0.05, true)]
    [InlineData("chisquare", 0.05, 0.05, false)]
    [InlineData("z", 0.049, 0.05, true)]
    [InlineData("wasserstein", 0.1, 0.1, true)]
    [InlineData("jensenshannon", 0.099, 0.1, false)]
    public void Drifted_UsesEvidentlysComparison(string method, double score, double threshold, bool drifted)
    {
        Assert.Equal(drifted, DriftMethod.ByName[method].Drifted(score, threshold));
    }

    [Fact]
    public void DatasetDrift_HalfTheColumns_IsDrift()
    {
        ColumnDrift Col(bool drifted) => new("c", "num", "wasserstein", "", 0, 0.1, drifted, 1, 1);
        Assert.True(DriftCalculator.Dataset([Col(true), Col(false)]).DatasetDrifted);
        Assert.False(DriftCalculator.Dataset([Col(true), Col(false), Col(false)]).DatasetDrifted);
        Assert.True(DriftCalculator.Dataset([Col(true), Col(false), Col(false)], driftShare: 0.3).DatasetDrifted);
    }

    [Fact]
    public void EmptyCurrentColumn_IsNamed()
    {
        var e = Assert.Throws<DriftException>(() => DriftCalculator.Column(ColumnPair.Numerical("delay", Num(1, 2), Num())));
        Assert.Contains("'delay'", e.Message);
    }
}
