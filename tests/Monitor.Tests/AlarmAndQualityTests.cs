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

    /// <summary>
    /// The examples of CloudWatch's "How alarm state is evaluated when data is missing" (missing data treated as missing,
    /// its default), written as there: oldest first, 0 a datapoint within the threshold, X one breaching it, - a run that
    /// recorded no such metric. Its sixth example (X - - - -, 3 of 3: ALARM) is the one not followed: a lone breaching
    /// datapoint with every later run missing is INSUFFICIENT_DATA here, as the same datapoint is when it is the newest.
    /// </summary>
    [Theory]
    [InlineData(3, 3, "0 - X - X", AlarmStates.Ok)]
    [InlineData(3, 3, "0 - - - -", AlarmStates.Ok)]
    [InlineData(3, 3, "- - - - -", AlarmStates.InsufficientData)]
    [InlineData(3, 3, "0 X X - X", AlarmStates.Alarm)]
    [InlineData(3, 3, "- - - - X", AlarmStates.InsufficientData)]
    [InlineData(3, 2, "0 - X - X", AlarmStates.Alarm)]
    [InlineData(3, 2, "0 0 X 0 X", AlarmStates.Alarm)]
    [InlineData(3, 2, "0 - X - -", AlarmStates.Ok)]
    [InlineData(3, 2, "- - - - 0", AlarmStates.Ok)]
    [InlineData(3, 2, "- - - - X", AlarmStates.InsufficientData)]
    public void MissingDatapoints_AreEvaluatedAsCloudWatchsExamples(int n, int m, string datapoints, string state) =>
        Assert.Equal(state, AlarmEvaluation.Evaluate(Alarm(n, m), Newest(datapoints)).State);

    [Fact]
    public void ARunWithNoData_NeitherClearsNorRaisesAnAlarmItsEarlierRunsDecide()
    {
        // 2 of 2 breaching, then a run without the metric (e.g. no traffic in its window): still ALARM, so the alarm is not
        // cleared and raised again (a second retraining) by the next breaching run.
        var (state, reason, value) = AlarmEvaluation.Evaluate(Alarm(2, 2), Newest("X X -"));
        Assert.Equal((AlarmStates.Alarm, 0.9), (state, value));
        Assert.Contains("1 of the last 3 run(s) recorded no", reason);
        Assert.Equal(AlarmStates.Ok, AlarmEvaluation.Evaluate(Alarm(2, 2), Newest("X 0 -")).State);
        // Beyond the evaluation range (N + 2 runs) nothing counts.
        Assert.Equal(AlarmStates.InsufficientData, AlarmEvaluation.Evaluate(Alarm(1, 1), Newest("X - - -")).State);
        Assert.Equal(AlarmStates.Alarm, AlarmEvaluation.Evaluate(Alarm(1, 1), Newest("X - -")).State);
    }

    private static double?[] Newest(string oldestFirst) =>
        [.. oldestFirst.Split(' ').Reverse().Select(d => d switch { "0" => 0.1, "X" => 0.9, _ => (double?)null })];

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
