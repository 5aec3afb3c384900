using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Mlops.ServiceDefaults.Auth;
using Mlops.ServiceDefaults.Errors;
using Mlops.ServiceDefaults.Telemetry;
using Scalar.AspNetCore;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// What every Mlops.Aspire service shares: telemetry, health, service discovery, resilience, ProblemDetails errors,
/// API-key authentication, OpenAPI. Storage, database and bus are opted into separately.
/// </summary>
public static class ServiceDefaultsExtensions
{
    public const string HealthEndpointPath = "/health";
    public const string AlivenessEndpointPath = "/alive";

    /// <summary>Adds the platform defaults every service needs. Call first in <c>Program.cs</c>.</summary>
    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.ConfigureOpenTelemetry();
        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), ["live"]);

        builder.Services.AddServiceDiscovery();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            http.AddStandardResilienceHandler();
            http.AddServiceDiscovery();
        });

        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = ProblemDetailsExceptionHandler.Explain);
        builder.Services.AddExceptionHandler<ProblemDetailsExceptionHandler>();
        // Bad JSON and bad parameters surface as exceptions so the handler can name what is wrong (never a bare 400 or a 500).
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.Services.Configure<KestrelServerOptions>(o =>
        {
            o.Limits.MaxRequestBodySize = builder.Configuration.GetValue<long?>("Limits:MaxRequestBodyBytes") ?? 32L * 1024 * 1024;
            // Requests Kestrel refuses itself (a NUL in the path, an over-long URL) still get a ProblemDetails body.
            o.ConfigureEndpointDefaults(listen => listen.UseRejectionProblems());
        });

        builder.AddApiKeyAuthentication();
        builder.Services.AddOpenApi(o => o.AddDocumentTransformer<BearerSecuritySchemeTransformer>());
        return builder;
    }

    /// <summary>Maps health endpoints (anonymous), OpenAPI and, in Development, the Scalar API reference.</summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseAuthentication();
        app.UseAuthorization();

        // Readiness: every registered check (database, bus, ...). Liveness: the process answers.
        app.MapHealthChecks(HealthEndpointPath, new HealthCheckOptions { ResponseWriter = WriteHealthAsync }).AllowAnonymous();
        app.MapHealthChecks(AlivenessEndpointPath, new HealthCheckOptions { Predicate = r => r.Tags.Contains("live") }).AllowAnonymous();

        var openApi = app.MapOpenApi();
        if (app.Environment.IsDevelopment())
        {
            // Browsable docs for a developer's browser, which cannot attach the bearer token itself.
            openApi.AllowAnonymous();
            app.MapScalarApiReference().AllowAnonymous();
        }
        return app;
    }

    // "Healthy", or the status followed by the checks that are not healthy (names only: this endpoint is anonymous).
    private static Task WriteHealthAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "text/plain";
        var failing = report.Entries.Where(e => e.Value.Status != HealthStatus.Healthy).Select(e => $"{e.Key}: {e.Value.Status}");
        return context.Response.WriteAsync(string.Join("\n", failing.Prepend(report.Status.ToString())));
    }
}
