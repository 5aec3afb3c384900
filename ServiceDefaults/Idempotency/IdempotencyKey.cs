using System.Security.Cryptography;
using System.Text;
using Mlops.ServiceDefaults.Errors;

namespace Mlops.ServiceDefaults.Idempotency;

/// <summary>
/// The <c>Idempotency-Key</c> request header as the platform's services honour it on requests that start work (a lake
/// import, a training set, a deployment, a monitoring run; a pipeline step attempt sends one): the key is stored on the
/// row the request created, under a unique index, with the request it came with. A repeat with the same key and the same
/// request answers that row (whatever its state) and starts nothing; the key with another request is a 409 naming what
/// it started; a key over <see cref="MaxLength"/> characters is a 400. Requests without a key are never deduplicated.
/// </summary>
public static class IdempotencyKey
{
    public const string Header = "Idempotency-Key";
    public const int MaxLength = 255;

    /// <summary>The key sent, or null when the header is absent or blank; a 400 (<see cref="ProblemException"/>) when it is too long.</summary>
    public static string? Read(string? header)
    {
        if (string.IsNullOrWhiteSpace(header))
            return null;
        if (header.Length > MaxLength)
            throw ProblemException.BadRequest($"The {Header} header has at most {MaxLength} characters; got {header.Length}.",
                new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { [Header] = [$"At most {MaxLength} characters."] } });
        return header;
    }

    /// <summary>The 409 for a key already used with another request: what it started, and what a repeat must send.</summary>
    public static ProblemException Reused(string key, string started, string repeatMustSend) =>
        ProblemException.Conflict($"Idempotency key '{key}' was already used for another request ({started}); a repeat must send {repeatMustSend}.");

    /// <summary>SHA-256 (hex) of a request's canonical text, stored with the key where the request itself is not kept.</summary>
    public static string Hash(string canonicalRequest) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonicalRequest)));
}
