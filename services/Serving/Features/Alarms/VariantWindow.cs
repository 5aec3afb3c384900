namespace Mlops.Serving.Features.Alarms;

/// <summary>A variant's requests, errors and latency percentile over a window (one replica's, or the fleet's sum).</summary>
public sealed record WindowStats(long Requests, long Errors, double? P99Ms)
{
    public double ErrorRate => Requests == 0 ? 0 : (double)Errors / Requests;
}

/// <summary>
/// A window's raw counts: requests, errors and the latency histogram of the successful ones. Counts of several replicas
/// add up (<see cref="Add"/>) to the fleet's, from which the fleet's p99 is read as from one replica's.
/// </summary>
public sealed record WindowCounts(long Requests, long Errors, long[] Latency)
{
    public static WindowCounts Empty => new(0, 0, new long[VariantWindow.BucketCount]);

    public WindowCounts Add(WindowCounts other)
    {
        var latency = (long[])Latency.Clone();
        for (var b = 0; b < Math.Min(latency.Length, other.Latency.Length); b++)
            latency[b] += other.Latency[b];
        return new(Requests + other.Requests, Errors + other.Errors, latency);
    }

    public WindowStats Stats => new(Requests, Errors, VariantWindow.Percentile(Latency, 0.99));
}

/// <summary>
/// Serving's own measurements of one variant for the built-in alarms: one slot per second over the last
/// <see cref="DeploymentAlarmsLimits.Seconds"/> seconds, each with a request count, an error count and a latency histogram
/// (log-linear buckets: 8 per doubling from 1 µs, so a percentile is known within 9 %). Recording is a few interlocked
/// increments on the request path; a slot is cleared the first time a new second lands on it.
/// </summary>
public sealed class VariantWindow(TimeProvider clock)
{
    private const int SubBuckets = 8;                 // per doubling
    private const int Buckets = 26 * SubBuckets;      // 1 µs .. 2^26 µs (67 s); slower lands in the last one
    public const int BucketCount = Buckets;
    private const int Slots = DeploymentAlarmsLimits.Seconds + 1;

    private sealed class Slot
    {
        public long Second = -1;
        public long Requests;
        public long Errors;
        public readonly long[] Latency = new long[Buckets];
    }

    private readonly Slot?[] _slots = new Slot?[Slots];

    /// <summary>One request: how long binding and scoring took, and whether it failed.</summary>
    public void Record(double milliseconds, bool failed)
    {
        var slot = Current();
        Interlocked.Increment(ref slot.Requests);
        if (failed)
            Interlocked.Increment(ref slot.Errors);
        else
            Interlocked.Increment(ref slot.Latency[Bucket(milliseconds)]);
    }

    /// <summary>The last <paramref name="seconds"/> seconds (the current one included). P99 is over the successful requests; null without any.</summary>
    public WindowStats Read(int seconds) => ReadCounts(seconds).Stats;

    /// <summary>The last <paramref name="seconds"/> seconds' counts (the current one included).</summary>
    public WindowCounts ReadCounts(int seconds)
    {
        seconds = Math.Clamp(seconds, 1, DeploymentAlarmsLimits.Seconds);
        var now = Second();
        long requests = 0, errors = 0;
        var latency = new long[Buckets];
        foreach (var slot in _slots)
        {
            if (slot is null || slot.Second <= now - seconds || slot.Second > now)
                continue;
            requests += Interlocked.Read(ref slot.Requests);
            errors += Interlocked.Read(ref slot.Errors);
            for (var b = 0; b < Buckets; b++)
                latency[b] += Interlocked.Read(ref slot.Latency[b]);
        }
        return new WindowCounts(requests, errors, latency);
    }

    /// <summary>The bucket a latency falls in: 8 per doubling of microseconds.</summary>
    internal static int Bucket(double milliseconds)
    {
        var micros = milliseconds * 1000;
        if (!(micros > 1))
            return 0;
        var bucket = (int)(Math.Log2(micros) * SubBuckets);
        return Math.Min(bucket, Buckets - 1);
    }

    /// <summary>A bucket's upper bound in milliseconds (a percentile is reported as the bound of the bucket it falls in).</summary>
    internal static double UpperBound(int bucket) => Math.Pow(2, (bucket + 1) / (double)SubBuckets) / 1000;

    internal static double? Percentile(long[] histogram, double q)
    {
        var total = histogram.Sum();
        if (total == 0)
            return null;
        var rank = (long)Math.Ceiling(q * total);
        long seen = 0;
        for (var b = 0; b < histogram.Length; b++)
        {
            seen += histogram[b];
            if (seen >= rank)
                return UpperBound(b);
        }
        return UpperBound(histogram.Length - 1);
    }

    private long Second() => clock.GetUtcNow().ToUnixTimeSeconds();

    private Slot Current()
    {
        var second = Second();
        var index = (int)(second % Slots);
        var slot = _slots[index] ?? Interlocked.CompareExchange(ref _slots[index], new Slot(), null) ?? _slots[index]!;
        if (Volatile.Read(ref slot.Second) != second)
        {
            lock (slot)
            {
                if (slot.Second != second)
                {
                    // A new second on an old slot: clear it before anyone counts into it again.
                    slot.Requests = 0;
                    slot.Errors = 0;
                    Array.Clear(slot.Latency);
                    Volatile.Write(ref slot.Second, second);
                }
            }
        }
        return slot;
    }
}

/// <summary>How far back the windows reach.</summary>
public static class DeploymentAlarmsLimits
{
    public const int Seconds = Endpoints.DeploymentAlarms.MaxWindowSeconds;
}
