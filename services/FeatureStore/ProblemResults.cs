using Microsoft.AspNetCore.Http.HttpResults;

namespace Mlops.FeatureStore;

/// <summary>
/// Problems a handler finds itself, returned as typed results (so its <c>Results&lt;…&gt;</c> names them), worded as the
/// <see cref="ProblemException"/> raised for the same problems deeper down.
/// </summary>
public static class ProblemResults
{
    public static ProblemHttpResult NotFound(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status404NotFound, title: "Not found");

    public static ProblemHttpResult Conflict(string detail, IReadOnlyList<string>? reasons = null) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status409Conflict, title: "Conflict",
            extensions: reasons is null ? null : new Dictionary<string, object?> { ["reasons"] = reasons });

    public static ProblemHttpResult UnsupportedMediaType(string detail, IReadOnlyList<string> accepted) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status415UnsupportedMediaType, title: "Unsupported media type",
            extensions: new Dictionary<string, object?> { ["accepted_types"] = accepted });
}
