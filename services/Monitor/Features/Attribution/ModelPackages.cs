using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Mlops.ExperimentTracker.Client;
using Mlops.Monitor.Features.Datasets;
using Mlops.ServiceDefaults.Storage;
using Mlops.Trainer.Model;

namespace Mlops.Monitor.Features.Attribution;

/// <summary>A package that could not be had: the message says which model version and why (the run reports it, it does not fail).</summary>
public sealed class ModelPackageUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Registered model versions loaded in-process with Serving's loader (<see cref="ModelPackage"/>), so the monitor can score
/// rows itself for attributions without Serving capturing them: the version's download URI from the tracker (its typed
/// client), then the package — a folder with package.json and model.zip, or a training job's model.tar.gz — from the
/// tracker's artifact store or S3. Loaded once per version for the process's life; a failed load is not remembered.
/// </summary>
public sealed class ModelPackages(TrackingClient tracker, ObjectStore store, IOptions<MonitorOptions> options, ILogger<ModelPackages> logger)
{
    private readonly ConcurrentDictionary<(string Name, string Version), Lazy<Task<ModelPackage>>> _loaded = new();

    public async Task<ModelPackage> GetAsync(string name, string version, CancellationToken ct)
    {
        var lazy = _loaded.GetOrAdd((name, version), key => new Lazy<Task<ModelPackage>>(() => LoadAsync(key.Name, key.Version)));
        try
        {
            return await lazy.Value.WaitAsync(ct);
        }
        catch (Exception) when (lazy.Value.IsFaulted)
        {
            _loaded.TryRemove(new KeyValuePair<(string, string), Lazy<Task<ModelPackage>>>((name, version), lazy));
            throw;
        }
    }

    private async Task<ModelPackage> LoadAsync(string name, string version)
    {
        // Not a caller's token: the load is shared by every run waiting on it.
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var ct = timeout.Token;
        var what = $"Model '{name}' version {version}";
        var directory = Path.Combine(options.Value.WorkDirectory, "models", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            var uri = await tracker.GetDownloadUriAsync(name, version, ct);
            if (ModelArchive.IsArchive(uri))
            {
                await using var archive = await OpenAsync(uri, ct) ?? throw new ModelPackageUnavailableException($"{what}: no archive at {uri}.");
                await ModelArchive.ExtractAsync(archive, directory, ct);
            }
            else
                foreach (var file in ModelArchive.PackageFiles)
                {
                    await using var content = await OpenAsync($"{uri.TrimEnd('/')}/{file}", ct)
                                              ?? throw new ModelPackageUnavailableException($"{what} has no {file} at {uri}: it is not a model package.");
                    await using var target = File.Create(Path.Combine(directory, file));
                    await content.CopyToAsync(target, ct);
                }
            var package = ModelPackage.Load(directory);
            logger.LogInformation("Loaded {Model} version {Version} for attributions", name, version);
            return package;
        }
        catch (MlflowApiException e)
        {
            throw new ModelPackageUnavailableException($"{what} is not in the registry ({e.Message}).", e);
        }
        catch (InvalidDataException e)
        {
            throw new ModelPackageUnavailableException($"{what} does not load as a model package: {e.Message}", e);
        }
        catch (Exception e) when (e is HttpRequestException or Amazon.S3.AmazonS3Exception or TaskCanceledException or ArgumentException or FormatException or ProblemException)
        {
            throw new ModelPackageUnavailableException($"{what} could not be fetched: {e.Message}", e);
        }
        finally
        {
            // model.zip is read into memory by the load: nothing needs the files after it.
            try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
        }
    }

    // s3://bucket/key with the monitor's credentials; anything else through the tracker's artifact proxy. Null when absent.
    private async Task<Stream?> OpenAsync(string uri, CancellationToken ct)
    {
        if (uri.StartsWith("s3://", StringComparison.OrdinalIgnoreCase))
        {
            var location = S3Location.Parse(uri, "artifact uri");
            return (await store.TryOpenAsync(location.Bucket, location.Key, ct))?.Content;
        }
        try
        {
            return await tracker.OpenArtifactUriAsync(uri, ct);
        }
        catch (MlflowApiException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
    }
}
