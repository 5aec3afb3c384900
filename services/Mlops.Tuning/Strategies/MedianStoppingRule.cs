namespace Mlops.Tuning.Strategies;

/// <summary>
/// When the median rule may judge a trial. SageMaker's HyperParameterTuningJobConfig has no place for them (only
/// <c>TrainingJobEarlyStoppingType</c> Off/Auto), so a tuning job always uses <see cref="Default"/>; other values are for
/// benchmarks and tests, not part of the API.
/// </summary>
/// <param name="MinCompletedTrials">Completed trials with a running average at step k needed before the median at k says
/// anything (Katib's <c>min_trials_required</c>, Ray Tune's <c>min_samples_required</c>: both default to 3).</param>
/// <param name="MinReports">Intermediate values a trial has reported before it can be stopped. 1 by default: SageMaker judges
/// "after each epoch", and Optuna's <c>MedianPruner</c> (<c>n_warmup_steps</c> 0) likewise; Katib's <c>start_step</c> is 4,
/// a grace period that costs savings and buys quality only where early values are too noisy to rank trials
/// (benchmarks/README.md measures both).</param>
public sealed record MedianStoppingSettings(int MinCompletedTrials = 3, int MinReports = 1)
{
    public static MedianStoppingSettings Default { get; } = new();
}

/// <summary>
/// The median stopping rule as SageMaker documents its automatic early stopping (Golovin et al., Google Vizier, 2017): after
/// the trial's k-th intermediate value, take the running average of each completed trial's first k values and the median of
/// those averages; if the trial's k-th value is worse, stop it.
/// </summary>
public static class MedianStoppingRule
{
    /// <param name="current">The running trial's values so far, one a report; the latest (the k-th) is judged.</param>
    /// <param name="completed">The value series of the trials that have completed (ran to the end: not running, not failed,
    /// not stopped); those with fewer than k values have no running average at k and do not count.</param>
    /// <param name="maximize">Whether larger is better.</param>
    /// <param name="settings">Grace period and minimum number of completed trials; <see cref="MedianStoppingSettings.Default"/> if null.</param>
    public static bool ShouldStop(IReadOnlyList<double> current, IEnumerable<IReadOnlyList<double>> completed, bool maximize,
        MedianStoppingSettings? settings = null)
    {
        settings ??= MedianStoppingSettings.Default;
        var k = current.Count;
        if (k == 0 || k < settings.MinReports || !double.IsFinite(current[k - 1]))
            return false;
        var averages = completed.Where(e => e.Count >= k).Select(e => e.Take(k).Average()).Where(double.IsFinite).OrderBy(v => v).ToList();
        if (averages.Count == 0 || averages.Count < settings.MinCompletedTrials)
            return false;
        var median = averages.Count % 2 == 1
            ? averages[averages.Count / 2]
            : (averages[averages.Count / 2 - 1] + averages[averages.Count / 2]) / 2;
        return maximize ? current[k - 1] < median : current[k - 1] > median;
    }
}
