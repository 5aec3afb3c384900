using System.Globalization;
using System.Net;
using System.Text;
using Mlops.Monitor.Features.Drift;
using Mlops.Monitor.Features.Profiles;

namespace Mlops.Monitor.Features.Runs;

/// <summary>
/// A self-contained HTML page per run: the verdict, the violations, and per feature the reference and current
/// distributions side by side (inline SVG bars: shares per category, or per one of 20 equal-width bins) with its drift score.
/// </summary>
public static class RunHtmlReport
{
    private const int Bars = 20;

    public static string Render(RunReport report, DatasetProfile reference, DatasetProfile current)
    {
        var html = new StringBuilder();
        html.Append("<!doctype html><html><head><meta charset=\"utf-8\"><title>Monitoring run ").Append(report.RunId).Append("</title>")
            .Append("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}")
            .Append(".drift{color:#b00;font-weight:bold}.ref{fill:#4e79a7}.cur{fill:#f28e2b}</style></head><body>");
        html.Append("<h1>Monitoring run ").Append(report.RunId).Append("</h1>");
        html.Append("<p>Result: <b>").Append(E(report.Result)).Append("</b>; baseline ").Append(E(report.Baseline.Name)).Append(" v").Append(report.Baseline.Version)
            .Append("; ").Append(report.ItemCount.ToString("N0", CultureInfo.InvariantCulture)).Append(" rows");
        if (report.WindowStart is { } s) html.Append("; window ").Append(s.ToString("u")).Append(" – ").Append(report.WindowEnd?.ToString("u"));
        html.Append(".</p>");
        if (report.Reason is { } reason) html.Append("<p>").Append(E(reason)).Append("</p>");
        if (report.Drift is { } drift)
            html.Append("<p>Dataset drift: <b>").Append(drift.DatasetDrifted ? "yes" : "no").Append("</b> (").Append(drift.NumberOfDriftedColumns).Append(" of ")
                .Append(drift.NumberOfColumns).Append(" columns drifted; share ").Append(drift.ShareOfDriftedColumns.ToString("0.###", CultureInfo.InvariantCulture))
                .Append(", threshold ").Append(drift.DriftShare.ToString(CultureInfo.InvariantCulture)).Append(").</p>");
        if (report.Violations.Count > 0)
        {
            html.Append("<h2>Violations</h2><table><tr><th>feature</th><th>check</th><th>description</th></tr>");
            foreach (var v in report.Violations)
                html.Append("<tr><td>").Append(E(v.FeatureName)).Append("</td><td>").Append(E(v.ConstraintCheckType)).Append("</td><td>").Append(E(v.Description)).Append("</td></tr>");
            html.Append("</table>");
        }
        if (report.Quality is { } quality) Quality(html, quality);
        if (report.Attribution is { } attribution) Attributions(html, attribution);
        html.Append("<h2>Features</h2><p><svg width=\"12\" height=\"12\"><rect class=\"ref\" width=\"12\" height=\"12\"/></svg> reference ")
            .Append("<svg width=\"12\" height=\"12\"><rect class=\"cur\" width=\"12\" height=\"12\"/></svg> current</p>");
        foreach (var d in report.Drift?.Columns ?? [])
        {
            html.Append("<h3>").Append(E(d.Column)).Append("</h3><p>").Append(E(d.MethodDisplayName)).Append(": ")
                .Append(d.Score.ToString("G6", CultureInfo.InvariantCulture)).Append(" (threshold ").Append(d.Threshold.ToString(CultureInfo.InvariantCulture)).Append(") ")
                .Append(d.Drifted ? "<span class=\"drift\">drift detected</span>" : "no drift").Append("</p>");
            if (reference.Find(d.Column) is { } r && current.Find(d.Column) is { } c) html.Append(Chart(r, c));
        }
        html.Append("</body></html>");
        return html.ToString();
    }

    // Feature attributions: the baseline's and the run's per feature, the run's rank beside the baseline's, and the NDCG verdict.
    private static void Attributions(StringBuilder html, Attribution.AttributionReport a)
    {
        html.Append("<h2>Feature attribution drift</h2>");
        if (a.Reason is { } reason)
        {
            html.Append("<p>").Append(E(reason)).Append("</p>");
            return;
        }
        var training = a.Reference == Attribution.AttributionOptions.TrainingReference;
        html.Append("<p>").Append(E(a.Method)).Append(training ? $" importance ({E(a.Metric)} drop, with labels)" : "").Append(" of model ").Append(E(a.ModelName))
            .Append(" version ").Append(E(a.ModelVersion)).Append(" over ").Append(a.BaselineRows).Append(training ? " training (validation) and " : " baseline and ")
            .Append(a.CurrentRows).Append(training ? " current labelled rows: NDCG " : " current rows: NDCG ").Append(N(a.Ndcg)).Append(" (threshold ")
            .Append(N(a.Threshold)).Append(") ").Append(a.Drifted == true ? "<span class=\"drift\">attribution drift</span>" : "no drift").Append("</p>");
        var baselineRank = a.Baseline!.OrderByDescending(p => p.Value).Select((p, i) => (p.Key, Rank: i + 1)).ToDictionary(p => p.Key, p => p.Rank, StringComparer.Ordinal);
        var max = Math.Max(a.Baseline!.Values.DefaultIfEmpty(0).Max(), a.Current!.Values.DefaultIfEmpty(0).Max());
        html.Append("<table><tr><th>feature</th><th>").Append(training ? "training" : "baseline").Append("</th><th>rank</th><th>current</th><th>rank</th><th></th></tr>");
        foreach (var (feature, value, rank) in a.Current!.OrderByDescending(p => p.Value).Select((p, i) => (p.Key, p.Value, i + 1)))
        {
            var b = a.Baseline!.GetValueOrDefault(feature);
            html.Append("<tr><td>").Append(E(feature)).Append("</td><td>").Append(N(b)).Append("</td><td>").Append(baselineRank.GetValueOrDefault(feature))
                .Append("</td><td>").Append(N(value)).Append("</td><td>").Append(rank).Append("</td><td><svg width=\"200\" height=\"16\">")
                .Append("<rect class=\"ref\" y=\"0\" height=\"7\" width=\"").Append(Width(b, max)).Append("\"/>")
                .Append("<rect class=\"cur\" y=\"8\" height=\"7\" width=\"").Append(Width(value, max)).Append("\"/></svg></td></tr>");
        }
        html.Append("</table>");
    }

    // A negative value (a permutation importance below 0: noise) draws no bar.
    private static string Width(double value, double max) => (max > 0 ? 200 * Math.Max(0, value) / max : 0).ToString("0.#", CultureInfo.InvariantCulture);

    // Model quality: each metric with its interval, the CBPE estimate with its band and whether the realised value fell in
    // it, the training run's value; then bias: each metric with its interval and allowed range, and bars per facet value.
    private static void Quality(StringBuilder html, Quality.QualityReport q)
    {
        html.Append("<h2>Model quality</h2><p>").Append(q.Joined.ToString("N0", CultureInfo.InvariantCulture)).Append(" labelled of ")
            .Append(q.Predictions.ToString("N0", CultureInfo.InvariantCulture)).Append(" captured predictions (").Append(E(q.ProblemType)).Append(").</p>");
        if (q.Reason is { } reason) html.Append("<p>").Append(E(reason)).Append("</p>");
        var names = (q.Metrics?.Keys ?? []).Union(q.Estimated?.Keys ?? [], StringComparer.Ordinal).Where(k => !k.Contains("best_constant", StringComparison.Ordinal)).ToList();
        if (names.Count > 0)
        {
            html.Append("<table><tr><th>metric</th><th>realised</th><th>95% interval</th><th>CBPE estimate</th><th>± 3σ band</th><th>realised in band</th><th>training run</th></tr>");
            foreach (var k in names)
            {
                var m = q.Metrics?.GetValueOrDefault(k);
                var e = q.Estimated?.GetValueOrDefault(k);
                var t = q.Training?.GetValueOrDefault(k);
                html.Append("<tr><td>").Append(E(k)).Append("</td><td>").Append(N(m?.Value)).Append("</td><td>").Append(m?.Lower is null ? "" : $"[{N(m.Lower)}, {N(m.Upper)}]")
                    .Append("</td><td>").Append(N(e?.Value)).Append("</td><td>").Append(e is null ? "" : $"[{N(e.Lower)}, {N(e.Upper)}]")
                    .Append("</td><td>").Append(q.EstimateWithinBand?.TryGetValue(k, out var inBand) == true ? (inBand ? "yes" : "<span class=\"drift\">no</span>") : "")
                    .Append("</td><td>").Append(t is null ? "" : $"{N(t.Training)} ({E(t.TrainingMetric)}; Δ {N(t.Difference)})").Append("</td></tr>");
            }
            html.Append("</table>");
        }
        if (q.TrainingReason is { } tr) html.Append("<p>Training comparison: ").Append(E(tr)).Append("</p>");
        if (q.Bias is not { } bias) return;
        html.Append("<h2>Bias (facet ").Append(E(bias.Facet)).Append(")</h2>");
        if (bias.Reason is { } br) html.Append("<p>").Append(E(br)).Append("</p>");
        if (bias.Rows is { } rows) html.Append("<p>Facet d ").Append(rows.FacetD).Append(" rows, facet a ").Append(rows.FacetA).Append(" rows.</p>");
        var all = (bias.PreTraining ?? new Dictionary<string, Bias.BiasMetricValue>()).Concat(bias.PostTraining ?? new Dictionary<string, Bias.BiasMetricValue>()).ToList();
        if (all.Count > 0)
        {
            html.Append("<table><tr><th>metric</th><th>value</th><th>95% interval</th><th>allowed range</th><th>drift</th></tr>");
            foreach (var (k, v) in all)
                html.Append("<tr><td>").Append(E(k)).Append("</td><td>").Append(N(v.Value)).Append("</td><td>").Append(v.Lower is null ? "" : $"[{N(v.Lower)}, {N(v.Upper)}]")
                    .Append("</td><td>").Append(v.AllowedRange is { } r ? $"[{N(r[0])}, {N(r[1])}]" : "").Append("</td><td>")
                    .Append(v.Drifted switch { true => "<span class=\"drift\">drifted</span>", false => "no", _ => "" }).Append("</td></tr>");
            html.Append("</table>");
        }
        if (bias.ByFacetValue is { Count: > 0 } byValue)
            foreach (var metric in new[] { "DPPL", "DI", "DPL", "AD" })
            {
                var bars = byValue.Where(p => p.Value.ContainsKey(metric)).Select(p => (p.Key, p.Value[metric])).ToList();
                if (bars.Count == 0) continue;
                html.Append("<h3>").Append(E(metric)).Append(" per value of ").Append(E(bias.Facet)).Append(" (that value as facet d)</h3>").Append(FacetBars(bars, metric == "DI" ? 1 : 0));
            }
    }

    // Horizontal bars from the metric's fair value (0, or 1 for DI): right of it favours facet a, left of it facet d.
    private static string FacetBars(List<(string Label, double Value)> bars, double fair)
    {
        const int half = 150, rowHeight = 16, labelWidth = 90;
        var span = Math.Max(1e-9, bars.Max(b => Math.Abs(b.Value - fair)));
        var svg = new StringBuilder($"<svg width=\"{labelWidth + 2 * half + 80}\" height=\"{bars.Count * rowHeight + 10}\" xmlns=\"http://www.w3.org/2000/svg\">");
        svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{labelWidth + half}\" x2=\"{labelWidth + half}\" y1=\"0\" y2=\"{bars.Count * rowHeight + 5}\" stroke=\"#999\"/>");
        for (var i = 0; i < bars.Count; i++)
        {
            var (label, value) = bars[i];
            var w = Math.Abs(value - fair) / span * half;
            var x = value >= fair ? labelWidth + half : labelWidth + half - w;
            var y = 5 + i * rowHeight;
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"0\" y=\"{y + 11}\" font-size=\"10\">{E(label)}</text>")
                .Append(CultureInfo.InvariantCulture, $"<rect class=\"cur\" x=\"{x:F1}\" y=\"{y}\" width=\"{w:F1}\" height=\"{rowHeight - 3}\"><title>{E(label)}: {value:G4}</title></rect>")
                .Append(CultureInfo.InvariantCulture, $"<text x=\"{labelWidth + 2 * half + 5}\" y=\"{y + 11}\" font-size=\"10\">{value:0.###}</text>");
        }
        return svg.Append("</svg>").ToString();
    }

    private static string N(double? v) => v is { } x && double.IsFinite(x) ? x.ToString("0.####", CultureInfo.InvariantCulture) : "";

    private static string Chart(ColumnProfile reference, ColumnProfile current)
    {
        var (labels, r, c) = reference.Kind == ColumnKind.Numerical ? Binned(reference.Numeric!, current.Numeric!) : Categories(reference.Categorical!, current.Categorical!);
        if (labels.Count == 0) return "";
        const int height = 120, barWidth = 14;
        var max = Math.Max(r.DefaultIfEmpty(0).Max(), c.DefaultIfEmpty(0).Max());
        if (max <= 0) max = 1;
        var width = labels.Count * (2 * barWidth + 6) + 10;
        var svg = new StringBuilder($"<svg width=\"{width}\" height=\"{height + 60}\" xmlns=\"http://www.w3.org/2000/svg\">");
        for (var i = 0; i < labels.Count; i++)
        {
            var x = 5 + i * (2 * barWidth + 6);
            var hr = r[i] / max * height;
            var hc = c[i] / max * height;
            svg.Append(CultureInfo.InvariantCulture, $"<rect class=\"ref\" x=\"{x}\" y=\"{height - hr:F1}\" width=\"{barWidth}\" height=\"{hr:F1}\"><title>{E(labels[i])}: {r[i]:P2}</title></rect>");
            svg.Append(CultureInfo.InvariantCulture, $"<rect class=\"cur\" x=\"{x + barWidth}\" y=\"{height - hc:F1}\" width=\"{barWidth}\" height=\"{hc:F1}\"><title>{E(labels[i])}: {c[i]:P2}</title></rect>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{x + barWidth}\" y=\"{height + 10}\" font-size=\"9\" transform=\"rotate(60 {x + barWidth} {height + 10})\">{E(labels[i])}</text>");
        }
        return svg.Append("</svg>").ToString();
    }

    private static (List<string>, List<double>, List<double>) Categories(CategoricalDistribution reference, CategoricalDistribution current)
    {
        var top = reference.Counts.Keys.Union(current.Counts.Keys, StringComparer.Ordinal)
            .OrderByDescending(k => reference.Counts.GetValueOrDefault(k) + current.Counts.GetValueOrDefault(k)).Take(Bars).ToList();
        return (top, top.Select(k => Share(reference.Counts.GetValueOrDefault(k), reference.Count)).ToList(),
            top.Select(k => Share(current.Counts.GetValueOrDefault(k), current.Count)).ToList());
    }

    private static (List<string>, List<double>, List<double>) Binned(NumericDistribution reference, NumericDistribution current)
    {
        if (reference.Count == 0 && current.Count == 0) return ([], [], []);
        var min = Math.Min(reference.Count > 0 ? reference.Values[0] : double.MaxValue, current.Count > 0 ? current.Values[0] : double.MaxValue);
        var max = Math.Max(reference.Count > 0 ? reference.Values[^1] : double.MinValue, current.Count > 0 ? current.Values[^1] : double.MinValue);
        var edges = NumpyBinning.Linspace(min == max ? min - 0.5 : min, min == max ? max + 0.5 : max, Bars + 1);
        var r = NumpyBinning.Histogram(reference, edges).Select(x => Share(x, reference.Count)).ToList();
        var c = NumpyBinning.Histogram(current, edges).Select(x => Share(x, current.Count)).ToList();
        return (Enumerable.Range(0, Bars).Select(i => edges[i].ToString("G4", CultureInfo.InvariantCulture)).ToList(), r, c);
    }

    private static double Share(double count, long total) => total == 0 ? 0 : count / total;

    private static string E(string? text) => WebUtility.HtmlEncode(text ?? "");
}
