using System.Globalization;
using Mlops.Tuning.Configuration;

namespace Mlops.Tuning.Space;

public enum ParameterKind { Continuous, Integer, Categorical }

/// <summary>One tuned hyperparameter. Numeric ones live on [0, 1] through their scaling; categorical ones by value index.</summary>
public sealed record SpaceParameter(string Name, ParameterKind Kind, double Min, double Max, string Scaling, IReadOnlyList<string> Values)
{
    // Integers own a cell [v - 0.5, v + 0.5] each, so every value gets an equal share of [0, 1] (on the scaled axis).
    private double Low => Kind == ParameterKind.Integer ? Min - 0.5 : Min;
    private double High => Kind == ParameterKind.Integer ? Max + 0.5 : Max;

    private double Forward(double x) => Scaling switch
    {
        ScalingTypes.Logarithmic => Math.Log(x),
        ScalingTypes.ReverseLogarithmic => -Math.Log(1 - x),
        _ => x,
    };

    private double Inverse(double t) => Scaling switch
    {
        ScalingTypes.Logarithmic => Math.Exp(t),
        ScalingTypes.ReverseLogarithmic => 1 - Math.Exp(-t),
        _ => t,
    };

    /// <summary>The value at position <paramref name="u"/> ∈ [0, 1] (numeric) or index (categorical), as SageMaker passes it: a string.</summary>
    public string Format(double u)
    {
        switch (Kind)
        {
            case ParameterKind.Categorical:
                return Values[Math.Clamp((int)u, 0, Values.Count - 1)];
            case ParameterKind.Integer:
                return ((long)Math.Clamp(Math.Round(NumericAt(u), MidpointRounding.AwayFromZero), Min, Max)).ToString(CultureInfo.InvariantCulture);
            default:
                return Math.Clamp(NumericAt(u), Min, Max).ToString("R", CultureInfo.InvariantCulture);
        }
    }

    /// <summary>The position of a value, or null if it is not in the range (unparseable, outside, or not a listed category).</summary>
    public double? Position(string text)
    {
        if (Kind == ParameterKind.Categorical)
        {
            for (var i = 0; i < Values.Count; i++)
                if (string.Equals(Values[i], text, StringComparison.Ordinal))
                    return i;
            return null;
        }
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) || x < Min || x > Max)
            return null;
        var low = Forward(Low);
        return Math.Clamp((Forward(x) - low) / (Forward(High) - low), 0, 1);
    }

    /// <summary>Snaps a position onto the values it can take (integer cells' centres), so a surrogate sees what the trial gets.</summary>
    public double Snap(double u) => Kind switch
    {
        ParameterKind.Categorical => Math.Clamp(Math.Round(u), 0, Values.Count - 1),
        ParameterKind.Integer => Position(Format(u))!.Value,
        _ => Math.Clamp(u, 0, 1),
    };

    private double NumericAt(double u)
    {
        var low = Forward(Low);
        return Inverse(low + Math.Clamp(u, 0, 1) * (Forward(High) - low));
    }
}

/// <summary>The tuned parameters of a validated definition, in a fixed order (continuous, integer, categorical, as listed).</summary>
public sealed class SearchSpace
{
    public IReadOnlyList<SpaceParameter> Parameters { get; }

    /// <summary>Features the surrogate sees: one per numeric parameter, one-hot per category.</summary>
    public int FeatureCount { get; }

    public SearchSpace(IReadOnlyList<SpaceParameter> parameters)
    {
        Parameters = parameters;
        FeatureCount = parameters.Sum(p => p.Kind == ParameterKind.Categorical ? p.Values.Count : 1);
    }

    public static SearchSpace From(ParameterRanges ranges)
    {
        static double Parse(string? s) => double.Parse(s!, NumberStyles.Float, CultureInfo.InvariantCulture);
        static string Scaling(string? s) => s is null or ScalingTypes.Auto ? ScalingTypes.Linear : s;
        var list = new List<SpaceParameter>();
        list.AddRange((ranges.ContinuousParameterRanges ?? []).Select(r =>
            new SpaceParameter(r.Name!, ParameterKind.Continuous, Parse(r.MinValue), Parse(r.MaxValue), Scaling(r.ScalingType), [])));
        list.AddRange((ranges.IntegerParameterRanges ?? []).Select(r =>
            new SpaceParameter(r.Name!, ParameterKind.Integer, Parse(r.MinValue), Parse(r.MaxValue), Scaling(r.ScalingType), [])));
        list.AddRange((ranges.CategoricalParameterRanges ?? []).Select(r =>
            new SpaceParameter(r.Name!, ParameterKind.Categorical, 0, 0, ScalingTypes.Linear, r.Values!.Distinct(StringComparer.Ordinal).ToList())));
        return new SearchSpace(list);
    }

    /// <summary>A uniform point (uniform on each parameter's scaled axis).</summary>
    public double[] Sample(Random rng) =>
        Parameters.Select(p => p.Kind == ParameterKind.Categorical ? rng.Next(p.Values.Count) : rng.NextDouble()).ToArray();

    public double[] Snap(double[] point) => point.Select((u, i) => Parameters[i].Snap(u)).ToArray();

    public Dictionary<string, string> Format(double[] point) =>
        Parameters.Select((p, i) => (p.Name, Value: p.Format(point[i]))).ToDictionary(x => x.Name, x => x.Value, StringComparer.Ordinal);

    /// <summary>The point of a trial's hyperparameters, or null when one is missing or outside this space (e.g. a parent job's trial).</summary>
    public double[]? PointOf(IReadOnlyDictionary<string, string> hyperParameters)
    {
        var point = new double[Parameters.Count];
        for (var i = 0; i < point.Length; i++)
        {
            if (!hyperParameters.TryGetValue(Parameters[i].Name, out var text) || Parameters[i].Position(text) is not { } u)
                return null;
            point[i] = u;
        }
        return point;
    }

    /// <summary>The surrogate's input: snapped numeric positions and one-hot categories.</summary>
    public double[] Features(double[] point)
    {
        var features = new double[FeatureCount];
        var j = 0;
        for (var i = 0; i < Parameters.Count; i++)
        {
            var p = Parameters[i];
            if (p.Kind == ParameterKind.Categorical)
            {
                features[j + (int)p.Snap(point[i])] = 1;
                j += p.Values.Count;
            }
            else
                features[j++] = p.Snap(point[i]);
        }
        return features;
    }
}
