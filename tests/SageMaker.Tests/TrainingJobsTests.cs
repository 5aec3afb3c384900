using System.Diagnostics;
using System.Net;
using System.Text;
using Microsoft.Extensions.Options;

namespace Mlops.SageMaker.Tests;

public sealed class TrainingJobsTests
{
    private static readonly TrainerJobRequest Request = new("job-7", "s3://lake/snapshots/a/data.parquet", "s3://lake/snapshots/b/data.parquet",
        "fasttree", new Dictionary<string, string> { ["num_trees"] = "50" });

    [Fact]
    public void BuildRequest_MakesParquetChannelsTheTrainersMetricsAndTheAlgorithmHyperparameter()
    {
        var request = Jobs(new Queue<string>()).BuildRequest(Request);
        Assert.Equal(["train", "validation"], request.InputDataConfig!.Select(c => c.ChannelName));
        Assert.All(request.InputDataConfig!, c => Assert.Equal("application/x-parquet", c.ContentType));
        Assert.Equal("s3://lake/snapshots/a/data.parquet", request.InputDataConfig![0].DataSource.S3DataSource!.S3Uri);
        Assert.Equal("fasttree", request.HyperParameters!["algorithm"]);
        Assert.Equal("50", request.HyperParameters!["num_trees"]);
        Assert.Equal("trainer:9", request.AlgorithmSpecification.TrainingImage);
        Assert.Contains(request.AlgorithmSpecification.MetricDefinitions!, m => m.Name == "validation:auc" && m.Regex == "metric validation:auc=([0-9.eE+-]+)");
        Assert.Equal(3600, request.StoppingCondition.MaxRuntimeInSeconds);
    }

    [Fact]
    public async Task RunAsync_PollsUntilTerminal_ReportsEachStatusOnce_AndTracesTheJob()
    {
        var answers = new Queue<string>([
            """{"TrainingJobArn":"arn:job-7"}""",
            Describe("InProgress", "Downloading"), Describe("InProgress", "Training"), Describe("InProgress", "Training"),
            Describe("Completed", "Completed", ""","FinalMetricDataList":[{"MetricName":"validation:auc","Value":0.71,"Timestamp":1}]"""),
        ]);
        var activities = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == TrainingJobs.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activities.Add,
        };
        ActivitySource.AddActivityListener(listener);
        var reported = new List<string>();

        var job = await Jobs(answers).RunAsync(Request, new SynchronousProgress(j => reported.Add(j.SecondaryStatus)));

        Assert.Equal(TrainingJobStatus.Completed, job.TrainingJobStatus);
        Assert.Equal(["Downloading", "Training", "Completed"], reported);
        var span = Assert.Single(activities, a => a.OperationName == "training-job");
        Assert.Equal("job-7", span.GetTagItem("training_job.name"));
        Assert.Equal("Completed", span.GetTagItem("training_job.status"));
        Assert.Equal("0.71", span.GetTagItem("training_job.metric.validation:auc"));
        Assert.Empty(answers);
    }

    private static string Describe(string status, string secondary, string extra = "") =>
        $$"""{"TrainingJobName":"job-7","TrainingJobArn":"arn:job-7","TrainingJobStatus":"{{status}}","SecondaryStatus":"{{secondary}}","CreationTime":1{{extra}}}""";

    private static TrainingJobs Jobs(Queue<string> answers)
    {
        var http = new HttpClient(new QueueHandler(answers));
        var client = new SageMakerClient(http, Options.Create(new SageMakerOptions
        {
            ServiceUrl = "http://sagemaker.test", Region = "us-east-1", AccessKey = "a", SecretKey = "b",
        }));
        return new TrainingJobs(client, Options.Create(new TrainingOptions { TrainerImage = "trainer:9" }), new InstantTime());
    }

    private sealed class QueueHandler(Queue<string> answers) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(answers.Dequeue(), Encoding.UTF8, "application/x-amz-json-1.1") });
    }

    private sealed class SynchronousProgress(Action<DescribeTrainingJobResponse> report) : IProgress<DescribeTrainingJobResponse>
    {
        public void Report(DescribeTrainingJobResponse value) => report(value);
    }

    // Every delay elapses at once, so the poller's back-off (1 s doubling) costs the test nothing.
    private sealed class InstantTime : TimeProvider
    {
        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => new Instant(callback, state);

        private sealed class Instant : ITimer
        {
            public Instant(TimerCallback callback, object? state) => ThreadPool.QueueUserWorkItem(_ => callback(state));
            public bool Change(TimeSpan dueTime, TimeSpan period) => true;
            public void Dispose() { }
            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }
}
