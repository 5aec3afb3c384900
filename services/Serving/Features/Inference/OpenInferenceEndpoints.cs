using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Mlops.Serving.Features.Routing;
using Mlops.Trainer.Model;

namespace Mlops.Serving.Features.Inference;

public sealed record TensorMetadata(string Name, string Datatype, IReadOnlyList<long> Shape);
public sealed record ModelMetadata(string Name, IReadOnlyList<string> Versions, string Platform, IReadOnlyList<TensorMetadata> Inputs,
    IReadOnlyList<TensorMetadata> Outputs);
public sealed record InferInput(string? Name, IReadOnlyList<long>? Shape, string? Datatype, JsonElement Data);
public sealed record InferParameters(string? TargetVariant, string? StickyKey, IReadOnlyList<string>? InferenceIds, bool? Explain = null);
public sealed record InferRequest(string? Id, IReadOnlyList<InferInput>? Inputs, InferParameters? Parameters);
public sealed record InferOutput(string Name, string Datatype, IReadOnlyList<long> Shape, IReadOnlyList<object?> Data);
public sealed record InferResponse(string ModelName, string ModelVersion, string? Id, IReadOnlyDictionary<string, string> Parameters,
    IReadOnlyList<InferOutput> Outputs);

/// <summary>
/// The Open Inference Protocol v2 (KServe, Triton) over REST, the endpoint being the model: <c>GET /v2/models/{name}</c>
/// (metadata with the input schema), <c>GET /v2/models/{name}/ready</c>, <c>POST /v2/models/{name}/infer</c>. Each input
/// tensor is one column (shape [rows] or [rows, 1]); outputs are predicted_label, score, probability (binary),
/// inference_id and variant, one element per row.
/// </summary>
public static class OpenInferenceEndpoints
{
    public static IEndpointRouteBuilder MapOpenInferenceEndpoints(this IEndpointRouteBuilder app)
    {
        var v2 = app.MapGroup("/v2/models/{name}").WithTags("Open Inference Protocol v2");
        v2.MapGet("/", Metadata).ProducesProblem(StatusCodes.Status404NotFound);
        v2.MapGet("/ready", Ready).ProducesProblem(StatusCodes.Status404NotFound);
        v2.MapPost("/infer", Infer).ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);
        return app;
    }

    internal static async Task<Ok<ModelMetadata>> Metadata(string name, Invoker invoker, CancellationToken ct)
    {
        var route = await invoker.RouteAsync(name, ct);
        var model = Primary(route).Model!.Package.Manifest;
        return TypedResults.Ok(new ModelMetadata(name, [.. route.All.Select(v => v.Spec.ModelVersion).Distinct()], "mlnet",
            [.. model.InputSchema.Select(c => new TensorMetadata(c.Name, Datatype(c.Type), [-1]))], Outputs(model)));
    }

    internal static async Task<Results<Ok, ProblemHttpResult>> Ready(string name, Invoker invoker, CancellationToken ct) =>
        (await invoker.RouteAsync(name, ct)).All.All(v => v.Model is not null)
            ? TypedResults.Ok()
            : TypedResults.Problem($"Endpoint '{name}' is loading.", statusCode: StatusCodes.Status503ServiceUnavailable, title: "Not ready");

    internal static async Task<Ok<InferResponse>> Infer(string name, InferRequest request, Invoker invoker, HttpContext http, CancellationToken ct)
    {
        var route = await invoker.RouteAsync(name, ct);
        var frame = ToFrame(request);
        var parameters = request.Parameters;
        if (request.Id is { } id && !InferenceIds.IsValid(id))
            throw ProblemException.BadRequest($"id must be 1 to {InferenceIds.MaxLength} printable characters.");
        var result = invoker.Invoke(route, frame,
            new InvocationOptions(parameters?.InferenceIds, request.Id, parameters?.TargetVariant, parameters?.StickyKey, parameters?.Explain ?? false));
        http.Response.Headers[InvocationEndpoints.InvokedVariantHeader] = result.Variant.Spec.Name;
        var rows = result.Rows;
        long n = rows.Count;
        var manifest = result.Variant.Model!.Package.Manifest;
        var outputs = new List<InferOutput>
        {
            new("predicted_label", manifest.ProblemType switch { ProblemType.Binary => "BOOL", ProblemType.Multiclass => "BYTES", _ => "FP32" }, [n],
                [.. rows.Select(r => r.PredictedLabel ?? r.Score)]),
            new("score", "FP32", [n], [.. rows.Select(r => (object?)r.Score)]),
        };
        if (manifest.ProblemType != ProblemType.Regression)
            outputs.Add(new InferOutput("probability", "FP32", [n], [.. rows.Select(r => (object?)r.Probability)]));
        outputs.Add(new InferOutput("inference_id", "BYTES", [n], [.. rows.Select(r => (object?)r.InferenceId)]));
        outputs.Add(new InferOutput("variant", "BYTES", [n], [.. rows.Select(r => (object?)r.Variant)]));
        if (parameters?.Explain == true)
            outputs.Add(new InferOutput("explanation", "BYTES", [n], [.. rows.Select(r => (object?)ServingJson.Serialize(r.Explanation))]));
        return TypedResults.Ok(new InferResponse(name, result.Variant.Spec.ModelVersion, request.Id,
            new Dictionary<string, string> { ["variant"] = result.Variant.Spec.Name, ["model_name"] = result.Variant.Spec.ModelName }, outputs));
    }

    /// <summary>Input tensors as columns: each one [rows] or [rows, 1], all of the same length, its data flat or nested one level.</summary>
    internal static InputFrame ToFrame(InferRequest request)
    {
        if (request.Inputs is not { Count: > 0 } inputs)
            throw ProblemException.BadRequest("inputs must list at least one input tensor (one per column).");
        var columns = new List<string>();
        var data = new List<List<JsonElement>>();
        for (var i = 0; i < inputs.Count; i++)
        {
            var input = inputs[i];
            var at = $"inputs[{i}]";
            if (input is null)
                throw ProblemException.BadRequest($"{at} must be an object {{name, shape, datatype, data}}.");
            if (string.IsNullOrEmpty(input.Name))
                throw ProblemException.BadRequest($"{at}.name is required.");
            at = $"input '{input.Name}'";
            if (columns.Contains(input.Name))
                throw ProblemException.BadRequest($"{at} is given more than once.");
            if (input.Shape is not ({ Count: 1 } or [_, 1]) || input.Shape[0] < 0)
                throw ProblemException.BadRequest($"{at} has shape [{string.Join(", ", input.Shape ?? [])}]; a column is [rows] or [rows, 1].");
            if (input.Datatype is not { } datatype || !Datatypes.Contains(datatype))
                throw ProblemException.BadRequest($"{at} has datatype '{input.Datatype}'; expected one of {string.Join(", ", Datatypes)}.");
            if (input.Data.ValueKind != JsonValueKind.Array)
                throw ProblemException.BadRequest($"{at}.data must be a list of values.");
            var values = new List<JsonElement>();
            foreach (var item in input.Data.EnumerateArray())
            {
                if (item.ValueKind == JsonValueKind.Array)
                    values.AddRange(item.EnumerateArray());
                else
                    values.Add(item);
            }
            if (values.Count != input.Shape[0])
                throw ProblemException.BadRequest($"{at} has {values.Count} values for shape [{string.Join(", ", input.Shape)}].");
            if (data.Count > 0 && values.Count != data[0].Count)
                throw ProblemException.BadRequest($"{at} has {values.Count} rows; input '{columns[0]}' has {data[0].Count}.");
            columns.Add(input.Name);
            data.Add(values);
        }
        var rows = Enumerable.Range(0, data[0].Count).Select(r => data.Select(column => (object?)column[r]).ToArray()).ToList();
        return new InputFrame(columns, rows, "v2");
    }

    private static readonly string[] Datatypes = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"];

    private static string Datatype(string schemaType) => schemaType switch
    {
        "number" => "FP32",
        "boolean" => "BOOL",
        _ => "BYTES",
    };

    private static List<TensorMetadata> Outputs(ModelManifest m) =>
    [
        new("predicted_label", m.ProblemType switch { ProblemType.Binary => "BOOL", ProblemType.Multiclass => "BYTES", _ => "FP32" }, [-1]),
        new("score", "FP32", [-1]),
        .. m.ProblemType == ProblemType.Regression ? Array.Empty<TensorMetadata>() : [new TensorMetadata("probability", "FP32", [-1])],
        new("inference_id", "BYTES", [-1]),
        new("variant", "BYTES", [-1]),
    ];

    // The variant with the most traffic stands for the endpoint in its metadata.
    private static LiveVariant Primary(EndpointRoute route) =>
        route.All.MaxBy(v => TrafficRouter.Shares(route).Where(s => s.Variant == v.Spec.Name && s.ConfigVersion == v.ConfigVersion).Sum(s => s.Percent))!;
}
