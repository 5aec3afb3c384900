namespace Mlops.ExperimentTracker.Mlflow;

/// <summary>An error MLflow clients understand: <c>{"error_code": ..., "message": ...}</c> with MLflow's HTTP status.</summary>
public sealed class MlflowException(string errorCode, string message) : Exception(message)
{
    public const string InvalidParameterValue = "INVALID_PARAMETER_VALUE";
    public const string ResourceDoesNotExist = "RESOURCE_DOES_NOT_EXIST";
    public const string ResourceAlreadyExists = "RESOURCE_ALREADY_EXISTS";
    public const string EndpointNotFound = "ENDPOINT_NOT_FOUND";
    public const string TemporarilyUnavailable = "TEMPORARILY_UNAVAILABLE";

    public string ErrorCode { get; } = errorCode;

    // MLflow answers RESOURCE_ALREADY_EXISTS with 400, not 409.
    public int StatusCode => ErrorCode switch
    {
        ResourceDoesNotExist or EndpointNotFound => StatusCodes.Status404NotFound,
        TemporarilyUnavailable => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status400BadRequest,
    };

    public static MlflowException Invalid(string message) => new(InvalidParameterValue, message);
    public static MlflowException NotFound(string message) => new(ResourceDoesNotExist, message);
    public static MlflowException AlreadyExists(string message) => new(ResourceAlreadyExists, message);
}
