using System.ComponentModel.DataAnnotations;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Options;

namespace Mlops.SageMaker;

/// <summary>How the platform's training jobs are shaped: the trainer image, the role, where artifacts go, the instance.</summary>
public sealed class TrainingOptions
{
    public const string Section = "Training";
    /// <summary>The trainer's image: <c>mlops-trainer:latest</c> locally, its ECR URI on AWS (the AppHost sets it).</summary>
    [Required] public string TrainerImage { get; set; } = "mlops-trainer:latest";
    /// <summary>The IAM role SageMaker assumes (any ARN-shaped value for the local training service).</summary>
    [Required] public string RoleArn { get; set; } = "arn:aws:iam::000000000000:role/mlops-training";
    /// <summary>S3OutputPath: jobs write to <c>&lt;path&gt;/&lt;job&gt;/output/model.tar.gz</c>.</summary>
    [Required] public string OutputPath { get; set; } = "s3://mlops-artifacts/training-jobs";
    [Required] public string InstanceType { get; set; } = "ml.m5.xlarge";
    [Range(1, 16384)] public int VolumeSizeInGB { get; set; } = 10;
    [Range(1, 432000)] public int MaxRuntimeInSeconds { get; set; } = 3600;
}

/// <summary>A trainer job: training-set snapshots (Parquet in S3) as channels, an algorithm and its hyperparameters.</summary>
/// <param name="Name">The job name (unique; 1–63 letters, digits and hyphens).</param>
/// <param name="Train">The train channel's S3 URI: a snapshot's data_uri or a prefix.</param>
/// <param name="Validation">The validation channel's S3 URI.</param>
/// <param name="Algorithm">The trainer's <c>algorithm</c> hyperparameter (lightgbm, fasttree, fastforest, sdca, lbfgs).</param>
/// <param name="HyperParameters">The other hyperparameters, as strings.</param>
/// <param name="Test">An optional test channel.</param>
/// <param name="MaxRuntimeInSeconds">Overrides <see cref="TrainingOptions.MaxRuntimeInSeconds"/>.</param>
public sealed record TrainerJobRequest(string Name, string Train, string Validation, string Algorithm,
    IReadOnlyDictionary<string, string>? HyperParameters = null, string? Test = null, int? MaxRuntimeInSeconds = null);

/// <summary>Training jobs for the rest of the platform, on SageMaker's API (real or the local training service).</summary>
public interface ITrainingJobs
{
    /// <summary>Creates the job and answers its name; the job runs on.</summary>
    Task<string> StartAsync(TrainerJobRequest request, CancellationToken ct = default);

    /// <summary>Polls with back-off (1 s doubling to 30 s) until the job ends, reporting every change of SecondaryStatus.</summary>
    Task<DescribeTrainingJobResponse> WaitAsync(string name, IProgress<DescribeTrainingJobResponse>? progress = null, CancellationToken ct = default);

    /// <summary>Starts the job and waits for it, as one trace span (<c>training-job</c>) over its whole life.</summary>
    Task<DescribeTrainingJobResponse> RunAsync(TrainerJobRequest request, IProgress<DescribeTrainingJobResponse>? progress = null, CancellationToken ct = default);

    Task StopAsync(string name, CancellationToken ct = default);

    Task<DescribeTrainingJobResponse> DescribeAsync(string name, CancellationToken ct = default);
}

/// <inheritdoc />
public sealed class TrainingJobs(SageMakerClient sageMaker, IOptions<TrainingOptions> options, TimeProvider? time = null) : ITrainingJobs
{
    public const string ActivitySourceName = "Mlops.SageMaker.TrainingJobs";
    private static readonly ActivitySource Source = new(ActivitySourceName);
    private static readonly TimeSpan FirstPoll = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan LongestPoll = TimeSpan.FromSeconds(30);
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>
    /// The trainer's metric regexes for a binary, multiclass or regression model's metrics. The same regex matches the
    /// final line (<c>metric validation:auc=0.65</c>) and the per-iteration lines tree learners print while they train
    /// (<c>metric validation:auc=0.64 iteration=50</c>), so each metric's series ends with its final value; <c>loss</c>,
    /// <c>error_rate</c> and <c>multi_logloss</c> exist only per iteration (FastTree binary, LightGBM multiclass).
    /// </summary>
    public static readonly IReadOnlyList<MetricDefinition> TrainerMetrics =
        new[] { "auc", "accuracy", "f1", "log_loss", "micro_accuracy", "macro_accuracy", "rmse", "mae", "r2", "loss", "error_rate", "multi_logloss" }
            .SelectMany(m => new[] { $"validation:{m}", $"train:{m}", $"test:{m}" })
            .Select(name => new MetricDefinition(name, $"metric {name}=([0-9.eE+-]+)"))
            .ToList();

    public async Task<string> StartAsync(TrainerJobRequest request, CancellationToken ct = default)
    {
        using var activity = Source.StartActivity("training-job create", ActivityKind.Client);
        activity?.SetTag("training_job.name", request.Name);
        await sageMaker.CreateTrainingJobAsync(BuildRequest(request), ct);
        return request.Name;
    }

    /// <summary>The CreateTrainingJob request for a trainer job (public so callers and tests can see what is sent).</summary>
    public CreateTrainingJobRequest BuildRequest(TrainerJobRequest request)
    {
        var o = options.Value;
        var hyperParameters = new Dictionary<string, string>(request.HyperParameters ?? new Dictionary<string, string>())
        {
            ["algorithm"] = request.Algorithm,
        };
        var channels = new List<Channel> { Parquet("train", request.Train), Parquet("validation", request.Validation) };
        if (request.Test is not null)
            channels.Add(Parquet("test", request.Test));
        return new CreateTrainingJobRequest
        {
            TrainingJobName = request.Name,
            AlgorithmSpecification = new() { TrainingImage = o.TrainerImage, TrainingInputMode = "File", MetricDefinitions = TrainerMetrics },
            RoleArn = o.RoleArn,
            InputDataConfig = channels,
            OutputDataConfig = new() { S3OutputPath = o.OutputPath },
            ResourceConfig = new() { InstanceType = o.InstanceType, InstanceCount = 1, VolumeSizeInGB = o.VolumeSizeInGB },
            StoppingCondition = new() { MaxRuntimeInSeconds = request.MaxRuntimeInSeconds ?? o.MaxRuntimeInSeconds },
            HyperParameters = hyperParameters,
        };
    }

    public async Task<DescribeTrainingJobResponse> WaitAsync(string name, IProgress<DescribeTrainingJobResponse>? progress = null, CancellationToken ct = default)
    {
        var delay = FirstPoll;
        string? reported = null;
        while (true)
        {
            var job = await sageMaker.DescribeTrainingJobAsync(name, ct);
            if (job.SecondaryStatus != reported)
            {
                reported = job.SecondaryStatus;
                Activity.Current?.AddEvent(new ActivityEvent(job.SecondaryStatus));
                progress?.Report(job);
            }
            if (TrainingJobStatus.IsTerminal(job.TrainingJobStatus))
                return job;
            await Task.Delay(delay, _time, ct);
            delay = TimeSpan.FromTicks(Math.Min(LongestPoll.Ticks, delay.Ticks * 2));
        }
    }

    public async Task<DescribeTrainingJobResponse> RunAsync(TrainerJobRequest request, IProgress<DescribeTrainingJobResponse>? progress = null,
        CancellationToken ct = default)
    {
        using var activity = Source.StartActivity("training-job", ActivityKind.Client);
        activity?.SetTag("training_job.name", request.Name);
        activity?.SetTag("training_job.algorithm", request.Algorithm);
        try
        {
            await StartAsync(request, ct);
            var job = await WaitAsync(request.Name, progress, ct);
            activity?.SetTag("training_job.status", job.TrainingJobStatus);
            activity?.SetTag("training_job.secondary_status", job.SecondaryStatus);
            foreach (var metric in job.FinalMetricDataList ?? [])
                activity?.SetTag($"training_job.metric.{metric.MetricName}", metric.Value.ToString(CultureInfo.InvariantCulture));
            if (job.TrainingJobStatus == TrainingJobStatus.Failed)
                activity?.SetStatus(ActivityStatusCode.Error, job.FailureReason);
            return job;
        }
        catch (Exception e)
        {
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            throw;
        }
    }

    public Task StopAsync(string name, CancellationToken ct = default) => sageMaker.StopTrainingJobAsync(name, ct);

    public Task<DescribeTrainingJobResponse> DescribeAsync(string name, CancellationToken ct = default) => sageMaker.DescribeTrainingJobAsync(name, ct);

    private static Channel Parquet(string name, string uri) => new()
    {
        ChannelName = name,
        ContentType = "application/x-parquet",
        DataSource = new() { S3DataSource = new() { S3DataType = "S3Prefix", S3Uri = uri, S3DataDistributionType = "FullyReplicated" } },
    };
}
