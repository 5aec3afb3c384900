using System.Security.Cryptography;
using System.Text;
using Mlops.Trainer.Model;
using Mlops.Trainer.Model.Tabular;
using Mlops.Trainer.SageMaker;

namespace Mlops.Trainer.Data;

/// <summary>A channel read into memory, with the digest of the files it came from.</summary>
public sealed record Channel(string Name, DataTable Table, ChannelDigest Digest);

/// <summary>Reads input/data/&lt;channel&gt;/ (every Parquet or CSV file under it, in path order) into one table.</summary>
public static class ChannelLoader
{
    public const string Train = "train";
    public const string Validation = "validation";
    public const string Test = "test";

    private static readonly string[] ParquetTypes = ["application/x-parquet", "application/parquet", "application/vnd.apache.parquet"];
    private static readonly string[] CsvTypes = ["text/csv", "application/csv"];

    public static async Task<Channel?> LoadAsync(TrainingLayout layout, string name, ChannelConfig? config, bool required, string label, TextWriter log, CancellationToken ct)
    {
        var directory = layout.ChannelDirectory(name);
        if (!Directory.Exists(directory))
        {
            return required || config is not null
                ? throw new TrainerException(
                    $"Channel '{name}' is missing: {directory} does not exist. Required channels: {Train}, {Validation}; optional: {Test}.")
                : null;
        }

        var files = Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)
            .Where(f => !Path.GetFileName(f).StartsWith('.'))
            .Order(StringComparer.Ordinal)
            .ToArray();
        if (files.Length == 0)
        {
            throw new TrainerException($"Channel '{name}' is empty: {directory} holds no files. Supply Parquet (.parquet) or CSV (.csv) files.");
        }

        var tables = new List<DataTable>();
        foreach (var file in files)
        {
            tables.Add(await ReadFileAsync(file, name, config?.ContentType, label, log, ct));
        }

        var table = Concat(name, files, tables);
        if (table.RowCount == 0)
        {
            throw new TrainerException($"Channel '{name}' has no rows ({files.Length} file(s) read). Every channel needs at least one row.");
        }

        return new Channel(name, table, new ChannelDigest(Digest(directory, files), table.RowCount, [.. files.Select(f => Path.GetRelativePath(directory, f))]));
    }

    private static async Task<DataTable> ReadFileAsync(string file, string channel, string? contentType, string label, TextWriter log, CancellationToken ct)
    {
        var isParquet = contentType is not null
            ? ParquetTypes.Contains(contentType, StringComparer.OrdinalIgnoreCase)
            : file.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase);
        var isCsv = contentType is not null
            ? CsvTypes.Contains(contentType, StringComparer.OrdinalIgnoreCase)
            : file.EndsWith(".csv", StringComparison.OrdinalIgnoreCase);
        if (!isParquet && !isCsv)
        {
            throw new TrainerException(
                $"Channel '{channel}': cannot read {Path.GetFileName(file)} ({(contentType is null ? "unknown extension" : $"ContentType {contentType}")}). "
                + $"Supported: .parquet files (ContentType {ParquetTypes[0]}) and .csv files with a header row (ContentType {CsvTypes[0]}).");
        }

        try
        {
            return isParquet ? await ParquetTableReader.ReadAsync(file, log, ct, label) : CsvTableReader.Read(file, label);
        }
        catch (Exception e) when (e is not TrainerException and not OperationCanceledException)
        {
            throw new TrainerException(
                $"Channel '{channel}': cannot read {Path.GetFileName(file)} as {(isParquet ? "Parquet" : "CSV")}: {e.Message}", e);
        }
    }

    private static DataTable Concat(string channel, string[] files, List<DataTable> tables)
    {
        var first = tables[0];
        for (var i = 1; i < tables.Count; i++)
        {
            var same = tables[i].Columns.Count == first.Columns.Count
                && tables[i].Columns.All(c => first.Find(c.Name)?.Kind == c.Kind);
            if (!same)
            {
                throw new TrainerException(
                    $"Channel '{channel}': {Path.GetFileName(files[i])} has columns ({Describe(tables[i])}) "
                    + $"but {Path.GetFileName(files[0])} has ({Describe(first)}). All files of a channel must share one schema.");
            }
        }

        return DataTable.Concat(tables);
    }

    public static string Describe(DataTable table) =>
        string.Join(", ", table.Columns.Select(c => $"{c.Name}: {c.Kind.ToString().ToLowerInvariant()}"));

    /// <summary>SHA-256 over each file's relative path and bytes, so renaming or editing any file changes it.</summary>
    private static string Digest(string directory, string[] files)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 16];
        foreach (var file in files)
        {
            hash.AppendData(Encoding.UTF8.GetBytes(Path.GetRelativePath(directory, file).Replace('\\', '/') + "\n"));
            using var stream = File.OpenRead(file);
            int read;
            while ((read = stream.Read(buffer)) > 0)
            {
                hash.AppendData(buffer, 0, read);
            }
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
