using System.Text.Json;
using Mlops.FeatureStore.Features.Jobs;

namespace Mlops.FeatureStore.Features.TrainingSets;

/// <summary>The job form of a training set (large or lake-sourced entity rows); progress counts entity rows joined.</summary>
public sealed class TrainingSetJob(TrainingSetBuilder builder)
{
    public Task<SnapshotManifest> RunAsync(JobContext job, CancellationToken ct) =>
        builder.BuildAsync(job.Request.Deserialize<TrainingSetRequest>(FeatureStoreJson.Options)!, job.ReportAsync, ct);
}
