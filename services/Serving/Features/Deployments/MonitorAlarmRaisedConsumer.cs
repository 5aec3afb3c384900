using MassTransit;
using Mlops.Contracts;
using Mlops.ServiceDefaults.Messaging;
using Mlops.Serving.Features.Routing;
using Npgsql;

namespace Mlops.Serving.Features.Deployments;

/// <summary>
/// Auto-rollback: a monitor alarm for an endpoint whose deployment is still in progress (shifting or baking) rolls it back.
/// Once per message (inbox); a second alarm finds the deployment already rolled back and changes nothing, and an alarm
/// raised before the deployment started (delivered late, or out of order) was about the configuration before it: ignored.
/// </summary>
public sealed class MonitorAlarmRaisedConsumer(NpgsqlDataSource db, DeploymentEngine engine, RoutingTable routes) : IConsumer<MonitorAlarmRaised>
{
    public async Task Consume(ConsumeContext<MonitorAlarmRaised> context)
    {
        var alarm = context.Message;
        if (alarm.Endpoint is null)
            return;
        await db.ExecuteOnceAsync(context, nameof(MonitorAlarmRaisedConsumer), transaction =>
            engine.RollBackAsync(transaction, alarm.Endpoint, null,
                $"alarm {alarm.AlarmName} ({alarm.Check} {alarm.Metric} = {alarm.Value} against {alarm.Threshold}): {alarm.Reason}", context.CancellationToken,
                evidenceAt: alarm.RaisedAt));
        // This replica serves the restored split at once; the others at their next refresh.
        await routes.LoadAsync(alarm.Endpoint, context.CancellationToken);
    }
}

public sealed class MonitorAlarmRaisedConsumerDefinition : ConsumerDefinition<MonitorAlarmRaisedConsumer>
{
    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<MonitorAlarmRaisedConsumer> consumerConfigurator, IRegistrationContext context) =>
        endpointConfigurator.UseMessageRetry(r => r.Intervals(100, 500, 2000, 5000));
}
