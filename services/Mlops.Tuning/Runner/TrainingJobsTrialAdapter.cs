using System.Collections.Concurrent;
using Mlops.SageMaker;

namespace Mlops.Tuning.Runner;

/// <summary>
/// Trials as the platform's training jobs: each trial is <paramref name="template"/> with its name and hyperparameters.
/// Intermediate values are what DescribeTrainingJob shows: FinalMetricDataList holds each metric's latest value while the
/// job runs (the local training service updates it per metric line; SageMaker itself publishes the series to CloudWatch,
/// which the platform does not call). So the series is one value per change seen by a describe: as fine as the tuner
/// polls, and coarser than the job's own per-iteration lines when it polls slowly, and without iteration numbers, so
/// Hyperband's rungs never judge such trials (they run to MaxResource).
/// </summary>
public sealed class TrainingJobsTrialAdapter(ITrainingJobs jobs, TrainerJobRequest template) : ITrialTrainingJobs
{
    private readonly ConcurrentDictionary<string, List<(DateTimeOffset At, double Value)>> _seen = new();

    public Task StartAsync(string trainingJobName, IReadOnlyDictionary<string, string> hyperParameters, CancellationToken ct = default)
    {
        var merged = new Dictionary<string, string>(template.HyperParameters ?? new Dictionary<string, string>());
        foreach (var (key, value) in hyperParameters)
            merged[key] = value;
        return jobs.StartAsync(template with { Name = trainingJobName, HyperParameters = merged }, ct);
    }

    public async Task<TrialJobDescription> DescribeAsync(string trainingJobName, CancellationToken ct = default)
    {
        var job = await jobs.DescribeAsync(trainingJobName, ct);
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var metric in job.FinalMetricDataList ?? [])
        {
            metrics[metric.MetricName] = metric.Value;
            Remember(trainingJobName, metric);
        }
        var status = job.TrainingJobStatus switch
        {
            TrainingJobStatus.Completed => TrialJobStatus.Completed,
            TrainingJobStatus.Failed => TrialJobStatus.Failed,
            TrainingJobStatus.Stopping => TrialJobStatus.Stopping,
            TrainingJobStatus.Stopped => TrialJobStatus.Stopped,
            _ => TrialJobStatus.InProgress,
        };
        return new TrialJobDescription(status, metrics, job.FailureReason);
    }

    // No iteration: a describe shows the latest value, not when it was computed, so Hyperband has no rung to place it at.
    public async Task<IReadOnlyList<IntermediateValue>> GetIntermediateValuesAsync(string trainingJobName, string metricName, CancellationToken ct = default)
    {
        await DescribeAsync(trainingJobName, ct);
        if (!_seen.TryGetValue(Key(trainingJobName, metricName), out var series))
            return [];
        lock (series)
            return series.Select(s => new IntermediateValue(s.Value)).ToList();
    }

    public Task StopAsync(string trainingJobName, CancellationToken ct = default) => jobs.StopAsync(trainingJobName, ct);

    private void Remember(string job, MetricData metric)
    {
        var series = _seen.GetOrAdd(Key(job, metric.MetricName), _ => []);
        lock (series)
            if (series.Count == 0 || series[^1].At != metric.Timestamp)
                series.Add((metric.Timestamp, metric.Value));
    }

    private static string Key(string job, string metric) => job + "\u001f" + metric;
}
