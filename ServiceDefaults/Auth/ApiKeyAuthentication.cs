using System.ComponentModel.DataAnnotations;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mlops.ServiceDefaults.Auth;

/// <summary>
/// Platform API keys. The AppHost passes its secret parameters as <c>Auth__ApiKey</c> and <c>Auth__AdminKey</c>.
/// </summary>
public sealed class ApiKeyOptions
{
    public const string Section = "Auth";

    /// <summary>The key clients send as <c>Authorization: Bearer &lt;key&gt;</c> (MLflow clients: MLFLOW_TRACKING_TOKEN).</summary>
    [Required, MinLength(16)]
    public string ApiKey { get; set; } = "";

    /// <summary>
    /// The administrator key: everything the API key allows, plus administrative and destructive operations
    /// (<see cref="ApiKeyAuthenticationExtensions.RequireAdministrator{TBuilder}"/>). Without one, nobody can run them.
    /// </summary>
    [MinLength(16)]
    public string? AdminKey { get; set; }
}

public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IOptionsMonitor<ApiKeyOptions> keys,
    IProblemDetailsService problems)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string AdministratorRole = "administrator";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? header = Request.Headers.Authorization;
        if (string.IsNullOrEmpty(header))
            return Task.FromResult(AuthenticateResult.NoResult());
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            return Task.FromResult(AuthenticateResult.Fail("The Authorization header must be 'Bearer <api key>'."));

        var presented = header.AsSpan("Bearer ".Length).Trim();
        var expected = HashesOf(keys.CurrentValue);
        // The presented key is hashed once, without allocating, and compared in fixed time with the keys' hashes
        // (computed once per configuration): this runs on every request of every service.
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        Span<byte> utf8 = presented.Length <= 256 ? stackalloc byte[Encoding.UTF8.GetMaxByteCount(presented.Length)] : new byte[Encoding.UTF8.GetMaxByteCount(presented.Length)];
        SHA256.HashData(utf8[..Encoding.UTF8.GetBytes(presented, utf8)], hash);
        Claim[] claims;
        if (expected.Admin is { } admin && CryptographicOperations.FixedTimeEquals(hash, admin))
            claims = [new Claim(ClaimTypes.Name, "platform-admin-key"), new Claim(ClaimTypes.Role, AdministratorRole)];
        else if (expected.Api is { } api && CryptographicOperations.FixedTimeEquals(hash, api))
            claims = [new Claim(ClaimTypes.Name, "platform-api-key")];
        else
            return Task.FromResult(AuthenticateResult.Fail("The API key is not valid."));

        var identity = new ClaimsIdentity(claims, SchemeName);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = "Bearer";
        await WriteProblemAsync("Authentication required",
            result.Failure?.Message ?? "Send the platform API key as 'Authorization: Bearer <api key>'.");
    }

    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status403Forbidden;
        await WriteProblemAsync("Forbidden", Context.GetEndpoint()?.Metadata.GetMetadata<AdministratorOnly>() is not null
            ? "This is an administrative operation: send the administrator key (the AppHost's 'admin-key' parameter), not the platform API key."
            : "The API key is valid but not allowed to do this.");
    }

    private async Task WriteProblemAsync(string title, string detail) =>
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails = new ProblemDetails { Status = Response.StatusCode, Title = title, Detail = detail },
        });

    // Hashing first makes the comparison constant-time regardless of the lengths involved.
    private sealed record KeyHashes(ApiKeyOptions Source, byte[]? Admin, byte[]? Api);

    private static KeyHashes? s_hashes;

    // The SHA-256 of each configured key, recomputed when the options change (a reload is a new options instance).
    private static KeyHashes HashesOf(ApiKeyOptions current)
    {
        if (Volatile.Read(ref s_hashes) is { } known && ReferenceEquals(known.Source, current))
            return known;
        static byte[]? Hash(string? key) => key is { Length: > 0 } ? SHA256.HashData(Encoding.UTF8.GetBytes(key)) : null;
        var fresh = new KeyHashes(current, Hash(current.AdminKey), Hash(current.ApiKey));
        Volatile.Write(ref s_hashes, fresh);
        return fresh;
    }
}

/// <summary>Marks an endpoint as administrative, so a refusal says which key it needs.</summary>
internal sealed class AdministratorOnly;

public static class ApiKeyAuthenticationExtensions
{
    public const string AdministratorPolicy = "administrator";

    /// <summary>
    /// Administrative and destructive operations: only the administrator key (<c>Auth:AdminKey</c>) may call them; the
    /// platform API key gets 403 ProblemDetails naming the key it needs.
    /// </summary>
    public static TBuilder RequireAdministrator<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.RequireAuthorization(AdministratorPolicy).WithMetadata(new AdministratorOnly());

    internal static void AddApiKeyAuthentication(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<ApiKeyOptions>().BindConfiguration(ApiKeyOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        // Every endpoint requires a key unless it opts out (health, docs in Development).
        builder.Services.AddAuthorizationBuilder()
            .SetFallbackPolicy(new AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build())
            .AddPolicy(AdministratorPolicy, policy => policy.RequireAuthenticatedUser().RequireRole(ApiKeyAuthenticationHandler.AdministratorRole));
    }
}
