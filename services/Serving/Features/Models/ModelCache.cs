using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Mlops.ExperimentTracker.Client;
using Mlops.ServiceDefaults.Storage;
using Mlops.Trainer.Model;
using Mlops.Trainer.Model.Tabular;
using Npgsql;

namespace Mlops.Serving.Features.Models;

/// <summary>A model version loaded, warmed up and ready to score.</summary>
public sealed record LoadedModel(string ModelName, string ModelVersion, string Sha256, ModelPackage Package, TimeSpan LoadTime)
{
    /// <summary><c>{name}/{version}</c>, as traces name the model (built once, not per request).</summary>
    public string Label { get; } = $"{ModelName}/{ModelVersion}";
}

/// <summary>
/// Registered model versions as loaded packages. A version is fetched once (its download URI from the tracker, then the
/// package files: a folder holding package.json and model.zip, or a training job's model.tar.gz holding them), stored on disk under the SHA-256 of its files and loaded from there afterwards (also after a restart);
/// every package is warmed up with one scored row before anything routes to it. Packages stay loaded for the process's
/// life: requests in flight may still hold an older one, and a version rarely comes back small.
/// </summary>
public sealed class ModelCache(TrackingClient tracker, ObjectStore store, NpgsqlDataSource db, IOptions<ServingOptions> options, ILogger<ModelCache> logger)
{
    private readonly ConcurrentDictionary<(string Name, string Version), Lazy<Task<LoadedModel>>> _models = new();

    public bool TryGetLoaded(string name, string version, out LoadedModel? model)
    {
        model = _models.TryGetValue((name, version), out var lazy) && lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully
            ? lazy.Value.Result
            : null;
        return model is not null;
    }

    /// <summary>
    /// The loaded version; throws <see cref="ProblemException"/> 404 when the registry has no such version and 400 when its
    /// package does not load. A failed load is not remembered, so a later call tries again.
    /// </summary>
    public async Task<LoadedModel> GetAsync(string name, string version, CancellationToken ct)
    {
        var lazy = _models.GetOrAdd((name, version), key => new Lazy<Task<LoadedModel>>(() => LoadAsync(key.Name, key.Version)));
        try
        {
            return await lazy.Value.WaitAsync(ct);
        }
        catch (Exception) when (lazy.Value.IsFaulted)
        {
            _models.TryRemove(new KeyValuePair<(string, string), Lazy<Task<LoadedModel>>>((name, version), lazy));
            throw;
        }
    }

    private async Task<LoadedModel> LoadAsync(string name, string version)
    {
        // Not the caller's token: a load started for one request is shared by every request waiting on it.
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var ct = timeout.Token;
        var started = Stopwatch.GetTimestamp();
        var root = options.Value.ModelCacheDirectory;
        var sha = await db.ReadFirstOrDefaultAsync("SELECT sha256 FROM model_packages WHERE model_name = @name AND model_version = @version",
            r => r.GetString(0), ct, ("name", name), ("version", version));
        if (sha is null || !IsComplete(Path.Combine(root, sha)))
            sha = await DownloadAsync(name, version, root, ct);

        var directory = Path.Combine(root, sha);
        ModelPackage package;
        try
        {
            package = ModelPackage.Load(directory);
            WarmUp(package);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw ProblemException.BadRequest($"Model '{name}' version {version} does not load as a model package: {e.Message}");
        }

        var loaded = new LoadedModel(name, version, sha, package, Stopwatch.GetElapsedTime(started));
        ServingMetrics.ModelLoadSeconds.Record(loaded.LoadTime.TotalSeconds, new KeyValuePair<string, object?>("model", name));
        logger.LogInformation("Loaded model {Model} version {Version} ({Sha}) in {Milliseconds:F0} ms", name, version, sha[..12],
            loaded.LoadTime.TotalMilliseconds);
        return loaded;
    }

    private async Task<string> DownloadAsync(string name, string version, string root, CancellationToken ct)
    {
        var uri = await RegistryErrors.CallAsync($"Model '{name}' version {version}", () => tracker.GetDownloadUriAsync(name, version, ct));

        Directory.CreateDirectory(root);
        var staging = Path.Combine(root, $".staging-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        try
        {
            if (ModelArchive.IsArchive(uri))
                await ExtractArchiveAsync(name, version, uri, staging, ct);
            else
                foreach (var file in ModelArchive.PackageFiles)
                {
                    await using var content = await OpenAsync(name, version, $"{uri.TrimEnd('/')}/{file}",
                        $"Model '{name}' version {version} has no {file} at {uri}: it is not a model package.", ct);
                    await using var target = File.Create(Path.Combine(staging, file));
                    await content.CopyToAsync(target, ct);
                }

            // The same files hash the same whether they came as a folder or inside a training job's model.tar.gz.
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            foreach (var file in ModelArchive.PackageFiles)
            {
                hash.AppendData(System.Text.Encoding.UTF8.GetBytes(file + "\n"));
                hash.AppendData(await File.ReadAllBytesAsync(Path.Combine(staging, file), ct));
            }

            var sha = Convert.ToHexStringLower(hash.GetHashAndReset());
            var directory = Path.Combine(root, sha);
            File.WriteAllText(Path.Combine(staging, CompleteMarker), sha);
            if (!IsComplete(directory))
            {
                if (Directory.Exists(directory))
                    Directory.Delete(directory, recursive: true);
                Directory.Move(staging, directory);
            }

            await db.ExecuteAsync(
                """
                INSERT INTO model_packages (model_name, model_version, sha256, source) VALUES (@name, @version, @sha, @source)
                ON CONFLICT (model_name, model_version) DO UPDATE SET sha256 = excluded.sha256, source = excluded.source, fetched_at = now()
                """, ct, ("name", name), ("version", version), ("sha", sha), ("source", uri));
            return sha;
        }
        finally
        {
            if (Directory.Exists(staging))
                Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary>Unpacks a training job's model.tar.gz into <paramref name="staging"/> (<see cref="ModelArchive.ExtractAsync"/>); a bad archive is a 400 naming it.</summary>
    private async Task ExtractArchiveAsync(string name, string version, string uri, string staging, CancellationToken ct)
    {
        await using var archive = await OpenAsync(name, version, uri, $"Model '{name}' version {version}: no archive at {uri}.", ct);
        try
        {
            await ModelArchive.ExtractAsync(archive, staging, ct);
        }
        catch (InvalidDataException e)
        {
            throw ProblemException.BadRequest($"Model '{name}' version {version}: the archive at {uri} {e.Message}");
        }
    }

    /// <summary>
    /// Opens an artifact by URI: <c>mlflow-artifacts:/</c> through the tracker's proxy, <c>s3://bucket/key</c> (how a
    /// training job's model.tar.gz is usually registered) from S3 with Serving's own credentials, as SageMaker hosting reads
    /// ModelDataUrl. Anything else, or nothing there, is a 400 naming it.
    /// </summary>
    private async Task<Stream> OpenAsync(string name, string version, string uri, string missing, CancellationToken ct)
    {
        if (uri.StartsWith("s3://", StringComparison.OrdinalIgnoreCase))
        {
            var rest = uri["s3://".Length..];
            var slash = rest.IndexOf('/');
            if (slash <= 0 || slash == rest.Length - 1)
                throw ProblemException.BadRequest($"Model '{name}' version {version} cannot be fetched: '{uri}' names no object.");
            StoredObject? stored;
            try
            {
                stored = await store.TryOpenAsync(rest[..slash], rest[(slash + 1)..], ct);
            }
            catch (Amazon.S3.AmazonS3Exception e)
            {
                throw ProblemException.BadRequest($"Model '{name}' version {version} cannot be fetched from {uri}: {e.Message}");
            }
            return stored?.Content ?? throw ProblemException.BadRequest(missing);
        }

        try
        {
            return await RegistryErrors.CallAsync($"{uri} of model '{name}' version {version}", () => tracker.OpenArtifactUriAsync(uri, ct));
        }
        catch (ProblemException e) when (e.Status == StatusCodes.Status404NotFound)
        {
            throw ProblemException.BadRequest(missing);
        }
        catch (ArgumentException e)
        {
            // Neither the tracker's artifact store nor S3 (e.g. a file:// path registered by hand).
            throw ProblemException.BadRequest($"Model '{name}' version {version} cannot be fetched: {e.Message}");
        }
    }

    private const string CompleteMarker = ".complete";

    private static bool IsComplete(string directory) => File.Exists(Path.Combine(directory, CompleteMarker));

    /// <summary>One scored row of neutral values: the first call binds the model (milliseconds), so no request pays for it.</summary>
    private static void WarmUp(ModelPackage package) =>
        package.Score(new DataTable([.. package.Manifest.InputSchema.Select(c => c.Type switch
        {
            "number" => TableColumn.Numbers(c.Name, [0f]),
            "boolean" => TableColumn.Booleans(c.Name, [false]),
            "timestamp" => TableColumn.Timestamps(c.Name, [new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc)]),
            _ => TableColumn.Texts(c.Name, [""]),
        })]));
}
