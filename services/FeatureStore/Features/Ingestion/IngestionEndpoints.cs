using System.Text.Json;
using DuckDB.NET.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Mlops.FeatureStore.Features.Groups;

namespace Mlops.FeatureStore.Features.Ingestion;

/// <summary>Synchronous ingestion: JSON record batches and uploaded CSV or Parquet files, each all-or-nothing.</summary>
public static class IngestionEndpoints
{
    public static readonly string[] ParquetTypes = ["application/vnd.apache.parquet", "application/x-parquet", "application/parquet"];
    public static readonly string[] CsvTypes = ["text/csv", "application/csv"];

    public static RouteGroupBuilder MapIngestionEndpoints(this RouteGroupBuilder api)
    {
        var groups = api.MapGroup("/feature-groups").WithTags("Ingestion");
        groups.MapPost("/{name}/records", IngestRecords).Accepts<JsonElement>("application/json");
        groups.MapPost("/{name}/files", IngestFile).Accepts<Stream>("application/vnd.apache.parquet", "text/csv");
        return groups;
    }

    internal static async Task<Ok<IngestionResult>> IngestRecords(string name, HttpRequest http, FeatureGroupCatalog catalog,
        IngestionPipeline pipeline, CancellationToken ct)
    {
        var schema = GroupSchema.For(await catalog.GetLiveAsync(name, ct));
        using var document = await JsonDocument.ParseAsync(http.Body, cancellationToken: ct);
        var source = new JsonRecordSource(document, schema);
        return TypedResults.Ok(await pipeline.IngestAsync(schema, source, "json", null, ct));
    }

    /// <summary>The body is the file; its Content-Type says whether it is Parquet or CSV (with a header row).</summary>
    internal static async Task<Ok<IngestionResult>> IngestFile(string name, HttpRequest http, FeatureGroupCatalog catalog,
        IngestionPipeline pipeline, CancellationToken ct)
    {
        var schema = GroupSchema.For(await catalog.GetLiveAsync(name, ct));
        var format = FormatOf(http.ContentType)
            ?? throw new ProblemException(StatusCodes.Status415UnsupportedMediaType, "Unsupported file type",
                $"Content-Type '{http.ContentType}' is not supported; send Parquet ({ParquetTypes[0]}) or CSV with a header row ({CsvTypes[0]}).");
        var path = Path.Combine(Path.GetTempPath(), $"fs-upload-{Guid.NewGuid():N}");
        try
        {
            await using (var file = File.Create(path))
                await http.Body.CopyToAsync(file, ct);
            return TypedResults.Ok(await IngestLocalFileAsync(schema, path, format, $"upload:{format}", pipeline, null, ct));
        }
        finally
        {
            File.Delete(path);
        }
    }

    public static string? FormatOf(string? contentType)
    {
        var mediaType = contentType?.Split(';')[0].Trim();
        if (mediaType is null) return null;
        if (ParquetTypes.Contains(mediaType, StringComparer.OrdinalIgnoreCase)) return "parquet";
        if (CsvTypes.Contains(mediaType, StringComparer.OrdinalIgnoreCase)) return "csv";
        return null;
    }

    /// <summary>Reads a local Parquet or CSV file with DuckDB (streamed, row by row) into the pipeline.</summary>
    public static async Task<IngestionResult> IngestLocalFileAsync(GroupSchema schema, string path, string format, string sourceName,
        IngestionPipeline pipeline, Func<long, long?, Task>? progress, CancellationToken ct)
    {
        using var duck = new DuckDBConnection("DataSource=:memory:");
        await duck.OpenAsync(ct);
        var literal = Mlops.FeatureStore.Data.Duck.Literal(path);
        var relation = format == "parquet"
            ? $"read_parquet({literal})"
            : $"read_csv({literal}, header = true, all_varchar = true, auto_detect = true)";
        long? total = null;
        using var command = duck.CreateCommand();
        try
        {
            if (format == "parquet")
            {
                command.CommandText = $"SELECT count(*) FROM {relation}";
                total = Convert.ToInt64(await command.ExecuteScalarAsync(ct));
            }
            command.CommandText = $"SELECT * FROM {relation}";
            await using var reader = await command.ExecuteReaderAsync(ct);
            var source = new DataReaderRecordSource(reader, schema, total);
            return await pipeline.IngestAsync(schema, source, sourceName, progress, ct);
        }
        catch (DuckDBException e)
        {
            throw ProblemException.BadRequest($"The file cannot be read as {(format == "parquet" ? "Parquet" : "CSV")}; nothing was written. {e.Message}");
        }
    }
}
