using System.Text.Json;
using Amazon.S3;
using Microsoft.Extensions.Options;
using Mlops.FeatureStore.Features.Groups;
using Mlops.FeatureStore.Features.Jobs;
using Mlops.ServiceDefaults.Storage;

namespace Mlops.FeatureStore.Features.Ingestion;

/// <param name="ObjectKey">The object in the lake bucket.</param>
/// <param name="Format">parquet or csv; by default from the key's extension.</param>
public sealed record LakeImportRequest(string? ObjectKey, string? Format);

internal sealed record LakeImportJobRequest(string Group, string ObjectKey, string Format);

/// <summary>
/// Imports a Parquet or CSV object already in the lake bucket into a feature group, as a job (progress: rows read of the
/// file's rows). The whole file is one all-or-nothing batch: a bad record, a cancel or a failure writes nothing. The file
/// is read exactly as an upload is (<see cref="FileIngestion"/>), and refused with the same problems, in the job's error.
/// </summary>
public sealed class LakeImport(ObjectStore store, IOptions<StorageOptions> storage, FeatureGroupCatalog catalog, IngestionPipeline pipeline)
{
    public async Task<IngestionResult> RunAsync(JobContext job, CancellationToken ct)
    {
        var request = job.Request.Deserialize<LakeImportJobRequest>(FeatureStoreJson.Options)!;
        var schema = GroupSchema.For(await catalog.GetLiveAsync(request.Group, ct));
        var uri = $"s3://{storage.Value.LakeBucket}/{request.ObjectKey}";
        var path = Path.Combine(Path.GetTempPath(), $"fs-import-{job.Id:N}");
        try
        {
            try
            {
                await using var source = await store.GetAsync(storage.Value.LakeBucket, request.ObjectKey, ct);
                await using var file = File.Create(path);
                await source.CopyToAsync(file, ct);
            }
            catch (AmazonS3Exception e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
            {
                throw ProblemException.NotFound($"The lake bucket has no object '{request.ObjectKey}' (any more); nothing was written.");
            }
            return await FileIngestion.IngestAsync(schema, path, request.Format, uri, $"lake:{uri}", pipeline, job.ReportAsync, ct);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
