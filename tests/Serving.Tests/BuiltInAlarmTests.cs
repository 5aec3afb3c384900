using Mlops.Serving.Features.Alarms;
using Mlops.Serving.Features.Endpoints;

namespace Mlops.Serving.Tests;

public sealed class BuiltInAlarmTests
{
    private sealed class ManualTime(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Window_CountsRequestsAndErrors_OverTheLastSeconds_AndForgetsOlderOnes()
    {
        var time = new ManualTime(T0);
        var window = new VariantWindow(time);
        for (var i = 0; i < 10; i++)
            window.Record(1, failed: i < 3);
        time.Now = T0.AddSeconds(5);
        for (var i = 0; i < 10; i++)
            window.Record(1, failed: false);
        Assert.Equal(new WindowStats(20, 3, window.Read(10).P99Ms), window.Read(10));
        Assert.Equal(10, window.Read(5).Requests);
        // 301 s later the ring has come round: the old slots are cleared before they count again.
        time.Now = T0.AddSeconds(5 + 301);
        window.Record(1, failed: true);
        Assert.Equal(new WindowStats(1, 1, null), window.Read(300));
    }

    [Fact]
    public void Window_P99_IsTheBucketBoundOfThe99thPercentile_Within9Percent()
    {
        var window = new VariantWindow(new ManualTime(T0));
        for (var i = 0; i < 990; i++)
            window.Record(0.5, failed: false);
        for (var i = 0; i < 10; i++)
            window.Record(80, failed: false);
        Assert.InRange(window.Read(30).P99Ms!.Value, 0.5, 0.5 * 1.0906);
        window.Record(80, failed: false);
        Assert.InRange(window.Read(30).P99Ms!.Value, 80, 80 * 1.0906);
    }

    [Fact]
    public void Bucket_IsMonotonic_AndEachValueLiesBelowItsBound()
    {
        var previous = 0;
        foreach (var ms in new[] { 0.0005, 0.001, 0.002, 0.01, 0.3, 1, 2.5, 40, 1000, 60_000, 1e9 })
        {
            var bucket = VariantWindow.Bucket(ms);
            Assert.True(bucket >= previous, $"{ms} ms");
            if (ms is >= 0.001 and < 60_000)
                Assert.True(ms <= VariantWindow.UpperBound(bucket), $"{ms} ms above its bucket's bound {VariantWindow.UpperBound(bucket)}");
            previous = bucket;
        }
    }

    [Fact]
    public void Breach_NeedsMinRequests_ThenComparesErrorRateAndP99()
    {
        var alarms = new DeploymentAlarms(MaxErrorRate: 0.1, MaxP99Ms: 20, WindowSeconds: 30, MinRequests: 10);
        Assert.Null(BuiltInAlarms.Breach(alarms, "v", new WindowStats(9, 9, null)));
        Assert.Contains("error rate 0.5 > 0.1", BuiltInAlarms.Breach(alarms, "v", new WindowStats(10, 5, 1)));
        Assert.Null(BuiltInAlarms.Breach(alarms, "v", new WindowStats(10, 1, 19.9)));
        Assert.Contains("p99 latency 25 ms", BuiltInAlarms.Breach(alarms, "v", new WindowStats(10, 0, 25)));
        // Defaults: 5 % errors from 20 requests; no latency alarm unless asked for.
        var defaults = new DeploymentStrategy("all_at_once").EffectiveAlarms;
        Assert.Null(BuiltInAlarms.Breach(defaults, "v", new WindowStats(100, 5, 10_000)));
        Assert.NotNull(BuiltInAlarms.Breach(defaults, "v", new WindowStats(100, 6, 1)));
        Assert.Null(BuiltInAlarms.Breach(defaults with { MaxErrorRate = 1 }, "v", new WindowStats(100, 100, null)));
    }

    [Fact]
    public void Windows_AreKeptPerConfigurationAndVariant_UntilNoRouteServesThem()
    {
        var alarms = new BuiltInAlarms(new ManualTime(T0));
        var window = alarms.For("ep", 2, "a");
        Assert.Same(window, alarms.For("ep", 2, "a"));
        Assert.NotSame(window, alarms.For("ep", 3, "a"));
        alarms.Retain((endpoint, config) => config == 3);
        Assert.NotSame(window, alarms.For("ep", 2, "a"));
    }
}
