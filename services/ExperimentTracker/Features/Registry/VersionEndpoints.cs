using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Mlops.Contracts;
using Mlops.ExperimentTracker.Data;
using Mlops.ExperimentTracker.Features.Experiments;
using Mlops.ExperimentTracker.Features.Runs;
using Mlops.ExperimentTracker.Features.Search;
using Mlops.ExperimentTracker.Mlflow;
using Mlops.ServiceDefaults.Messaging;
using Npgsql;
using static Mlops.ExperimentTracker.Features.Registry.RegistryStore;
using static Mlops.ExperimentTracker.Features.Registry.RegistryValidation;

namespace Mlops.ExperimentTracker.Features.Registry;

/// <summary>
/// MLflow's model versions, <c>/api/2.0/mlflow/model-versions/...</c>. Every change is written to the audit trail in its
/// transaction; creation and stage changes also publish events through the outbox.
/// </summary>
public static partial class VersionEndpoints
{
    private const int VersionSearchDefault = 10000;
    private const int VersionSearchLimit = 200000;

    public static RouteGroupBuilder MapVersionEndpoints(this RouteGroupBuilder mlflow)
    {
        var versions = mlflow.MapGroup("/model-versions").WithTags("MLflow model registry");
        versions.MapPost("/create", CreateModelVersion).Accepts<CreateModelVersionRequest>("application/json");
        versions.MapGet("/get", GetModelVersion);
        versions.MapPatch("/update", UpdateModelVersion).Accepts<UpdateModelVersionRequest>("application/json");
        versions.MapDelete("/delete", DeleteModelVersion);
        versions.MapGet("/search", SearchModelVersions);
        versions.MapPost("/transition-stage", TransitionStage).Accepts<TransitionStageRequest>("application/json");
        versions.MapGet("/get-download-uri", GetDownloadUri);
        versions.MapPost("/set-tag", SetVersionTag).Accepts<ModelVersionTagRequest>("application/json");
        versions.MapDelete("/delete-tag", DeleteVersionTag);
        return versions;
    }

    /// <summary>Numbers the version under a lock on its registered model and publishes <see cref="ModelVersionCreated"/> in the same transaction.</summary>
    internal static async Task<JsonHttpResult<ModelVersionResponse>> CreateModelVersion(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.Request.ReadBodyAsync<CreateModelVersionRequest>(ct);
        var name = Validate.Required(request.Name, "name");
        var source = Validate.Required(request.Source, "source");
        var tags = Tags(request.Tags);
        var runId = string.IsNullOrEmpty(request.RunId) ? null : request.RunId;
        var now = TrackerSql.NowMs();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await LockModelAsync(transaction, name, ct);
        if (runId is not null)
            await RunStore.GetStateAsync(transaction, runId, forUpdate: false, ct);
        int version;
        await using (var insert = connection.Command(
            """
            INSERT INTO model_versions (name, version, creation_timestamp, last_updated_timestamp, description, source, run_id, run_link)
            SELECT @name, coalesce(max(version), 0) + 1, @now, @now, @description, @source, @run, @link FROM model_versions WHERE name = @name
            RETURNING version
            """, transaction, ("name", name), ("now", now), ("description", request.Description), ("source", source),
            ("run", runId), ("link", request.RunLink)))
            version = (int)(await insert.ExecuteScalarAsync(ct))!;
        await InsertTagsAsync(transaction, "model_version_tags", name, version, tags, ct);
        await TouchModelAsync(transaction, name, now, ct);
        await RegistryAudit.RecordAsync(transaction, http, now, "create_model_version", name, version, new { source, run_id = runId }, ct);
        await transaction.EnqueueAsync(new ModelVersionCreated(name, version.ToString(), source, runId, DateTimeOffset.FromUnixTimeMilliseconds(now)), ct);
        await transaction.CommitAsync(ct);
        return MlflowJson.Ok(new ModelVersionResponse(await GetVersionAsync(connection, name, version, ct)));
    }

    internal static async Task<JsonHttpResult<ModelVersionResponse>> GetModelVersion(
        [FromQuery(Name = "name")] string? name, [FromQuery(Name = "version")] string? version, NpgsqlDataSource db, CancellationToken ct)
    {
        var (model, number) = VersionKey(name, version);
        await using var connection = await db.OpenConnectionAsync(ct);
        return MlflowJson.Ok(new ModelVersionResponse(await GetVersionAsync(connection, model, number, ct)));
    }

    internal static async Task<JsonHttpResult<ModelVersionResponse>> UpdateModelVersion(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.Request.ReadBodyAsync<UpdateModelVersionRequest>(ct);
        var (name, version) = VersionKey(request.Name, request.Version);
        var now = TrackerSql.NowMs();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        if (await transaction.ExecuteAsync(
            "UPDATE model_versions SET description = @description, last_updated_timestamp = @now WHERE name = @name AND version = @version", ct,
            ("description", request.Description), ("now", now), ("name", name), ("version", version)) == 0)
            throw VersionNotFound(name, version);
        await RegistryAudit.RecordAsync(transaction, http, now, "update_model_version", name, version, new { description = request.Description }, ct);
        await transaction.CommitAsync(ct);
        return MlflowJson.Ok(new ModelVersionResponse(await GetVersionAsync(connection, name, version, ct)));
    }

    /// <summary>Deletes the version (its artifacts stay with the run that made them); aliases on it go too, and are announced.</summary>
    internal static async Task<JsonHttpResult<Empty>> DeleteModelVersion(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.Request.ReadBodyOrQueryAsync<ModelVersionRequest>(ct);
        var (name, version) = VersionKey(request.Name, request.Version);
        var now = TrackerSql.NowMs();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await LockModelAsync(transaction, name, ct);
        var aliases = await AliasesAsync(transaction, name, version, ct);
        if (await transaction.ExecuteAsync("DELETE FROM model_versions WHERE name = @name AND version = @version", ct,
            ("name", name), ("version", version)) == 0)
            throw VersionNotFound(name, version);
        foreach (var (alias, _) in aliases)
            await AnnounceAliasAsync(transaction, http, now, name, alias, null, version, ct);
        await TouchModelAsync(transaction, name, now, ct);
        await RegistryAudit.RecordAsync(transaction, http, now, "delete_model_version", name, version, new { }, ct);
        await transaction.CommitAsync(ct);
        return MlflowJson.Empty();
    }

    internal static async Task<JsonHttpResult<SearchModelVersionsResponse>> SearchModelVersions(
        [FromQuery(Name = "filter")] string? filter, [FromQuery(Name = "max_results")] long? maxResults,
        [FromQuery(Name = "order_by")] string[]? orderBy, [FromQuery(Name = "page_token")] string? pageToken,
        NpgsqlDataSource db, CancellationToken ct)
    {
        var limit = PageToken.MaxResults(maxResults, VersionSearchDefault, VersionSearchLimit);
        var offset = PageToken.Decode(pageToken);
        var search = SearchSql.CompileModelVersions(filter, orderBy);
        await using var connection = await db.OpenConnectionAsync(ct);
        var versions = await LoadVersionsAsync(connection, $"TRUE{search.Conditions}",
            search.Parameters.Concat([new NpgsqlParameter("limit", limit + 1), new NpgsqlParameter("offset", offset)]), ct,
            search.Joins, search.OrderBy, "LIMIT @limit OFFSET @offset");
        var (page, next) = PageToken.Slice(versions, limit, offset);
        return MlflowJson.Ok(new SearchModelVersionsResponse(page, next));
    }

    /// <summary>
    /// Moves a version to another stage; with <c>archive_existing_versions</c> (Staging or Production only) the other
    /// versions in that stage move to Archived. Publishes <see cref="ModelVersionStageChanged"/>.
    /// </summary>
    internal static async Task<JsonHttpResult<ModelVersionResponse>> TransitionStage(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.Request.ReadBodyAsync<TransitionStageRequest>(ct);
        var (name, version) = VersionKey(request.Name, request.Version);
        var stage = CanonicalStage(Validate.Required(request.Stage, "stage"), "stage");
        var archiveOthers = request.ArchiveExistingVersions ?? false;
        if (archiveOthers && stage is not ("Staging" or "Production"))
            throw MlflowException.Invalid($"Model version transition cannot archive existing model versions because '{stage}' is not an Active stage. Valid stages are Staging, Production.");
        var now = TrackerSql.NowMs();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await LockModelAsync(transaction, name, ct);
        await using var select = connection.Command("SELECT current_stage FROM model_versions WHERE name = @name AND version = @version",
            transaction, ("name", name), ("version", version));
        var from = await select.ExecuteScalarAsync(ct) as string ?? throw VersionNotFound(name, version);
        await transaction.ExecuteAsync(
            "UPDATE model_versions SET current_stage = @stage, last_updated_timestamp = @now WHERE name = @name AND version = @version", ct,
            ("stage", stage), ("now", now), ("name", name), ("version", version));
        var archived = archiveOthers
            ? await connection.ReadAllAsync(
                """
                UPDATE model_versions SET current_stage = 'Archived', last_updated_timestamp = @now
                WHERE name = @name AND version <> @version AND current_stage = @stage RETURNING version
                """, [new NpgsqlParameter("now", now), new NpgsqlParameter("name", name), new NpgsqlParameter("version", version),
                    new NpgsqlParameter("stage", stage)], r => r.GetInt32(0).ToString(), ct, transaction)
            : [];
        await TouchModelAsync(transaction, name, now, ct);
        var actor = RegistryAudit.Actor(http);
        await RegistryAudit.RecordAsync(transaction, http, now, "transition_stage", name, version,
            new { from, to = stage, archived_versions = archived }, ct);
        await transaction.EnqueueAsync(new ModelVersionStageChanged(name, version.ToString(), from, stage, archived, actor,
            DateTimeOffset.FromUnixTimeMilliseconds(now)), ct);
        await transaction.CommitAsync(ct);
        return MlflowJson.Ok(new ModelVersionResponse(await GetVersionAsync(connection, name, version, ct)));
    }

    /// <summary>Where the version's files are: its source, with a <c>runs:/&lt;run&gt;/path</c> source resolved to the run's artifacts.</summary>
    internal static async Task<JsonHttpResult<DownloadUriResponse>> GetDownloadUri(
        [FromQuery(Name = "name")] string? name, [FromQuery(Name = "version")] string? version, NpgsqlDataSource db, CancellationToken ct)
    {
        var (model, number) = VersionKey(name, version);
        await using var connection = await db.OpenConnectionAsync(ct);
        var found = await GetVersionAsync(connection, model, number, ct);
        var match = RunsUri().Match(found.Source);
        if (!match.Success)
            return MlflowJson.Ok(new DownloadUriResponse(found.Source));
        await using var select = connection.Command("SELECT artifact_uri FROM runs WHERE run_id = @id", null, ("id", match.Groups[1].Value));
        var root = await select.ExecuteScalarAsync(ct) as string ?? throw RunStore.NotFound(match.Groups[1].Value);
        var path = match.Groups[2].Value.Trim('/');
        return MlflowJson.Ok(new DownloadUriResponse(path.Length == 0 ? root : $"{root.TrimEnd('/')}/{path}"));
    }

    internal static async Task<JsonHttpResult<Empty>> SetVersionTag(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.Request.ReadBodyAsync<ModelVersionTagRequest>(ct);
        var (name, version) = VersionKey(request.Name, request.Version);
        var tag = Tags([new KeyValue(request.Key, request.Value)])[0];
        var now = TrackerSql.NowMs();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await EnsureVersionAsync(transaction, name, version, ct);
        await transaction.ExecuteAsync(
            """
            INSERT INTO model_version_tags (name, version, key, value) VALUES (@name, @version, @key, @value)
            ON CONFLICT (name, version, key) DO UPDATE SET value = excluded.value
            """, ct, ("name", name), ("version", version), ("key", tag.Key), ("value", tag.Value));
        await RegistryAudit.RecordAsync(transaction, http, now, "set_model_version_tag", name, version, new { key = tag.Key, value = tag.Value }, ct);
        await transaction.CommitAsync(ct);
        return MlflowJson.Empty();
    }

    internal static async Task<JsonHttpResult<Empty>> DeleteVersionTag(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.Request.ReadBodyOrQueryAsync<ModelVersionTagRequest>(ct);
        var (name, version) = VersionKey(request.Name, request.Version);
        var key = Validate.Required(request.Key, "key");
        var now = TrackerSql.NowMs();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await EnsureVersionAsync(transaction, name, version, ct);
        if (await transaction.ExecuteAsync("DELETE FROM model_version_tags WHERE name = @name AND version = @version AND key = @key", ct,
            ("name", name), ("version", version), ("key", key)) == 0)
            throw MlflowException.NotFound($"No tag with name: {key} in model version (name={name}, version={version})");
        await RegistryAudit.RecordAsync(transaction, http, now, "delete_model_version_tag", name, version, new { key }, ct);
        await transaction.CommitAsync(ct);
        return MlflowJson.Empty();
    }

    [GeneratedRegex("^runs:/([0-9a-f]{32})(/.*)?$")]
    private static partial Regex RunsUri();
}
