using System.Diagnostics;

namespace Mlops.AppHost.Infrastructure;

/// <summary>Where PostgreSQL, RabbitMQ and S3 come from. Services never know: they get connection strings and an S3 endpoint.</summary>
public enum InfrastructureMode
{
    /// <summary>Aspire's PostgreSQL and RabbitMQ containers and a LocalStack container (a container runtime answers).</summary>
    Containers,
    /// <summary>Debian's PostgreSQL and RabbitMQ servers and s3rver, run by the AppHost as processes.</summary>
    LocalProcesses,
    /// <summary>Connection strings from configuration and real AWS S3 (production-like).</summary>
    External,
}

public static class InfrastructureModeSelector
{
    public const string ConfigurationKey = "Infrastructure:Mode";
    public const string Auto = "Auto";

    public static string ValidChoices => string.Join(", ", [Auto, .. Enum.GetNames<InfrastructureMode>()]);

    /// <summary>The configured mode, or, when unset or <c>Auto</c>, Containers if a container runtime answers and LocalProcesses otherwise.</summary>
    /// <exception cref="ArgumentException">The configured value names no mode; the message lists the valid ones.</exception>
    public static InfrastructureMode Select(string? configured, Func<bool> containerRuntimeAnswers)
    {
        if (string.IsNullOrWhiteSpace(configured) || configured.Trim().Equals(Auto, StringComparison.OrdinalIgnoreCase))
            return containerRuntimeAnswers() ? InfrastructureMode.Containers : InfrastructureMode.LocalProcesses;

        // Enum.TryParse would also accept numbers and comma lists; only the names are valid.
        foreach (var mode in Enum.GetValues<InfrastructureMode>())
            if (configured.Trim().Equals(mode.ToString(), StringComparison.OrdinalIgnoreCase))
                return mode;

        throw new ArgumentException($"Unknown infrastructure mode '{configured}' ({ConfigurationKey}). Valid modes: {ValidChoices}.");
    }

    /// <summary>True when <c>docker info</c> (or <c>podman info</c>) reaches an engine within the timeout; a client alone is not enough.</summary>
    public static bool ContainerRuntimeAnswers(string? runtime = null, TimeSpan? timeout = null)
    {
        foreach (var candidate in runtime is { Length: > 0 } ? [runtime] : new[] { "docker", "podman" })
        {
            try
            {
                using var process = Process.Start(new ProcessStartInfo(candidate, ["info", "--format", "{{.ServerVersion}}"])
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                });
                if (process is null)
                    continue;
                if (!process.WaitForExit(timeout ?? TimeSpan.FromSeconds(5)))
                {
                    process.Kill(entireProcessTree: true);
                    continue;
                }
                if (process.ExitCode == 0)
                    return true;
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // Not installed.
            }
        }
        return false;
    }
}
