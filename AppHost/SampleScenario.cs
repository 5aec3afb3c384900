using Microsoft.Extensions.Configuration;
using Mlops;

namespace Mlops.AppHost;

/// <summary>
/// The sample scenario (samples/FlightsDelay): once the tracker is healthy it trains the flights delay model, tracks
/// the run and registers the model, so a fresh platform has something real to look at. <c>Sample:Enabled=false</c>
/// leaves it out; <c>Sample:TrainRows</c> sizes it (default 200,000).
/// </summary>
internal static class SampleScenario
{
    public static void AddSampleScenario(this IDistributedApplicationBuilder builder, IResourceBuilder<ProjectResource> tracker,
        IResourceBuilder<ParameterResource> apiKey)
    {
        if (!builder.Configuration.GetValue("Sample:Enabled", true))
            return;
        var repoRoot = Path.GetFullPath(Path.Combine(builder.AppHostDirectory, ".."));
        builder.AddProject<Projects.FlightsDelay>(ResourceNames.Sample)
            .WithReference(tracker).WaitFor(tracker)
            .WithEnvironment("Auth__ApiKey", apiKey)
            .WithEnvironment("Sample__FlightsParquet", Path.Combine(repoRoot, "eng", "node", "node_modules", "vega-datasets", "data", "flights-3m.parquet"))
            .WithEnvironment("Sample__TrainRows", builder.Configuration["Sample:TrainRows"] ?? "200000")
            .WithEnvironment("Sample__GitCommit", GitCommit(repoRoot) ?? "");
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
