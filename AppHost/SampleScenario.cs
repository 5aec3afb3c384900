using Microsoft.Extensions.Configuration;
using Mlops;
using Mlops.AppHost.Infrastructure;

namespace Mlops.AppHost;

/// <summary>
/// The sample scenario (samples/FlightsDelay, the loop in samples/FlightsLoop): once the services are healthy it runs the
/// continuous-training loop on the flights data — history ingested, the first champion trained by the pipeline and
/// deployed, later months replayed as traffic with ground truth, the drift alarm retraining it, the canary promoted or
/// rolled back — and narrates it. <c>Sample:Enabled=false</c> leaves it out; <c>Sample:FlightsPerMonth</c> sizes it
/// (default 3,000).
/// </summary>
internal static class SampleScenario
{
    public static void AddSampleScenario(this IDistributedApplicationBuilder builder, PlatformInfrastructure infrastructure,
        IResourceBuilder<ParameterResource> apiKey, params IResourceBuilder<ProjectResource>[] services)
    {
        if (!builder.Configuration.GetValue("Sample:Enabled", true))
            return;
        var repoRoot = Path.GetFullPath(Path.Combine(builder.AppHostDirectory, ".."));
        var sample = builder.AddProject<Projects.FlightsDelay>(ResourceNames.Sample)
            .WithEnvironment("Auth__ApiKey", apiKey)
            .WithS3(infrastructure.S3)
            .WithEnvironment("Sample__FlightsParquet", Path.Combine(repoRoot, "eng", "node", "node_modules", "vega-datasets", "data", "flights-3m.parquet"))
            .WithEnvironment("Sample__FlightsPerMonth", builder.Configuration["Sample:FlightsPerMonth"] ?? "3000")
            .WithEnvironment("Sample__GitCommit", GitCommit(repoRoot) ?? "");
        foreach (var service in services)
            sample.WithReference(service).WaitFor(service);
    }

    /// <summary>The checked-out commit, read from .git without running git (null outside a plain clone).</summary>
    internal static string? GitCommit(string repoRoot)
    {
        try
        {
            var git = Path.Combine(repoRoot, ".git");
            var head = File.ReadAllText(Path.Combine(git, "HEAD")).Trim();
            if (!head.StartsWith("ref: ", StringComparison.Ordinal))
                return head;
            var reference = head[5..];
            var loose = Path.Combine(git, reference);
            if (File.Exists(loose))
                return File.ReadAllText(loose).Trim();
            var packed = Path.Combine(git, "packed-refs");
            return File.Exists(packed)
                ? File.ReadLines(packed).Select(l => l.Split(' ')).FirstOrDefault(p => p.Length == 2 && p[1] == reference)?[0]
                : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
