using Mlops.Monitor.Features.Profiles;

namespace Mlops.Monitor.Features.Drift;

/// <summary>Per-run drift options: a method and threshold for every column, per-column overrides, the dataset rule.</summary>
public sealed record DriftOptions(string? Method = null, double? Threshold = null, double DriftShare = DriftCalculator.DefaultDriftShare,
    IReadOnlyDictionary<string, ColumnDriftOptions>? Columns = null)
{
    public static readonly DriftOptions Default = new();

    public (DriftMethod? Method, double? Threshold) For(string column)
    {
        var own = Columns?.GetValueOrDefault(column);
        var name = own?.Method ?? Method;
        return (name is null ? null : DriftMethod.ByName[name], own?.Threshold ?? Threshold);
    }
}

public sealed record ColumnDriftOptions(string? Method = null, double? Threshold = null);

public static class ProfileDrift
{
    /// <summary>
    /// Drift of every column present on both sides with values on both sides (a column missing from either side is a
    /// data-quality violation, not a drift result), then Evidently's dataset rule over them.
    /// </summary>
    public static DatasetDrift Compare(DatasetProfile reference, DatasetProfile current, DriftOptions? options = null)
    {
        options ??= DriftOptions.Default;
        var columns = new List<ColumnDrift>();
        foreach (var r in reference.Columns)
        {
            var c = current.Find(r.Name);
            if (c is null || c.Kind != r.Kind || r.NumPresent - r.NonConforming == 0 || c.NumPresent - c.NonConforming == 0) continue;
            var pair = r.Kind == ColumnKind.Numerical
                ? ColumnPair.Numerical(r.Name, r.Numeric!, c.Numeric!)
                : ColumnPair.Categorical(r.Name, r.Categorical!, c.Categorical!);
            if (pair.ReferenceRows == 0 || pair.CurrentRows == 0) continue;
            var (method, threshold) = options.For(r.Name);
            columns.Add(DriftCalculator.Column(pair, method, threshold));
        }
        return DriftCalculator.Dataset(columns, options.DriftShare);
    }
}
