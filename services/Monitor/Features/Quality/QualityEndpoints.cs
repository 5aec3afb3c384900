using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Mlops.Monitor.Features.Quality;

/// <summary>One run's window with a metric's realised value (from ground truth) and its CBPE estimate with the ± 3σ band.</summary>
public sealed record QualityPoint(Guid RunId, DateTimeOffset? WindowStart, DateTimeOffset? WindowEnd, double? Realised, double? Estimate, double? Lower, double? Upper);

public sealed record QualitySeries(string Endpoint, string Metric, IReadOnlyList<QualityPoint> Points);

/// <summary>Quality over time for an endpoint: the realised metric and the estimate, per run window (JSON and an inline-SVG chart).</summary>
public static class QualityEndpoints
{
    public static RouteGroupBuilder MapQualityEndpoints(this RouteGroupBuilder api)
    {
        var quality = api.MapGroup("/quality").WithTags("Quality");
        quality.MapGet("/series", Series);
        quality.MapGet("/chart.html", Chart);
        return quality;
    }

    internal static async Task<Results<Ok<QualitySeries>, ValidationProblem>> Series(string? endpoint, string? metric, NpgsqlDataSource db, CancellationToken ct)
    {
        if (Validate(endpoint, metric) is { } problem) return problem;
        return TypedResults.Ok(new QualitySeries(endpoint!, metric!, await ReadAsync(db, endpoint!, metric!, ct)));
    }

    internal static async Task<Results<ContentHttpResult, ValidationProblem>> Chart(string? endpoint, string? metric, NpgsqlDataSource db, CancellationToken ct)
    {
        if (Validate(endpoint, metric) is { } problem) return problem;
        var points = await ReadAsync(db, endpoint!, metric!, ct);
        return TypedResults.Content(Render(endpoint!, metric!, points), "text/html; charset=utf-8");
    }

    private static ValidationProblem? Validate(string? endpoint, string? metric)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(endpoint)) errors.Add("'endpoint' is required.");
        if (string.IsNullOrWhiteSpace(metric)) errors.Add("'metric' is required (a quality metric: auc, f1, accuracy, precision, recall, …).");
        else if (metric.Contains('.')) errors.Add($"'metric' is a quality metric's name without prefix (auc, not quality.auc); got '{metric}'.");
        return errors.Count == 0 ? null : TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["quality"] = [.. errors] }, detail: string.Join(" ", errors));
    }

    // quality.<m> is the realised value, cbpe.<m> the estimate and cbpe.<m>.sampling_error its σ (band ± 3σ, NannyML's).
    private static Task<List<QualityPoint>> ReadAsync(NpgsqlDataSource db, string endpoint, string metric, CancellationToken ct) => db.ReadAllAsync("""
        SELECT r.id, r.window_start, r.window_end,
               max(m.value) FILTER (WHERE m.metric = @realised), max(m.value) FILTER (WHERE m.metric = @estimate),
               max(m.value) FILTER (WHERE m.metric = @error)
        FROM runs r JOIN metrics m ON m.run_id = r.id
        WHERE r.endpoint = @endpoint AND m.metric IN (@realised, @estimate, @error)
        GROUP BY r.id, r.seq, r.window_start, r.window_end
        ORDER BY r.window_end NULLS LAST, r.seq
        LIMIT 10000
        """, r =>
        {
            double? estimate = r.IsDBNull(4) ? null : r.GetDouble(4), sigma = r.IsDBNull(5) ? null : r.GetDouble(5);
            return new QualityPoint(r.GetGuid(0), r.IsDBNull(1) ? null : r.GetFieldValue<DateTimeOffset>(1), r.IsDBNull(2) ? null : r.GetFieldValue<DateTimeOffset>(2),
                r.IsDBNull(3) ? null : r.GetDouble(3), estimate, estimate - 3 * sigma, estimate + 3 * sigma);
        }, ct, ("endpoint", endpoint), ("realised", $"quality.{metric}"), ("estimate", $"cbpe.{metric}"), ("error", $"cbpe.{metric}.sampling_error"));

    /// <summary>The chart: one column per run window (oldest left), the estimate's band shaded, the estimate dashed, the realised value solid.</summary>
    public static string Render(string endpoint, string metric, IReadOnlyList<QualityPoint> points)
    {
        var html = new StringBuilder("<!doctype html><html><head><meta charset=\"utf-8\"><title>")
            .Append(E($"{metric} of {endpoint}")).Append("</title><style>body{font-family:sans-serif;margin:2em}.band{fill:#f28e2b;opacity:.2}")
            .Append(".est{stroke:#f28e2b;stroke-dasharray:4 3;fill:none;stroke-width:2}.real{stroke:#4e79a7;fill:none;stroke-width:2}</style></head><body>")
            .Append("<h1>").Append(E(metric)).Append(" of ").Append(E(endpoint)).Append(" over time</h1>")
            .Append("<p><span style=\"color:#4e79a7\">━ realised (ground truth)</span> &nbsp; <span style=\"color:#f28e2b\">╌ CBPE estimate, ± 3σ band</span></p>");
        var values = points.SelectMany(p => new[] { p.Realised, p.Estimate, p.Lower, p.Upper }).Where(v => v is { } x && double.IsFinite(x)).Select(v => v!.Value).ToList();
        if (values.Count == 0) return html.Append("<p>No run of this endpoint recorded the metric.</p></body></html>").ToString();
        double lo = values.Min(), hi = values.Max();
        if (hi - lo < 1e-9) (lo, hi) = (lo - 0.05, hi + 0.05);
        const int height = 240, step = 48, left = 50;
        var width = left + Math.Max(1, points.Count) * step + 20;
        double X(int i) => left + step / 2.0 + i * step;
        double Y(double v) => 10 + (hi - v) / (hi - lo) * height;
        string F(double v) => v.ToString("F1", CultureInfo.InvariantCulture);
        var svg = new StringBuilder($"<svg width=\"{width}\" height=\"{height + 90}\" xmlns=\"http://www.w3.org/2000/svg\">");
        for (var k = 0; k <= 4; k++)
        {
            var v = lo + (hi - lo) * k / 4;
            svg.Append($"<line x1=\"{left}\" x2=\"{width - 10}\" y1=\"{F(Y(v))}\" y2=\"{F(Y(v))}\" stroke=\"#eee\"/><text x=\"2\" y=\"{F(Y(v) + 4)}\" font-size=\"10\">{v.ToString("0.###", CultureInfo.InvariantCulture)}</text>");
        }
        var banded = points.Select((p, i) => (p, i)).Where(x => x.p.Lower is { } l && x.p.Upper is { } u && double.IsFinite(l) && double.IsFinite(u)).ToList();
        if (banded.Count > 0)
            svg.Append("<polygon class=\"band\" points=\"")
                .Append(string.Join(" ", banded.Select(x => $"{F(X(x.i))},{F(Y(x.p.Upper!.Value))}").Concat(banded.AsEnumerable().Reverse().Select(x => $"{F(X(x.i))},{F(Y(x.p.Lower!.Value))}"))))
                .Append("\"/>");
        void Line(Func<QualityPoint, double?> pick, string css, string label)
        {
            var xs = points.Select((p, i) => (v: pick(p), i)).Where(x => x.v is { } v && double.IsFinite(v)).ToList();
            if (xs.Count == 0) return;
            svg.Append($"<polyline class=\"{css}\" points=\"").Append(string.Join(" ", xs.Select(x => $"{F(X(x.i))},{F(Y(x.v!.Value))}"))).Append("\"/>");
            foreach (var x in xs)
                svg.Append($"<circle cx=\"{F(X(x.i))}\" cy=\"{F(Y(x.v!.Value))}\" r=\"3\" class=\"{css}\"><title>{label} {x.v!.Value.ToString("G6", CultureInfo.InvariantCulture)}</title></circle>");
        }
        Line(p => p.Estimate, "est", "estimate");
        Line(p => p.Realised, "real", "realised");
        for (var i = 0; i < points.Count; i++)
        {
            var t = (points[i].WindowEnd ?? points[i].WindowStart)?.UtcDateTime.ToString("MM-dd HH:mm", CultureInfo.InvariantCulture) ?? "";
            svg.Append($"<text x=\"{F(X(i))}\" y=\"{height + 20}\" font-size=\"9\" transform=\"rotate(50 {F(X(i))} {height + 20})\">{E(t)}</text>");
        }
        html.Append(svg.Append("</svg>"));
        html.Append("<table border=\"1\" cellpadding=\"4\" style=\"border-collapse:collapse\"><tr><th>window end</th><th>realised</th><th>estimate</th><th>band</th><th>run</th></tr>");
        foreach (var p in points)
            html.Append("<tr><td>").Append(E(p.WindowEnd?.ToString("u"))).Append("</td><td>").Append(N(p.Realised)).Append("</td><td>").Append(N(p.Estimate))
                .Append("</td><td>").Append(p.Lower is null ? "" : $"[{N(p.Lower)}, {N(p.Upper)}]").Append("</td><td>").Append(p.RunId).Append("</td></tr>");
        return html.Append("</table></body></html>").ToString();
    }

    private static string N(double? v) => v is { } x && double.IsFinite(x) ? x.ToString("0.####", CultureInfo.InvariantCulture) : "";

    private static string E(string? text) => WebUtility.HtmlEncode(text ?? "");
}
