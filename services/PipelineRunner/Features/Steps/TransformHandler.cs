using System.Text.Json.Nodes;
using DuckDB.NET.Data;
using Microsoft.Extensions.Options;
using Mlops.PipelineRunner.Features.Definitions;
using Mlops.PipelineRunner.Features.Executions;
using Mlops.ServiceDefaults.Storage;

namespace Mlops.PipelineRunner.Features.Steps;

/// <summary>
/// <c>transform</c>: SQL over lake objects and snapshots with the embedded DuckDB (clean, join, aggregate, split), writing
/// the result as a new Parquet object in the lake. Each table is downloaded into a private folder and named as a view;
/// the query runs with DuckDB's external access shut off except for that folder, so it can read only its tables and
/// write only its result. The output key is the step's, so a runner taking the step over writes the same object again.
/// </summary>
public sealed class TransformHandler(ObjectStore store, IOptions<StorageOptions> storage, ILogger<TransformHandler> logger) : IStepHandler
{
    public string Type => "transform";

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken ct)
    {
        StepInputRules.EnsureValid(Type, context.Inputs, context.Step);
        var lake = storage.Value.LakeBucket;
        var work = Directory.CreateTempSubdirectory("mlops-transform-");
        try
        {
            var tables = new Dictionary<string, string>();
            foreach (var (table, source) in context.Inputs["tables"] as JsonObject ?? [])
            {
                var (bucket, key) = Locate(source!.ToString(), lake);
                var local = Path.Combine(work.FullName, $"{table}{(key.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) ? ".csv" : ".parquet")}");
                var stored = await store.TryOpenAsync(bucket, key, ct)
                    ?? throw new StepException(FailureKinds.StepFailed, $"Table '{table}': s3://{bucket}/{key} does not exist.");
                await using (stored)
                await using (var file = File.Create(local))
                    await stored.Content.CopyToAsync(file, ct);
                tables[table] = local;
            }
            var output = Path.Combine(work.FullName, "__output.parquet");
            var rows = RunSql(context.Inputs["sql"]!.ToString(), tables, work.FullName, output);
            var outputKey = context.Inputs["output_key"]!.ToString();
            await using (var result = File.OpenRead(output))
                await store.PutAsync(lake, outputKey, result, "application/vnd.apache.parquet", ct);
            logger.LogInformation("Transform {Step} of execution {Execution} wrote {Rows} rows to s3://{Bucket}/{Key}", context.Step,
                context.ExecutionId, rows, lake, outputKey);
            return new StepSucceeded(new JsonObject { ["object_key"] = outputKey, ["uri"] = $"s3://{lake}/{outputKey}", ["row_count"] = rows });
        }
        finally
        {
            try { work.Delete(recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>A table's source: an <c>s3://bucket/key</c> URI (e.g. a snapshot's data_uri) or a key in the lake bucket.</summary>
    public static (string Bucket, string Key) Locate(string source, string lakeBucket) =>
        Uri.TryCreate(source, UriKind.Absolute, out var uri) && uri.Scheme == "s3"
            ? (uri.Host, uri.AbsolutePath.TrimStart('/'))
            : (lakeBucket, source);

    /// <summary>
    /// Runs one SELECT over the tables (name → local Parquet or CSV file) inside <paramref name="folder"/> and writes its
    /// result to <paramref name="output"/> as Parquet; answers the row count. A query that is not one statement, reads or
    /// writes outside the folder, or fails fails the step naming DuckDB's error.
    /// </summary>
    public static long RunSql(string sql, IReadOnlyDictionary<string, string> tables, string folder, string output)
    {
        var query = sql.Trim().TrimEnd(';').Trim();
        if (query.Contains(';'))
            throw new StepException(FailureKinds.StepFailed, "'sql' is one query (no ';' between statements).");
        using var connection = new DuckDBConnection("DataSource=:memory:");
        connection.Open();
        var root = Path.GetFullPath(folder).TrimEnd('/') + "/";
        Execute(connection, $"SET allowed_directories = [{Literal(root)}]");
        Execute(connection, "SET enable_external_access = false");
        Execute(connection, "SET lock_configuration = true");
        foreach (var (name, file) in tables)
            Execute(connection, $"CREATE VIEW \"{name}\" AS SELECT * FROM " +
                (file.EndsWith(".csv", StringComparison.Ordinal) ? $"read_csv({Literal(file)}, header = true)" : $"read_parquet({Literal(file)})"));
        try
        {
            Execute(connection, $"COPY ({query}\n) TO {Literal(output)} (FORMAT parquet)");
            using var count = connection.CreateCommand();
            count.CommandText = $"SELECT count(*) FROM read_parquet({Literal(output)})";
            return Convert.ToInt64(count.ExecuteScalar());
        }
        catch (DuckDBException e)
        {
            throw new StepException(FailureKinds.StepFailed, $"The transform's SQL failed: {e.Message}");
        }
    }

    private static void Execute(DuckDBConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static string Literal(string s) => "'" + s.Replace("'", "''") + "'";
}
