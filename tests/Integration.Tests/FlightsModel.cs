using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DuckDB.NET.Data;
using Mlops.ExperimentTracker.Client;
using Mlops.Trainer;
using Mlops.Trainer.SageMaker;
using Mlops.Trainer.Samples;

namespace Mlops.Tests;

/// <summary>
/// The flights delay model the Serving and Monitor-quality tests score with (date, origin, destination, distance →
/// delayed): trained once per test run in the test process on January–April (validated on May), tracked and
/// registered as <c>champion</c> of a model of its own. The sample scenario's loop has its own model (features from the
/// feature store, another schema) whose versions and alias move while it runs.
/// </summary>
internal static class FlightsModel
{
    public const string Name = "flights-delay-it";
    private static readonly Lock Gate = new();
    private static Task<ModelVersion>? champion;

    public static Task<ModelVersion> ChampionAsync(PlatformFixture platform)
    {
        lock (Gate)
            return champion ??= TrainAsync(platform);
    }

    private static async Task<ModelVersion> TrainAsync(PlatformFixture platform)
    {
        var root = Directory.CreateTempSubdirectory("mlops-it-model-").FullName;
        try
        {
            var flights = await FlightsSample.LoadAsync(TrainingJobFlightsTests.Repo("eng", "node", "node_modules", "vega-datasets", "data", "flights-3m.parquet"));
            var job = new FlightsJob(FlightsTask.Delayed, 60_000, 15_000, SampleSeed: 11,
                Hyperparameters: new Dictionary<string, string> { ["algorithm"] = "lightgbm", ["num_leaves"] = "31", ["learning_rate"] = "0.1" });
            var version = await TrainAndRegisterAsync(platform, Name, await FlightsSample.WriteJobAsync(flights, root, job));
            var tracker = new TrackingClient(platform.CreateClient(ResourceNames.ExperimentTracker));
            await tracker.SetAliasAsync(Name, "champion", version.Version);
            return await tracker.GetModelVersionByAliasAsync(Name, "champion");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>
    /// Runs the trainer in the test process over a prepared job layout, tracks the run (its metrics, the package as artifacts
    /// under model/) and registers it as a new version of <paramref name="modelName"/>.
    /// </summary>
    public static async Task<ModelVersion> TrainAndRegisterAsync(PlatformFixture platform, string modelName, TrainingLayout layout)
    {
        var tracker = new TrackingClient(platform.CreateClient(ResourceNames.ExperimentTracker));
        await using var run = await tracker.StartRunAsync(modelName, tags: new Dictionary<string, string> { ["mlflow.source.name"] = "tests/Integration.Tests" });
        var result = await new TrainingJob(layout, TextWriter.Null, TextWriter.Null).TrainAsync();
        await run.LogMetricsAsync(result.Metrics.Lines().Where(m => double.IsFinite(m.Value)).ToDictionary(m => m.Name.Replace(':', '/'), m => m.Value));
        foreach (var file in Directory.EnumerateFiles(layout.ModelDirectory))
        {
            await using var content = File.OpenRead(file);
            await run.UploadArtifactAsync($"model/{Path.GetFileName(file)}", content);
        }
        return await tracker.RegisterModelAsync(modelName, run.Run);
    }

    /// <summary>A flight as the tests score it (date as ISO 8601 text) with its real delay in minutes.</summary>
    public sealed record Flight(string Date, string Origin, string Destination, long Distance, long Delay);

    /// <summary>A scored flight: Serving's inference id, predicted label and probability for it; its label is <c>Delay &gt; 15</c>.</summary>
    public sealed record ServedFlight(string InferenceId, bool Predicted, double Probability, Flight Flight)
    {
        public bool Label => Flight.Delay > 15;
    }

    /// <summary>
    /// Scores the flights through the endpoint's MLflow invocations in batches of 100 (request ids <c>{prefix}-{batch}</c> when a
    /// prefix is given, so the inference ids are the caller's; else Serving's own) and returns each answer.
    /// </summary>
    public static async Task<List<ServedFlight>> ScoreAsync(HttpClient serving, string endpoint, IEnumerable<Flight> flights, string? requestIdPrefix = null)
    {
        var served = new List<ServedFlight>();
        foreach (var (batch, b) in flights.Chunk(100).Select((x, i) => (x, i)))
        {
            var request = new HttpRequestMessage(HttpMethod.Post, $"/endpoints/{endpoint}/invocations")
            {
                Content = JsonContent.Create(new
                {
                    dataframe_split = new
                    {
                        columns = new[] { "date", "origin", "destination", "distance" },
                        data = batch.Select(f => new object[] { f.Date, f.Origin, f.Destination, f.Distance }).ToArray(),
                    },
                }),
            };
            if (requestIdPrefix is not null) request.Headers.Add("X-Inference-Id", $"{requestIdPrefix}-{b}");
            using var answer = await serving.SendAsync(request);
            var text = await answer.Content.ReadAsStringAsync();
            Assert.True(answer.StatusCode == HttpStatusCode.OK, text);
            var predictions = JsonNode.Parse(text)!["predictions"]!.AsArray();
            Assert.Equal(batch.Length, predictions.Count);
            for (var i = 0; i < batch.Length; i++)
                served.Add(new ServedFlight((string)predictions[i]!["inference_id"]!, (bool)predictions[i]!["predicted_label"]!, (double)predictions[i]!["probability"]!, batch[i]));
        }
        return served;
    }

    /// <summary>300 flights spread over the file (every 10,000th row, from row <paramref name="remainder"/>), with their real delays.</summary>
    public static List<Flight> Flights(int remainder = 7) => Query($"file_row_number % 10000 = {remainder}", 300);

    /// <summary>Up to <paramref name="count"/> flights of one month of 2001 (every 401st row of it), with their real delays.</summary>
    public static List<Flight> FlightsOfMonth(int month, int count) => Query($"month(date) = {month} AND file_row_number % 401 = 5", count);

    private static List<Flight> Query(string filter, int limit)
    {
        var path = TrainingJobFlightsTests.Repo("eng", "node", "node_modules", "vega-datasets", "data", "flights-3m.parquet");
        Assert.True(File.Exists(path), $"{path} is missing: run eng/bootstrap.sh (npm ci in eng/node).");
        using var duck = new DuckDBConnection("DataSource=:memory:");
        duck.Open();
        using var command = duck.CreateCommand();
        command.CommandText = $"SELECT strftime(date, '%Y-%m-%dT%H:%M:%SZ'), origin, destination, distance, delay FROM read_parquet('{path}', file_row_number = true) " +
                              $"WHERE {filter} AND delay IS NOT NULL AND distance IS NOT NULL ORDER BY file_row_number LIMIT {limit}";
        using var reader = command.ExecuteReader();
        var list = new List<Flight>();
        while (reader.Read()) list.Add(new Flight(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3), reader.GetInt64(4)));
        return list;
    }
}
