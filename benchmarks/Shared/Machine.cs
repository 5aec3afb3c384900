using System.Net;
using System.Net.Sockets;

namespace Mlops.Benchmarks;

/// <summary>What both harnesses ask of the machine: the load average to print beside figures, and free loopback ports.</summary>
internal static class Machine
{
    public static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
