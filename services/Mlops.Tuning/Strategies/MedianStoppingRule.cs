namespace Mlops.Tuning.Strategies;

/// <summary>
/// The median stopping rule (Golovin et al., Google Vizier, 2017), as SageMaker describes its Auto early stopping: a trial
/// whose objective at step k is worse than the median of the earlier trials' running averages up to step k is stopped.
/// </summary>
public static class MedianStoppingRule
{
    /// <summary>Fewer earlier trials than this at step k and the median says too little: no decision.</summary>
    public const int DefaultMinEarlierTrials = 3;

    /// <summary>Steps a trial always gets before it can be stopped (learning curves are noisiest at the start).</summary>
    public const int DefaultMinSteps = 1;

    /// <param name="current">The trial's values so far, one a step; its latest is judged.</param>
    /// <param name="earlier">Earlier trials' value series (started before this one); those shorter than <paramref name="current"/> do not count.</param>
    /// <param name="maximize">Whether larger is better.</param>
    /// <param name="minEarlierTrials">See <see cref="DefaultMinEarlierTrials"/>.</param>
    /// <param name="minSteps">See <see cref="DefaultMinSteps"/>.</param>
    public static bool ShouldStop(IReadOnlyList<double> current, IEnumerable<IReadOnlyList<double>> earlier, bool maximize,
        int minEarlierTrials = DefaultMinEarlierTrials, int minSteps = DefaultMinSteps)
    {
        var k = current.Count;
        if (k < Math.Max(1, minSteps) || !double.IsFinite(current[k - 1]))
            return false;
        var averages = earlier.Where(e => e.Count >= k).Select(e => e.Take(k).Average()).Where(double.IsFinite).OrderBy(v => v).ToList();
        if (averages.Count < Math.Max(1, minEarlierTrials))
            return false;
        var median = averages.Count % 2 == 1
            ? averages[averages.Count / 2]
            : (averages[averages.Count / 2 - 1] + averages[averages.Count / 2]) / 2;
        return maximize ? current[k - 1] < median : current[k - 1] > median;
    }
}
