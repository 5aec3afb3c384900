using System.Diagnostics;
using Aspire.Hosting.Testing;

namespace Mlops.Tests;

/// <summary>
/// SageMaker compatibility checked with a client nobody here wrote: boto3 (Debian's python3-boto3, installed by
/// eng/bootstrap.sh) runs a job on the local training service and reads every answer (<c>training/boto3_client.py</c>).
/// </summary>
public sealed class Boto3ClientTests(PlatformFixture platform)
{
    [Fact]
    public async Task Boto3_CreatesDescribesListsAndIsRefusedWithAWrongSecret()
    {
        var name = $"boto3-{Guid.NewGuid():N}";
        using var s3 = await platform.CreateS3ClientAsync();
        await s3.PutObjectAsync(new() { BucketName = ResourceNames.LakeBucket, Key = $"training-tests/{name}/train/a.csv", ContentBody = "a\n1\n", UseChunkEncoding = false });
        var start = new ProcessStartInfo("python3", [Path.Combine(AppContext.BaseDirectory, "training", "boto3_client.py")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment =
            {
                ["SM_ENDPOINT"] = platform.App.GetEndpoint(ResourceNames.TrainingService, "http").ToString(),
                ["SM_ACCESS_KEY"] = await platform.ParameterAsync(ResourceNames.TrainingServiceAccessKey),
                ["SM_SECRET_KEY"] = await platform.ParameterAsync(ResourceNames.TrainingServiceSecretKey),
                ["JOB_NAME"] = name,
                ["TRAIN_URI"] = $"s3://{ResourceNames.LakeBucket}/training-tests/{name}/train/",
                ["OUTPUT_PATH"] = $"s3://{ResourceNames.ArtifactBucket}/jobs",
                ["IMAGE"] = PlatformFixture.ByoImage,
                // No AWS settings of the machine leak in (a profile's region or credentials would change what is signed).
                ["AWS_CONFIG_FILE"] = "/nonexistent", ["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent",
            },
        };
        using var python = Process.Start(start) ?? throw new InvalidOperationException("python3 could not be started");
        var stdout = python.StandardOutput.ReadToEndAsync();
        var stderr = python.StandardError.ReadToEndAsync();
        await python.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token);
        Assert.True(python.ExitCode == 0,
            $"boto3 checks failed (exit {python.ExitCode}; without boto3: apt-get install python3-boto3):\n{await stdout}\n{await stderr}");
        Assert.Contains("all checks passed", await stdout);
    }
}
