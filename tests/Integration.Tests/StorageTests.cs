using System.Security.Cryptography;
using Amazon.S3;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;
using Mlops.ServiceDefaults.Storage;

namespace Mlops.Tests;

/// <summary>Objects go into the local S3 API and come back byte for byte (the emulator must not store aws-chunked framing).</summary>
public sealed class StorageTests(PlatformFixture platform)
{
    [Theory]
    [InlineData(8)]
    [InlineData(64 * 1024 + 7)]
    [InlineData(20 * 1024 * 1024 + 123)] // multipart: over the 16 MiB threshold, with a short last part
    public async Task Object_RoundTripsByteExact(int length)
    {
        using var s3 = await CreateClientAsync();
        var store = new ObjectStore(s3);
        var content = RandomNumberGenerator.GetBytes(length);
        var key = $"tests/round-trip/{Guid.NewGuid()}.bin";

        await store.PutAsync(ResourceNames.LakeBucket, key, new MemoryStream(content));

        var head = await s3.GetObjectMetadataAsync(ResourceNames.LakeBucket, key);
        Assert.Equal(length, head.ContentLength);
        await using var downloaded = await store.GetAsync(ResourceNames.LakeBucket, key);
        using var copy = new MemoryStream();
        await downloaded.CopyToAsync(copy);
        Assert.Equal(SHA256.HashData(content), SHA256.HashData(copy.ToArray()));
    }

    [Fact]
    public async Task NonSeekableStream_OfAnySize_UsesMultipartAndRoundTrips()
    {
        using var s3 = await CreateClientAsync();
        var store = new ObjectStore(s3);
        var content = RandomNumberGenerator.GetBytes(3 * 1024 * 1024);
        var key = $"tests/round-trip/{Guid.NewGuid()}.bin";

        await store.PutAsync(ResourceNames.ArtifactBucket, key, new NonSeekableStream(content));

        await using var downloaded = await store.GetAsync(ResourceNames.ArtifactBucket, key);
        using var copy = new MemoryStream();
        await downloaded.CopyToAsync(copy);
        Assert.Equal(SHA256.HashData(content), SHA256.HashData(copy.ToArray()));
    }

    [Fact]
    public async Task Listing_PagesWithContinuationTokens()
    {
        using var s3 = await CreateClientAsync();
        var store = new ObjectStore(s3);
        var prefix = $"tests/listing/{Guid.NewGuid()}/";
        for (var i = 0; i < 5; i++)
            await store.PutAsync(ResourceNames.LakeBucket, $"{prefix}{i}", new MemoryStream([(byte)i]));

        var keys = new List<string>();
        string? token = null;
        do
        {
            var page = await s3.ListObjectsV2Async(new() { BucketName = ResourceNames.LakeBucket, Prefix = prefix, MaxKeys = 2, ContinuationToken = token });
            keys.AddRange(page.S3Objects.Select(o => o.Key));
            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        } while (token is not null);

        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"{prefix}{i}"), keys);
    }

    private async Task<IAmazonS3> CreateClientAsync()
    {
        var model = platform.App.Services.GetRequiredService<DistributedApplicationModel>();
        var secret = await model.Resources.OfType<ParameterResource>().Single(p => p.Name == ResourceNames.S3SecretKey).GetValueAsync(default);
        return S3Extensions.CreateClient(new S3Options
        {
            ServiceUrl = platform.App.GetEndpoint(ResourceNames.S3, "http").ToString(),
            AccessKey = "S3RVER",
            SecretKey = secret,
        });
    }

    private sealed class NonSeekableStream(byte[] content) : MemoryStream(content)
    {
        public override bool CanSeek => false;
    }
}
