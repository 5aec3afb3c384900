namespace Mlops.Trainer.Model.Tabular;

/// <summary>The four kinds of column the trainer understands; every source type maps onto one.</summary>
public enum ColumnKind
{
    Number,
    Boolean,
    Text,
    Timestamp,
}

/// <summary>
/// One column held in memory. Values is float[] (NaN = missing), bool[], string?[] (null = missing)
/// or DateTime?[] (null = missing), matching <see cref="Kind"/>.
/// </summary>
public sealed record TableColumn(string Name, ColumnKind Kind, Array Values)
{
    public int Length => Values.Length;

    public static TableColumn Numbers(string name, float[] values) => new(name, ColumnKind.Number, values);

    public static TableColumn Booleans(string name, bool[] values) => new(name, ColumnKind.Boolean, values);

    public static TableColumn Texts(string name, string?[] values) => new(name, ColumnKind.Text, values);

    public static TableColumn Timestamps(string name, DateTime?[] values) => new(name, ColumnKind.Timestamp, values);

    public bool IsMissing(int row) => Values switch
    {
        float[] f => float.IsNaN(f[row]),
        string?[] s => s[row] is null,
        DateTime?[] d => d[row] is null,
        _ => false,
    };

    /// <summary>A new column holding the given rows, in that order.</summary>
    public TableColumn Select(IReadOnlyList<int> rows) => this with
    {
        Values = Values switch
        {
            float[] f => Pick(f, rows),
            bool[] b => Pick(b, rows),
            string?[] s => Pick(s, rows),
            DateTime?[] d => Pick(d, rows),
            _ => throw new InvalidOperationException($"Unsupported column storage {Values.GetType()}."),
        },
    };

    private static T[] Pick<T>(T[] source, IReadOnlyList<int> rows)
    {
        var result = new T[rows.Count];
        for (var i = 0; i < result.Length; i++)
        {
            result[i] = source[rows[i]];
        }

        return result;
    }
}
