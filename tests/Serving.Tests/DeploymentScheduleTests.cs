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
            step = DeploymentSchedule.Advance(s, step.State, step.NewShare, now);
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
    public void InvalidStrategy_IsNamed(string type, int? canary, int? wait, int? step, int? interval, int baking, string mentions) =>
        Assert.Contains(DeploymentSchedule.Validate(new DeploymentStrategy(type, canary, wait, step, interval, baking)), p => p.Contains(mentions));

    [Fact]
    public void SageMakersLimits_AreAccepted()
    {
        Assert.Empty(DeploymentSchedule.Validate(new DeploymentStrategy("canary", CanaryPercent: 50, WaitSeconds: 3600, BakingSeconds: 3600)));
        Assert.Empty(DeploymentSchedule.Validate(new DeploymentStrategy("linear", StepPercent: 10, IntervalSeconds: 0, PromoteAlias: "champion")));
        Assert.NotEmpty(DeploymentSchedule.Validate(new DeploymentStrategy("all_at_once", PromoteAlias: "v3")));
    }
}
