using Microsoft.AspNetCore.Http.HttpResults;

namespace Mlops.ExperimentTracker.Features;

/// <summary>
/// Problem results of the tracker's native endpoints, written as <c>application/problem+json</c> through the platform's
/// ProblemDetails service. A handler names them in its <c>Results&lt;…&gt;</c> and its route declares the status with
/// <c>ProducesProblem</c>, so the OpenAPI document lists them (MLflow's routes answer in MLflow's error format instead).
/// </summary>
public static class NativeProblems
{
    public static ProblemHttpResult NotFound(string title, string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status404NotFound, title: title);
}
