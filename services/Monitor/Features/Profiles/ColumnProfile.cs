using Mlops.Monitor.Features.Drift;

namespace Mlops.Monitor.Features.Profiles;

/// <summary>What a column is to the monitor: numbers or categories, and the type Model Monitor infers for it.</summary>
public sealed record ColumnSpec(string Name, ColumnKind Kind);

/// <summary>
/// One column of a dataset reduced to exact counts per distinct value plus missing and non-conforming counts: what
/// baselines, data-quality checks and drift are computed from. Its size grows with the distinct values, not the rows.
/// </summary>
public sealed record ColumnProfile(string Name, ColumnKind Kind, string InferredType, long NumPresent, long NumMissing,
    NumericDistribution? Numeric, CategoricalDistribution? Categorical, long NonConforming = 0)
{
    public long Total => NumPresent + NumMissing;

    public int Distinct => Numeric?.Distinct ?? Categorical!.Distinct;
}

/// <summary>A profiled dataset: its row count and its columns by name.</summary>
public sealed record DatasetProfile(long ItemCount, IReadOnlyList<ColumnProfile> Columns)
{
    public ColumnProfile? Find(string name) => Columns.FirstOrDefault(c => c.Name == name);
}

/// <summary>Model Monitor's inferred types.</summary>
public static class InferredTypes
{
    public const string Integral = "Integral";
    public const string Fractional = "Fractional";
    public const string String = "String";
    public const string Unknown = "Unknown";
}

/// <summary>
/// Builds a column profile one value at a time (captured requests, CSV rows): numbers parse with the invariant culture;
/// a numerical column's text that is not a number counts as non-conforming (a data-type violation), not a crash.
/// </summary>
public sealed class ColumnProfileBuilder(string name, ColumnKind kind)
{
    private readonly Dictionary<double, long> numbers = [];
    private readonly Dictionary<string, long> categories = new(StringComparer.Ordinal);
    private long missing, nonConforming;
    private bool fractional, sawText;

    public string Name => name;

    public ColumnKind Kind => kind;

    public void AddMissing() => missing++;

    public void Add(double value)
    {
        if (!double.IsFinite(value)) { missing++; return; }
        if (value != Math.Floor(value)) fractional = true;
        if (kind == ColumnKind.Numerical) numbers[value] = numbers.GetValueOrDefault(value) + 1;
        else AddCategory(value.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
    }

    public void Add(string? text)
    {
        if (text is null) { missing++; return; }
        if (kind == ColumnKind.Categorical) { sawText = true; AddCategory(text); return; }
        if (double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v)) Add(v);
        else if (text.Length == 0) missing++;
        else { nonConforming++; sawText = true; }
    }

    private void AddCategory(string value) => categories[value] = categories.GetValueOrDefault(value) + 1;

    public ColumnProfile Build()
    {
        if (kind == ColumnKind.Numerical)
        {
            var d = NumericDistribution.FromCounts(numbers);
            var type = sawText && d.Count == 0 ? InferredTypes.String : fractional ? InferredTypes.Fractional : InferredTypes.Integral;
            return new ColumnProfile(name, kind, type, d.Count + nonConforming, missing, d, null, nonConforming);
        }
        var c = new CategoricalDistribution(new Dictionary<string, long>(categories, StringComparer.Ordinal));
        var inferred = sawText ? InferredTypes.String : fractional ? InferredTypes.Fractional : InferredTypes.Integral;
        return new ColumnProfile(name, kind, inferred, c.Count, missing, null, c);
    }
}
