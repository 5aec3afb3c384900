using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Mlops.Contracts;
using Mlops.ServiceDefaults.Diagnostics;
using Mlops.ServiceDefaults.Messaging;
using Npgsql;

namespace Mlops.Tests;

/// <summary>The outbox, the bus and the inbox, end to end between real services on a real RabbitMQ.</summary>
public sealed class MessagingTests(PlatformFixture platform)
{
    private static readonly TimeSpan Delivery = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task OutboxEvent_FromOneService_IsConsumedByTheOthers()
    {
        var probe = await SendProbeAsync(ResourceNames.FeatureStore);

        foreach (var service in PlatformFixture.Services)
        {
            var receipts = await WaitForReceiptsAsync(service, probe.ProbeId, Delivery);
            Assert.Equal(1, receipts.Count);
            Assert.Equal("FeatureStore", receipts.Receipts[0].Origin);
        }
    }

    [Fact]
    public async Task PublishInRolledBackTransaction_IsNeverDelivered()
    {
        var rolledBack = new ProbeSent(Guid.CreateVersion7(), "rolled-back", DateTimeOffset.UtcNow);
        var committed = new ProbeSent(Guid.CreateVersion7(), "committed", DateTimeOffset.UtcNow);
        await using (var db = await platform.OpenDatabaseAsync(ResourceNames.FeatureStore))
        {
            await using (var transaction = await db.BeginTransactionAsync())
            {
                await transaction.EnqueueAsync(rolledBack);
                await transaction.RollbackAsync();
            }
            await using (var transaction = await db.BeginTransactionAsync())
            {
                await transaction.EnqueueAsync(committed);
                await transaction.CommitAsync();
            }
            await using var count = new NpgsqlCommand("SELECT count(*) FROM outbox_messages WHERE body->>'probeId' = @id", db);
            count.Parameters.AddWithValue("id", rolledBack.ProbeId.ToString());
            Assert.Equal(0L, await count.ExecuteScalarAsync());
        }

        // The relay publishes in commit order, so once the later event has arrived the earlier one would have too.
        await WaitForReceiptsAsync(ResourceNames.ExperimentTracker, committed.ProbeId, Delivery);
        using var client = platform.CreateClient(ResourceNames.ExperimentTracker);
        var response = await client.GetAsync($"/api/diagnostics/probes/{rolledBack.ProbeId}");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task UnpublishableOutboxRow_IsParked_AndLaterEventsStillFlow()
    {
        var later = new ProbeSent(Guid.CreateVersion7(), "after-unpublishable", DateTimeOffset.UtcNow);
        var bogusId = Guid.CreateVersion7();
        await using var db = await platform.OpenDatabaseAsync(ResourceNames.FeatureStore);
        await using (var transaction = await db.BeginTransactionAsync())
        {
            // What a renamed contract would leave behind: a committed row whose type no longer exists.
            await using var insert = new NpgsqlCommand(
                "INSERT INTO outbox_messages (message_id, message_type, body) VALUES (@id, 'Mlops.Contracts.NoSuchEvent', '{}'::jsonb)", db, transaction);
            insert.Parameters.AddWithValue("id", bogusId);
            await insert.ExecuteNonQueryAsync();
            await transaction.EnqueueAsync(later);
            await transaction.CommitAsync();
        }

        await WaitForReceiptsAsync(ResourceNames.ExperimentTracker, later.ProbeId, Delivery);
        // The relay parks the row after its attempts, which can end after the later event went out (other tests' rows share it).
        var error = await Poll.UntilAsync(async () =>
        {
            await using var parked = new NpgsqlCommand("SELECT last_error FROM outbox_messages WHERE message_id = @id AND parked_at IS NOT NULL", db);
            parked.Parameters.AddWithValue("id", bogusId);
            return await parked.ExecuteScalarAsync() as string;
        }, Delivery, $"outbox row {bogusId} parked");
        Assert.Contains("NoSuchEvent", error);
    }

    [Fact]
    public async Task DuplicateDelivery_HasItsEffectOnce()
    {
        var probe = new ProbeSent(Guid.CreateVersion7(), "duplicate-test", DateTimeOffset.UtcNow);
        var messageId = NewId.NextGuid();
        var bus = await platform.StartTestBusAsync();
        try
        {
            for (var i = 0; i < 2; i++)
                await bus.Publish(probe, context => context.MessageId = messageId);
        }
        finally
        {
            await bus.StopAsync();
        }

        await WaitForReceiptsAsync(ResourceNames.ExperimentTracker, probe.ProbeId, Delivery);
        // Both copies are on the queue at once; give the second every chance to be (wrongly) applied.
        await Task.Delay(TimeSpan.FromSeconds(3));
        foreach (var service in PlatformFixture.Services)
            Assert.Equal(1, (await WaitForReceiptsAsync(service, probe.ProbeId, Delivery)).Count);

        await using var db = await platform.OpenDatabaseAsync(ResourceNames.ExperimentTracker);
        await using var inbox = new NpgsqlCommand("SELECT count(*) FROM inbox_messages WHERE message_id = @id", db);
        inbox.Parameters.AddWithValue("id", messageId);
        Assert.Equal(1L, await inbox.ExecuteScalarAsync());
    }

    [Fact]
    public async Task MessageWhoseConsumerFails_IsRetriedThenMovedToTheErrorQueue_NeverDropped()
    {
        // A null origin violates the receipts table's NOT NULL: the consumer fails on every attempt.
        var poison = new ProbeSent(Guid.CreateVersion7(), null!, DateTimeOffset.UtcNow);
        const string errorQueue = "experimenttracker-probe-sent_error";
        var before = await QueueDepthAsync(errorQueue);
        var bus = await platform.StartTestBusAsync();
        try
        {
            await bus.Publish(poison);
        }
        finally
        {
            await bus.StopAsync();
        }

        await Poll.UntilAsync(async () => await QueueDepthAsync(errorQueue) > before ? "moved" : null,
            TimeSpan.FromSeconds(90), $"the failing message to reach {errorQueue}");
        using var client = platform.CreateClient(ResourceNames.ExperimentTracker);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/diagnostics/probes/{poison.ProbeId}")).StatusCode);
    }

    // Runs alone: MessagingTestsFaults.
    internal async Task EventPublishedWhileBrokerIsDown_ArrivesAfterItRestarts()
    {
        var commands = platform.App.Services.GetRequiredService<ResourceCommandService>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var stop = await commands.ExecuteCommandAsync(ResourceNames.Messaging, KnownResourceCommands.StopCommand, timeout.Token);
        Assert.True(stop.Success, stop.Message);
        await platform.App.ResourceNotifications.WaitForResourceAsync(ResourceNames.Messaging,
            e => e.Snapshot.State?.Text is "Exited" or "Finished" or "Stopped", timeout.Token);

        ProbeResponse probe;
        try
        {
            probe = await SendProbeAsync(ResourceNames.FeatureStore);
            await Task.Delay(TimeSpan.FromSeconds(3));
            using var client = platform.CreateClient(ResourceNames.ExperimentTracker);
            Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/diagnostics/probes/{probe.ProbeId}")).StatusCode);
        }
        finally
        {
            var start = await commands.ExecuteCommandAsync(ResourceNames.Messaging, KnownResourceCommands.StartCommand, timeout.Token);
            Assert.True(start.Success, start.Message);
        }

        await platform.App.ResourceNotifications.WaitForResourceHealthyAsync(ResourceNames.Messaging, timeout.Token);
        var receipts = await WaitForReceiptsAsync(ResourceNames.ExperimentTracker, probe.ProbeId, TimeSpan.FromMinutes(2));
        Assert.Equal(1, receipts.Count);
        await platform.WaitHealthyAsync(timeout.Token);
    }

    [Fact]
    public async Task OneTrace_SpansTheHttpRequestTheBusAndTheConsumerInAnotherService()
    {
        var traceId = ActivityTraceId.CreateRandom();
        using var client = platform.CreateClient(ResourceNames.FeatureStore);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/diagnostics/probes");
        request.Headers.Add("traceparent", $"00-{traceId}-{ActivitySpanId.CreateRandom()}-01");
        var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var probe = (await response.Content.ReadFromJsonAsync<ProbeResponse>())!;

        var receipt = await WaitForReceiptsAsync(ResourceNames.ExperimentTracker, probe.ProbeId, Delivery);
        Assert.Equal(traceId.ToString(), receipt.Receipts[0].TraceId);

        // The consumer's span in ExperimentTracker descends, through the bus, from FeatureStore's producer and HTTP server spans.
        var chain = await Poll.UntilAsync(async () =>
        {
            await Task.Yield();
            var trace = platform.Otlp.Spans.Where(s => s.TraceId == traceId.ToString()).ToList();
            var byId = trace.GroupBy(s => s.SpanId).ToDictionary(g => g.Key, g => g.First());
            foreach (var consumer in trace.Where(s => s.Service == ResourceNames.ExperimentTracker && s.Kind == CollectedSpan.KindConsumer))
            {
                var ancestors = new List<CollectedSpan>();
                for (var current = consumer; byId.TryGetValue(current.ParentSpanId, out var parent); current = parent)
                    ancestors.Add(parent);
                if (ancestors.Any(s => s.Service == ResourceNames.FeatureStore && s.Kind == CollectedSpan.KindProducer)
                    && ancestors.Any(s => s.Service == ResourceNames.FeatureStore && s.Kind == CollectedSpan.KindServer))
                    return ancestors.Prepend(consumer).ToList();
            }
            return null;
        }, TimeSpan.FromSeconds(30), () => $"an ExperimentTracker consumer span descending from FeatureStore's HTTP and producer spans in trace {traceId}; "
            + "spans of this trace: " + string.Join(", ", platform.Otlp.Spans.Where(s => s.TraceId == traceId.ToString()).Select(s => $"{s.Service}/{s.Name}/{s.Kind}")));

        // The root of the chain is the HTTP request the test made.
        Assert.Equal(CollectedSpan.KindServer, chain[^1].Kind);
        Assert.Equal(ResourceNames.FeatureStore, chain[^1].Service);
    }

    private async Task<ProbeResponse> SendProbeAsync(string service)
    {
        using var client = platform.CreateClient(service);
        var response = await client.PostAsJsonAsync("/api/diagnostics/probes", new { note = "integration test" });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<ProbeResponse>())!;
    }

    private async Task<ProbeReceiptsResponse> WaitForReceiptsAsync(string service, Guid probeId, TimeSpan timeout)
    {
        using var client = platform.CreateClient(service);
        return await Poll.UntilAsync(async () =>
        {
            var response = await client.GetAsync($"/api/diagnostics/probes/{probeId}");
            return response.StatusCode == HttpStatusCode.OK ? await response.Content.ReadFromJsonAsync<ProbeReceiptsResponse>() : null;
        }, timeout, $"{service} to receive probe {probeId}");
    }

    private async Task<uint> QueueDepthAsync(string queue)
    {
        var factory = new RabbitMQ.Client.ConnectionFactory { Uri = new Uri((await platform.App.GetConnectionStringAsync(ResourceNames.Messaging))!) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        try
        {
            return (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            return 0; // MassTransit creates the error queue on the first failure
        }
    }
}

/// <summary>The test of <see cref="MessagingTests"/> that stops RabbitMQ: in the faults collection, so it runs alone.</summary>
[Collection(FaultsCollection.Name)]
public sealed class MessagingTestsFaults(PlatformFixture platform)
{
    [Fact]
    public Task EventPublishedWhileBrokerIsDown_ArrivesAfterItRestarts() => new MessagingTests(platform).EventPublishedWhileBrokerIsDown_ArrivesAfterItRestarts();
}
