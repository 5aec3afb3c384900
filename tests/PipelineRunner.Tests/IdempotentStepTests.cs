using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Mlops.PipelineRunner.Features.Definitions;
using Mlops.PipelineRunner.Features.Executions;
using Mlops.PipelineRunner.Features.Steps;

namespace Mlops.PipelineRunner.Tests;

/// <summary>
/// The steps that start work elsewhere (training_set, quality_check, deploy): a runner taking an attempt over after the
/// first died before recording the external id sends the same request with the same Idempotency-Key, so the callee
/// answers the work already started; a retry (next attempt) is another key.
/// </summary>
public sealed class IdempotentStepTests
{
    private static readonly Guid Execution = Guid.Parse("019a0000-0000-7000-8000-000000000003");

    public static TheoryData<string, string> Steps => new()
    {
        { "training_set", """{"features": ["g:f"], "entity_rows": [{"id": 1, "event_timestamp": "2024-01-01T00:00:00Z"}]}""" },
        { "quality_check", """{"baseline": "b", "endpoint": "e", "window_seconds": 600}""" },
        { "deploy", """{"endpoint": "e", "model_name": "m", "model_version": "2", "strategy": {"type": "canary", "canary_percent": 10}}""" },
    };

    [Theory]
    [MemberData(nameof(Steps))]
    public async Task TakeoverOfTheSameAttempt_SendsTheSameRequestAndKey_ARetryAnotherKey(string type, string inputsJson)
    {
        var inputs = JsonNode.Parse(inputsJson)!.AsObject();
        var step = new StepDefinition("s", type, inputs, [], null, null, null, [], null, null);
        var attemptStarted = DateTimeOffset.Parse("2026-12-01T10:00:00.123456Z");
        StepContext Claim(int attempt) => new(Execution, "p", "s", 0, attempt, step, (JsonObject)inputs.DeepClone(), attemptStarted, null, null, Run: 1);

        var fake = new FakeServices();
        var provider = new ServiceCollection()
            .AddSingleton(new FeatureStoreApi(fake.Client("http://fs/"))).AddSingleton(new MonitorApi(fake.Client("http://monitor/")))
            .AddSingleton(new ServingApi(fake.Client("http://serving/"))).BuildServiceProvider();
        IStepHandler handler = type switch
        {
            "training_set" => new TrainingSetHandler(provider, NullLogger<TrainingSetHandler>.Instance),
            "quality_check" => new QualityCheckHandler(provider, TimeProvider.System),
            _ => new DeployHandler(provider, NullLogger<DeployHandler>.Instance),
        };

        // The first claim, a takeover of the same attempt a little later (no external id recorded), and the next attempt.
        Assert.IsType<StepSucceeded>(await handler.RunAsync(Claim(1), CancellationToken.None));
        await Task.Delay(20);
        Assert.IsType<StepSucceeded>(await handler.RunAsync(Claim(1), CancellationToken.None));
        Assert.IsType<StepSucceeded>(await handler.RunAsync(Claim(2), CancellationToken.None));

        Assert.Equal(3, fake.Starts.Count);
        var (first, takeover, retry) = (fake.Starts[0], fake.Starts[1], fake.Starts[2]);
        Assert.Equal(StepContext.IdempotencyKeyOf(Execution, 1, "s", 0, 1), first.Key);
        Assert.Equal(first, takeover);
        Assert.Equal(first.Body, retry.Body); // the same attempt start: the same request (a quality check's window too)
        Assert.Equal(StepContext.IdempotencyKeyOf(Execution, 1, "s", 0, 2), retry.Key);
    }

    private sealed record Start(string Method, string Path, string? Key, string Body);

    /// <summary>FeatureStore, Monitor and Serving as far as the three steps need them; every call that starts work is recorded.</summary>
    private sealed class FakeServices : HttpMessageHandler
    {
        public List<Start> Starts { get; } = [];

        public HttpClient Client(string baseAddress) => new(this, disposeHandler: false) { BaseAddress = new Uri(baseAddress) };

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            var path = request.RequestUri!.AbsolutePath;
            if (request.Method != HttpMethod.Get)
                Starts.Add(new(request.Method.Method, path, request.Headers.TryGetValues(ServiceApi.IdempotencyKeyHeader, out var v) ? v.Single() : null,
                    await request.Content!.ReadAsStringAsync(ct)));
            var answer = (request.Method.Method, path) switch
            {
                ("POST", "/api/training-sets") => """{"snapshot_id": "s1", "data_uri": "s3://a/d", "content_hash": "h", "row_count": 1}""",
                ("POST", "/api/runs") => """{"id": "r1", "status": "pending"}""",
                ("GET", "/api/runs/r1") => """{"id": "r1", "status": "completed", "result": "OK", "violation_count": 0}""",
                ("GET", "/api/endpoints/e") => """{"name": "e", "config_version": 1, "variants": [{"name": "primary", "model_name": "m", "model_version": "1"}]}""",
                ("PUT", "/api/endpoints/e") => """{"deployment_id": "d1", "state": "shifting"}""",
                ("GET", "/api/endpoints/e/deployments/d1") => """{"deployment_id": "d1", "state": "succeeded"}""",
                _ => null,
            };
            return answer is null
                ? new HttpResponseMessage(HttpStatusCode.NotFound)
                : new HttpResponseMessage(request.Method == HttpMethod.Get ? HttpStatusCode.OK : HttpStatusCode.Accepted)
                {
                    Content = new StringContent(answer, Encoding.UTF8, "application/json"),
                };
        }
    }
}
