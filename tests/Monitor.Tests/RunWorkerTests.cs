using Mlops.Monitor.Features.Drift;
using Mlops.Monitor.Features.Runs;

namespace Mlops.Monitor.Tests;

/// <summary>The order of the monitor loop's work: schedules are never starved by a queue that is never empty.</summary>
public sealed class RunWorkerTests
{
    private static RunRow Run(long seq) => new(Guid.CreateVersion7(), seq, null, "e", null, "b", 1, new RunSource(null, new CaptureWindow("e", null, null, null)),
        DriftOptions.Default, null, null, "running", null, 1, null, null, null, null, null, null, null, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, null);

    [Fact]
    public async Task ABusyMonitor_EnqueuesDueSchedulesBeforeEveryRun()
    {
        // Every claim finds a run (on-demand runs asked for as fast as they end): each turn still enqueues due schedules
        // and recovers dead runs before it claims (it used to drain the queue first and so never came back to them).
        var calls = new List<string>();
        long seq = 0;
        for (var turn = 0; turn < 3; turn++)
        {
            var ran = await RunWorker.TurnAsync(
                _ => { calls.Add("enqueue"); return Task.FromResult(0); },
                _ => { calls.Add("recover"); return Task.FromResult(0); },
                _ => { calls.Add("claim"); return Task.FromResult<RunRow?>(Run(++seq)); },
                (run, _) => { calls.Add($"execute {run.Seq}"); return Task.CompletedTask; },
                _ => { calls.Add("release"); return Task.CompletedTask; },
                CancellationToken.None);
            Assert.True(ran);
        }
        Assert.Equal(["enqueue", "recover", "claim", "execute 1", "enqueue", "recover", "claim", "execute 2", "enqueue", "recover", "claim", "execute 3"], calls);
    }

    [Fact]
    public async Task NothingToClaim_IsAnIdleTurn()
    {
        var executed = false;
        var ran = await RunWorker.TurnAsync(_ => Task.FromResult(1), _ => Task.FromResult(0), _ => Task.FromResult<RunRow?>(null),
            (_, _) => { executed = true; return Task.CompletedTask; }, _ => Task.CompletedTask, CancellationToken.None);
        Assert.False(ran);
        Assert.False(executed);
    }

    [Fact]
    public async Task ShuttingDown_GivesTheRunningRunBack()
    {
        using var stopping = new CancellationTokenSource();
        var run = Run(7);
        Guid? released = null;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => RunWorker.TurnAsync(_ => Task.FromResult(0), _ => Task.FromResult(0),
            _ => Task.FromResult<RunRow?>(run),
            async (_, ct) => { await stopping.CancelAsync(); ct.ThrowIfCancellationRequested(); },
            id => { released = id; return Task.CompletedTask; }, stopping.Token));
        Assert.Equal(run.Id, released);
    }
}
