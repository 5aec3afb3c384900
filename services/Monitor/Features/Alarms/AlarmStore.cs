using System.Text.RegularExpressions;
using Mlops.Contracts;
using Mlops.Monitor.Features.Runs;
using Mlops.ServiceDefaults.Messaging;
using Npgsql;

namespace Mlops.Monitor.Features.Alarms;

public sealed class AlarmStore(NpgsqlDataSource db)
{
    private const string Columns = "name, id, metric, endpoint, check_name, threshold, comparison_operator, evaluation_periods, datapoints_to_alarm, " +
                                   "state, state_reason, state_change_seq, state_updated_at, created_at";
    private static readonly Regex NamePattern = new("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", RegexOptions.CultureInvariant);

    private static AlarmRow Map(NpgsqlDataReader r) => new(r.GetString(0), r.GetGuid(1), r.GetString(2), r.GetNullableString(3), r.GetString(4), r.GetDouble(5),
        r.GetString(6), r.GetInt32(7), r.GetInt32(8), r.GetString(9), r.GetString(10), r.GetInt64(11), r.GetFieldValue<DateTimeOffset>(12), r.GetFieldValue<DateTimeOffset>(13));

    /// <summary>Every field's problem at once, each named.</summary>
    public static List<string> Validate(PutAlarmRequest r)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(r.Name) || !NamePattern.IsMatch(r.Name)) errors.Add($"'name' must be 1-128 characters of letters, digits, '.', '_' or '-'; got '{r.Name}'.");
        if (string.IsNullOrWhiteSpace(r.Metric)) errors.Add("'metric' is required (e.g. drift.share_of_drifted_columns).");
        else if (r.Metric.Length > 256) errors.Add($"'metric' may have at most 256 characters; got {r.Metric.Length}.");
        if (r.Endpoint is not null && !NamePattern.IsMatch(r.Endpoint))
            errors.Add("'endpoint' must be 1-128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit.");
        if (r.Threshold is null || !double.IsFinite(r.Threshold.Value)) errors.Add("'threshold' is required and must be a finite number.");
        if (r.ComparisonOperator is null || !AlarmEvaluation.Operators.Contains(r.ComparisonOperator))
            errors.Add($"'comparison_operator' must be one of {string.Join(", ", AlarmEvaluation.Operators)}; got '{r.ComparisonOperator}'.");
        if (r.EvaluationPeriods is not (>= 1 and <= 100)) errors.Add($"'evaluation_periods' must be between 1 and 100; got {r.EvaluationPeriods}.");
        if (r.DatapointsToAlarm is { } m && (m < 1 || m > (r.EvaluationPeriods ?? 1)))
            errors.Add($"'datapoints_to_alarm' must be between 1 and evaluation_periods ({r.EvaluationPeriods}); got {m}.");
        return errors;
    }

    /// <summary>Creates or replaces an alarm (CloudWatch's PutMetricAlarm); a replaced alarm keeps its state and history.</summary>
    public Task<AlarmRow?> PutAsync(PutAlarmRequest r, CancellationToken ct) => db.ReadFirstOrDefaultAsync($"""
        INSERT INTO alarms (name, id, metric, endpoint, check_name, threshold, comparison_operator, evaluation_periods, datapoints_to_alarm)
        VALUES (@name, @id, @metric, @endpoint, @check, @threshold, @op, @n, @m)
        ON CONFLICT (name) DO UPDATE SET metric = excluded.metric, endpoint = excluded.endpoint, check_name = excluded.check_name,
            threshold = excluded.threshold, comparison_operator = excluded.comparison_operator, evaluation_periods = excluded.evaluation_periods,
            datapoints_to_alarm = excluded.datapoints_to_alarm
        RETURNING {Columns}
        """, Map, ct, ("name", r.Name), ("id", Guid.CreateVersion7()), ("metric", r.Metric), ("endpoint", r.Endpoint), ("check", AlarmEvaluation.CheckOf(r.Metric!)),
        ("threshold", r.Threshold), ("op", r.ComparisonOperator), ("n", r.EvaluationPeriods ?? 1), ("m", r.DatapointsToAlarm ?? r.EvaluationPeriods ?? 1));

    public Task<AlarmRow?> FindAsync(string name, CancellationToken ct) =>
        db.ReadFirstOrDefaultAsync($"SELECT {Columns} FROM alarms WHERE name = @name", Map, ct, ("name", name));

    public Task<List<AlarmRow>> ListAsync(CancellationToken ct) => db.ReadAllAsync($"SELECT {Columns} FROM alarms ORDER BY name", Map, ct);

    public Task<int> DeleteAsync(string name, CancellationToken ct) => db.ExecuteAsync("DELETE FROM alarms WHERE name = @name", ct, ("name", name));

    public Task<List<AlarmHistoryItem>> HistoryAsync(string name, CancellationToken ct) => db.ReadAllAsync(
        "SELECT state_change_id, old_state, new_state, reason, run_id, value, at FROM alarm_history WHERE alarm_name = @name ORDER BY state_change_id",
        r => new AlarmHistoryItem(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.IsDBNull(4) ? null : r.GetGuid(4),
            r.IsDBNull(5) ? null : r.GetDouble(5), r.GetFieldValue<DateTimeOffset>(6)), ct, ("name", name));

    /// <summary>
    /// Re-evaluates every alarm watching the run's endpoint inside the run's completion transaction; each state change is
    /// recorded in the history and, entering or leaving ALARM, published through the outbox in that same transaction.
    /// </summary>
    /// <param name="naming">The variant and model version an event names, for the variant a metric belongs to
    /// (<see cref="RunExecutor.VariantOfMetric"/>: a <c>variant.&lt;name&gt;.</c> metric's, else the run's).</param>
    public static async Task EvaluateAsync(NpgsqlTransaction tx, RunRow run, Func<string?, RunExecutor.Naming> naming, CancellationToken ct)
    {
        var alarms = await tx.Connection!.ReadAllAsync($"SELECT {Columns} FROM alarms WHERE endpoint IS NULL OR endpoint = @endpoint ORDER BY name FOR UPDATE",
            [new NpgsqlParameter("endpoint", (object?)run.Endpoint ?? DBNull.Value)], Map, ct, tx);
        foreach (var alarm in alarms)
        {
            var latest = await tx.Connection!.ReadAllAsync("""
                SELECT m.value FROM runs r LEFT JOIN metrics m ON m.run_id = r.id AND m.metric = @metric
                WHERE r.status = 'completed' AND (@endpoint::text IS NULL OR r.endpoint = @endpoint)
                ORDER BY r.seq DESC LIMIT @n
                """, [new NpgsqlParameter("metric", alarm.Metric), new NpgsqlParameter("endpoint", (object?)alarm.Endpoint ?? DBNull.Value),
                    new NpgsqlParameter("n", alarm.EvaluationPeriods)], r => r.IsDBNull(0) ? (double?)null : r.GetDouble(0), ct, tx);
            var (state, reason, value) = AlarmEvaluation.Evaluate(alarm, latest);
            if (state == alarm.State) continue;
            var seq = alarm.StateChangeSeq + 1;
            var who = naming(RunExecutor.VariantOfMetric(alarm.Metric, run.Variant));
            var now = DateTimeOffset.UtcNow;
            await tx.ExecuteAsync("UPDATE alarms SET state = @state, state_reason = @reason, state_change_seq = @seq, state_updated_at = @now WHERE name = @name", ct,
                ("state", state), ("reason", reason), ("seq", seq), ("now", now), ("name", alarm.Name));
            await tx.ExecuteAsync("""
                INSERT INTO alarm_history (alarm_name, state_change_id, old_state, new_state, reason, run_id, value, at)
                VALUES (@name, @seq, @old, @new, @reason, @run, @value, @now)
                """, ct, ("name", alarm.Name), ("seq", seq), ("old", alarm.State), ("new", state), ("reason", reason), ("run", run.Id), ("value", value), ("now", now));
            if (state == AlarmStates.Alarm)
                await tx.EnqueueAsync(new MonitorAlarmRaised(alarm.Id.ToString(), alarm.Name, seq, run.Endpoint, who.Variant, who.ModelName, who.ModelVersion,
                    alarm.Check, alarm.Metric, value ?? double.NaN, alarm.Threshold, reason, run.Id.ToString(), now), ct);
            else if (alarm.State == AlarmStates.Alarm)
                await tx.EnqueueAsync(new MonitorAlarmCleared(alarm.Id.ToString(), alarm.Name, seq, run.Endpoint, who.Variant, state, reason, now), ct);
        }
    }
}
