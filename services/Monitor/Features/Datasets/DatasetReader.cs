using DuckDB.NET.Data;
using Microsoft.Extensions.Options;
using Mlops.Monitor.Features.Drift;
using Mlops.Monitor.Features.Profiles;
using Mlops.ServiceDefaults.Storage;

namespace Mlops.Monitor.Features.Datasets;

/// <summary>A dataset to profile: an S3 object (a feature-store snapshot's data.parquet, a lake object), Parquet or CSV.</summary>
/// <param name="Uri"><c>s3://bucket/key</c>.</param>
/// <param name="Format"><c>parquet</c> or <c>csv</c>; by default from the key's extension.</param>
/// <param name="Columns">The columns to profile with their kinds; by default every numeric column as numerical and every text
/// or boolean column as categorical (dates and timestamps are left out unless named).</param>
public sealed record DatasetRef(string Uri, string? Format = null, IReadOnlyList<ColumnRequest>? Columns = null);

/// <param name="Kind"><c>numerical</c> or <c>categorical</c>.</param>
/// <param name="Expression">Optional: the column is derived from another as <c>function(column)</c>, function one of
/// hour, dayofweek, day, month, year, minute, lower, upper (e.g. <c>hour(date)</c>).</param>
public sealed record ColumnRequest(string Name, string Kind, string? Expression = null);

public sealed record S3Location(string Bucket, string Key)
{
    private static readonly System.Text.RegularExpressions.Regex BucketPattern = new("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    public override string ToString() => $"s3://{Bucket}/{Key}";

    public static S3Location Parse(string? uri, string field)
    {
        if (string.IsNullOrWhiteSpace(uri) || !uri.StartsWith("s3://", StringComparison.Ordinal))
            throw ProblemException.BadRequest($"'{field}' must be an s3://bucket/key URI; got '{uri}'.");
        var rest = uri["s3://".Length..];
        var slash = rest.IndexOf('/');
        if (slash <= 0 || slash == rest.Length - 1)
            throw ProblemException.BadRequest($"'{field}' must name a bucket and a key (s3://bucket/key); got '{uri}'.");
        var (bucket, key) = (rest[..slash], rest[(slash + 1)..]);
        if (!BucketPattern.IsMatch(bucket))
            throw ProblemException.BadRequest($"'{field}' names the bucket '{bucket}', which is not a valid S3 bucket name.");
        if (key.Length > 1024 || key.Contains('\0'))
            throw ProblemException.BadRequest($"'{field}' has a key S3 cannot hold (over 1,024 characters or a NUL character).");
        return new S3Location(bucket, key);
    }
}

public sealed class MonitorOptions
{
    public const string Section = "Monitor";
    /// <summary>Where Serving's data capture lands: <c>s3://bucket/prefix</c>, under which are <c>endpoint/variant/yyyy/mm/dd/hh/</c>
    /// (default: Serving's, <c>s3://&lt;lake bucket&gt;/data-capture</c>).</summary>
    public string CaptureUri { get; set; } = "";
    /// <summary>Where Serving writes ground truth: <c>s3://bucket/prefix</c>, then <c>endpoint/yyyy/mm/dd/hh/</c> of the hour labels
    /// arrived (default: Serving's, <c>s3://&lt;lake bucket&gt;/ground-truth</c>).</summary>
    public string GroundTruthUri { get; set; } = "";
    /// <summary>A scratch folder for objects DuckDB reads (deleted after each read).</summary>
    public string WorkDirectory { get; set; } = Path.Combine(Path.GetTempPath(), "mlops-monitor");
    /// <summary>How often the scheduler looks for due schedules and pending runs.</summary>
    public TimeSpan SchedulerPollInterval { get; set; } = TimeSpan.FromSeconds(2);
    /// <summary>How long a running run may go without finishing before it is considered dead and retried.</summary>
    public TimeSpan RunLease { get; set; } = TimeSpan.FromMinutes(5);
    public int MaxAttempts { get; set; } = 3;
}

/// <summary>Downloads a dataset object to the work folder and profiles it with DuckDB.</summary>
public sealed class DatasetReader(ObjectStore store, IOptions<MonitorOptions> options)
{
    /// <param name="kinds">A baseline's profile: columns it knows are profiled with its kind, the others by their type.</param>
    public Task<DatasetProfile> ProfileAsync(DatasetRef dataset, string field, CancellationToken ct, DatasetProfile? kinds = null)
    {
        var requested = ValidateColumns(dataset.Columns, $"{field}.columns");
        return QueryAsync(dataset, field, (duck, relation, schema, location) =>
            DuckProfiler.Profile(duck, relation, Plan(schema, requested, location, field, kinds)), ct);
    }

    /// <summary>
    /// Downloads the dataset object to the work folder and runs <paramref name="query"/> over it with DuckDB (the relation
    /// that reads it, its schema); the file is deleted after. DuckDB errors become 400s naming the dataset, not the file.
    /// </summary>
    public async Task<T> QueryAsync<T>(DatasetRef dataset, string field,
        Func<DuckDBConnection, string, IReadOnlyList<(string Name, string Type)>, S3Location, T> query, CancellationToken ct)
    {
        var location = S3Location.Parse(dataset.Uri, $"{field}.uri");
        var format = (dataset.Format ?? (location.Key.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) ? "csv" : "parquet")).ToLowerInvariant();
        if (format is not ("parquet" or "csv"))
            throw ProblemException.BadRequest($"'{field}.format' must be 'parquet' or 'csv'; got '{dataset.Format}'.");

        var work = Directory.CreateDirectory(Path.Combine(options.Value.WorkDirectory, Guid.NewGuid().ToString("N")));
        try
        {
            var local = Path.Combine(work.FullName, format == "csv" ? "data.csv" : "data.parquet");
            StoredObject? stored;
            try
            {
                stored = await store.TryOpenAsync(location.Bucket, location.Key, ct);
            }
            catch (Amazon.S3.AmazonS3Exception e) when (e.StatusCode is System.Net.HttpStatusCode.NotFound or System.Net.HttpStatusCode.Forbidden or System.Net.HttpStatusCode.BadRequest)
            {
                throw ProblemException.NotFound($"The dataset '{location}' cannot be read: {e.Message}");
            }
            var opened = stored ?? throw ProblemException.NotFound($"The dataset '{location}' does not exist.");
            await using (opened)
            await using (var file = File.Create(local))
                await opened.Content.CopyToAsync(file, ct);

            using var duck = DuckProfiler.Open(threads: 2);
            var relation = format == "csv" ? $"read_csv({DuckProfiler.Literal(local)}, header = true)" : $"read_parquet({DuckProfiler.Literal(local)})";
            IReadOnlyList<(string Name, string Type)> schema;
            try
            {
                schema = DuckProfiler.Describe(duck, relation);
            }
            catch (DuckDBException e)
            {
                throw ProblemException.BadRequest($"The dataset '{location}' is not readable as {format}: {e.Message.Replace(work.FullName, location.ToString())}");
            }
            try
            {
                return query(duck, relation, schema, location);
            }
            catch (DuckDBException e)
            {
                throw ProblemException.BadRequest($"Reading '{location}' failed: {e.Message.Replace(work.FullName, location.ToString())}");
            }
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private static List<(ColumnSpec, string, string)> Plan(IReadOnlyList<(string Name, string Type)> schema, IReadOnlyList<ColumnRequest>? requested,
        S3Location location, string field, DatasetProfile? kinds)
    {
        var types = schema.ToDictionary(c => c.Name, c => c.Type);
        if (requested is null)
        {
            return schema.Select(c => (c.Name, Inferred: DuckProfiler.InferredType(c.Type)))
                .Where(c => c.Inferred != InferredTypes.Unknown)
                .Select(c => (new ColumnSpec(c.Name, kinds?.Find(c.Name)?.Kind ?? (c.Inferred == InferredTypes.String ? ColumnKind.Categorical : ColumnKind.Numerical)),
                    DuckProfiler.Quote(c.Name), c.Inferred)).ToList();
        }
        var missing = requested.Select(r => r.Expression is null ? r.Name : Derivation.Match(r.Expression).Groups[2].Value)
            .Where(n => !types.ContainsKey(n)).Distinct().ToList();
        if (missing.Count > 0)
            throw ProblemException.BadRequest($"The dataset '{location}' has no column(s) {string.Join(", ", missing.Select(m => $"'{m}'"))} named in '{field}.columns'.");
        return requested.Select(r =>
        {
            var kind = r.Kind == "numerical" ? ColumnKind.Numerical : ColumnKind.Categorical;
            var expression = r.Expression is null ? DuckProfiler.Quote(r.Name) : Derived(r.Expression);
            var inferred = r.Expression is null ? DuckProfiler.InferredType(types[r.Name]) : kind == ColumnKind.Numerical ? InferredTypes.Fractional : InferredTypes.String;
            if (inferred == InferredTypes.Unknown) inferred = kind == ColumnKind.Numerical ? InferredTypes.Fractional : InferredTypes.String;
            return (new ColumnSpec(r.Name, kind), expression, inferred);
        }).ToList();
    }

    private const string DerivationFunctions = "hour, dayofweek, day, month, year, minute, lower, upper";

    // Only function(column): user text never reaches DuckDB as SQL (it could otherwise read any file the service can).
    private static readonly System.Text.RegularExpressions.Regex Derivation =
        new(@"^(hour|dayofweek|day|month|year|minute|lower|upper)\(([A-Za-z_][A-Za-z0-9_]*)\)$", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    private static string Derived(string expression)
    {
        var m = Derivation.Match(expression);
        return $"{m.Groups[1].Value}({DuckProfiler.Quote(m.Groups[2].Value)})";
    }

    public static IReadOnlyList<ColumnRequest>? ValidateColumns(IReadOnlyList<ColumnRequest>? columns, string field)
    {
        if (columns is null) return null;
        var errors = new List<string>();
        if (columns.Count == 0) errors.Add($"'{field}' must not be empty when given.");
        for (var i = 0; i < columns.Count; i++)
        {
            var c = columns[i];
            if (c is null) { errors.Add($"'{field}[{i}]' must be an object."); continue; }
            if (string.IsNullOrWhiteSpace(c.Name)) errors.Add($"'{field}[{i}].name' is required.");
            if (c.Kind is not ("numerical" or "categorical")) errors.Add($"'{field}[{i}].kind' must be 'numerical' or 'categorical'; got '{c.Kind}'.");
            if (c.Expression is { } e && !Derivation.IsMatch(e))
                errors.Add($"'{field}[{i}].expression' must be function(column) with function one of {DerivationFunctions}; got '{e}'.");
        }
        foreach (var dup in columns.Where(c => c is not null).GroupBy(c => c.Name).Where(g => g.Count() > 1))
            errors.Add($"'{field}' names '{dup.Key}' more than once.");
        if (errors.Count > 0) throw ProblemException.BadRequest(string.Join(" ", errors), new Dictionary<string, object?> { ["errors"] = errors });
        return columns;
    }
}
