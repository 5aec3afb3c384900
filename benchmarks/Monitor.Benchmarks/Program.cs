using System.Diagnostics;
using DuckDB.NET.Data;
using Mlops.Benchmarks;
using Mlops.Monitor.Features.Drift;
using Mlops.Monitor.Features.Profiles;

// The monitor's drift report, timed in process (no service, no network), as Evidently's Report(DataDriftPreset) is:
//   flights: reference = rows [0, 1M) of flights-3m.parquet, current = rows [1M, 2M); delay and distance numerical,
//            origin, destination, hour and day of week of date categorical; Evidently's default methods.
//   wide:    the same 2M rows as 100 columns (the flights columns repeated with noise), written once to a temporary
//            Parquet file before timing.
// Each report = profile both sides with DuckDB (reading the Parquet file) + every statistic. Peak RSS is the process's
// VmHWM, reset (clear_refs 5) before each part so it is that part's peak.
// Usage: dotnet run -c Release --project benchmarks/Monitor.Benchmarks [-- --only flights|wide --repeats 5 --rows 1000000]
var only = Arg("--only");
var repeats = int.Parse(Arg("--repeats") ?? "5");
var rows = long.Parse(Arg("--rows") ?? "1000000");
var root = FindRoot();
var flights = Path.Combine(root, "eng/node/node_modules/vega-datasets/data/flights-3m.parquet");
if (!File.Exists(flights)) throw new FileNotFoundException("Run eng/bootstrap.sh first: the flights data is missing.", flights);
Console.WriteLine($"# Monitor benchmarks {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, load average {Machine.LoadAverage()}, rows per side {rows:N0}");

if (only is null or "flights")
{
    var source = DuckProfiler.Parquet(flights);
    (ColumnSpec, string, string)[] columns =
    [
        (new("delay", ColumnKind.Numerical), "delay", InferredTypes.Integral),
        (new("distance", ColumnKind.Numerical), "distance", InferredTypes.Integral),
        (new("origin", ColumnKind.Categorical), "origin", InferredTypes.String),
        (new("destination", ColumnKind.Categorical), "destination", InferredTypes.String),
        (new("hour", ColumnKind.Categorical), "hour(date)", InferredTypes.Integral),
        (new("day_of_week", ColumnKind.Categorical), "dayofweek(date)", InferredTypes.Integral),
    ];
    Run("flights, 6 columns", source, columns);
}

if (only is null or "wide")
{
    var wide = Path.Combine(Path.GetTempPath(), $"monitor-bench-wide-{rows}.parquet");
    var columns = WideColumns();
    if (!File.Exists(wide))
    {
        var sw = Stopwatch.StartNew();
        using var duck = DuckProfiler.Open();
        using var command = duck.CreateCommand();
        command.CommandText = $"COPY (SELECT {string.Join(", ", columns.Select(c => $"{c.Sql} AS {DuckProfiler.Quote(c.Name)}"))} " +
                              $"FROM {DuckProfiler.Parquet(flights)} WHERE file_row_number < {2 * rows}) TO {DuckProfiler.Literal(wide)} (FORMAT parquet, ROW_GROUP_SIZE 262144)";
        command.ExecuteNonQuery();
        Console.WriteLine($"wrote {wide} ({new FileInfo(wide).Length / 1e6:F0} MB) in {sw.Elapsed.TotalSeconds:F1} s (not timed)");
    }
    Run("wide, 100 columns", DuckProfiler.Parquet(wide),
        columns.Select(c => (new ColumnSpec(c.Name, c.Kind), DuckProfiler.Quote(c.Name), c.Kind == ColumnKind.Numerical ? InferredTypes.Fractional : InferredTypes.String)).ToArray());
}

if (only is "quality")
{
    // Issue 18's figures: model quality over 1M labelled predictions, CBPE over 1M unlabelled ones (reference 1M), the bias
    // report's DuckDB GROUP BY over 1M rows. Synthetic calibrated scores: p ~ U(0, 1), label ~ Bernoulli(p).
    var random = new Random(5);
    Mlops.Monitor.Features.Quality.BinaryRow Draw() { var p = random.NextDouble(); return new(random.NextDouble() < p, p >= 0.5, p); }
    var labelled = Enumerable.Range(0, (int)rows).Select(_ => Draw()).ToArray();
    var unlabelled = Enumerable.Range(0, (int)rows).Select(_ => Draw()).ToArray();
    var scores = unlabelled.Select(r => r.Probability!.Value).ToArray();
    var predicted = unlabelled.Select(r => r.Predicted).ToArray();
    var q = new List<double>(); var c = new List<double>(); var b = new List<double>();
    var biasFile = Path.Combine(Path.GetTempPath(), $"monitor-bench-bias-{rows}.parquet");
    using (var duck = DuckProfiler.Open())
    using (var command = duck.CreateCommand())
    {
        command.CommandText = $"COPY (SELECT CASE WHEN random() < 0.3 THEN 'F' ELSE 'M' END AS gender, CAST(random() < 0.4 AS INTEGER) AS approved, " +
                              $"CAST(random() < 0.45 AS INTEGER) AS predicted FROM range({rows})) TO {DuckProfiler.Literal(biasFile)} (FORMAT parquet)";
        command.ExecuteNonQuery();
    }
    ResetPeak();
    for (var i = 0; i < repeats; i++)
    {
        var sw = Stopwatch.StartNew();
        var metrics = Mlops.Monitor.Features.Quality.ModelQualityMetrics.BinaryWithDeviation(labelled);
        q.Add(sw.Elapsed.TotalSeconds);
        sw.Restart();
        var estimate = Mlops.Monitor.Features.Quality.Cbpe.Estimate(labelled, scores, predicted);
        c.Add(sw.Elapsed.TotalSeconds);
        sw.Restart();
        using var duck = DuckProfiler.Open();
        using var command = duck.CreateCommand();
        command.CommandText = $"SELECT gender = 'F', approved = 1, predicted = 1, count(*) FROM read_parquet({DuckProfiler.Literal(biasFile)}) GROUP BY ALL";
        var cells = new List<Mlops.Monitor.Features.Bias.BiasCell>();
        using (var reader = command.ExecuteReader())
            while (reader.Read()) cells.Add(new(reader.GetBoolean(0), reader.GetBoolean(1), reader.GetBoolean(2), "", reader.GetInt64(3)));
        var pre = Mlops.Monitor.Features.Bias.BiasMetrics.PreTraining(cells);
        var post = Mlops.Monitor.Features.Bias.BiasMetrics.PostTraining(cells);
        b.Add(sw.Elapsed.TotalSeconds);
        if (i == 0) Console.WriteLine($"   auc {metrics["auc"].Value:F4} ± {metrics["auc"].StandardDeviation:F4}; cbpe auc {estimate["auc"].Value:F4} ± {estimate["auc"].SamplingError:F4}; DPL {pre["DPL"]:F4}, DI {post["DI"]:F4}");
    }
    Console.WriteLine($"## quality over {rows:N0} labelled: median {Median(q):F3} s (runs {string.Join(" ", q.Select(t => t.ToString("F3")))}); " +
                      $"CBPE over {rows:N0}: median {Median(c):F3} s (runs {string.Join(" ", c.Select(t => t.ToString("F3")))}); " +
                      $"bias over {rows:N0} rows: median {Median(b):F3} s (runs {string.Join(" ", b.Select(t => t.ToString("F3")))}); peak RSS {PeakRssMb():F0} MB; load average {Machine.LoadAverage()}");
}

void Run(string name, string source, (ColumnSpec Spec, string Expression, string InferredType)[] columns)
{
    // Side 0 = reference rows [0, rows), side 1 = current rows [rows, 2·rows): one scan per column for both.
    var side = $"CASE WHEN file_row_number < {rows} THEN 0 WHEN file_row_number < {2 * rows} THEN 1 ELSE -1 END";
    ResetPeak();
    var profileTimes = new List<double>();
    var statTimes = new List<double>();
    var totals = new List<double>();
    DatasetDrift? drift = null;
    for (var i = 0; i < repeats; i++)
    {
        var sw = Stopwatch.StartNew();
        using var duck = DuckProfiler.Open();
        var sides = DuckProfiler.ProfileSides(duck, $"(SELECT * FROM {source} WHERE file_row_number < {2 * rows})", side, 2, columns);
        var (r, c) = (sides[0], sides[1]);
        var profiled = sw.Elapsed.TotalSeconds;
        drift = ProfileDrift.Compare(r, c);
        totals.Add(sw.Elapsed.TotalSeconds);
        profileTimes.Add(profiled);
        statTimes.Add(sw.Elapsed.TotalSeconds - profiled);
    }
    Console.WriteLine($"## {name}: median {Median(totals):F3} s (profile {Median(profileTimes):F3} s + statistics {Median(statTimes):F3} s), " +
                      $"runs {string.Join(" ", totals.Select(t => t.ToString("F3")))}; peak RSS {PeakRssMb():F0} MB; load average {Machine.LoadAverage()}");
    Console.WriteLine($"   dataset drift {drift!.DatasetDrifted} ({drift.NumberOfDriftedColumns}/{drift.NumberOfColumns} columns drifted)");
    foreach (var col in drift.Columns.Take(8))
        Console.WriteLine($"   {col.Column,-14} {col.Method,-14} {col.Score,12:G6}  threshold {col.Threshold}  drifted {col.Drifted}");
}

static List<(string Name, ColumnKind Kind, string Sql)> WideColumns()
{
    // Six flights columns per repeat; each repeat adds its own noise so no two columns are identical.
    var list = new List<(string, ColumnKind, string)>();
    for (var k = 0; list.Count < 100; k++)
    {
        list.Add(($"delay_{k}", ColumnKind.Numerical, $"delay + round(random() * {k + 1}, 1)"));
        list.Add(($"distance_{k}", ColumnKind.Numerical, $"distance + floor(random() * {3 * (k + 1)})"));
        list.Add(($"origin_{k}", ColumnKind.Categorical, $"CASE WHEN random() < {0.01 * (k + 1)} THEN destination ELSE origin END"));
        list.Add(($"destination_{k}", ColumnKind.Categorical, $"CASE WHEN random() < {0.01 * (k + 1)} THEN origin ELSE destination END"));
        list.Add(($"hour_{k}", ColumnKind.Categorical, $"CAST((hour(date) + CASE WHEN random() < 0.1 THEN {k % 3 + 1} ELSE 0 END) % 24 AS VARCHAR)"));
        list.Add(($"day_of_week_{k}", ColumnKind.Categorical, $"CAST((dayofweek(date) + CASE WHEN random() < 0.1 THEN 1 ELSE 0 END) % 7 AS VARCHAR)"));
    }
    return list.Take(100).ToList();
}

static double Median(List<double> xs)
{
    var s = xs.Order().ToArray();
    return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
}

static void ResetPeak()
{
    GC.Collect();
    try { File.WriteAllText("/proc/self/clear_refs", "5"); } catch (IOException) { } catch (UnauthorizedAccessException) { }
}

static double PeakRssMb()
{
    var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
    return line is null ? double.NaN : double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024;
}

string? Arg(string name)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

static string FindRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "Mlops.Aspire.sln"))) return dir.FullName;
    throw new DirectoryNotFoundException("Mlops.Aspire.sln not found above the benchmark's directory.");
}
