using System.Diagnostics;
using System.Globalization;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Mlops;
using Mlops.SageMaker;
using Mlops.ServiceDefaults.Storage;

// The local training service's job overhead against the real AppHost (LocalProcesses, throwaway data, the platform's
// services left out), for a program that sleeps one second:
//   1. sequential jobs: CreateTrainingJob → the program's first line (start overhead), and the program's last line →
//      TrainingEndTime, i.e. Completed with model.tar.gz and output.tar.gz in S3 (end overhead); and Create → a client
//      polling every 20 ms first sees Completed;
//   2. N concurrent jobs (default 20): all complete, none lost, each with its model in S3; wall time.
// Usage: dotnet run -c Release --project benchmarks/TrainingService.Benchmarks [-- --jobs 10 --concurrent 20]
var sequential = Arg("--jobs", 10);
var concurrent = Arg("--concurrent", 20);
var data = Path.Combine(Path.GetTempPath(), $"ts-bench-{Guid.NewGuid():N}");
Console.WriteLine($"# Training service benchmarks {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, load average {Mlops.Benchmarks.Machine.LoadAverage()}");

var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(Mlops.Benchmarks.Machine.AppHostArguments(data));
Mlops.Benchmarks.ServiceUnderTest.Isolate(builder, ResourceNames.TrainingService);
builder.CreateResourceBuilder((ProjectResource)builder.Resources.Single(r => r.Name == ResourceNames.TrainingService))
    .WithEnvironment("TrainingService__Images__10__Name", "one-second")
    .WithEnvironment("TrainingService__Images__10__Command", "bash")
    .WithEnvironment("TrainingService__Images__10__Arguments__0", Path.Combine(AppContext.BaseDirectory, "one-second.sh"))
    .WithEnvironment("TrainingService__MaxConcurrentJobs", Math.Max(concurrent, 1).ToString(CultureInfo.InvariantCulture));
builder.Services.AddLogging(logging => logging.AddFilter((_, level) => level >= LogLevel.Warning));
await using var app = await builder.BuildAsync();
using (var start = new CancellationTokenSource(TimeSpan.FromMinutes(6)))
{
    await app.StartAsync(start.Token);
    await app.ResourceNotifications.WaitForResourceHealthyAsync(ResourceNames.TrainingService, start.Token);
}
var model = app.Services.GetRequiredService<DistributedApplicationModel>();
string Parameter(string name) => model.Resources.OfType<ParameterResource>().Single(p => p.Name == name).GetValueAsync(default).AsTask().Result!;
var client = new SageMakerClient(new HttpClient(), Options.Create(new SageMakerOptions
{
    ServiceUrl = app.GetEndpoint(ResourceNames.TrainingService, "http").ToString(), Region = "us-east-1",
    AccessKey = Parameter(ResourceNames.TrainingServiceAccessKey), SecretKey = Parameter(ResourceNames.TrainingServiceSecretKey),
}));
using var s3 = S3Extensions.CreateClient(new S3Options
{
    ServiceUrl = app.GetEndpoint(ResourceNames.S3, "http").ToString(), AccessKey = "S3RVER", SecretKey = Parameter(ResourceNames.S3SecretKey),
});
await s3.PutObjectAsync(new() { BucketName = ResourceNames.LakeBucket, Key = "bench/train/part-0.csv", ContentBody = "x\n1\n", UseChunkEncoding = false });

CreateTrainingJobRequest Job(string name) => new()
{
    TrainingJobName = name,
    AlgorithmSpecification = new() { TrainingImage = "one-second", TrainingInputMode = "File" },
    RoleArn = "arn:aws:iam::000000000000:role/bench",
    InputDataConfig = [new() { ChannelName = "train", DataSource = new() { S3DataSource = new() { S3DataType = "S3Prefix", S3Uri = $"s3://{ResourceNames.LakeBucket}/bench/train/" } } }],
    OutputDataConfig = new() { S3OutputPath = $"s3://{ResourceNames.ArtifactBucket}/bench" },
    ResourceConfig = new() { InstanceType = "ml.m5.large", InstanceCount = 1, VolumeSizeInGB = 1 },
    StoppingCondition = new() { MaxRuntimeInSeconds = 120 },
};

async Task<(DescribeTrainingJobResponse Job, DateTimeOffset Seen)> WaitAsync(string name)
{
    while (true)
    {
        var job = await client.DescribeTrainingJobAsync(name);
        if (TrainingJobStatus.IsTerminal(job.TrainingJobStatus))
            return (job, DateTimeOffset.UtcNow);
        await Task.Delay(20);
    }
}

static DateTimeOffset Stamp(string log, string marker) =>
    DateTimeOffset.FromUnixTimeMilliseconds((long)(double.Parse(log.Split('\n').Single(l => l.StartsWith(marker, StringComparison.Ordinal))[(marker.Length + 1)..],
        CultureInfo.InvariantCulture) * 1000));

// 1. Sequential (one warm-up job first, not counted: the first S3 calls and JIT).
var startOverhead = new List<double>();
var endOverhead = new List<double>();
var observed = new List<double>();
for (var i = 0; i <= sequential; i++)
{
    var name = $"seq-{i}-{Guid.NewGuid():N}"[..20];
    var created = DateTimeOffset.UtcNow;
    await client.CreateTrainingJobAsync(Job(name));
    var (job, seen) = await WaitAsync(name);
    if (job.TrainingJobStatus != TrainingJobStatus.Completed)
        throw new InvalidOperationException($"{name}: {job.TrainingJobStatus} {job.FailureReason}");
    var log = await client.GetLocalTrainingJobLogAsync(name);
    if (i == 0)
        continue;
    startOverhead.Add((Stamp(log, "program-start") - created).TotalMilliseconds);
    endOverhead.Add((job.TrainingEndTime!.Value - Stamp(log, "program-end")).TotalMilliseconds);
    observed.Add((seen - created).TotalMilliseconds);
}
static string Stats(List<double> ms)
{
    var sorted = ms.Order().ToList();
    return $"median {sorted[sorted.Count / 2]:0} ms, min {sorted[0]:0}, max {sorted[^1]:0}";
}
Console.WriteLine($"sequential 1-second jobs (n={sequential}):");
Console.WriteLine($"  Create → program start:              {Stats(startOverhead)}");
Console.WriteLine($"  program exit → Completed (artifacts): {Stats(endOverhead)}");
Console.WriteLine($"  Create → client sees Completed:      {Stats(observed)} (1 s of it is the program)");

// 2. Concurrent.
if (concurrent > 0)
{
    var clock = Stopwatch.StartNew();
    var names = Enumerable.Range(0, concurrent).Select(i => $"par-{i}-{Guid.NewGuid():N}"[..20]).ToList();
    await Task.WhenAll(names.Select(n => client.CreateTrainingJobAsync(Job(n))));
    var results = await Task.WhenAll(names.Select(WaitAsync));
    var wall = clock.Elapsed;
    var completed = results.Count(r => r.Job.TrainingJobStatus == TrainingJobStatus.Completed);
    var withModel = 0;
    foreach (var name in names)
    {
        var listed = await s3.ListObjectsV2Async(new() { BucketName = ResourceNames.ArtifactBucket, Prefix = $"bench/{name}/output/model.tar.gz" });
        withModel += listed.KeyCount ?? 0;
    }
    var lastEnd = results.Max(r => r.Job.TrainingEndTime!.Value) - results.Min(r => r.Job.CreationTime);
    Console.WriteLine($"{concurrent} concurrent 1-second jobs: {completed} Completed, {withModel} with model.tar.gz in S3, " +
        $"first Create → last TrainingEndTime {lastEnd.TotalSeconds:0.00} s, client wall time {wall.TotalSeconds:0.00} s; " +
        $"statuses: {string.Join(", ", results.GroupBy(r => r.Job.TrainingJobStatus).Select(g => $"{g.Key} {g.Count()}"))}");
}
Console.WriteLine($"load average after: {Mlops.Benchmarks.Machine.LoadAverage()}");
await app.StopAsync();
try { Directory.Delete(data, recursive: true); } catch (IOException) { }

static int Arg(string name, int fallback)
{
    var args = Environment.GetCommandLineArgs();
    var at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
}
