using Npgsql;

namespace Mlops.Monitor.Features.Baselines;

public sealed class BaselineStore(NpgsqlDataSource db)
{
    private const string Columns = "name, version, dataset_uri, model_name, model_version, item_count, statistics_uri, constraints_uri, profile_uri, created_at";

    private static BaselineRow Map(NpgsqlDataReader r) => new(r.GetString(0), r.GetInt32(1), r.GetString(2), r.GetNullableString(3), r.GetNullableString(4),
        r.GetInt64(5), r.GetString(6), r.GetString(7), r.GetString(8), r.GetFieldValue<DateTimeOffset>(9));

    /// <summary>A version, or the latest when <paramref name="version"/> is null.</summary>
    public Task<BaselineRow?> FindAsync(string name, int? version, CancellationToken ct) => version is { } v
        ? db.ReadFirstOrDefaultAsync($"SELECT {Columns} FROM baselines WHERE name = @name AND version = @v", Map, ct, ("name", name), ("v", v))
        : db.ReadFirstOrDefaultAsync($"SELECT {Columns} FROM baselines WHERE name = @name ORDER BY version DESC LIMIT 1", Map, ct, ("name", name));

    public Task<List<BaselineRow>> VersionsAsync(string name, CancellationToken ct) =>
        db.ReadAllAsync($"SELECT {Columns} FROM baselines WHERE name = @name ORDER BY version", Map, ct, ("name", name));

    public Task<List<BaselineRow>> LatestAsync(CancellationToken ct) =>
        db.ReadAllAsync($"SELECT DISTINCT ON (name) {Columns} FROM baselines ORDER BY name, version DESC", Map, ct);

    public Task<int> NextVersionAsync(string name, CancellationToken ct) =>
        db.ReadFirstOrDefaultAsync("SELECT coalesce(max(version), 0) + 1 FROM baselines WHERE name = @name", r => r.GetInt32(0), ct, ("name", name));

    /// <summary>Inserts a version; false when another writer took that version number first.</summary>
    public async Task<bool> InsertAsync(BaselineRow row, CancellationToken ct)
    {
        try
        {
            await db.ExecuteAsync(
                $"INSERT INTO baselines ({Columns}) VALUES (@name, @version, @dataset, @model, @model_version, @items, @stats, @constraints, @profile, @created)", ct,
                ("name", row.Name), ("version", row.Version), ("dataset", row.DatasetUri), ("model", row.ModelName), ("model_version", row.ModelVersion),
                ("items", row.ItemCount), ("stats", row.StatisticsUri), ("constraints", row.ConstraintsUri), ("profile", row.ProfileUri), ("created", row.CreatedAt));
            return true;
        }
        catch (PostgresException e) when (e.IsUniqueViolation())
        {
            return false;
        }
    }
}
