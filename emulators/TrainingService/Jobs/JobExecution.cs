using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Mlops.SageMaker;
using Mlops.ServiceDefaults.Storage;

namespace Mlops.TrainingService.Jobs;

public sealed class JobExecutionFactory(JobStore store, ObjectStore objects, IOptions<TrainingServiceOptions> options, TimeProvider time,
    ILogger<JobExecution> logger)
{
    public JobExecution Create(TrackedJob job, IReadOnlyDictionary<string, string>? environment, TrainingImage image) =>
        new(job, environment, image, store, objects, options.Value, time, logger);
}

/// <summary>
/// One job, as SageMaker runs it on a single instance: Starting → Downloading (S3 channels into input/data/&lt;channel&gt;/) →
/// Training (the image's program over the tree, its log scraped for metrics) → Uploading (model/ as model.tar.gz, output/data
/// as output.tar.gz under S3OutputPath/&lt;job&gt;/output/) → Completed; or Failed (output/failure as FailureReason), Stopped, or
/// Stopped with MaxRuntimeExceeded.
/// </summary>
public sealed partial class JobExecution(TrackedJob job, IReadOnlyDictionary<string, string>? environment, TrainingImage image, JobStore store,
    ObjectStore objects, TrainingServiceOptions options, TimeProvider time, ILogger logger)
{
    public const int FailureReasonLimit = 1024;
    private static readonly string TrainerDll = typeof(JobExecution).Assembly
        .GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false).OfType<System.Reflection.AssemblyMetadataAttribute>()
        .FirstOrDefault(a => a.Key == "TrainerDll")?.Value ?? "train.dll";

    private readonly string _name = job.Name;
    private readonly string _root = store.WorkingTree(job.Name);
    private readonly Lock _logLock = new();
    private readonly Dictionary<string, MetricData> _latest = [];
    private StreamWriter? _log;
    private StreamWriter? _metrics;
    private DateTimeOffset _lastSaved;

    /// <summary>The iteration of an intermediate metric line (<c>metric validation:auc=0.71 iteration=50</c>): our extension.</summary>
    [GeneratedRegex(@"\biteration=(\d+)\b")]
    private static partial Regex IterationPattern();

    public async Task RunAsync(CancellationToken shutdown)
    {
        var spec = job.Snapshot;
        using var maxRuntime = new CancellationTokenSource(TimeSpan.FromSeconds(spec.StoppingCondition!.MaxRuntimeInSeconds!.Value), time);
        using var maxRuntimeRegistration = maxRuntime.Token.Register(() => job.RequestStop(StopReason.MaxRuntime));
        using var shutdownRegistration = shutdown.Register(() => job.RequestStop(StopReason.Shutdown));
        var trained = false;
        try
        {
            Directory.CreateDirectory(store.JobDirectory(_name));
            _log = new StreamWriter(new FileStream(store.LogPath(_name), FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
            _metrics = new StreamWriter(new FileStream(store.MetricsPath(_name), FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };

            job.Update(store, time.GetUtcNow(), j => j with { TrainingStartTime = time.GetUtcNow() }, SecondaryStatus.Downloading, "Downloading input data");
            var missing = await DownloadChannelsAsync(job.StopRequested);
            if (missing is not null)
            {
                Finish(TrainingJobStatus.Failed, SecondaryStatus.Failed, "Training job failed", missing);
                return;
            }
            WriteConfiguration(spec);

            job.Update(store, time.GetUtcNow(), j => j, SecondaryStatus.Training, "Training image download completed. Training in progress.");
            trained = true;
            var exitCode = await RunProgramAsync();

            if (job.StopReason != StopReason.None)
            {
                await UploadAsync(CancellationToken.None);
                FinishStopped();
            }
            else if (exitCode != 0)
            {
                Finish(TrainingJobStatus.Failed, SecondaryStatus.Failed, "Training job failed", FailureReason(exitCode));
            }
            else
            {
                job.Update(store, time.GetUtcNow(), j => j, SecondaryStatus.Uploading, "Uploading generated training model");
                await UploadAsync(CancellationToken.None);
                Finish(TrainingJobStatus.Completed, SecondaryStatus.Completed, "Training job completed", null);
            }
        }
        catch (OperationCanceledException) when (job.StopReason != StopReason.None)
        {
            if (trained)
                await UploadAsync(CancellationToken.None);
            FinishStopped();
        }
        catch (Exception e)
        {
            logger.LogError(e, "Job {Job} failed in the training service", _name);
            Finish(TrainingJobStatus.Failed, SecondaryStatus.Failed, "Training job failed", Truncate($"InternalServerError: {e.Message}"));
        }
        finally
        {
            store.DeletePid(_name);
            _log?.Dispose();
            _metrics?.Dispose();
            if (!options.KeepWorkingTrees)
                TryDelete(_root);
        }
    }

    private void FinishStopped()
    {
        switch (job.StopReason)
        {
            case StopReason.MaxRuntime:
                Finish(TrainingJobStatus.Stopped, SecondaryStatus.MaxRuntimeExceeded, "Training job exceeded the MaxRuntimeInSeconds provided", null);
                break;
            case StopReason.Shutdown:
                Finish(TrainingJobStatus.Failed, SecondaryStatus.Failed, "Training job failed: the training service shut down",
                    "InternalServerError: the training service shut down while this job was in progress. Create a new job to train again.");
                break;
            default:
                Finish(TrainingJobStatus.Stopped, SecondaryStatus.Stopped, "Training job stopped", null);
                break;
        }
    }

    private void Finish(string status, string secondary, string message, string? failure)
    {
        var now = time.GetUtcNow();
        job.Update(store, now, j => j with
        {
            TrainingJobStatus = status,
            FailureReason = failure,
            TrainingEndTime = now,
            FinalMetricDataList = LatestMetrics(),
        }, secondary, message);
    }

    /// <summary>Null when every channel has objects; otherwise the FailureReason naming the channel and URI that has none.</summary>
    private async Task<string?> DownloadChannelsAsync(CancellationToken ct)
    {
        foreach (var channel in job.Snapshot.InputDataConfig ?? [])
        {
            var uri = channel.DataSource.S3DataSource!.S3Uri;
            var location = S3Location.TryParse(uri)!;
            var target = Path.Combine(_root, "input", "data", channel.ChannelName);
            Directory.CreateDirectory(target);
            // Keys keep their path below the URI's last "folder", as SageMaker lays out an S3Prefix channel.
            var baseKey = location.Prefix[..(location.Prefix.LastIndexOf('/') + 1)];
            var count = 0;
            try
            {
                await foreach (var item in objects.ListAsync(location.Bucket, location.Prefix, ct: ct))
                {
                    if (item.Key.EndsWith('/'))
                        continue;
                    var path = Path.GetFullPath(Path.Combine(target, item.Key[baseKey.Length..]));
                    if (!path.StartsWith(target + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                        continue;
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    await using (var source = await objects.GetAsync(location.Bucket, item.Key, ct))
                    await using (var file = File.Create(path))
                        await source.CopyToAsync(file, ct);
                    count++;
                }
            }
            catch (Amazon.S3.AmazonS3Exception e) when (e.ErrorCode is "NoSuchBucket" || e.StatusCode == System.Net.HttpStatusCode.NotFound)
            {
                return Truncate($"ClientError: Data download failed for channel '{channel.ChannelName}': the bucket of S3 URL '{uri}' does not exist.");
            }
            if (count == 0)
                return Truncate($"ClientError: Data download failed for channel '{channel.ChannelName}': no S3 objects found under S3 URL '{uri}' " +
                    "given in input data source. Please ensure that the bucket exists and that objects exist under that S3 prefix.");
            Log($"[training-service] channel {channel.ChannelName}: {count} object(s) from {uri}");
        }
        return null;
    }

    private void WriteConfiguration(DescribeTrainingJobResponse spec)
    {
        var config = Path.Combine(_root, "input", "config");
        Directory.CreateDirectory(config);
        Directory.CreateDirectory(Path.Combine(_root, "model"));
        Directory.CreateDirectory(Path.Combine(_root, "output", "data"));
        Directory.CreateDirectory(Path.Combine(_root, "code"));
        var indented = new JsonSerializerOptions(SageMakerJson.Options) { WriteIndented = true };
        File.WriteAllText(Path.Combine(config, "hyperparameters.json"), JsonSerializer.Serialize(spec.HyperParameters ?? new Dictionary<string, string>(), indented));
        File.WriteAllText(Path.Combine(config, "inputdataconfig.json"), JsonSerializer.Serialize(
            (spec.InputDataConfig ?? []).ToDictionary(c => c.ChannelName, c => new Dictionary<string, string?>
            {
                ["ContentType"] = c.ContentType,
                ["TrainingInputMode"] = c.InputMode ?? spec.AlgorithmSpecification!.TrainingInputMode,
                ["S3DistributionType"] = c.DataSource.S3DataSource!.S3DataDistributionType ?? "FullyReplicated",
                ["RecordWrapperType"] = "None",
            }.Where(p => p.Value is not null).ToDictionary()), indented));
        File.WriteAllText(Path.Combine(config, "resourceconfig.json"), JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["current_host"] = "algo-1",
            ["current_instance_type"] = spec.ResourceConfig!.InstanceType,
            ["current_group_name"] = "homogeneousCluster",
            ["hosts"] = new[] { "algo-1" },
            ["network_interface_name"] = "lo",
        }, indented));
    }

    private async Task<int> RunProgramAsync()
    {
        var arguments = image.Arguments.Select(a => a.Replace("{trainer}", TrainerDll, StringComparison.Ordinal).Replace("{root}", _root, StringComparison.Ordinal));
        var info = TrainingProgram.StartInfo(image.Command, arguments, _root);
        // The program sees the contract's environment, never this service's own secrets and connection settings.
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("TrainingService", StringComparison.OrdinalIgnoreCase)
                     || k.StartsWith("S3__", StringComparison.OrdinalIgnoreCase) || k.StartsWith("ConnectionStrings__", StringComparison.OrdinalIgnoreCase)
                     || k.StartsWith("AWS_", StringComparison.OrdinalIgnoreCase)).ToList())
            info.Environment.Remove(key);
        foreach (var (key, value) in ContractEnvironment())
            info.Environment[key] = value;
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
            info.Environment[key] = value;

        using var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var exited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.Exited += (_, _) => exited.TrySetResult();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) OnLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) OnLine(e.Data); };
        process.Start();
        process.StandardInput.Close();
        store.SavePid(_name, process.Id);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var stopRegistration = job.StopRequested.Register(() => TrainingProgram.Terminate(process.Id));
        await exited.Task.WaitAsync(job.StopRequested).ContinueWith(_ => { }, CancellationToken.None);
        if (!exited.Task.IsCompleted)
        {
            // Stopped: SIGTERM went out with the stop; the program has the grace period to save its model, then is killed.
            var grace = TimeSpan.FromSeconds(options.StopGracePeriodSeconds);
            await exited.Task.WaitAsync(grace, time).ContinueWith(_ => { }, CancellationToken.None);
            if (!exited.Task.IsCompleted)
            {
                Log($"[training-service] the program did not exit within {grace.TotalSeconds:0} s of SIGTERM; killing it");
                TrainingProgram.KillGroup(process.Id);
                await exited.Task;
            }
        }
        // Whatever the program left running in its session goes with it (it would hold the log pipes open).
        TrainingProgram.KillGroup(process.Id);
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { }, CancellationToken.None);
        Log($"[training-service] the program exited with code {process.ExitCode}");
        return process.ExitCode;
    }

    private Dictionary<string, string> ContractEnvironment()
    {
        var spec = job.Snapshot;
        var channels = (spec.InputDataConfig ?? []).Select(c => c.ChannelName).ToList();
        var variables = new Dictionary<string, string>
        {
            ["MLOPS_TRAINER_ROOT"] = _root,
            ["SM_ROOT"] = _root,
            ["SM_MODEL_DIR"] = Path.Combine(_root, "model"),
            ["SM_INPUT_DIR"] = Path.Combine(_root, "input"),
            ["SM_INPUT_CONFIG_DIR"] = Path.Combine(_root, "input", "config"),
            ["SM_OUTPUT_DIR"] = Path.Combine(_root, "output"),
            ["SM_OUTPUT_DATA_DIR"] = Path.Combine(_root, "output", "data"),
            ["SM_CHANNELS"] = JsonSerializer.Serialize(channels),
            ["SM_HPS"] = JsonSerializer.Serialize(spec.HyperParameters ?? new Dictionary<string, string>()),
            ["SM_CURRENT_HOST"] = "algo-1",
            ["SM_HOSTS"] = """["algo-1"]""",
            ["TRAINING_JOB_NAME"] = spec.TrainingJobName,
            ["TRAINING_JOB_ARN"] = spec.TrainingJobArn,
        };
        foreach (var channel in channels)
            variables[$"SM_CHANNEL_{channel.ToUpperInvariant()}"] = Path.Combine(_root, "input", "data", channel);
        return variables;
    }

    private void OnLine(string line)
    {
        Log(line);
        var definitions = job.Snapshot.AlgorithmSpecification?.MetricDefinitions;
        if (definitions is null)
            return;
        foreach (var definition in definitions)
        {
            Match match;
            try
            {
                match = Regex.Match(line, definition.Regex, RegexOptions.None, TimeSpan.FromMilliseconds(100));
            }
            catch (RegexMatchTimeoutException)
            {
                continue;
            }
            if (!match.Success || match.Groups.Count < 2
                || !double.TryParse(match.Groups[1].Value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var value))
                continue;
            var metric = new MetricData { MetricName = definition.Name, Value = value, Timestamp = time.GetUtcNow() };
            var iteration = IterationPattern().Match(line);
            var point = new MetricValue
            {
                MetricName = metric.MetricName, Value = value, Timestamp = metric.Timestamp,
                Iteration = iteration.Success && int.TryParse(iteration.Groups[1].ValueSpan, out var i) ? i : null,
                Replayed = iteration.Success && line.EndsWith(" replayed", StringComparison.Ordinal) ? true : null,
            };
            lock (_logLock)
            {
                _latest[definition.Name] = metric;
                _metrics?.WriteLine(JsonSerializer.Serialize(point, SageMakerJson.Options));
            }
            // Visible while the job runs, as SageMaker's intermediate metrics are (tuning's early stopping reads them). A tree
            // learner prints several lines per tree: job.json is rewritten at most once a second (metrics.jsonl has every value).
            var now = time.GetUtcNow();
            var persist = now - _lastSaved >= TimeSpan.FromSeconds(1);
            if (persist)
                _lastSaved = now;
            job.Update(store, now, j => j with { FinalMetricDataList = LatestMetrics() }, persist: persist);
        }
    }

    private List<MetricData> LatestMetrics()
    {
        lock (_logLock)
        {
            var order = (job.Snapshot.AlgorithmSpecification?.MetricDefinitions ?? []).Select(d => d.Name).ToList();
            return _latest.Values.OrderBy(m => order.IndexOf(m.MetricName)).ToList();
        }
    }

    private void Log(string line)
    {
        lock (_logLock)
            _log?.WriteLine(line);
    }

    private string FailureReason(int exitCode)
    {
        var failure = Path.Combine(_root, "output", "failure");
        if (File.Exists(failure) && File.ReadAllText(failure).Trim() is { Length: > 0 } text)
            return Truncate(text);
        return $"AlgorithmError: the training program exited with code {exitCode} and wrote no output/failure; see the job's log.";
    }

    private async Task UploadAsync(CancellationToken ct)
    {
        var output = S3Location.TryParse(job.Snapshot.OutputDataConfig!.S3OutputPath)!;
        var prefix = output.Prefix.Trim('/');
        var key = (prefix.Length == 0 ? "" : prefix + "/") + _name + "/output/";
        var model = Path.Combine(_root, "model");
        if (Directory.Exists(model))
        {
            await UploadDirectoryAsync(model, output.Bucket, key + "model.tar.gz", ct);
            var artifacts = $"s3://{output.Bucket}/{key}model.tar.gz";
            job.Update(store, time.GetUtcNow(), j => j with { ModelArtifacts = new ModelArtifacts(artifacts) });
        }
        var data = Path.Combine(_root, "output", "data");
        if (Directory.Exists(data))
            await UploadDirectoryAsync(data, output.Bucket, key + "output.tar.gz", ct);
    }

    private async Task UploadDirectoryAsync(string directory, string bucket, string key, CancellationToken ct)
    {
        var archive = Path.Combine(store.JobDirectory(_name), Path.GetFileName(key));
        await using (var file = File.Create(archive))
        await using (var gzip = new GZipStream(file, CompressionLevel.Fastest))
            await TarFile.CreateFromDirectoryAsync(directory, gzip, includeBaseDirectory: false, ct);
        await using (var upload = File.OpenRead(archive))
            await objects.PutAsync(bucket, key, upload, "application/x-tar", ct);
        File.Delete(archive);
    }

    private static string Truncate(string text) => text.Length <= FailureReasonLimit ? text : text[..FailureReasonLimit];

    private static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
                Directory.Delete(directory, recursive: true);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
