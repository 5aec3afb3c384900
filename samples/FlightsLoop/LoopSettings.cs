using System.Net.Http.Headers;
using Amazon.S3;

namespace Mlops.Samples.FlightsLoop;

/// <summary>
/// One continuous-training loop on the flights data. <see cref="Name"/> names everything the loop creates (endpoint,
/// registered model, pipeline, baseline, schedule, alarms; the feature group with underscores), so several loops can run
/// side by side on one platform.
/// </summary>
public sealed record LoopSettings
{
    public required string Name { get; init; }

    /// <summary>vega-datasets' flights-3m.parquet (January–June 2001).</summary>
    public required string FlightsParquet { get; init; }

    /// <summary>Flights sampled per month: January–April are the history, May onwards the traffic that is replayed.</summary>
    public int FlightsPerMonth { get; init; } = 3000;

    /// <summary>
    /// The deliberately worse model: the retraining triggered by the alarm flips every label it trains and validates on (a
    /// labelling bug upstream), so its offline metrics look as good as the champion's and only live ground truth shows it.
    /// </summary>
    public bool CorruptLabels { get; init; }

    public int Seed { get; init; } = 7;
    public int RowsPerRequest { get; init; } = 10;
    public TimeSpan RequestInterval { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>How long after a prediction its true delay is known (posted as ground truth).</summary>
    public TimeSpan LabelLag { get; init; } = TimeSpan.FromSeconds(2);

    public int NumIterations { get; init; } = 30;
    public int CanaryPercent { get; init; } = 50;
    public int CanaryWaitSeconds { get; init; } = 12;
    public int BakingSeconds { get; init; } = 12;

    /// <summary>The whole loop's limit: setting up, the first champion, the alarm, the retraining and its rollout.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(10);

    public string Endpoint => Name;
    public string Model => Name;
    public string Pipeline => Name;
    public string Group => Name.Replace('-', '_');
    public string DriftAlarm => $"{Name}-drift";
    public string QualityAlarm => $"{Name}-quality";
    public string Schedule => $"{Name}-drift";
    public string Baseline => Name;
    public const string Trigger = "retrain-on-drift";
    public const string ChampionVariant = "champion";
    public const string ChallengerVariant = "challenger";
    public const string Champion = "champion";
    public string LabelsKey => $"loop/{Name}/labels.parquet";
    public string[] Features => [$"{Group}:distance", $"{Group}:destination", $"{Group}:hour", $"{Group}:month"];
}

/// <summary>The services the loop talks to (HTTP with the platform API key) and the lake it writes the labelled flights to.</summary>
public sealed record LoopClients(HttpClient FeatureStore, HttpClient Tracker, HttpClient PipelineRunner, HttpClient Serving, HttpClient Monitor,
    IAmazonS3 S3, string LakeBucket)
{
    /// <summary>Clients from the services' base addresses (e.g. the <c>services__name__http__0</c> variables Aspire sets).</summary>
    public static LoopClients Create(Func<string, Uri> address, string apiKey, IAmazonS3 s3, string lakeBucket)
    {
        HttpClient Client(string service)
        {
            var client = new HttpClient { BaseAddress = address(service), Timeout = TimeSpan.FromSeconds(60) };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
            return client;
        }
        return new(Client("featurestore"), Client("experimenttracker"), Client("pipelinerunner"), Client("serving"), Client("monitor"), s3, lakeBucket);
    }
}

/// <summary>What one loop did, hop by hop (null where it never got there).</summary>
public sealed record LoopOutcome
{
    public required Guid FirstExecution { get; init; }
    public required string FirstVersion { get; init; }
    public DateTimeOffset? AlarmRaisedAt { get; init; }
    public Guid? TriggeredExecution { get; init; }
    public string? TriggeredStatus { get; init; }
    public string? TriggeredError { get; init; }
    public string? NewVersion { get; init; }
    public string? DeploymentId { get; init; }
    public string? DeploymentState { get; init; }
    public string? DeploymentReason { get; init; }
    public DateTimeOffset? DeploymentEndedAt { get; init; }
    public string? ChampionAfter { get; init; }
    public long Requests { get; init; }
    public long RequestErrors { get; init; }
    /// <summary>Invocations sent again (up to 3 attempts) because the connection closed or failed before any answer (a replica stopping).</summary>
    public long RequestsResent { get; init; }
    public long ChallengerRows { get; init; }
    public long LabelsPosted { get; init; }
    public IReadOnlyList<string> Errors { get; init; } = [];

    /// <summary>From the alarm to the end of the rollout it caused (promotion: the new champion serves 100 %).</summary>
    public double? AlarmToEndSeconds => AlarmRaisedAt is { } a && DeploymentEndedAt is { } e ? (e - a).TotalSeconds : null;
}
