using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Npgsql;

namespace Mlops.ServiceDefaults.Errors;

/// <summary>
/// The one exception-to-problem mapper of every service: a <see cref="ProblemException"/> raised where a request is refused
/// becomes its ProblemDetails; request errors the framework raises (malformed JSON, an oversized body, a bad parameter) and
/// text PostgreSQL cannot store (a NUL) become 400/413 naming the problem; a database that cannot be reached is a 503 with
/// Retry-After; anything else stays a 500 without internals. (The tracker's MLflow routes answer in MLflow's format instead.)
/// </summary>
internal sealed class ProblemDetailsExceptionHandler(IProblemDetailsService problems) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (httpContext.Response.HasStarted)
            return false;
        var (status, title, detail) = exception switch
        {
            ProblemException e => (e.Status, e.Title, e.Message),
            BadHttpRequestException e => (e.StatusCode, "Bad request", Describe(e)),
            JsonException e => (StatusCodes.Status400BadRequest, "Malformed JSON", e.Message),
            PostgresException e when DatabaseErrors.IsUnstorableText(e) => (StatusCodes.Status400BadRequest, "Invalid text", $"A value in the request cannot be stored: {e.MessageText}."),
            _ when DatabaseErrors.IsUnavailable(exception) => (StatusCodes.Status503ServiceUnavailable, "Service unavailable", DatabaseErrors.UnavailableDetail),
            _ => (StatusCodes.Status500InternalServerError, "Unexpected error", "The server failed to process the request; see its logs with the trace id."),
        };
        httpContext.Response.StatusCode = status;
        if (status == StatusCodes.Status503ServiceUnavailable)
            httpContext.Response.Headers.RetryAfter = DatabaseErrors.RetryAfterSeconds.ToString();
        var problem = new ProblemDetails { Status = status, Title = title, Detail = detail };
        if (exception is ProblemException { Extensions: { } extensions })
            foreach (var (key, value) in extensions)
                problem.Extensions[key] = value;
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = httpContext, Exception = exception, ProblemDetails = problem });
    }


    /// <summary>Every 413, however the framework produced it, states the limit.</summary>
    internal static void Explain(ProblemDetailsContext context)
    {
        if (context.ProblemDetails.Status == StatusCodes.Status413PayloadTooLarge)
        {
            context.ProblemDetails.Title = "Request body too large";
            context.ProblemDetails.Detail ??= $"The request body exceeds the limit of {MaxBody(context.HttpContext)} bytes.";
        }
        // Routing refuses a body whose Content-Type no endpoint of the route accepts before any handler runs; say what to send.
        if (context.ProblemDetails.Status == StatusCodes.Status415UnsupportedMediaType && context.ProblemDetails.Detail is null)
            context.ProblemDetails.Detail = $"This operation does not accept Content-Type '{context.HttpContext.Request.ContentType ?? "(none)"}'; "
                + "JSON operations take 'application/json' (see the operation in the service's OpenAPI document).";
    }

    // The framework's message says which parameter failed; the inner JSON error says where in the body.
    private static string Describe(BadHttpRequestException e) =>
        e.InnerException is JsonException json ? $"{e.Message} {json.Message}" : e.Message;

    private static string MaxBody(HttpContext context) =>
        context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize?.ToString() ?? "configured";
}
