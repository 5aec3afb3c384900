namespace Mlops.Monitor.Features.Alarms;

/// <summary>A CloudWatch-shaped alarm over one metric of the monitor's runs.</summary>
/// <param name="Metric">A metric every run records, e.g. <c>drift.share_of_drifted_columns</c>, <c>feature.delay.drift_score</c>,
/// <c>data_quality.violations</c>.</param>
/// <param name="Endpoint">Only runs of this endpoint (null: every run).</param>
/// <param name="ComparisonOperator">GreaterThanOrEqualToThreshold, GreaterThanThreshold, LessThanThreshold or LessThanOrEqualToThreshold.</param>
/// <param name="EvaluationPeriods">How many of the latest runs are evaluated.</param>
/// <param name="DatapointsToAlarm">How many of those must breach for ALARM (default: all of them).</param>
public sealed record PutAlarmRequest(string? Name, string? Metric, string? Endpoint, double? Threshold, string? ComparisonOperator,
    int? EvaluationPeriods = 1, int? DatapointsToAlarm = null);

public sealed record AlarmRow(string Name, Guid Id, string Metric, string? Endpoint, string Check, double Threshold, string ComparisonOperator,
    int EvaluationPeriods, int DatapointsToAlarm, string State, string StateReason, long StateChangeSeq, DateTimeOffset StateUpdatedAt, DateTimeOffset CreatedAt);

public sealed record AlarmList(IReadOnlyList<AlarmRow> Alarms);

public sealed record AlarmHistoryItem(long StateChangeId, string OldState, string NewState, string Reason, Guid? RunId, double? Value, DateTimeOffset At);

public sealed record AlarmHistory(string Name, IReadOnlyList<AlarmHistoryItem> History);

public static class AlarmStates
{
    public const string Ok = "OK";
    public const string Alarm = "ALARM";
    public const string InsufficientData = "INSUFFICIENT_DATA";
}

/// <summary>CloudWatch's evaluation over the latest datapoints (newest first; null = the run recorded no such metric).</summary>
public static class AlarmEvaluation
{
    public static readonly string[] Operators = ["GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"];

    public static bool Breaches(string op, double value, double threshold) => op switch
    {
        "GreaterThanOrEqualToThreshold" => value >= threshold,
        "GreaterThanThreshold" => value > threshold,
        "LessThanThreshold" => value < threshold,
        "LessThanOrEqualToThreshold" => value <= threshold,
        _ => throw new ArgumentOutOfRangeException(nameof(op), op, "Unknown comparison operator."),
    };

    /// <summary>
    /// How many of the latest runs an alarm of <paramref name="evaluationPeriods"/> looks at: CloudWatch "attempts to
    /// retrieve a higher number of data points than specified by Evaluation Periods" (its documented example: 5 for 3).
    /// </summary>
    public static int EvaluationRange(int evaluationPeriods) => evaluationPeriods + 2;

    /// <summary>
    /// CloudWatch's evaluation with missing data treated as <c>missing</c> (its default) over the latest datapoints of the
    /// evaluation range (newest first; null = the run recorded no such metric). With at least N datapoints in the range,
    /// the N most recent ones are evaluated and missing ones are skipped; with fewer, those that exist are evaluated. ALARM
    /// when at least M breach; else OK when any evaluated datapoint does not breach; else (none, or only breaching ones,
    /// fewer than M) INSUFFICIENT_DATA.
    /// </summary>
    public static (string State, string Reason, double? Value) Evaluate(AlarmRow alarm, IReadOnlyList<double?> latest)
    {
        var range = latest.Take(EvaluationRange(alarm.EvaluationPeriods)).ToList();
        var evaluated = range.Where(v => v.HasValue).Select(v => v!.Value).Take(alarm.EvaluationPeriods).ToList();
        var breaching = evaluated.Count(v => Breaches(alarm.ComparisonOperator, v, alarm.Threshold));
        double? newest = evaluated.Count > 0 ? evaluated[0] : null;
        var shown = string.Join(", ", evaluated.Select(v => v.ToString("G6", System.Globalization.CultureInfo.InvariantCulture)));
        var skipped = range.Count(v => !v.HasValue) is > 0 and var m ? $" ({m} of the last {range.Count} run(s) recorded no '{alarm.Metric}')" : "";
        var threshold = alarm.Threshold.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (breaching >= alarm.DatapointsToAlarm)
            return (AlarmStates.Alarm, $"Threshold crossed: {breaching} of the last {evaluated.Count} datapoint(s) [{shown}] were {Words(alarm.ComparisonOperator)} the threshold ({threshold}); {alarm.DatapointsToAlarm} needed{skipped}.", newest);
        if (evaluated.Count == 0)
            return (AlarmStates.InsufficientData, $"Insufficient data: none of the last {Math.Max(range.Count, 1)} run(s) recorded '{alarm.Metric}'.", null);
        if (breaching == evaluated.Count)
            return (AlarmStates.InsufficientData, $"Insufficient data: only {evaluated.Count} datapoint(s) [{shown}], all {Words(alarm.ComparisonOperator)} the threshold ({threshold}); {alarm.DatapointsToAlarm} needed{skipped}.", newest);
        return (AlarmStates.Ok, $"Threshold not crossed: {breaching} of the last {evaluated.Count} datapoint(s) [{shown}] breached; {alarm.DatapointsToAlarm} needed{skipped}.", newest);
    }

    private static string Words(string op) => op switch
    {
        "GreaterThanOrEqualToThreshold" => "greater than or equal to",
        "GreaterThanThreshold" => "greater than",
        "LessThanThreshold" => "less than",
        _ => "less than or equal to",
    };

    /// <summary>The check a metric belongs to, as MonitorAlarmRaised names it.</summary>
    public static string CheckOf(string metric) => metric switch
    {
        _ when metric.StartsWith("variant.", StringComparison.Ordinal) && metric.IndexOf('.', 8) is > 8 and var dot => CheckOf(metric[(dot + 1)..]),
        _ when metric.StartsWith("quality.", StringComparison.Ordinal) => "model_quality",
        _ when metric.StartsWith("cbpe.", StringComparison.Ordinal) => "model_quality_estimate",
        _ when metric.StartsWith("bias.", StringComparison.Ordinal) => "bias_drift",
        _ when metric.StartsWith("training.", StringComparison.Ordinal) => "model_quality",
        _ when metric.StartsWith("attribution.", StringComparison.Ordinal) => "feature_attribution_drift",
        _ when metric.StartsWith("prediction.", StringComparison.Ordinal) => "prediction_drift",
        _ when metric.StartsWith("drift.", StringComparison.Ordinal) || metric.EndsWith(".drift_score", StringComparison.Ordinal) || metric.EndsWith(".drifted", StringComparison.Ordinal) => "data_drift",
        _ => "data_quality",
    };
}
