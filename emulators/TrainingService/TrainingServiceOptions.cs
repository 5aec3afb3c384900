using System.ComponentModel.DataAnnotations;

namespace Mlops.TrainingService;

public sealed class TrainingServiceOptions
{
    public const string Section = "TrainingService";

    /// <summary>The one access key id SigV4 requests must be signed with (an Aspire parameter in the AppHost).</summary>
    [Required] public string AccessKey { get; set; } = "";
    [Required, MinLength(16)] public string SecretKey { get; set; } = "";
    /// <summary>Where jobs, their logs and their /opt/ml-style working trees live; survives restarts.</summary>
    [Required] public string StateDirectory { get; set; } = "";
    public string Region { get; set; } = "us-east-1";
    public string AccountId { get; set; } = "000000000000";
    /// <summary>Jobs in progress at once; one more is refused with ResourceLimitExceeded, as an instance quota would.</summary>
    [Range(1, 1000)] public int MaxConcurrentJobs { get; set; } = 8;
    /// <summary>Between SIGTERM and SIGKILL when a job is stopped (SageMaker waits 120 s).</summary>
    [Range(0, 3600)] public int StopGracePeriodSeconds { get; set; } = 30;
    /// <summary>Keep each finished job's working tree (input data, model, output) for debugging; otherwise it is deleted.</summary>
    public bool KeepWorkingTrees { get; set; }
    /// <summary>The programs jobs can run, by TrainingImage.</summary>
    [MinLength(1)] public List<TrainingImage> Images { get; set; } = [];
}

/// <summary>
/// A TrainingImage and the local command that stands in for its container. <see cref="Name"/> matches the job's TrainingImage
/// exactly, or, written without a tag, with any tag. In <see cref="Arguments"/>, <c>{trainer}</c> is the platform trainer's
/// train.dll built next to this service.
/// </summary>
public sealed class TrainingImage
{
    [Required] public string Name { get; set; } = "";
    [Required] public string Command { get; set; } = "";
    public List<string> Arguments { get; set; } = [];

    public bool Matches(string image)
    {
        if (image == Name)
            return true;
        var slash = Name.LastIndexOf('/');
        var tagged = Name.IndexOf(':', slash + 1) >= 0;
        return !tagged && image.StartsWith(Name + ":", StringComparison.Ordinal);
    }
}
