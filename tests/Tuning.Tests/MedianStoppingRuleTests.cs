using Mlops.Tuning.Strategies;

namespace Mlops.Tuning.Tests;

public sealed class MedianStoppingRuleTests
{
    // Completed trials' validation AUC per report. Running averages after 4 reports: 0.6675, 0.67, 0.6575, 0.6825 → median 0.66875.
    private static readonly IReadOnlyList<double>[] Completed =
    [
        [0.60, 0.65, 0.70, 0.72, 0.73],
        [0.62, 0.66, 0.69, 0.71, 0.72],
        [0.58, 0.64, 0.68, 0.73, 0.74],
        [0.61, 0.67, 0.71, 0.74, 0.75],
    ];

    [Fact]
    public void A_clearly_worse_trial_is_stopped() =>
        Assert.True(MedianStoppingRule.ShouldStop([0.52, 0.54, 0.55, 0.56], Completed, maximize: true));

    [Fact]
    public void A_better_trial_is_not_stopped() =>
        Assert.False(MedianStoppingRule.ShouldStop([0.63, 0.69, 0.72, 0.74], Completed, maximize: true));

    [Fact]
    public void Like_SageMaker_a_trial_is_judged_from_its_first_report_and_a_grace_period_delays_that()
    {
        Assert.Equal(1, MedianStoppingSettings.Default.MinReports);
        Assert.Equal(3, MedianStoppingSettings.Default.MinCompletedTrials);
        // SageMaker judges "after each epoch": far below every completed trial's first value, stopped at once.
        Assert.True(MedianStoppingRule.ShouldStop([0.30], Completed, maximize: true));
        Assert.False(MedianStoppingRule.ShouldStop([0.65], Completed, maximize: true));
        // Katib's grace period (start_step 4; benchmarks only, the API has no place for it) judges nothing before report 4.
        var katib = new MedianStoppingSettings(MinReports: 4);
        Assert.False(MedianStoppingRule.ShouldStop([0.30], Completed, maximize: true, katib));
        Assert.False(MedianStoppingRule.ShouldStop([0.30, 0.31, 0.32], Completed, maximize: true, katib));
        Assert.True(MedianStoppingRule.ShouldStop([0.30, 0.31, 0.32, 0.33], Completed, maximize: true, katib));
    }

    [Fact]
    public void When_minimizing_a_higher_loss_is_worse()
    {
        IReadOnlyList<double>[] losses = [[0.9, 0.7, 0.5, 0.4], [0.8, 0.6, 0.5, 0.45], [0.85, 0.65, 0.55, 0.5]];
        Assert.True(MedianStoppingRule.ShouldStop([0.95, 0.9, 0.85, 0.8], losses, maximize: false));
        Assert.False(MedianStoppingRule.ShouldStop([0.7, 0.5, 0.4, 0.35], losses, maximize: false));
    }

    [Fact]
    public void No_decision_without_three_completed_trials_that_reached_that_report()
    {
        IReadOnlyList<double> worse = [0.1, 0.1, 0.1, 0.1];
        Assert.False(MedianStoppingRule.ShouldStop(worse, Completed.Take(2), maximize: true));
        Assert.True(MedianStoppingRule.ShouldStop(worse, Completed.Take(3), maximize: true));
        // Completed trials shorter than the current one have no running average at its report and do not count.
        Assert.False(MedianStoppingRule.ShouldStop([0.1, 0.1, 0.1, 0.1, 0.1, 0.1], Completed, maximize: true));
        Assert.False(MedianStoppingRule.ShouldStop(worse, [], maximize: true, new MedianStoppingSettings(MinCompletedTrials: 0)));
    }

    [Fact]
    public void The_latest_value_is_judged_against_the_median_of_running_averages_not_of_latest_values()
    {
        // Completed curves 0.2 → 0.8: running average after 4 reports 0.5, latest 0.8. The trial's 0.6 is above the
        // averages though below the latest values, so it runs on; SageMaker compares the latest value, not the trial's best.
        IReadOnlyList<double>[] rising = [[0.2, 0.4, 0.6, 0.8], [0.2, 0.4, 0.6, 0.8], [0.2, 0.4, 0.6, 0.8]];
        Assert.False(MedianStoppingRule.ShouldStop([0.55, 0.58, 0.59, 0.6], rising, maximize: true));
        // A trial that peaked above the median early but fell below it is stopped (its best so far would have kept it).
        Assert.True(MedianStoppingRule.ShouldStop([0.9, 0.7, 0.5, 0.45], rising, maximize: true));
    }
}
