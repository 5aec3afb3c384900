using System.Diagnostics;

namespace Mlops.AppHost.Infrastructure;

/// <summary>Runs eng/bootstrap.sh before any local infrastructure resource is defined, so a missing server fails start-up with one clear message.</summary>
internal static class Bootstrap
{
    public static void Run(string script)
    {
        var start = new ProcessStartInfo("bash", [script]) { RedirectStandardError = true };
        using var process = Process.Start(start) ?? throw new DistributedApplicationException($"Could not start {script}.");
        var errors = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(15)))
        {
            process.Kill(entireProcessTree: true);
            throw new DistributedApplicationException($"{script} did not finish within 15 minutes.");
        }
        var stderr = errors.Result.Trim();
        if (process.ExitCode != 0)
            throw new DistributedApplicationException(stderr.Length > 0 ? stderr : $"{script} failed with exit code {process.ExitCode}.");
    }
}
