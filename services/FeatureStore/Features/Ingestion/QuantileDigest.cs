namespace Mlops.FeatureStore.Features.Ingestion;

/// <summary>
/// A mergeable quantile sketch (the merging t-digest of Dunning and Ertl, k1 scale function): at most about
/// <see cref="Compression"/> weighted centroids, dense at the tails, so the stored statistics can give quantiles that stay
/// current batch after batch without keeping the values. Accurate to well under 1 % of rank near the median and better
/// at the tails.
/// </summary>
public sealed class QuantileDigest
{
    public const double Compression = 100;
    private const int BufferSize = 8192;

    private List<(double Mean, double Weight)> _centroids = [];
    private readonly double[] _buffer = new double[BufferSize];
    private int _buffered;

    public QuantileDigest() { }

    public QuantileDigest(IEnumerable<double[]> centroids) =>
        _centroids = [.. centroids.Where(c => c.Length == 2).Select(c => (c[0], c[1])).OrderBy(c => c.Item1)];

    public double TotalWeight
    {
        get { Flush(); return _centroids.Sum(c => c.Weight); }
    }

    public void Add(double value)
    {
        _buffer[_buffered++] = value;
        if (_buffered == BufferSize)
            Flush();
    }

    public void Merge(QuantileDigest other)
    {
        Flush();
        other.Flush();
        _centroids = Compress([.. _centroids, .. other._centroids]);
    }

    /// <summary>The centroids as [mean, weight] pairs, for storage.</summary>
    public double[][] Centroids()
    {
        Flush();
        return [.. _centroids.Select(c => new[] { c.Mean, c.Weight })];
    }

    /// <summary>The value at quantile <paramref name="q"/> (0..1), interpolated between centroids; null when empty.</summary>
    public double? Quantile(double q)
    {
        Flush();
        if (_centroids.Count == 0) return null;
        if (_centroids.Count == 1) return _centroids[0].Mean;
        var total = _centroids.Sum(c => c.Weight);
        var target = q * total;
        var cumulative = 0.0;
        for (var i = 0; i < _centroids.Count; i++)
        {
            var (mean, weight) = _centroids[i];
            var center = cumulative + weight / 2;
            if (target <= center)
            {
                if (i == 0) return mean;
                var previous = _centroids[i - 1];
                var previousCenter = cumulative - previous.Weight / 2;
                return previous.Mean + (mean - previous.Mean) * (target - previousCenter) / (center - previousCenter);
            }
            cumulative += weight;
        }
        return _centroids[^1].Mean;
    }

    private void Flush()
    {
        if (_buffered == 0) return;
        var merged = new List<(double, double)>(_centroids.Count + _buffered);
        merged.AddRange(_centroids);
        for (var i = 0; i < _buffered; i++) merged.Add((_buffer[i], 1));
        _buffered = 0;
        _centroids = Compress(merged);
    }

    private static List<(double Mean, double Weight)> Compress(List<(double Mean, double Weight)> points)
    {
        points.Sort((a, b) => a.Mean.CompareTo(b.Mean));
        var total = points.Sum(p => p.Weight);
        var result = new List<(double Mean, double Weight)>();
        if (points.Count == 0) return result;
        var (mean, weight) = points[0];
        var done = 0.0;
        var limit = total * QuantileLimit(Scale(0) + 1);
        for (var i = 1; i < points.Count; i++)
        {
            var point = points[i];
            if (done + weight + point.Weight <= limit)
            {
                weight += point.Weight;
                mean += (point.Mean - mean) * point.Weight / weight;
            }
            else
            {
                result.Add((mean, weight));
                done += weight;
                limit = total * QuantileLimit(Scale(done / total) + 1);
                (mean, weight) = point;
            }
        }
        result.Add((mean, weight));
        return result;
    }

    // k1: k(q) = δ/(2π)·asin(2q − 1), and its inverse.
    private static double Scale(double q) => Compression / (2 * Math.PI) * Math.Asin(2 * Math.Clamp(q, 0, 1) - 1);
    private static double QuantileLimit(double k) => k >= Compression / 4 ? 1 : (Math.Sin(k * 2 * Math.PI / Compression) + 1) / 2;
}
