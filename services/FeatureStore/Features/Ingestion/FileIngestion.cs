using System.Data.Common;
using DuckDB.NET.Data;
using Microsoft.Net.Http.Headers;
using Mlops.FeatureStore.Data;

namespace Mlops.FeatureStore.Features.Ingestion;

/// <summary>
/// Ingestion of a local Parquet or CSV file (an upload or a lake object, copied to a temporary file first) into the
/// pipeline. Parquet is read by DuckDB, streamed row by row; CSV by <see cref="CsvRecordSource"/>, strictly. The same
/// reading, and the same refusals, for uploads and lake imports; errors name the file as the caller knows it, never the
/// server's temporary path.
/// </summary>
public static class FileIngestion
{
    public const string Parquet = "parquet", Csv = "csv";
    public static readonly string[] ParquetTypes = ["application/vnd.apache.parquet", "application/x-parquet", "application/parquet"];
    public static readonly string[] CsvTypes = ["text/csv", "application/csv"];
    public static readonly string[] AcceptedTypes = [.. ParquetTypes, .. CsvTypes];

    /// <summary>The file format a Content-Type names, or null and why not (CSV is read as UTF-8 only).</summary>
    public static string? FormatOf(string? contentType, out string refusal)
    {
        refusal = "";
        string? format = null;
        if (!MediaTypeHeaderValue.TryParse(contentType, out var media))
            refusal = contentType is null ? "The request has no Content-Type" : $"Content-Type '{contentType}' is not supported";
        else if (ParquetTypes.Contains(media.MediaType.Value, StringComparer.OrdinalIgnoreCase))
            format = Parquet;
        else if (!CsvTypes.Contains(media.MediaType.Value, StringComparer.OrdinalIgnoreCase))
            refusal = $"Content-Type '{media.MediaType}' is not supported";
        else if (media.Charset.Value is { } charset && !charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase)
            && !charset.Equals("us-ascii", StringComparison.OrdinalIgnoreCase))
            refusal = $"CSV is read as UTF-8 only; charset '{charset}' is not supported";
        else
            format = Csv;
        if (format is null)
            refusal += $"; send Parquet ({ParquetTypes[0]}) or UTF-8 CSV with a header row ({CsvTypes[0]}).";
        return format;
    }

    /// <param name="path">The local copy of the file.</param>
    /// <param name="name">The file as the caller knows it, for error messages ("the uploaded file", the lake object's URI).</param>
    public static async Task<IngestionResult> IngestAsync(GroupSchema schema, string path, string format, string name, string sourceName,
        IngestionPipeline pipeline, Func<long, long?, Task>? progress, CancellationToken ct)
    {
        if (format == Csv)
        {
            await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
            return await pipeline.IngestAsync(schema, new CsvRecordSource(file, schema), sourceName, progress, ct);
        }

        using var duck = new DuckDBConnection("DataSource=:memory:");
        await duck.OpenAsync(ct);
        using var command = duck.CreateCommand();
        DbDataReader reader;
        long total;
        try
        {
            command.CommandText = $"SELECT count(*) FROM read_parquet({Duck.Literal(path)})";
            total = Convert.ToInt64(await command.ExecuteScalarAsync(ct));
            command.CommandText = $"SELECT * FROM read_parquet({Duck.Literal(path)})";
            reader = await command.ExecuteReaderAsync(ct);
        }
        catch (DuckDBException e)
        {
            throw Unreadable(e, name);
        }
        await using (reader)
            return await pipeline.IngestAsync(schema, new UnreadableAsProblem(new DataReaderRecordSource(reader, schema, total), name), sourceName, progress, ct);
    }

    private static ProblemException Unreadable(DuckDBException e, string name) =>
        ProblemException.BadRequest($"The file cannot be read as Parquet; nothing was written. {Duck.Describe(e, name)}");

    /// <summary>A file that turns out unreadable part way through is the caller's problem (400), like one unreadable at once.</summary>
    private sealed class UnreadableAsProblem(IRecordSource inner, string name) : IRecordSource
    {
        public long? Total => inner.Total;

        public long? Line => inner.Line;

        public bool Read(object?[] raw, long row, ProblemList problems)
        {
            try
            {
                return inner.Read(raw, row, problems);
            }
            catch (DuckDBException e)
            {
                throw Unreadable(e, name);
            }
        }
    }
}
