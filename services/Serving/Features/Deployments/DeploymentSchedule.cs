using Mlops.Serving.Features.Endpoints;

namespace Mlops.Serving.Features.Deployments;

/// <summary>Where a deployment goes next: its state, the new configuration's share, and when it acts again (null: never).</summary>
public sealed record DeploymentStep(string State, int NewShare, DateTimeOffset? NextAt, string Note);

/// <summary>
/// The deployment state machine, free of I/O. Limits are SageMaker's BlueGreenUpdatePolicy's: a canary of at most 50 %,
/// linear steps of 10–50 %, waits and the baking period (TerminationWaitInSeconds) of 0–3600 s.
/// </summary>
public static class DeploymentSchedule
{
    public const int MaxWaitSeconds = 3600;

    /// <summary>Everything wrong with a strategy, in words naming the field; empty when it is valid.</summary>
    public static IReadOnlyList<string> Validate(DeploymentStrategy s)
    {
        var problems = new List<string>();
        if (!DeploymentStrategy.Types.Contains(s.Type))
        {
            problems.Add($"deployment.type '{s.Type}' is not one of {string.Join(", ", DeploymentStrategy.Types)}.");
            return problems;
        }
        if (s.Type == DeploymentStrategy.Canary)
        {
            if (s.CanaryPercent is not (>= 1 and <= 50))
                problems.Add("deployment.canary_percent must be between 1 and 50 (SageMaker's limit for a canary).");
            if (s.WaitSeconds is not (>= 0 and <= MaxWaitSeconds))
                problems.Add($"deployment.wait_seconds must be between 0 and {MaxWaitSeconds}.");
        }
        else if (s.CanaryPercent is not null || s.WaitSeconds is not null)
            problems.Add("deployment.canary_percent and wait_seconds apply to the canary strategy only.");
        if (s.Type == DeploymentStrategy.Linear)
        {
            if (s.StepPercent is not (>= 10 and <= 50))
                problems.Add("deployment.step_percent must be between 10 and 50 (SageMaker's limits for a linear step).");
            if (s.IntervalSeconds is not (>= 0 and <= MaxWaitSeconds))
                problems.Add($"deployment.interval_seconds must be between 0 and {MaxWaitSeconds}.");
        }
        else if (s.StepPercent is not null || s.IntervalSeconds is not null)
            problems.Add("deployment.step_percent and interval_seconds apply to the linear strategy only.");
        if (s.BakingSeconds is < 0 or > MaxWaitSeconds)
            problems.Add($"deployment.baking_seconds must be between 0 and {MaxWaitSeconds}.");
        if (s.PromoteAlias is { } alias && !EndpointValidation.IsAlias(alias))
            problems.Add($"deployment.promote_alias '{alias}' is not a valid alias (letters, digits, '_' and '-', at most 255, not 'latest' or v<number>).");
        return problems;
    }

    /// <summary>The first step: the first shift of traffic, taken when the deployment is created.</summary>
    public static DeploymentStep Start(DeploymentStrategy s, DateTimeOffset now)
    {
        var share = s.Type switch
        {
            DeploymentStrategy.Canary => s.CanaryPercent!.Value,
            DeploymentStrategy.Linear => s.StepPercent!.Value,
            _ => 100,
        };
        return Shifted(s, share, now);
    }

    /// <summary>The step after <paramref name="state"/> with <paramref name="share"/> once its wait is over.</summary>
    public static DeploymentStep Advance(DeploymentStrategy s, string state, int share, DateTimeOffset now) => state switch
    {
        DeploymentStates.Shifting => Shifted(s, s.Type == DeploymentStrategy.Linear ? Math.Min(100, share + s.StepPercent!.Value) : 100, now),
        DeploymentStates.Baking => new DeploymentStep(DeploymentStates.Succeeded, 100, null, "baking period over without an alarm"),
        _ => throw new InvalidOperationException($"A deployment in state {state} does not advance."),
    };

    /// <summary>A rollback: all traffic back on the previous configuration, at once.</summary>
    public static DeploymentStep RollBack(string reason) => new(DeploymentStates.RolledBack, 0, null, reason);

    private static DeploymentStep Shifted(DeploymentStrategy s, int share, DateTimeOffset now)
    {
        if (share >= 100)
            return new DeploymentStep(DeploymentStates.Baking, 100, now.AddSeconds(s.BakingSeconds), $"all traffic on the new configuration; baking {s.BakingSeconds} s");
        var wait = s.Type == DeploymentStrategy.Canary ? s.WaitSeconds!.Value : s.IntervalSeconds!.Value;
        return new DeploymentStep(DeploymentStates.Shifting, share, now.AddSeconds(wait), $"{share} % of traffic on the new configuration; next step in {wait} s");
    }
}
