using Mlops.ExperimentTracker.Client;

namespace Mlops.Monitor.Features.Quality;

/// <summary>One metric of the window against the training run's: its value there, the key it was logged under, and current − training.</summary>
public sealed record TrainingComparison(string ModelName, string ModelVersion, string RunId, string TrainingMetric, double Training, double Current, double Difference);

/// <summary>
/// The baseline metrics of the model version's training run, through the tracker's API (the model version's <c>run_id</c>,
/// then the run's latest metrics): a quality metric <c>m</c> is compared with the run's <c>test/m</c>, <c>test:m</c>,
/// <c>validation/m</c>, <c>validation:m</c> or <c>m</c>, the first the run has (the Trainer logs channel:metric; the samples
/// log channel/metric).
/// </summary>
public sealed class TrainingMetrics(TrackingClient tracker, ILogger<TrainingMetrics> logger)
{
    private static readonly string[] Prefixes = ["test/", "test:", "validation/", "validation:", ""];

    /// <summary>The comparisons, or a reason when the tracker has no such version, no run, or cannot be reached (the run goes on).</summary>
    public async Task<(IReadOnlyDictionary<string, TrainingComparison>? Comparisons, string? Reason)> CompareAsync(string? modelName, string? modelVersion,
        IReadOnlyDictionary<string, MetricValue> current, CancellationToken ct)
    {
        if (modelName is null || modelVersion is null) return (null, "The run's variant names no model version (Serving does not know it and the baseline has none).");
        try
        {
            var version = await tracker.GetModelVersionAsync(modelName, modelVersion, ct);
            if (string.IsNullOrEmpty(version.RunId)) return (null, $"Model '{modelName}' version {modelVersion} has no training run in the tracker.");
            var run = await tracker.GetRunAsync(version.RunId, ct);
            var comparisons = new Dictionary<string, TrainingComparison>(StringComparer.Ordinal);
            foreach (var (metric, value) in current)
            {
                if (!double.IsFinite(value.Value)) continue;
                foreach (var prefix in Prefixes)
                {
                    if (run.MetricValue(prefix + metric) is not { } training || !double.IsFinite(training)) continue;
                    comparisons[metric] = new TrainingComparison(modelName, modelVersion, version.RunId, prefix + metric, training, value.Value, value.Value - training);
                    break;
                }
            }
            return comparisons.Count == 0 ? (null, $"The training run {version.RunId} of model '{modelName}' version {modelVersion} logged none of the window's metrics.") : (comparisons, null);
        }
        catch (MlflowApiException e)
        {
            return (null, $"The tracker has no model '{modelName}' version {modelVersion} or its run ({e.Message}).");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            logger.LogWarning(e, "The tracker could not be reached for model {Model} version {Version}", modelName, modelVersion);
            return (null, $"The tracker could not be reached: {e.Message}");
        }
    }
}
