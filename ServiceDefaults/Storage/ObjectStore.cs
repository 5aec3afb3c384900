using Amazon.S3;
using Amazon.S3.Model;

namespace Mlops.ServiceDefaults.Storage;

/// <summary>
/// Byte-exact object uploads and downloads for the lake and artifact buckets: a single PUT up to
/// <see cref="MultipartThreshold"/>, multipart above it, never aws-chunked bodies (emulators store the framing).
/// </summary>
public sealed class ObjectStore(IAmazonS3 s3)
{
    public const long MultipartThreshold = 16L * 1024 * 1024;
    public const int PartSize = 8 * 1024 * 1024;

    public async Task PutAsync(string bucket, string key, Stream content, string? contentType = null, CancellationToken ct = default)
    {
        if (content.CanSeek && content.Length - content.Position <= MultipartThreshold)
        {
            await s3.PutObjectAsync(new PutObjectRequest
            {
                BucketName = bucket, Key = key, InputStream = content, AutoCloseStream = false,
                ContentType = contentType, UseChunkEncoding = false,
            }, ct);
            return;
        }
        await PutMultipartAsync(bucket, key, content, contentType, ct);
    }

    public async Task<Stream> GetAsync(string bucket, string key, CancellationToken ct = default)
    {
        var response = await s3.GetObjectAsync(bucket, key, ct);
        return response.ResponseStream;
    }

    public Task DeleteAsync(string bucket, string key, CancellationToken ct = default) => s3.DeleteObjectAsync(bucket, key, ct);

    private async Task PutMultipartAsync(string bucket, string key, Stream content, string? contentType, CancellationToken ct)
    {
        var upload = await s3.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = bucket, Key = key, ContentType = contentType }, ct);
        try
        {
            var parts = new List<PartETag>();
            var buffer = new byte[PartSize];
            for (var partNumber = 1; ; partNumber++)
            {
                var length = await content.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, ct);
                if (length == 0 && partNumber > 1)
                    break;
                using var part = new MemoryStream(buffer, 0, length, writable: false);
                var response = await s3.UploadPartAsync(new UploadPartRequest
                {
                    BucketName = bucket, Key = key, UploadId = upload.UploadId, PartNumber = partNumber,
                    InputStream = part, PartSize = length, UseChunkEncoding = false,
                }, ct);
                parts.Add(new PartETag(partNumber, response.ETag));
                if (length < buffer.Length)
                    break;
            }
            await s3.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
            {
                BucketName = bucket, Key = key, UploadId = upload.UploadId, PartETags = parts,
            }, ct);
        }
        catch
        {
            // Leave no half-written object (and no orphaned parts billing storage).
            await s3.AbortMultipartUploadAsync(bucket, key, upload.UploadId, CancellationToken.None);
            throw;
        }
    }
}
