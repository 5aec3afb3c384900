using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Mlops.SageMaker;
using Mlops.Trainer.Model;

namespace Mlops.Tests;

/// <summary>
/// From a training job to an endpoint: the trainer's per-iteration metrics while the job runs, then its model.tar.gz
/// registered as a model version and served by Serving with the scores of the package itself.
/// </summary>
public sealed class TrainingJobServingTests(PlatformFixture platform)
{
    private static readonly TimeSpan Wait = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task TrainingJob_ShowsPerIterationMetricsWhileItTrains_AndItsModelTarGz_ServesThePackagesScores()
    {
        var flights = await TrainingJobFlightsTests.SnapshotsAsync(platform);
        var sageMaker = await platform.CreateSageMakerClientAsync();
        var job = $"serve-{Guid.NewGuid():N}"[..32];
        await sageMaker.CreateTrainingJobAsync(new CreateTrainingJobRequest
        {
            TrainingJobName = job,
            AlgorithmSpecification = new() { TrainingImage = "mlops-trainer:latest", TrainingInputMode = "File", MetricDefinitions = TrainingJobs.TrainerMetrics },
            RoleArn = "arn:aws:iam::000000000000:role/mlops-training",
            InputDataConfig = [TrainingJobFlightsTests.Parquet("train", flights.Train), TrainingJobFlightsTests.Parquet("validation", flights.Validation)],
            OutputDataConfig = new() { S3OutputPath = $"s3://{ResourceNames.ArtifactBucket}/jobs" },
            ResourceConfig = new() { InstanceType = "ml.m5.xlarge", InstanceCount = 1, VolumeSizeInGB = 5 },
            StoppingCondition = new() { MaxRuntimeInSeconds = 600 },
            // FastTree evaluates train and validation after every tree; enough trees that the job is still training when polled.
            HyperParameters = new Dictionary<string, string>
            {
                ["label"] = "label", ["algorithm"] = "fasttree", ["num_trees"] = "400", ["importance_rows"] = "0", ["diagnostics_rows"] = "500",
            },
        });

        // Per-iteration values reach the metrics endpoint while the job is still Training (read the series, then the status).
        string? status = null;
        var early = await Poll.UntilAsync(async () =>
        {
            var series = await sageMaker.GetLocalTrainingJobMetricsAsync(job);
            var described = await sageMaker.DescribeTrainingJobAsync(job);
            status = described.SecondaryStatus;
            Assert.False(status is SecondaryStatus.Uploading or SecondaryStatus.Completed || TrainingJobStatus.IsTerminal(described.TrainingJobStatus),
                $"job {job} got to {status} before any per-iteration metric was seen: {described.FailureReason}");
            return status == SecondaryStatus.Training && series.Any(m => m.MetricName == "validation:loss" && m.Iteration is not null) ? series : null;
        }, Wait, () => $"per-iteration metrics of {job} while it trains (last status {status})");
        var first = early.First(m => m.MetricName == "validation:loss");
        Assert.Equal(1, first.Iteration);
        Assert.Null(first.Replayed);

        DescribeTrainingJobResponse? done = null;
        await Poll.UntilAsync(async () =>
        {
            done = await sageMaker.DescribeTrainingJobAsync(job);
            return TrainingJobStatus.IsTerminal(done.TrainingJobStatus) ? done : null;
        }, Wait, () => $"job {job} to finish ({done?.SecondaryStatus})");
        Assert.True(done!.TrainingJobStatus == TrainingJobStatus.Completed, $"{done.FailureReason}\n{await sageMaker.GetLocalTrainingJobLogAsync(job)}");
        var all = await sageMaker.GetLocalTrainingJobMetricsAsync(job);
        Assert.Equal(Enumerable.Range(1, 400), all.Where(m => m.MetricName == "validation:loss").Select(m => m.Iteration ?? 0));
        Assert.Contains(done.FinalMetricDataList!, m => m.MetricName == "validation:auc");
        Assert.Contains("metric validation:loss=", await sageMaker.GetLocalTrainingJobLogAsync(job));

        // The job's model.tar.gz, registered by its S3 URI (what get-download-uri hands out), deployed on an endpoint.
        var artifact = done.ModelArtifacts!.S3ModelArtifacts;
        Assert.EndsWith($"/jobs/{job}/output/model.tar.gz", artifact);
        using var tracker = platform.CreateClient(ResourceNames.ExperimentTracker);
        var model = $"from-job-{Guid.NewGuid():N}"[..24];
        await PostOkAsync(tracker, "/api/2.0/mlflow/registered-models/create", new JsonObject { ["name"] = model });
        var version = await PostOkAsync(tracker, "/api/2.0/mlflow/model-versions/create", new JsonObject
        {
            ["name"] = model, ["source"] = artifact,
            ["tags"] = new JsonArray(new JsonObject { ["key"] = "sagemaker.training_job", ["value"] = job }),
        });
        var number = (string)version["model_version"]!["version"]!;
        var download = await tracker.GetFromJsonAsync<JsonObject>($"/api/2.0/mlflow/model-versions/get-download-uri?name={model}&version={number}");
        Assert.Equal(artifact, (string?)download!["artifact_uri"]);

        using var serving = platform.CreateClient(ResourceNames.Serving);
        var endpoint = $"job-{Guid.NewGuid():N}"[..20];
        var created = await serving.PostAsJsonAsync("/api/endpoints", new
        {
            name = endpoint, variants = new[] { new { name = "primary", model_name = model, model_version = number } },
        });
        Assert.True(created.StatusCode == HttpStatusCode.Created, $"creating {endpoint}: {(int)created.StatusCode} {await created.Content.ReadAsStringAsync()}");

        var rows = flights.Rows(1500, 40);
        var response = await serving.PostAsJsonAsync($"/endpoints/{endpoint}/invocations", new { instances = rows });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode} {text}");
        var served = JsonNode.Parse(text)!["predictions"]!.AsArray();
        Assert.All(served, p => Assert.Equal(number, (string?)p!["model_version"]));

        // The same archive unpacked and scored here.
        using var s3 = await platform.CreateS3ClientAsync();
        var work = Directory.CreateTempSubdirectory("mlops-served-");
        try
        {
            using (var archive = await s3.GetObjectAsync(ResourceNames.ArtifactBucket, $"jobs/{job}/output/model.tar.gz"))
            await using (var gzip = new GZipStream(archive.ResponseStream, CompressionMode.Decompress))
                await TarFile.ExtractToDirectoryAsync(gzip, work.FullName, overwriteFiles: true);
            using var package = ModelPackage.Load(work.FullName);
            var expected = package.Score(rows);
            Assert.Equal(expected.Select(p => p.Probability), served.Select(p => (float?)p!["probability"]));
            Assert.Equal(expected.Select(p => p.Score), served.Select(p => (float)p!["score"]!));
            Assert.Equal(expected.Select(p => (bool)p.PredictedLabel!), served.Select(p => (bool)p!["predicted_label"]!));
            Assert.Contains(expected, p => p.Probability is > 0 and < 1);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task AVersionWhoseArchiveIsMissing_Is400NamingIt_NotA500()
    {
        using var tracker = platform.CreateClient(ResourceNames.ExperimentTracker);
        var model = $"no-archive-{Guid.NewGuid():N}"[..24];
        var missing = $"s3://{ResourceNames.ArtifactBucket}/jobs/{model}/output/model.tar.gz";
        await PostOkAsync(tracker, "/api/2.0/mlflow/registered-models/create", new JsonObject { ["name"] = model });
        await PostOkAsync(tracker, "/api/2.0/mlflow/model-versions/create", new JsonObject { ["name"] = model, ["source"] = missing });

        using var serving = platform.CreateClient(ResourceNames.Serving);
        var response = await serving.PostAsJsonAsync("/api/endpoints", new
        {
            name = $"gone-{Guid.NewGuid():N}"[..20], variants = new[] { new { name = "primary", model_name = model, model_version = "1" } },
        });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode} {text}");
        Assert.Contains(missing, (string?)JsonNode.Parse(text)!["detail"] ?? "");
    }

    private static async Task<JsonObject> PostOkAsync(HttpClient client, string path, JsonObject body)
    {
        var response = await client.PostAsJsonAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!.AsObject();
    }
}
