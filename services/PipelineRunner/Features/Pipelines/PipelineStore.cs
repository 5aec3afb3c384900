using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Mlops.PipelineRunner.Features.Definitions;
using Mlops.PipelineRunner.Features.Executions;
using Npgsql;
using NpgsqlTypes;

namespace Mlops.PipelineRunner.Features.Pipelines;

/// <summary>Pipelines and their immutable versions (SQL), and the bound definitions of pinned versions.</summary>
public sealed class PipelineStore(NpgsqlDataSource db)
{
    private readonly ConcurrentDictionary<(string, int), PipelineDefinition> _bound = new();

    /// <summary>Stores the definition as a new version unless it equals the latest one (then that version is answered).</summary>
    public async Task<PipelineVersionResponse> UpsertAsync(string name, JsonNode document, string source, string format, CancellationToken ct)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Planner.Canonical(document)!.ToJsonString())));
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        // Serializes concurrent upserts of one pipeline: the version numbers stay dense and each definition lands once.
        await tx.ExecuteAsync("SELECT pg_advisory_xact_lock(hashtext('pipeline:' || @name))", ct, ("name", name));
        await using (var latest = connection.Command(
            """
            SELECT v.version, v.definition_hash, v.source_format, v.document::text, v.created_at
            FROM pipelines p JOIN pipeline_versions v ON v.pipeline = p.name AND v.version = p.latest_version WHERE p.name = @name
            """, tx, ("name", name)))
        await using (var reader = await latest.ExecuteReaderAsync(ct))
            if (await reader.ReadAsync(ct) && reader.GetString(1) == hash)
                return new(name, reader.GetInt32(0), hash, reader.GetString(2), JsonNode.Parse(reader.GetString(3))!,
                    reader.GetFieldValue<DateTimeOffset>(4), Created: false);

        await using var insert = connection.Command(
            """
            INSERT INTO pipelines (name, latest_version) VALUES (@name, 1)
            ON CONFLICT (name) DO UPDATE SET latest_version = pipelines.latest_version + 1, updated_at = now()
            RETURNING latest_version
            """, tx, ("name", name));
        var version = (int)(await insert.ExecuteScalarAsync(ct))!;
        await using var cmd = connection.Command(
            """
            INSERT INTO pipeline_versions (pipeline, version, document, source, source_format, definition_hash)
            VALUES (@name, @version, @document, @source, @format, @hash) RETURNING created_at
            """, tx, ("name", name), ("version", version), ("source", source), ("format", format), ("hash", hash));
        cmd.Parameters.AddWithValue("document", NpgsqlDbType.Jsonb, document.ToJsonString());
        var created = (DateTime)(await cmd.ExecuteScalarAsync(ct))!;
        await tx.CommitAsync(ct);
        return new(name, version, hash, format, document, new DateTimeOffset(created, TimeSpan.Zero), Created: true);
    }

    public Task<List<PipelineSummary>> ListAsync(CancellationToken ct) =>
        db.ReadAllAsync("SELECT name, latest_version, created_at, updated_at FROM pipelines ORDER BY name",
            r => new PipelineSummary(r.GetString(0), r.GetInt32(1), r.GetFieldValue<DateTimeOffset>(2), r.GetFieldValue<DateTimeOffset>(3)), ct);

    public Task<List<PipelineVersionResponse>> VersionsAsync(string name, CancellationToken ct) =>
        db.ReadAllAsync(
            "SELECT version, definition_hash, source_format, document::text, created_at FROM pipeline_versions WHERE pipeline = @name ORDER BY version",
            r => new PipelineVersionResponse(name, r.GetInt32(0), r.GetString(1), r.GetString(2), JsonNode.Parse(r.GetString(3))!,
                r.GetFieldValue<DateTimeOffset>(4), false), ct, ("name", name));

    /// <summary>A version (the latest when <paramref name="version"/> is null), or null if the pipeline or version does not exist.</summary>
    public Task<PipelineVersionResponse?> GetVersionAsync(string name, int? version, CancellationToken ct) =>
        db.ReadFirstOrDefaultAsync(
            """
            SELECT v.version, v.definition_hash, v.source_format, v.document::text, v.created_at
            FROM pipeline_versions v JOIN pipelines p ON p.name = v.pipeline
            WHERE v.pipeline = @name AND v.version = coalesce(@version, p.latest_version)
            """,
            r => new PipelineVersionResponse(name, r.GetInt32(0), r.GetString(1), r.GetString(2), JsonNode.Parse(r.GetString(3))!,
                r.GetFieldValue<DateTimeOffset>(4), false), ct, ("name", name), ("version", version));

    /// <summary>The bound definition of a stored version (validated when it was stored).</summary>
    public PipelineDefinition Bind(string pipeline, int version, JsonNode document) =>
        _bound.GetOrAdd((pipeline, version), _ =>
        {
            var problems = new List<DefinitionProblem>();
            return DefinitionParser.Bind(document, problems)
                ?? throw new InvalidOperationException($"Stored definition {pipeline} v{version} no longer binds: {problems.FirstOrDefault()?.Message}");
        });

    public async Task<PipelineDefinition> DefinitionAsync(NpgsqlTransaction tx, string pipeline, int version, CancellationToken ct)
    {
        if (_bound.TryGetValue((pipeline, version), out var cached))
            return cached;
        await using var cmd = tx.Connection!.Command("SELECT document::text FROM pipeline_versions WHERE pipeline = @p AND version = @v", tx,
            ("p", pipeline), ("v", version));
        var text = (string)(await cmd.ExecuteScalarAsync(ct))!;
        return Bind(pipeline, version, JsonNode.Parse(text)!);
    }
}
