using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Mlops.ServiceDefaults.Errors;

/// <summary>
/// Kestrel refuses some requests before any middleware runs (a NUL, <c>%00</c>, in the path; a request line or headers
/// over its limits) and answers them with an empty body, which no ProblemDetails handler can reach. This connection
/// middleware recognises exactly those responses on their way out (a 4xx with <c>Content-Length: 0</c>,
/// <c>Connection: close</c> and no <c>Content-Type</c>: the application always writes a typed body) and gives them a
/// ProblemDetails body saying what was refused. Kestrel closes the connection after such a response, so nothing follows it.
/// </summary>
internal static class KestrelRejections
{
    public static void UseRejectionProblems(this ListenOptions listen) => listen.Use(next => async connection =>
    {
        var original = connection.Transport;
        var rewriting = new RejectionRewritingStream(original.Output.AsStream(leaveOpen: true));
        var output = PipeWriter.Create(rewriting, new StreamPipeWriterOptions(leaveOpen: true));
        connection.Transport = new Duplex(original.Input, output);
        try
        {
            await next(connection);
        }
        finally
        {
            await output.CompleteAsync();
            connection.Transport = original;
        }
    });

    private sealed class Duplex(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }

    private sealed class RejectionRewritingStream(Stream inner) : Stream
    {
        private static ReadOnlySpan<byte> StatusLinePrefix => "HTTP/1.1 4"u8;

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
            await inner.WriteAsync(Rewrite(buffer), cancellationToken);

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count) => inner.Write(Rewrite(buffer.AsMemory(offset, count)).Span);

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
        public override void Flush() => inner.Flush();

        // Cheap for every ordinary write: one prefix comparison.
        private static ReadOnlyMemory<byte> Rewrite(ReadOnlyMemory<byte> buffer)
        {
            var span = buffer.Span;
            if (!span.StartsWith(StatusLinePrefix) || span.Length > 512 || !span.EndsWith("\r\n\r\n"u8))
                return buffer;
            var head = Encoding.ASCII.GetString(span);
            if (!head.Contains("\r\nContent-Length: 0\r\n", StringComparison.OrdinalIgnoreCase)
                || !head.Contains("\r\nConnection: close\r\n", StringComparison.OrdinalIgnoreCase)
                || head.Contains("\r\nContent-Type:", StringComparison.OrdinalIgnoreCase))
                return buffer;
            var statusLine = head[..head.IndexOf("\r\n", StringComparison.Ordinal)];
            if (!int.TryParse(statusLine.AsSpan(9, 3), out var status))
                return buffer;

            var body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
            {
                ["type"] = $"https://tools.ietf.org/html/rfc9110#status.{status}",
                ["title"] = statusLine.Length > 13 ? statusLine[13..] : "Bad Request",
                ["status"] = status,
                ["detail"] = Detail(status),
            });
            var headers = head.Replace("\r\nContent-Length: 0\r\n",
                $"\r\nContent-Type: application/problem+json\r\nContent-Length: {body.Length}\r\n", StringComparison.OrdinalIgnoreCase);
            return Encoding.ASCII.GetBytes(headers).Concat(body).ToArray();
        }

        private static string Detail(int status) => status switch
        {
            StatusCodes.Status414UriTooLong => "The request URL is longer than the server accepts; send long values in a request body instead.",
            StatusCodes.Status431RequestHeaderFieldsTooLarge => "The request headers are larger than the server accepts.",
            _ => "The request line or headers are malformed (for example a NUL character, %00, in the path, or an invalid character in a header) and were refused before reaching the service.",
        };

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
