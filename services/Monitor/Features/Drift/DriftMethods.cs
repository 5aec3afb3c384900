namespace Mlops.Monitor.Features.Drift;

public enum ColumnKind { Numerical, Categorical }

/// <summary>A drift method, by Evidently's registry name (plus Model Monitor's <c>linf</c>).</summary>
public sealed record DriftMethod(string Name, string DisplayName, double DefaultThreshold, bool IsPValue)
{
    public static readonly DriftMethod Ks = new("ks", "K-S p_value", 0.05, true);
    public static readonly DriftMethod ChiSquare = new("chisquare", "chi-square p_value", 0.05, true);
    public static readonly DriftMethod Z = new("z", "Z-test p_value", 0.05, true);
    public static readonly DriftMethod Wasserstein = new("wasserstein", "Wasserstein distance (normed)", 0.1, false);
    public static readonly DriftMethod JensenShannon = new("jensenshannon", "Jensen-Shannon distance", 0.1, false);
    public static readonly DriftMethod Psi = new("psi", "PSI", 0.1, false);
    public static readonly DriftMethod Hellinger = new("hellinger", "Hellinger distance", 0.1, false);
    public static readonly DriftMethod KlDiv = new("kl_div", "Kullback-Leibler divergence", 0.1, false);
    public static readonly DriftMethod LInfinity = new("linf", "L-infinity distance (Model Monitor)", 0.1, false);

    public static readonly IReadOnlyDictionary<string, DriftMethod> ByName =
        new[] { Ks, ChiSquare, Z, Wasserstein, JensenShannon, Psi, Hellinger, KlDiv, LInfinity }.ToDictionary(m => m.Name);

    /// <summary>
    /// Which column kinds the method accepts. K-S and Wasserstein need numbers; chi-squared and Z count values, and
    /// Evidently's default selection applies them to numerical columns with few distinct values too.
    /// </summary>
    public bool Accepts(ColumnKind kind) => Name is not ("ks" or "wasserstein") || kind == ColumnKind.Numerical;

    /// <summary>Evidently's comparison: p-values drift below the threshold (K-S at or below), distances at or above.</summary>
    public bool Drifted(double score, double threshold) => Name switch
    {
        "ks" => score <= threshold,
        _ when IsPValue => score < threshold,
        _ => score >= threshold,
    };

    /// <summary>
    /// Evidently 0.4's <c>_get_default_stattest</c>: by reference size (≤ 1000 rows vs more), column kind, and the
    /// number of distinct values in reference ∪ current.
    /// </summary>
    public static DriftMethod Default(long referenceRows, ColumnKind kind, int unionDistinct)
    {
        if (referenceRows <= 1000)
        {
            if (kind == ColumnKind.Numerical && unionDistinct > 5) return Ks;
            return unionDistinct > 2 ? ChiSquare : Z;
        }
        if (kind == ColumnKind.Numerical) return unionDistinct <= 5 ? JensenShannon : Wasserstein;
        return JensenShannon;
    }
}

/// <summary>One column's two sides; numerical columns may also be tested as categories by the chi-squared/Z tests.</summary>
public sealed record ColumnPair(string Name, ColumnKind Kind, NumericDistribution? NumericReference, NumericDistribution? NumericCurrent,
    CategoricalDistribution? CategoricalReference, CategoricalDistribution? CategoricalCurrent)
{
    public static ColumnPair Numerical(string name, NumericDistribution reference, NumericDistribution current) =>
        new(name, ColumnKind.Numerical, reference, current, null, null);

    public static ColumnPair Categorical(string name, CategoricalDistribution reference, CategoricalDistribution current) =>
        new(name, ColumnKind.Categorical, null, null, reference, current);

    public long ReferenceRows => NumericReference?.Count ?? CategoricalReference!.Count;

    public long CurrentRows => NumericCurrent?.Count ?? CategoricalCurrent!.Count;

    public int UnionDistinct => Kind == ColumnKind.Numerical
        ? AlignedCounts.Of(NumericReference!, NumericCurrent!).Length
        : AlignedCounts.Of(CategoricalReference!, CategoricalCurrent!).Length;
}

public sealed record ColumnDrift(string Column, string Kind, string Method, string MethodDisplayName, double Score, double Threshold, bool Drifted,
    long ReferenceRows, long CurrentRows, bool Exact = true);

public sealed record DatasetDrift(IReadOnlyList<ColumnDrift> Columns, int NumberOfColumns, int NumberOfDriftedColumns,
    double ShareOfDriftedColumns, double DriftShare, bool DatasetDrifted);

public sealed class DriftException(string message) : Exception(message);

public static class DriftCalculator
{
    public const double DefaultDriftShare = 0.5;

    /// <summary>One column's drift with the given method (or Evidently's default) and threshold (or the method's).</summary>
    public static ColumnDrift Column(ColumnPair column, DriftMethod? method = null, double? threshold = null)
    {
        if (column.ReferenceRows == 0)
            throw new DriftException($"An empty column '{column.Name}' was provided for drift calculation in the reference dataset.");
        if (column.CurrentRows == 0)
            throw new DriftException($"An empty column '{column.Name}' was provided for drift calculation in the current dataset.");
        method ??= DriftMethod.Default(column.ReferenceRows, column.Kind, column.UnionDistinct);
        if (!method.Accepts(column.Kind))
            throw new DriftException($"Method '{method.Name}' does not apply to the {column.Kind.ToString().ToLowerInvariant()} column '{column.Name}'.");
        var t = threshold ?? method.DefaultThreshold;
        var exact = true;
        double score;
        if (column.Kind == ColumnKind.Numerical)
        {
            var (r, c) = (column.NumericReference!, column.NumericCurrent!);
            switch (method.Name)
            {
                case "ks":
                    var ks = KolmogorovSmirnov.TwoSample(r, c);
                    (score, exact) = (ks.PValue, ks.Exact);
                    break;
                case "wasserstein": score = StatTests.WassersteinNormed(r, c); break;
                case "chisquare": score = StatTests.ChiSquare(AlignedCounts.Of(r, c)); break;
                case "z": score = StatTests.Z(AlignedCounts.Of(r, c), 0); break; // the smallest value sorts first
                case "hellinger": score = StatTests.Hellinger(r, c); break;
                case "linf": score = StatTests.LInfinity(r, c); break;
                default: score = Binned(method, column, fill => NumpyBinning.BinnedShares(r, c, fill)); break;
            }
        }
        else
        {
            var (r, c) = (column.CategoricalReference!, column.CategoricalCurrent!);
            switch (method.Name)
            {
                case "chisquare": score = StatTests.ChiSquare(AlignedCounts.Of(r, c)); break;
                case "z":
                    {
                        var aligned = AlignedCounts.Of(r, c);
                        var keys = r.Counts.Keys.Union(c.Counts.Keys, StringComparer.Ordinal).ToList();
                        var first = keys.Min(StringComparer.Ordinal)!;
                        score = StatTests.Z(aligned, keys.IndexOf(first));
                        break;
                    }
                case "hellinger": score = StatTests.Hellinger(r, c); break;
                case "linf": score = StatTests.LInfinity(r, c); break;
                default: score = Binned(method, column, fill => NumpyBinning.BinnedShares(r, c, fill)); break;
            }
        }
        return new ColumnDrift(column.Name, column.Kind == ColumnKind.Numerical ? "num" : "cat", method.Name, method.DisplayName, score, t,
            method.Drifted(score, t), column.ReferenceRows, column.CurrentRows, exact);
    }

    // The methods over get_binned_data's shares: Jensen–Shannon without zero filling, PSI and KL with it.
    private static double Binned(DriftMethod method, ColumnPair column, Func<bool, (double[] P, double[] Q)> shares)
    {
        var (p, q) = method.Name switch
        {
            "jensenshannon" => shares(false),
            "psi" or "kl_div" => shares(true),
            _ => throw new DriftException($"Method '{method.Name}' is not available for {column.Kind.ToString().ToLowerInvariant()} column '{column.Name}'."),
        };
        return method.Name switch
        {
            "jensenshannon" => StatTests.JensenShannon(p, q),
            "psi" => StatTests.Psi(p, q),
            _ => StatTests.KlDivergence(p, q),
        };
    }

    /// <summary>Evidently's dataset drift: drifted when the share of drifted columns is at least <paramref name="driftShare"/>.</summary>
    public static DatasetDrift Dataset(IReadOnlyList<ColumnDrift> columns, double driftShare = DefaultDriftShare)
    {
        var drifted = columns.Count(c => c.Drifted);
        var share = columns.Count == 0 ? 0 : (double)drifted / columns.Count;
        return new DatasetDrift(columns, columns.Count, drifted, share, driftShare, columns.Count > 0 && share >= driftShare);
    }
}
