using Mlops.Monitor.Features.Drift;

namespace Mlops.Monitor.Features.Profiles;

/// <summary>Profiles of disjoint row sets combined into the profile of their union (exact: counts add).</summary>
public static class ProfileMerge
{
    /// <summary>
    /// Columns by name; a column one side lacks counts that side's rows as missing, so the union's completeness is right.
    /// Columns keep the first side's order, then the second side's new ones.
    /// </summary>
    public static DatasetProfile Merge(DatasetProfile a, DatasetProfile b)
    {
        if (a.ItemCount == 0 && a.Columns.Count == 0) return b;
        if (b.ItemCount == 0 && b.Columns.Count == 0) return a;
        var names = a.Columns.Select(c => c.Name).Concat(b.Columns.Select(c => c.Name)).Distinct(StringComparer.Ordinal);
        var columns = new List<ColumnProfile>();
        foreach (var name in names)
        {
            var (x, y) = (a.Find(name), b.Find(name));
            columns.Add(x is null ? WithMissing(y!, a.ItemCount) : y is null ? WithMissing(x, b.ItemCount) : Merge(x, y));
        }
        return new DatasetProfile(a.ItemCount + b.ItemCount, columns);
    }

    public static ColumnProfile Merge(ColumnProfile a, ColumnProfile b)
    {
        if (a.Kind != b.Kind) throw new ArgumentException($"Column '{a.Name}' is {a.Kind} on one side and {b.Kind} on the other.");
        var inferred = a.InferredType == b.InferredType ? a.InferredType
            : a.InferredType == InferredTypes.String || b.InferredType == InferredTypes.String ? InferredTypes.String
            : a.InferredType == InferredTypes.Fractional || b.InferredType == InferredTypes.Fractional ? InferredTypes.Fractional
            : a.InferredType == InferredTypes.Unknown ? b.InferredType : a.InferredType;
        NumericDistribution? numeric = null;
        CategoricalDistribution? categorical = null;
        if (a.Kind == ColumnKind.Numerical)
        {
            var counts = new Dictionary<double, long>();
            foreach (var d in new[] { a.Numeric!, b.Numeric! })
                for (var i = 0; i < d.Values.Length; i++) counts[d.Values[i]] = counts.GetValueOrDefault(d.Values[i]) + d.Counts[i];
            numeric = NumericDistribution.FromCounts(counts);
        }
        else
        {
            var counts = new Dictionary<string, long>(a.Categorical!.Counts, StringComparer.Ordinal);
            foreach (var (k, v) in b.Categorical!.Counts) counts[k] = counts.GetValueOrDefault(k) + v;
            categorical = new CategoricalDistribution(counts);
        }
        return new ColumnProfile(a.Name, a.Kind, inferred, a.NumPresent + b.NumPresent, a.NumMissing + b.NumMissing, numeric, categorical,
            a.NonConforming + b.NonConforming);
    }

    private static ColumnProfile WithMissing(ColumnProfile c, long rows) => c with { NumMissing = c.NumMissing + rows };
}
