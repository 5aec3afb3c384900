using System.Text.Json;
using Microsoft.AspNetCore.Http.Metadata;
using Npgsql;

namespace Mlops.ExperimentTracker.Mlflow;

/// <summary>
/// Local to the MLflow API: errors come back in MLflow's format (<c>error_code</c>, <c>message</c>) rather than the
/// platform's ProblemDetails, because MLflow clients parse that format to raise their own exceptions.
/// </summary>
public static class MlflowErrorMiddleware
{
    public const string ApiPrefix = "/api/2.0/mlflow";
    public const string ArtifactsPrefix = "/api/2.0/mlflow-artifacts";

    /// <summary>Answers MLflow clients in MLflow's error format for every failure under <see cref="ApiPrefix"/>.</summary>
    public static IApplicationBuilder UseMlflowErrors(this IApplicationBuilder app) =>
        app.UseWhen(context => context.Request.Path.StartsWithSegments(ApiPrefix) || context.Request.Path.StartsWithSegments(ArtifactsPrefix), branch => branch.Use(async (context, next) =>
        {
            try
            {
                await next(context);
            }
            catch (Exception e) when (Translate(e) is { } error && !context.Response.HasStarted)
            {
                context.Response.Clear();
                context.Response.StatusCode = error.StatusCode;
                if (error.ErrorCode == MlflowException.TemporarilyUnavailable)
                    context.Response.Headers.RetryAfter = DatabaseErrors.RetryAfterSeconds.ToString();
                await context.Response.WriteAsJsonAsync(new MlflowError(error.ErrorCode, error.Message), MlflowJson.Options);
            }
        }));

    /// <summary>An MLflow path this server does not serve (yet) answers as MLflow does, so clients report it clearly.</summary>
    public static IEndpointConventionBuilder MapMlflowFallback(this RouteGroupBuilder mlflow) =>
        mlflow.MapFallback("{**path}", UnknownEndpoint);

    // A body that is not declared JSON does not match a route that accepts JSON, so it lands here: when the path and method
    // are an endpoint's, say what MLflow's server says (400 naming the header) rather than that the endpoint is unknown.
    private static IResult UnknownEndpoint(HttpRequest request, EndpointDataSource endpoints)
    {
        if (!IsJson(request.ContentType) && endpoints.Endpoints.OfType<RouteEndpoint>().Any(e =>
                e.Metadata.GetMetadata<IAcceptsMetadata>() is not null
                && (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods.Contains(request.Method, StringComparer.OrdinalIgnoreCase) ?? false)
                && string.Equals("/" + e.RoutePattern.RawText?.Trim('/'), request.Path.Value?.TrimEnd('/'), StringComparison.OrdinalIgnoreCase)))
            throw MlflowException.Invalid(request.ContentType is null
                ? "Bad Request. Content-Type header is missing."
                : $"Bad Request. Content-Type must be one of ['application/json'], got '{request.ContentType}'.");
        throw new MlflowException(MlflowException.EndpointNotFound, $"No API endpoint found for {request.Method} {request.Path}.");
    }

    private static bool IsJson(string? contentType) =>
        contentType is not null && contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase);

    // Framework binding errors (a query parameter that is not a number) are the caller's too, and so are strings
    // PostgreSQL cannot store (a NUL character): a hostile value is a 400, never a 500. A database that cannot be reached
    // is MLflow's TEMPORARILY_UNAVAILABLE (503), which its clients retry.
    private static MlflowException? Translate(Exception e) => e switch
    {
        MlflowException m => m,
        PostgresException p when DatabaseErrors.IsUnstorableText(p) => MlflowException.Invalid($"A value in the request cannot be stored: {p.MessageText}."),
        _ when DatabaseErrors.IsUnavailable(e) => new MlflowException(MlflowException.TemporarilyUnavailable, DatabaseErrors.UnavailableDetail),
        BadHttpRequestException b when b.StatusCode == StatusCodes.Status413PayloadTooLarge => null,
        BadHttpRequestException b => MlflowException.Invalid(b.InnerException is JsonException j ? $"{b.Message} {j.Message}" : b.Message),
        _ => null,
    };
}

public sealed record MlflowError(string ErrorCode, string Message);
