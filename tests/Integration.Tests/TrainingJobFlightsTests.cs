using System.Diagnostics;
using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using Mlops.SageMaker;
using Mlops.Trainer.Model;

namespace Mlops.Tests;

/// <summary>
/// The platform's trainer as a training job on feature-store snapshots, against the same trainer run directly; and the
/// training service's restart in the middle of a job.
/// </summary>
public sealed class TrainingJobFlightsTests(PlatformFixture platform)
{
    private static readonly Dictionary<string, string> HyperParameters = new()
    {
        ["label"] = "label", ["algorithm"] = "lightgbm", ["num_iterations"] = "20", ["importance_rows"] = "0", ["diagnostics_rows"] = "500",
    };

    /// <summary>A flights feature group filled from flights-2k and two training-set snapshots of it: 1,500 rows and 500.</summary>
    internal sealed record FlightsSnapshots(string Group, JsonArray Records, string Train, string Validation)
    {
        /// <summary>Scoring rows as the training sets have them, for validation flights <paramref name="skip"/> onwards.</summary>
        public List<IReadOnlyDictionary<string, object?>> Rows(int skip, int take) => [.. Records.Skip(skip).Take(take)
            .Select(f => (IReadOnlyDictionary<string, object?>)new Dictionary<string, object?>
            {
                ["origin"] = (string)f!["origin"]!,
                ["event_timestamp"] = (string)f["date"]!,
                [$"{Group}__distance"] = (double)(long)f["distance"]!,
                [$"{Group}__destination"] = (string)f["destination"]!,
            })];
    }

    internal static async Task<FlightsSnapshots> SnapshotsAsync(PlatformFixture platform)
    {
        using var store = platform.CreateClient(ResourceNames.FeatureStore);
        var group = $"flights_{Guid.NewGuid():N}"[..20];
        Assert.Equal(HttpStatusCode.Created, (await store.PostAsJsonAsync("/api/feature-groups", FeatureStoreTests.FlightsGroup(group))).StatusCode);
        var records = JsonNode.Parse(await File.ReadAllTextAsync(Repo("eng", "node", "node_modules", "vega-datasets", "data", "flights-2k.json")))!.AsArray();
        var ingested = await store.PostAsJsonAsync($"/api/feature-groups/{group}/records", new JsonObject { ["records"] = records.DeepClone() });
        Assert.True(ingested.IsSuccessStatusCode, await ingested.Content.ReadAsStringAsync());

        // Each flight as an entity row (its origin at its time, labelled delayed or not); the features are the origin's
        // latest distance and destination at that time: a point-in-time join, not the row itself.
        async Task<string> SnapshotAsync(IEnumerable<JsonNode?> flights)
        {
            var response = await store.PostAsJsonAsync("/api/training-sets", new JsonObject
            {
                ["features"] = new JsonArray($"{group}:distance", $"{group}:destination"),
                ["entity_rows"] = new JsonArray([.. flights.Select(f => (JsonNode)new JsonObject
                {
                    ["origin"] = (string)f!["origin"]!,
                    ["event_timestamp"] = DateTime.Parse((string)f["date"]!, CultureInfo.InvariantCulture).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
                    ["label"] = (long)f["delay"]! > 15 ? 1 : 0,
                })]),
            });
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.Created, body);
            return (string)JsonNode.Parse(body)!["data_uri"]!;
        }
        return new FlightsSnapshots(group, records, await SnapshotAsync(records.Take(1500)), await SnapshotAsync(records.Skip(1500)));
    }

    [Fact]
    public async Task Flights_FromFeatureStoreSnapshots_ModelScoresLikeTheTrainerRunDirectly()
    {
        var flights = await SnapshotsAsync(platform);
        var (_, _, train, validation) = flights;

        var client = await platform.CreateSageMakerClientAsync();
        var name = $"flights-{Guid.NewGuid():N}";
        await client.CreateTrainingJobAsync(new CreateTrainingJobRequest
        {
            TrainingJobName = name,
            AlgorithmSpecification = new()
            {
                TrainingImage = "mlops-trainer:latest", TrainingInputMode = "File",
                MetricDefinitions = [new("validation:auc", "metric validation:auc=([0-9.eE+-]+)")],
            },
            RoleArn = "arn:aws:iam::000000000000:role/mlops-training",
            InputDataConfig = [Parquet("train", train), Parquet("validation", validation)],
            OutputDataConfig = new() { S3OutputPath = $"s3://{ResourceNames.ArtifactBucket}/jobs" },
            ResourceConfig = new() { InstanceType = "ml.m5.xlarge", InstanceCount = 1, VolumeSizeInGB = 5 },
            StoppingCondition = new() { MaxRuntimeInSeconds = 600 },
            HyperParameters = HyperParameters,
        });
        DescribeTrainingJobResponse? job = null;
        await Poll.UntilAsync(async () =>
        {
            job = await client.DescribeTrainingJobAsync(name);
            return TrainingJobStatus.IsTerminal(job.TrainingJobStatus) ? job : null;
        }, TimeSpan.FromMinutes(3), () => $"the flights job to finish ({job?.SecondaryStatus})");
        Assert.True(job!.TrainingJobStatus == TrainingJobStatus.Completed, $"{job.FailureReason}\n{await client.GetLocalTrainingJobLogAsync(name)}");
        var auc = Assert.Single(job.FinalMetricDataList!);
        Assert.InRange(auc.Value, 0.3, 1.0);

        // The same data through the trainer directly, in a tree laid out by hand.
        var work = Directory.CreateTempSubdirectory("mlops-direct-");
        try
        {
            using var s3 = await platform.CreateS3ClientAsync();
            foreach (var (channel, uri) in new[] { ("train", train), ("validation", validation) })
            {
                var location = new Uri(uri);
                Directory.CreateDirectory(Path.Combine(work.FullName, "input", "data", channel));
                using var data = await s3.GetObjectAsync(location.Host, location.AbsolutePath.TrimStart('/'));
                await data.WriteResponseStreamToFileAsync(Path.Combine(work.FullName, "input", "data", channel, "data.parquet"), false, default);
            }
            Directory.CreateDirectory(Path.Combine(work.FullName, "input", "config"));
            await File.WriteAllTextAsync(Path.Combine(work.FullName, "input", "config", "hyperparameters.json"),
                System.Text.Json.JsonSerializer.Serialize(HyperParameters));
            await RunTrainerAsync(work.FullName);

            var jobModel = Path.Combine(work.FullName, "job-model");
            using (var archive = await s3.GetObjectAsync(ResourceNames.ArtifactBucket, $"jobs/{name}/output/model.tar.gz"))
            await using (var gzip = new GZipStream(archive.ResponseStream, CompressionMode.Decompress))
            {
                Directory.CreateDirectory(jobModel);
                await TarFile.ExtractToDirectoryAsync(gzip, jobModel, overwriteFiles: true);
            }

            using var fromJob = ModelPackage.Load(jobModel);
            using var direct = ModelPackage.Load(Path.Combine(work.FullName, "model"));
            var rows = flights.Rows(1500, 50);
            var expected = direct.Score(rows);
            var actual = fromJob.Score(rows);
            Assert.Equal(expected.Select(p => p.Probability), actual.Select(p => p.Probability));
            Assert.Contains(expected, p => p.Probability is > 0 and < 1);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    // Runs alone: TrainingJobFlightsTestsFaults.
    internal async Task Restart_OfTheTrainingServiceMidJob_LeavesNoJobInProgress()
    {
        var client = await platform.CreateSageMakerClientAsync();
        using var s3 = await platform.CreateS3ClientAsync();
        var name = $"restart-{Guid.NewGuid():N}";
        var key = $"training-tests/{name}/train/a.csv";
        await s3.PutObjectAsync(new() { BucketName = ResourceNames.LakeBucket, Key = key, ContentBody = "a\n1\n", UseChunkEncoding = false });
        await client.CreateTrainingJobAsync(new CreateTrainingJobRequest
        {
            TrainingJobName = name,
            AlgorithmSpecification = new() { TrainingImage = PlatformFixture.ByoImage, TrainingInputMode = "File" },
            RoleArn = "arn:aws:iam::000000000000:role/mlops-training",
            InputDataConfig = [Parquet("train", $"s3://{ResourceNames.LakeBucket}/training-tests/{name}/train/") with { ContentType = "text/csv" }],
            OutputDataConfig = new() { S3OutputPath = $"s3://{ResourceNames.ArtifactBucket}/jobs" },
            ResourceConfig = new() { InstanceType = "ml.m5.large", InstanceCount = 1, VolumeSizeInGB = 1 },
            StoppingCondition = new() { MaxRuntimeInSeconds = 600 },
            HyperParameters = new Dictionary<string, string> { ["sleep_seconds"] = "600" },
        });
        await Poll.UntilAsync(async () => (await client.DescribeTrainingJobAsync(name)) is { SecondaryStatus: SecondaryStatus.Training } j ? j : null,
            TimeSpan.FromSeconds(60), "the job to be training");

        var commands = platform.App.Services.GetRequiredService<ResourceCommandService>();
        var restarted = await commands.ExecuteCommandAsync(ResourceNames.TrainingService, KnownResourceCommands.RestartCommand);
        Assert.True(restarted.Success, restarted.Message);

        DescribeTrainingJobResponse? job = null;
        await Poll.UntilAsync(async () =>
        {
            try
            {
                job = await client.DescribeTrainingJobAsync(name);
                return TrainingJobStatus.IsTerminal(job.TrainingJobStatus) ? job : null;
            }
            catch (Exception e) when (e is HttpRequestException or SageMakerException or TaskCanceledException)
            {
                return null;
            }
        }, TimeSpan.FromSeconds(90), () => $"the job to leave InProgress after the restart ({job?.TrainingJobStatus})");
        Assert.Equal(TrainingJobStatus.Failed, job!.TrainingJobStatus);
        Assert.Contains("training service", job.FailureReason);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await platform.App.ResourceNotifications.WaitForResourceHealthyAsync(ResourceNames.TrainingService, timeout.Token);
    }

    internal static Channel Parquet(string name, string uri) => new()
    {
        ChannelName = name,
        ContentType = "application/x-parquet",
        DataSource = new() { S3DataSource = new() { S3DataType = "S3Prefix", S3Uri = uri, S3DataDistributionType = "FullyReplicated" } },
    };

    private static async Task RunTrainerAsync(string root)
    {
        var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name; // bin/<Configuration>/net10.0
        var trainer = Repo("services", "Trainer", "Mlops.Trainer.Cli", "bin", configuration, "net10.0", "train.dll");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { trainer, "train", "--root", root })
            info.ArgumentList.Add(argument);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromMinutes(3)).Token);
        Assert.True(process.ExitCode == 0, $"the trainer exited with {process.ExitCode}: {await stderr}\n{await stdout}");
    }

    internal static string Repo(params string[] path)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Mlops.Aspire.sln")))
            dir = dir.Parent;
        return Path.Combine([dir!.FullName, .. path]);
    }
}

/// <summary>The test of <see cref="TrainingJobFlightsTests"/> that restarts the training service: in the faults collection, so it runs alone.</summary>
[Collection(FaultsCollection.Name)]
public sealed class TrainingJobFlightsTestsFaults(PlatformFixture platform)
{
    [Fact]
    public Task Restart_OfTheTrainingServiceMidJob_LeavesNoJobInProgress() => new TrainingJobFlightsTests(platform).Restart_OfTheTrainingServiceMidJob_LeavesNoJobInProgress();
}
