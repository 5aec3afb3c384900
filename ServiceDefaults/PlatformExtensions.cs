using System.Reflection;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;
using Mlops.ServiceDefaults.Data;
using Mlops.ServiceDefaults.Diagnostics;
using Mlops.ServiceDefaults.Messaging;
using Mlops.ServiceDefaults.Storage;

namespace Microsoft.Extensions.Hosting;

public static class PlatformExtensions
{
    /// <summary>
    /// Everything a platform service stands on, in the order it must start: its own database (migrated before anything
    /// else starts), the bus with outbox and inbox, and S3. <paramref name="migrations"/> holds the service's embedded
    /// <c>Migrations/*.sql</c>; <paramref name="configureBus"/> registers its consumers.
    /// </summary>
    public static IHostApplicationBuilder AddMlopsPlatform(this IHostApplicationBuilder builder, string databaseConnectionName,
        Assembly migrations, Action<IBusRegistrationConfigurator>? configureBus = null)
    {
        builder.AddMlopsDatabase(databaseConnectionName, migrations);
        builder.AddMlopsBus(configureBus);
        builder.AddMlopsS3();
        return builder;
    }

    /// <summary>Maps the default endpoints and the platform's own (bus probes).</summary>
    public static WebApplication MapMlopsPlatformEndpoints(this WebApplication app)
    {
        app.MapDefaultEndpoints();
        app.MapBusProbeEndpoints();
        return app;
    }
}
