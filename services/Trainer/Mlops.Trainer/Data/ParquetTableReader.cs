using System.Numerics;
using Mlops.Trainer.Model.Tabular;
using Parquet;
using Parquet.Schema;

namespace Mlops.Trainer.Data;

/// <summary>Reads a Parquet file's flat columns into a <see cref="DataTable"/>, row group by row group.</summary>
public static class ParquetTableReader
{
    /// <param name="label">The label column, whose booleans are read as text so that nulls stay missing.</param>
    public static async Task<DataTable> ReadAsync(string path, TextWriter log, CancellationToken ct = default, string? label = null)
    {
        await using var reader = await ParquetReader.CreateAsync(path, cancellationToken: ct);
        var fields = new List<DataField>();
        foreach (var field in reader.Schema.GetDataFields())
        {
            if (field.IsArray || KindOf(field.ClrType) is null)
            {
                await log.WriteLineAsync($"warning: {Path.GetFileName(path)}: column '{field.Name}' ({field.ClrType.Name}{(field.IsArray ? "[]" : "")}) is not a supported type and is ignored.");
                continue;
            }

            fields.Add(field);
        }

        var groups = new List<DataTable>();
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            var rowGroup = reader.OpenRowGroupReader(g);
            var rows = checked((int)rowGroup.RowCount);
            var columns = new List<TableColumn>();
            foreach (var field in fields)
            {
                columns.Add(await ReadColumnAsync(rowGroup, field, rows, field.Name == label, ct));
            }

            groups.Add(new DataTable(columns));
        }

        return groups.Count == 0 ? new DataTable([]) : DataTable.Concat(groups);
    }

    private static ColumnKind? KindOf(Type type) => type switch
    {
        _ when type == typeof(bool) => ColumnKind.Boolean,
        _ when type == typeof(string) || type == typeof(ReadOnlyMemory<char>) => ColumnKind.Text,
        _ when type == typeof(DateTime) || type == typeof(DateTimeOffset) || type == typeof(DateOnly) => ColumnKind.Timestamp,
        _ when type.IsPrimitive || type == typeof(decimal) => ColumnKind.Number,
        _ => null,
    };

    private static async Task<TableColumn> ReadColumnAsync(ParquetRowGroupReader rowGroup, DataField field, int rows, bool isLabel, CancellationToken ct)
    {
        var name = field.Name;
        var type = field.ClrType;
        if (KindOf(type) == ColumnKind.Text)
        {
            var values = new string?[rows];
            await rowGroup.ReadAsync(field, values.AsMemory(), null, ct);
            return TableColumn.Texts(name, values);
        }

        if (type == typeof(bool))
        {
            var values = await ReadNullableAsync<bool>(rowGroup, field, rows, ct);
            return isLabel
                ? LabelPreparation.BooleanLabelAsText(name, values)
                : TableColumn.Booleans(name, [.. values.Select(v => v ?? false)]);
        }

        if (type == typeof(DateTime))
        {
            // Parquet.Net labels timestamps that are not UTC-adjusted as Local without converting them; they are
            // wall-clock values, and marking them so keeps their parts (hour, day) the same on every machine.
            var kind = field is DateTimeDataField { IsAdjustedToUTC: true } ? DateTimeKind.Utc : DateTimeKind.Unspecified;
            var values = await ReadNullableAsync<DateTime>(rowGroup, field, rows, ct);
            return TableColumn.Timestamps(name, [.. values.Select(v => v is { } t ? DateTime.SpecifyKind(t, kind) : (DateTime?)null)]);
        }

        if (type == typeof(DateTimeOffset))
        {
            var values = await ReadNullableAsync<DateTimeOffset>(rowGroup, field, rows, ct);
            return TableColumn.Timestamps(name, [.. values.Select(v => v?.UtcDateTime)]);
        }

        if (type == typeof(DateOnly))
        {
            var values = await ReadNullableAsync<DateOnly>(rowGroup, field, rows, ct);
            return TableColumn.Timestamps(name, [.. values.Select(v => v?.ToDateTime(TimeOnly.MinValue))]);
        }

        return TableColumn.Numbers(name, type switch
        {
            _ when type == typeof(double) => await NumbersAsync<double>(rowGroup, field, rows, ct),
            _ when type == typeof(float) => await NumbersAsync<float>(rowGroup, field, rows, ct),
            _ when type == typeof(long) => await NumbersAsync<long>(rowGroup, field, rows, ct),
            _ when type == typeof(int) => await NumbersAsync<int>(rowGroup, field, rows, ct),
            _ when type == typeof(short) => await NumbersAsync<short>(rowGroup, field, rows, ct),
            _ when type == typeof(sbyte) => await NumbersAsync<sbyte>(rowGroup, field, rows, ct),
            _ when type == typeof(byte) => await NumbersAsync<byte>(rowGroup, field, rows, ct),
            _ when type == typeof(ushort) => await NumbersAsync<ushort>(rowGroup, field, rows, ct),
            _ when type == typeof(uint) => await NumbersAsync<uint>(rowGroup, field, rows, ct),
            _ when type == typeof(ulong) => await NumbersAsync<ulong>(rowGroup, field, rows, ct),
            _ when type == typeof(decimal) => await NumbersAsync<decimal>(rowGroup, field, rows, ct),
            _ => throw new NotSupportedException($"Parquet column '{name}' has unsupported type {type}."),
        });
    }

    private static async Task<float[]> NumbersAsync<T>(ParquetRowGroupReader rowGroup, DataField field, int rows, CancellationToken ct)
        where T : struct, INumberBase<T>
    {
        var values = await ReadNullableAsync<T>(rowGroup, field, rows, ct);
        return [.. values.Select(v => v is { } x ? float.CreateSaturating(x) : float.NaN)];
    }

    private static async Task<T?[]> ReadNullableAsync<T>(ParquetRowGroupReader rowGroup, DataField field, int rows, CancellationToken ct)
        where T : struct
    {
        var values = new T?[rows];
        await rowGroup.ReadAsync(field, values.AsMemory(), null, ct);
        return values;
    }
}
