using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Mlops.ServiceDefaults.Diagnostics;

namespace Mlops.ServiceDefaults.Messaging;

public static class BusExtensions
{
    /// <summary>
    /// Joins the service to the bus: MassTransit on RabbitMQ from the <c>messaging</c> connection string, kebab-case
    /// queues prefixed with the service name, retries with back-off and then the <c>_error</c> queue (a failed message
    /// is never acknowledged and dropped), the outbox relay, and the bus probe consumer every service answers.
    /// Requires <c>AddMlopsDatabase</c> (outbox and inbox live in the service's database).
    /// </summary>
    public static IHostApplicationBuilder AddMlopsBus(this IHostApplicationBuilder builder, Action<IBusRegistrationConfigurator>? configure = null)
    {
        var connectionString = builder.Configuration.GetConnectionString(ResourceNames.Messaging)
            ?? throw new InvalidOperationException($"Connection string '{ResourceNames.Messaging}' is missing (an amqp:// URI).");
        var broker = new Uri(connectionString);
        var prefix = builder.Configuration["Bus:EndpointPrefix"] ?? builder.Environment.ApplicationName.ToLowerInvariant();

        builder.Services.AddMassTransit(bus =>
        {
            bus.SetEndpointNameFormatter(new KebabCaseEndpointNameFormatter(prefix, includeNamespace: false));
            bus.AddConsumer<ProbeSentConsumer>();
            configure?.Invoke(bus);
            bus.UsingRabbitMq((context, rabbit) =>
            {
                var credentials = broker.UserInfo.Split(':', 2);
                rabbit.Host(broker.Host, (ushort)(broker.IsDefaultPort ? 5672 : broker.Port),
                    broker.AbsolutePath is "" or "/" ? "/" : Uri.UnescapeDataString(broker.AbsolutePath.TrimStart('/')), host =>
                    {
                        if (credentials[0].Length > 0)
                            host.Username(Uri.UnescapeDataString(credentials[0]));
                        if (credentials.Length > 1)
                            host.Password(Uri.UnescapeDataString(credentials[1]));
                        if (broker.Scheme == "amqps")
                            host.UseSsl(_ => { });
                    });
                rabbit.UseMessageRetry(retry => retry.Exponential(5, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(500)));
                rabbit.ConfigureEndpoints(context);
            });
        });

        builder.Services.AddOptions<OutboxOptions>().BindConfiguration("Outbox");
        builder.Services.AddHostedService<OutboxRelay>();
        return builder;
    }
}
