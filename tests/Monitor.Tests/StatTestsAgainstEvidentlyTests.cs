using System.Text.Json;
using Mlops.Monitor.Features.Drift;

namespace Mlops.Monitor.Tests;

/// <summary>
/// Every statistic against the numbers Evidently 0.4.40's stattests produce on the same data: Evidently/cases.json is
/// written by Evidently/reference.py, which calls NumPy/SciPy/pandas exactly as those stattests do.
/// </summary>
public sealed class StatTestsAgainstEvidentlyTests
{
    private const double Tolerance = 1e-6;

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var c in Load())
            foreach (var m in c.GetProperty("scores").EnumerateObject())
                data.Add(c.GetProperty("name").GetString()!, m.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Score_EqualsEvidentlys(string caseName, string method)
    {
        var c = Load().Single(x => x.GetProperty("name").GetString() == caseName);
        var expected = c.GetProperty("scores").GetProperty(method).GetDouble();
        var drift = DriftCalculator.Column(Pair(c), DriftMethod.ByName[method]);
        Assert.True(Close(expected, drift.Score), $"{caseName}/{method}: expected {expected:R}, got {drift.Score:R}");
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void DefaultMethod_IsEvidentlys(string caseName)
    {
        var c = Load().Single(x => x.GetProperty("name").GetString() == caseName);
        var drift = DriftCalculator.Column(Pair(c));
        Assert.Equal(c.GetProperty("default_method").GetString(), drift.Method);
    }

    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var c in Load()) data.Add(c.GetProperty("name").GetString()!);
        return data;
    }

    private static bool Close(double expected, double actual) =>
        Math.Abs(expected - actual) <= Tolerance || Math.Abs(expected - actual) <= Tolerance * Math.Abs(expected);

    private static ColumnPair Pair(JsonElement c)
    {
        var name = c.GetProperty("name").GetString()!;
        if (c.GetProperty("numerical").GetBoolean())
        {
            return ColumnPair.Numerical(name,
                NumericDistribution.FromValues(c.GetProperty("reference").EnumerateArray().Select(v => v.GetDouble())),
                NumericDistribution.FromValues(c.GetProperty("current").EnumerateArray().Select(v => v.GetDouble())));
        }
        return ColumnPair.Categorical(name,
            CategoricalDistribution.FromValues(c.GetProperty("reference").EnumerateArray().Select(v => v.ToString())),
            CategoricalDistribution.FromValues(c.GetProperty("current").EnumerateArray().Select(v => v.ToString())));
    }

    private static readonly Lazy<JsonElement[]> Data = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Evidently", "cases.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select(e => e.Clone()).ToArray();
    });

    private static JsonElement[] Load() => Data.Value;
}
