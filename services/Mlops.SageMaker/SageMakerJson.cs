using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mlops.SageMaker;

/// <summary>The AWS JSON 1.1 protocol's serialization, shared by the client and the local training service.</summary>
public static class SageMakerJson
{
    public const string ContentType = "application/x-amz-json-1.1";
    public const string TargetHeader = "X-Amz-Target";
    public const string TargetPrefix = "SageMaker.";
    public const string ServiceName = "sagemaker";

    /// <summary>Names exactly as the records spell them (SageMaker's PascalCase), nulls left out, unknown fields ignored.</summary>
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = null,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new EpochSecondsConverter() },
    };
}

/// <summary>SageMaker's error codes (the <c>__type</c> of an error response) that callers act on.</summary>
public static class SageMakerErrors
{
    public const string ValidationException = "ValidationException";
    public const string ResourceNotFound = "ResourceNotFound";
    public const string ResourceInUse = "ResourceInUse";
    public const string ResourceLimitExceeded = "ResourceLimitExceeded";
    public const string ThrottlingException = "ThrottlingException";
    public const string InvalidSignatureException = "InvalidSignatureException";
    public const string UnrecognizedClientException = "UnrecognizedClientException";
    public const string MissingAuthenticationToken = "MissingAuthenticationTokenException";
    public const string IncompleteSignature = "IncompleteSignatureException";
    public const string SerializationException = "SerializationException";
    public const string UnknownOperationException = "UnknownOperationException";
    public const string InternalFailure = "InternalFailure";
}

/// <summary>The body of an AWS JSON error response.</summary>
public sealed record SageMakerErrorBody(
    [property: JsonPropertyName("__type")] string Type,
    [property: JsonPropertyName("message")] string Message);

/// <summary>An error SageMaker answered with: its code (<c>__type</c>, without namespace), message and HTTP status.</summary>
public sealed class SageMakerException(string errorCode, string message, int statusCode)
    : Exception($"{errorCode}: {message}")
{
    public string ErrorCode { get; } = errorCode;
    public string ErrorMessage { get; } = message;
    public int StatusCode { get; } = statusCode;

    /// <summary>
    /// True for a job that does not exist. Real SageMaker answers DescribeTrainingJob for an unknown name with a
    /// ValidationException "Requested resource not found", not the documented ResourceNotFound; both count.
    /// </summary>
    public bool IsNotFound => ErrorCode == SageMakerErrors.ResourceNotFound
        || (ErrorCode == SageMakerErrors.ValidationException && ErrorMessage.Contains("not found", StringComparison.OrdinalIgnoreCase));

    /// <summary>Throttling and server-side failures: worth retrying after a pause.</summary>
    public bool IsRetryable => ErrorCode is SageMakerErrors.ThrottlingException or "ThrottledException" or "RequestLimitExceeded"
        or SageMakerErrors.InternalFailure or "ServiceUnavailable" || StatusCode >= 500;

    /// <summary>Reads an error response; tolerates <c>__type</c> with a namespace (<c>com.amazonaws…#Code</c>) and <c>Message</c>.</summary>
    public static SageMakerException FromResponse(int statusCode, string? errorTypeHeader, string body)
    {
        string? type = errorTypeHeader, message = null;
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind == System.Text.Json.JsonValueKind.Object)
            {
                if (root.TryGetProperty("__type", out var t) && t.ValueKind == System.Text.Json.JsonValueKind.String)
                    type = t.GetString();
                if (root.TryGetProperty("message", out var m) || root.TryGetProperty("Message", out m))
                    message = m.ToString();
            }
        }
        catch (System.Text.Json.JsonException)
        {
            message = body.Length > 500 ? body[..500] : body;
        }
        return new SageMakerException(ErrorCodeOf(type) ?? $"Http{statusCode}", message ?? "(no message)", statusCode);
    }

    private static string? ErrorCodeOf(string? type)
    {
        if (string.IsNullOrEmpty(type))
            return null;
        var code = type[(type.LastIndexOf('#') + 1)..];
        var colon = code.IndexOf(':');
        return colon >= 0 ? code[..colon] : code;
    }
}
