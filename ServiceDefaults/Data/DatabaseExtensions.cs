using System.Reflection;
using DbUp;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Mlops.ServiceDefaults.Data;

public static class DatabaseExtensions
{
    /// <summary>
    /// Registers the service's PostgreSQL database (an <see cref="NpgsqlDataSource"/> with health check and tracing) and
    /// migrates it on start-up: the platform's shared tables (outbox, inbox) plus the embedded <c>*.sql</c> scripts of
    /// <paramref name="migrations"/>, in name order, each once. Call before <c>AddMlopsBus</c> so migrations run first.
    /// </summary>
    public static IHostApplicationBuilder AddMlopsDatabase(this IHostApplicationBuilder builder, string connectionName, Assembly? migrations = null)
    {
        // No reset when a connection goes back to the pool: with prepared statements on it, Npgsql's reset is seven
        // statements (RESET ALL, CLOSE ALL, UNLISTEN *, DISCARD TEMP, ...) run before the next command, on every request.
        // The services leave no session state behind: no session settings, temporary tables ON COMMIT DROP, advisory locks
        // transaction-scoped (the migrator's session lock is on its own connection); the LISTEN loops keep theirs.
        builder.AddNpgsqlDataSource(connectionName, configureDataSourceBuilder: b => b.ConnectionStringBuilder.NoResetOnClose = true);
        var assemblies = new[] { typeof(DatabaseExtensions).Assembly, migrations }.OfType<Assembly>().Distinct().ToArray();
        builder.Services.AddHostedService(sp => new DatabaseMigrator(
            sp.GetRequiredService<IConfiguration>().GetConnectionString(connectionName)
                ?? throw new InvalidOperationException($"Connection string '{connectionName}' is missing."),
            assemblies,
            sp.GetRequiredService<ILogger<DatabaseMigrator>>()));
        return builder;
    }
}

/// <summary>Creates the database if needed and applies pending scripts, one instance at a time (advisory lock).</summary>
internal sealed class DatabaseMigrator(string connectionString, Assembly[] assemblies, ILogger<DatabaseMigrator> logger) : IHostedService
{
    private const long MigrationLockKey = 0x6D6C6F7073; // "mlops"

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await EnsureDatabaseAsync(cancellationToken);
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using (var lockCommand = new NpgsqlCommand($"SELECT pg_advisory_lock({MigrationLockKey})", connection))
            await lockCommand.ExecuteNonQueryAsync(cancellationToken);
        try
        {
            var upgrade = DeployChanges.To.PostgresqlDatabase(connectionString);
            // DbUp orders by full resource name across assemblies; run groups keep the platform's own tables (outbox,
            // inbox) first, so a service script may rely on them.
            for (var group = 0; group < assemblies.Length; group++)
                upgrade = upgrade.WithScriptsEmbeddedInAssembly(assemblies[group], name => name.EndsWith(".sql", StringComparison.Ordinal),
                    new DbUp.Engine.SqlScriptOptions { RunGroupOrder = group });
            var result = upgrade
                .WithTransactionPerScript()
                .LogToNowhere()
                .Build()
                .PerformUpgrade();
            if (!result.Successful)
                throw new InvalidOperationException($"Migration script '{result.ErrorScript?.Name}' failed: {result.Error.Message}", result.Error);
            foreach (var script in result.Scripts)
                logger.LogInformation("Applied migration {Script}", script.Name);
        }
        finally
        {
            await using var unlock = new NpgsqlCommand($"SELECT pg_advisory_unlock({MigrationLockKey})", connection);
            await unlock.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    // Each service owns its database and creates it on first start; where it already exists (production), nothing
    // needs rights beyond the database itself.
    private async Task EnsureDatabaseAsync(CancellationToken ct)
    {
        var database = new NpgsqlConnectionStringBuilder(connectionString).Database
            ?? throw new InvalidOperationException("The connection string names no Database.");
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var connection = new NpgsqlConnection(connectionString);
                await connection.OpenAsync(ct);
                return;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InvalidCatalogName)
            {
                await CreateDatabaseAsync(database, ct);
            }
            catch (NpgsqlException e) when (attempt < 30 && e is not PostgresException)
            {
                logger.LogWarning("PostgreSQL not reachable yet ({Message}); retrying", e.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
            }
        }
    }

    private async Task CreateDatabaseAsync(string database, CancellationToken ct)
    {
        var admin = new NpgsqlConnectionStringBuilder(connectionString) { Database = "postgres", Pooling = false };
        await using var connection = new NpgsqlConnection(admin.ConnectionString);
        await connection.OpenAsync(ct);
        await using var create = new NpgsqlCommand($"CREATE DATABASE \"{database.Replace("\"", "\"\"")}\"", connection);
        try
        {
            await create.ExecuteNonQueryAsync(ct);
            logger.LogInformation("Created database {Database}", database);
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.DuplicateDatabase or PostgresErrorCodes.UniqueViolation)
        {
            // Another instance created it first (replicas starting together: a CREATE racing one that has not committed
            // yet fails on pg_database's unique index rather than as a duplicate database).
        }
    }
}
