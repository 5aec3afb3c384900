using System.Globalization;
using System.Text;
using Mlops.Trainer.Data;
using Mlops.Trainer.Model.Tabular;
using Mlops.Trainer.Samples;

namespace Mlops.Samples.FlightsLoop;

/// <summary>One flight: its features as the feature group holds them, and whether it was delayed (the label, known later).</summary>
public sealed record Flight(string Origin, string Destination, DateTime Date, int Distance, bool Delayed)
{
    public int Hour => Date.Hour;
    public int Month => Date.Month;
}

/// <summary>A time-ordered sample of the flights per month (one flight per origin and minute, so the point-in-time join finds it).</summary>
public static class FlightsData
{
    public static async Task<IReadOnlyDictionary<int, IReadOnlyList<Flight>>> SampleByMonthAsync(string path, int perMonth, int seed, CancellationToken ct)
    {
        var table = await FlightsSample.LoadAsync(path, ct);
        var dates = (DateTime?[])table["date"].Values;
        var delay = (float[])table["delay"].Values;
        var distance = (float[])table["distance"].Values;
        var origin = (string?[])table["origin"].Values;
        var destination = (string?[])table["destination"].Values;
        var random = new Random(seed);
        var byMonth = new Dictionary<int, IReadOnlyList<Flight>>();
        foreach (var month in Enumerable.Range(1, 12))
        {
            var rows = Enumerable.Range(0, table.RowCount)
                .Where(i => dates[i] is { } d && d.Month == month && !float.IsNaN(delay[i]) && !float.IsNaN(distance[i]) && origin[i] is not null && destination[i] is not null)
                .ToArray();
            if (rows.Length == 0)
                continue;
            random.Shuffle(rows);
            var seen = new HashSet<(string, DateTime)>();
            var flights = new List<Flight>(perMonth);
            foreach (var i in rows)
            {
                var date = DateTime.SpecifyKind(dates[i]!.Value, DateTimeKind.Utc);
                if (seen.Add((origin[i]!, date)))
                    flights.Add(new Flight(origin[i]!, destination[i]!, date, (int)distance[i], delay[i] > 15));
                if (flights.Count == perMonth)
                    break;
            }
            byMonth[month] = [.. flights.OrderBy(f => f.Date)];
        }
        return byMonth;
    }

    /// <summary>The feature group's rows as CSV (the FeatureStore's file upload).</summary>
    public static string FeaturesCsv(IEnumerable<Flight> flights)
    {
        var csv = new StringBuilder("origin,date,distance,destination,hour,month\n");
        foreach (var f in flights)
            csv.Append(CultureInfo.InvariantCulture, $"{f.Origin},{f.Date:yyyy-MM-ddTHH:mm:ssZ},{f.Distance},{f.Destination},{f.Hour},{f.Month}\n");
        return csv.ToString();
    }

    /// <summary>The labelled flights (entity rows: origin, event_timestamp, label 0/1) as a Parquet file.</summary>
    public static async Task WriteLabelsAsync(IReadOnlyList<Flight> flights, string path, CancellationToken ct) =>
        await ParquetTableWriter.WriteAsync(new DataTable([
            TableColumn.Texts("origin", [.. flights.Select(f => f.Origin)]),
            TableColumn.Timestamps("event_timestamp", [.. flights.Select(f => (DateTime?)f.Date)]),
            TableColumn.Numbers("label", [.. flights.Select(f => f.Delayed ? 1f : 0f)]),
        ]), path, ct);
}
