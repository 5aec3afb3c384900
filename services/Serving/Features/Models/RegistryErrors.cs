using System.Net;
using Mlops.ExperimentTracker.Client;

namespace Mlops.Serving.Features.Models;

/// <summary>
/// The registry's answers as Serving's own: what the tracker says does not exist is a 404 naming it, what it refuses is a
/// 400 with its reason, and a tracker that fails or cannot be reached is a 503 (the caller may retry), never a 500.
/// </summary>
public static class RegistryErrors
{
    public static async Task<T> CallAsync<T>(string what, Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (MlflowApiException e) when (e.ErrorCode == MlflowApiException.ResourceDoesNotExist || e.StatusCode == HttpStatusCode.NotFound)
        {
            throw ProblemException.NotFound($"{what} is not in the registry.");
        }
        catch (MlflowApiException e) when ((int)e.StatusCode is >= 400 and < 500)
        {
            throw ProblemException.BadRequest($"The registry refused {what}: {e.Message}");
        }
        catch (Exception e) when (e is MlflowApiException or HttpRequestException or TimeoutException or TaskCanceledException { InnerException: TimeoutException })
        {
            throw new ProblemException(StatusCodes.Status503ServiceUnavailable, "Registry unavailable",
                $"The registry (ExperimentTracker) could not be reached for {what}: {e.Message}");
        }
    }
}
