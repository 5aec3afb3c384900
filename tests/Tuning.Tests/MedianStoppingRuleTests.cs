using Mlops.Tuning.Strategies;

namespace Mlops.Tuning.Tests;

public sealed class MedianStoppingRuleTests
{
    // Earlier trials' validation AUC per iteration.
    private static readonly IReadOnlyList<double>[] Earlier =
    [
        [0.60, 0.65, 0.70, 0.72],
        [0.62, 0.66, 0.69, 0.71],
        [0.58, 0.64, 0.68, 0.73],
        [0.61, 0.67, 0.71, 0.74],
    ];

    [Fact]
    public void A_clearly_worse_trial_is_stopped() =>
        Assert.True(MedianStoppingRule.ShouldStop([0.52, 0.54, 0.55], Earlier, maximize: true));

    [Fact]
    public void A_better_trial_is_not_stopped() =>
        Assert.False(MedianStoppingRule.ShouldStop([0.63, 0.69, 0.72], Earlier, maximize: true));

    [Fact]
    public void When_minimizing_a_higher_loss_is_worse()
    {
        IReadOnlyList<double>[] losses = [[0.9, 0.7, 0.5], [0.8, 0.6, 0.5], [0.85, 0.65, 0.55]];
        Assert.True(MedianStoppingRule.ShouldStop([0.95, 0.9, 0.85], losses, maximize: false));
        Assert.False(MedianStoppingRule.ShouldStop([0.7, 0.5, 0.4], losses, maximize: false));
    }

    [Fact]
    public void No_decision_without_enough_earlier_trials_at_that_step()
    {
        Assert.False(MedianStoppingRule.ShouldStop([0.1], Earlier.Take(2), maximize: true));
        // Earlier trials shorter than the current one do not count at its step.
        Assert.False(MedianStoppingRule.ShouldStop([0.1, 0.1, 0.1, 0.1, 0.1], Earlier, maximize: true));
    }

    [Fact]
    public void The_median_is_of_running_averages_not_of_the_latest_values()
    {
        // Running averages at step 2: 0.5, 0.5, 0.5 (curves 0.2→0.8); the trial's 0.6 is above them though below the latest 0.8.
        IReadOnlyList<double>[] rising = [[0.2, 0.8], [0.2, 0.8], [0.2, 0.8]];
        Assert.False(MedianStoppingRule.ShouldStop([0.55, 0.6], rising, maximize: true));
    }
}
