using System.Collections.Concurrent;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Mlops.Serving.Features.Alarms;
using Mlops.Serving.Features.Deployments;
using Mlops.Serving.Features.Endpoints;
using Mlops.Serving.Features.Models;
using Mlops.ServiceDefaults.Data;
using Npgsql;

namespace Mlops.Serving.Features.Routing;

/// <summary>
/// The endpoints this replica routes, kept in step with PostgreSQL: when a change is notified (LISTEN, the moment it
/// commits) and at least every few hundred milliseconds it compares each endpoint's revision and reloads the ones that
/// changed. A new route replaces the old one only once every model it names is loaded and warmed up, so a swap never fails a request (requests in flight keep the route they started with).
/// Every replica does the same, which is how they share configuration and deployment state.
/// </summary>
public sealed class RoutingTable(NpgsqlDataSource db, ModelCache models, BuiltInAlarms alarms, ReplicaRegistry replicas, IOptions<ServingOptions> options,
    TimeProvider clock, ILogger<RoutingTable> logger) : BackgroundService, IHealthCheck
{
    private readonly ConcurrentDictionary<string, EndpointRoute> _routes = new(StringComparer.Ordinal);
    private volatile bool _synced;

    public EndpointRoute? Find(string name) => _routes.GetValueOrDefault(name);

    // Names looked up in PostgreSQL and not found, with when (Environment.TickCount64): a flood of requests for an unknown
    // endpoint costs one query per refresh interval, not one per request.
    private readonly ConcurrentDictionary<string, long> _missing = new(StringComparer.Ordinal);

    /// <summary>
    /// The route of an endpoint this replica does not know yet (created on another replica since the last refresh) is
    /// loaded on the request that asks for it, so a new endpoint answers on every replica at once, not after a refresh.
    /// </summary>
    public async ValueTask<EndpointRoute?> FindOrLoadAsync(string name, CancellationToken ct)
    {
        if (Find(name) is { } known)
            return known;
        var now = Environment.TickCount64;
        if (_missing.TryGetValue(name, out var at) && now - at < options.Value.RefreshMilliseconds)
            return null;
        var loaded = await LoadAsync(name, ct);
        if (loaded is null)
        {
            if (_missing.Count > 10_000)
                _missing.Clear();
            _missing[name] = now;
        }
        return loaded;
    }

    /// <summary>Every route this replica serves now.</summary>
    public ICollection<EndpointRoute> Routes => _routes.Values;

    // Released by a change notification (any endpoint): the loop refreshes at once instead of at the end of its interval.
    private readonly SemaphoreSlim _changed = new(0, 1);

    private void Changed()
    {
        try
        {
            _changed.Release();
        }
        catch (SemaphoreFullException)
        {
            // A refresh is already due.
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromMilliseconds(options.Value.RefreshMilliseconds);
        var listening = Notifications.ListenAsync(db, EndpointStore.NotifyChannel, _ => Changed(), logger, stoppingToken);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RefreshAsync(stoppingToken);
                _synced = true;
                await replicas.ReportAsync(Warm(), clock.GetUtcNow(), stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(e, "Refreshing the routing table failed; serving the routes last loaded");
            }
            try
            {
                await _changed.WaitAsync(interval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
            }
        }
        await listening;
        await replicas.LeaveAsync();
    }

    /// <summary>The configurations whose every model this replica has loaded, per endpoint (what blue/green waits for).</summary>
    public Dictionary<string, int[]> Warm() => _routes.Values.ToDictionary(r => r.Name, r => r.All.Where(v => v.Model is not null)
        .GroupBy(v => v.ConfigVersion).Select(g => g.Key).ToArray(), StringComparer.Ordinal);

    /// <summary>Reloads every endpoint whose revision changed and drops deleted ones.</summary>
    public async Task RefreshAsync(CancellationToken ct)
    {
        var revisions = await EndpointStore.ListRevisionsAsync(db, ct);
        foreach (var (name, revision) in revisions)
        {
            if (_routes.TryGetValue(name, out var known) && known.Revision == revision)
                continue;
            try
            {
                await LoadAsync(name, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Endpoint {Endpoint} revision {Revision} could not be loaded; its previous route stays", name, revision);
            }
        }
        var live = revisions.Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in _routes.Keys.Where(n => !live.Contains(n)))
            _routes.TryRemove(name, out _);
        alarms.Retain((endpoint, config) => _routes.TryGetValue(endpoint, out var route) && route.All.Any(v => v.ConfigVersion == config));
    }

    /// <summary>Loads one endpoint now (the write path calls it so the replica that made a change serves it at once).</summary>
    public async Task<EndpointRoute?> LoadAsync(string name, CancellationToken ct)
    {
        var snapshot = await EndpointStore.LoadAsync(db, name, ct);
        if (snapshot is null)
        {
            _routes.TryRemove(name, out _);
            return null;
        }
        var current = await LiveAsync(snapshot.Current, measured: false, ct);
        // The new configuration is loaded once it takes traffic, and before: blue/green loads it everywhere before the
        // switch (that is what it waits for), shadow variants take mirrored requests.
        var next = snapshot.Next is { } n && snapshot.Active is { } active
            && (active.NewShare > 0 || active.State is DeploymentStates.Provisioning or DeploymentStates.Shadowing)
            ? await LiveAsync(n, measured: true, ct)
            : null;
        var route = new EndpointRoute(name, snapshot.Endpoint.Revision, current, next, snapshot.Active?.NewShare ?? 0,
            (snapshot.Next ?? snapshot.Current).DataCapture, snapshot.Active?.DeploymentId, snapshot.Active?.State, snapshot.Active?.Strategy);
        // Never go back to an older revision that a slower concurrent load produced.
        _routes.AddOrUpdate(name, route, (_, existing) => existing.Revision > route.Revision ? existing : route);
        return route;
    }

    // The new configuration's variants are measured for the built-in alarms; the current one's are not watched.
    private async Task<List<LiveVariant>> LiveAsync(EndpointConfig config, bool measured, CancellationToken ct)
    {
        var live = new List<LiveVariant>();
        foreach (var v in config.Variants)
            live.Add(new LiveVariant(v, config.Version, await models.GetAsync(v.ModelName, v.ModelVersion, ct),
                measured ? alarms.For(config.Endpoint, config.Version, v.Name) : null));
        return live;
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(_synced ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy("The endpoints have not been loaded yet."));
}
