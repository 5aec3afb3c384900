using Mlops.Serving.Features.Deployments;
using Mlops.Serving.Features.Endpoints;

namespace Mlops.Serving.Tests;

public sealed class DeploymentScheduleTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);

    /// <summary>Runs a strategy to its end: the share after every step and the seconds waited before each.</summary>
    private static List<(string State, int Share, double Wait)> Run(DeploymentStrategy s)
    {
        var steps = new List<(string, int, double)>();
        var now = T0;
        var step = DeploymentSchedule.Start(s, now);
        steps.Add((step.State, step.NewShare, 0));
        while (DeploymentStates.InProgress(step.State))
        {
            var wait = (step.NextAt!.Value - now).TotalSeconds;
            now = step.NextAt.Value;
            step = DeploymentSchedule.Advance(s, new DeploymentProgress(step.State, step.NewShare, T0), now);
            steps.Add((step.State, step.NewShare, wait));
        }
        return steps;
    }

    [Fact]
    public void AllAtOnce_ShiftsEverythingThenBakes() =>
        Assert.Equal([("baking", 100, 0), ("succeeded", 100, 600)], Run(new DeploymentStrategy("all_at_once", BakingSeconds: 600)));

    [Fact]
    public void Canary_HoldsTheCanaryForTheWaitThenShiftsTheRest() =>
        Assert.Equal([("shifting", 10, 0), ("baking", 100, 300), ("succeeded", 100, 60)],
            Run(new DeploymentStrategy("canary", CanaryPercent: 10, WaitSeconds: 300, BakingSeconds: 60)));

    [Fact]
    public void Linear_StepsByTheStepPercentEveryInterval_TheLastStepCapped() =>
        Assert.Equal([("shifting", 30, 0), ("shifting", 60, 20), ("shifting", 90, 20), ("baking", 100, 20), ("succeeded", 100, 0)],
            Run(new DeploymentStrategy("linear", StepPercent: 30, IntervalSeconds: 20)));

    [Fact]
    public void RollBack_PutsAllTrafficBackAndEnds()
    {
        var step = DeploymentSchedule.RollBack("alarm");
        Assert.Equal((DeploymentStates.RolledBack, 0, (DateTimeOffset?)null), (step.State, step.NewShare, step.NextAt));
        Assert.False(DeploymentStates.InProgress(step.State));
    }

    [Theory]
    [InlineData("blue", null, null, null, null, 0, "type 'blue'")]
    [InlineData("canary", 51, 10, null, null, 0, "canary_percent")]
    [InlineData("canary", 0, 10, null, null, 0, "canary_percent")]
    [InlineData("canary", 10, null, null, null, 0, "wait_seconds")]
    [InlineData("canary", 10, 3601, null, null, 0, "wait_seconds")]
    [InlineData("linear", null, null, 5, 10, 0, "step_percent")]
    [InlineData("linear", null, null, 60, 10, 0, "step_percent")]
    [InlineData("linear", null, null, 20, -1, 0, "interval_seconds")]
    [InlineData("all_at_once", 10, null, null, null, 0, "canary strategy only")]
    [InlineData("all_at_once", null, null, null, null, 4000, "baking_seconds")]
    [InlineData("blue_green", null, 10, null, null, 0, "canary and shadow strategies only")]
    [InlineData("blue_green", 10, null, null, null, 0, "canary strategy only")]
    [InlineData("shadow", null, null, null, null, 0, "wait_seconds")]
    public void InvalidStrategy_IsNamed(string type, int? canary, int? wait, int? step, int? interval, int baking, string mentions) =>
        Assert.Contains(DeploymentSchedule.Validate(new DeploymentStrategy(type, canary, wait, step, interval, baking)), p => p.Contains(mentions));

    [Fact]
    public void SageMakersLimits_AreAccepted()
    {
        Assert.Empty(DeploymentSchedule.Validate(new DeploymentStrategy("canary", CanaryPercent: 50, WaitSeconds: 3600, BakingSeconds: 3600)));
        Assert.Empty(DeploymentSchedule.Validate(new DeploymentStrategy("linear", StepPercent: 10, IntervalSeconds: 0, PromoteAlias: "champion")));
        Assert.NotEmpty(DeploymentSchedule.Validate(new DeploymentStrategy("all_at_once", PromoteAlias: "v3")));
    }

    [Fact]
    public void BlueGreen_WaitsUnrecordedUntilTheFleetIsWarm_ThenSwitchesEverythingAndBakes()
    {
        var s = new DeploymentStrategy("blue_green", BakingSeconds: 120);
        var start = DeploymentSchedule.Start(s, T0);
        Assert.Equal((DeploymentStates.Provisioning, 0, (DateTimeOffset?)T0), (start.State, start.NewShare, start.NextAt));

        var waiting = DeploymentSchedule.Advance(s, new DeploymentProgress(start.State, 0, T0, NewFleetWarm: false, ColdReplicas: 1), T0);
        Assert.False(waiting.Recorded);
        Assert.Equal((DeploymentStates.Provisioning, 0), (waiting.State, waiting.NewShare));
        Assert.Equal(T0 + DeploymentSchedule.ProvisioningPoll, waiting.NextAt);
        Assert.Contains("1 replica", waiting.Note);

        var switched = DeploymentSchedule.Advance(s, new DeploymentProgress(start.State, 0, T0, NewFleetWarm: true), T0.AddSeconds(1));
        Assert.True(switched.Recorded);
        Assert.Equal((DeploymentStates.Baking, 100, (DateTimeOffset?)T0.AddSeconds(121)), (switched.State, switched.NewShare, switched.NextAt));
    }

    [Fact]
    public void Shadow_ProvisionsEverywhere_MirrorsForTheWaitWithoutAnyShare_ThenSwitchesAndBakes() =>
        Assert.Equal([("provisioning", 0, 0), ("shadowing", 0, 0), ("baking", 100, 300), ("succeeded", 100, 30)],
            Run(new DeploymentStrategy("shadow", WaitSeconds: 300, BakingSeconds: 30, ShadowPercent: 25)));

    [Fact]
    public void Shadow_MirrorsNothingUntilEveryReplicaHasTheShadowVariants_AndItsWaitStartsThen()
    {
        var s = new DeploymentStrategy("shadow", WaitSeconds: 300, ShadowPercent: 25);
        var start = DeploymentSchedule.Start(s, T0);
        Assert.Equal((DeploymentStates.Provisioning, 0, (DateTimeOffset?)T0), (start.State, start.NewShare, start.NextAt));
        var waiting = DeploymentSchedule.Advance(s, new DeploymentProgress(start.State, 0, T0, NewFleetWarm: false, ColdReplicas: 2), T0.AddSeconds(5));
        Assert.False(waiting.Recorded);
        Assert.Contains("2 replica", waiting.Note);
        var mirroring = DeploymentSchedule.Advance(s, new DeploymentProgress(start.State, 0, T0, NewFleetWarm: true), T0.AddSeconds(8));
        Assert.Equal((DeploymentStates.Shadowing, 0, (DateTimeOffset?)T0.AddSeconds(308)), (mirroring.State, mirroring.NewShare, mirroring.NextAt));
        Assert.Contains("25 % of requests mirrored", mirroring.Note);
    }

    [Fact]
    public void MaxExecutionTimeout_BoundsEveryWait_AndRollsBackWhenReached()
    {
        var s = new DeploymentStrategy("blue_green", BakingSeconds: 60, MaxExecutionSeconds: 600);
        var waiting = DeploymentSchedule.Advance(s, new DeploymentProgress(DeploymentStates.Provisioning, 0, T0, NewFleetWarm: false), T0.AddSeconds(599.9));
        Assert.Equal(T0.AddSeconds(600), waiting.NextAt);
        var timedOut = DeploymentSchedule.Advance(s, new DeploymentProgress(DeploymentStates.Provisioning, 0, T0, NewFleetWarm: false), T0.AddSeconds(600));
        Assert.Equal((DeploymentStates.RolledBack, 0), (timedOut.State, timedOut.NewShare));
        Assert.Contains("maximum execution timeout of 600 s", timedOut.Note);
        // Baking ends before the deadline as planned; a late engine still rolls back at the deadline.
        Assert.Equal(DeploymentStates.RolledBack, DeploymentSchedule.Advance(s, new DeploymentProgress(DeploymentStates.Baking, 100, T0), T0.AddSeconds(700)).State);
    }

    [Theory]
    [InlineData("canary", 10, 300, null, null, 200, 599, "between 600 and 14400")]
    [InlineData("canary", 10, 300, null, null, 200, 14401, "between 600 and 14400")]
    [InlineData("canary", 10, 3600, null, null, 0, 3600, "must exceed the 3600 s")]
    [InlineData("linear", null, null, 10, 600, 300, 5700, "must exceed the 5700 s")]
    public void MaxExecutionTimeout_IsWithinSageMakersLimits_AndExceedsThePlannedWaits(string type, int? canary, int? wait, int? step, int? interval, int baking,
        int max, string mentions) =>
        Assert.Contains(DeploymentSchedule.Validate(new DeploymentStrategy(type, canary, wait, step, interval, baking, MaxExecutionSeconds: max)),
            p => p.Contains("deployment.max_execution_seconds") && p.Contains(mentions));

    [Fact]
    public void PlannedSeconds_CountsEveryWait() =>
        Assert.Equal([60, 400, 9 * 20 + 5, 400], new[]
        {
            new DeploymentStrategy("blue_green", BakingSeconds: 60),
            new DeploymentStrategy("canary", CanaryPercent: 5, WaitSeconds: 300, BakingSeconds: 100),
            new DeploymentStrategy("linear", StepPercent: 10, IntervalSeconds: 20, BakingSeconds: 5),
            new DeploymentStrategy("shadow", WaitSeconds: 300, BakingSeconds: 100, ShadowPercent: 10),
        }.Select(DeploymentSchedule.PlannedSeconds));

    [Theory]
    [InlineData(0)]
    [InlineData(101)]
    public void Shadow_PercentOutsideOneToHundred_IsNamed(int percent) =>
        Assert.Contains(DeploymentSchedule.Validate(new DeploymentStrategy("shadow", WaitSeconds: 10, ShadowPercent: percent)),
            p => p.Contains("deployment.shadow_percent"));

    [Fact]
    public void ShadowPercent_OnAnotherStrategy_IsNamed() =>
        Assert.Contains(DeploymentSchedule.Validate(new DeploymentStrategy("canary", CanaryPercent: 10, WaitSeconds: 10, ShadowPercent: 10)),
            p => p.Contains("shadow_percent applies to the shadow strategy only"));

    [Fact]
    public void Alarms_OutOfRange_AreNamedField_ByField()
    {
        var problems = DeploymentSchedule.Validate(new DeploymentStrategy("all_at_once",
            Alarms: new DeploymentAlarms(MaxErrorRate: 1.5, MaxP99Ms: 0, WindowSeconds: 301, MinRequests: 0)));
        Assert.Equal(4, problems.Count);
        Assert.All(["max_error_rate", "max_p99_ms", "window_seconds", "min_requests"], f => Assert.Contains(problems, p => p.Contains($"deployment.alarms.{f}")));
        Assert.Empty(DeploymentSchedule.Validate(new DeploymentStrategy("all_at_once", Alarms: new DeploymentAlarms(MaxP99Ms: 25, WindowSeconds: 5))));
    }

    [Fact]
    public void ShadowVariants_NeedNamesOfTheirOwn()
    {
        var current = new[] { new Variant("primary", "m", "1", null, 1) };
        var problems = DeploymentSchedule.ValidateAgainst(new DeploymentStrategy("shadow", WaitSeconds: 10, ShadowPercent: 50), current,
            [new VariantRequest("shadow", "m", "2", null, 1), new VariantRequest("primary", "m", "2", null, 1)]);
        Assert.Equal(["variants[1].name 'primary' is a variant of the current configuration; a shadow variant needs a name of its own (its capture goes under it)."], problems);
        Assert.Empty(DeploymentSchedule.ValidateAgainst(new DeploymentStrategy("blue_green"), current, [new VariantRequest("primary", "m", "2", null, 1)]));
    }

    [Fact]
    public void EffectiveAlarms_FillUnsetFieldsWithTheDefaults()
    {
        Assert.Equal(DeploymentAlarms.Defaults, new DeploymentStrategy("all_at_once").EffectiveAlarms);
        Assert.Equal(new DeploymentAlarms(0.05, 12.5, 30, 20), new DeploymentStrategy("all_at_once", Alarms: new DeploymentAlarms(MaxP99Ms: 12.5)).EffectiveAlarms);
    }
}
