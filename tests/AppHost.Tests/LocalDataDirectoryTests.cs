using Aspire.Hosting;
using Mlops.AppHost.Infrastructure;

namespace Mlops.Tests;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LocalDataDirectoryTests
{
    [Fact]
    public void Ensure_AsRootUnderAPrivateFolder_FailsNamingTheFolderAndTheSetting()
    {
        var parent = Directory.CreateTempSubdirectory("mlops-private-");
        try
        {
            parent.UnixFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
            var error = Assert.Throws<DistributedApplicationException>(() => LocalDataDirectory.Ensure(Path.Combine(parent.FullName, "data"), runsAsRoot: true));
            Assert.Contains($"cannot enter {parent.FullName}", error.Message);
            Assert.Contains("Infrastructure:DataDirectory", error.Message);
        }
        finally
        {
            parent.Delete(recursive: true);
        }
    }

    [Fact]
    public void Ensure_UnderReachableFolders_CreatesTheFolder()
    {
        var parent = Directory.CreateTempSubdirectory("mlops-public-");
        try
        {
            parent.UnixFileMode |= UnixFileMode.OtherExecute | UnixFileMode.GroupExecute;
            var data = LocalDataDirectory.Ensure(Path.Combine(parent.FullName, "data"), runsAsRoot: true);
            Assert.True(Directory.Exists(data));
        }
        finally
        {
            parent.Delete(recursive: true);
        }
    }
}
