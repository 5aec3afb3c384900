using System.Text.Json.Nodes;
using Mlops.ExperimentTracker.Client;
using Mlops.PipelineRunner.Features.Definitions;
using Mlops.PipelineRunner.Features.Executions;

namespace Mlops.PipelineRunner.Features.Steps;

/// <summary>
/// <c>deploy</c>: puts a registered model version (or the version behind an alias) on a Serving endpoint — creating the
/// endpoint, or rolling a new configuration out with the step's strategy (all_at_once, canary, linear; baking; promote
/// alias) — and waits until the deployment has succeeded or was rolled back. The deployment's id is recorded, so a runner
/// taking the step over follows it instead of starting another (and the update carries the attempt's idempotency key, so
/// one that died before recording the id is answered the same deployment); stopping the step rolls an unfinished one back.
/// </summary>
public sealed class DeployHandler(IServiceProvider services, ILogger<DeployHandler> logger) : IStepHandler
{
    public static readonly TimeSpan Poll = TimeSpan.FromSeconds(1);
    public const string DefaultVariant = "primary";

    public string Type => "deploy";

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken ct)
    {
        StepInputRules.EnsureValid(Type, context.Inputs, context.Step);
        var serving = services.GetRequiredService<ServingApi>();
        var endpoint = context.Inputs["endpoint"]!.ToString();
        var path = $"api/endpoints/{Uri.EscapeDataString(endpoint)}";
        var variant = Variant(context.Inputs);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        if (context.Inputs["timeout_seconds"] is JsonValue t)
            timeout.CancelAfter(TimeSpan.FromSeconds(Expressions.AsNumber(t)));

        string deploymentId;
        if (context.ExternalId is { } earlier)
            deploymentId = earlier;
        else
        {
            var existing = await serving.FindAsync(path, ct);
            if (existing is null)
            {
                var created = await serving.PostAsync("api/endpoints", new JsonObject
                {
                    ["name"] = endpoint, ["variants"] = new JsonArray(variant), ["data_capture"] = Capture(context.Inputs),
                }, ct);
                logger.LogInformation("Created endpoint {Endpoint} for step {Step} of execution {Execution}", endpoint, context.Step, context.ExecutionId);
                // A new endpoint serves the version with all its traffic at once: that is the promotion, so the alias moves
                // now (an update's deployment moves it when it succeeds, in Serving).
                await PromoteServedAsync(context.Inputs, created, ct);
                return new StepSucceeded(Outputs(created, created["active_deployment"]?["deployment_id"]?.ToString(), "succeeded"));
            }
            if (AlreadyServes(existing, variant))
            {
                await PromoteServedAsync(context.Inputs, existing, ct); // a runner taking over after the creation
                return new StepSucceeded(Outputs(existing, null, "succeeded"));
            }
            var update = new JsonObject { ["variants"] = new JsonArray(variant), ["deployment"] = Strategy(context.Inputs) };
            if (Capture(context.Inputs) is { } capture)
                update["data_capture"] = capture;
            var deployment = await serving.PutAsync(path, update, ct, context.IdempotencyKey); // a taker-over meets the same deployment
            deploymentId = deployment["deployment_id"]!.ToString();
            await context.RecordExternalIdAsync(deploymentId, ct);
        }

        try
        {
            while (true)
            {
                var deployment = await serving.GetAsync($"{path}/deployments/{Uri.EscapeDataString(deploymentId)}", timeout.Token);
                switch (deployment["state"]?.ToString())
                {
                    case "succeeded":
                        var described = await serving.GetAsync(path, ct);
                        return new StepSucceeded(Outputs(described, deploymentId, "succeeded"));
                    case "rolled_back":
                        return new StepFailed(FailureKinds.StepFailed,
                            $"Deployment {deploymentId} of endpoint '{endpoint}' was rolled back: {deployment["reason"] ?? "no reason given"}");
                }
                await Task.Delay(Poll, timeout.Token);
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            await RollBackAsync(serving, endpoint, deploymentId, "the pipeline step timed out", CancellationToken.None);
            return new StepFailed(FailureKinds.Timeout, $"Deployment {deploymentId} of endpoint '{endpoint}' did not finish within {context.Inputs["timeout_seconds"]} s; rolled back.");
        }
    }

    /// <summary>Moves <c>strategy.promote_alias</c> to the version an endpoint serves with all its traffic (idempotent).</summary>
    private async Task PromoteServedAsync(JsonObject inputs, JsonObject endpoint, CancellationToken ct)
    {
        if (StepInputRules.Str((inputs["strategy"] as JsonObject)?["promote_alias"]) is { } alias
            && (endpoint["variants"] as JsonArray)?.FirstOrDefault() is JsonObject served
            && served["model_version"]?.ToString() is { } version)
            await services.GetRequiredService<TrackingClient>().SetAliasAsync(served["model_name"]!.ToString(), alias, version, ct);
    }

    public async Task CancelAsync(StepContext context, CancellationToken ct)
    {
        if (context.CurrentExternalId is { } deploymentId)
            await RollBackAsync(services.GetRequiredService<ServingApi>(), context.Inputs["endpoint"]!.ToString(), deploymentId,
                "the pipeline execution was stopped", ct);
    }

    private static async Task RollBackAsync(ServingApi serving, string endpoint, string deploymentId, string reason, CancellationToken ct)
    {
        try
        {
            await serving.PostAsync($"api/endpoints/{Uri.EscapeDataString(endpoint)}/deployments/{Uri.EscapeDataString(deploymentId)}/rollback",
                new JsonObject { ["reason"] = reason }, ct);
        }
        catch (ServiceApiException e) when (e.Status == System.Net.HttpStatusCode.Conflict)
        {
            // It ended meanwhile.
        }
    }

    /// <summary>The one variant the step deploys: all traffic, a version or an alias (resolved by Serving).</summary>
    public static JsonObject Variant(JsonObject inputs)
    {
        var variant = new JsonObject
        {
            ["name"] = StepInputRules.Str(inputs["variant"]) ?? DefaultVariant,
            ["model_name"] = inputs["model_name"]!.ToString(),
            ["weight"] = 1,
        };
        if (StepInputRules.Str(inputs["alias"]) is { } alias)
            variant["alias"] = alias;
        else
            variant["model_version"] = inputs["model_version"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : inputs["model_version"]?.ToJsonString();
        return variant;
    }

    /// <summary>Serving's deployment strategy from the step's <c>strategy</c> (default all at once, no baking).</summary>
    public static JsonObject Strategy(JsonObject inputs)
    {
        var strategy = inputs["strategy"] as JsonObject is { } s ? (JsonObject)s.DeepClone() : new JsonObject();
        strategy["type"] ??= "all_at_once";
        return strategy;
    }

    private static JsonObject? Capture(JsonObject inputs) => inputs["sampling_percentage"] is JsonValue p
        ? new JsonObject { ["enabled"] = Expressions.AsNumber(p) > 0, ["sampling_percentage"] = (int)Expressions.AsNumber(p) }
        : null;

    /// <summary>The endpoint's current configuration already is the requested one and nothing is rolling out (a step taken over).</summary>
    private static bool AlreadyServes(JsonObject endpoint, JsonObject variant)
    {
        if (endpoint["active_deployment"] is JsonObject active && active["state"]?.ToString() is "shifting" or "baking")
            return false;
        var variants = endpoint["variants"] as JsonArray ?? [];
        return variants.Count == 1 && variants[0] is JsonObject v
            && v["name"]?.ToString() == variant["name"]?.ToString()
            && v["model_name"]?.ToString() == variant["model_name"]?.ToString()
            && (variant["alias"] is { } alias ? v["alias"]?.ToString() == alias.ToString() : v["model_version"]?.ToString() == variant["model_version"]?.ToString());
    }

    private static JsonObject Outputs(JsonObject endpoint, string? deploymentId, string state) => new()
    {
        ["endpoint"] = endpoint["name"]?.ToString(),
        ["config_version"] = endpoint["config_version"]?.DeepClone(),
        ["model_version"] = (endpoint["variants"] as JsonArray)?.FirstOrDefault()?["model_version"]?.ToString(),
        ["deployment_id"] = deploymentId,
        ["state"] = state,
    };
}
