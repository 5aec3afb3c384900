using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Mlops.ServiceDefaults.Errors;

/// <summary>
/// A request the service refuses, raised where the reason is found (deep in ingestion or a join) and written as
/// ProblemDetails by the platform's one exception handler. Extensions carry detail lists (problems with row and field).
/// Handlers that can return their error directly should do so with <c>TypedResults</c>, so the OpenAPI document shows it.
/// </summary>
public sealed class ProblemException(int status, string title, string detail, IDictionary<string, object?>? extensions = null)
    : Exception(detail)
{
    public int Status { get; } = status;
    public string Title { get; } = title;
    public IDictionary<string, object?>? Extensions { get; } = extensions;

    public static ProblemException NotFound(string detail) => new(StatusCodes.Status404NotFound, "Not found", detail);
    public static ProblemException Conflict(string detail, IReadOnlyList<string>? reasons = null) =>
        new(StatusCodes.Status409Conflict, "Conflict", detail, reasons is null ? null : new Dictionary<string, object?> { ["reasons"] = reasons });
    public static ProblemException BadRequest(string detail, IDictionary<string, object?>? extensions = null) =>
        new(StatusCodes.Status400BadRequest, "Invalid request", detail, extensions);
    public static ProblemException TooLarge(string detail) => new(StatusCodes.Status413PayloadTooLarge, "Request too large", detail);
    public static ProblemException UnsupportedMediaType(string detail, IReadOnlyList<string> accepted) =>
        new(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type", detail,
            new Dictionary<string, object?> { ["accepted_types"] = accepted });

    /// <summary>The same problem as a typed result, for handlers that return it (so their <c>Results&lt;…&gt;</c> names it).</summary>
    public ProblemHttpResult ToResult() => TypedResults.Problem(Message, statusCode: Status, title: Title, extensions: Extensions);
}

/// <summary>
/// Problems a handler finds itself, as typed results worded exactly as the <see cref="ProblemException"/> raised for the
/// same problem deeper down.
/// </summary>
public static class Problems
{
    public static ProblemHttpResult NotFound(string detail) => ProblemException.NotFound(detail).ToResult();
    public static ProblemHttpResult Conflict(string detail, IReadOnlyList<string>? reasons = null) => ProblemException.Conflict(detail, reasons).ToResult();
    public static ProblemHttpResult BadRequest(string detail, IDictionary<string, object?>? extensions = null) =>
        ProblemException.BadRequest(detail, extensions).ToResult();
    public static ProblemHttpResult UnsupportedMediaType(string detail, IReadOnlyList<string> accepted) =>
        ProblemException.UnsupportedMediaType(detail, accepted).ToResult();
}
