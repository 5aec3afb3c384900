using Mlops.SageMaker;
using Mlops.Tuning.Runner;

namespace Mlops.PipelineRunner.Features.Tuning;

/// <summary>
/// Trials as the platform's trainer jobs (SageMaker's API: the local training service, or SageMaker). The trial's
/// hyperparameters (static and tuned, merged) carry the trainer's <c>algorithm</c>. Intermediate values for the median
/// stopping rule and Hyperband's rungs are the objective's per-iteration values from the training service's <c>GET /jobs/{name}/metrics</c>
/// (iteration order, values replayed after training left out); against real SageMaker, which keeps the series in
/// CloudWatch, there are none and the rule never fires.
/// </summary>
public sealed class PlatformTrialJobs(ITrainingJobs jobs, SageMakerClient sageMaker, string train, string validation, string? test,
    int? maxRuntimeSeconds) : ITrialTrainingJobs
{
    public async Task StartAsync(string trainingJobName, IReadOnlyDictionary<string, string> hyperParameters, CancellationToken ct = default)
    {
        var merged = new Dictionary<string, string>(hyperParameters, StringComparer.Ordinal);
        var algorithm = merged.Remove("algorithm", out var a) ? a : "lightgbm";
        try
        {
            await jobs.StartAsync(new TrainerJobRequest(trainingJobName, train, validation, algorithm, merged, test, maxRuntimeSeconds), ct);
        }
        catch (SageMakerException e) when (Steps.TrainHandler.IsAlreadyExists(e))
        {
            // Started by an earlier pass whose record of it was lost: the name is the trial's, so it is the same job.
        }
    }

    public async Task<TrialJobDescription> DescribeAsync(string trainingJobName, CancellationToken ct = default)
    {
        DescribeTrainingJobResponse job;
        try
        {
            job = await jobs.DescribeAsync(trainingJobName, ct);
        }
        catch (SageMakerException e) when (e.IsNotFound)
        {
            return new TrialJobDescription(TrialJobStatus.NotFound, new Dictionary<string, double>());
        }
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var metric in job.FinalMetricDataList ?? [])
            metrics[metric.MetricName] = metric.Value;
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

    public async Task<IReadOnlyList<IntermediateValue>> GetIntermediateValuesAsync(string trainingJobName, string metricName, CancellationToken ct = default)
    {
        try
        {
            var values = await sageMaker.GetLocalTrainingJobMetricsAsync(trainingJobName, ct);
            return values.Where(v => v.MetricName == metricName && v.Iteration is not null && v.Replayed != true && double.IsFinite(v.Value))
                .OrderBy(v => v.Iteration).Select(v => new IntermediateValue(v.Value, v.Iteration)).ToList();
        }
        catch (Exception e) when (e is SageMakerException or HttpRequestException)
        {
            return [];
        }
    }

    public async Task StopAsync(string trainingJobName, CancellationToken ct = default)
    {
        try
        {
            await jobs.StopAsync(trainingJobName, ct);
        }
        catch (SageMakerException e) when (e.IsNotFound || e.ErrorCode == "ValidationException")
        {
            // Already over (SageMaker refuses to stop a job that has ended) or never started.
        }
    }
}
