using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.Options;
using Mlops.ExperimentTracker.Data;
using Mlops.ExperimentTracker.Features.Runs;
using Mlops.ExperimentTracker.Mlflow;
using Mlops.ServiceDefaults.Storage;
using Npgsql;

namespace Mlops.ExperimentTracker.Features.Artifacts;

/// <summary>Limits of the artifact proxy (section <c>Artifacts</c>).</summary>
public sealed class ArtifactOptions
{
    public const string Section = "Artifacts";

    /// <summary>The largest artifact one PUT may upload; the platform's default request limit (32 MiB) is too small for models.</summary>
    public long MaxUploadBytes { get; set; } = 5L * 1024 * 1024 * 1024;
}

/// <summary>
/// MLflow's artifact proxy (<c>/api/2.0/mlflow-artifacts/artifacts/&lt;path&gt;</c> GET, PUT, DELETE and the listing) and
/// <c>/api/2.0/mlflow/artifacts/list</c>, over the S3 artifact bucket: <c>mlflow-artifacts:/&lt;path&gt;</c> is the object
/// <c>&lt;path&gt;</c> of that bucket. Writes go only under an active experiment (and, for a run's folder, an active run).
/// </summary>
public static partial class ArtifactEndpoints
{
    public const string ProxyPrefix = MlflowErrorMiddleware.ArtifactsPrefix;
    public const string UriScheme = "mlflow-artifacts:";
    private static readonly FileExtensionContentTypeProvider ContentTypes = new();

    public static IEndpointRouteBuilder MapArtifactEndpoints(this IEndpointRouteBuilder app, RouteGroupBuilder mlflow)
    {
        var proxy = app.MapGroup(ProxyPrefix).WithTags("MLflow artifacts");
        proxy.MapGet("/artifacts", ListProxied);
        proxy.MapGet("/artifacts/{**path}", Download);
        // Any content type: MLflow clients send file bytes with none at all.
        proxy.MapPut("/artifacts/{**path}", Upload);
        proxy.MapDelete("/artifacts/{**path}", Delete);
        proxy.MapMlflowFallback();
        mlflow.MapGet("/artifacts/list", ListRunArtifacts).WithTags("MLflow artifacts");
        return app;
    }

    /// <summary>
    /// The path after <c>/artifacts/</c> as the server decoded it (the route value would lose a trailing '/'). Kestrel
    /// resolves '.' and '..' segments before routing, so the request line as sent is checked too: a traversal attempt is
    /// refused, not quietly re-targeted.
    /// </summary>
    private static string RawPath(HttpRequest request)
    {
        var target = request.HttpContext.Features.Get<IHttpRequestFeature>()?.RawTarget ?? "";
        var sent = target.Split('?', 2)[0];
        if (sent.Split('/').Any(segment => ArtifactPath.FullyDecoded(segment) is "." or ".."))
            throw MlflowException.Invalid($"Invalid artifact path in '{sent}': '.' and '..' segments are not allowed.");
        return request.Path.Value![(ProxyPrefix.Length + "/artifacts/".Length)..];
    }

    internal static async Task<IResult> Download(HttpRequest http, ObjectStore store, IOptions<StorageOptions> storage, CancellationToken ct)
    {
        var key = ArtifactPath.Validate(RawPath(http));
        var stored = await store.TryOpenAsync(storage.Value.ArtifactBucket, key, ct)
            ?? throw MlflowException.NotFound($"No artifact at '{key}'.");
        http.HttpContext.Response.RegisterForDisposeAsync(stored);
        return TypedResults.Stream(stored.Content, ContentTypeOf(key, stored.ContentType), fileDownloadName: null);
    }

    internal static async Task<JsonHttpResult<Empty>> Upload(HttpRequest http, ObjectStore store, NpgsqlDataSource db,
        IOptions<StorageOptions> storage, IOptions<ArtifactOptions> options, CancellationToken ct)
    {
        var key = ArtifactPath.Validate(RawPath(http));
        if (http.Path.Value!.EndsWith('/'))
            throw MlflowException.Invalid($"Invalid artifact path '{key}/': an artifact is a file; the path must not end with '/'.");
        var limit = options.Value.MaxUploadBytes;
        if (http.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
            size.MaxRequestBodySize = limit;
        if (http.ContentLength > limit)
            throw new BadHttpRequestException($"The artifact is {http.ContentLength} bytes; at most {limit} bytes may be uploaded.",
                StatusCodes.Status413PayloadTooLarge);
        await EnsureWritableAsync(db, key, ct);
        await store.PutAsync(storage.Value.ArtifactBucket, key, http.Body, ContentTypeOf(key, http.ContentType), ct);
        return MlflowJson.Empty();
    }

    /// <summary>Deletes the artifact at the path, or everything under it when it is a folder (as MLflow's delete_artifacts).</summary>
    internal static async Task<JsonHttpResult<Empty>> Delete(HttpRequest http, ObjectStore store, NpgsqlDataSource db,
        IOptions<StorageOptions> storage, CancellationToken ct)
    {
        var key = ArtifactPath.Validate(RawPath(http));
        await EnsureWritableAsync(db, key, ct);
        var bucket = storage.Value.ArtifactBucket;
        var found = await store.TryOpenAsync(bucket, key, ct);
        if (found is not null)
        {
            await found.DisposeAsync();
            await store.DeleteAsync(bucket, key, ct);
        }
        var under = await store.DeletePrefixAsync(bucket, key + "/", ct);
        return found is null && under == 0 ? throw MlflowException.NotFound($"No artifact at '{key}'.") : MlflowJson.Empty();
    }

    internal static async Task<JsonHttpResult<ListArtifactsResponse>> ListProxied([FromQuery(Name = "path")] string? path,
        ObjectStore store, IOptions<StorageOptions> storage, CancellationToken ct)
    {
        var prefix = ArtifactPath.ValidateOptional(path);
        var files = await ListAsync(store, storage.Value.ArtifactBucket, prefix, basenameOnly: true, ct);
        return MlflowJson.Ok(new ListArtifactsResponse(null, files.NullIfEmpty(), null));
    }

    /// <summary>A run's artifacts under <c>path</c>, paths relative to the run's artifact root, as MLflow lists them.</summary>
    internal static async Task<JsonHttpResult<ListArtifactsResponse>> ListRunArtifacts([FromQuery(Name = "run_id")] string? runId,
        [FromQuery(Name = "run_uuid")] string? runUuid, [FromQuery(Name = "path")] string? path,
        ObjectStore store, NpgsqlDataSource db, IOptions<StorageOptions> storage, CancellationToken ct)
    {
        var id = RunStore.RequiredRunId(runId, runUuid);
        var sub = ArtifactPath.ValidateOptional(path);
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var select = connection.Command("SELECT artifact_uri FROM runs WHERE run_id = @id", null, ("id", id));
        var rootUri = await select.ExecuteScalarAsync(ct) as string ?? throw RunStore.NotFound(id);
        var root = RootKey(rootUri);
        var files = await ListAsync(store, storage.Value.ArtifactBucket, sub.Length == 0 ? root : $"{root}/{sub}", basenameOnly: false, ct);
        // Relative to the run's root, as MLflow answers (e.g. "model/MLmodel").
        var relative = files.Select(f => f with { Path = f.Path[(root.Length + 1)..] }).ToList();
        return MlflowJson.Ok(new ListArtifactsResponse(rootUri, relative.NullIfEmpty(), null));
    }

    /// <summary>The bucket key of an <c>mlflow-artifacts:/</c> URI (the only kind this tracker hands out).</summary>
    public static string RootKey(string artifactUri) =>
        artifactUri.StartsWith(UriScheme, StringComparison.Ordinal)
            ? artifactUri[UriScheme.Length..].TrimStart('/').TrimEnd('/')
            : throw MlflowException.Invalid($"The artifact location '{artifactUri}' is not served by this tracker's artifact proxy.");

    private static async Task<List<FileInfo>> ListAsync(ObjectStore store, string bucket, string prefix, bool basenameOnly, CancellationToken ct)
    {
        var files = new List<FileInfo>();
        var folder = prefix.Length == 0 ? "" : prefix + "/";
        await foreach (var item in store.ListAsync(bucket, folder, "/", ct))
        {
            var key = item.Key.TrimEnd('/');
            var name = basenameOnly ? key[folder.Length..] : key;
            files.Add(item.IsPrefix ? new FileInfo(name, true, null) : new FileInfo(name, false, item.Size));
        }
        return files.OrderBy(f => f.Path, StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Artifacts are written under an active experiment (<c>&lt;experiment id&gt;/...</c>); a run's folder
    /// (<c>&lt;experiment id&gt;/&lt;run id&gt;/...</c>) needs the run to be active and in that experiment.
    /// </summary>
    private static async Task EnsureWritableAsync(NpgsqlDataSource db, string key, CancellationToken ct)
    {
        var segments = key.Split('/');
        if (segments.Length < 2 || !long.TryParse(segments[0], System.Globalization.NumberStyles.None, null, out var experimentId))
            throw MlflowException.Invalid($"Invalid artifact path '{key}': artifacts live under '<experiment id>/...' (the run's artifact_uri).");
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var select = connection.Command(
            """
            SELECT e.lifecycle_stage, r.lifecycle_stage, r.experiment_id
            FROM experiments e LEFT JOIN runs r ON r.run_id = @run
            WHERE e.experiment_id = @experiment
            """, null, ("experiment", experimentId), ("run", RunIdPattern().IsMatch(segments[1]) ? segments[1] : ""));
        await using var reader = await select.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
            throw MlflowException.NotFound($"No Experiment with id={experimentId} exists");
        if (reader.GetString(0) != "active")
            throw MlflowException.Invalid($"The experiment {experimentId} must be in the 'active' state to change its artifacts.");
        if (RunIdPattern().IsMatch(segments[1]))
        {
            if (reader.IsDBNull(1) || reader.GetInt64(2) != experimentId)
                throw MlflowException.NotFound($"Run with id={segments[1]} not found in experiment {experimentId}");
            if (reader.GetString(1) != "active")
                throw MlflowException.Invalid($"The run {segments[1]} must be in the 'active' state to change its artifacts.");
        }
    }

    private static string ContentTypeOf(string key, string? given) =>
        !string.IsNullOrEmpty(given) && given != "application/octet-stream" ? given
        : ContentTypes.TryGetContentType(key, out var guessed) ? guessed
        : "application/octet-stream";

    [GeneratedRegex("^[0-9a-f]{32}$")]
    private static partial Regex RunIdPattern();
}

public sealed record FileInfo(string Path, bool IsDir, long? FileSize);
public sealed record ListArtifactsResponse(string? RootUri, IReadOnlyList<FileInfo>? Files, string? NextPageToken);
