using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Mlops.SageMaker;

/// <summary>What SigV4 signs of a request: method, path, query, headers and the payload's SHA-256.</summary>
/// <param name="Method">HTTP method, as sent.</param>
/// <param name="Path">The URI path, not yet URI-encoded (it is encoded once here, as for every service but S3).</param>
/// <param name="Query">Query parameters, decoded.</param>
/// <param name="Headers">Headers to sign (names in any case); several values of one name are joined with commas.</param>
/// <param name="PayloadSha256">Lower-case hex SHA-256 of the body.</param>
public sealed record SigV4Request(string Method, string Path, IReadOnlyList<KeyValuePair<string, string>> Query,
    IReadOnlyList<KeyValuePair<string, string>> Headers, string PayloadSha256);

/// <summary>The intermediate results of signing, exposed so they can be tested against AWS's published vectors.</summary>
public sealed record SigV4Signature(string CanonicalRequest, string StringToSign, string Signature, string SignedHeaders, string Authorization);

/// <summary>
/// AWS Signature Version 4 (AWS4-HMAC-SHA256), written from AWS's specification so that the client can sign and the local
/// training service can verify with the same code. Headers named in <see cref="SigV4Request.Headers"/> are all signed.
/// </summary>
public static class SigV4
{
    public const string Algorithm = "AWS4-HMAC-SHA256";
    public const string DateFormat = "yyyyMMdd'T'HHmmss'Z'";
    public static readonly string EmptyPayloadSha256 = Hex(SHA256.HashData([]));

    /// <summary>Signs <paramref name="request"/> at <paramref name="time"/> for <paramref name="region"/>/<paramref name="service"/>.</summary>
    public static SigV4Signature Sign(SigV4Request request, string accessKey, string secretKey, string region, string service, DateTimeOffset time)
    {
        var amzDate = time.UtcDateTime.ToString(DateFormat, CultureInfo.InvariantCulture);
        var date = amzDate[..8];
        var scope = $"{date}/{region}/{service}/aws4_request";

        var headers = request.Headers
            .GroupBy(h => h.Key.ToLowerInvariant())
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => (Name: g.Key, Value: string.Join(",", g.Select(h => CanonicalHeaderValue(h.Value)))))
            .ToList();
        var signedHeaders = string.Join(";", headers.Select(h => h.Name));
        var canonicalRequest = string.Join("\n",
            request.Method.ToUpperInvariant(),
            CanonicalPath(request.Path),
            CanonicalQuery(request.Query),
            string.Concat(headers.Select(h => $"{h.Name}:{h.Value}\n")),
            signedHeaders,
            request.PayloadSha256);
        var stringToSign = string.Join("\n", Algorithm, amzDate, scope, Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonicalRequest))));

        var key = SigningKey(secretKey, date, region, service);
        var signature = Hex(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(stringToSign)));
        var authorization = $"{Algorithm} Credential={accessKey}/{scope}, SignedHeaders={signedHeaders}, Signature={signature}";
        return new SigV4Signature(canonicalRequest, stringToSign, signature, signedHeaders, authorization);
    }

    /// <summary>The derived key: HMAC chain over date, region, service and "aws4_request".</summary>
    public static byte[] SigningKey(string secretKey, string date, string region, string service)
    {
        var key = HMACSHA256.HashData(Encoding.UTF8.GetBytes("AWS4" + secretKey), Encoding.UTF8.GetBytes(date));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(region));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(service));
        return HMACSHA256.HashData(key, "aws4_request"u8.ToArray());
    }

    public static string Sha256Hex(ReadOnlySpan<byte> payload) => Hex(SHA256.HashData(payload));

    /// <summary>Parses <c>AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…</c>; null when it is not that shape.</summary>
    public static SigV4Authorization? ParseAuthorization(string? header)
    {
        if (header is null || !header.StartsWith(Algorithm + " ", StringComparison.Ordinal))
            return null;
        var parts = header[(Algorithm.Length + 1)..].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
        if (!parts.TryGetValue("Credential", out var credential) || !parts.TryGetValue("SignedHeaders", out var signed)
            || !parts.TryGetValue("Signature", out var signature))
            return null;
        var scope = credential.Split('/');
        if (scope.Length != 5 || scope[4] != "aws4_request")
            return null;
        return new SigV4Authorization(scope[0], scope[1], scope[2], scope[3], signed.Split(';'), signature);
    }

    // Trim, and fold runs of spaces to one (outside quotes too: AWS's own vectors fold them everywhere).
    private static string CanonicalHeaderValue(string value)
    {
        var builder = new StringBuilder(value.Length);
        var space = false;
        foreach (var c in value.Trim())
        {
            if (c is ' ' or '\t' or '\n' or '\r')
            {
                space = true;
                continue;
            }
            if (space && builder.Length > 0)
                builder.Append(' ');
            space = false;
            builder.Append(c);
        }
        return builder.ToString();
    }

    private static string CanonicalPath(string path)
    {
        if (string.IsNullOrEmpty(path))
            return "/";
        return string.Join("/", path.Split('/').Select(UriEncode));
    }

    private static string CanonicalQuery(IReadOnlyList<KeyValuePair<string, string>> query) =>
        string.Join("&", query
            .Select(p => (Key: UriEncode(p.Key), Value: UriEncode(p.Value)))
            .OrderBy(p => p.Key, StringComparer.Ordinal).ThenBy(p => p.Value, StringComparer.Ordinal)
            .Select(p => $"{p.Key}={p.Value}"));

    // RFC 3986 unreserved characters stay; everything else is %XX of its UTF-8 bytes, upper-case hex.
    private static string UriEncode(string value)
    {
        var builder = new StringBuilder(value.Length);
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            if (b is >= (byte)'A' and <= (byte)'Z' or >= (byte)'a' and <= (byte)'z' or >= (byte)'0' and <= (byte)'9'
                or (byte)'-' or (byte)'_' or (byte)'.' or (byte)'~')
                builder.Append((char)b);
            else
                builder.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }
        return builder.ToString();
    }

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);
}

/// <summary>A parsed SigV4 Authorization header.</summary>
public sealed record SigV4Authorization(string AccessKey, string Date, string Region, string Service, string[] SignedHeaders, string Signature);
