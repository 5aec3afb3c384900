using System.Diagnostics;
using System.Diagnostics.Metrics;
using Mlops.Monitor.Features.Alarms;
using Mlops.Monitor.Features.Baselines;
using Mlops.Monitor.Features.Datasets;
using Mlops.Monitor.Features.Drift;
using Mlops.Monitor.Features.Platform;
using Mlops.Monitor.Features.Profiles;
using Npgsql;
using Metrics = System.Collections.Generic.Dictionary<string, double>;
using Rows = System.Collections.Generic.IReadOnlyList<System.Collections.Generic.IReadOnlyDictionary<string, object?>>;

namespace Mlops.Monitor.Features.Runs;

/// <summary>
/// Executes one claimed run: profiles the current data, checks it against the baseline's constraints, computes drift
/// against the baseline's profile, writes the report and constraint_violations.json to S3, then in one transaction the
/// summary row, every metric, and the alarms' state changes with their events.
/// </summary>
public sealed class RunExecutor(NpgsqlDataSource db, BaselineStore baselines, MonitorArtifacts artifacts, DatasetReader datasets, CaptureReader captures,
    RunStore runs, ServingClient serving, Quality.GroundTruthReader groundTruth, Quality.TrainingMetrics training, Attribution.AttributionRun attribution,
    ILogger<RunExecutor> logger)
{
    private static readonly Meter Meter = new("Mlops.Monitor");
    private static readonly Histogram<double> Duration = Meter.CreateHistogram<double>("monitor.run.duration", "s", "Monitoring run wall time");
    private static readonly Counter<long> Completed = Meter.CreateCounter<long>("monitor.runs", description: "Monitoring runs finished, by result");

    public async Task ExecuteAsync(RunRow run, CancellationToken ct)
    {
        using var span = DuckProfiler.Activity.StartActivity("monitor.run");
        span?.SetTag("monitor.run_id", run.Id);
        span?.SetTag("monitor.endpoint", run.Endpoint);
        var watch = Stopwatch.StartNew();
        try
        {
            var (report, baseline, reference, current) = await ComputeAsync(run, ct);
            var prefix = $"monitor/runs/{run.Id}";
            if (report.Attribution is { Current: { } explained, Method: { } method } a)
                report = report with { Attribution = a with { AnalysisUri = await artifacts.PutJsonAsync($"{prefix}/analysis.json",
                    Attribution.ExplainabilityAnalysis.Of(method, a.Label, explained), ct) } };
            var violationsUri = await artifacts.PutJsonAsync($"{prefix}/constraint_violations.json", new ConstraintViolations(report.Violations), ct);
            var reportUri = await artifacts.PutJsonAsync($"{prefix}/report.json", report, ct);
            await artifacts.PutTextAsync($"{prefix}/report.html", RunHtmlReport.Render(report, reference, current), "text/html", ct);

            await using var connection = await db.OpenConnectionAsync(ct);
            await using var tx = await connection.BeginTransactionAsync(ct);
            if (!await runs.CompleteAsync(tx, run, report, reportUri, violationsUri, ct))
            {
                logger.LogWarning("Run {Run} was no longer running when it finished (its lease expired); its result is dropped", run.Id);
                return;
            }
            await RunStore.InsertMetricsAsync(tx, run, report.Metrics, report.CompletedAt, ct);
            await AlarmStore.EvaluateAsync(tx, run with { Variant = report.Variant }, NamingOf(report.Variants ?? [], report.Variant, baseline), ct);
            await tx.CommitAsync(ct);
            Completed.Add(1, new KeyValuePair<string, object?>("result", report.Result));
            span?.SetTag("monitor.result", report.Result);
        }
        catch (Exception e) when (e is ProblemException or DriftException or DuckDB.NET.Data.DuckDBException or Amazon.S3.AmazonS3Exception)
        {
            // Bad input discovered while running (a dataset that vanished, an unreadable file): the run fails, naming it.
            logger.LogWarning(e, "Run {Run} failed", run.Id);
            await runs.FailAsync(run.Id, e.Message, ct);
            Completed.Add(1, new KeyValuePair<string, object?>("result", "FAILED"));
            span?.SetStatus(ActivityStatusCode.Error, e.Message);
        }
        finally
        {
            Duration.Record(watch.Elapsed.TotalSeconds);
        }
    }

    /// <summary>Who a metric's alarm event names: the variant (a <c>variant.&lt;name&gt;.</c> metric's, else the run's) and its model version.</summary>
    public sealed record Naming(string? Variant, string? ModelName, string? ModelVersion);

    private async Task<(RunReport Report, BaselineRow Baseline, DatasetProfile Reference, DatasetProfile Current)> ComputeAsync(RunRow run, CancellationToken ct)
    {
        var baseline = await baselines.FindAsync(run.BaselineName, run.BaselineVersion, ct)
                       ?? throw ProblemException.NotFound($"Baseline '{run.BaselineName}' has no version {run.BaselineVersion}.");
        var reference = (await artifacts.GetJsonAsync<ProfileDocument>(baseline.ProfileUri, ct)).ToProfile();
        var constraints = await artifacts.GetJsonAsync<Constraints>(baseline.ConstraintsUri, ct);

        DatasetProfile current;
        ColumnProfile? predictions = null;
        CaptureSummary? capture = null;
        var sections = new List<VariantReport>();
        var variantMetrics = new Dictionary<string, double>(StringComparer.Ordinal);
        string? variant = run.Variant;
        Quality.PredictionCollector? collector = null;
        // Ground truth of a capture window, read once for the model-quality merge and for the labelled rows the training-importance
        // comparison samples (only labelled captured rows are kept).
        var againstTraining = run.Source.Attribution?.AgainstTraining == true;
        var labels = run.Source.Dataset is null && (run.Source.Quality is not null || againstTraining)
            ? await groundTruth.ReadAsync(run.Endpoint!, run.WindowStart!.Value, LabelsUntil(run.WindowEnd!.Value, run.Source.Quality), ct)
            : null;
        var sample = run.Source.Attribution is { } ao
            ? new Attribution.RowSample(ao.MaxRows ?? Attribution.AttributionOptions.DefaultMaxRows, labels: againstTraining ? labels : null)
            : null;
        if (run.Source.Dataset is { } dataset)
        {
            // Columns the baseline knows keep the baseline's kind (an integer code profiled as categories stays categories).
            current = await datasets.ProfileAsync(dataset, "dataset", ct, kinds: reference);
        }
        else
        {
            collector = run.Source.Quality is null ? null : new Quality.PredictionCollector(run.Source.Quality.Bias?.Facet?.Column);
            var perVariant = await captures.ProfileVariantsAsync(run.Endpoint!, run.Variant, run.WindowStart!.Value, run.WindowEnd!.Value, reference, ct, collector, sample);
            var models = (await serving.TryGetEndpointAsync(run.Endpoint!, ct))?.Variants.ToDictionary(v => v.Name, StringComparer.Ordinal);
            var merged = CaptureProfile.Empty;
            foreach (var (name, c) in perVariant)
            {
                merged = CaptureProfile.Merge(merged, c);
                var model = models?.GetValueOrDefault(name);
                var section = Evaluate(reference, constraints, c.Inputs, c.Predictions, run, name, model?.ModelVersion ?? baseline.ModelVersion);
                if (c.Inputs.ItemCount > 0)
                    foreach (var (k, v) in section.Metrics) variantMetrics[$"variant.{name}.{k}"] = v;
                sections.Add(new VariantReport(name, model?.ModelName ?? baseline.ModelName, model?.ModelVersion ?? baseline.ModelVersion, c.Inputs.ItemCount,
                    section.Violations, section.Drift, section.PredictionDrift, new CaptureSummary(c.Files, c.Events, c.UnreadableEvents)));
            }
            // A run over an endpoint with one variant is that variant's run.
            if (variant is null && perVariant.Count == 1) variant = perVariant[0].Variant;
            current = merged.Inputs;
            predictions = merged.Predictions;
            capture = new CaptureSummary(merged.Files, merged.Events, merged.UnreadableEvents);
        }

        var baselineRef = new BaselineRef(baseline.Name, baseline.Version);
        var naming = NamingOf(sections, variant, baseline);
        if (current.ItemCount == 0)
        {
            return (new RunReport(run.Id, RunResults.InsufficientData, baselineRef, run.Source, run.WindowStart, run.WindowEnd, 0,
                run.Source.Dataset is null ? "The window holds no captured requests." : "The dataset has no rows.", [], null, null, null, null,
                new Dictionary<string, double>(), capture, DateTimeOffset.UtcNow, variant, sections.Count > 0 ? sections : null), baseline, reference, current);
        }

        var overall = Evaluate(reference, constraints, current, predictions, run, variant, naming(variant).ModelVersion);
        Quality.QualityReport? quality = null;
        if (run.Source.Quality is { } q && collector is not null)
        {
            var (qualityReport, qualityMetrics) = await QualityAsync(run, q, collector, labels!, reference, ct);
            quality = qualityReport;
            foreach (var (k, v) in qualityMetrics) overall.Metrics[k] = v;
            if (q.CompareWithTraining == true && quality.Metrics is { } values)
            {
                // The model version the run's variant serves (Serving's answer, else the baseline's), against its training run.
                var model = naming(variant);
                var (comparisons, reason) = await training.CompareAsync(model.ModelName, model.ModelVersion, values, ct);
                quality = quality with { Training = comparisons, TrainingReason = reason };
                foreach (var (k, c) in comparisons ?? new Dictionary<string, Quality.TrainingComparison>())
                {
                    overall.Metrics[$"training.{k}"] = c.Training;
                    overall.Metrics[$"training.{k}.difference"] = c.Difference;
                }
            }
        }
        Attribution.AttributionReport? attributions = null;
        if (run.Source.Attribution is { } attributionOptions)
        {
            // The model version the run's variant serves, explained over the baseline's rows and over the run's, or over the run's
            // labelled rows against the importance its training recorded.
            var model = naming(variant);
            Metrics attributionMetrics;
            (attributions, attributionMetrics) = againstTraining
                ? await attribution.EvaluateTrainingAsync(attributionOptions, model.ModelName, model.ModelVersion,
                    (max, label, token) => run.Source.Dataset is { } d ? attribution.ReadLabelledRowsAsync(d, label, max, token)
                        : Task.FromResult(new Attribution.LabelledRows(sample!.Rows, sample.Labels, sample.Rows.Count == 0 && labels!.Count == 0
                            ? "No ground truth for the window: label-based importance needs labels merged by inference id." : null)),
                    run.Source.Quality?.PositiveLabel, ct)
                : await attribution.EvaluateAsync(attributionOptions, model.ModelName, model.ModelVersion, baseline,
                    (max, token) => run.Source.Dataset is { } d ? attribution.ReadRowsAsync(d, "dataset", max, token) : Task.FromResult<Rows>(sample!.Rows), ct);
            foreach (var (k, v) in attributionMetrics) overall.Metrics[k] = v;
        }
        var violations = overall.Violations.ToList();
        if (quality?.Bias?.Violations is { } biasViolations) violations.AddRange(biasViolations);
        if (attributions is { Drifted: true }) violations.Add(Attribution.AttributionChecks.Violation(attributions));
        // Several variants: each variant's own violations too, each naming its variant and model version.
        if (sections.Count > 1) violations.AddRange(sections.SelectMany(v => v.Violations));
        var metrics = new Dictionary<string, double>(overall.Metrics, StringComparer.Ordinal);
        foreach (var (k, v) in variantMetrics) metrics[k] = v;

        return (new RunReport(run.Id, violations.Count > 0 ? RunResults.Violations : RunResults.Ok, baselineRef, run.Source, run.WindowStart, run.WindowEnd,
            current.ItemCount, null, violations, overall.Drift, overall.PredictionDrift, overall.PredictionReason, BaselineSuggestion.Statistics(current), metrics, capture,
            DateTimeOffset.UtcNow, variant, sections.Count > 0 ? sections : null, quality, attributions), baseline, reference, current);
    }

    // Ground truth for the window (arriving up to label_delay_hours after it) merged with the collected predictions; CBPE
    // calibrated on a labelled reference window of the same endpoint when one is named.
    private async Task<(Quality.QualityReport, Dictionary<string, double>)> QualityAsync(RunRow run, Quality.QualityOptions q,
        Quality.PredictionCollector collector, IReadOnlyDictionary<string, string> labels, DatasetProfile reference, CancellationToken ct)
    {
        List<Quality.BinaryRow>? cbpeReference = null;
        if (q.CbpeReference is { Start: { } rs, End: { } re })
        {
            var refCollector = new Quality.PredictionCollector();
            await captures.ProfileVariantsAsync(run.Endpoint!, run.Variant, rs.ToUniversalTime(), re.ToUniversalTime(), reference, ct, refCollector);
            var refLabels = await groundTruth.ReadAsync(run.Endpoint!, rs.ToUniversalTime(), Min(re.ToUniversalTime().AddHours(q.LabelDelayHours ?? 24), DateTimeOffset.UtcNow.AddHours(1)), ct);
            cbpeReference = [];
            foreach (var (id, p) in refCollector.ById)
                if (p.Probability is { } pr && refLabels.TryGetValue(id, out var l) && Quality.QualityEvaluation.ParseBinary(l, q.PositiveLabel) is { } y)
                    cbpeReference.Add(new Quality.BinaryRow(y, pr >= (q.ProbabilityThreshold ?? 0.5), pr));
        }
        return Quality.QualityEvaluation.Evaluate(q, collector, labels, cbpeReference);
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    // Labels may arrive up to label_delay_hours (default 24) after the window, and none is read from later than an hour from now.
    private static DateTimeOffset LabelsUntil(DateTimeOffset windowEnd, Quality.QualityOptions? q) =>
        Min(windowEnd.AddHours(q?.LabelDelayHours ?? 24), DateTimeOffset.UtcNow.AddHours(1));

    /// <summary>Resolves the variant and model version an alarm on a metric names.</summary>
    internal static Func<string?, Naming> NamingOf(IReadOnlyList<VariantReport> sections, string? runVariant, BaselineRow baseline) => v =>
    {
        var section = v is null ? null : sections.FirstOrDefault(s => s.Variant == v);
        return new Naming(v, section?.ModelName ?? baseline.ModelName, section?.ModelVersion ?? baseline.ModelVersion);
    };

    /// <summary>The variant a metric belongs to: <c>variant.&lt;name&gt;.…</c>, else the run's.</summary>
    public static string? VariantOfMetric(string metric, string? runVariant)
    {
        if (!metric.StartsWith("variant.", StringComparison.Ordinal)) return runVariant;
        var end = metric.IndexOf('.', "variant.".Length);
        return end < 0 ? runVariant : metric["variant.".Length..end];
    }

    private sealed record Section(List<Violation> Violations, DatasetDrift? Drift, ColumnDrift? PredictionDrift, string? PredictionReason,
        Dictionary<string, double> Metrics);

    // Data quality, drift and prediction drift of one set of captured rows (the endpoint's, or one variant's).
    private static Section Evaluate(DatasetProfile reference, Constraints constraints, DatasetProfile current, ColumnProfile? predictions, RunRow run,
        string? variant, string? modelVersion)
    {
        if (current.ItemCount == 0) return new Section([], null, null, "No captured requests.", []);
        var violations = DataQuality.Check(constraints, current);
        var drift = ProfileDrift.Compare(reference, current, DataQuality.Merge(run.Drift, constraints));
        foreach (var d in drift.Columns.Where(d => d.Drifted))
            violations.Add(new Violation(d.Column, ViolationTypes.BaselineDrift,
                $"Drift detected in '{d.Column}': {d.MethodDisplayName} {d.Score:G6} (threshold {d.Threshold})."));
        if (variant is not null)
            violations = violations.Select(v => v with
            {
                Variant = variant, ModelVersion = modelVersion,
                Description = $"{v.Description} [variant '{variant}'{(modelVersion is null ? "" : $", model version {modelVersion}")}]",
            }).ToList();

        ColumnDrift? predictionDrift = null;
        string? predictionReason = null;
        if (predictions is null) predictionReason = run.Source.Dataset is null ? "No captured predictions in the window." : "Datasets carry no captured predictions; use the dataset's own prediction column.";
        else if (reference.Find(CaptureReader.PredictionColumn) is not { } refPrediction) predictionReason = $"The baseline has no '{CaptureReader.PredictionColumn}' column to compare predictions with.";
        else
        {
            var (method, threshold) = run.Drift.For(CaptureReader.PredictionColumn);
            var pair = refPrediction.Kind == ColumnKind.Numerical
                ? ColumnPair.Numerical(CaptureReader.PredictionColumn, refPrediction.Numeric!, predictions.Numeric ?? new NumericDistribution([], []))
                : ColumnPair.Categorical(CaptureReader.PredictionColumn, refPrediction.Categorical!, predictions.Categorical ?? new CategoricalDistribution(new Dictionary<string, long>()));
            predictionDrift = pair.CurrentRows == 0 ? null : DriftCalculator.Column(pair, method, threshold);
            if (predictionDrift is null) predictionReason = "The captured predictions have no values of the baseline's type.";
        }

        var metrics = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["item_count"] = current.ItemCount,
            ["data_quality.violations"] = violations.Count(v => v.ConstraintCheckType != ViolationTypes.BaselineDrift),
            ["drift.share_of_drifted_columns"] = drift.ShareOfDriftedColumns,
            ["drift.number_of_drifted_columns"] = drift.NumberOfDriftedColumns,
            ["drift.dataset_drift"] = drift.DatasetDrifted ? 1 : 0,
        };
        foreach (var d in drift.Columns)
        {
            metrics[$"feature.{d.Column}.drift_score"] = d.Score;
            metrics[$"feature.{d.Column}.drifted"] = d.Drifted ? 1 : 0;
        }
        foreach (var c in current.Columns)
            if (c.Total > 0) metrics[$"feature.{c.Name}.completeness"] = (double)(c.NumPresent - c.NonConforming) / c.Total;
        if (predictionDrift is not null)
        {
            metrics["prediction.drift_score"] = predictionDrift.Score;
            metrics["prediction.drifted"] = predictionDrift.Drifted ? 1 : 0;
        }
        foreach (var key in metrics.Where(p => !double.IsFinite(p.Value)).Select(p => p.Key).ToList()) metrics.Remove(key);
        return new Section(violations, drift, predictionDrift, predictionReason, metrics);
    }
}
