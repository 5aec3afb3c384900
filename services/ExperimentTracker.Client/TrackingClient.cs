using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mlops.ExperimentTracker.Client;

/// <summary>
/// A typed client for the ExperimentTracker: the MLflow REST API 2.0 (experiments, runs, metrics, artifacts, model
/// registry) and the tracker's own endpoints (lineage, run comparison). Give it an <see cref="HttpClient"/> whose base
/// address is the tracker and which sends the platform API key as a bearer token (see
/// <see cref="TrackingClientServiceCollectionExtensions.AddExperimentTrackerClient"/>, or <see cref="Create"/> in a notebook).
/// Errors come back as <see cref="MlflowApiException"/>.
/// </summary>
public sealed class TrackingClient(HttpClient http)
{
    private const string Mlflow = "api/2.0/mlflow/";
    private const string Artifacts = "api/2.0/mlflow-artifacts/artifacts/";
    private const string ArtifactScheme = "mlflow-artifacts:/";

    // MLflow's API and the tracker's native one speak the same JSON: snake_case, "NaN" and "Infinity" for non-finite numbers.
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowReadingFromString | JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>A client for a tracker at <paramref name="baseAddress"/> with the platform API key (for notebooks and scripts).</summary>
    public static TrackingClient Create(Uri baseAddress, string apiKey)
    {
        var client = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromMinutes(30) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return new TrackingClient(client);
    }

    // ---- experiments -------------------------------------------------------------------------------------------

    public async Task<string> CreateExperimentAsync(string name, IReadOnlyDictionary<string, string>? tags = null, CancellationToken ct = default) =>
        (await PostAsync<CreateExperimentResponse>("experiments/create", new { name, tags = Tags(tags) }, ct)).ExperimentId;

    public async Task<Experiment> GetExperimentAsync(string experimentId, CancellationToken ct = default) =>
        (await GetAsync<ExperimentResponse>($"experiments/get?experiment_id={Escape(experimentId)}", ct)).Experiment;

    /// <summary>The experiment with this name, or null.</summary>
    public async Task<Experiment?> FindExperimentAsync(string name, CancellationToken ct = default)
    {
        try
        {
            return (await GetAsync<ExperimentResponse>($"experiments/get-by-name?experiment_name={Escape(name)}", ct)).Experiment;
        }
        catch (MlflowApiException e) when (e.ErrorCode == MlflowApiException.ResourceDoesNotExist)
        {
            return null;
        }
    }

    /// <summary>The id of the experiment with this name, created if missing (safe when two callers race).</summary>
    public async Task<string> GetOrCreateExperimentAsync(string name, CancellationToken ct = default)
    {
        if (await FindExperimentAsync(name, ct) is { } found)
            return found.ExperimentId;
        try
        {
            return await CreateExperimentAsync(name, null, ct);
        }
        catch (MlflowApiException e) when (e.ErrorCode == MlflowApiException.ResourceAlreadyExists)
        {
            return (await FindExperimentAsync(name, ct))!.ExperimentId;
        }
    }

    public Task DeleteExperimentAsync(string experimentId, CancellationToken ct = default) =>
        PostAsync<JsonElement>("experiments/delete", new { experiment_id = experimentId }, ct);

    // ---- runs --------------------------------------------------------------------------------------------------

    public async Task<Run> CreateRunAsync(string experimentId, string? runName = null, IReadOnlyDictionary<string, string>? tags = null,
        DateTimeOffset? startTime = null, CancellationToken ct = default) =>
        (await PostAsync<RunResponse>("runs/create", new
        {
            experiment_id = experimentId, run_name = runName, tags = Tags(tags), start_time = startTime?.ToUnixTimeMilliseconds(),
        }, ct)).Run;

    /// <summary>
    /// Starts a run in the named experiment (created if missing) that finishes when disposed: FINISHED, or FAILED if
    /// <see cref="ActiveRun.Fail"/> was called. Pass the git commit and pipeline execution to make the run traceable.
    /// </summary>
    public async Task<ActiveRun> StartRunAsync(string experimentName, string? runName = null, string? gitCommit = null,
        string? pipelineExecutionId = null, IReadOnlyDictionary<string, string>? tags = null, CancellationToken ct = default)
    {
        var all = new Dictionary<string, string>(tags ?? new Dictionary<string, string>());
        if (gitCommit is not null)
            all["mlflow.source.git.commit"] = gitCommit;
        if (pipelineExecutionId is not null)
            all["mlops.pipeline.execution_id"] = pipelineExecutionId;
        var experimentId = await GetOrCreateExperimentAsync(experimentName, ct);
        return new ActiveRun(this, await CreateRunAsync(experimentId, runName, all, null, ct));
    }

    public async Task<Run> GetRunAsync(string runId, CancellationToken ct = default) =>
        (await GetAsync<RunResponse>($"runs/get?run_id={Escape(runId)}", ct)).Run;

    public Task LogMetricAsync(string runId, string key, double value, long step = 0, DateTimeOffset? timestamp = null, CancellationToken ct = default) =>
        PostAsync<JsonElement>("runs/log-metric", new { run_id = runId, key, value, step, timestamp = (timestamp ?? DateTimeOffset.UtcNow).ToUnixTimeMilliseconds() }, ct);

    public Task LogParamAsync(string runId, string key, string value, CancellationToken ct = default) =>
        PostAsync<JsonElement>("runs/log-parameter", new { run_id = runId, key, value }, ct);

    public Task SetTagAsync(string runId, string key, string value, CancellationToken ct = default) =>
        PostAsync<JsonElement>("runs/set-tag", new { run_id = runId, key, value }, ct);

    /// <summary>
    /// Logs metrics, params and tags in as few calls as MLflow's limits allow (1,000 metrics, 100 params, 100 tags per
    /// call); each call is all-or-nothing on the server.
    /// </summary>
    public async Task LogBatchAsync(string runId, IEnumerable<Metric>? metrics = null, IReadOnlyDictionary<string, string>? parameters = null,
        IReadOnlyDictionary<string, string>? tags = null, CancellationToken ct = default)
    {
        var m = (metrics ?? []).ToList();
        var p = (parameters ?? new Dictionary<string, string>()).Select(kv => new KeyValue(kv.Key, kv.Value)).ToList();
        var t = (tags ?? new Dictionary<string, string>()).Select(kv => new KeyValue(kv.Key, kv.Value)).ToList();
        var first = true;
        while (first || m.Count > 0 || p.Count > 0 || t.Count > 0)
        {
            first = false;
            var paramChunk = Take(p, 100);
            var tagChunk = Take(t, 100);
            var metricChunk = Take(m, 1000 - paramChunk.Count - tagChunk.Count);
            await PostAsync<JsonElement>("runs/log-batch", new { run_id = runId, metrics = metricChunk, @params = paramChunk, tags = tagChunk }, ct);
        }
    }

    public Task LogInputsAsync(string runId, IEnumerable<DatasetInput> datasets, CancellationToken ct = default) =>
        PostAsync<JsonElement>("runs/log-inputs", new { run_id = runId, datasets = datasets.ToList() }, ct);

    /// <summary>Records that the run trained on a FeatureStore snapshot, so lineage reaches the feature-group versions it joined.</summary>
    public Task LogFeatureStoreSnapshotAsync(string runId, string snapshotId, string contentHash, IEnumerable<(string Group, int Version)> featureGroups,
        string context = "training", CancellationToken ct = default) =>
        LogInputsAsync(runId, [new DatasetInput([new KeyValue("mlflow.data.context", context)], new Dataset(
            $"snapshot-{snapshotId}", contentHash.Length > 36 ? contentHash[..36] : contentHash, "mlops-feature-store",
            JsonSerializer.Serialize(new { snapshot_id = snapshotId, feature_groups = featureGroups.Select(g => new { name = g.Group, version = g.Version }) })))], ct);

    /// <summary>Ends the run: FINISHED, FAILED or KILLED (publishes RunFinished with its final metrics).</summary>
    public Task FinishRunAsync(string runId, string status = "FINISHED", CancellationToken ct = default) =>
        PostAsync<JsonElement>("runs/update", new { run_id = runId, status, end_time = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() }, ct);

    public Task DeleteRunAsync(string runId, CancellationToken ct = default) => PostAsync<JsonElement>("runs/delete", new { run_id = runId }, ct);

    /// <summary>One page of MLflow's run search (filter grammar as MLflow's, e.g. <c>metrics.auc &gt; 0.6 and params.lr = '0.1'</c>).</summary>
    public async Task<RunsPage> SearchRunsAsync(IEnumerable<string> experimentIds, string? filter = null, IEnumerable<string>? orderBy = null,
        int maxResults = 1000, string? pageToken = null, CancellationToken ct = default)
    {
        var page = await PostAsync<SearchRunsResponse>("runs/search", new
        {
            experiment_ids = experimentIds.ToList(), filter, order_by = orderBy?.ToList(), max_results = maxResults, page_token = pageToken,
        }, ct);
        return new RunsPage(page.Runs ?? [], page.NextPageToken);
    }

    /// <summary>Every run the search matches, page after page.</summary>
    public async IAsyncEnumerable<Run> SearchAllRunsAsync(IEnumerable<string> experimentIds, string? filter = null, IEnumerable<string>? orderBy = null,
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        var ids = experimentIds.ToList();
        var order = orderBy?.ToList();
        string? token = null;
        do
        {
            var page = await SearchRunsAsync(ids, filter, order, 1000, token, ct);
            foreach (var run in page.Runs)
                yield return run;
            token = page.NextPageToken;
        }
        while (token is not null);
    }

    public async Task<IReadOnlyList<Metric>> GetMetricHistoryAsync(string runId, string key, CancellationToken ct = default) =>
        (await GetAsync<MetricHistoryResponse>($"metrics/get-history?run_id={Escape(runId)}&metric_key={Escape(key)}", ct)).Metrics ?? [];

    // ---- artifacts ---------------------------------------------------------------------------------------------

    /// <summary>Uploads <paramref name="content"/> as the run's artifact at <paramref name="path"/> (streamed; large files go to S3 in parts).</summary>
    public async Task UploadArtifactAsync(Run run, string path, Stream content, CancellationToken ct = default)
    {
        using var body = new StreamContent(content);
        body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var response = await http.PutAsync(ArtifactUrl(run, path), body, ct);
        await EnsureSuccessAsync(response, ct);
    }

    public async Task UploadArtifactFileAsync(Run run, string path, string localFile, CancellationToken ct = default)
    {
        await using var file = File.OpenRead(localFile);
        await UploadArtifactAsync(run, path, file, ct);
    }

    /// <summary>Opens the run's artifact at <paramref name="path"/> for reading; dispose the stream.</summary>
    public async Task<Stream> OpenArtifactAsync(Run run, string path, CancellationToken ct = default)
    {
        var response = await http.GetAsync(ArtifactUrl(run, path), HttpCompletionOption.ResponseHeadersRead, ct);
        await EnsureSuccessAsync(response, ct);
        return await response.Content.ReadAsStreamAsync(ct);
    }

    /// <summary>Opens the files behind an artifact URI (e.g. a model version's download URI) for reading.</summary>
    public async Task<Stream> OpenArtifactUriAsync(string artifactUri, CancellationToken ct = default)
    {
        var response = await http.GetAsync(Artifacts + KeyOf(artifactUri), HttpCompletionOption.ResponseHeadersRead, ct);
        await EnsureSuccessAsync(response, ct);
        return await response.Content.ReadAsStreamAsync(ct);
    }

    public async Task<IReadOnlyList<ArtifactFile>> ListArtifactsAsync(string runId, string? path = null, CancellationToken ct = default) =>
        (await GetAsync<ListArtifactsResponse>($"artifacts/list?run_id={Escape(runId)}{(path is null ? "" : $"&path={Escape(path)}")}", ct)).Files ?? [];

    // ---- registry ----------------------------------------------------------------------------------------------

    public async Task<RegisteredModel> CreateRegisteredModelAsync(string name, string? description = null, CancellationToken ct = default) =>
        (await PostAsync<RegisteredModelResponse>("registered-models/create", new { name, description }, ct)).RegisteredModel;

    public async Task<RegisteredModel> GetRegisteredModelAsync(string name, CancellationToken ct = default) =>
        (await GetAsync<RegisteredModelResponse>($"registered-models/get?name={Escape(name)}", ct)).RegisteredModel;

    /// <summary>Registers the run's artifacts at <paramref name="artifactPath"/> as a new version of the model (created if missing).</summary>
    public async Task<ModelVersion> RegisterModelAsync(string name, Run run, string artifactPath = "model", CancellationToken ct = default)
    {
        try
        {
            await CreateRegisteredModelAsync(name, null, ct);
        }
        catch (MlflowApiException e) when (e.ErrorCode == MlflowApiException.ResourceAlreadyExists)
        {
        }
        return (await PostAsync<ModelVersionResponse>("model-versions/create", new
        {
            name, source = $"{run.Info.ArtifactUri.TrimEnd('/')}/{artifactPath.Trim('/')}", run_id = run.Info.RunId,
        }, ct)).ModelVersion;
    }

    /// <summary>
    /// Creates a version of the model (the model is created if missing) from any <paramref name="source"/> URI — e.g. a
    /// training job's <c>s3://…/model.tar.gz</c> — linked to the run it came from, with tags set in the same call.
    /// </summary>
    public async Task<ModelVersion> CreateModelVersionAsync(string name, string source, string? runId = null,
        IReadOnlyDictionary<string, string>? tags = null, string? description = null, CancellationToken ct = default)
    {
        try
        {
            await CreateRegisteredModelAsync(name, null, ct);
        }
        catch (MlflowApiException e) when (e.ErrorCode == MlflowApiException.ResourceAlreadyExists)
        {
        }
        return (await PostAsync<ModelVersionResponse>("model-versions/create", new
        {
            name, source, run_id = runId, tags = Tags(tags), description,
        }, ct)).ModelVersion;
    }

    /// <summary>MLflow's <c>model-versions/search</c> (one page): e.g. <c>run_id = '…'</c>, <c>name = '…'</c>, <c>tags.`k` = 'v'</c>.</summary>
    public async Task<IReadOnlyList<ModelVersion>> SearchModelVersionsAsync(string? filter, int maxResults = 1000, CancellationToken ct = default) =>
        (await GetAsync<SearchModelVersionsResponse>(
            $"model-versions/search?max_results={maxResults}{(filter is null ? "" : $"&filter={Escape(filter)}")}", ct)).ModelVersions ?? [];

    public async Task<ModelVersion> GetModelVersionAsync(string name, string version, CancellationToken ct = default) =>
        (await GetAsync<ModelVersionResponse>($"model-versions/get?name={Escape(name)}&version={Escape(version)}", ct)).ModelVersion;

    public Task SetAliasAsync(string name, string alias, string version, CancellationToken ct = default) =>
        PostAsync<JsonElement>("registered-models/alias", new { name, alias, version }, ct);

    public async Task DeleteAliasAsync(string name, string alias, CancellationToken ct = default)
    {
        using var response = await http.DeleteAsync($"{Mlflow}registered-models/alias?name={Escape(name)}&alias={Escape(alias)}", ct);
        await EnsureSuccessAsync(response, ct);
    }

    public async Task<ModelVersion> GetModelVersionByAliasAsync(string name, string alias, CancellationToken ct = default) =>
        (await GetAsync<ModelVersionResponse>($"registered-models/alias?name={Escape(name)}&alias={Escape(alias)}", ct)).ModelVersion;

    public async Task<ModelVersion> TransitionStageAsync(string name, string version, string stage, bool archiveExistingVersions = false,
        CancellationToken ct = default) =>
        (await PostAsync<ModelVersionResponse>("model-versions/transition-stage",
            new { name, version, stage, archive_existing_versions = archiveExistingVersions }, ct)).ModelVersion;

    public async Task<string> GetDownloadUriAsync(string name, string version, CancellationToken ct = default) =>
        (await GetAsync<DownloadUriResponse>($"model-versions/get-download-uri?name={Escape(name)}&version={Escape(version)}", ct)).ArtifactUri;

    // ---- native endpoints --------------------------------------------------------------------------------------

    public Task<RunLineage> GetRunLineageAsync(string runId, CancellationToken ct = default) =>
        GetNativeAsync<RunLineage>($"api/lineage/runs/{Escape(runId)}", ct);

    public Task<ModelVersionLineage> GetModelVersionLineageAsync(string name, string version, CancellationToken ct = default) =>
        GetNativeAsync<ModelVersionLineage>($"api/lineage/model-versions/{Escape(name)}/{Escape(version)}", ct);

    public Task<RunsLineage> GetFeatureGroupLineageAsync(string group, int? version = null, CancellationToken ct = default) =>
        GetNativeAsync<RunsLineage>($"api/lineage/feature-groups/{Escape(group)}{(version is null ? "" : $"?version={version}")}", ct);

    public async Task<RunComparison> CompareRunsAsync(IEnumerable<string> runIds, IEnumerable<string>? metricKeys = null,
        IEnumerable<string>? paramKeys = null, CancellationToken ct = default)
    {
        using var response = await http.PostAsJsonAsync("api/runs/compare",
            new { run_ids = runIds.ToList(), metric_keys = metricKeys?.ToList(), param_keys = paramKeys?.ToList() }, Json, ct);
        await EnsureSuccessAsync(response, ct);
        return (await response.Content.ReadFromJsonAsync<RunComparison>(Json, ct))!;
    }

    /// <summary>
    /// Garbage collection (<c>POST /api/admin/gc</c>, MLflow's <c>mlflow gc</c>): permanently deletes deleted runs and
    /// experiments with their artifacts. Needs a client made with the administrator key (the platform key gets 403), and
    /// is a dry run that only reports what would go unless <paramref name="dryRun"/> is false.
    /// </summary>
    public async Task<GarbageCollection> CollectGarbageAsync(IEnumerable<string>? runIds = null, IEnumerable<string>? experimentIds = null,
        int? olderThanMinutes = null, bool dryRun = true, CancellationToken ct = default)
    {
        using var response = await http.PostAsJsonAsync("api/admin/gc", new
        {
            run_ids = runIds?.ToList(), experiment_ids = experimentIds?.ToList(), older_than_minutes = olderThanMinutes, dry_run = dryRun,
        }, Json, ct);
        await EnsureSuccessAsync(response, ct);
        return (await response.Content.ReadFromJsonAsync<GarbageCollection>(Json, ct))!;
    }

    // ---- plumbing ----------------------------------------------------------------------------------------------

    private async Task<T> PostAsync<T>(string path, object body, CancellationToken ct)
    {
        using var response = await http.PostAsJsonAsync(Mlflow + path, body, Json, ct);
        await EnsureSuccessAsync(response, ct);
        return (await response.Content.ReadFromJsonAsync<T>(Json, ct))!;
    }

    private async Task<T> GetAsync<T>(string pathAndQuery, CancellationToken ct)
    {
        using var response = await http.GetAsync(Mlflow + pathAndQuery, ct);
        await EnsureSuccessAsync(response, ct);
        return (await response.Content.ReadFromJsonAsync<T>(Json, ct))!;
    }

    private async Task<T> GetNativeAsync<T>(string pathAndQuery, CancellationToken ct)
    {
        using var response = await http.GetAsync(pathAndQuery, ct);
        await EnsureSuccessAsync(response, ct);
        return (await response.Content.ReadFromJsonAsync<T>(Json, ct))!;
    }

    /// <summary>MLflow's <c>{"error_code", "message"}</c> or a ProblemDetails body becomes an <see cref="MlflowApiException"/>.</summary>
    private static async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode)
            return;
        var text = await response.Content.ReadAsStringAsync(ct);
        string code = response.StatusCode.ToString(), message = text;
        try
        {
            using var json = JsonDocument.Parse(text);
            var root = json.RootElement;
            if (root.TryGetProperty("error_code", out var errorCode))
                (code, message) = (errorCode.GetString()!, root.TryGetProperty("message", out var m) ? m.GetString()! : text);
            else if (root.TryGetProperty("title", out var title))
                (code, message) = (title.GetString()!, root.TryGetProperty("detail", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString()! : text);
        }
        catch (JsonException)
        {
        }
        response.Dispose();
        throw new MlflowApiException(response.StatusCode == 0 ? HttpStatusCode.InternalServerError : response.StatusCode, code, message);
    }

    private static string ArtifactUrl(Run run, string path)
    {
        var relative = path.Trim('/');
        if (relative.Length == 0 || relative.Split('/').Any(s => s is "" or "." or ".."))
            throw new ArgumentException($"'{path}' is not a relative artifact path.", nameof(path));
        return Artifacts + KeyOf(run.Info.ArtifactUri) + "/" + string.Join('/', relative.Split('/').Select(Uri.EscapeDataString));
    }

    private static string KeyOf(string artifactUri) =>
        artifactUri.StartsWith(ArtifactScheme, StringComparison.Ordinal)
            ? string.Join('/', artifactUri[ArtifactScheme.Length..].Trim('/').Split('/').Select(Uri.EscapeDataString))
            : throw new ArgumentException($"'{artifactUri}' is not an mlflow-artifacts:/ URI this tracker serves.", nameof(artifactUri));

    private static string Escape(string value) => Uri.EscapeDataString(value);

    private static List<KeyValue>? Tags(IReadOnlyDictionary<string, string>? tags) => tags?.Select(kv => new KeyValue(kv.Key, kv.Value)).ToList();

    private static List<T> Take<T>(List<T> source, int count)
    {
        var chunk = source.Take(Math.Max(0, count)).ToList();
        source.RemoveRange(0, chunk.Count);
        return chunk;
    }

    private sealed record CreateExperimentResponse(string ExperimentId);
    private sealed record ExperimentResponse(Experiment Experiment);
    private sealed record RunResponse(Run Run);
    private sealed record SearchRunsResponse(List<Run>? Runs, string? NextPageToken);
    private sealed record MetricHistoryResponse(List<Metric>? Metrics, string? NextPageToken);
    private sealed record ListArtifactsResponse(string? RootUri, List<ArtifactFile>? Files);
    private sealed record RegisteredModelResponse(RegisteredModel RegisteredModel);
    private sealed record ModelVersionResponse(ModelVersion ModelVersion);
    private sealed record SearchModelVersionsResponse(List<ModelVersion>? ModelVersions, string? NextPageToken);
    private sealed record DownloadUriResponse(string ArtifactUri);
}
