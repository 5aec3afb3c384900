using System.Net.Sockets;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Mlops.ExperimentTracker.Mlflow;
using Npgsql;

namespace Mlops.ExperimentTracker.Tests;

/// <summary>What MLflow clients see when PostgreSQL is restarting: 503 TEMPORARILY_UNAVAILABLE with Retry-After, which they retry.</summary>
public sealed class MlflowErrorMiddlewareTests
{
    public static TheoryData<string> Unavailable() => ["admin-shutdown", "connection-refused", "cannot-connect-now"];

    [Theory]
    [MemberData(nameof(Unavailable))]
    public async Task DatabaseUnavailable_UnderMlflowRoutes_Is503TemporarilyUnavailableWithRetryAfter(string failure)
    {
        Exception thrown = failure switch
        {
            // A connection open while PostgreSQL restarts, a new one while it is down, and one while it is starting up.
            "admin-shutdown" => new PostgresException("terminating connection due to administrator command", "FATAL", "FATAL", PostgresErrorCodes.AdminShutdown),
            "connection-refused" => new NpgsqlException("Failed to connect", new SocketException((int)SocketError.ConnectionRefused)),
            _ => new PostgresException("the database system is starting up", "FATAL", "FATAL", PostgresErrorCodes.CannotConnectNow),
        };

        var context = await InvokeAsync("/api/2.0/mlflow/runs/log-batch", thrown);

        Assert.Equal(StatusCodes.Status503ServiceUnavailable, context.Response.StatusCode);
        Assert.Equal("1", context.Response.Headers.RetryAfter.ToString());
        var body = JsonDocument.Parse(((MemoryStream)context.Response.Body).ToArray()).RootElement;
        Assert.Equal(MlflowException.TemporarilyUnavailable, body.GetProperty("error_code").GetString());
        Assert.Contains("nothing was written", body.GetProperty("message").GetString());
    }

    [Fact]
    public async Task UnstorableText_UnderMlflowRoutes_IsInvalidParameterValue()
    {
        var context = await InvokeAsync("/api/2.0/mlflow/runs/set-tag",
            new PostgresException("invalid byte sequence for encoding \"UTF8\": 0x00", "ERROR", "ERROR", PostgresErrorCodes.CharacterNotInRepertoire));

        Assert.Equal(StatusCodes.Status400BadRequest, context.Response.StatusCode);
        var body = JsonDocument.Parse(((MemoryStream)context.Response.Body).ToArray()).RootElement;
        Assert.Equal(MlflowException.InvalidParameterValue, body.GetProperty("error_code").GetString());
    }

    [Fact]
    public async Task NativeRoutes_AreLeftToThePlatformsProblemDetailsHandler()
    {
        var unavailable = new NpgsqlException("Failed to connect", new SocketException((int)SocketError.ConnectionRefused));
        Assert.Same(unavailable, await Assert.ThrowsAsync<NpgsqlException>(() => InvokeAsync("/api/lineage/runs/x", unavailable)));
    }

    private static async Task<HttpContext> InvokeAsync(string path, Exception thrown)
    {
        var app = new ApplicationBuilder(new ServiceCollection().BuildServiceProvider());
        app.UseMlflowErrors();
        app.Run(_ => throw thrown);
        var context = new DefaultHttpContext { Request = { Path = path, Method = "POST" }, Response = { Body = new MemoryStream() } };
        await app.Build()(context);
        return context;
    }
}
