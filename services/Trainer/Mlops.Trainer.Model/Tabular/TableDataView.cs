using Microsoft.ML;
using Microsoft.ML.Data;

namespace Mlops.Trainer.Model.Tabular;

/// <summary>
/// An <see cref="IDataView"/> over a <see cref="DataTable"/>. ML.NET's own loaders need a static row
/// type or a text file; the trainer's schema is only known at run time, so it exposes columns directly.
/// </summary>
public sealed class TableDataView : IDataView
{
    private readonly DataTable _table;

    public TableDataView(DataTable table)
    {
        _table = table;
        var builder = new DataViewSchema.Builder();
        foreach (var column in table.Columns)
        {
            builder.AddColumn(column.Name, TypeOf(column.Kind));
        }

        Schema = builder.ToSchema();
    }

    public bool CanShuffle => true;

    internal DataTable Table => _table;

    public DataViewSchema Schema { get; }

    public static DataViewType TypeOf(ColumnKind kind) => kind switch
    {
        ColumnKind.Number => NumberDataViewType.Single,
        ColumnKind.Boolean => BooleanDataViewType.Instance,
        ColumnKind.Text => TextDataViewType.Instance,
        ColumnKind.Timestamp => DateTimeDataViewType.Instance,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    public long? GetRowCount() => _table.RowCount;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) =>
        new Cursor(this, rand is null ? null : Permutation(_table.RowCount, rand));

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];

    private static int[] Permutation(int count, Random rand)
    {
        var order = Enumerable.Range(0, count).ToArray();
        rand.Shuffle(order);
        return order;
    }

    private sealed class Cursor(TableDataView view, int[]? order) : DataViewRowCursor
    {
        private long _position = -1;

        public override DataViewSchema Schema => view.Schema;

        public override long Position => _position;

        public override long Batch => 0;

        private int Row => order is null ? (int)_position : order[_position];

        public override bool MoveNext()
        {
            if (_position + 1 < view._table.RowCount)
            {
                _position++;
                return true;
            }

            _position = view._table.RowCount;
            return false;
        }

        public override ValueGetter<DataViewRowId> GetIdGetter() =>
            (ref DataViewRowId id) => id = new DataViewRowId((ulong)Row, 0);

        public override bool IsColumnActive(DataViewSchema.Column column) => true;

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) =>
            Getter<TValue>(column, () => view._table, () => Row);
    }

    /// <summary>
    /// A getter reading the current row of a column. Table and row are looked up on every call, so a
    /// <see cref="TableRow"/> can move across tables without its consumers binding again.
    /// </summary>
    internal static ValueGetter<TValue> Getter<TValue>(DataViewSchema.Column column, Func<DataTable> table, Func<int> row)
    {
        var index = column.Index;
        Delegate getter = table().Columns[index].Kind switch
        {
            ColumnKind.Number => (ValueGetter<float>)((ref float x) => x = ((float[])table().Columns[index].Values)[row()]),
            ColumnKind.Boolean => (ValueGetter<bool>)((ref bool x) => x = ((bool[])table().Columns[index].Values)[row()]),
            ColumnKind.Text => (ValueGetter<ReadOnlyMemory<char>>)((ref ReadOnlyMemory<char> x) =>
                x = (((string?[])table().Columns[index].Values)[row()] ?? string.Empty).AsMemory()),

            // ML.NET's DateTime has no missing value: default(DateTime) stands for it and the timestamp featurizer turns it into NaN parts.
            _ => (ValueGetter<DateTime>)((ref DateTime x) => x = ((DateTime?[])table().Columns[index].Values)[row()] ?? default),
        };
        return getter as ValueGetter<TValue>
            ?? throw new InvalidOperationException($"Column '{column.Name}' is {column.Type}, not {typeof(TValue).Name}.");
    }
}

/// <summary>
/// One row of a table, movable to any row of any table with the same columns. A model bound to it once
/// (<see cref="IRowToRowMapper"/>) scores each row by moving it, as ML.NET's PredictionEngine does for static types.
/// </summary>
internal sealed class TableRow(TableDataView view) : DataViewRow
{
    private DataTable _table = view.Table;
    private int _row;
    private long _position = -1;

    public override DataViewSchema Schema => view.Schema;

    // Transforms cache per position, so every move must change it.
    public override long Position => _position;

    public override long Batch => 0;

    public void MoveTo(DataTable table, int row)
    {
        _table = table;
        _row = row;
        _position++;
    }

    public override ValueGetter<DataViewRowId> GetIdGetter() =>
        (ref DataViewRowId id) => id = new DataViewRowId((ulong)_position, 0);

    public override bool IsColumnActive(DataViewSchema.Column column) => true;

    public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) =>
        TableDataView.Getter<TValue>(column, () => _table, () => _row);
}
