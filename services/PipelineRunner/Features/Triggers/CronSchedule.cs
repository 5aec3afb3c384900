using Cronos;

namespace Mlops.PipelineRunner.Features.Triggers;

/// <summary>An occurrence due now: the latest one after the last claimed, and how many earlier ones were missed.</summary>
public sealed record DueOccurrence(DateTimeOffset Occurrence, int Skipped);

/// <summary>
/// A cron expression in a time zone (Cronos): five fields (minute precision) or six (seconds first), IANA or Windows zone
/// ids, daylight-saving transitions as Cronos handles them (a skipped local time fires at the transition, a repeated one
/// once).
/// <para>
/// Catch-up policy: when occurrences were missed (no runner was up), only the latest of them fires, once; the earlier ones
/// are counted as skipped and never fire. A pipeline run per missed minute after an outage would be a burst of stale
/// work, while none at all would leave a daily job undone until tomorrow.
/// </para>
/// </summary>
public sealed class CronSchedule
{
    /// <summary>Skipped occurrences are counted up to this many (a seconds cron after a long outage).</summary>
    public const int SkipCountLimit = 100_000;

    private readonly CronExpression _expression;

    private CronSchedule(string cron, CronExpression expression, TimeZoneInfo zone)
    {
        Cron = cron;
        _expression = expression;
        Zone = zone;
    }

    public string Cron { get; }
    public TimeZoneInfo Zone { get; }

    /// <summary>Parses <paramref name="cron"/> and <paramref name="timeZone"/> (default UTC); problems are (field, message).</summary>
    public static CronSchedule? TryParse(string? cron, string? timeZone, List<(string Field, string Message)> problems)
    {
        var expression = (CronExpression?)null;
        var text = cron?.Trim() ?? "";
        var fields = text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
        if (text.Length == 0)
            problems.Add(("cron", "A cron expression is required, e.g. '0 3 * * *' (03:00 daily) or '*/5 * * * * *' (every 5 seconds)."));
        else if (fields is not (5 or 6))
            problems.Add(("cron", $"Cron expression '{text}' has {fields} fields: give 5 (minute hour day-of-month month day-of-week) or 6 (seconds first)."));
        else
        {
            try
            {
                expression = CronExpression.Parse(text, fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);
            }
            catch (CronFormatException e)
            {
                problems.Add(("cron", $"Cron expression '{text}' is invalid: {e.Message}"));
            }
        }

        TimeZoneInfo? zone = TimeZoneInfo.Utc;
        if (!string.IsNullOrWhiteSpace(timeZone))
        {
            try
            {
                zone = TimeZoneInfo.FindSystemTimeZoneById(timeZone.Trim());
            }
            catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
            {
                zone = null;
                problems.Add(("time_zone", $"Time zone '{timeZone}' is not known: give an IANA id such as 'Europe/Paris' or 'UTC'."));
            }
        }

        return expression is not null && zone is not null ? new CronSchedule(text, expression, zone) : null;
    }

    /// <summary>The next occurrence strictly after <paramref name="after"/>, in UTC (what PostgreSQL's timestamptz takes).</summary>
    public DateTimeOffset? Next(DateTimeOffset after) => _expression.GetNextOccurrence(after, Zone, inclusive: false)?.ToUniversalTime();

    /// <summary>
    /// The occurrence to fire at <paramref name="now"/>: the latest one in (<paramref name="after"/>, <paramref name="now"/>],
    /// with the number of earlier ones in that interval (skipped by the catch-up policy); null when none is due. In UTC.
    /// </summary>
    public DueOccurrence? Due(DateTimeOffset after, DateTimeOffset now)
    {
        if (now <= after || _expression.GetPreviousOccurrence(now, Zone, inclusive: true) is not { } latest || latest <= after)
            return null;
        var skipped = _expression.GetOccurrences(after, latest, Zone, fromInclusive: false, toInclusive: false).Take(SkipCountLimit).Count();
        return new DueOccurrence(latest.ToUniversalTime(), skipped);
    }
}
