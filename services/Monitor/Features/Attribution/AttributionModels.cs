using Mlops.Monitor.Features.Baselines;

namespace Mlops.Monitor.Features.Attribution;

/// <summary>
/// Feature-attribution drift on a run (SageMaker Clarify's model-explainability monitor): the served model's global
/// attributions over the run's rows against a reference, compared by NDCG.
/// </summary>
/// <param name="Method"><c>feature_contribution</c> (ML.NET's feature contributions, mean magnitude per input column; linear and tree
/// learners, binary and regression) or <c>permutation</c> (mean change of the model's output when a column is shuffled; any model).
/// Default: feature_contribution where the model supports it, else permutation. With reference <c>training</c>: permutation only.</param>
/// <param name="Threshold">Drift when the NDCG is below it (Clarify's 0.90 by default).</param>
/// <param name="MaxRows">At most this many rows a side (a seeded reservoir sample; default 1,000).</param>
/// <param name="Reference"><c>baseline</c> (default): label-free attributions over a sample of the baseline's dataset, by the same
/// method. <c>training</c>: the permutation importance the trainer recorded in the model's package (validation rows, its primary
/// metric), against label-based permutation importance on the run's labelled rows (captured requests joined with ground truth, or
/// a dataset's label column), measured the same way.</param>
/// <param name="Label">Reference training on a dataset run: the label column (default: the package's label column).</param>
public sealed record AttributionOptions(string? Method = null, double? Threshold = null, int? MaxRows = null, string? Reference = null, string? Label = null)
{
    public const int DefaultMaxRows = 1000;
    public const string BaselineReference = "baseline";
    public const string TrainingReference = "training";

    /// <summary>Labelled rows needed on the current side for a label-based importance worth comparing.</summary>
    public const int MinLabelledRows = 100;

    public bool AgainstTraining => Reference == TrainingReference;

    public static void Validate(AttributionOptions? a, bool isCapture, List<string> errors)
    {
        if (a is null) return;
        if (a.Method is not (null or FeatureAttributions.FeatureContribution or FeatureAttributions.Permutation))
            errors.Add($"'attribution.method' must be {FeatureAttributions.FeatureContribution} or {FeatureAttributions.Permutation}; got '{a.Method}'.");
        if (a.Threshold is { } t && !(t > 0 && t <= 1)) errors.Add($"'attribution.threshold' must be in (0, 1]; got {t}.");
        if (a.MaxRows is < 10 or > 100_000) errors.Add($"'attribution.max_rows' must be between 10 and 100000; got {a.MaxRows}.");
        if (a.Reference is not (null or BaselineReference or TrainingReference))
            errors.Add($"'attribution.reference' must be {BaselineReference} or {TrainingReference}; got '{a.Reference}'.");
        if (a.AgainstTraining && a.Method == FeatureAttributions.FeatureContribution)
            errors.Add($"'attribution.method' must be {FeatureAttributions.Permutation} (or omitted) with reference '{TrainingReference}': the trainer records label-based permutation importance.");
        if (a.Label is not null)
        {
            if (!a.AgainstTraining) errors.Add($"'attribution.label' applies to reference '{TrainingReference}' only.");
            else if (isCapture) errors.Add("'attribution.label' names a dataset's label column; a capture run's labels are its ground truth.");
            else if (a.Label.Trim().Length == 0) errors.Add("'attribution.label' must not be empty.");
        }
    }
}

/// <summary>
/// The attribution part of a run's report: the method, the model version explained, both sides' global attributions (per input
/// column), their NDCG and whether it drifted. A reason instead of numbers when it could not be computed (no model version,
/// a baseline without rows, a package that does not load, too few labelled rows); that is not a run failure. With reference
/// training, <see cref="Baseline"/> is the package's recorded importance (<see cref="BaselineRows"/> validation rows) and
/// <see cref="Metric"/> the metric whose drop both sides measure; <see cref="InvalidLabels"/> counts labels not of the model's type.
/// </summary>
public sealed record AttributionReport(string? Method, string Label, string? ModelName, string? ModelVersion, double Threshold, double? Ndcg, bool? Drifted,
    long BaselineRows, int CurrentRows, IReadOnlyDictionary<string, double>? Baseline, IReadOnlyDictionary<string, double>? Current, string? Reason,
    string? AnalysisUri = null, string Reference = AttributionOptions.BaselineReference, string? Metric = null, int? InvalidLabels = null);

/// <summary>Clarify's <c>analysis.json</c> of an explainability job: per method and label, the global attributions per feature.</summary>
public sealed record ExplainabilityAnalysis(string Version, IReadOnlyDictionary<string, IReadOnlyDictionary<string, GlobalExplanation>> Explanations)
{
    public static ExplainabilityAnalysis Of(string method, string label, IReadOnlyDictionary<string, double> attributions) =>
        new("1.0", new Dictionary<string, IReadOnlyDictionary<string, GlobalExplanation>>
        {
            [method] = new Dictionary<string, GlobalExplanation> { [label] = new(attributions) },
        });
}

/// <summary>Clarify's key name is kept (<c>global_shap_values</c>) so its readers find the values; what they are is the method's.</summary>
public sealed record GlobalExplanation(IReadOnlyDictionary<string, double> GlobalShapValues);

public static class AttributionChecks
{
    /// <summary>Clarify's violation type for feature-attribution drift.</summary>
    public const string FeatureAttributionDrift = "feature_attribution_drift_check";

    /// <summary>Clarify's placeholder label name when the job names no label headers.</summary>
    public const string Label = "label0";

    public static Violation Violation(AttributionReport r) => new(null, FeatureAttributionDrift,
        $"Feature attribution drift {r.Ndcg!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)} exceeds threshold {r.Threshold.ToString(System.Globalization.CultureInfo.InvariantCulture)} " +
        $"(NDCG of the window's {r.Method} ranking against the {(r.Reference == AttributionOptions.TrainingReference ? $"training importance ({r.Metric})" : "baseline's")}, " +
        $"below the threshold; model '{r.ModelName}' version {r.ModelVersion}).",
        Label: r.Label, MetricName: r.Method);
}
