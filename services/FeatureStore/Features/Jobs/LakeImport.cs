using System.Text.Json;
using Amazon.S3;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Mlops.FeatureStore.Features.Groups;
using Mlops.FeatureStore.Features.Ingestion;
using Mlops.ServiceDefaults.Storage;
using Npgsql;

namespace Mlops.FeatureStore.Features.Jobs;

/// <param name="ObjectKey">The object in the lake bucket.</param>
/// <param name="Format">parquet or csv; by default from the key's extension.</param>
public sealed record LakeImportRequest(string? ObjectKey, string? Format);

internal sealed record LakeImportJobRequest(string Group, string ObjectKey, string Format);

public static class LakeImportEndpoints
{
    public static RouteGroupBuilder MapLakeImportEndpoints(this RouteGroupBuilder api)
    {
        api.MapPost("/feature-groups/{name}/imports", Start).WithTags("Ingestion");
        return api;
    }

    internal static async Task<Accepted<JobResponse>> Start(string name, LakeImportRequest request, NpgsqlDataSource db, FeatureGroupCatalog catalog,
        IAmazonS3 s3, IOptions<StorageOptions> storage, CancellationToken ct)
    {
        await catalog.GetLiveAsync(name, ct);
        if (string.IsNullOrWhiteSpace(request.ObjectKey))
            throw ProblemException.BadRequest("'object_key' (an object in the lake bucket) is required.");
        var format = request.Format?.ToLowerInvariant() ?? Path.GetExtension(request.ObjectKey).TrimStart('.').ToLowerInvariant();
        if (format is not ("parquet" or "csv"))
            throw ProblemException.BadRequest($"Format '{format}' is not supported; use parquet or csv (or name the object *.parquet / *.csv).");
        try
        {
            await s3.GetObjectMetadataAsync(storage.Value.LakeBucket, request.ObjectKey, ct);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            throw ProblemException.NotFound($"The lake bucket '{storage.Value.LakeBucket}' has no object '{request.ObjectKey}'.");
        }
        var id = await JobEndpoints.EnqueueAsync(db, JobKinds.LakeImport, new LakeImportJobRequest(name, request.ObjectKey, format), ct);
        return TypedResults.Accepted($"/api/jobs/{id}", await JobEndpoints.LoadAsync(db, id, ct));
    }
}

/// <summary>
/// Imports a Parquet or CSV object already in the lake bucket into a feature group, as a job (progress: rows read of the
/// file's rows). The whole file is one all-or-nothing batch: a bad record, a cancel or a failure writes nothing.
/// </summary>
public sealed class LakeImport(ObjectStore store, IOptions<StorageOptions> storage, FeatureGroupCatalog catalog, IngestionPipeline pipeline)
{
    public async Task<IngestionResult> RunAsync(JobContext job, CancellationToken ct)
    {
        var request = job.Request.Deserialize<LakeImportJobRequest>(FeatureStoreJson.Options)!;
        var schema = GroupSchema.For(await catalog.GetLiveAsync(request.Group, ct));
        var path = Path.Combine(Path.GetTempPath(), $"fs-import-{job.Id:N}");
        try
        {
            await using (var source = await store.GetAsync(storage.Value.LakeBucket, request.ObjectKey, ct))
            await using (var file = File.Create(path))
                await source.CopyToAsync(file, ct);
            return await IngestionEndpoints.IngestLocalFileAsync(schema, path, request.Format, $"lake:s3://{storage.Value.LakeBucket}/{request.ObjectKey}",
                pipeline, job.ReportAsync, ct);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
