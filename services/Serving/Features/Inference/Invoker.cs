using System.Diagnostics;
using Microsoft.Extensions.Options;
using Mlops.Serving.Features.Capture;
using Mlops.Serving.Features.Routing;
using Mlops.Trainer.Model.Tabular;

namespace Mlops.Serving.Features.Inference;

/// <summary>One scored row: its inference id, the variant (and model version) that served it, and the prediction.</summary>
/// <see cref="Explanation"/> (explain=true): each input column's contribution to the score.
public sealed record ScoredRow(string InferenceId, string Variant, string ModelName, string ModelVersion, object? PredictedLabel, float Score,
    float? Probability, IReadOnlyDictionary<string, float>? ClassProbabilities, IReadOnlyDictionary<string, float>? Explanation = null);

public sealed record InvocationResult(LiveVariant Variant, IReadOnlyList<ScoredRow> Rows);

/// <summary>
/// The one scoring path both protocols share: route the request to a variant, bind its rows to that variant's model
/// schema, score them as one batch, and hand them to data capture (which samples and writes them off the request path)
/// and, while a shadow deployment runs, to the shadow mirror (which scores them off the request path too).
/// </summary>
public sealed class Invoker(RoutingTable routes, CaptureWriter capture, ShadowMirror shadow, IOptions<ServingOptions> options, TimeProvider clock)
{
    public ValueTask<EndpointRoute> RouteAsync(string endpoint, CancellationToken ct) =>
        routes.Find(endpoint) is { } route ? ValueTask.FromResult(route) : LoadRouteAsync(endpoint, ct);

    private async ValueTask<EndpointRoute> LoadRouteAsync(string endpoint, CancellationToken ct) =>
        await routes.FindOrLoadAsync(endpoint, ct) ?? throw ProblemException.NotFound($"Endpoint '{endpoint}' does not exist.");

    public InvocationResult Invoke(EndpointRoute route, InputFrame frame, InvocationOptions invocation)
    {
        if (frame.Rows.Count > options.Value.MaxRowsPerRequest)
            throw ProblemException.TooLarge($"The request has {frame.Rows.Count} rows; one invocation takes at most {options.Value.MaxRowsPerRequest}.");
        if (invocation.InferenceIds is { } given)
        {
            if (given.Count != frame.Rows.Count)
                throw ProblemException.BadRequest($"{given.Count} inference ids for {frame.Rows.Count} rows.");
            for (var i = 0; i < given.Count; i++)
                if (given[i] is not { } id || !InferenceIds.IsValid(id))
                    throw ProblemException.BadRequest($"inference id {i} must be 1 to {InferenceIds.MaxLength} printable characters.");
        }
        var variant = TrafficRouter.Pick(route, invocation.TargetVariant, invocation.StickyKey, Random.Shared);
        var model = variant.Model ?? throw new InvalidOperationException($"Variant {variant.Spec.Name} of {route.Name} is routed without a loaded model.");
        var tags = new TagList { { "endpoint", route.Name }, { "variant", variant.Spec.Name } };

        using var activity = ServingMetrics.Activities.StartActivity("serving.score");
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("serving.endpoint", route.Name);
            activity.SetTag("serving.variant", variant.Spec.Name);
            activity.SetTag("serving.model", model.Label);
            activity.SetTag("serving.rows", frame.Rows.Count);
        }

        // Measured from binding on: rows that do not fit this variant's schema fail this variant (the built-in alarms count them).
        var started = Stopwatch.GetTimestamp();
        DataTable table;
        IReadOnlyList<Mlops.Trainer.Model.Prediction> predictions;
        IReadOnlyList<IReadOnlyDictionary<string, float>>? explanations = null;
        // A model that cannot explain is the caller's 400 before anything is scored, not a failure of the variant.
        var explainer = invocation.Explain ? Explainers.For(model.Package, model.ModelName, model.ModelVersion) : null;
        try
        {
            table = SchemaBinder.Bind(frame, model.Package.Manifest.InputSchema);
            predictions = model.Package.Score(table);
            explanations = explainer?.Explain(table);
        }
        catch (Exception e)
        {
            // Input the current configuration refuses as well (a missing column, a wrong type) is the caller's mistake: a 400
            // that counts against no variant. Only what the new variant alone refuses, or a scoring error, is its failure.
            if (variant.Window is { } window && !(e is ProblemException && RefusedByCurrent(route, frame)))
                window.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds, failed: true);
            tags.Add("kind", e is ProblemException ? "schema" : "model");
            ServingMetrics.Errors.Add(1, tags);
            throw;
        }
        var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        variant.Window?.Record(elapsed, failed: false);
        ServingMetrics.Latency.Record(elapsed, tags);
        ServingMetrics.Requests.Add(1, tags);
        ServingMetrics.Rows.Add(table.RowCount, tags);

        var ids = InferenceIds.For(table.RowCount, invocation.InferenceIds, invocation.RequestId);
        var rows = new ScoredRow[predictions.Count];
        for (var i = 0; i < rows.Length; i++)
        {
            var p = predictions[i];
            rows[i] = new ScoredRow(ids[i], variant.Spec.Name, model.ModelName, model.ModelVersion, p.PredictedLabel, p.Score, p.Probability, p.ClassScores,
                explanations?[i]);
        }
        var now = clock.GetUtcNow();
        capture.Offer(route, variant.Spec.Name, table, rows, now);
        if (route.ShadowPercent > 0)
            shadow.Offer(route, frame, ids, now);
        return new InvocationResult(variant, rows);
    }

    /// <summary>Whether the current configuration's model refuses these rows too (on the error path only: one more bind).</summary>
    internal static bool RefusedByCurrent(EndpointRoute route, InputFrame frame)
    {
        if (route.Current.FirstOrDefault(v => v.Model is not null)?.Model is not { } current)
            return true;
        try
        {
            SchemaBinder.Bind(frame, current.Package.Manifest.InputSchema);
            return false;
        }
        catch (ProblemException)
        {
            return true;
        }
    }
}
