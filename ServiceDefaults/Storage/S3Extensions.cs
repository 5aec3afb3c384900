using System.ComponentModel.DataAnnotations;
using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Mlops.ServiceDefaults.Storage;

/// <summary>Where S3 is. Empty <see cref="ServiceUrl"/> means real AWS with the default credentials chain.</summary>
public sealed class S3Options
{
    public const string Section = "S3";
    /// <summary>An S3-compatible endpoint (s3rver, LocalStack); also turns on emulator-safe settings.</summary>
    public string? ServiceUrl { get; set; }
    public string Region { get; set; } = "us-east-1";
    public bool ForcePathStyle { get; set; }
    public string? AccessKey { get; set; }
    public string? SecretKey { get; set; }
}

public sealed class StorageOptions
{
    public const string Section = "Storage";
    [Required] public string LakeBucket { get; set; } = "";
    [Required] public string ArtifactBucket { get; set; } = "";
}

public static class S3Extensions
{
    /// <summary>Registers <see cref="IAmazonS3"/>, <see cref="ObjectStore"/> and an S3 health check from the <c>S3</c> and <c>Storage</c> sections.</summary>
    public static IHostApplicationBuilder AddMlopsS3(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<S3Options>().BindConfiguration(S3Options.Section);
        builder.Services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<IAmazonS3>(sp => CreateClient(sp.GetRequiredService<IOptions<S3Options>>().Value));
        builder.Services.AddSingleton<ObjectStore>();
        builder.Services.AddHealthChecks().AddCheck<S3HealthCheck>("s3", tags: ["ready"]);
        return builder;
    }

    /// <summary>Builds an S3 client; against an emulator it sends plain (not aws-chunked) bodies and checksums only where required.</summary>
    public static IAmazonS3 CreateClient(S3Options options)
    {
        var config = new AmazonS3Config { ForcePathStyle = options.ForcePathStyle };
        if (string.IsNullOrWhiteSpace(options.ServiceUrl))
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(options.Region);
        }
        else
        {
            config.ServiceURL = options.ServiceUrl;
            config.AuthenticationRegion = options.Region;
            config.ForcePathStyle = true;
            // s3rver stores aws-chunked framing and trailing checksums inside the object (DESIGN.md): avoid both.
            config.RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED;
            config.ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED;
        }
        return options.AccessKey is { Length: > 0 } key
            ? new AmazonS3Client(new BasicAWSCredentials(key, options.SecretKey ?? ""), config)
            : new AmazonS3Client(config);
    }
}

internal sealed class S3HealthCheck(IAmazonS3 s3, IOptions<StorageOptions> storage) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await s3.HeadBucketAsync(new() { BucketName = storage.Value.LakeBucket }, cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Exception e)
        {
            return HealthCheckResult.Unhealthy($"Bucket '{storage.Value.LakeBucket}' is not reachable: {e.Message}");
        }
    }
}
