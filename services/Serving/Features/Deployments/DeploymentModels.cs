using Mlops.Serving.Features.Endpoints;

namespace Mlops.Serving.Features.Deployments;

/// <summary>
/// The states of a deployment. In progress: provisioning (blue/green: the new fleet loading on every replica, no traffic),
/// shadowing (a share of requests mirrored, no answers), shifting, baking. Final: succeeded, rolled_back.
/// </summary>
public static class DeploymentStates
{
    public const string Provisioning = "provisioning";
    public const string Shadowing = "shadowing";
    public const string Shifting = "shifting";
    public const string Baking = "baking";
    public const string Succeeded = "succeeded";
    public const string RolledBack = "rolled_back";

    /// <summary>The SQL condition for a deployment in progress (the partial indexes of migration 0002 use the same list).</summary>
    public const string InProgressSql = "state IN ('provisioning', 'shadowing', 'shifting', 'baking')";

    public static bool InProgress(string state) => state is Provisioning or Shadowing or Shifting or Baking;
}

/// <summary>One step a deployment took: when, into which state, the new configuration's share of traffic after it, and why.</summary>
public sealed record DeploymentEvent(DateTimeOffset At, string State, int NewShare, string Note);

/// <summary>
/// A rollout of configuration <see cref="ToVersion"/> over <see cref="FromVersion"/> (null for an endpoint's first
/// configuration). <see cref="NewShare"/>: percent of requests on the new configuration now; <see cref="NextAt"/>: when it
/// takes its next step.
/// </summary>
public sealed record DeploymentResponse(string DeploymentId, string Endpoint, int? FromVersion, int ToVersion, DeploymentStrategy Strategy,
    string State, int NewShare, DateTimeOffset? NextAt, string? Reason, IReadOnlyList<DeploymentEvent> History, DateTimeOffset StartedAt,
    DateTimeOffset UpdatedAt, DateTimeOffset? FinishedAt);

public sealed record DeploymentList(IReadOnlyList<DeploymentResponse> Deployments);

/// <summary>A manual rollback: why (recorded in the deployment's history).</summary>
public sealed record RollbackRequest(string? Reason);
