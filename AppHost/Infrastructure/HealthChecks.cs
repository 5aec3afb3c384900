using Amazon.Runtime;
using Amazon.S3;
using Npgsql;
using RabbitMQ.Client;

namespace Mlops.AppHost.Infrastructure;

/// <summary>Readiness probes for the infrastructure the AppHost runs itself.</summary>
internal static class HealthChecks
{
    public static async Task PostgresAsync(string connectionString, CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, Timeout = 3 }.ConnectionString);
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand("SELECT 1", connection);
        await command.ExecuteScalarAsync(ct);
    }

    public static async Task RabbitMqAsync(string connectionString, CancellationToken ct)
    {
        var factory = new ConnectionFactory { Uri = new Uri(connectionString), RequestedConnectionTimeout = TimeSpan.FromSeconds(3) };
        await using var connection = await factory.CreateConnectionAsync(ct);
    }

    public static async Task EnsureBucketsAsync(string serviceUrl, string accessKey, string secretKey, string[] buckets, CancellationToken ct)
    {
        using var s3 = new AmazonS3Client(new BasicAWSCredentials(accessKey, secretKey), new AmazonS3Config
        {
            ServiceURL = serviceUrl, ForcePathStyle = true, AuthenticationRegion = "us-east-1",
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        });
        var existing = (await s3.ListBucketsAsync(ct)).Buckets?.Select(b => b.BucketName).ToHashSet() ?? [];
        foreach (var bucket in buckets.Where(b => !existing.Contains(b)))
            await s3.PutBucketAsync(bucket, ct);
    }
}
