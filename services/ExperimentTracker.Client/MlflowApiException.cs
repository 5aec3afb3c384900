using System.Net;

namespace Mlops.ExperimentTracker.Client;

/// <summary>The tracker refused a call: MLflow's <c>error_code</c> (e.g. RESOURCE_DOES_NOT_EXIST) or the ProblemDetails title, and its message.</summary>
public sealed class MlflowApiException(HttpStatusCode statusCode, string errorCode, string message)
    : Exception($"{(int)statusCode} {errorCode}: {message}")
{
    public const string ResourceDoesNotExist = "RESOURCE_DOES_NOT_EXIST";
    public const string ResourceAlreadyExists = "RESOURCE_ALREADY_EXISTS";
    public const string InvalidParameterValue = "INVALID_PARAMETER_VALUE";

    /// <summary>The HTTP status.</summary>
    public HttpStatusCode StatusCode { get; } = statusCode;
    /// <summary>MLflow's error code, or the problem's title for native endpoints.</summary>
    public string ErrorCode { get; } = errorCode;
    /// <summary>The server's explanation.</summary>
    public string ServerMessage { get; } = message;
}
