namespace Mlops.AppHost.Infrastructure;

/// <summary>The folder LocalProcesses mode keeps PostgreSQL, RabbitMQ and S3 data in.</summary>
public static class LocalDataDirectory
{
    /// <summary>
    /// Creates the folder and, when the AppHost runs as root (PostgreSQL then runs as the <c>postgres</c> user), checks
    /// that every folder above it can be entered by other users, so start-up fails here with one clear message instead
    /// of PostgreSQL failing later inside the dashboard.
    /// </summary>
    public static string Ensure(string path, bool runsAsRoot)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(full);
        if (!runsAsRoot || OperatingSystem.IsWindows())
            return full;
        for (var dir = new DirectoryInfo(full); dir is not null; dir = dir.Parent)
        {
            if ((dir.UnixFileMode & UnixFileMode.OtherExecute) == 0)
                throw new DistributedApplicationException(
                    $"PostgreSQL runs as the postgres user, which cannot enter {dir.FullName} (on the way to the data folder {full}). " +
                    $"Set {InfrastructureExtensions.DataDirectoryKey} to a folder it can reach, e.g. /var/tmp/mlops, or run 'chmod o+x {dir.FullName}'.");
        }
        return full;
    }
}
