using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Mlops.Serving.Features.Routing;

namespace Mlops.Serving.Features.Inference;

/// <summary>MLflow's answer: one prediction per row, each with its inference id and the variant that served it.</summary>
public sealed record MlflowPredictions(IReadOnlyList<ScoredRow> Predictions);

/// <summary>
/// MLflow's scoring protocol at <c>POST /endpoints/{name}/invocations</c>: JSON (dataframe_split, dataframe_records,
/// instances, inputs) or CSV; <c>?explain=true</c> adds each row's feature contributions. Headers: <c>X-Target-Variant</c>,
/// <c>X-Sticky-Key</c>, <c>X-Inference-Id</c> (request id);
/// the answer names the variant in <c>X-Invoked-Variant</c> too.
/// </summary>
public static class InvocationEndpoints
{
    public const string TargetVariantHeader = "X-Target-Variant";
    public const string StickyKeyHeader = "X-Sticky-Key";
    public const string InferenceIdHeader = "X-Inference-Id";
    public const string InvokedVariantHeader = "X-Invoked-Variant";
    public static readonly string[] ContentTypes = ["application/json", "text/csv"];

    public static IEndpointRouteBuilder MapInvocationEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/endpoints/{name}/invocations", Invoke).WithTags("Inference")
            .Accepts<JsonElement>("application/json", "text/csv")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge).ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
        return app;
    }

    internal static async Task<Ok<MlflowPredictions>> Invoke(string name, HttpContext http, Invoker invoker, CancellationToken ct)
    {
        var route = await invoker.RouteAsync(name, ct);
        var request = http.Request;
        var json = IsMediaType(request.ContentType, "application/json");
        if (!json && !IsMediaType(request.ContentType, "text/csv"))
            throw ProblemException.UnsupportedMediaType(
                $"Content type '{request.ContentType}' is not accepted; send {string.Join(" or ", ContentTypes)}.", ContentTypes);
        if (!json)
        {
            using var reader = new StreamReader(request.Body);
            return Score(invoker, route, MlflowRequest.ParseCsv(await reader.ReadToEndAsync(ct)), null, http);
        }
        // The rows' JSON cells point into the document, which goes back to the pool when the request is scored: everything
        // that reads them (binding, scoring) runs before then, and a shadow mirror copies what it keeps.
        using var document = await JsonDocument.ParseAsync(request.Body, default, ct);
        var (frame, ids) = MlflowRequest.ParseJson(document.RootElement);
        return Score(invoker, route, frame, ids, http);
    }

    /// <summary>Whether a Content-Type header is that media type (parameters such as charset ignored, case-insensitive).</summary>
    private static bool IsMediaType(string? contentType, string mediaType)
    {
        var value = contentType.AsSpan();
        if (value.IndexOf(';') is var semicolon and >= 0)
            value = value[..semicolon];
        return value.Trim().Equals(mediaType, StringComparison.OrdinalIgnoreCase);
    }

    private static Ok<MlflowPredictions> Score(Invoker invoker, EndpointRoute route, InputFrame frame, IReadOnlyList<string>? ids, HttpContext http)
    {
        var request = http.Request;
        var requestId = Header(request, InferenceIdHeader);
        if (requestId is not null && !InferenceIds.IsValid(requestId))
            throw ProblemException.BadRequest($"{InferenceIdHeader} must be 1 to {InferenceIds.MaxLength} printable characters.");
        var explain = request.Query["explain"] is { Count: > 0 } e ? e[0] switch
        {
            "true" or "1" => true,
            "false" or "0" or "" => false,
            var other => throw ProblemException.BadRequest($"explain must be true or false, got '{other}'."),
        } : false;
        var result = invoker.Invoke(route, frame,
            new InvocationOptions(ids, requestId, Header(request, TargetVariantHeader), Header(request, StickyKeyHeader), explain));
        http.Response.Headers[InvokedVariantHeader] = result.Variant.Spec.Name;
        return TypedResults.Ok(new MlflowPredictions(result.Rows));
    }

    private static string? Header(HttpRequest request, string name) => request.Headers[name] is { Count: > 0 } v && v[0] is { Length: > 0 } s ? s : null;
}
