using System.Text.Json;
using Microsoft.Extensions.Options;
using Mlops.SageMaker;

namespace Mlops.TrainingService.Jobs;

/// <summary>
/// Each job's state on disk, so it outlives the service: <c>jobs/&lt;name&gt;/job.json</c> (the DescribeTrainingJob answer,
/// rewritten atomically on every transition), <c>log.txt</c>, <c>metrics.jsonl</c>, <c>pid</c> and the working tree <c>ml/</c>.
/// </summary>
public sealed class JobStore(IOptions<TrainingServiceOptions> options)
{
    private string JobsDirectory => Path.Combine(options.Value.StateDirectory, "jobs");

    public string JobDirectory(string name) => Path.Combine(JobsDirectory, name);
    public string WorkingTree(string name) => Path.Combine(JobDirectory(name), "ml");
    public string LogPath(string name) => Path.Combine(JobDirectory(name), "log.txt");
    public string MetricsPath(string name) => Path.Combine(JobDirectory(name), "metrics.jsonl");
    private string PidPath(string name) => Path.Combine(JobDirectory(name), "pid");

    public void Save(DescribeTrainingJobResponse job)
    {
        var directory = JobDirectory(job.TrainingJobName);
        Directory.CreateDirectory(directory);
        var temporary = Path.Combine(directory, $"job.json.{Guid.NewGuid():N}.tmp");
        File.WriteAllBytes(temporary, JsonSerializer.SerializeToUtf8Bytes(job, SageMakerJson.Options));
        File.Move(temporary, Path.Combine(directory, "job.json"), overwrite: true);
    }

    public IEnumerable<DescribeTrainingJobResponse> LoadAll()
    {
        if (!Directory.Exists(JobsDirectory))
            yield break;
        foreach (var file in Directory.EnumerateFiles(JobsDirectory, "job.json", SearchOption.AllDirectories))
            if (JsonSerializer.Deserialize<DescribeTrainingJobResponse>(File.ReadAllBytes(file), SageMakerJson.Options) is { } job)
                yield return job;
    }

    public void SavePid(string name, int pid) => File.WriteAllText(PidPath(name), pid.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public int? TryReadPid(string name) =>
        File.Exists(PidPath(name)) && int.TryParse(File.ReadAllText(PidPath(name)), out var pid) ? pid : null;

    public void DeletePid(string name) => File.Delete(PidPath(name));
}
