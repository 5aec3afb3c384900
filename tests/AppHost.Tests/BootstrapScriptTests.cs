using System.Diagnostics;

namespace Mlops.Tests;

// The bootstrap script is for Linux machines (apt); so are its file modes.
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class BootstrapScriptTests
{
    [Fact]
    public async Task Bootstrap_MissingToolsWithoutRoot_StopsWithOneMessageNamingTheInstallCommand()
    {
        // A copy in a world-readable folder: the checkout itself may sit where an unprivileged user cannot read it.
        var folder = Directory.CreateTempSubdirectory("mlops-bootstrap-").FullName;
        File.SetUnixFileMode(folder, (UnixFileMode)0b111_101_101);
        var script = Path.Combine(folder, "bootstrap.sh");
        File.Copy(Path.Combine(RepoRoot(), "eng", "bootstrap.sh"), script);
        File.SetUnixFileMode(script, (UnixFileMode)0b111_101_101);
        // An unprivileged user with an empty PATH: node and npm are "missing", and neither root nor sudo is available.
        var start = Environment.UserName == "root"
            ? new ProcessStartInfo("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "/bin/bash", script])
            : new ProcessStartInfo("/bin/bash", [script]);
        start.Environment["PATH"] = "/nonexistent";
        start.RedirectStandardError = true;
        start.RedirectStandardOutput = true;
        using var process = Process.Start(start)!;
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();

        Assert.Equal(3, process.ExitCode);
        Assert.Contains("Run: sudo apt-get install -y", stderr);
        Assert.Contains("nodejs npm", stderr);
        Assert.Single(stderr.Trim().Split('\n'));
    }

    internal static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Mlops.Aspire.sln")))
                return dir.FullName;
        throw new InvalidOperationException("Mlops.Aspire.sln not found above the test directory.");
    }
}
