using Microsoft.Extensions.Options;
using Mlops.Contracts;
using Mlops.ExperimentTracker.Client;
using Mlops.Serving.Features.Deployments;
using Mlops.Serving.Features.Models;
using Mlops.ServiceDefaults.Idempotency;
using Mlops.ServiceDefaults.Messaging;
using Npgsql;

namespace Mlops.Serving.Features.Endpoints;

/// <summary>
/// The write path for endpoints. A configuration is validated, its aliases resolved and every model loaded and warmed up
/// before anything is stored: a version whose package does not load changes nothing. State changes and their events
/// (ModelDeployed, ModelRetired) commit in one transaction through the outbox.
/// </summary>
public sealed class EndpointChanges(NpgsqlDataSource db, TrackingClient tracker, ModelCache models, IOptions<ServingOptions> options, TimeProvider clock)
{
    public async Task<EndpointSnapshot> CreateAsync(CreateEndpointRequest request, CancellationToken ct)
    {
        EndpointValidation.RequireName(request.Name, "name");
        EndpointValidation.ThrowIfAny([.. EndpointValidation.Validate(request.Variants), .. EndpointValidation.Validate(request.DataCapture)]);
        var name = request.Name!;
        if (await EndpointStore.LoadAsync(db, name, ct) is not null)
            throw ProblemException.Conflict($"Endpoint '{name}' already exists; update it with PUT /api/endpoints/{name}.");
        var variants = await ResolveAsync(request.Variants!, ct);

        var now = clock.GetUtcNow();
        var deploymentId = NewDeploymentId();
        var config = new EndpointConfig(name, 1, variants, request.DataCapture ?? DataCaptureConfig.Off, deploymentId, now);
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        try
        {
            await transaction.ExecuteAsync("INSERT INTO endpoints (name, config_version) VALUES (@name, 1)", ct, ("name", name));
        }
        catch (PostgresException e) when (e.IsUniqueViolation())
        {
            throw ProblemException.Conflict($"Endpoint '{name}' already exists; update it with PUT /api/endpoints/{name}.");
        }
        await EndpointStore.InsertConfigAsync(transaction, config, ct);
        var note = "endpoint created: all traffic on configuration 1";
        await EndpointStore.InsertDeploymentAsync(transaction, new DeploymentResponse(deploymentId, name, null, 1, DeploymentStrategy.Immediate,
            DeploymentStates.Succeeded, 100, null, note, [new DeploymentEvent(now, DeploymentStates.Succeeded, 100, note)], now, now, now), ct);
        await PublishDeployedAsync(transaction, config, options.Value.Environment, now, ct);
        await transaction.CommitAsync(ct);
        return (await EndpointStore.LoadAsync(db, name, ct))!;
    }

    /// <summary>
    /// Stores a new configuration and starts its deployment; 409 while another deployment of the endpoint is in progress.
    /// With an <paramref name="idempotencyKey"/>, a repeat of the same request answers the deployment the key started
    /// (whatever its state) instead of starting another; the key with another endpoint or request → 409.
    /// </summary>
    public async Task<DeploymentResponse> UpdateAsync(string name, UpdateEndpointRequest request, CancellationToken ct, string? idempotencyKey = null)
    {
        // The key first: a repeat is answered its deployment even while that deployment is the one in progress.
        var requestHash = idempotencyKey is null ? null : IdempotencyKey.Hash($"{name}\n{ServingJson.Serialize(request)}");
        if (idempotencyKey is not null && Repeated(name, idempotencyKey, requestHash!, await EndpointStore.FindByIdempotencyKeyAsync(db, idempotencyKey, ct)) is { } earlier)
            return earlier;
        var strategy = request.Deployment ?? DeploymentStrategy.Immediate;
        EndpointValidation.ThrowIfAny([.. EndpointValidation.Validate(request.Variants), .. EndpointValidation.Validate(request.DataCapture),
            .. DeploymentSchedule.Validate(strategy)]);
        var existing = await EndpointStore.LoadAsync(db, name, ct) ?? throw ProblemException.NotFound($"Endpoint '{name}' does not exist.");
        if (existing.Active is { } running)
            throw ProblemException.Conflict($"Endpoint '{name}' has deployment {running.DeploymentId} in progress ({running.State}); wait for it or roll it back.");
        EndpointValidation.ThrowIfAny(DeploymentSchedule.ValidateAgainst(strategy, existing.Current.Variants, request.Variants!));
        var variants = await ResolveAsync(request.Variants!, ct);

        var now = clock.GetUtcNow();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        var endpoint = await EndpointStore.LockEndpointAsync(transaction, name, ct) ?? throw ProblemException.NotFound($"Endpoint '{name}' does not exist.");
        // A concurrent repeat that won the endpoint's lock first.
        if (idempotencyKey is not null
            && Repeated(name, idempotencyKey, requestHash!, await EndpointStore.FindByIdempotencyKeyAsync(transaction, idempotencyKey, ct)) is { } repeated)
            return repeated;
        if (await EndpointStore.LockActiveAsync(transaction, name, ct) is { } active)
            throw ProblemException.Conflict($"Endpoint '{name}' has deployment {active.DeploymentId} in progress ({active.State}); wait for it or roll it back.");

        var deploymentId = NewDeploymentId();
        var version = await EndpointStore.NextConfigVersionAsync(transaction, name, ct);
        var config = new EndpointConfig(name, version, variants, request.DataCapture ?? existing.Current.DataCapture, deploymentId, now);
        await EndpointStore.InsertConfigAsync(transaction, config, ct);
        var step = DeploymentSchedule.Start(strategy, now);
        var deployment = new DeploymentResponse(deploymentId, name, endpoint.ConfigVersion, version, strategy, step.State, step.NewShare, step.NextAt,
            null, [new DeploymentEvent(now, step.State, step.NewShare, step.Note)], now, now, null);
        try
        {
            await EndpointStore.InsertDeploymentAsync(transaction, deployment, ct, idempotencyKey, requestHash);
        }
        catch (PostgresException e) when (e.IsUniqueViolation() && idempotencyKey is not null)
        {
            // Changes to one endpoint are serialized by its lock: the key was taken meanwhile by an update of another endpoint.
            throw IdempotencyKey.Reused(idempotencyKey, "a deployment of another endpoint", "the same endpoint and body");
        }
        await EndpointStore.TouchEndpointAsync(transaction, name, null, ct);
        // A configuration is deployed when it takes traffic: now, unless it starts with none (blue/green or shadow
        // provisioning, shadowing), in which case the deployment engine publishes it at the step that gives it a share.
        if (step.NewShare > 0)
            await PublishDeployedAsync(transaction, config, options.Value.Environment, now, ct);
        await transaction.CommitAsync(ct);
        return deployment;
    }

    /// <summary>Deletes the endpoint, its configurations and deployments; every model it served is retired.</summary>
    public async Task<bool> DeleteAsync(string name, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        if (await EndpointStore.LockEndpointAsync(transaction, name, ct) is not { } endpoint)
            return false;
        var live = new List<EndpointConfig>();
        if (await EndpointStore.LoadConfigAsync(transaction, name, endpoint.ConfigVersion, ct) is { } current)
            live.Add(current);
        if (await EndpointStore.LockActiveAsync(transaction, name, ct) is { } active && await EndpointStore.LoadConfigAsync(transaction, name, active.ToVersion, ct) is { } next)
            live.Add(next);
        await transaction.ExecuteAsync($"DELETE FROM endpoints WHERE name = @name; {EndpointStore.NotifySql}", ct, ("name", name));
        foreach (var config in live)
            await PublishRetiredAsync(transaction, config, now, ct);
        await transaction.CommitAsync(ct);
        return true;
    }

    /// <summary>Resolves aliases to versions and loads every model (404 for an unknown model or version, 400 for a package that does not load).</summary>
    private async Task<List<Variant>> ResolveAsync(IReadOnlyList<VariantRequest> requested, CancellationToken ct)
    {
        var variants = new List<Variant>();
        foreach (var v in requested)
        {
            var version = v.ModelVersion;
            if (v.Alias is { } alias)
            {
                version = (await RegistryErrors.CallAsync($"Alias '{alias}' of model '{v.ModelName}'",
                    () => tracker.GetModelVersionByAliasAsync(v.ModelName!, alias, ct))).Version;
            }
            await models.GetAsync(v.ModelName!, version!, ct);
            variants.Add(new Variant(v.Name!, v.ModelName!, version!, v.Alias, v.Weight ?? 1));
        }
        return variants;
    }

    internal static async Task PublishDeployedAsync(NpgsqlTransaction transaction, EndpointConfig config, string environment, DateTimeOffset at,
        CancellationToken ct)
    {
        foreach (var v in config.Variants)
            await transaction.EnqueueAsync(new ModelDeployed(LineageId(config, v), config.Endpoint, v.ModelName, v.ModelVersion, environment, at), ct);
    }

    internal static async Task PublishRetiredAsync(NpgsqlTransaction transaction, EndpointConfig config, DateTimeOffset at, CancellationToken ct)
    {
        foreach (var v in config.Variants)
            await transaction.EnqueueAsync(new ModelRetired(LineageId(config, v), at), ct);
    }

    /// <summary>The id a variant's ModelDeployed/ModelRetired carry: the deployment that put it live, and the variant.</summary>
    public static string LineageId(EndpointConfig config, Variant variant) => $"{config.DeploymentId}:{variant.Name}";

    /// <summary>The deployment an idempotency key started, if the request is the same; 409 naming it if it is not.</summary>
    private static DeploymentResponse? Repeated(string name, string key, string requestHash, (DeploymentResponse Deployment, string? RequestHash)? found) =>
        found is not { } earlier ? null
        : earlier.Deployment.Endpoint == name && earlier.RequestHash == requestHash ? earlier.Deployment
        : throw IdempotencyKey.Reused(key, $"deployment {earlier.Deployment.DeploymentId} of endpoint '{earlier.Deployment.Endpoint}'", "the same endpoint and body");

    private static string NewDeploymentId() => $"dep-{Guid.CreateVersion7():N}";
}
