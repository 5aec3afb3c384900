using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Mlops.Serving.Features.Endpoints;
using Mlops.Serving.Features.Inference;
using Mlops.ServiceDefaults.Storage;
using Npgsql;

namespace Mlops.Serving.Features.Capture;

public sealed record GroundTruthLabel(string? InferenceId, JsonElement Label);
public sealed record GroundTruthRequest(IReadOnlyList<GroundTruthLabel>? Labels);
/// <summary>Where the labels went: the S3 URI of the JSON Lines object, and how many records it holds.</summary>
public sealed record GroundTruthResponse(int Records, string Location);

/// <summary>
/// Ground truth at <c>POST /api/endpoints/{name}/ground-truth</c>: labels for earlier inferences, by inference id, stored
/// in Model Monitor's ground-truth format under the hour they arrived, for the monitor to merge with captured data.
/// Capture status at <c>GET /api/capture</c>.
/// </summary>
public static class GroundTruthEndpoints
{
    public const int MaxLabels = 10_000;

    public static RouteGroupBuilder MapGroundTruthEndpoints(this RouteGroupBuilder api)
    {
        api.MapPost("/endpoints/{name}/ground-truth", Post).WithTags("Ground truth")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound);
        api.MapGet("/capture", (CaptureWriter capture) => TypedResults.Ok(capture.Status)).WithTags("Ground truth");
        return api;
    }

    internal static async Task<Results<Ok<GroundTruthResponse>, ProblemHttpResult>> Post(string name, GroundTruthRequest request, NpgsqlDataSource db,
        ObjectStore store, CaptureWriter capture, IOptions<ServingOptions> options, TimeProvider clock, CancellationToken ct)
    {
        if (await EndpointStore.LoadAsync(db, name, ct) is null)
            return EndpointEndpoints.Missing(name);
        if (request.Labels is not { Count: > 0 } labels)
            throw ProblemException.BadRequest("labels must list at least one {inference_id, label}.");
        if (labels.Count > MaxLabels)
            throw ProblemException.TooLarge($"{labels.Count} labels in one request; the limit is {MaxLabels}.");
        var lines = new StringBuilder();
        for (var i = 0; i < labels.Count; i++)
        {
            if (labels[i] is null)
                throw ProblemException.BadRequest($"labels[{i}] must be an object {{inference_id, label}}.");
            var (id, label) = (labels[i].InferenceId, labels[i].Label);
            if (id is null || !InferenceIds.IsValid(id))
                throw ProblemException.BadRequest($"labels[{i}].inference_id must be 1 to {InferenceIds.MaxLength} printable characters.");
            lines.Append(CaptureFormat.GroundTruthRecord(id, LabelText(label, i))).Append('\n');
        }
        var now = clock.GetUtcNow();
        var key = CaptureFormat.GroundTruthFolder(options.Value.GroundTruthPrefix, name, now) + CaptureFormat.FileName(now);
        using var content = new MemoryStream(Encoding.UTF8.GetBytes(lines.ToString()));
        await store.PutAsync(capture.Bucket, key, content, "application/jsonl", ct);
        return TypedResults.Ok(new GroundTruthResponse(labels.Count, $"s3://{capture.Bucket}/{key}"));
    }

    /// <summary>The label as Model Monitor's CSV data: a string as given, a number as written, a boolean as 1 or 0.</summary>
    internal static string LabelText(JsonElement label, int index) => label.ValueKind switch
    {
        JsonValueKind.String when label.GetString() is { Length: > 0 } s && !s.Contains(',') && !s.Contains('\n') => s,
        JsonValueKind.Number => label.GetRawText(),
        JsonValueKind.True => "1",
        JsonValueKind.False => "0",
        _ => throw ProblemException.BadRequest(
            $"labels[{index}].label must be a number, a boolean or a non-empty string without commas or line breaks; got {label.ValueKind.ToString().ToLowerInvariant()}."),
    };
}
