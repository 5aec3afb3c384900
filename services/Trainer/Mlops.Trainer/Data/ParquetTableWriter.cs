using Mlops.Trainer.Model.Tabular;
using Parquet;
using Parquet.Schema;

namespace Mlops.Trainer.Data;

/// <summary>Writes a <see cref="DataTable"/> as one Parquet row group (channel files for samples and tests).</summary>
public static class ParquetTableWriter
{
    public static async Task WriteAsync(DataTable table, string path, CancellationToken ct = default)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var fields = table.Columns.Select(c => c.Kind switch
        {
            ColumnKind.Number => (DataField)new DataField<float?>(c.Name),
            ColumnKind.Boolean => new DataField<bool>(c.Name),
            ColumnKind.Text => new DataField<string>(c.Name, true),
            _ => new DataField<DateTime?>(c.Name),
        }).ToArray();
        await using var stream = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), stream, cancellationToken: ct);
        using var group = writer.CreateRowGroup();
        for (var i = 0; i < fields.Length; i++)
        {
            switch (table.Columns[i].Values)
            {
                case float[] f:
                    await group.WriteAsync<float>(fields[i], f.Select(v => float.IsNaN(v) ? (float?)null : v).ToArray().AsMemory(), null, null, ct);
                    break;
                case bool[] b:
                    await group.WriteAsync<bool>(fields[i], b.AsMemory(), null, null, ct);
                    break;
                case string?[] s:
                    await group.WriteAsync(fields[i], s!, null);
                    break;
                case DateTime?[] d:
                    await group.WriteAsync<DateTime>(fields[i], d.AsMemory(), null, null, ct);
                    break;
            }
        }
    }
}
