using System.Collections.Concurrent;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Mlops.Tests;

public sealed record CollectedSpan(string Service, string TraceId, string SpanId, string ParentSpanId, string Name, int Kind)
{
    public const int KindServer = 2, KindProducer = 4, KindConsumer = 5;
}

/// <summary>
/// A minimal OTLP/HTTP (protobuf) trace receiver: enough of ExportTraceServiceRequest to read each span's service,
/// ids, name and kind. Metrics and logs are accepted and dropped.
/// </summary>
public sealed class OtlpCollector : IAsyncDisposable
{
    private readonly ConcurrentQueue<CollectedSpan> _spans = new();
    private WebApplication? _app;

    public string Endpoint { get; private set; } = "";
    public IReadOnlyCollection<CollectedSpan> Spans => _spans;

    public async Task StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _app = builder.Build();
        _app.MapPost("/v1/traces", async (HttpRequest request) =>
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body);
            foreach (var span in DecodeTraces(body.ToArray()))
                _spans.Enqueue(span);
            return Results.Bytes([], "application/x-protobuf");
        });
        _app.MapPost("/v1/{signal}", () => Results.Bytes([], "application/x-protobuf"));
        await _app.StartAsync();
        Endpoint = _app.Urls.First();
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
            await _app.DisposeAsync();
    }

    // Field numbers from opentelemetry/proto/trace/v1/trace.proto and common/v1/common.proto.
    internal static IEnumerable<CollectedSpan> DecodeTraces(byte[] request)
    {
        var spans = new List<CollectedSpan>();
        foreach (var resourceSpans in Messages(request, 1))
        {
            var service = "";
            foreach (var resource in Messages(resourceSpans, 1))
                foreach (var attribute in Messages(resource, 1))
                    if (Strings(attribute, 1).FirstOrDefault() == "service.name")
                        service = Messages(attribute, 2).SelectMany(v => Strings(v, 1)).FirstOrDefault() ?? "";
            foreach (var scopeSpans in Messages(resourceSpans, 2))
                foreach (var span in Messages(scopeSpans, 2))
                    spans.Add(DecodeSpan(service, span));
        }
        return spans;
    }

    private static CollectedSpan DecodeSpan(string service, ByteString span)
    {
        string traceId = "", spanId = "", parent = "", name = "";
        var kind = 0;
        var input = span.CreateCodedInput();
        for (uint tag; (tag = input.ReadTag()) != 0;)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: traceId = Convert.ToHexStringLower(input.ReadBytes().Span); break;
                case 2: spanId = Convert.ToHexStringLower(input.ReadBytes().Span); break;
                case 4: parent = Convert.ToHexStringLower(input.ReadBytes().Span); break;
                case 5: name = input.ReadString(); break;
                case 6: kind = input.ReadEnum(); break;
                default: input.SkipLastField(); break;
            }
        }
        return new CollectedSpan(service, traceId, spanId, parent, name, kind);
    }

    private static IEnumerable<ByteString> Messages(byte[] data, int field) => Messages(ByteString.CopyFrom(data), field);

    private static List<ByteString> Messages(ByteString data, int field)
    {
        var found = new List<ByteString>();
        var input = data.CreateCodedInput();
        for (uint tag; (tag = input.ReadTag()) != 0;)
        {
            if (WireFormat.GetTagFieldNumber(tag) == field && WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited)
                found.Add(input.ReadBytes());
            else
                input.SkipLastField();
        }
        return found;
    }

    private static IEnumerable<string> Strings(ByteString data, int field) => Messages(data, field).Select(b => b.ToStringUtf8());
}
