using Microsoft.AspNetCore.Http.HttpResults;
using Mlops.Serving.Features.Endpoints;
using Mlops.Serving.Features.Inference;
using Mlops.Serving.Features.Routing;
using Npgsql;

namespace Mlops.Serving.Features.Deployments;

/// <summary>Deployments under <c>/api/endpoints/{name}/deployments</c>: list, describe, roll back.</summary>
public static class DeploymentEndpoints
{
    public static RouteGroupBuilder MapDeploymentEndpoints(this RouteGroupBuilder api)
    {
        var deployments = api.MapGroup("/endpoints/{name}/deployments").WithTags("Deployments");
        deployments.MapGet("/", List).ProducesProblem(StatusCodes.Status404NotFound);
        deployments.MapGet("/{id}", Get).ProducesProblem(StatusCodes.Status404NotFound);
        deployments.MapPost("/{id}/rollback", RollBack).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);
        // This replica's shadow traffic: mirrored requests scored, failed, dropped, queued.
        api.MapGet("/shadow", (ShadowMirror mirror) => TypedResults.Ok(mirror.Status)).WithTags("Deployments");
        return deployments;
    }

    internal static async Task<Results<Ok<DeploymentList>, ProblemHttpResult>> List(string name, NpgsqlDataSource db, CancellationToken ct) =>
        await EndpointStore.LoadAsync(db, name, ct) is null
            ? EndpointEndpoints.Missing(name)
            : TypedResults.Ok(new DeploymentList(await EndpointStore.ListDeploymentsAsync(db, name, ct)));

    internal static async Task<Results<Ok<DeploymentResponse>, ProblemHttpResult>> Get(string name, string id, NpgsqlDataSource db, CancellationToken ct) =>
        await EndpointStore.LoadDeploymentAsync(db, name, id, ct) is { } deployment ? TypedResults.Ok(deployment) : MissingDeployment(name, id);

    /// <summary>Rolls a deployment in progress back: all traffic returns to the previous configuration at once.</summary>
    internal static async Task<Results<Ok<DeploymentResponse>, ProblemHttpResult>> RollBack(string name, string id, RollbackRequest? request,
        NpgsqlDataSource db, DeploymentEngine engine, RoutingTable routes, CancellationToken ct)
    {
        if (await EndpointStore.LoadDeploymentAsync(db, name, id, ct) is not { } deployment)
            return MissingDeployment(name, id);
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        var rolledBack = await engine.RollBackAsync(transaction, name, id, $"manual rollback: {request?.Reason ?? "no reason given"}", ct);
        if (rolledBack is null)
            return TypedResults.Problem($"Deployment {id} of '{name}' is {deployment.State}, not in progress; there is nothing to roll back.",
                statusCode: StatusCodes.Status409Conflict, title: "Conflict");
        await transaction.CommitAsync(ct);
        await routes.LoadAsync(name, ct);
        return TypedResults.Ok((await EndpointStore.LoadDeploymentAsync(db, name, id, ct))!);
    }

    private static ProblemHttpResult MissingDeployment(string name, string id) =>
        TypedResults.Problem($"Endpoint '{name}' has no deployment '{id}'.", statusCode: StatusCodes.Status404NotFound, title: "Not found");
}
