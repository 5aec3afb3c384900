using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;

using static Mlops.Tests.PipelineApi;

namespace Mlops.Tests;

/// <summary>The pipeline runner through the running AppHost: definitions, durable executions, retries, resume, cache.</summary>
public sealed class PipelineRunnerTests(PlatformFixture platform)
{
    private static readonly TimeSpan Finish = TimeSpan.FromSeconds(90);

    private HttpClient Client() => platform.CreateClient(ResourceNames.PipelineRunner);

    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..30];

    private static async Task<JsonObject> UpsertAsync(HttpClient client, string name, string yaml, HttpStatusCode expected = HttpStatusCode.Created)
    {
        using var response = await client.PutAsync($"/api/pipelines/{name}", new StringContent(yaml, Encoding.UTF8, "application/yaml"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{response.StatusCode}: {body}");
        return JsonNode.Parse(body)!.AsObject();
    }

    private static async Task<Guid> StartAsync(HttpClient client, string name, object? body = null)
    {
        using var response = await client.PostAsJsonAsync($"/api/pipelines/{name}/executions", body ?? new { });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"{response.StatusCode}: {text}");
        return JsonNode.Parse(text)!["id"]!.GetValue<Guid>();
    }

    // GetAsync and Status are PipelineApi's. This wait, unlike PipelineApi's, keeps polling through other end states
    // (a retried execution is still 'failed' for a moment before it runs again).
    private static Task<JsonObject> WaitForAsync(HttpClient client, Guid id, string status, TimeSpan? timeout = null)
    {
        JsonObject? last = null;
        return Poll.UntilAsync(async () =>
        {
            last = await GetAsync(client, id);
            return last["status"]!.GetValue<string>() == status ? last : null;
        }, timeout ?? Finish, () => $"execution {id} to be {status}; last: {last?.ToJsonString()}");
    }

    private static JsonObject Step(JsonObject execution, string step, int? item = null) =>
        execution["steps"]!.AsArray().Select(s => s!.AsObject())
            .Single(s => s["step"]!.GetValue<string>() == step && (item is null ? s["item"] is null : s["item"]?.GetValue<int>() == item));

    [Fact]
    public async Task InvalidDefinition_Answers400ListingEveryProblemWithItsPath_AndStoresNothing()
    {
        using var client = Client();
        var name = Unique("invalid");
        const string yaml = """
            parameters: {n: {type: integer, default: oops}}
            steps:
              a: {type: noop, depends_on: [b]}
              b: {type: noop, depends_on: [a]}
              c: {type: nonsense}
              d: {type: fail, inputs: {message: "${steps.nowhere.outputs.x}"}}
              e: {type: condition, inputs: {expression: "${params.n} > 'x'"}}
              f: {type: tune}
            """;
        using var response = await client.PutAsync($"/api/pipelines/{name}", new StringContent(yaml, Encoding.UTF8, "application/yaml"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        var paths = problem["problems"]!.AsArray().Select(p => p!["path"]!.GetValue<string>()).ToList();
        Assert.Contains("$.parameters.n.default", paths);
        Assert.Contains("$.steps.c.type", paths);
        Assert.Contains("$.steps.d.inputs.message", paths);
        Assert.Contains("$.steps.e.inputs.expression", paths);
        Assert.Contains("$.steps.f.inputs.train", paths);
        Assert.Contains(problem["problems"]!.AsArray(), p => p!["message"]!.GetValue<string>().StartsWith("Cycle:"));

        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/pipelines/{name}")).StatusCode);
        using var start = await client.PostAsJsonAsync($"/api/pipelines/{name}/executions", new { });
        Assert.Equal(HttpStatusCode.NotFound, start.StatusCode);
    }

    [Fact]
    public async Task Upsert_NewDefinitionIsANewVersion_SameDefinitionIsNot_AndExecutionsPinTheirVersion()
    {
        using var client = Client();
        var name = Unique("versions");
        var v1 = await UpsertAsync(client, name, "steps: {a: {type: noop, inputs: {v: 1}}}");
        var same = await UpsertAsync(client, name, "steps: {a: {type: noop, inputs: {v: 1}}}", HttpStatusCode.OK);
        var v2 = await UpsertAsync(client, name, "steps: {a: {type: noop, inputs: {v: 2}}}");
        Assert.Equal(1, v1["version"]!.GetValue<int>());
        Assert.Equal(1, same["version"]!.GetValue<int>());
        Assert.Equal(2, v2["version"]!.GetValue<int>());

        var pinned = await StartAsync(client, name, new { version = 1 });
        var done = await WaitForAsync(client, pinned, "succeeded");
        Assert.Equal(1, done["version"]!.GetValue<int>());
        Assert.Equal(1, Step(done, "a")["outputs"]!["v"]!.GetValue<int>());
        using var bad = await client.PostAsJsonAsync($"/api/pipelines/{name}/executions", new { parameters = new { nope = 1 } });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    [Fact]
    public async Task Pipeline_RunsConditionsFanOutRetriesAndExitHandler_ToTheEnd()
    {
        using var client = Client();
        var name = Unique("flow");
        await UpsertAsync(client, name, """
            parameters:
              xs: {type: list, default: [1, 2, 3]}
              min_auc: {type: number, default: 0.6}
            steps:
              metrics: {type: noop, inputs: {metrics: {"validation:auc": 0.75}}}
              gate:
                type: evaluate
                inputs:
                  metrics: ${steps.metrics.outputs.metrics}
                  gates: [{metric: "validation:auc", op: ">=", threshold: "${params.min_auc}"}]
              flaky:
                type: noop
                depends_on: [gate]
                inputs: {fail_attempts: 1}
                retry: {exception_type: [Step.SERVICE_FAULT], interval_seconds: 0.2, backoff_rate: 2, max_attempts: 3}
              fan:
                type: noop
                when: ${steps.gate.outputs.passed}
                for_each: ${params.xs}
                parallelism: 2
                inputs: {x: "${item}"}
              skipped: {type: noop, when: "not ${steps.gate.outputs.passed}"}
            exit_handler: {type: noop, inputs: {status: "${execution.status}"}}
            """);
        var id = await StartAsync(client, name);
        var done = await WaitForAsync(client, id, "succeeded");
        Assert.True(Step(done, "gate")["outputs"]!["passed"]!.GetValue<bool>());
        Assert.Equal(2, Step(done, "flaky")["attempt"]!.GetValue<int>());
        Assert.Single(Step(done, "flaky")["attempts"]!.AsArray());
        Assert.Equal(new[] { 1.0, 2, 3 }, Step(done, "fan")["outputs"]!["x"]!.AsArray().Select(n => n!.GetValue<double>()));
        Assert.Equal("skipped", Status(done, "skipped"));
        Assert.Equal("succeeded", Step(done, "exit_handler")["outputs"]!["status"]!.GetValue<string>());
        Assert.Equal(6, done["dag"]!["nodes"]!.AsArray().Count);
    }

    [Fact]
    public async Task FailedStep_RetriedFromFailure_KeepsSucceededSteps()
    {
        using var client = Client();
        var name = Unique("resume");
        await UpsertAsync(client, name, """
            steps:
              first: {type: noop, inputs: {v: 1}}
              second: {type: noop, depends_on: [first], inputs: {fail_attempts: 1}}
              third: {type: noop, depends_on: [second]}
            """);
        var id = await StartAsync(client, name);
        var failed = await WaitForAsync(client, id, "failed");
        Assert.Equal("failed", Status(failed, "second"));
        Assert.Equal("not_run", Status(failed, "third"));
        var firstStarted = Step(failed, "first")["started_at"]!.GetValue<DateTimeOffset>();

        using (var conflict = await client.PostAsync($"/api/executions/{Guid.NewGuid()}/retry", null))
            Assert.Equal(HttpStatusCode.NotFound, conflict.StatusCode);
        using (var retry = await client.PostAsync($"/api/executions/{id}/retry", null))
            Assert.Equal(HttpStatusCode.Accepted, retry.StatusCode);
        var done = await WaitForAsync(client, id, "succeeded");
        Assert.Equal(1, Step(done, "first")["attempt"]!.GetValue<int>());
        Assert.Equal(firstStarted, Step(done, "first")["started_at"]!.GetValue<DateTimeOffset>());
        Assert.Equal(2, Step(done, "second")["attempt"]!.GetValue<int>());
        using (var again = await client.PostAsync($"/api/executions/{id}/retry", null))
            Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
    }

    [Fact]
    public async Task SecondIdenticalExecution_IsServedFromTheCache_AndAChangedParameterIsNot()
    {
        using var client = Client();
        var name = Unique("cache");
        await UpsertAsync(client, name, """
            parameters: {p: {type: string, default: a}, salt: {type: string}}
            steps:
              work: {type: noop, inputs: {p: "${params.p}", salt: "${params.salt}"}, cache: {expire_after: 1h}}
            """);
        var salt = Guid.NewGuid().ToString();
        var first = await WaitForAsync(client, await StartAsync(client, name, new { parameters = new { salt } }), "succeeded");
        var second = await WaitForAsync(client, await StartAsync(client, name, new { parameters = new { salt } }), "succeeded");
        var changed = await WaitForAsync(client, await StartAsync(client, name, new { parameters = new { salt, p = "b" } }), "succeeded");
        Assert.Equal("succeeded", Status(first, "work"));
        Assert.Equal("cached", Status(second, "work"));
        Assert.Equal(Step(first, "work")["outputs"]!.ToJsonString(), Step(second, "work")["outputs"]!.ToJsonString());
        Assert.Equal("succeeded", Status(changed, "work"));
    }

    [Fact]
    public async Task SelectiveExecution_ReusesTheReferenceOutputs_AndRunsTheSelectedSteps()
    {
        using var client = Client();
        var name = Unique("selective");
        await UpsertAsync(client, name, """
            steps:
              a: {type: noop, inputs: {v: "${execution.id}"}}
              b: {type: noop, inputs: {from_a: "${steps.a.outputs.v}"}}
            """);
        var reference = await WaitForAsync(client, await StartAsync(client, name), "succeeded");
        var referenceId = reference["id"]!.GetValue<Guid>();
        var selective = await WaitForAsync(client,
            await StartAsync(client, name, new { reference_execution_id = referenceId, selected_steps = new[] { "b" } }), "succeeded");
        Assert.Equal("reused", Status(selective, "a"));
        Assert.Equal("succeeded", Status(selective, "b"));
        Assert.Equal(referenceId.ToString(), Step(selective, "b")["outputs"]!["from_a"]!.GetValue<string>());
    }

    [Fact]
    public async Task Stop_EndsTheExecution_AndRunsTheExitHandler()
    {
        using var client = Client();
        var name = Unique("stop");
        await UpsertAsync(client, name, """
            steps:
              slow: {type: noop, inputs: {sleep_seconds: 60}}
              after: {type: noop, depends_on: [slow]}
            exit_handler: {type: noop, inputs: {status: "${execution.status}"}}
            """);
        var id = await StartAsync(client, name);
        await Poll.UntilAsync(async () => Status(await GetAsync(client, id), "slow") == "running" ? "" : null, Finish, "slow to run");
        using (var stop = await client.PostAsync($"/api/executions/{id}/stop", null))
            Assert.Equal(HttpStatusCode.Accepted, stop.StatusCode);
        var stopped = await WaitForAsync(client, id, "stopped", TimeSpan.FromSeconds(30));
        Assert.Equal("stopped", Status(stopped, "slow"));
        Assert.Equal("stopped", Step(stopped, "exit_handler")["outputs"]!["status"]!.GetValue<string>());
    }

    // Runs alone: PipelineRunnerTestsFaults.
    internal async Task RunnerRestartedMidExecution_FinishesWithoutRunningFinishedStepsAgain()
    {
        using var client = Client();
        var name = Unique("restart");
        await UpsertAsync(client, name, """
            steps:
              before: {type: noop}
              slow: {type: noop, depends_on: [before], inputs: {sleep_seconds: 8}}
              after: {type: noop, depends_on: [slow]}
            """);
        var id = await StartAsync(client, name);
        await Poll.UntilAsync(async () => Status(await GetAsync(client, id), "slow") == "running" ? "" : null, Finish, "slow to run");

        await platform.RestartAsync(ResourceNames.PipelineRunner);

        using var after = Client();
        var done = await WaitForAsync(after, id, "succeeded");
        Assert.Equal(1, Step(done, "before")["claims"]!.GetValue<int>());
        Assert.Equal(1, Step(done, "slow")["attempt"]!.GetValue<int>());
        // Taken again after the restart, same attempt. With replicas the one still running may take it over first while the
        // other stops (its lease given back), so twice or three times; never a second attempt.
        Assert.InRange(Step(done, "slow")["claims"]!.GetValue<int>(), 2, 1 + PlatformFixture.Replicas.GetValueOrDefault(ResourceNames.PipelineRunner, 1));
        Assert.Equal(1, Step(done, "after")["claims"]!.GetValue<int>());
    }
}

/// <summary>The test of <see cref="PipelineRunnerTests"/> that restarts the pipeline runner: in the faults collection, so it runs alone.</summary>
[Collection(FaultsCollection.Name)]
public sealed class PipelineRunnerTestsFaults(PlatformFixture platform)
{
    [Fact]
    public Task RunnerRestartedMidExecution_FinishesWithoutRunningFinishedStepsAgain() => new PipelineRunnerTests(platform).RunnerRestartedMidExecution_FinishesWithoutRunningFinishedStepsAgain();
}
