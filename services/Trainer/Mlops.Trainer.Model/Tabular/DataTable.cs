namespace Mlops.Trainer.Model.Tabular;

/// <summary>
/// A column-oriented table in memory. The trainer reads every channel into one, and Serving builds one
/// from request rows, so both feed the model through the same <see cref="TableDataView"/>.
/// </summary>
public sealed class DataTable
{
    // Only for wide tables: a request's few columns are found by a scan (a dictionary per table cost Serving an allocation per request).
    private Dictionary<string, TableColumn>? _byName;

    public DataTable(IReadOnlyList<TableColumn> columns)
    {
        Columns = columns;
        RowCount = columns.Count == 0 ? 0 : columns[0].Length;
        for (var i = 0; i < columns.Count; i++)
        {
            if (columns[i].Length != RowCount)
            {
                throw new ArgumentException("All columns of a table must have the same length.", nameof(columns));
            }
        }

        if (columns.Count > 16)
        {
            _byName = columns.ToDictionary(c => c.Name, StringComparer.Ordinal);
        }
        else
        {
            for (var i = 1; i < columns.Count; i++)
            {
                for (var j = 0; j < i; j++)
                {
                    if (string.Equals(columns[i].Name, columns[j].Name, StringComparison.Ordinal))
                    {
                        // What ToDictionary threw for a repeated name.
                        throw new ArgumentException($"An item with the same key has already been added. Key: {columns[i].Name}");
                    }
                }
            }
        }
    }

    public static DataTable Empty { get; } = new([]);

    public IReadOnlyList<TableColumn> Columns { get; }

    public int RowCount { get; }

    public TableColumn? Find(string name)
    {
        if (_byName is { } byName)
        {
            return byName.GetValueOrDefault(name);
        }

        for (var i = 0; i < Columns.Count; i++)
        {
            if (string.Equals(Columns[i].Name, name, StringComparison.Ordinal))
            {
                return Columns[i];
            }
        }

        return null;
    }

    public TableColumn this[string name] =>
        Find(name) ?? throw new KeyNotFoundException($"Column '{name}' is not in the table.");

    public DataTable Select(IReadOnlyList<int> rows) => new(Columns.Select(c => c.Select(rows)).ToArray());

    /// <summary>The same table with one column replaced (or appended when no column has its name).</summary>
    public DataTable With(TableColumn column) =>
        new(Find(column.Name) is null
            ? [.. Columns, column]
            : Columns.Select(c => c.Name == column.Name ? column : c).ToArray());

    public DataTable Without(string name) => new(Columns.Where(c => c.Name != name).ToArray());

    /// <summary>Rows appended table after table; the tables must share names and kinds.</summary>
    public static DataTable Concat(IReadOnlyList<DataTable> tables)
    {
        if (tables.Count == 1)
        {
            return tables[0];
        }

        var first = tables[0];
        var columns = first.Columns.Select(c =>
        {
            var parts = tables.Select(t => t[c.Name].Values).ToArray();
            var merged = Array.CreateInstance(c.Values.GetType().GetElementType()!, parts.Sum(p => p.Length));
            var offset = 0;
            foreach (var part in parts)
            {
                Array.Copy(part, 0, merged, offset, part.Length);
                offset += part.Length;
            }

            return c with { Values = merged };
        });
        return new DataTable(columns.ToArray());
    }
}
