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

    /// <summary>
    /// Stores <paramref name="content"/> under <paramref name="key"/>. A stream of unknown length (a request body) is read
    /// one part ahead: if it ends within the first part it goes up in a single PUT, otherwise as a multipart upload.
    /// </summary>
    public async Task PutAsync(string bucket, string key, Stream content, string? contentType = null, CancellationToken ct = default)
    {
        if (content.CanSeek && content.Length - content.Position <= MultipartThreshold)
        {
            await PutSingleAsync(bucket, key, content, contentType, ct);
            return;
        }
        if (!content.CanSeek)
        {
            var first = new byte[PartSize];
            var length = await content.ReadAtLeastAsync(first, first.Length, throwOnEndOfStream: false, ct);
            if (length < first.Length)
            {
                using var whole = new MemoryStream(first, 0, length, writable: false);
                await PutSingleAsync(bucket, key, whole, contentType, ct);
                return;
            }
            await PutMultipartAsync(bucket, key, new ConcatenatedStream(first, content), contentType, ct);
            return;
        }
        await PutMultipartAsync(bucket, key, content, contentType, ct);
    }

    private Task PutSingleAsync(string bucket, string key, Stream content, string? contentType, CancellationToken ct) =>
        s3.PutObjectAsync(new PutObjectRequest
        {
            BucketName = bucket, Key = key, InputStream = content, AutoCloseStream = false,
            ContentType = contentType, UseChunkEncoding = false,
        }, ct);

    /// <summary>An object's content with its size and type, or null when there is no object under <paramref name="key"/>.</summary>
    public async Task<StoredObject?> TryOpenAsync(string bucket, string key, CancellationToken ct = default)
    {
        try
        {
            var response = await s3.GetObjectAsync(bucket, key, ct);
            return new StoredObject(response.ResponseStream, response.ContentLength, response.Headers.ContentType);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>
    /// The objects under <paramref name="prefix"/>, page by page; with a <paramref name="delimiter"/> the "folders" one
    /// level down come back as entries with <see cref="ListedObject.IsPrefix"/> set, as S3 lists them.
    /// </summary>
    public async IAsyncEnumerable<ListedObject> ListAsync(string bucket, string prefix, string? delimiter = null,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        string? token = null;
        do
        {
            var page = await s3.ListObjectsV2Async(new ListObjectsV2Request
            {
                BucketName = bucket, Prefix = prefix, Delimiter = delimiter, ContinuationToken = token,
            }, ct);
            foreach (var folder in page.CommonPrefixes ?? [])
                yield return new ListedObject(folder, 0, IsPrefix: true);
            foreach (var item in page.S3Objects ?? [])
                yield return new ListedObject(item.Key, item.Size ?? 0, IsPrefix: false);
            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (token is not null);
    }

    /// <summary>Deletes every object under <paramref name="prefix"/> (in batches of 1,000) and answers how many there were.</summary>
    public async Task<int> DeletePrefixAsync(string bucket, string prefix, CancellationToken ct = default)
    {
        var deleted = 0;
        var batch = new List<KeyVersion>(1000);
        async Task FlushAsync()
        {
            if (batch.Count == 0)
                return;
            await s3.DeleteObjectsAsync(new DeleteObjectsRequest { BucketName = bucket, Objects = batch.ToList(), Quiet = true }, ct);
            deleted += batch.Count;
            batch.Clear();
        }
        await foreach (var item in ListAsync(bucket, prefix, null, ct))
        {
            batch.Add(new KeyVersion { Key = item.Key });
            if (batch.Count == 1000)
                await FlushAsync();
        }
        await FlushAsync();
        return deleted;
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

/// <summary>An object being read: its content stream (dispose it), its length in bytes and its content type.</summary>
public sealed record StoredObject(Stream Content, long Length, string? ContentType) : IAsyncDisposable
{
    public ValueTask DisposeAsync() => Content.DisposeAsync();
}

/// <summary>One entry of a listing: an object (key and size) or, with a delimiter, a common prefix (a "folder").</summary>
public sealed record ListedObject(string Key, long Size, bool IsPrefix);

/// <summary>A part already read, then the rest of a stream: lets a one-part look-ahead go on as a multipart upload.</summary>
internal sealed class ConcatenatedStream(byte[] head, Stream tail) : Stream
{
    private int _position;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_position < head.Length)
        {
            var n = Math.Min(buffer.Length, head.Length - _position);
            head.AsSpan(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }
        return tail.Read(buffer);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_position < head.Length)
        {
            var n = Math.Min(buffer.Length, head.Length - _position);
            head.AsMemory(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }
        return await tail.ReadAsync(buffer, cancellationToken);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
