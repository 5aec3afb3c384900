using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace Mlops.ServiceDefaults.Errors;

/// <summary>
/// The one exception-to-problem mapper: request errors the framework raises (malformed JSON, an oversized body, a bad
/// parameter) become 400/413 ProblemDetails naming the problem; anything else stays a 500 without internals.
/// </summary>
internal sealed class ProblemDetailsExceptionHandler(IProblemDetailsService problems) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        var (status, title, detail) = exception switch
        {
            BadHttpRequestException e => (e.StatusCode, "Bad request", Describe(e)),
            JsonException e => (StatusCodes.Status400BadRequest, "Malformed JSON", e.Message),
            _ => (StatusCodes.Status500InternalServerError, "Unexpected error", "The server failed to process the request; see its logs with the trace id."),
        };
        httpContext.Response.StatusCode = status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            Exception = exception,
            ProblemDetails = new ProblemDetails { Status = status, Title = title, Detail = detail },
        });
    }

    /// <summary>Every 413, however the framework produced it, states the limit.</summary>
    internal static void Explain(ProblemDetailsContext context)
    {
        if (context.ProblemDetails.Status == StatusCodes.Status413PayloadTooLarge)
        {
            context.ProblemDetails.Title = "Request body too large";
            context.ProblemDetails.Detail ??= $"The request body exceeds the limit of {MaxBody(context.HttpContext)} bytes.";
        }
    }

    // The framework's message says which parameter failed; the inner JSON error says where in the body.
    private static string Describe(BadHttpRequestException e) =>
        e.InnerException is JsonException json ? $"{e.Message} {json.Message}" : e.Message;

    private static string MaxBody(HttpContext context) =>
        context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize?.ToString() ?? "configured";
}
