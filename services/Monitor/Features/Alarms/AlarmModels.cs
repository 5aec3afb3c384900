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

    /// <summary>ALARM when at least M of the last N datapoints breach; INSUFFICIENT_DATA when none of them exists; else OK.</summary>
    public static (string State, string Reason, double? Value) Evaluate(AlarmRow alarm, IReadOnlyList<double?> latest)
    {
        var window = latest.Take(alarm.EvaluationPeriods).ToList();
        var present = window.Where(v => v.HasValue).Select(v => v!.Value).ToList();
        var breaching = present.Count(v => Breaches(alarm.ComparisonOperator, v, alarm.Threshold));
        var newest = window.FirstOrDefault(v => v.HasValue);
        var shown = string.Join(", ", window.Select(v => v?.ToString("G6", System.Globalization.CultureInfo.InvariantCulture) ?? "missing"));
        if (breaching >= alarm.DatapointsToAlarm)
            return (AlarmStates.Alarm, $"Threshold crossed: {breaching} of the last {window.Count} datapoint(s) [{shown}] were {Words(alarm.ComparisonOperator)} the threshold ({alarm.Threshold.ToString(System.Globalization.CultureInfo.InvariantCulture)}); {alarm.DatapointsToAlarm} needed.", newest);
        if (present.Count == 0)
            return (AlarmStates.InsufficientData, $"Insufficient data: none of the last {Math.Max(window.Count, 1)} run(s) recorded '{alarm.Metric}'.", null);
        return (AlarmStates.Ok, $"Threshold not crossed: {breaching} of the last {window.Count} datapoint(s) [{shown}] breached; {alarm.DatapointsToAlarm} needed.", newest);
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
