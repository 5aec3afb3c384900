using Mlops.Monitor.Features.Drift;

namespace Mlops.Monitor.Features.Profiles;

/// <summary>
/// A profile as stored beside a baseline (profile.json): the exact reference distributions drift is computed against,
/// so a run reads only its current data.
/// </summary>
public sealed record ProfileDocument(long ItemCount, IReadOnlyList<ProfileColumn> Columns)
{
    public static ProfileDocument From(DatasetProfile profile) => new(profile.ItemCount, profile.Columns.Select(c => new ProfileColumn(
        c.Name, c.Kind == ColumnKind.Numerical ? "numerical" : "categorical", c.InferredType, c.NumPresent, c.NumMissing, c.NonConforming,
        c.Numeric?.Values, c.Numeric?.Counts, c.Categorical?.Counts.ToDictionary())).ToList());

    public DatasetProfile ToProfile() => new(ItemCount, Columns.Select(c => c.Kind == "numerical"
        ? new ColumnProfile(c.Name, ColumnKind.Numerical, c.InferredType, c.NumPresent, c.NumMissing,
            new NumericDistribution(c.Values?.ToArray() ?? [], c.Counts?.ToArray() ?? []), null, c.NonConforming)
        : new ColumnProfile(c.Name, ColumnKind.Categorical, c.InferredType, c.NumPresent, c.NumMissing, null,
            new CategoricalDistribution(c.Categories ?? new Dictionary<string, long>()), c.NonConforming)).ToList());
}

public sealed record ProfileColumn(string Name, string Kind, string InferredType, long NumPresent, long NumMissing, long NonConforming,
    IReadOnlyList<double>? Values, IReadOnlyList<long>? Counts, IReadOnlyDictionary<string, long>? Categories);
