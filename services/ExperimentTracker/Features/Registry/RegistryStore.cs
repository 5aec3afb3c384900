using Mlops.Contracts;
using Mlops.ExperimentTracker.Data;
using Mlops.ExperimentTracker.Features.Experiments;
using Mlops.ExperimentTracker.Mlflow;
using Mlops.ServiceDefaults.Messaging;
using Npgsql;

namespace Mlops.ExperimentTracker.Features.Registry;

/// <summary>
/// The registry's SQL: registered models and versions read with their tags, aliases and latest versions in a few
/// queries; the locks that serialize changes to one model; and the alias announcement (audit entry and event) every
/// path that moves or removes an alias shares.
/// </summary>
public static class RegistryStore
{
    public static MlflowException ModelNotFound(string name) => MlflowException.NotFound($"Registered Model with name={name} not found");

    public static MlflowException VersionNotFound(string name, int version) =>
        MlflowException.NotFound($"Model Version (name={name}, version={version}) not found");

    public static MlflowException AliasNotFound(string alias) => MlflowException.NotFound($"Registered model alias {alias} not found.");

    /// <summary>Locks the registered model for the rest of the transaction (versions are numbered and aliases moved under it).</summary>
    public static async Task LockModelAsync(NpgsqlTransaction transaction, string name, CancellationToken ct)
    {
        await using var model = transaction.Connection!.Command("SELECT 1 FROM registered_models WHERE name = @name FOR UPDATE", transaction, ("name", name));
        if (await model.ExecuteScalarAsync(ct) is null)
            throw ModelNotFound(name);
    }

    public static async Task EnsureVersionAsync(NpgsqlTransaction transaction, string name, int version, CancellationToken ct)
    {
        await using var select = transaction.Connection!.Command("SELECT 1 FROM model_versions WHERE name = @name AND version = @version FOR SHARE",
            transaction, ("name", name), ("version", version));
        if (await select.ExecuteScalarAsync(ct) is null)
            throw VersionNotFound(name, version);
    }

    public static Task<int> TouchModelAsync(NpgsqlTransaction transaction, string name, long now, CancellationToken ct) =>
        transaction.ExecuteAsync("UPDATE registered_models SET last_updated_timestamp = @now WHERE name = @name", ct, ("now", now), ("name", name));

    public static Task<int> InsertTagsAsync(NpgsqlTransaction transaction, string table, string name, int? version,
        List<KeyValue> tags, CancellationToken ct) =>
        tags.Count == 0
            ? Task.FromResult(0)
            : transaction.ExecuteAsync(version is null
                ? $"INSERT INTO {table} (name, key, value) SELECT @name, k, v FROM unnest(@keys, @values) AS t(k, v)"
                : $"INSERT INTO {table} (name, version, key, value) SELECT @name, @version, k, v FROM unnest(@keys, @values) AS t(k, v)",
                ct, ("name", name), ("version", version), ("keys", tags.Select(t => t.Key!).ToArray()), ("values", tags.Select(t => t.Value!).ToArray()));

    /// <summary>The aliases pointing at the model's versions (one version's only, when given), read in the transaction.</summary>
    public static Task<List<(string Alias, int Version)>> AliasesAsync(NpgsqlTransaction transaction, string name, int? version, CancellationToken ct) =>
        transaction.Connection!.ReadAllAsync(
            "SELECT alias, version FROM registered_model_aliases WHERE name = @name AND (@version::integer IS NULL OR version = @version)",
            [new NpgsqlParameter("name", name), new NpgsqlParameter("version", NpgsqlTypes.NpgsqlDbType.Integer) { Value = (object?)version ?? DBNull.Value }],
            r => (Alias: r.GetString(0), Version: r.GetInt32(1)), ct, transaction);

    /// <summary>Records an alias set, moved or removed (<paramref name="version"/> null) and publishes <see cref="ModelAliasChanged"/>.</summary>
    public static async Task AnnounceAliasAsync(NpgsqlTransaction transaction, HttpContext http, long now, string name, string alias,
        int? version, int? previous, CancellationToken ct)
    {
        await RegistryAudit.RecordAsync(transaction, http, now, version is null ? "delete_alias" : "set_alias", name, version ?? previous,
            new { alias, version = version?.ToString(), previous_version = previous?.ToString() }, ct);
        await transaction.EnqueueAsync(new ModelAliasChanged(name, alias, version?.ToString(), previous?.ToString(), RegistryAudit.Actor(http),
            DateTimeOffset.FromUnixTimeMilliseconds(now)), ct);
    }

    public static async Task<RegisteredModel> GetModelAsync(NpgsqlConnection connection, string name, CancellationToken ct) =>
        (await LoadModelsAsync(connection, "m.name = @name", [new NpgsqlParameter("name", name)], ct)).SingleOrDefault() ?? throw ModelNotFound(name);

    public static async Task<ModelVersion> GetVersionAsync(NpgsqlConnection connection, string name, int version, CancellationToken ct) =>
        (await LoadVersionsAsync(connection, "v.name = @name AND v.version = @version",
            [new NpgsqlParameter("name", name), new NpgsqlParameter("version", version)], ct)).SingleOrDefault()
        ?? throw VersionNotFound(name, version);

    /// <summary>Registered models matching <paramref name="where"/> (over alias <c>m</c>) with tags, aliases and MLflow's latest_versions.</summary>
    public static async Task<List<RegisteredModel>> LoadModelsAsync(NpgsqlConnection connection, string where, IEnumerable<NpgsqlParameter> parameters,
        CancellationToken ct, string joins = "", string orderBy = "m.name", string paging = "")
    {
        var models = await connection.ReadAllAsync(
            $"""
            SELECT m.name, m.creation_timestamp, m.last_updated_timestamp, m.user_id, m.description,
                   {TrackerSql.KeyValueArrays("registered_model_tags", "t.name = m.name")},
                   (SELECT coalesce(array_agg(a.alias ORDER BY a.alias), ARRAY[]::text[]) FROM registered_model_aliases a WHERE a.name = m.name),
                   (SELECT coalesce(array_agg(a.version ORDER BY a.alias), ARRAY[]::integer[]) FROM registered_model_aliases a WHERE a.name = m.name)
            FROM registered_models m{joins}
            WHERE {where}
            ORDER BY {orderBy}
            {paging}
            """, parameters,
            reader => new RegisteredModel(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetNullableString(3),
                reader.GetNullableString(4), null, reader.KeyValues(5),
                reader.GetFieldValue<string[]>(7).Zip(reader.GetFieldValue<int[]>(8), (a, v) => new RegisteredModelAlias(a, v.ToString())).ToList().NullIfEmpty()),
            ct);
        if (models.Count == 0)
            return [];
        // MLflow's latest_versions: the newest version in each stage.
        var latest = (await LoadVersionsAsync(connection, $"v.name = ANY(@names) AND {NewestInItsStage}",
            [new NpgsqlParameter("names", models.Select(m => m.Name).ToArray())], ct)).ToLookup(v => v.Name);
        return models.Select(m => m with { LatestVersions = latest[m.Name].ToList().NullIfEmpty() }).ToList();
    }

    /// <summary>A condition over alias <c>v</c>: the version is the newest in its stage.</summary>
    public const string NewestInItsStage =
        "v.version = (SELECT max(l.version) FROM model_versions l WHERE l.name = v.name AND l.current_stage = v.current_stage)";

    /// <summary>Model versions matching <paramref name="where"/> (over alias <c>v</c>) with their tags and aliases.</summary>
    public static Task<List<ModelVersion>> LoadVersionsAsync(NpgsqlConnection connection, string where, IEnumerable<NpgsqlParameter> parameters,
        CancellationToken ct, string joins = "", string orderBy = "v.name, v.version", string paging = "") =>
        connection.ReadAllAsync(
            $"""
            SELECT v.name, v.version, v.creation_timestamp, v.last_updated_timestamp, v.user_id, v.current_stage, v.description, v.source,
                   v.run_id, v.status, v.run_link, {TrackerSql.KeyValueArrays("model_version_tags", "t.name = v.name AND t.version = v.version")},
                   (SELECT coalesce(array_agg(a.alias ORDER BY a.alias), ARRAY[]::text[]) FROM registered_model_aliases a WHERE a.name = v.name AND a.version = v.version)
            FROM model_versions v{joins}
            WHERE {where}
            ORDER BY {orderBy}
            {paging}
            """, parameters,
            reader => new ModelVersion(reader.GetString(0), reader.GetInt32(1).ToString(), reader.GetInt64(2), reader.GetInt64(3),
                reader.GetNullableString(4), reader.GetString(5), reader.GetNullableString(6), reader.GetString(7), reader.GetNullableString(8),
                reader.GetString(9), reader.GetNullableString(10), reader.KeyValues(11), reader.GetFieldValue<string[]>(13).ToList().NullIfEmpty()), ct);
}
