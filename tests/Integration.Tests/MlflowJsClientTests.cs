using System.Diagnostics;
using Aspire.Hosting.Testing;

namespace Mlops.Tests;

/// <summary>
/// MLflow compatibility checked with a client nobody here wrote: the npm package <c>mlflow</c> (installed by
/// eng/bootstrap.sh) drives experiments, runs, metrics and artifacts through the running AppHost
/// (<c>js/mlflow-client-compat.js</c>, which checks every answer itself).
/// </summary>
public sealed class MlflowJsClientTests(PlatformFixture platform)
{
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task NpmMlflowClient_ExperimentsRunsMetricsArtifacts_AllChecksPass()
    {
        var root = RepoRoot();
        var modules = Path.Combine(root, "eng", "node", "node_modules");
        Assert.True(Directory.Exists(Path.Combine(modules, "mlflow")), $"The npm mlflow client is missing under {modules}. Run eng/bootstrap.sh.");
        var tracker = platform.App.GetEndpoint(ResourceNames.ExperimentTracker, "http");

        var start = new ProcessStartInfo("node", Path.Combine(AppContext.BaseDirectory, "js", "mlflow-client-compat.js"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment =
            {
                ["MLFLOW_TRACKING_URI"] = tracker.ToString(),
                ["MLFLOW_TRACKING_TOKEN"] = platform.ApiKey,
                ["NODE_PATH"] = modules,
                ["MLOPS_CHECK_ARTIFACTS"] = "true",
            },
        };
        using var node = Process.Start(start) ?? throw new InvalidOperationException("node could not be started (is Node.js on PATH?)");
        var stdout = node.StandardOutput.ReadToEndAsync();
        var stderr = node.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(ScriptTimeout);
        try
        {
            await node.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            node.Kill(entireProcessTree: true);
            Assert.Fail($"The mlflow client script did not finish within {ScriptTimeout}.\n{await stdout}\n{await stderr}");
        }

        var output = $"exit code {node.ExitCode}\n--- stdout ---\n{await stdout}\n--- stderr ---\n{await stderr}";
        Assert.True(node.ExitCode == 0, output);
        Assert.Contains("check: all ", output);
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Mlops.Aspire.sln")))
                return dir.FullName;
        throw new InvalidOperationException($"No Mlops.Aspire.sln above {AppContext.BaseDirectory}.");
    }
}
