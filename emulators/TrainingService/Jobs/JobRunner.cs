using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Mlops.SageMaker;
using Mlops.TrainingService.Api;

namespace Mlops.TrainingService.Jobs;

/// <summary>
/// The jobs: CreateTrainingJob, DescribeTrainingJob, StopTrainingJob, ListTrainingJobs, and a <see cref="JobExecution"/> per job
/// running in the background. On start it fails the jobs a previous run of the service left in progress (their programs are
/// gone, or are killed now), so no job stays InProgress forever.
/// </summary>
public sealed class JobRunner(JobStore store, JobExecutionFactory executions, IOptions<TrainingServiceOptions> options,
    TimeProvider time, ILogger<JobRunner> logger) : IHostedService
{
    private readonly ConcurrentDictionary<string, TrackedJob> _jobs = new(StringComparer.OrdinalIgnoreCase);
    private readonly Lock _admission = new();
    private readonly CancellationTokenSource _shutdown = new();

    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var job in store.LoadAll())
        {
            var tracked = new TrackedJob(job);
            _jobs[job.TrainingJobName] = tracked;
            if (TrainingJobStatus.IsTerminal(job.TrainingJobStatus))
                continue;
            if (store.TryReadPid(job.TrainingJobName) is { } pid)
                TrainingProgram.KillGroup(pid);
            var now = time.GetUtcNow();
            tracked.Update(store, now, j => j with
            {
                TrainingJobStatus = TrainingJobStatus.Failed,
                FailureReason = "InternalServerError: the training service stopped while this job was in progress, and its program was lost. " +
                    "Create a new job to train again.",
                TrainingEndTime = now,
            }, SecondaryStatus.Failed, "Training job failed: the training service restarted");
            logger.LogWarning("Job {Job} was in progress when the service stopped; marked Failed", job.TrainingJobName);
        }
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // A graceful shutdown stops the programs and records why; a crash is handled by StartAsync next time.
        await _shutdown.CancelAsync();
        var running = _jobs.Values.Select(j => j.Execution).OfType<Task>().ToArray();
        await Task.WhenAll(running).WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ContinueWith(_ => { }, CancellationToken.None);
    }

    public CreateTrainingJobResponse Create(CreateTrainingJobRequest request)
    {
        var configured = options.Value;
        var image = JobValidation.Validate(request, configured.Images);
        var now = time.GetUtcNow();
        var arn = $"arn:aws:sagemaker:{configured.Region}:{configured.AccountId}:training-job/{request.TrainingJobName.ToLowerInvariant()}";
        var job = new DescribeTrainingJobResponse
        {
            TrainingJobName = request.TrainingJobName,
            TrainingJobArn = arn,
            TrainingJobStatus = TrainingJobStatus.InProgress,
            SecondaryStatus = SecondaryStatus.Starting,
            AlgorithmSpecification = request.AlgorithmSpecification,
            RoleArn = request.RoleArn,
            InputDataConfig = request.InputDataConfig,
            OutputDataConfig = request.OutputDataConfig,
            ResourceConfig = request.ResourceConfig,
            StoppingCondition = request.StoppingCondition with { MaxRuntimeInSeconds = request.StoppingCondition.MaxRuntimeInSeconds ?? 86400 },
            HyperParameters = request.HyperParameters ?? new Dictionary<string, string>(),
            SecondaryStatusTransitions = [new() { Status = SecondaryStatus.Starting, StartTime = now, StatusMessage = "Preparing the instances for training" }],
            CreationTime = now,
            LastModifiedTime = now,
        };

        TrackedJob tracked;
        lock (_admission)
        {
            if (_jobs.ContainsKey(request.TrainingJobName))
                throw new ApiException(ApiError.Validation($"Training job names must be unique within an AWS account and region, and a training job with this name already exists ({arn})"));
            var active = _jobs.Values.Count(j => !TrainingJobStatus.IsTerminal(j.Snapshot.TrainingJobStatus));
            if (active >= configured.MaxConcurrentJobs)
                throw new ApiException(new(400, SageMakerErrors.ResourceLimitExceeded,
                    $"The account-level service limit 'concurrent training jobs' is {configured.MaxConcurrentJobs} jobs, with current utilization of {active} jobs and a request delta of 1 jobs. " +
                    "Wait for a job to finish or raise TrainingService:MaxConcurrentJobs."));
            tracked = new TrackedJob(job);
            _jobs[job.TrainingJobName] = tracked;
            store.Save(job);
        }
        tracked.Execution = Task.Run(() => executions.Create(tracked, request.Environment, image).RunAsync(_shutdown.Token));
        return new CreateTrainingJobResponse(arn);
    }

    public DescribeTrainingJobResponse Describe(string name) => Find(name).Snapshot;

    public void Stop(string name)
    {
        var job = Find(name);
        var status = job.Snapshot.TrainingJobStatus;
        if (status is TrainingJobStatus.Stopping)
            return;
        if (TrainingJobStatus.IsTerminal(status))
            throw new ApiException(ApiError.Validation($"The request was rejected because the training job is in status {status}."));
        job.Update(store, time.GetUtcNow(), j => j with { TrainingJobStatus = TrainingJobStatus.Stopping }, SecondaryStatus.Stopping, "Stopping the training job");
        job.RequestStop(StopReason.User);
    }

    public ListTrainingJobsResponse List(ListTrainingJobsRequest request)
    {
        if (request.MaxResults is < 1 or > 100)
            throw new ApiException(ApiError.Validation($"Value '{request.MaxResults}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 100"));
        IEnumerable<DescribeTrainingJobResponse> jobs = _jobs.Values.Select(j => j.Snapshot);
        if (!string.IsNullOrEmpty(request.NameContains))
            jobs = jobs.Where(j => j.TrainingJobName.Contains(request.NameContains, StringComparison.OrdinalIgnoreCase));
        if (!string.IsNullOrEmpty(request.StatusEquals))
            jobs = jobs.Where(j => j.TrainingJobStatus == request.StatusEquals);
        if (request.CreationTimeAfter is { } after)
            jobs = jobs.Where(j => j.CreationTime > after);
        if (request.CreationTimeBefore is { } before)
            jobs = jobs.Where(j => j.CreationTime < before);
        var descending = request.SortOrder == "Descending"; // SageMaker sorts ascending by default
        Func<DescribeTrainingJobResponse, string> key = request.SortBy switch
        {
            "Name" => j => j.TrainingJobName,
            "Status" => j => j.TrainingJobStatus,
            null or "CreationTime" => j => j.CreationTime.UtcTicks.ToString("D20", System.Globalization.CultureInfo.InvariantCulture),
            _ => throw new ApiException(ApiError.Validation($"Value '{request.SortBy}' at 'sortBy' failed to satisfy constraint: Member must satisfy enum value set: [Name, CreationTime, Status]")),
        };
        var ordered = (descending ? jobs.OrderByDescending(key, StringComparer.Ordinal) : jobs.OrderBy(key, StringComparer.Ordinal)).ToList();
        var offset = 0;
        if (!string.IsNullOrEmpty(request.NextToken) && !int.TryParse(request.NextToken, out offset))
            throw new ApiException(ApiError.Validation($"Invalid pagination token '{request.NextToken}'."));
        var size = request.MaxResults ?? 10;
        var page = ordered.Skip(offset).Take(size).Select(j => new TrainingJobSummary
        {
            TrainingJobName = j.TrainingJobName, TrainingJobArn = j.TrainingJobArn, TrainingJobStatus = j.TrainingJobStatus,
            SecondaryStatus = j.SecondaryStatus, CreationTime = j.CreationTime, TrainingEndTime = j.TrainingEndTime, LastModifiedTime = j.LastModifiedTime,
        }).ToList();
        return new ListTrainingJobsResponse
        {
            TrainingJobSummaries = page,
            NextToken = offset + size < ordered.Count ? (offset + size).ToString(System.Globalization.CultureInfo.InvariantCulture) : null,
        };
    }

    private TrackedJob Find(string name)
    {
        JobValidation.ValidateName(name);
        return _jobs.TryGetValue(name, out var job) ? job
            : throw new ApiException(new(400, SageMakerErrors.ResourceNotFound, $"Requested resource not found: training job '{name}' does not exist."));
    }
}

public enum StopReason { None, User, MaxRuntime, Shutdown }

/// <summary>A job's current DescribeTrainingJob answer (replaced whole on every change) and its stop signal.</summary>
public sealed class TrackedJob(DescribeTrainingJobResponse initial)
{
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stop = new();
    private volatile DescribeTrainingJobResponse _snapshot = initial;

    public DescribeTrainingJobResponse Snapshot => _snapshot;
    public string Name => _snapshot.TrainingJobName;
    public Task? Execution { get; set; }
    public StopReason StopReason { get; private set; }
    public CancellationToken StopRequested => _stop.Token;

    public void RequestStop(StopReason reason)
    {
        lock (_lock)
        {
            if (StopReason != StopReason.None)
                return;
            StopReason = reason;
        }
        _stop.Cancel();
    }

    /// <summary>
    /// Applies <paramref name="change"/>; with <paramref name="secondary"/>, also ends the current transition and starts that
    /// one. Without <paramref name="persist"/> only the in-memory job changes (job.json follows at the next saved update).
    /// </summary>
    public void Update(JobStore store, DateTimeOffset now, Func<DescribeTrainingJobResponse, DescribeTrainingJobResponse> change,
        string? secondary = null, string? message = null, bool persist = true)
    {
        lock (_lock)
        {
            var job = change(_snapshot) with { LastModifiedTime = now };
            if (secondary is not null)
            {
                var transitions = (job.SecondaryStatusTransitions ?? []).ToList();
                if (transitions.Count > 0 && transitions[^1].EndTime is null)
                    transitions[^1] = transitions[^1] with { EndTime = now };
                transitions.Add(new SecondaryStatusTransition { Status = secondary, StartTime = now, StatusMessage = message });
                job = job with { SecondaryStatus = secondary, SecondaryStatusTransitions = transitions };
            }
            if (TrainingJobStatus.IsTerminal(job.TrainingJobStatus) && job.TrainingStartTime is { } start)
            {
                var seconds = (int)Math.Ceiling(((job.TrainingEndTime ?? now) - start).TotalSeconds);
                job = job with { TrainingTimeInSeconds = seconds, BillableTimeInSeconds = seconds };
            }
            _snapshot = job;
            if (persist || secondary is not null || TrainingJobStatus.IsTerminal(job.TrainingJobStatus))
                store.Save(job);
        }
    }
}
