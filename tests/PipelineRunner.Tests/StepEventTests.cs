using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Mlops.PipelineRunner.Features.Definitions;
using Mlops.PipelineRunner.Features.Executions;
using Mlops.PipelineRunner.Features.Steps;

namespace Mlops.PipelineRunner.Tests;

public sealed class StepEventTests
{
    private static ExecutionView View(int run = 1)
    {
        var (definition, problems) = DefinitionParser.Parse("""
            parameters:
              items: {type: list, default: [1, 2]}
            steps:
              train: {type: noop}
              fan: {type: noop, for_each: "${params.items}"}
            exit_handler: {type: noop}
            """, json: false);
        Assert.Empty(problems);
        return new ExecutionView(Guid.NewGuid(), "p", 3, ExecutionStatus.Running, false, definition!, [], [], run);
    }

    [Fact]
    public void StepCompleted_CarriesTheOutcomesNaturalKey_ExecutionRunStepItemAttempt()
    {
        var view = View(run: 2);
        var e = ExecutionStore.StepCompleted(view, "fan", 1, 3, "retrying", "boom", FailureKinds.ServiceFault);
        Assert.Equal((view.Id, "p", 3, "fan", "retrying", "boom"), (e.ExecutionId, e.Pipeline, e.Version, e.Step, e.Status, e.Error));
        Assert.Equal((1, 3, 2, "noop", FailureKinds.ServiceFault), (e.Item, e.Attempt, e.Run, e.StepType, e.FailureKind));
    }

    [Fact]
    public void StepCompleted_OfAStepOrTheExitHandler_HasNoItem()
    {
        var view = View();
        Assert.Null(ExecutionStore.StepCompleted(view, "train", -1, 1, StepStatus.Succeeded, null, null).Item);
        Assert.Equal("noop", ExecutionStore.StepCompleted(view, "exit_handler", -1, 1, StepStatus.Succeeded, null, null).StepType);
    }

    [Fact]
    public void StepClients_WaitAsLongAsACallNeeds_AndOnlyRetrySafeMethods_WhereWritesStartWork()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.ConfigureHttpClientDefaults(http => http.AddStandardResilienceHandler());
        services.AddStepServiceClients(new ConfigurationBuilder().Build());
        var options = services.BuildServiceProvider().GetRequiredService<IOptionsMonitor<HttpStandardResilienceOptions>>();

        foreach (var client in new[] { nameof(FeatureStoreApi), nameof(ServingApi), nameof(MonitorApi), "TrackingClient" })
        {
            var o = options.Get($"{client}-standard");
            Assert.True(o.AttemptTimeout.Timeout >= TimeSpan.FromMinutes(10), $"{client}: attempt timeout {o.AttemptTimeout.Timeout}");
            Assert.True(o.CircuitBreaker.SamplingDuration >= 2 * o.AttemptTimeout.Timeout, client);
            Assert.True(o.TotalRequestTimeout.Timeout > o.AttemptTimeout.Timeout, client);
        }
    }

    [Fact]
    public async Task StepClients_RetryAFailedGet_ButNeverAPostThatMayHaveStartedWork()
    {
        var calls = new CountingHandler();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.ConfigureHttpClientDefaults(http => http.AddStandardResilienceHandler());
        services.AddStepServiceClients(new ConfigurationBuilder().Build());
        services.AddHttpClient<FeatureStoreApi>().ConfigurePrimaryHttpMessageHandler(() => calls);
        services.Configure<HttpStandardResilienceOptions>($"{nameof(FeatureStoreApi)}-standard", o => o.Retry.Delay = TimeSpan.Zero);
        var api = services.BuildServiceProvider().GetRequiredService<FeatureStoreApi>();

        await Assert.ThrowsAsync<ServiceApiException>(() => api.PostAsync("api/training-sets", new System.Text.Json.Nodes.JsonObject(), default));
        Assert.Equal(1, calls.Count);
        calls.Count = 0;
        await Assert.ThrowsAsync<ServiceApiException>(() => api.GetAsync("api/jobs/j", default));
        Assert.Equal(4, calls.Count); // the first try and the standard handler's 3 retries
    }

    private sealed class CountingHandler : HttpMessageHandler
    {
        public int Count;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Count);
            return Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.ServiceUnavailable) { RequestMessage = request });
        }
    }
}
