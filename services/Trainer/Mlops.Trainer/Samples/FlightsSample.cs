using System.Text.Json;
using Mlops.Trainer.Data;
using Mlops.Trainer.Evaluation;
using Mlops.Trainer.Model.Tabular;
using Mlops.Trainer.SageMaker;

namespace Mlops.Trainer.Samples;

/// <summary>The prediction tasks derived from the flights data.</summary>
public enum FlightsTask
{
    /// <summary>Binary: is the flight delayed by more than 15 minutes (label "delayed")?</summary>
    Delayed,

    /// <summary>Multiclass: the route's distance band, short/medium/long/very_long (label "distance_band").</summary>
    DistanceBand,

    /// <summary>Regression: the route's distance in miles (label "distance").</summary>
    Distance,
}

/// <summary>
/// A training tree built from a time-ordered sample of the flights: train on January–April,
/// validate on May, test on June, so evaluation sees the drift a deployed model would.
/// </summary>
public sealed record FlightsJob(
    FlightsTask Task,
    int TrainRows,
    int ValidationRows,
    int TestRows = 0,
    int SampleSeed = 1,
    bool PlantLeak = false,
    IReadOnlyDictionary<string, string>? Hyperparameters = null);

public static class FlightsSample
{
    public const string RelativePath = "eng/node/node_modules/vega-datasets/data/flights-3m.parquet";
    public static readonly DateTime ValidationStart = new(2001, 5, 1);
    public static readonly DateTime TestStart = new(2001, 6, 1);

    public static string Label(FlightsTask task) => task switch
    {
        FlightsTask.Delayed => "delayed",
        FlightsTask.DistanceBand => "distance_band",
        _ => "distance",
    };

    public static Task<DataTable> LoadAsync(string path, CancellationToken ct = default) =>
        ParquetTableReader.ReadAsync(path, TextWriter.Null, ct);

    /// <summary>The task's table: features date, origin, destination (and distance for the delay task) plus the label.</summary>
    public static DataTable ForTask(DataTable flights, FlightsTask task, bool plantLeak = false)
    {
        var delay = (float[])flights["delay"].Values;
        var distance = (float[])flights["distance"].Values;
        var keep = flights.Columns.Where(c => c.Name is "date" or "origin" or "destination").ToList();
        switch (task)
        {
            case FlightsTask.Delayed:
                keep.Add(flights["distance"]);
                keep.Add(TableColumn.Booleans("delayed", [.. delay.Select(d => d > 15)]));
                break;
            case FlightsTask.DistanceBand:
                keep.Add(TableColumn.Texts("distance_band", [.. distance.Select(d => d switch
                {
                    < 500 => "short",
                    < 1000 => "medium",
                    < 2000 => "long",
                    _ => "very_long",
                })]));
                break;
            default:
                keep.Add(flights["distance"]);
                break;
        }

        if (plantLeak)
        {
            // The raw delay in minutes determines the label: exactly the feature a leak check must catch.
            keep.Add(flights["delay"] with { Name = "delay_minutes" });
        }

        var table = new DataTable(keep);
        var known = Enumerable.Range(0, flights.RowCount).Where(i => !float.IsNaN(delay[i])).ToArray();
        return known.Length == flights.RowCount ? table : table.Select(known);
    }

    /// <summary>Writes a complete SageMaker training tree under <paramref name="root"/> for <paramref name="job"/>.</summary>
    public static async Task<TrainingLayout> WriteJobAsync(DataTable flights, string root, FlightsJob job, CancellationToken ct = default)
    {
        var layout = new TrainingLayout(root);
        var table = ForTask(flights, job.Task, job.PlantLeak);
        var dates = (DateTime?[])table["date"].Values;
        int[] Window(DateTime from, DateTime to) => [.. Enumerable.Range(0, dates.Length).Where(i => dates[i] >= from && dates[i] < to)];
        int[] Pick(int[] window, int count, int salt) => [.. Statistics.Sample(window.Length, count, job.SampleSeed + salt).Select(i => window[i])];

        await ParquetTableWriter.WriteAsync(table.Select(Pick(Window(DateTime.MinValue, ValidationStart), job.TrainRows, 0)),
            Path.Combine(layout.ChannelDirectory("train"), "part-0.parquet"), ct);
        await ParquetTableWriter.WriteAsync(table.Select(Pick(Window(ValidationStart, TestStart), job.ValidationRows, 1)),
            Path.Combine(layout.ChannelDirectory("validation"), "part-0.parquet"), ct);
        var channels = new Dictionary<string, ChannelConfig>
        {
            ["train"] = new("application/x-parquet", "File", "FullyReplicated", "None"),
            ["validation"] = new("application/x-parquet", "File", "FullyReplicated", "None"),
        };
        if (job.TestRows > 0)
        {
            await ParquetTableWriter.WriteAsync(table.Select(Pick(Window(TestStart, DateTime.MaxValue), job.TestRows, 2)),
                Path.Combine(layout.ChannelDirectory("test"), "part-0.parquet"), ct);
            channels["test"] = new("application/x-parquet", "File", "FullyReplicated", "None");
        }

        var hyperparameters = new Dictionary<string, string>(job.Hyperparameters ?? new Dictionary<string, string>())
        {
            ["label"] = Label(job.Task),
        };
        WriteConfig(layout, hyperparameters, channels);
        return layout;
    }

    /// <summary>Writes input/config as SageMaker would (hyperparameters as strings, one host).</summary>
    public static void WriteConfig(TrainingLayout layout, IReadOnlyDictionary<string, string> hyperparameters, IReadOnlyDictionary<string, ChannelConfig> channels)
    {
        Directory.CreateDirectory(layout.ConfigDirectory);
        File.WriteAllText(layout.HyperparametersPath, JsonSerializer.Serialize(hyperparameters));
        File.WriteAllText(layout.InputDataConfigPath, JsonSerializer.Serialize(channels));
        File.WriteAllText(layout.ResourceConfigPath, JsonSerializer.Serialize(new ResourceConfig("algo-1", ["algo-1"])));
    }
}
