namespace Mlops.Contracts;

/// <summary>
/// A monitor alarm went into ALARM (CloudWatch's model: a metric, a threshold and comparison, evaluation periods and
/// datapoints to alarm). Published through the monitor's outbox in the same transaction as the state change. Serving
/// rolls back a deployment still baking on it; the pipeline runner starts the endpoint's retraining pipeline.
/// Consumers act on it idempotently: <paramref name="AlarmId"/> with <paramref name="StateChangeId"/> is unique.
/// </summary>
/// <param name="AlarmId">The alarm's id.</param>
/// <param name="AlarmName">Its name.</param>
/// <param name="StateChangeId">Unique per state change of this alarm (monotonic), so a duplicate or late event changes nothing twice.</param>
/// <param name="Endpoint">The serving endpoint the monitored data came from (null for a dataset monitor).</param>
/// <param name="Variant">The production variant, when the check was per variant.</param>
/// <param name="ModelName">The registered model behind the data, if known.</param>
/// <param name="ModelVersion">Its version (a string of an integer, as MLflow writes it), if known.</param>
/// <param name="Check">The check the metric comes from: data_quality, data_drift, prediction_drift, model_quality, bias, attribution.</param>
/// <param name="Metric">The metric watched, e.g. <c>drift.share_of_drifted_columns</c> or <c>feature.delay.drift_score</c>.</param>
/// <param name="Value">The datapoint that tipped the alarm.</param>
/// <param name="Threshold">The alarm's threshold.</param>
/// <param name="Reason">CloudWatch's StateReason: why the state changed, in words.</param>
/// <param name="MonitoringRunId">The monitoring run whose report holds the evidence.</param>
/// <param name="RaisedAt">When the alarm entered ALARM.</param>
public sealed record MonitorAlarmRaised(string AlarmId, string AlarmName, long StateChangeId, string? Endpoint, string? Variant,
    string? ModelName, string? ModelVersion, string Check, string Metric, double Value, double Threshold, string Reason,
    string? MonitoringRunId, DateTimeOffset RaisedAt);

/// <summary>A monitor alarm left ALARM (back to OK, or INSUFFICIENT_DATA).</summary>
/// <param name="AlarmId">The alarm's id.</param>
/// <param name="AlarmName">Its name.</param>
/// <param name="StateChangeId">Unique per state change of this alarm (monotonic).</param>
/// <param name="Endpoint">The serving endpoint, as in <see cref="MonitorAlarmRaised"/>.</param>
/// <param name="Variant">The production variant, if per variant.</param>
/// <param name="State">The new state: OK or INSUFFICIENT_DATA.</param>
/// <param name="Reason">Why the state changed.</param>
/// <param name="ClearedAt">When.</param>
public sealed record MonitorAlarmCleared(string AlarmId, string AlarmName, long StateChangeId, string? Endpoint, string? Variant,
    string State, string Reason, DateTimeOffset ClearedAt);
