using System.ComponentModel.DataAnnotations;

namespace Mlops.Serving;

/// <summary>The <c>Serving</c> section: where packages are cached, where capture and ground truth go, and the capture buffer.</summary>
public sealed class ServingOptions
{
    public const string Section = "Serving";

    /// <summary>Packages on disk, one folder per content hash. Default: a folder under the temp directory.</summary>
    [Required] public string ModelCacheDirectory { get; set; } = Path.Combine(Path.GetTempPath(), "mlops-serving-models");

    /// <summary>The bucket for capture and ground truth; empty means the lake bucket (Storage:LakeBucket).</summary>
    public string? CaptureBucket { get; set; }

    /// <summary>Capture files go under <c>{CapturePrefix}/{endpoint}/{variant}/yyyy/mm/dd/hh/</c>.</summary>
    [Required] public string CapturePrefix { get; set; } = "data-capture";

    /// <summary>Ground truth goes under <c>{GroundTruthPrefix}/{endpoint}/yyyy/mm/dd/hh/</c>.</summary>
    [Required] public string GroundTruthPrefix { get; set; } = "ground-truth";

    /// <summary>Captured records held in memory before a flush; beyond it records are dropped (and counted), never waited for.</summary>
    [Range(1, 10_000_000)] public int CaptureBufferRecords { get; set; } = 100_000;

    /// <summary>The longest a captured record waits to be written: a folder's object is written when it is this old (or full).</summary>
    [Range(50, 600_000)] public int CaptureFlushMilliseconds { get; set; } = 1000;

    /// <summary>The size at which a folder's capture object is written without waiting for the interval (below S3's multipart threshold).</summary>
    [Range(16 * 1024, 15 * 1024 * 1024)] public int CaptureObjectBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>Tasks formatting captured rows into records at once (each with buffers of its own).</summary>
    [Range(1, 16)] public int CaptureFormatters { get; set; } = 2;

    /// <summary>Capture objects written to S3 at once.</summary>
    [Range(1, 32)] public int CaptureUploads { get; set; } = 4;

    /// <summary>How often, at the latest, a replica checks for endpoint changes (traffic shifts, new configurations, rollbacks); each change is also notified to every replica the moment it commits.</summary>
    [Range(20, 10_000)] public int RefreshMilliseconds { get; set; } = 200;

    /// <summary>How often the deployment engine looks for due steps.</summary>
    [Range(20, 10_000)] public int DeploymentTickMilliseconds { get; set; } = 250;

    /// <summary>The environment ModelDeployed events name (staging, production...).</summary>
    [Required] public string Environment { get; set; } = "production";

    /// <summary>How often each replica evaluates the built-in alarms of the deployments in progress.</summary>
    [Range(20, 10_000)] public int AlarmEvaluationMilliseconds { get; set; } = 200;

    /// <summary>Mirrored requests waiting for a shadow variant; beyond it mirrors are dropped (and counted), never waited for.</summary>
    [Range(1, 1_000_000)] public int ShadowQueueRequests { get; set; } = 10_000;

    /// <summary>Rows one invocation may carry.</summary>
    [Range(1, 1_000_000)] public int MaxRowsPerRequest { get; set; } = 10_000;
}
