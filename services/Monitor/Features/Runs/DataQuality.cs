using System.Globalization;
using Mlops.Monitor.Features.Baselines;
using Mlops.Monitor.Features.Drift;
using Mlops.Monitor.Features.Profiles;

namespace Mlops.Monitor.Features.Runs;

/// <summary>Model Monitor's constraint checks of a current profile against a baseline's constraints.</summary>
public static class DataQuality
{
    public static List<Violation> Check(Constraints constraints, DatasetProfile current)
    {
        var violations = new List<Violation>();
        var config = constraints.MonitoringConfig ?? MonitoringConfig.Default;
        var known = constraints.Features.Select(f => f.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var c in current.Columns.Where(c => !known.Contains(c.Name)))
            violations.Add(new(c.Name, ViolationTypes.ExtraColumn, $"Extra column '{c.Name}' is in the current dataset but not in the baseline."));
        foreach (var f in constraints.Features)
        {
            var c = current.Find(f.Name);
            if (c is null)
            {
                violations.Add(new(f.Name, ViolationTypes.MissingColumn, $"Column '{f.Name}' of the baseline is missing from the current dataset."));
                continue;
            }
            var completeness = c.Total == 0 ? 0 : (double)(c.NumPresent - c.NonConforming) / c.Total;
            if (completeness < f.Completeness)
                violations.Add(new(f.Name, ViolationTypes.Completeness,
                    $"Data completeness {F(completeness)} of '{f.Name}' is below the baseline's {F(f.Completeness)}."));

            var datatypeThreshold = f.MonitoringConfigOverrides?.DatatypeCheckThreshold ?? config.DatatypeCheckThreshold;
            if (c.NumPresent > 0)
            {
                var nonConforming = (double)c.NonConforming / c.NumPresent;
                var typeMismatch = f.InferredType is InferredTypes.Integral or InferredTypes.Fractional
                    ? nonConforming > datatypeThreshold || (f.InferredType == InferredTypes.Integral && c.InferredType == InferredTypes.Fractional)
                    : false;
                if (typeMismatch)
                    violations.Add(new(f.Name, ViolationTypes.DataType,
                        $"Data type of '{f.Name}' is {c.InferredType} ({F(nonConforming)} of present values are not numbers); the baseline's is {f.InferredType}."));
            }

            if (f.NumConstraints is { IsNonNegative: true } && c.Numeric is { Count: > 0 } numbers && numbers.Values[0] < 0)
            {
                long negatives = 0;
                for (var i = 0; i < numbers.Values.Length && numbers.Values[i] < 0; i++) negatives += numbers.Counts[i];
                violations.Add(new(f.Name, ViolationTypes.NonNegative,
                    $"'{f.Name}' must be non-negative; {negatives} value(s) are negative (minimum {numbers.Values[0].ToString(CultureInfo.InvariantCulture)})."));
            }

            if (f.StringConstraints is { Domains: { } domains } && c.Categorical is { Count: > 0 } categories)
            {
                var domain = domains.ToHashSet(StringComparer.Ordinal);
                var unseen = categories.Counts.Where(p => !domain.Contains(p.Key)).OrderByDescending(p => p.Value).ToList();
                var share = (double)unseen.Sum(p => p.Value) / categories.Count;
                var threshold = f.MonitoringConfigOverrides?.DomainContentThreshold ?? config.DomainContentThreshold;
                if (unseen.Count > 0 && share > threshold)
                    violations.Add(new(f.Name, ViolationTypes.CategoricalValues,
                        $"{F(share)} of '{f.Name}' values are outside the baseline's domain (threshold {F(threshold)}): " +
                        string.Join(", ", unseen.Take(10).Select(p => $"'{p.Key}' ({p.Value})")) + (unseen.Count > 10 ? $" and {unseen.Count - 10} more" : "") + "."));
            }
        }
        return violations;
    }

    /// <summary>Drift options from the run's request, with the constraints' per-feature overrides under them.</summary>
    public static DriftOptions Merge(DriftOptions? requested, Constraints constraints)
    {
        var columns = new Dictionary<string, ColumnDriftOptions>(StringComparer.Ordinal);
        foreach (var f in constraints.Features)
            if (f.MonitoringConfigOverrides is { } o && (o.DriftMethod is not null || o.DriftThreshold is not null))
                columns[f.Name] = new ColumnDriftOptions(o.DriftMethod, o.DriftThreshold);
        if (requested?.Columns is { } own)
            foreach (var (name, o) in own) columns[name] = o;
        return (requested ?? DriftOptions.Default) with { Columns = columns };
    }

    private static string F(double x) => x.ToString("0.####", CultureInfo.InvariantCulture);
}
