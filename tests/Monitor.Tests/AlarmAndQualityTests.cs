using Mlops.Monitor.Features.Alarms;
using Mlops.Monitor.Features.Baselines;
using Mlops.Monitor.Features.Drift;
using Mlops.Monitor.Features.Profiles;
using Mlops.Monitor.Features.Runs;

namespace Mlops.Monitor.Tests;

public sealed class AlarmEvaluationTests
{
    private static AlarmRow Alarm(int n, int m, string op = "GreaterThanOrEqualToThreshold") =>
        new("a", Guid.NewGuid(), "drift.share_of_drifted_columns", null, "data_drift", 0.5, op, n, m, AlarmStates.InsufficientData, "", 0, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow);

    [Fact]
    public void MOfN_BreachingDatapoints_Alarm()
    {
        Assert.Equal(AlarmStates.Alarm, AlarmEvaluation.Evaluate(Alarm(3, 2), [0.6, 0.1, 0.5]).State);
        Assert.Equal(AlarmStates.Ok, AlarmEvaluation.Evaluate(Alarm(3, 2), [0.6, 0.1, 0.4]).State);
    }

    [Fact]
    public void OnlyTheLatestNCount()
    {
        Assert.Equal(AlarmStates.Ok, AlarmEvaluation.Evaluate(Alarm(1, 1), [0.1, 0.9, 0.9]).State);
    }

    [Fact]
    public void NoDatapoints_IsInsufficientData()
    {
        Assert.Equal(AlarmStates.InsufficientData, AlarmEvaluation.Evaluate(Alarm(2, 1), [null, null]).State);
        Assert.Equal(AlarmStates.InsufficientData, AlarmEvaluation.Evaluate(Alarm(2, 1), []).State);
    }

    [Theory]
    [InlineData("GreaterThanThreshold", 0.5, false)]
    [InlineData("GreaterThanOrEqualToThreshold", 0.5, true)]
    [InlineData("LessThanThreshold", 0.4, true)]
    [InlineData("LessThanOrEqualToThreshold", 0.5, true)]
    public void Operators_CompareLikeCloudWatch(string op, double value, bool breaches) =>
        Assert.Equal(breaches, AlarmEvaluation.Breaches(op, value, 0.5));

    [Theory]
    [InlineData("feature.delay.drift_score", "data_drift")]
    [InlineData("drift.share_of_drifted_columns", "data_drift")]
    [InlineData("prediction.drift_score", "prediction_drift")]
    [InlineData("data_quality.violations", "data_quality")]
    [InlineData("feature.delay.completeness", "data_quality")]
    public void Check_FollowsTheMetric(string metric, string check) => Assert.Equal(check, AlarmEvaluation.CheckOf(metric));
}

public sealed class DataQualityTests
{
    private static DatasetProfile Reference() => new(4,
    [
        new ColumnProfile("distance", ColumnKind.Numerical, InferredTypes.Integral, 4, 0, NumericDistribution.FromValues([100, 200, 300, 400]), null),
        new ColumnProfile("origin", ColumnKind.Categorical, InferredTypes.String, 4, 0, null, CategoricalDistribution.FromValues(["ATL", "ORD", "ATL", "SFO"])),
    ]);

    private static List<Violation> Check(params ColumnProfile[] current) =>
        DataQuality.Check(BaselineSuggestion.Constraints(Reference()), new DatasetProfile(current.Length == 0 ? 0 : current[0].Total, current));

    [Fact]
    public void SuggestedConstraints_FollowModelMonitor()
    {
        var c = BaselineSuggestion.Constraints(Reference());
        Assert.True(c.Features[0].NumConstraints!.IsNonNegative);
        Assert.Equal(1.0, c.Features[0].Completeness);
        Assert.Equal(["ATL", "ORD", "SFO"], c.Features[1].StringConstraints!.Domains);
        Assert.Equal(0.1, c.MonitoringConfig.DomainContentThreshold);
    }

    [Fact]
    public void MissingAndExtraColumns_AreViolations()
    {
        var builder = new ColumnProfileBuilder("carrier", ColumnKind.Categorical);
        builder.Add("AA");
        var origin = new ColumnProfileBuilder("origin", ColumnKind.Categorical);
        origin.Add("ATL");
        var v = Check(origin.Build(), builder.Build());
        Assert.Contains(v, x => x.ConstraintCheckType == ViolationTypes.MissingColumn && x.FeatureName == "distance");
        Assert.Contains(v, x => x.ConstraintCheckType == ViolationTypes.ExtraColumn && x.FeatureName == "carrier");
    }

    [Fact]
    public void UnseenCategoriesAboveTheThreshold_AreViolations()
    {
        var origin = new ColumnProfileBuilder("origin", ColumnKind.Categorical);
        foreach (var a in new[] { "ATL", "ATL", "ORD", "ZZZ" }) origin.Add(a);
        var distance = new ColumnProfileBuilder("distance", ColumnKind.Numerical);
        foreach (var d in new[] { 1.0, 2, 3, 4 }) distance.Add(d);
        var v = Assert.Single(Check(origin.Build(), distance.Build()));
        Assert.Equal(ViolationTypes.CategoricalValues, v.ConstraintCheckType);
        Assert.Contains("'ZZZ' (1)", v.Description);
    }

    [Fact]
    public void TextInANumericalColumn_IsADataTypeViolation_AndIncomplete()
    {
        var distance = new ColumnProfileBuilder("distance", ColumnKind.Numerical);
        foreach (var d in new[] { "10", "far", "far", "30" }) distance.Add(d);
        var origin = new ColumnProfileBuilder("origin", ColumnKind.Categorical);
        foreach (var a in new[] { "ATL", "ATL", "ORD", "SFO" }) origin.Add(a);
        var v = Check(distance.Build(), origin.Build());
        Assert.Contains(v, x => x.ConstraintCheckType == ViolationTypes.DataType && x.FeatureName == "distance");
        Assert.Contains(v, x => x.ConstraintCheckType == ViolationTypes.Completeness && x.FeatureName == "distance");
    }

    [Fact]
    public void NegativeValuesWhereTheBaselineWasNonNegative_AreViolations()
    {
        var distance = new ColumnProfileBuilder("distance", ColumnKind.Numerical);
        foreach (var d in new[] { -5.0, 2, 3, 4 }) distance.Add(d);
        var origin = new ColumnProfileBuilder("origin", ColumnKind.Categorical);
        foreach (var a in new[] { "ATL", "ATL", "ORD", "SFO" }) origin.Add(a);
        Assert.Contains(Check(distance.Build(), origin.Build()), x => x.ConstraintCheckType == ViolationTypes.NonNegative);
    }

    [Fact]
    public void Statistics_CarryModelMonitorsFields()
    {
        var s = BaselineSuggestion.Statistics(Reference());
        Assert.Equal(4, s.Dataset.ItemCount);
        var n = s.Features[0].NumericalStatistics!;
        Assert.Equal(250, n.Mean);
        Assert.Equal(1000, n.Sum);
        Assert.Equal(Math.Sqrt(12500), n.StdDev!.Value, 9);
        Assert.Equal(10, n.Distribution!.Kll.Buckets.Count);
        Assert.Equal(4, n.Distribution.Kll.Buckets.Sum(b => b.Count));
        Assert.Equal(3, s.Features[1].StringStatistics!.DistinctCount);
    }
}
