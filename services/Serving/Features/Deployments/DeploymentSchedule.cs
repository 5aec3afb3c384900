using Mlops.Serving.Features.Endpoints;

namespace Mlops.Serving.Features.Deployments;

/// <summary>
/// Where a deployment goes next: its state, the new configuration's share, when it acts again (null: never), and why.
/// <see cref="Recorded"/> false: nothing happened (blue/green still waiting for its fleet), so only the next time is stored.
/// </summary>
public sealed record DeploymentStep(string State, int NewShare, DateTimeOffset? NextAt, string Note, bool Recorded = true);

/// <summary>What the engine knows when a deployment is due: its state and share, when it started, and whether every replica has the new configuration loaded.</summary>
public sealed record DeploymentProgress(string State, int NewShare, DateTimeOffset StartedAt, bool NewFleetWarm = true, int ColdReplicas = 0);

/// <summary>
/// The deployment state machine, free of I/O. Limits are SageMaker's: BlueGreenUpdatePolicy's canary of at most 50 %,
/// linear steps of 10–50 %, waits and the baking period (TerminationWaitInSeconds) of 0–3600 s, a maximum execution
/// timeout of 600–14400 s that must exceed the waits it covers; shadow variants' sampling of 1–100 %.
/// </summary>
public static class DeploymentSchedule
{
    public const int MaxWaitSeconds = 3600;
    public const int MinExecutionSeconds = 600;
    public const int MaxExecutionSeconds = 14_400;

    /// <summary>How often a blue/green or shadow deployment checks whether its new fleet is loaded everywhere.</summary>
    public static readonly TimeSpan ProvisioningPoll = TimeSpan.FromMilliseconds(250);

    /// <summary>Everything wrong with a strategy, in words naming the field; empty when it is valid.</summary>
    public static IReadOnlyList<string> Validate(DeploymentStrategy s)
    {
        var problems = new List<string>();
        if (!DeploymentStrategy.Types.Contains(s.Type))
        {
            problems.Add($"deployment.type '{s.Type}' is not one of {string.Join(", ", DeploymentStrategy.Types)}.");
            return problems;
        }
        var waits = s.Type is DeploymentStrategy.Canary or DeploymentStrategy.Shadow;
        if (s.Type == DeploymentStrategy.Canary && s.CanaryPercent is not (>= 1 and <= 50))
            problems.Add("deployment.canary_percent must be between 1 and 50 (SageMaker's limit for a canary).");
        if (s.Type != DeploymentStrategy.Canary && s.CanaryPercent is not null)
            problems.Add("deployment.canary_percent applies to the canary strategy only.");
        if (waits && s.WaitSeconds is not (>= 0 and <= MaxWaitSeconds))
            problems.Add($"deployment.wait_seconds must be between 0 and {MaxWaitSeconds}.");
        if (!waits && s.WaitSeconds is not null)
            problems.Add("deployment.wait_seconds applies to the canary and shadow strategies only.");
        if (s.Type == DeploymentStrategy.Shadow && s.ShadowPercent is not (>= 1 and <= 100))
            problems.Add("deployment.shadow_percent must be between 1 and 100 (the share of requests mirrored to the shadow variants).");
        if (s.Type != DeploymentStrategy.Shadow && s.ShadowPercent is not null)
            problems.Add("deployment.shadow_percent applies to the shadow strategy only.");
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
        if (s.MaxExecutionSeconds is { } max)
        {
            if (max is < MinExecutionSeconds or > MaxExecutionSeconds)
                problems.Add($"deployment.max_execution_seconds must be between {MinExecutionSeconds} and {MaxExecutionSeconds} (SageMaker's MaximumExecutionTimeoutInSeconds).");
            else if (problems.Count == 0 && PlannedSeconds(s) is var planned && max <= planned)
                problems.Add($"deployment.max_execution_seconds {max} must exceed the {planned} s the strategy waits (its waits or intervals and baking_seconds).");
        }
        if (s.PromoteAlias is { } alias && !EndpointValidation.IsAlias(alias))
            problems.Add($"deployment.promote_alias '{alias}' is not a valid alias (letters, digits, '_' and '-', at most 255, not 'latest' or v<number>).");
        if (s.Alarms is { } a)
        {
            if (a.MaxErrorRate is { } rate && !(rate is >= 0 and <= 1))
                problems.Add("deployment.alarms.max_error_rate must be between 0 and 1 (1 turns the error-rate alarm off).");
            if (a.MaxP99Ms is { } p99 && !(p99 is > 0 and <= 600_000))
                problems.Add("deployment.alarms.max_p99_ms must be more than 0 and at most 600000.");
            if (a.WindowSeconds is not null and not (>= 1 and <= DeploymentAlarms.MaxWindowSeconds))
                problems.Add($"deployment.alarms.window_seconds must be between 1 and {DeploymentAlarms.MaxWindowSeconds}.");
            if (a.MinRequests is not null and not (>= 1 and <= 1_000_000))
                problems.Add("deployment.alarms.min_requests must be between 1 and 1000000.");
        }
        return problems;
    }

    /// <summary>
    /// The problems of a strategy against the configuration it replaces: shadow variants need names of their own, since
    /// their capture goes under their name and a target variant must never reach them.
    /// </summary>
    public static IReadOnlyList<string> ValidateAgainst(DeploymentStrategy s, IReadOnlyList<Variant> current, IReadOnlyList<VariantRequest> next)
    {
        if (s.Type != DeploymentStrategy.Shadow)
            return [];
        var live = current.Select(v => v.Name).ToHashSet(StringComparer.Ordinal);
        return [.. next.Select((v, i) => (v, i)).Where(x => x.v?.Name is { } n && live.Contains(n)).Select(x =>
            $"variants[{x.i}].name '{x.v.Name}' is a variant of the current configuration; a shadow variant needs a name of its own (its capture goes under it).")];
    }

    /// <summary>The seconds a strategy waits from its first shift to its end, when nothing goes wrong.</summary>
    public static int PlannedSeconds(DeploymentStrategy s) => s.BakingSeconds + s.Type switch
    {
        DeploymentStrategy.Canary or DeploymentStrategy.Shadow => s.WaitSeconds ?? 0,
        DeploymentStrategy.Linear => ((100 + s.StepPercent!.Value - 1) / s.StepPercent.Value - 1) * s.IntervalSeconds!.Value,
        _ => 0,
    };

    /// <summary>The first step, taken when the deployment is created.</summary>
    public static DeploymentStep Start(DeploymentStrategy s, DateTimeOffset now) => Within(s, now, s.Type switch
    {
        DeploymentStrategy.Canary => Shifted(s, s.CanaryPercent!.Value, now),
        DeploymentStrategy.Linear => Shifted(s, s.StepPercent!.Value, now),
        // Nothing routes to the new fleet until every replica reports it loaded; the engine checks at once.
        DeploymentStrategy.BlueGreen => new DeploymentStep(DeploymentStates.Provisioning, 0, now,
            "new fleet provisioning: traffic switches once every replica has it loaded"),
        // Mirroring starts once every replica has the shadow variants loaded, so every request in the sample is mirrored
        // and the wait counts mirrored time only.
        DeploymentStrategy.Shadow => new DeploymentStep(DeploymentStates.Provisioning, 0, now,
            "shadow variants provisioning: mirroring starts once every replica has them loaded"),
        _ => Shifted(s, 100, now),
    });

    /// <summary>The step after <paramref name="p"/> once its wait is over (or its deadline has passed).</summary>
    public static DeploymentStep Advance(DeploymentStrategy s, DeploymentProgress p, DateTimeOffset now)
    {
        if (s.MaxExecutionSeconds is { } max && now >= p.StartedAt.AddSeconds(max))
            return RollBack($"maximum execution timeout of {max} s reached while {p.State}");
        return Within(s, p.StartedAt, p.State switch
        {
            DeploymentStates.Provisioning when !p.NewFleetWarm => new DeploymentStep(DeploymentStates.Provisioning, 0, now + ProvisioningPoll,
                $"waiting for {p.ColdReplicas} replica(s) to load the new fleet", Recorded: false),
            DeploymentStates.Provisioning when s.Type == DeploymentStrategy.Shadow => new DeploymentStep(DeploymentStates.Shadowing, 0,
                now.AddSeconds(s.WaitSeconds!.Value),
                $"shadow variants loaded on every replica; {s.ShadowPercent} % of requests mirrored to them for {s.WaitSeconds} s, their answers captured, never returned"),
            DeploymentStates.Provisioning => Shifted(s, 100, now, "new fleet loaded on every replica; all traffic switched"),
            DeploymentStates.Shadowing => Shifted(s, 100, now, "shadow period over without an alarm; all traffic switched"),
            DeploymentStates.Shifting => Shifted(s, s.Type == DeploymentStrategy.Linear ? Math.Min(100, p.NewShare + s.StepPercent!.Value) : 100, now),
            DeploymentStates.Baking => new DeploymentStep(DeploymentStates.Succeeded, 100, null, "baking period over without an alarm"),
            _ => throw new InvalidOperationException($"A deployment in state {p.State} does not advance."),
        });
    }

    /// <summary>A rollback: all traffic back on the previous configuration, at once.</summary>
    public static DeploymentStep RollBack(string reason) => new(DeploymentStates.RolledBack, 0, null, reason);

    private static DeploymentStep Shifted(DeploymentStrategy s, int share, DateTimeOffset now, string? why = null)
    {
        if (share >= 100)
            return new DeploymentStep(DeploymentStates.Baking, 100, now.AddSeconds(s.BakingSeconds),
                $"{why ?? "all traffic on the new configuration"}; baking {s.BakingSeconds} s");
        var wait = s.Type == DeploymentStrategy.Canary ? s.WaitSeconds!.Value : s.IntervalSeconds!.Value;
        return new DeploymentStep(DeploymentStates.Shifting, share, now.AddSeconds(wait), $"{share} % of traffic on the new configuration; next step in {wait} s");
    }

    // A deployment in progress is due again no later than its deadline, when the timeout rolls it back.
    private static DeploymentStep Within(DeploymentStrategy s, DateTimeOffset startedAt, DeploymentStep step) =>
        s.MaxExecutionSeconds is { } max && step.NextAt is { } next && next > startedAt.AddSeconds(max)
            ? step with { NextAt = startedAt.AddSeconds(max) }
            : step;
}
