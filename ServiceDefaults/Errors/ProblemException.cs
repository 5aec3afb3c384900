using Microsoft.AspNetCore.Http;

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
}
