using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Mlops.PipelineRunner.Features.Definitions;
using Mlops.ServiceDefaults.Data;
using Mlops.ServiceDefaults.Messaging;
using Npgsql;
using NpgsqlTypes;

namespace Mlops.PipelineRunner.Features.Executions;

public sealed class EngineOptions
{
    public const string Section = "Engine";
    /// <summary>Step runs one replica runs at once.</summary>
    public int Concurrency { get; set; } = 8;
    /// <summary>How long a claim holds without a heartbeat; a dead runner's steps are claimed again after it.</summary>
    public TimeSpan Lease { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>Fallback poll when no NOTIFY arrives (retries' delays, expired leases).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(500);
}

/// <summary>
/// A runner: claims ready step runs with FOR UPDATE SKIP LOCKED (so replicas share the work and never take the same
/// one), runs them under a lease it renews, and commits each outcome together with the planner's next decisions.
/// </summary>
public sealed class ExecutionEngine(NpgsqlDataSource db, ExecutionStore store, IEnumerable<IStepHandler> handlers,
    IOptions<EngineOptions> options, ILogger<ExecutionEngine> logger) : BackgroundService
{
    private readonly string _owner = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid():N}";
    private readonly Dictionary<string, IStepHandler> _handlers = handlers.ToDictionary(h => h.Type);
    private readonly SemaphoreSlim _wake = new(0);

    public bool CanRun(string type) => _handlers.ContainsKey(type) || type == "condition";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _ = ListenAsync(stoppingToken);
        var workers = Enumerable.Range(0, options.Value.Concurrency).Select(_ => WorkAsync(stoppingToken)).ToList();
        await Task.WhenAll(workers);
    }

    private async Task WorkAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (await ClaimAsync(ct) is { } claim)
                {
                    await RunAsync(claim, ct);
                    continue;
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogError(e, "Runner loop failed; retrying");
                await Task.Delay(TimeSpan.FromSeconds(1), ct).ContinueWith(_ => { });
            }
            try { await _wake.WaitAsync(options.Value.PollInterval, ct); }
            catch (OperationCanceledException) { return; }
        }
    }

    private sealed record Claim(Guid ExecutionId, string Pipeline, int Version, string Step, int Item, int Attempt, JsonObject Inputs,
        DateTimeOffset StartedAt, string? ExternalId, int Run, string? TraceParent);

    private async Task<Claim?> ClaimAsync(CancellationToken ct)
    {
        // A 'waiting' row (an approval) is claimed again only when its timeout (ready_at) has come.
        await using var cmd = db.Command(
            """
            UPDATE step_runs s SET status = 'running', lease_owner = @owner, runner = @owner, lease_until = now() + @lease, claims = s.claims + 1,
                started_at = CASE WHEN s.status = 'ready' THEN now() ELSE s.started_at END
            FROM executions e
            WHERE e.id = s.execution_id AND (s.execution_id, s.step, s.item) = (
                SELECT execution_id, step, item FROM step_runs
                WHERE (status IN ('ready', 'waiting') AND ready_at <= now()) OR (status = 'running' AND lease_until < now())
                ORDER BY ready_at LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING s.execution_id, e.pipeline, e.version, s.step, s.item, s.attempt, coalesce(s.inputs::text, '{}'), s.started_at, s.external_id, e.run, e.traceparent
            """, ("owner", _owner), ("lease", options.Value.Lease));
        await using var r = await cmd.ExecuteReaderAsync(ct);
        return await r.ReadAsync(ct)
            ? new Claim(r.GetGuid(0), r.GetString(1), r.GetInt32(2), r.GetString(3), r.GetInt32(4), r.GetInt32(5), JsonNode.Parse(r.GetString(6))!.AsObject(),
                r.GetFieldValue<DateTimeOffset>(7), r.IsDBNull(8) ? null : r.GetString(8), r.GetInt32(9),
                r.IsDBNull(10) ? null : r.GetString(10))
            : null;
    }

    /// <summary>
    /// A failure in transport rather than in the step: the service's fault (Step.SERVICE_FAULT), which SageMaker Pipelines
    /// retries — a request that could not be sent or answered; a response cut off (e.g. "The response ended prematurely"
    /// reading S3 under load); an object read whose bytes did not match the hash S3 sent for it (the SDK checks as the body
    /// ends and has no exception type of its own for it: seen on the S3 emulator reading an object being overwritten).
    /// </summary>
    public static bool IsTransportFault(Exception e) => e is HttpRequestException or HttpIOException
        || e is Amazon.Runtime.AmazonClientException && e.Message.Contains("Expected hash not equal to calculated hash", StringComparison.Ordinal);

    private async Task ReleaseLeaseAsync(Claim claim)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await using var cmd = db.Command(
                """
                UPDATE step_runs SET lease_until = now() - interval '1 millisecond'
                WHERE execution_id = @id AND step = @step AND item = @item AND lease_owner = @owner AND status = 'running'
                """, ("id", claim.ExecutionId), ("step", claim.Step), ("item", claim.Item), ("owner", _owner));
            await cmd.ExecuteNonQueryAsync(timeout.Token);
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or InvalidOperationException)
        {
            logger.LogWarning(e, "Could not give up the lease of {Step} of {Execution}; it is taken again when it runs out", claim.Step, claim.ExecutionId);
        }
    }

    /// <summary>Records the attempt's external resource (a training job's name) while this runner holds the lease.</summary>
    private async Task RecordExternalIdAsync(Claim claim, string externalId, CancellationToken ct)
    {
        await using var cmd = db.Command(
            "UPDATE step_runs SET external_id = @external WHERE execution_id = @id AND step = @step AND item = @item AND lease_owner = @owner",
            ("external", externalId), ("id", claim.ExecutionId), ("step", claim.Step), ("item", claim.Item), ("owner", _owner));
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private async Task RunAsync(Claim claim, CancellationToken stopping)
    {
        PipelineDefinition definition;
        await using (var connection = await db.OpenConnectionAsync(stopping))
        await using (var tx = await connection.BeginTransactionAsync(stopping))
            definition = await store.Pipelines.DefinitionAsync(tx, claim.Pipeline, claim.Version, stopping);
        var step = definition.Step(claim.Step)!;
        // In the execution's trace (its stored traceparent), whichever replica runs the step and however often it restarted.
        using var activity = PipelineTelemetry.StartStep(claim.Step, step.Type, claim.ExecutionId, claim.Pipeline, claim.Attempt, claim.TraceParent);

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        if (step.TimeoutSeconds is { } timeout)
            cts.CancelAfter(TimeSpan.FromSeconds(timeout));
        var heartbeat = HeartbeatAsync(claim, cts);
        StepResult result;
        var stopped = false;
        _handlers.TryGetValue(step.Type, out var handler);
        var context = new StepContext(claim.ExecutionId, claim.Pipeline, claim.Step, claim.Item, claim.Attempt, step, claim.Inputs,
            claim.StartedAt, claim.ExternalId, (id, ct) => RecordExternalIdAsync(claim, id, ct), claim.Run);
        try
        {
            result = handler is not null
                ? await handler.RunAsync(context, cts.Token)
                : new StepFailed(FailureKinds.StepFailed, $"No runner for step type '{step.Type}' in this build.");
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Shutting down: give the lease up now, so a runner (this one restarted, or another replica) takes the step
            // again at once rather than after the lease, and finds its work again (a training job by its name).
            await ReleaseLeaseAsync(claim);
            return;
        }
        catch (OperationCanceledException) when (_stopRequested.ContainsKey((claim.ExecutionId, claim.Step, claim.Item)))
        {
            stopped = true;
            result = new StepFailed(FailureKinds.StepFailed, "Stopped.");
            await CancelQuietlyAsync(handler!, context, stopping);
        }
        catch (OperationCanceledException)
        {
            result = new StepFailed(FailureKinds.Timeout, $"Timed out after {step.TimeoutSeconds} s.");
            await CancelQuietlyAsync(handler!, context, stopping);
        }
        catch (StepException e)
        {
            result = new StepFailed(e.Kind, e.Message);
        }
        catch (Mlops.ExperimentTracker.Client.MlflowApiException e)
        {
            result = new StepFailed((int)e.StatusCode >= 500 ? FailureKinds.ServiceFault : FailureKinds.StepFailed, $"ExperimentTracker: {e.Message}");
        }
        catch (Exception e) when (IsTransportFault(e))
        {
            result = new StepFailed(FailureKinds.ServiceFault, e.Message);
        }
        catch (Exception e)
        {
            result = new StepFailed(FailureKinds.StepFailed, e.Message);
        }
        finally
        {
            await cts.CancelAsync();
            await heartbeat.ContinueWith(_ => { });
            _stopRequested.TryRemove((claim.ExecutionId, claim.Step, claim.Item), out _);
        }
        if (result is StepFailed failed)
            activity?.SetStatus(ActivityStatusCode.Error, failed.Message);
        await CompleteAsync(claim, step, result, stopped, stopping);
    }

    private readonly ConcurrentDictionary<(Guid, string, int), bool> _stopRequested = new();

    /// <summary>Stops what a stopped or timed-out step started elsewhere; a failure to do so is logged, not the step's outcome.</summary>
    private async Task CancelQuietlyAsync(IStepHandler handler, StepContext context, CancellationToken ct)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            await handler.CancelAsync(context, timeout.Token);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            logger.LogWarning(e, "Could not cancel step {Step} of execution {Execution}", context.Step, context.ExecutionId);
        }
    }

    /// <summary>Renews the lease; notices a stop request and cancels the step.</summary>
    private async Task HeartbeatAsync(Claim claim, CancellationTokenSource cts)
    {
        var every = options.Value.Lease / 3;
        while (!cts.IsCancellationRequested)
        {
            await Task.Delay(every, cts.Token);
            await using var cmd = db.Command(
                """
                UPDATE step_runs s SET lease_until = now() + @lease FROM executions e
                WHERE e.id = s.execution_id AND s.execution_id = @id AND s.step = @step AND s.item = @item AND s.lease_owner = @owner
                RETURNING e.stop_requested
                """, ("lease", options.Value.Lease), ("id", claim.ExecutionId), ("step", claim.Step), ("item", claim.Item), ("owner", _owner));
            if (await cmd.ExecuteScalarAsync(cts.Token) is true)
            {
                _stopRequested[(claim.ExecutionId, claim.Step, claim.Item)] = true;
                await cts.CancelAsync();
            }
        }
    }

    private async Task CompleteAsync(Claim claim, StepDefinition step, StepResult result, bool stopped, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        var view = await store.LoadForUpdateAsync(tx, claim.ExecutionId, ct);
        if (view is null)
            return;
        int updated;
        var retry = false;
        if (result is StepWaiting waiting)
        {
            // Holds no runner: the row is claimed again only when it times out (ready_at), or decided through the API.
            await using var cmd = connection.Command(
                """
                UPDATE step_runs SET status = 'waiting', ready_at = @until, lease_owner = NULL, lease_until = NULL
                WHERE execution_id = @id AND step = @step AND item = @item AND lease_owner = @owner AND status = 'running'
                """, tx, ("id", claim.ExecutionId), ("step", claim.Step), ("item", claim.Item), ("owner", _owner));
            cmd.Parameters.AddWithValue("until", NpgsqlDbType.TimestampTz, (object?)waiting.Until ?? DBNull.Value);
            if (await cmd.ExecuteNonQueryAsync(ct) > 0)
                await tx.CommitAsync(ct);
            return;
        }
        if (result is StepSucceeded ok)
        {
            await using var cmd = connection.Command(
                """
                UPDATE step_runs SET status = 'succeeded', outputs = @outputs, ended_at = now(), lease_owner = NULL, lease_until = NULL
                WHERE execution_id = @id AND step = @step AND item = @item AND lease_owner = @owner AND status = 'running'
                """, tx, ("id", claim.ExecutionId), ("step", claim.Step), ("item", claim.Item), ("owner", _owner));
            cmd.Parameters.AddWithValue("outputs", NpgsqlDbType.Jsonb, ok.Outputs.ToJsonString());
            updated = await cmd.ExecuteNonQueryAsync(ct);
        }
        else
        {
            var failed = (StepFailed)result;
            var delay = stopped || view.StopRequested ? null : Planner.RetryDelay(step.Retry, failed.Kind, claim.Attempt);
            retry = delay is not null;
            // A retry is the same row made ready again after the policy's delay; the failed attempt is kept in 'attempts'.
            updated = await tx.ExecuteAsync(
                """
                UPDATE step_runs SET
                    attempts = attempts || jsonb_build_object('attempt', attempt, 'error', @error::text, 'failure_kind', @kind::text,
                        'started_at', started_at, 'ended_at', now()),
                    status = CASE WHEN @retry THEN 'ready' WHEN @stopped THEN 'stopped' ELSE 'failed' END,
                    attempt = CASE WHEN @retry THEN attempt + 1 ELSE attempt END,
                    ready_at = CASE WHEN @retry THEN now() + @delay ELSE ready_at END,
                    error = @error, failure_kind = @kind, ended_at = CASE WHEN @retry THEN NULL ELSE now() END,
                    lease_owner = NULL, lease_until = NULL, external_id = CASE WHEN @retry THEN NULL ELSE external_id END
                WHERE execution_id = @id AND step = @step AND item = @item AND lease_owner = @owner AND status = 'running'
                """, ct, ("id", claim.ExecutionId), ("step", claim.Step), ("item", claim.Item), ("owner", _owner),
                ("error", failed.Message), ("kind", failed.Kind), ("retry", delay is not null), ("stopped", stopped),
                ("delay", delay ?? TimeSpan.Zero));
        }
        if (updated == 0)
            return; // the lease was lost: another runner owns this step now; its outcome counts, not ours
        await tx.EnqueueAsync(result is StepFailed f
            ? ExecutionStore.StepCompleted(view, claim.Step, claim.Item, claim.Attempt, retry ? "retrying" : stopped ? StepStatus.Stopped : StepStatus.Failed,
                f.Message, f.Kind)
            : ExecutionStore.StepCompleted(view, claim.Step, claim.Item, claim.Attempt, StepStatus.Succeeded, null, null), ct);
        view = await store.LoadForUpdateAsync(tx, claim.ExecutionId, ct);
        await store.AdvanceAsync(tx, view!, ct);
        await tx.CommitAsync(ct);
        PipelineTelemetry.StepFinished(claim.Pipeline, step.Type,
            result is StepFailed ? retry ? "retrying" : stopped ? StepStatus.Stopped : StepStatus.Failed : StepStatus.Succeeded,
            DateTimeOffset.UtcNow - claim.StartedAt);
        _wake.Release(); // a dependant may be ready now: look at once rather than wait for the NOTIFY
    }

    private Task ListenAsync(CancellationToken ct) =>
        Notifications.ListenAsync(db, ExecutionStore.NotifyChannel, _ => _wake.Release(options.Value.Concurrency), logger, ct);
}
