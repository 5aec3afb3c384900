using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Mlops.SageMaker;

namespace Mlops.TrainingService.Api;

/// <summary>Checks a request's SigV4 signature as SageMaker does, with the one access key and secret this service is given.</summary>
public sealed class SigV4Verifier(IOptions<TrainingServiceOptions> options, TimeProvider time)
{
    private static readonly TimeSpan MaxSkew = TimeSpan.FromMinutes(15);

    /// <summary>Null when the signature is good; otherwise the error SageMaker would answer with.</summary>
    public ApiError? Verify(HttpRequest request, byte[] body)
    {
        string? header = request.Headers.Authorization;
        if (string.IsNullOrEmpty(header))
            return new(403, SageMakerErrors.MissingAuthenticationToken, "Missing Authentication Token");
        var auth = SigV4.ParseAuthorization(header);
        if (auth is null)
            return new(400, SageMakerErrors.IncompleteSignature,
                "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters (AWS4-HMAC-SHA256).");
        var configured = options.Value;
        if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(auth.AccessKey), Encoding.UTF8.GetBytes(configured.AccessKey)))
            return new(403, SageMakerErrors.UnrecognizedClientException, "The security token included in the request is invalid.");
        if (auth.Service != SageMakerJson.ServiceName)
            return new(403, SageMakerErrors.InvalidSignatureException, $"Credential should be scoped to correct service: '{SageMakerJson.ServiceName}'.");

        string? amzDate = request.Headers["X-Amz-Date"];
        if (!DateTimeOffset.TryParseExact(amzDate, SigV4.DateFormat, CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var signedAt))
            return new(400, SageMakerErrors.IncompleteSignature, "The request must carry an X-Amz-Date header (yyyyMMddTHHmmssZ).");
        if (!auth.Date.Equals(amzDate![..8], StringComparison.Ordinal))
            return new(403, SageMakerErrors.InvalidSignatureException, "Credential should be scoped to a valid date matching X-Amz-Date.");
        if ((time.GetUtcNow() - signedAt).Duration() > MaxSkew)
            return new(403, SageMakerErrors.InvalidSignatureException,
                $"Signature expired: {amzDate} is now earlier or later than 15 minutes from {time.GetUtcNow().UtcDateTime.ToString(SigV4.DateFormat, CultureInfo.InvariantCulture)}.");
        if (!auth.SignedHeaders.Contains("host") || !auth.SignedHeaders.Contains("x-amz-date"))
            return new(403, SageMakerErrors.InvalidSignatureException, "'Host' and 'X-Amz-Date' must be signed headers.");

        var headers = new List<KeyValuePair<string, string>>();
        foreach (var name in auth.SignedHeaders)
        {
            if (!request.Headers.TryGetValue(name, out var values))
                return new(403, SageMakerErrors.InvalidSignatureException, $"The signed header '{name}' is not in the request.");
            headers.AddRange(values.Select(v => new KeyValuePair<string, string>(name, v ?? "")));
        }
        var query = request.Query.SelectMany(q => q.Value.Select(v => new KeyValuePair<string, string>(q.Key, v ?? ""))).ToList();
        var expected = SigV4.Sign(new SigV4Request(request.Method, request.Path.Value ?? "/", query, headers, SigV4.Sha256Hex(body)),
            auth.AccessKey, configured.SecretKey, auth.Region, auth.Service, signedAt);
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected.Signature), Encoding.ASCII.GetBytes(auth.Signature)))
            return new(403, SageMakerErrors.InvalidSignatureException,
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.");
        return null;
    }
}

/// <summary>An error answer in SageMaker's shape: the status, <c>__type</c> and <c>message</c>.</summary>
public sealed record ApiError(int StatusCode, string Type, string Message)
{
    public static ApiError Validation(string message) => new(400, SageMakerErrors.ValidationException, message);
}

/// <summary>A request that cannot be served, thrown by the job layer and answered as <see cref="ApiError"/>.</summary>
public sealed class ApiException(ApiError error) : Exception(error.Message)
{
    public ApiError Error { get; } = error;
}
