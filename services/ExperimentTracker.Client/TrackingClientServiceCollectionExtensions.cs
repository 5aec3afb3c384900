using System.Net.Http.Headers;
using Microsoft.Extensions.DependencyInjection;

namespace Mlops.ExperimentTracker.Client;

/// <summary>Registers <see cref="TrackingClient"/> for other services.</summary>
public static class TrackingClientServiceCollectionExtensions
{
    /// <summary>
    /// Registers a typed <see cref="TrackingClient"/> at <paramref name="baseAddress"/> (inside Aspire,
    /// <c>https+http://experimenttracker</c> resolves through service discovery) sending <paramref name="apiKey"/> as the bearer token.
    /// </summary>
    public static IHttpClientBuilder AddExperimentTrackerClient(this IServiceCollection services, Uri baseAddress, Func<IServiceProvider, string> apiKey) =>
        services.AddHttpClient<TrackingClient>((sp, client) =>
        {
            client.BaseAddress = baseAddress;
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey(sp));
        });
}
