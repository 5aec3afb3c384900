using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;

namespace Mlops.SageMaker.Tests;

public sealed class SageMakerClientTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);

    private static CreateTrainingJobRequest SampleRequest() => new()
    {
        TrainingJobName = "flights-delay-1",
        AlgorithmSpecification = new()
        {
            TrainingImage = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-trainer:latest",
            TrainingInputMode = "File",
            MetricDefinitions = [new("validation:auc", "metric validation:auc=([0-9.eE+-]+)")],
        },
        RoleArn = "arn:aws:iam::123456789012:role/mlops-training",
        InputDataConfig =
        [
            new()
            {
                ChannelName = "train",
                DataSource = new() { S3DataSource = new() { S3DataType = "S3Prefix", S3Uri = "s3://lake/train/", S3DataDistributionType = "FullyReplicated" } },
                ContentType = "application/x-parquet",
            },
        ],
        OutputDataConfig = new() { S3OutputPath = "s3://artifacts/jobs" },
        ResourceConfig = new() { InstanceType = "ml.m5.xlarge", InstanceCount = 1, VolumeSizeInGB = 10 },
        StoppingCondition = new() { MaxRuntimeInSeconds = 3600 },
        HyperParameters = new Dictionary<string, string> { ["algorithm"] = "lightgbm", ["num_iterations"] = "50" },
    };

    [Fact]
    public async Task CreateTrainingJob_SendsTheApiReferenceShape()
    {
        var handler = new FakeHandler(_ => Json(HttpStatusCode.OK, """{"TrainingJobArn":"arn:aws:sagemaker:us-east-1:000000000000:training-job/flights-delay-1"}"""));
        var response = await Client(handler).CreateTrainingJobAsync(SampleRequest());

        Assert.Equal("arn:aws:sagemaker:us-east-1:000000000000:training-job/flights-delay-1", response.TrainingJobArn);
        // The request syntax of CreateTrainingJob in the SageMaker API reference, with the optional members left out.
        var expected = JsonNode.Parse("""
            {
              "TrainingJobName": "flights-delay-1",
              "AlgorithmSpecification": {
                "TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-trainer:latest",
                "TrainingInputMode": "File",
                "MetricDefinitions": [ { "Name": "validation:auc", "Regex": "metric validation:auc=([0-9.eE+-]+)" } ]
              },
              "RoleArn": "arn:aws:iam::123456789012:role/mlops-training",
              "InputDataConfig": [ {
                "ChannelName": "train",
                "DataSource": { "S3DataSource": { "S3DataType": "S3Prefix", "S3Uri": "s3://lake/train/", "S3DataDistributionType": "FullyReplicated" } },
                "ContentType": "application/x-parquet"
              } ],
              "OutputDataConfig": { "S3OutputPath": "s3://artifacts/jobs" },
              "ResourceConfig": { "InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10 },
              "StoppingCondition": { "MaxRuntimeInSeconds": 3600 },
              "HyperParameters": { "algorithm": "lightgbm", "num_iterations": "50" }
            }
            """);
        var sent = Assert.Single(handler.Requests);
        Assert.True(JsonNode.DeepEquals(expected, JsonNode.Parse(sent.Body)), sent.Body);
        Assert.Equal("SageMaker.CreateTrainingJob", sent.Headers["X-Amz-Target"]);
        Assert.Equal("application/x-amz-json-1.1", sent.Headers["Content-Type"]);
        Assert.Equal("20261201T100000Z", sent.Headers["X-Amz-Date"]);
        Assert.StartsWith("AWS4-HMAC-SHA256 Credential=AKIDTEST/20261201/eu-west-1/sagemaker/aws4_request, SignedHeaders=", sent.Headers["Authorization"]);
        Assert.Contains("x-amz-target", sent.Headers["Authorization"]);
    }

    [Fact]
    public async Task Requests_AreSignedVerifiably()
    {
        var handler = new FakeHandler(_ => Json(HttpStatusCode.OK, "{}"));
        await Client(handler).StopTrainingJobAsync("job-1");
        var sent = Assert.Single(handler.Requests);
        var auth = SigV4.ParseAuthorization(sent.Headers["Authorization"])!;
        var headers = auth.SignedHeaders.Select(h => new KeyValuePair<string, string>(h, h == "host" ? "sagemaker.test" : sent.Headers[h])).ToList();
        var expected = SigV4.Sign(new SigV4Request("POST", "/", [], headers, SigV4.Sha256Hex(Encoding.UTF8.GetBytes(sent.Body))),
            "AKIDTEST", "secret", "eu-west-1", "sagemaker", Now);
        Assert.Equal(expected.Signature, auth.Signature);
        Assert.Equal("""{"TrainingJobName":"job-1"}""", sent.Body);
    }

    [Fact]
    public async Task DescribeTrainingJob_ReadsEpochSecondsAndIgnoresUnknownFields()
    {
        var handler = new FakeHandler(_ => Json(HttpStatusCode.OK, """
            {"TrainingJobName":"j","TrainingJobArn":"arn:j","TrainingJobStatus":"Completed","SecondaryStatus":"Completed",
             "CreationTime":1.764583200123E9,"TrainingStartTime":1764583201,"SomethingNew":{"Nested":[1,2]},
             "FinalMetricDataList":[{"MetricName":"loss","Value":0.25,"Timestamp":1764583210.5}],
             "SecondaryStatusTransitions":[{"Status":"Starting","StartTime":1764583200,"EndTime":1764583201,"StatusMessage":"Preparing"}],
             "ModelArtifacts":{"S3ModelArtifacts":"s3://b/j/output/model.tar.gz"}}
            """));
        var job = await Client(handler).DescribeTrainingJobAsync("j");
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_764_583_200_123), job.CreationTime);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_764_583_201), job.TrainingStartTime);
        Assert.Null(job.TrainingEndTime);
        Assert.Equal(0.25, Assert.Single(job.FinalMetricDataList!).Value);
        Assert.Equal("s3://b/j/output/model.tar.gz", job.ModelArtifacts!.S3ModelArtifacts);
        Assert.Equal("Preparing", Assert.Single(job.SecondaryStatusTransitions!).StatusMessage);
    }

    [Fact]
    public void Timestamps_AreWrittenAsEpochSecondsNumbers()
    {
        var json = JsonSerializer.Serialize(new MetricData { MetricName = "m", Value = 1, Timestamp = DateTimeOffset.FromUnixTimeMilliseconds(1_764_583_200_500) },
            SageMakerJson.Options);
        Assert.Equal("""{"MetricName":"m","Value":1,"Timestamp":1764583200.5}""", json);
    }

    [Theory]
    [InlineData(null, """{"__type":"ValidationException","message":"Training job names must be unique"}""", "ValidationException", "Training job names must be unique")]
    [InlineData(null, """{"__type":"com.amazonaws.sagemaker#ResourceNotFound","Message":"Job j not found"}""", "ResourceNotFound", "Job j not found")]
    [InlineData("ResourceLimitExceeded:http://internal", """{"message":"limit"}""", "ResourceLimitExceeded", "limit")]
    [InlineData(null, "<html>gateway</html>", "Http400", "<html>gateway</html>")]
    public async Task Errors_MapToCodeAndMessage(string? typeHeader, string body, string code, string message)
    {
        var handler = new FakeHandler(_ =>
        {
            var response = Json(HttpStatusCode.BadRequest, body);
            if (typeHeader is not null)
                response.Headers.TryAddWithoutValidation("x-amzn-ErrorType", typeHeader);
            return response;
        });
        var error = await Assert.ThrowsAsync<SageMakerException>(() => Client(handler).DescribeTrainingJobAsync("j"));
        Assert.Equal((code, message, 400), (error.ErrorCode, error.ErrorMessage, error.StatusCode));
        Assert.Single(handler.Requests);
    }

    [Fact]
    public void NotFound_CoversRealSageMakersValidationException()
    {
        Assert.True(new SageMakerException("ValidationException", "Requested resource not found.", 400).IsNotFound);
        Assert.True(new SageMakerException("ResourceNotFound", "x", 400).IsNotFound);
        Assert.False(new SageMakerException("ValidationException", "bad name", 400).IsNotFound);
    }

    [Fact]
    public async Task Throttling_IsRetriedWithBackOff()
    {
        var calls = 0;
        var handler = new FakeHandler(_ => ++calls < 3
            ? Json(HttpStatusCode.BadRequest, """{"__type":"ThrottlingException","message":"Rate exceeded"}""")
            : Json(HttpStatusCode.OK, """{"TrainingJobSummaries":[]}"""));
        var response = await Client(handler).ListTrainingJobsAsync(new() { MaxResults = 10 });
        Assert.Empty(response.TrainingJobSummaries);
        Assert.Equal(3, handler.Requests.Count);
    }

    [Fact]
    public async Task Throttling_GivesUpAfterMaxRetries()
    {
        var handler = new FakeHandler(_ => Json(HttpStatusCode.BadRequest, """{"__type":"ThrottlingException","message":"Rate exceeded"}"""));
        var error = await Assert.ThrowsAsync<SageMakerException>(() => Client(handler, maxRetries: 2).ListTrainingJobsAsync(new()));
        Assert.Equal("ThrottlingException", error.ErrorCode);
        Assert.Equal(3, handler.Requests.Count);
    }

    [Fact]
    public void Endpoint_IsRegionalWithoutServiceUrl()
    {
        var client = new SageMakerClient(new HttpClient(), Options.Create(new SageMakerOptions { Region = "eu-central-1", AccessKey = "a", SecretKey = "b" }));
        Assert.Equal(new Uri("https://api.sagemaker.eu-central-1.amazonaws.com/"), client.Endpoint);
    }

    private static SageMakerClient Client(FakeHandler handler, int maxRetries = 5) =>
        new(new HttpClient(handler), Options.Create(new SageMakerOptions
        {
            ServiceUrl = "http://sagemaker.test", Region = "eu-west-1", AccessKey = "AKIDTEST", SecretKey = "secret",
            MaxRetries = maxRetries, RetryBaseDelay = TimeSpan.FromMilliseconds(1),
        }), new FixedTime(Now));

    private static HttpResponseMessage Json(HttpStatusCode status, string body) =>
        new(status) { Content = new StringContent(body, Encoding.UTF8, "application/x-amz-json-1.1") };

    private sealed record SentRequest(string Body, Dictionary<string, string> Headers);

    private sealed class FakeHandler(Func<HttpRequestMessage, HttpResponseMessage> respond) : HttpMessageHandler
    {
        public List<SentRequest> Requests { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken);
            var headers = request.Headers.Concat(request.Content?.Headers.AsEnumerable() ?? [])
                .ToDictionary(h => h.Key, h => string.Join(",", h.Value), StringComparer.OrdinalIgnoreCase);
            Requests.Add(new SentRequest(body, headers));
            return respond(request);
        }
    }

    // Real delays stay real (Task.Delay with this provider uses its timers); only the clock reads are fixed.
    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
