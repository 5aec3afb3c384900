using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Mlops.AppHost;

/// <summary>
/// A newcomer's first run: once every resource is healthy the console shows one short summary (dashboard login, each
/// service's URL and API docs, where the keys are, how to stop), and when the sample scenario ends, what it did. Only in
/// run mode, and not under the test host (which has its own console).
/// </summary>
internal static partial class StartupSummary
{
    /// <summary>Lines of the sample's output that start with this marker are its narrative, relayed to the console.</summary>
    public const string NarrativeMarker = "» ";

    public static void AddStartupSummary(this IDistributedApplicationBuilder builder, IEnumerable<string> waitFor)
    {
        if (!builder.ExecutionContext.IsRunMode || !builder.Configuration.GetValue("StartupSummary:Enabled", true))
            return;
        var names = waitFor.ToArray();
        builder.Services.AddHostedService(sp => new Printer(sp, builder.Configuration, names));
    }

    private sealed class Printer(IServiceProvider services, IConfiguration configuration, string[] names) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            var notifications = services.GetRequiredService<ResourceNotificationService>();
            var model = services.GetRequiredService<DistributedApplicationModel>();
            try
            {
                // Only what this model has (a benchmark or test may leave services out).
                foreach (var name in names.Where(n => model.Resources.Any(r => r.Name == n)))
                    await notifications.WaitForResourceHealthyAsync(name, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception e)
            {
                // A resource that fails to start is the dashboard's to show; the summary must never stop the AppHost
                // (an exception escaping a BackgroundService stops the host).
                Console.WriteLine($"Mlops.Aspire is not fully up: {e.Message} See the dashboard for the resource's logs.");
                return;
            }
            Console.WriteLine(Summary(model));
            if (model.Resources.FirstOrDefault(r => r.Name == ResourceNames.Sample) is { } sample)
                await RelaySampleAsync(sample, stoppingToken);
        }

        private string Summary(DistributedApplicationModel model)
        {
            var text = new StringBuilder();
            text.AppendLine();
            text.AppendLine("Mlops.Aspire is up.");
            var dashboard = configuration["ASPNETCORE_URLS"]?.Split(';')[0];
            var token = configuration["AppHost:BrowserToken"];
            if (dashboard is not null)
                text.AppendLine($"  Dashboard     {dashboard}{(token is null ? "" : $"/login?t={token}")}");
            foreach (var service in model.Resources.OfType<ProjectResource>().Where(r => names.Contains(r.Name)))
            {
                var url = service.GetEndpoints().FirstOrDefault(e => e.IsAllocated)?.Url;
                if (url is not null)
                    text.AppendLine($"  {service.Name,-17} {url}   API docs {url}/scalar");
            }
            text.AppendLine("  Keys          dotnet user-secrets list --project AppHost   (Parameters:api-key; Parameters:admin-key for administration)");
            text.AppendLine("                send them as 'Authorization: Bearer <key>'");
            var data = configuration["Infrastructure:DataDirectory"] ?? ".mlops-data";
            text.AppendLine($"  Stop          Ctrl+C (local infrastructure keeps its data in {data})");
            return text.ToString();
        }

        // The sample trains for a while after the platform is up; its narrative lines are relayed as they come.
        private async Task RelaySampleAsync(IResource sample, CancellationToken ct)
        {
            var logs = services.GetRequiredService<ResourceLoggerService>();
            try
            {
                await foreach (var batch in logs.WatchAsync(sample).WithCancellation(ct))
                    foreach (var line in batch)
                    {
                        var content = Timestamp().Replace(line.Content, "");
                        if (content.StartsWith(NarrativeMarker, StringComparison.Ordinal))
                            Console.WriteLine($"  sample: {content[NarrativeMarker.Length..]}");
                    }
            }
            catch (OperationCanceledException)
            {
            }
            catch (Exception e)
            {
                Console.WriteLine($"  sample: its output could not be followed ({e.Message}); see its logs on the dashboard.");
            }
        }
    }

    // Resource log lines may carry the orchestrator's timestamp in front.
    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T[0-9:.]+Z?\s+")]
    private static partial Regex Timestamp();
}
