using System.Net;
using System.Net.Sockets;

namespace Mlops.Benchmarks;

/// <summary>What both harnesses ask of the machine: the load average to print beside figures, and free loopback ports.</summary>
internal static class Machine
{
    public static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    /// <summary>
    /// The AppHost's arguments for a benchmark: LocalProcesses over throwaway data in <paramref name="data"/>, http on
    /// free loopback ports, and the sample left out.
    /// </summary>
    public static string[] AppHostArguments(string data) =>
    [
        "--Infrastructure:Mode=LocalProcesses", $"--Infrastructure:DataDirectory={data}", "--Infrastructure:Durable=false",
        $"--ASPNETCORE_URLS=http://127.0.0.1:{FreePort()}", $"--ASPIRE_DASHBOARD_OTLP_HTTP_ENDPOINT_URL=http://127.0.0.1:{FreePort()}",
        "--ASPIRE_ALLOW_UNSECURED_TRANSPORT=true", "--Sample:Enabled=false",
    ];

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
