using System.Net.Sockets;
using Npgsql;

namespace Mlops.ServiceDefaults.Errors;

/// <summary>
/// How PostgreSQL's failures read to a caller. <see cref="IsUnavailable"/>: failures that mean PostgreSQL cannot be reached right now (a restart, a failover, a full pool) rather than that the
/// request is wrong: they answer 503 with Retry-After, in the route's own error format, so clients retry instead of
/// reporting a server bug. Nothing acknowledged is lost: the request's transaction never committed.
/// </summary>
public static class DatabaseErrors
{
    /// <summary>Seconds a client should wait before retrying (PostgreSQL restarts measured here take under a second).</summary>
    public const int RetryAfterSeconds = 1;

    public const string UnavailableDetail = "The database is unavailable for the moment (restarting or unreachable); nothing was written. Retry shortly.";

    public static bool IsUnavailable(Exception exception) => exception switch
    {
        PostgresException p => p.SqlState is
            PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown or PostgresErrorCodes.CannotConnectNow
            or PostgresErrorCodes.TooManyConnections
            || p.SqlState.StartsWith("08", StringComparison.Ordinal), // connection exceptions
        NpgsqlException n => n.InnerException is SocketException or IOException or TimeoutException || n.IsTransient,
        SocketException => true,
        _ => exception.InnerException is { } inner && IsUnavailable(inner),
    };

    /// <summary>Text PostgreSQL refuses to store (a NUL character, an invalid byte sequence): the caller's input, not a fault.</summary>
    public static bool IsUnstorableText(PostgresException e) =>
        e.SqlState is PostgresErrorCodes.CharacterNotInRepertoire or PostgresErrorCodes.UntranslatableCharacter;
}
