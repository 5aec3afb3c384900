using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Mlops.Serving.Features.Deployments;
using Mlops.Serving.Features.Routing;
using Mlops.ServiceDefaults.Idempotency;
using Npgsql;

namespace Mlops.Serving.Features.Endpoints;

/// <summary>Endpoints under <c>/api/endpoints</c>: create, describe, list, update (a new configuration rolled out by a deployment), delete.</summary>
public static class EndpointEndpoints
{
    public static RouteGroupBuilder MapEndpointEndpoints(this RouteGroupBuilder api)
    {
        var endpoints = api.MapGroup("/endpoints").WithTags("Endpoints");
        endpoints.MapPost("/", Create).ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        endpoints.MapGet("/", List);
        endpoints.MapGet("/{name}", Describe).ProducesProblem(StatusCodes.Status404NotFound);
        endpoints.MapPut("/{name}", Update).ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        endpoints.MapDelete("/{name}", Delete).ProducesProblem(StatusCodes.Status404NotFound);
        endpoints.MapGet("/{name}/configs/{version:int}", GetConfig).ProducesProblem(StatusCodes.Status404NotFound);
        return endpoints;
    }

    /// <summary>Creates an endpoint serving its first configuration at once (every model loaded and warmed up first).</summary>
    internal static async Task<Created<EndpointResponse>> Create(CreateEndpointRequest request, EndpointChanges changes, RoutingTable routes,
        CancellationToken ct)
    {
        var snapshot = await changes.CreateAsync(request, ct);
        var route = await routes.LoadAsync(snapshot.Endpoint.Name, ct);
        return TypedResults.Created($"/api/endpoints/{snapshot.Endpoint.Name}", ToResponse(snapshot, route));
    }

    internal static async Task<Ok<EndpointList>> List(NpgsqlDataSource db, RoutingTable routes, CancellationToken ct)
    {
        var list = new List<EndpointResponse>();
        foreach (var name in await EndpointStore.ListNamesAsync(db, ct))
            if (await EndpointStore.LoadAsync(db, name, ct) is { } snapshot)
                list.Add(ToResponse(snapshot, routes.Find(name)));
        return TypedResults.Ok(new EndpointList(list));
    }

    internal static async Task<Results<Ok<EndpointResponse>, ProblemHttpResult>> Describe(string name, NpgsqlDataSource db, RoutingTable routes,
        CancellationToken ct) =>
        await EndpointStore.LoadAsync(db, name, ct) is { } snapshot ? TypedResults.Ok(ToResponse(snapshot, routes.Find(name))) : Missing(name);

    /// <summary>
    /// A new configuration for the endpoint, rolled out by the given strategy; answers the deployment (202: it runs on).
    /// With an <c>Idempotency-Key</c> header a repeat of the same request answers the deployment it started (202, same id).
    /// </summary>
    internal static async Task<Accepted<DeploymentResponse>> Update(string name, UpdateEndpointRequest request,
        [FromHeader(Name = IdempotencyKey.Header)] string? idempotencyKey, EndpointChanges changes, RoutingTable routes, CancellationToken ct)
    {
        var deployment = await changes.UpdateAsync(name, request, ct, IdempotencyKey.Read(idempotencyKey));
        await routes.LoadAsync(name, ct);
        return TypedResults.Accepted($"/api/endpoints/{name}/deployments/{deployment.DeploymentId}", deployment);
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> Delete(string name, EndpointChanges changes, RoutingTable routes, CancellationToken ct)
    {
        if (!await changes.DeleteAsync(name, ct))
            return Missing(name);
        await routes.LoadAsync(name, ct);
        return TypedResults.NoContent();
    }

    internal static async Task<Results<Ok<EndpointConfig>, ProblemHttpResult>> GetConfig(string name, int version, NpgsqlDataSource db, CancellationToken ct) =>
        await EndpointStore.LoadConfigAsync(db, name, version, ct) is { } config
            ? TypedResults.Ok(config)
            : TypedResults.Problem($"Endpoint '{name}' has no configuration {version}.", statusCode: StatusCodes.Status404NotFound, title: "Not found");

    /// <summary>The stored state, with the traffic split this replica serves (from its routing table, when loaded).</summary>
    internal static EndpointResponse ToResponse(EndpointSnapshot s, EndpointRoute? route) => new(
        s.Endpoint.Name, s.Endpoint.ConfigVersion, s.Current.Variants, s.Current.DataCapture,
        route is null ? [] : TrafficRouter.Shares(route), s.Active, s.Endpoint.CreatedAt, s.Endpoint.UpdatedAt);

    internal static ProblemHttpResult Missing(string name) =>
        TypedResults.Problem($"Endpoint '{name}' does not exist.", statusCode: StatusCodes.Status404NotFound, title: "Not found");
}
