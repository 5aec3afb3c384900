using System.Net;
using System.Net.Sockets;

namespace Mlops.AppHost.Infrastructure;

internal static class FreePort
{
    /// <summary>A loopback port free right now (the OS picks it), for infrastructure processes that need a fixed port across restarts.</summary>
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
