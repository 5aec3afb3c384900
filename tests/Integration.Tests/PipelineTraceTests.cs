using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

using static Mlops.Tests.PipelineApi;

namespace Mlops.Tests;

/// <summary>One trace per pipeline execution: every step span descends from the execution's creation span.</summary>
public sealed class PipelineTraceTests(PlatformFixture platform)
{
    [Fact]
    public async Task BothStepsOfAnExecution_ShareItsTrace_UnderTheStartRequest()
    {
        using var client = platform.CreateClient(ResourceNames.PipelineRunner);
        var salt = Guid.NewGuid().ToString("N")[..8];
        var (first, second) = ($"first_{salt}", $"second_{salt}");
        var name = $"trace-{salt}";
        await UpsertAsync(client, name, $$"""
            steps:
              {{first}}: {type: noop}
              {{second}}: {type: noop, depends_on: [{{first}}]}
            """);

        var traceId = ActivityTraceId.CreateRandom().ToString();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/pipelines/{name}/executions") { Content = JsonContent.Create(new { }) };
        request.Headers.Add("traceparent", $"00-{traceId}-{ActivitySpanId.CreateRandom()}-01");
        using var start = await client.SendAsync(request, TestContext.Current.CancellationToken);
        var body = await start.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(start.StatusCode == HttpStatusCode.Created, body);
        var id = JsonNode.Parse(body)!["id"]!.GetValue<Guid>();
        await WaitForAsync(client, id, "succeeded");

        List<CollectedSpan> Spans(string step) => platform.Otlp.Spans.Where(s => s.Service == ResourceNames.PipelineRunner && s.Name == $"step {step}").ToList();
        var (a, b) = await Poll.UntilAsync(async () =>
        {
            await Task.Yield();
            return Spans(first) is [var x] && Spans(second) is [var y] ? Tuple.Create(x, y) : null;
        }, TimeSpan.FromSeconds(30), () => $"one span of each step; got {Spans(first).Count} and {Spans(second).Count}");

        // Both in the trace of the request that started the execution, children of its 'pipeline execution' span.
        Assert.Equal(traceId, a.TraceId);
        Assert.Equal(traceId, b.TraceId);
        Assert.Equal(a.ParentSpanId, b.ParentSpanId);
        var creation = Assert.Single(platform.Otlp.Spans, s => s.SpanId == a.ParentSpanId);
        Assert.Equal($"pipeline execution {name}", creation.Name);
        Assert.Equal(traceId, creation.TraceId);
    }
}
