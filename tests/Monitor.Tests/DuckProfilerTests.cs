using Mlops.Monitor.Features.Drift;
using Mlops.Monitor.Features.Profiles;

namespace Mlops.Monitor.Tests;

public sealed class DuckProfilerTests
{
    private const string Rows = "(SELECT * FROM (VALUES (0, 1.5, 'a'), (1, 2.0, NULL), (2, NULL, 'b'), (3, 2.0, 'a'), (4, 'NaN'::DOUBLE, 'a')) t(i, x, y))";

    private static readonly (ColumnSpec, string, string)[] Columns =
    [
        (new("x", ColumnKind.Numerical), "x", InferredTypes.Fractional),
        (new("y", ColumnKind.Categorical), "y", InferredTypes.String),
        (new("parity", ColumnKind.Categorical), "i % 2", InferredTypes.Integral),
    ];

    [Fact]
    public void Profile_CountsValuesAndMissingPerColumn()
    {
        using var duck = DuckProfiler.Open();
        var p = DuckProfiler.Profile(duck, Rows, Columns);
        Assert.Equal(5, p.ItemCount);
        var x = p.Find("x")!;
        Assert.Equal([1.5, 2.0], x.Numeric!.Values);
        Assert.Equal([1L, 2L], x.Numeric.Counts);
        Assert.Equal(2, x.NumMissing); // NULL and NaN
        var y = p.Find("y")!;
        Assert.Equal(3, y.Categorical!.Counts["a"]);
        Assert.Equal(1, y.NumMissing);
        Assert.Equal(3, p.Find("parity")!.Categorical!.Counts["0"]);
    }

    [Fact]
    public void ProfileSides_SplitsRowsBySide_OneScan()
    {
        using var duck = DuckProfiler.Open();
        var sides = DuckProfiler.ProfileSides(duck, Rows, "CASE WHEN i < 2 THEN 0 WHEN i < 4 THEN 1 ELSE -1 END", 2, Columns);
        Assert.Equal(2, sides[0].ItemCount);
        Assert.Equal(2, sides[1].ItemCount);
        Assert.Equal([1.5, 2.0], sides[0].Find("x")!.Numeric!.Values);
        Assert.Equal([2.0], sides[1].Find("x")!.Numeric!.Values);
        Assert.Equal(1, sides[1].Find("x")!.NumMissing);
        Assert.Equal(1, sides[1].Find("y")!.Categorical!.Counts["b"]);
    }

    [Fact]
    public void ManyColumns_AreChunked()
    {
        using var duck = DuckProfiler.Open();
        var many = Enumerable.Range(0, 60).Select(k => (new ColumnSpec($"x{k}", ColumnKind.Numerical), $"x + {k}", InferredTypes.Fractional)).ToArray();
        var p = DuckProfiler.Profile(duck, Rows, many);
        Assert.Equal(60, p.Columns.Count);
        Assert.Equal([60.5, 61.0], p.Find("x59")!.Numeric!.Values);
    }
}
