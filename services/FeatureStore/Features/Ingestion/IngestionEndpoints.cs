using System.Text.Json;
using Amazon.S3;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.Options;
using Mlops.FeatureStore.Features.Groups;
using Mlops.FeatureStore.Features.Jobs;
using Mlops.ServiceDefaults.Idempotency;
using Mlops.ServiceDefaults.Storage;
using Microsoft.OpenApi;
using Npgsql;

namespace Mlops.FeatureStore.Features.Ingestion;

/// <summary>
/// Ingestion under <c>/api/feature-groups/{name}</c>: JSON record batches and uploaded CSV or Parquet files (synchronous,
/// each all-or-nothing), and imports of a lake object (a job).
/// </summary>
public static class IngestionEndpoints
{
    public static RouteGroupBuilder MapIngestionEndpoints(this RouteGroupBuilder api)
    {
        var groups = api.MapGroup("/feature-groups").WithTags("Ingestion");
        // Problems found deep in the pipeline (a bad record, an unknown group, a body over the limit) are raised there.
        groups.MapPost("/{name}/records", IngestRecords).Accepts<JsonElement>("application/json")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status413PayloadTooLarge);
        // The accepted types are documented here, not declared with Accepts: routing would then refuse other types itself,
        // with a 415 that does not list them.
        groups.MapPost("/{name}/files", IngestFile).AddOpenApiOperationTransformer(DescribeFileBody)
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
        groups.MapPost("/{name}/imports", StartImport).ProducesProblem(StatusCodes.Status404NotFound);
        return groups;
    }

    private static Task DescribeFileBody(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken ct)
    {
        operation.RequestBody = new OpenApiRequestBody
        {
            Required = true,
            Description = "The file itself: Parquet, or UTF-8 CSV with a header row.",
            Content = FileIngestion.AcceptedTypes.ToDictionary(type => type,
                _ => new OpenApiMediaType { Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" } }),
        };
        return Task.CompletedTask;
    }

    internal static async Task<Ok<IngestionResult>> IngestRecords(string name, HttpRequest http, FeatureGroupCatalog catalog,
        IngestionPipeline pipeline, CancellationToken ct)
    {
        var schema = GroupSchema.For(await catalog.GetLiveAsync(name, ct));
        using var document = await JsonDocument.ParseAsync(http.Body, cancellationToken: ct);
        var source = new JsonRecordSource(document, schema);
        return TypedResults.Ok(await pipeline.IngestAsync(schema, source, "json", null, ct));
    }

    /// <summary>The body is the file; its Content-Type says whether it is Parquet or CSV (with a header row).</summary>
    internal static async Task<Results<Ok<IngestionResult>, ProblemHttpResult>> IngestFile(string name, HttpRequest http, FeatureGroupCatalog catalog,
        IngestionPipeline pipeline, CancellationToken ct)
    {
        if (FileIngestion.FormatOf(http.ContentType, out var refusal) is not { } format)
            return Problems.UnsupportedMediaType(refusal, FileIngestion.AcceptedTypes);
        var schema = GroupSchema.For(await catalog.GetLiveAsync(name, ct));
        var path = Path.Combine(Path.GetTempPath(), $"fs-upload-{Guid.NewGuid():N}");
        try
        {
            await using (var file = File.Create(path))
                await http.Body.CopyToAsync(file, ct);
            return TypedResults.Ok(await FileIngestion.IngestAsync(schema, path, format, "the uploaded file", $"upload:{format}", pipeline, null, ct));
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>
    /// Queues the import of a Parquet or CSV object in the lake bucket; 202 with the job. With an <c>Idempotency-Key</c>
    /// header a repeat of the same request answers the job queued first (202, same id) instead of queueing another; the
    /// same key with another request → 409 (<see cref="IdempotencyKey"/>).
    /// </summary>
    internal static async Task<Results<Accepted<JobResponse>, ValidationProblem, ProblemHttpResult>> StartImport(string name, LakeImportRequest request,
        [FromHeader(Name = IdempotencyKey.Header)] string? idempotencyKey,
        NpgsqlDataSource db, FeatureGroupCatalog catalog, IAmazonS3 s3, IOptions<StorageOptions> storage, CancellationToken ct)
    {
        var key = IdempotencyKey.Read(idempotencyKey);
        await catalog.GetLiveAsync(name, ct);
        if (string.IsNullOrWhiteSpace(request.ObjectKey))
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["object_key"] = ["Required: an object in the lake bucket."] });
        var format = request.Format?.ToLowerInvariant() ?? Path.GetExtension(request.ObjectKey).TrimStart('.').ToLowerInvariant();
        if (format is not (FileIngestion.Parquet or FileIngestion.Csv))
            return TypedResults.ValidationProblem(new Dictionary<string, string[]>
            {
                ["format"] = [$"Format '{format}' is not supported; use parquet or csv (or name the object *.parquet / *.csv)."],
            });
        try
        {
            await s3.GetObjectMetadataAsync(storage.Value.LakeBucket, request.ObjectKey, ct);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return Problems.NotFound($"The lake bucket '{storage.Value.LakeBucket}' has no object '{request.ObjectKey}'.");
        }
        var jobRequest = new LakeImportJobRequest(name, request.ObjectKey, format);
        if (key is null)
            return await JobEndpoints.AcceptedAsync(db, await JobStore.EnqueueAsync(db, JobKinds.LakeImport, jobRequest, ct), ct);
        var (id, same) = await JobStore.EnqueueOnceAsync(db, JobKinds.LakeImport, jobRequest, key, ct);
        if (!same)
            return IdempotencyKey.Reused(key, $"job {id}", "the same feature group, object_key and format").ToResult();
        return await JobEndpoints.AcceptedAsync(db, id, ct);
    }
}
