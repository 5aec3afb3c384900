using System.Text.Json;

namespace Mlops.FeatureStore;

/// <summary>
/// A request the service refuses, raised where the reason is found (deep in ingestion or a join) and written as
/// ProblemDetails by <see cref="ProblemMiddleware"/>. Extensions carry the detail lists (problems with row and field).
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
}

public static class ProblemMiddleware
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
    };

    /// <summary>Turns <see cref="ProblemException"/> into its ProblemDetails response; call after the platform's endpoints.</summary>
    public static WebApplication UseFeatureStoreProblems(this WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            try
            {
                await next(context);
            }
            catch (ProblemException e) when (!context.Response.HasStarted)
            {
                context.Response.Clear();
                await TypedResults.Problem(e.Message, statusCode: e.Status, title: e.Title, extensions: e.Extensions).ExecuteAsync(context);
            }
        });
        return app;
    }
}
