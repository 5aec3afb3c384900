using System.Globalization;
using System.Text;
using Sylvan.Data.Csv;
using Mlops.Trainer.Model.Tabular;

namespace Mlops.Trainer.Data;

/// <summary>
/// Reads a CSV file with a header row. CSV carries no types, so each column's kind is inferred from its
/// values: all numbers → number, all true/false → boolean, all ISO-like dates → timestamp, else text.
/// Empty cells (and NA, null) are missing. Files must be UTF-8; anything else is refused with its position.
/// </summary>
public static class CsvTableReader
{
    private static readonly HashSet<string> MissingMarkers = new(["", "NA", "N/A", "null", "NULL", "NaN"], StringComparer.Ordinal);

    /// <param name="path">The CSV file.</param>
    /// <param name="label">The label column, whose booleans are read as text so that empty cells stay missing.</param>
    public static DataTable Read(string path, string? label = null)
    {
        try
        {
            return ReadStrict(path, label);
        }
        catch (DecoderFallbackException e)
        {
            throw CsvEncoding.Refusal(path, e);
        }
    }

    private static DataTable ReadStrict(string path, string? label)
    {
        using var text = CsvEncoding.OpenStrict(path);
        using var csv = CsvDataReader.Create(text, new CsvDataReaderOptions { HasHeaders = true });
        var header = Enumerable.Range(0, csv.FieldCount).Select(csv.GetName).ToArray();
        if (header.Length == 0 || header.All(string.IsNullOrWhiteSpace))
        {
            throw new TrainerException($"{Path.GetFileName(path)} has no header row; CSV channels need one naming the columns.");
        }

        var raw = header.Select(_ => new List<string?>()).ToArray();
        while (csv.Read())
        {
            if (csv.RowFieldCount != header.Length)
            {
                throw new TrainerException(
                    $"{Path.GetFileName(path)} line {csv.RowNumber}: {csv.RowFieldCount} fields where the header has {header.Length}.");
            }

            for (var i = 0; i < header.Length; i++)
            {
                var cell = csv.GetString(i).Trim();
                raw[i].Add(MissingMarkers.Contains(cell) ? null : cell);
            }
        }

        return new DataTable([.. header.Select((name, i) => Infer(name, raw[i], name == label))]);
    }

    private static TableColumn Infer(string name, List<string?> cells, bool isLabel)
    {
        var present = cells.Where(c => c is not null).Select(c => c!).ToArray();
        if (present.Length > 0 && present.All(c => double.TryParse(c, NumberStyles.Float, CultureInfo.InvariantCulture, out _)))
        {
            return TableColumn.Numbers(name, [.. cells.Select(c => c is null ? float.NaN : float.Parse(c, NumberStyles.Float, CultureInfo.InvariantCulture))]);
        }

        if (present.Length > 0 && present.All(c => bool.TryParse(c, out _)))
        {
            if (isLabel)
            {
                return LabelPreparation.BooleanLabelAsText(name, cells.Select(c => c is null ? (bool?)null : bool.Parse(c)));
            }

            // Missing booleans read as false: ML.NET's boolean has no missing value.
            return TableColumn.Booleans(name, [.. cells.Select(c => c is not null && bool.Parse(c))]);
        }

        if (present.Length > 0 && present.All(c => (c.Contains('-') || c.Contains(':')) && TryTimestamp(c, out _)))
        {
            return TableColumn.Timestamps(name, [.. cells.Select(c => c is not null && TryTimestamp(c, out var t) ? t : (DateTime?)null)]);
        }

        return TableColumn.Texts(name, [.. cells]);
    }

    private static bool TryTimestamp(string text, out DateTime value) =>
        DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out value);
}
