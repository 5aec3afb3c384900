using System.Text.Json.Nodes;
using Mlops.Contracts;
using Mlops.PipelineRunner.Features.Triggers;

namespace Mlops.PipelineRunner.Tests;

/// <summary>Cron occurrences and the catch-up policy; event filters and parameter mapping.</summary>
public sealed class TriggerTests
{
    private static CronSchedule Parse(string cron, string? zone = null)
    {
        var problems = new List<(string, string)>();
        var schedule = CronSchedule.TryParse(cron, zone, problems);
        Assert.Empty(problems);
        return schedule!;
    }

    private static DateTimeOffset Utc(int h, int m, int s = 0) => new(2026, 3, 10, h, m, s, TimeSpan.Zero);

    [Fact]
    public void Due_IsNull_UntilTheNextOccurrence_ThenThatOccurrence()
    {
        var every5s = Parse("*/5 * * * * *");
        Assert.Null(every5s.Due(Utc(12, 0, 0), Utc(12, 0, 4)));
        Assert.Equal(new DueOccurrence(Utc(12, 0, 5), 0), every5s.Due(Utc(12, 0, 0), Utc(12, 0, 5)));
        // The claimed occurrence is the new "after": the same instant never fires twice.
        Assert.Null(every5s.Due(Utc(12, 0, 5), Utc(12, 0, 9)));
    }

    [Fact]
    public void Due_AfterAnOutage_FiresOnlyTheLatestMissedOccurrence_AndCountsTheSkipped()
    {
        var hourly = Parse("0 * * * *");
        // Last fired 09:00; down until 12:30: 10:00 and 11:00 are skipped, 12:00 fires once.
        Assert.Equal(new DueOccurrence(Utc(12, 0), 2), hourly.Due(Utc(9, 0), Utc(12, 30)));
        Assert.Null(hourly.Due(Utc(12, 0), Utc(12, 59, 59)));
    }

    [Fact]
    public void Occurrences_FollowTheTimeZone_AcrossDaylightSaving()
    {
        // 03:00 in New York is 08:00 UTC in winter and 07:00 UTC after 8 March 2026 (DST).
        var ny = Parse("0 3 * * *", "America/New_York");
        Assert.Equal(new DateTimeOffset(2026, 3, 7, 8, 0, 0, TimeSpan.Zero), ny.Next(new DateTimeOffset(2026, 3, 7, 0, 0, 0, TimeSpan.Zero))!.Value.ToUniversalTime());
        Assert.Equal(new DateTimeOffset(2026, 3, 10, 7, 0, 0, TimeSpan.Zero), ny.Next(Utc(0, 0))!.Value.ToUniversalTime());
        // In UTC, as PostgreSQL's timestamptz takes them (Npgsql refuses another offset).
        Assert.Equal(TimeSpan.Zero, ny.Next(Utc(0, 0))!.Value.Offset);
        Assert.Equal(TimeSpan.Zero, ny.Due(Utc(0, 0), Utc(8, 0))!.Occurrence.Offset);
    }

    [Theory]
    [InlineData("*/5 * * *", null, "cron", "4 fields")]
    [InlineData("61 * * * *", null, "cron", "'61 * * * *' is invalid")]
    [InlineData("", null, "cron", "required")]
    [InlineData("0 3 * * *", "Mars/Olympus_Mons", "time_zone", "'Mars/Olympus_Mons' is not known")]
    public void TryParse_NamesTheFieldAndTheValue(string cron, string? zone, string field, string mentions)
    {
        var problems = new List<(string Field, string Message)>();
        Assert.Null(CronSchedule.TryParse(cron, zone, problems));
        var problem = Assert.Single(problems);
        Assert.Equal(field, problem.Field);
        Assert.Contains(mentions, problem.Message);
    }

    private static readonly FeaturesIngested Ingested = new("flights", 3, 42, 1500, new(2001, 5, 1, 0, 0, 0, TimeSpan.Zero), new(2001, 5, 31, 0, 0, 0, TimeSpan.Zero));

    [Fact]
    public void Map_AWholeReferenceKeepsTheType_AndReferencesInsideTextAreInterpolated()
    {
        var fields = TriggerEvents.Fields(Ingested);
        var mapped = TriggerEvents.Map(new JsonObject
        {
            ["group"] = "${event.group}", ["rows"] = "${event.rows}", ["note"] = "batch ${event.batch_id} of ${event.group}",
            ["fixed"] = 0.7, ["list"] = new JsonArray("${event.version}"),
        }, fields);
        Assert.Equal("flights", (string?)mapped["group"]);
        Assert.Equal(1500, (long)mapped["rows"]!);
        Assert.Equal("batch 42 of flights", (string?)mapped["note"]);
        Assert.Equal(0.7, (double)mapped["fixed"]!);
        Assert.Equal(3, (int)mapped["list"]![0]!);
    }

    [Fact]
    public void Filter_MatchesByFieldValue_AndTheKeyIsTheEventsNaturalIdentity()
    {
        var fields = TriggerEvents.Fields(Ingested);
        Assert.True(TriggerEvents.Matches(new JsonObject { ["group"] = "flights" }, fields));
        Assert.True(TriggerEvents.Matches(new JsonObject { ["group"] = "flights", ["version"] = 3 }, fields));
        Assert.False(TriggerEvents.Matches(new JsonObject { ["group"] = "weather" }, fields));
        Assert.True(TriggerEvents.Matches([], fields));

        var definition = TriggerEvents.Find("FeaturesIngested")!;
        Assert.Same(definition, TriggerEvents.Find("features_ingested"));
        Assert.Equal("flights/3/42", definition.Key(Ingested));
        Assert.Equal("flights/3/42", definition.Key(Ingested with { Rows = 1 })); // the same batch published again
    }

    [Fact]
    public void AlarmStateChanges_AreOrderedPerAlarm_ByTheMonotonicStateChangeId_OtherEventsAreNot()
    {
        var definition = TriggerEvents.Find("monitor_alarm_raised")!;
        var raised = new MonitorAlarmRaised("alarm-1", "drift", 7, "ep", null, "model", "3", "data_drift", "m", 1, 0.5, "drifted", null,
            new(2026, 3, 10, 12, 0, 0, TimeSpan.Zero));
        Assert.Equal(("alarm-1", 7L), definition.Order!(raised));
        // An older state change of the same alarm, raised "later" by its clock: the sequence, not RaisedAt, orders it.
        var older = raised with { StateChangeId = 5, RaisedAt = raised.RaisedAt.AddHours(1) };
        Assert.Equal(("alarm-1", 5L), definition.Order!(older));
        Assert.NotEqual(definition.Key(raised), definition.Key(older)); // a new key: the exact-duplicate claim alone would start it
        Assert.Equal(definition.Key(raised), definition.Key(raised with { Reason = "again" }));

        Assert.Null(TriggerEvents.Find("features_ingested")!.Order);
        Assert.Null(TriggerEvents.Find("model_version_created")!.Order);
    }

    [Fact]
    public void Check_NamesUnknownFieldsAndReferences_WithTheirPaths()
    {
        var definition = TriggerEvents.Find("monitor_alarm_raised")!;
        var problems = TriggerEvents.Check(definition, new JsonObject { ["endpont"] = "e" },
            new JsonObject { ["reason"] = "${event.reason}", ["x"] = "${event.nope}", ["y"] = "${params.a}" });
        Assert.Equal(["$.filter.endpont", "$.parameters.x", "$.parameters.y"], problems.Select(p => p.Path));
        Assert.Contains("endpoint", problems[0].Message); // lists the fields it has
    }
}
