using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Amazon.S3;
using Aspire.Hosting.Testing;
using Mlops.SageMaker;

namespace Mlops.Tests;

/// <summary>Training jobs through SageMaker's API against the local training service the AppHost runs.</summary>
public sealed class TrainingJobTests(PlatformFixture platform)
{
    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task ByoScript_Completes_ItsMetricIsInFinalMetricDataList_AndItsArtifactsAreInS3()
    {
        var client = await platform.CreateSageMakerClientAsync();
        var s3 = await platform.CreateS3ClientAsync();
        var name = UniqueName("byo");
        var train = await UploadAsync(s3, name, "train/part-0.csv", "x,y\n1,2\n");

        await client.CreateTrainingJobAsync(ByoJob(name, train, new() { ["loss"] = "0.125" }));
        var job = await WaitTerminalAsync(client, name);

        Assert.Equal(TrainingJobStatus.Completed, job.TrainingJobStatus);
        var loss = Assert.Single(job.FinalMetricDataList!);
        Assert.Equal(("loss", 0.125), (loss.MetricName, loss.Value));
        Assert.Equal([SecondaryStatus.Starting, SecondaryStatus.Downloading, SecondaryStatus.Training, SecondaryStatus.Uploading, SecondaryStatus.Completed],
            job.SecondaryStatusTransitions!.Select(t => t.Status));
        Assert.All(job.SecondaryStatusTransitions!.SkipLast(1), t => Assert.True(t.EndTime >= t.StartTime));
        Assert.True(job.TrainingEndTime >= job.TrainingStartTime && job.TrainingStartTime >= job.CreationTime);

        var modelKey = $"jobs/{name}/output/model.tar.gz";
        Assert.Equal($"s3://{ResourceNames.ArtifactBucket}/{modelKey}", job.ModelArtifacts!.S3ModelArtifacts);
        var model = await ReadTarGzAsync(s3, modelKey);
        Assert.Equal("trained on x,y\n1,2\n", model["model.txt"]);
        var output = await ReadTarGzAsync(s3, $"jobs/{name}/output/output.tar.gz");
        Assert.Contains("0.125", output["metrics.json"]);

        var series = await client.GetLocalTrainingJobMetricsAsync(name);
        Assert.Equal([0.9, 0.125], series.Select(m => m.Value));
        Assert.All(series, m => Assert.Equal("loss", m.MetricName));
        Assert.Equal([1, 2], series.Select(m => m.Iteration));

        var log = await client.GetLocalTrainingJobLogAsync(name);
        Assert.Contains("metric loss=0.9 iteration=1", log);
        Assert.Contains("metric loss=0.125 iteration=2", log);

        var listed = await client.ListTrainingJobsAsync(new() { NameContains = name });
        Assert.Equal(TrainingJobStatus.Completed, Assert.Single(listed.TrainingJobSummaries).TrainingJobStatus);
    }

    [Fact]
    public async Task ByoScript_MetricsAreVisibleWhileTheJobRuns_AndStopTrainingJobStopsIt()
    {
        var client = await platform.CreateSageMakerClientAsync();
        var s3 = await platform.CreateS3ClientAsync();
        var name = UniqueName("stop");
        var train = await UploadAsync(s3, name, "train/a.csv", "a\n1\n");
        await client.CreateTrainingJobAsync(ByoJob(name, train, new() { ["loss"] = "0.5", ["sleep_seconds"] = "600" }));

        var running = await Poll.UntilAsync(async () =>
        {
            var job = await client.DescribeTrainingJobAsync(name);
            return job.FinalMetricDataList is { Count: > 0 } ? job : null;
        }, JobTimeout, "the first metric of a running job");
        Assert.Equal(TrainingJobStatus.InProgress, running.TrainingJobStatus);
        Assert.Equal(0.9, running.FinalMetricDataList![0].Value);

        await client.StopTrainingJobAsync(name);
        var stopped = await WaitTerminalAsync(client, name);
        Assert.Equal((TrainingJobStatus.Stopped, SecondaryStatus.Stopped), (stopped.TrainingJobStatus, stopped.SecondaryStatus));
        Assert.Contains(stopped.SecondaryStatusTransitions!, t => t.Status == SecondaryStatus.Stopping);
        Assert.True(stopped.TrainingEndTime - running.LastModifiedTime < TimeSpan.FromSeconds(30), "the stop took the whole sleep");

        var again = await Assert.ThrowsAsync<SageMakerException>(() => client.StopTrainingJobAsync(name));
        Assert.Equal(SageMakerErrors.ValidationException, again.ErrorCode);
    }

    [Fact]
    public async Task ByoScript_MaxRuntimeInSeconds_StopsALongJob()
    {
        var client = await platform.CreateSageMakerClientAsync();
        var s3 = await platform.CreateS3ClientAsync();
        var name = UniqueName("maxrt");
        var train = await UploadAsync(s3, name, "train/a.csv", "a\n1\n");
        await client.CreateTrainingJobAsync(ByoJob(name, train, new() { ["sleep_seconds"] = "600" }) with
        {
            StoppingCondition = new() { MaxRuntimeInSeconds = 2 },
        });

        var job = await WaitTerminalAsync(client, name);
        Assert.Equal((TrainingJobStatus.Stopped, SecondaryStatus.MaxRuntimeExceeded), (job.TrainingJobStatus, job.SecondaryStatus));
        Assert.InRange((job.TrainingEndTime!.Value - job.CreationTime).TotalSeconds, 1.5, 20);
    }

    [Fact]
    public async Task ByoScript_Failure_IsTheFailureReason()
    {
        var client = await platform.CreateSageMakerClientAsync();
        var s3 = await platform.CreateS3ClientAsync();
        var name = UniqueName("fail");
        var train = await UploadAsync(s3, name, "train/a.csv", "a\n1\n");
        await client.CreateTrainingJobAsync(ByoJob(name, train, new() { ["fail"] = "the loss diverged at iteration 3" }));

        var job = await WaitTerminalAsync(client, name);
        Assert.Equal((TrainingJobStatus.Failed, SecondaryStatus.Failed), (job.TrainingJobStatus, job.SecondaryStatus));
        Assert.Equal("the loss diverged at iteration 3", job.FailureReason);
        Assert.Contains("failing: the loss diverged", await client.GetLocalTrainingJobLogAsync(name));
    }

    [Fact]
    public async Task Trainer_BadHyperparameter_FailsWithTheTrainersOutputFailure()
    {
        var client = await platform.CreateSageMakerClientAsync();
        var s3 = await platform.CreateS3ClientAsync();
        var name = UniqueName("trainer-bad");
        var csv = "distance,label\n" + string.Join("\n", Enumerable.Range(0, 40).Select(i => $"{i * 10},{i % 2}")) + "\n";
        var train = await UploadAsync(s3, name, "train/train.csv", csv);
        var validation = await UploadAsync(s3, name, "validation/validation.csv", csv);
        await client.CreateTrainingJobAsync(ByoJob(name, train, new() { ["algorithm"] = "no-such-learner" }) with
        {
            AlgorithmSpecification = new() { TrainingImage = "mlops-trainer:latest", TrainingInputMode = "File" },
            InputDataConfig = [Channel("train", train, "text/csv"), Channel("validation", validation, "text/csv")],
        });

        var job = await WaitTerminalAsync(client, name);
        Assert.Equal(TrainingJobStatus.Failed, job.TrainingJobStatus);
        Assert.Contains("no-such-learner", job.FailureReason);
        Assert.Contains("lightgbm", job.FailureReason);
    }

    [Fact]
    public async Task MissingChannelData_FailsTheJobNamingTheChannelAndUri()
    {
        var client = await platform.CreateSageMakerClientAsync();
        var name = UniqueName("missing");
        var uri = $"s3://{ResourceNames.LakeBucket}/training-tests/{name}/nothing-here/";
        await client.CreateTrainingJobAsync(ByoJob(name, uri, []));

        var job = await WaitTerminalAsync(client, name);
        Assert.Equal(TrainingJobStatus.Failed, job.TrainingJobStatus);
        Assert.Contains("'train'", job.FailureReason);
        Assert.Contains(uri, job.FailureReason);
    }

    [Fact]
    public async Task BadRequests_AreSageMakerErrors()
    {
        var client = await platform.CreateSageMakerClientAsync();
        var name = UniqueName("bad");
        var uri = $"s3://{ResourceNames.LakeBucket}/training-tests/{name}/";

        var image = await Assert.ThrowsAsync<SageMakerException>(() => client.CreateTrainingJobAsync(ByoJob(name, uri, []) with
        {
            AlgorithmSpecification = new() { TrainingImage = "no-such-image:1", TrainingInputMode = "File" },
        }));
        Assert.Equal((SageMakerErrors.ValidationException, 400), (image.ErrorCode, image.StatusCode));
        Assert.Contains("mlops-trainer", image.ErrorMessage);
        Assert.Contains(PlatformFixture.ByoImage, image.ErrorMessage);

        var notFound = await Assert.ThrowsAsync<SageMakerException>(() => client.DescribeTrainingJobAsync(name));
        Assert.True(notFound.IsNotFound, notFound.Message);

        await client.CreateTrainingJobAsync(ByoJob(name, uri, []));
        var duplicate = await Assert.ThrowsAsync<SageMakerException>(() => client.CreateTrainingJobAsync(ByoJob(name, uri, [])));
        Assert.Equal(SageMakerErrors.ValidationException, duplicate.ErrorCode);
        Assert.Contains("unique", duplicate.ErrorMessage);

        using var http = new HttpClient();
        var unsigned = await http.PostAsync(platform.App.GetEndpoint(ResourceNames.TrainingService, "http"),
            new StringContent("{}", Encoding.UTF8, SageMakerJson.ContentType));
        Assert.Equal(403, (int)unsigned.StatusCode);
        Assert.Contains(SageMakerErrors.MissingAuthenticationToken, await unsigned.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task MalformedRequests_Are400sNamingTheProblem()
    {
        async Task<(int Status, string Type, string Message)> SendAsync(string target, string body)
        {
            var endpoint = platform.App.GetEndpoint(ResourceNames.TrainingService, "http");
            var accessKey = await platform.ParameterAsync(ResourceNames.TrainingServiceAccessKey);
            var secretKey = await platform.ParameterAsync(ResourceNames.TrainingServiceSecretKey);
            var now = DateTimeOffset.UtcNow;
            var amzDate = now.UtcDateTime.ToString(SigV4.DateFormat, System.Globalization.CultureInfo.InvariantCulture);
            var bytes = Encoding.UTF8.GetBytes(body);
            var signature = SigV4.Sign(new SigV4Request("POST", "/", [],
                [new("host", endpoint.Authority), new("x-amz-date", amzDate), new("x-amz-target", target), new("content-type", SageMakerJson.ContentType)],
                SigV4.Sha256Hex(bytes)), accessKey, secretKey, "us-east-1", "sagemaker", now);
            using var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new ByteArrayContent(bytes) };
            request.Content.Headers.ContentType = new(SageMakerJson.ContentType);
            request.Headers.TryAddWithoutValidation("X-Amz-Date", amzDate);
            request.Headers.TryAddWithoutValidation("X-Amz-Target", target);
            request.Headers.TryAddWithoutValidation("Authorization", signature.Authorization);
            using var http = new HttpClient();
            using var response = await http.SendAsync(request);
            var error = System.Text.Json.JsonSerializer.Deserialize<SageMakerErrorBody>(await response.Content.ReadAsStringAsync())!;
            return ((int)response.StatusCode, error.Type, error.Message);
        }

        var notJson = await SendAsync("SageMaker.CreateTrainingJob", "{\"TrainingJobName\": ");
        Assert.Equal((400, SageMakerErrors.SerializationException), (notJson.Status, notJson.Type));
        var missing = await SendAsync("SageMaker.CreateTrainingJob", """{"TrainingJobName": "x", "AlgorithmSpecification": {"TrainingInputMode": "File"}}""");
        Assert.Equal((400, SageMakerErrors.ValidationException), (missing.Status, missing.Type));
        Assert.Contains("RoleArn", missing.Message);
        var badName = await SendAsync("SageMaker.DescribeTrainingJob", """{"TrainingJobName": "not_valid!"}""");
        Assert.Equal((400, SageMakerErrors.ValidationException), (badName.Status, badName.Type));
        Assert.Contains("trainingJobName", badName.Message);
        var unknown = await SendAsync("SageMaker.CreateEndpoint", "{}");
        Assert.Equal((400, SageMakerErrors.UnknownOperationException), (unknown.Status, unknown.Type));
    }

    // Runs alone: TrainingJobTestsFaults.
    internal async Task PastMaxConcurrentJobs_CreateIsResourceLimitExceeded()
    {
        var client = await platform.CreateSageMakerClientAsync();
        var s3 = await platform.CreateS3ClientAsync();
        var prefix = UniqueName("limit");
        var train = await UploadAsync(s3, prefix, "train/a.csv", "a\n1\n");
        // The service's default limit is 8. Jobs of other work may be running (the sample's loop trains in the background),
        // so fill up to the limit from whatever runs now: the refusal must come by the ninth create, say limit 8 and
        // utilisation 8.
        var names = new List<string>();
        try
        {
            SageMakerException? refused = null;
            for (var i = 0; i < 9 && refused is null; i++)
            {
                var name = $"{prefix[..30]}-{i}";
                try
                {
                    await client.CreateTrainingJobAsync(ByoJob(name, train, new() { ["sleep_seconds"] = "600" }));
                    names.Add(name);
                }
                catch (SageMakerException e)
                {
                    refused = e;
                }
            }
            Assert.NotNull(refused);
            Assert.Equal((SageMakerErrors.ResourceLimitExceeded, 400), (refused.ErrorCode, refused.StatusCode));
            Assert.Contains("is 8 jobs, with current utilization of 8 jobs", refused.Message);
        }
        finally
        {
            foreach (var name in names)
                try { await client.StopTrainingJobAsync(name); } catch (SageMakerException) { }
            foreach (var name in names)
                try { await WaitTerminalAsync(client, name); } catch (SageMakerException) { }
        }
    }

    [Fact]
    public async Task WrongSecret_IsRefused()
    {
        var client = await platform.CreateSageMakerClientAsync(secretKey: "not-the-secret-key-of-this-service");
        var error = await Assert.ThrowsAsync<SageMakerException>(() => client.ListTrainingJobsAsync(new()));
        Assert.Equal((SageMakerErrors.InvalidSignatureException, 403), (error.ErrorCode, error.StatusCode));
    }

    private static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(63, prefix.Length + 33)];

    private static CreateTrainingJobRequest ByoJob(string name, string trainUri, Dictionary<string, string> hyperParameters) => new()
    {
        TrainingJobName = name,
        AlgorithmSpecification = new()
        {
            TrainingImage = PlatformFixture.ByoImage,
            TrainingInputMode = "File",
            MetricDefinitions = [new("loss", "metric loss=([0-9.eE+-]+)")],
        },
        RoleArn = "arn:aws:iam::000000000000:role/mlops-training",
        InputDataConfig = [Channel("train", trainUri, "text/csv")],
        OutputDataConfig = new() { S3OutputPath = $"s3://{ResourceNames.ArtifactBucket}/jobs" },
        ResourceConfig = new() { InstanceType = "ml.m5.large", InstanceCount = 1, VolumeSizeInGB = 1 },
        StoppingCondition = new() { MaxRuntimeInSeconds = 300 },
        HyperParameters = hyperParameters,
    };

    private static Channel Channel(string name, string uri, string contentType) => new()
    {
        ChannelName = name,
        ContentType = contentType,
        DataSource = new() { S3DataSource = new() { S3DataType = "S3Prefix", S3Uri = uri, S3DataDistributionType = "FullyReplicated" } },
    };

    /// <summary>Puts <paramref name="content"/> under the test's own prefix and answers the S3 URI of its folder.</summary>
    private static async Task<string> UploadAsync(IAmazonS3 s3, string test, string path, string content)
    {
        var key = $"training-tests/{test}/{path}";
        await s3.PutObjectAsync(new() { BucketName = ResourceNames.LakeBucket, Key = key, ContentBody = content, UseChunkEncoding = false });
        return $"s3://{ResourceNames.LakeBucket}/{key[..(key.LastIndexOf('/') + 1)]}";
    }

    private static async Task<DescribeTrainingJobResponse> WaitTerminalAsync(SageMakerClient client, string name)
    {
        DescribeTrainingJobResponse? last = null;
        return await Poll.UntilAsync(async () =>
        {
            last = await client.DescribeTrainingJobAsync(name);
            return TrainingJobStatus.IsTerminal(last.TrainingJobStatus) ? last : null;
        }, JobTimeout, () => $"job {name} to finish (last: {last?.TrainingJobStatus}/{last?.SecondaryStatus})");
    }

    private static async Task<Dictionary<string, string>> ReadTarGzAsync(IAmazonS3 s3, string key)
    {
        using var response = await s3.GetObjectAsync(ResourceNames.ArtifactBucket, key);
        await using var gzip = new GZipStream(response.ResponseStream, CompressionMode.Decompress);
        await using var tar = new TarReader(gzip);
        var files = new Dictionary<string, string>();
        while (await tar.GetNextEntryAsync() is { } entry)
            if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile && entry.DataStream is not null)
                files[entry.Name.TrimStart('.', '/')] = await new StreamReader(entry.DataStream).ReadToEndAsync();
        return files;
    }
}

/// <summary>The test of <see cref="TrainingJobTests"/> that takes every training slot: in the faults collection, so it runs alone.</summary>
[Collection(FaultsCollection.Name)]
public sealed class TrainingJobTestsFaults(PlatformFixture platform)
{
    [Fact]
    public Task PastMaxConcurrentJobs_CreateIsResourceLimitExceeded() => new TrainingJobTests(platform).PastMaxConcurrentJobs_CreateIsResourceLimitExceeded();
}
